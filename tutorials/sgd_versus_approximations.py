"""Tutorial: SGD versus its approximations -- the SDE, the second-order SDE, noisy GD, SVAG(l).

Theory replaces SGD by continuous or Gaussian models: the SDE ``dX = -grad l dt +
sqrt(eta C(X)/B) dW`` run to time ``eta T`` (Li, Malladi and Arora, eq. 2), its
second-order correction (their eq. 16), noisy GD (GD plus Gaussian noise of SGD's
covariance, eq. 5) and SVAG(l) (eq. 3, which tends to the SDE as ``l`` grows).  Li et al.
split SGD - SDE into a *discretization error* (noisy GD - SDE) and a *non-Gaussian gap*
(SGD - noisy GD), and bound each; Tenka's Corollary 3 compares SGD with the SDE through
``eta^3``.  :func:`symsgd.approximations.approximation_loss` expands the expected test loss
of every one of these processes exactly in ``eta`` at fixed ``T``, so the differences are
formulas: we derive them with symbolic ``T``, ``B`` and ``l`` in the contraction atoms
(``G, H, J``: means of the derivatives of ``l_x``; ``C, S``: the gradient's second and
third cumulants; ``kappa(...)``: other joint cumulants), print them as text and LaTeX, and
check each against something independent already in the package:

* the brute-force exact engine (``expected_loss(..., method='exact')``, symbolic SGD with
  exact rationals) on a polynomial landscape at small ``T``: SGD itself; noisy GD as SGD
  on the landscape's *Gaussian twin* (its sample gradient exactly Gaussian with the same
  ``C(theta)``); SVAG(l) as SGD on the paired loss ``c1 l_x + c2 l_y``;
* the SDE's generator (``sde_expected_loss``: ``E g(X_t) = sum_k t^k L^k g / k!``);
* simulation (``symsgd.nets.simulate``): SGD, noisy GD and Euler-Maruyama for the SDE on a
  five-point population, plotted against the engine.

GDC (Tenka's Corollary 1: GD plus ``c eta tr C_hat``, ``tr C_hat`` estimated from the
training set) comes from the exact engine through the front door
(``expected_loss(..., process='gdc')``): it matches SGD through ``eta^2``, and its
``eta^3`` residual on 1-d linear regression is derived as a function of ``N``.

Run top to bottom: ``python tutorials/sgd_versus_approximations.py`` (about 25 s on two
cores; the figure goes to the directory in ``$SYMSGD_OUT``, default the current one).
"""

# %% The general series of each process: symbolic T, B and l
import os
import pathlib

import matplotlib.pyplot as plt
import numpy as np
import sympy
from sympy.stats import Normal

from symsgd import Landscape, Series, expected_loss, gd, sgd
from symsgd.approximations import approximation_loss, sde_expected_loss
from symsgd.distributions import Dataset
from symsgd.landscapes import linear_regression
from symsgd.nets import simulate
from symsgd.nets.dynamics import SDE, SGD, NoisyGD
from symsgd.tensors import contractions_in

plt.switch_backend("Agg")
OUT = pathlib.Path(os.environ.get("SYMSGD_OUT", "."))
T, B = sympy.symbols("T B", integer=True, positive=True)
# SVAG's factor.  (The eta^0 coefficient of every series prints as "l" too: that "l" is the
# contraction l(theta_0), the loss at the initialization, not this symbol.)
l = sympy.Symbol("l", integer=True, positive=True)
ORDER = 4                                  # derive through eta^4, print through eta^3

general = {p: approximation_loss(p, ORDER, steps=T, batch=B)
           for p in ("sgd", "noisy_gd", "sde")}
general["svag"] = approximation_loss("svag", ORDER, steps=T, batch=B, l=l)
sgd_T, noisy_T, sde_T, svag_T = (general[p] for p in ("sgd", "noisy_gd", "sde", "svag"))
atoms = {str(a): a for a in sgd_T.contractions()}
GHG, SJ = atoms["[G H G]"], atoms["[S_abc J_abc]"]
print("single-epoch SGD, T steps of batch B (every step a fresh batch), E l(theta_T) =")
print(" ", sgd_T.truncate(3))


def show(title, series, upto=3):
    """Print the coefficients of eta^0..eta^upto of a series as text and LaTeX."""
    print(f"\n{title}:")
    for k in range(upto + 1):
        c = sympy.collect(sympy.expand(series.coeff(k)), T)
        print(f"  eta^{k}: {c}")
        if c != 0:
            print(f"    LaTeX: {sympy.latex(c)}")


def top_degree(expr, symbol):
    """The degree of an expression in a symbol (0 for a constant)."""
    expr = sympy.expand(expr)
    return 0 if expr == 0 else sympy.Poly(expr, symbol).degree()


def biggest_block(atom):
    """The most nodes in one data block of a contraction: 3 or more is a cumulant past C."""
    return max(len(block) for block in atom.blocks)


# %% SGD - SDE through eta^3 (Corollary 3 at fixed T)
sgd_minus_sde = sgd_T - sde_T
show("SGD - SDE", sgd_minus_sde)
assert sgd_minus_sde.coefficients[:2] == (0, 0)                # the SDE is a weak order-1 model
assert sympy.expand(sgd_minus_sde.coeff(2) + T / 2 * GHG) == 0   # C:H/(2B) matches: no noise
# weak order 1: the eta^k coefficient has degree k - 1 in T (an O(eta) error at fixed eta T)
assert all(top_degree(sgd_minus_sde.coeff(k), T) == k - 1 for k in range(2, ORDER + 1))
CH = atoms["C:H"]      # the noise's eta^2 term, absent from the ODE (gradient flow)
assert all(sympy.expand(s.coeff(2)).coeff(CH) == T / (2 * B) for s in (sgd_T, sde_T))
print("  Corollary 3's first part: SGD's eta^2 exceeds the ODE's by T C:H/(2B), but the SDE has "
      "that term too; SGD - SDE at eta^2 is only the discretization -T/2 [G H G]")

# Independent check on a cubic landscape with skewed noise (population {-1, -1, 2}: mean 0,
# variance 2, third moment 2): SGD by the exact engine, the SDE by its generator, at
# T = 1, 2, 3 (batch 1) and T = 2 (batch 2).  The landscape is affine in the data x.
R = sympy.Rational
a, b, x = sympy.symbols("a b x", real=True)
mean_part, noise_part = a**3 / 3 + a * b + b**2, a + b**2 / 2
skewed = Landscape(mean_part + x * noise_part, (a, b), (x,), (R(1, 2), R(1, 2)),
                   distribution=Dataset([-1, -1, 2]), name="skewed cubic")


def exact_sgd(landscape, steps, batch=1, order=3):
    """Single-epoch SGD by the brute-force exact engine."""
    return expected_loss(sgd(steps * batch, batch=batch), order, landscape=landscape,
                         method="exact")


for steps, batch in [(1, 1), (2, 1), (3, 1), (2, 2)]:
    engine = exact_sgd(skewed, steps, batch) - sde_expected_loss(skewed, 3, steps=steps,
                                                                 batch=batch)
    assert engine == sgd_minus_sde.truncate(3).evaluate(skewed, T=steps, B=batch)
at_3 = exact_sgd(skewed, 3) - sde_expected_loss(skewed, 3, steps=3)
print("  = the exact engine minus the SDE's generator on the skewed cubic at (T, B) = (1,1) "
      f"(2,1) (3,1) (2,2); at T = 3, B = 1: {at_3.removeO()} + O(eta^4)")

# %% Li et al.'s decomposition: SGD - SDE = (SGD - noisy GD) + (noisy GD - SDE)
gap = sgd_T - noisy_T                      # the non-Gaussian gap
discretization = noisy_T - sde_T           # the discretization error
assert gap + discretization == sgd_minus_sde
show("the non-Gaussian gap, SGD - noisy GD", gap)
show("the discretization error, noisy GD - SDE", discretization)
for k in range(ORDER + 1):
    # a data block of m nodes is an m-th cumulant: S, kappa_4, ... live only in the gap
    assert all(biggest_block(atom) >= 3 for atom in contractions_in(gap.coeff(k)))
    assert all(biggest_block(atom) <= 2 for atom in contractions_in(discretization.coeff(k)))
print(f"  through eta^{ORDER}: every atom of the gap has a data block of >= 3 nodes "
      f"({len(contractions_in(gap.coeff(ORDER)))} atoms at eta^{ORDER}); no atom of the "
      f"discretization error has ({len(contractions_in(discretization.coeff(ORDER)))} atoms)")

# Independent check: noisy GD is SGD on the Gaussian twin, the same landscape with the data x
# replaced by a normal variable of the same mean and variance: its sample gradient
# grad f + x grad g is then exactly N(grad l, C(theta)) at every theta.
twin = Landscape(mean_part + x * noise_part, (a, b), (x,), (R(1, 2), R(1, 2)),
                 distribution={x: Normal("X", 0, sympy.sqrt(2))}, name="Gaussian twin")
for steps, batch in [(1, 1), (2, 1), (3, 1), (2, 2)]:
    noisy = exact_sgd(twin, steps, batch)
    assert noisy == noisy_T.truncate(3).evaluate(skewed, T=steps, B=batch)
    assert exact_sgd(skewed, steps, batch) - noisy == gap.truncate(3).evaluate(
        skewed, T=steps, B=batch)
    assert noisy - sde_expected_loss(skewed, 3, steps=steps, batch=batch) == \
        discretization.truncate(3).evaluate(skewed, T=steps, B=batch)
print("  = the exact engine on the skewed cubic and its Gaussian twin (noisy GD), and the "
      "generator (SDE), at (T, B) = (1,1) (2,1) (3,1) (2,2)")

# %% Corollary 3's skewness term
skew_term = -T * SJ / (6 * B**2)
assert gap.coefficients[:3] == (0, 0, 0)
assert sympy.expand(gap.coeff(3) - skew_term) == 0
print(f"\nCorollary 3's skewness term: [eta^3] (SGD - noisy GD) = {skew_term}")
print(f"  LaTeX: {sympy.latex(skew_term)}")
sj = Series((SJ,)).evaluate(skewed).coeff(0)
assert sj == 4
for steps in (1, 2, 3):
    difference = exact_sgd(skewed, steps) - exact_sgd(twin, steps)
    assert difference.coefficients == (0, 0, 0, -steps * sj / 6)
print(f"  = the exact engine, skewed minus Gaussian twin: -T S:J/6 eta^3 with S:J = {sj}, "
      "T = 1, 2, 3 (the paper's sign)")

# %% SVAG(l) - SDE is O(1/l), and its 1/l coefficient
assert svag_T.subs(l, 1) == sgd_T                                   # SVAG(1) is SGD
svag_minus_sde = svag_T - sde_T
u = sympy.Symbol("u", positive=True)                                # u = 1/l
per_l = []
for k, c in enumerate(svag_minus_sde.coefficients):
    c = sympy.expand(c.xreplace({l: 1 / u}))
    assert sympy.expand(c * u**k).is_polynomial(u)                  # at most l^-k
    assert c.subs(u, 0) == 0                                        # -> 0 as l -> oo
    per_l.append(sympy.expand(sympy.diff(c, u).subs(u, 0)))
one_over_l = Series(tuple(per_l))
show("SVAG(l) - SDE", svag_minus_sde)
show("SVAG(l) - SDE, the coefficient of 1/l", one_over_l)
assert per_l[:2] == [0, 0] and sympy.expand(per_l[2] + T / 2 * GHG) == 0
# the skewness enters with p_3 / l -> 3/2: 3/2 times SGD's
assert sympy.expand(per_l[3].coeff(SJ) - sympy.Rational(3, 2) * skew_term / SJ) == 0
print("  every coefficient O(1/l); the skewness term is 3/2 of SGD's (p_3 = (3l - 1)/2)")

# Independent check: SVAG(5) is SGD on c1 l_x + c2 l_y with c1, c2 = (1 +- sqrt(9))/2 = 2, -1,
# x and y independent copies of the data: l T = 5 T steps of eta / 5.
ell, (c1, c2) = 5, (2, -1)
y = sympy.Symbol("y", real=True)
paired = Landscape(mean_part + (c1 * x + c2 * y) * noise_part, (a, b), (x, y),
                   (R(1, 2), R(1, 2)), name="SVAG(5) pairs",
                   distribution=Dataset([(p, q) for p in (-1, -1, 2) for q in (-1, -1, 2)]))
for steps in (1, 2):
    engine = exact_sgd(paired, ell * steps)
    rescaled = Series(tuple(c / ell**k for k, c in enumerate(engine.coefficients)))
    assert rescaled == svag_T.truncate(3).evaluate(skewed, T=steps, B=1).subs(l, ell)
print("  SVAG(5) = the exact engine on the paired loss 2 l_x - l_y (5T steps of eta/5), "
      "T = 1, 2")

# %% The second-order SDE against SGD on a landscape
sgd_L = approximation_loss("sgd", ORDER, landscape=skewed, steps=T)      # general, evaluated
sde_L = sde_expected_loss(skewed, ORDER, steps=T)                      # the generator
sde2_L = sde_expected_loss(skewed, ORDER, steps=T, kind="sde2")
second = sgd_L - sde2_L
show("on the skewed cubic, SGD - SDE", sgd_L - sde_L, upto=ORDER)
show("on the skewed cubic, SGD - second-order SDE", second, upto=ORDER)
assert (sgd_L - sde_L).coefficients[:2] == (0, 0) and (sgd_L - sde_L).coeff(2) != 0
assert second.coefficients[:3] == (0, 0, 0) and second.coeff(3) != 0   # one order further
assert top_degree(second.coeff(3), T) == 1 and top_degree(second.coeff(4), T) == 2
for steps in (1, 2, 3):
    assert exact_sgd(skewed, steps, order=ORDER) == sgd_L.subs(T, steps)
print("  SGD's series = the exact engine at T = 1, 2, 3 (order 4): the second-order SDE agrees "
      "through eta^2, the SDE through eta^1; weak orders 2 and 1")
# Where it does not: samples reused (2 epochs of 2 points, T = 4) open an eta^2 gap.
epochs = expected_loss(sgd(2, epochs=2), 2, landscape=skewed, method="exact") \
    - sde_expected_loss(skewed, 2, steps=4, kind="sde2")
assert epochs.coefficients[:2] == (0, 0) and epochs.coeff(2) != 0
print(f"  but with 2 epochs of N = 2 points (T = 4) SGD - SDE2 = {epochs}: the second-order "
      "agreement needs fresh samples")

# %% GDC: GD plus Tenka's regularizer, through the first order where it differs from SGD
# The front door takes every process by one keyword: expected_loss(schedule, order,
# process=...).  GDC (Corollary 1) is GD on the N training points of mean l +
# c eta tr C_hat, with tr C_hat = sum_n |g_n - g_bar|^2/(N - 1) from the training set and
# c = (N - B)/(4 N B).  tr C_hat is a statistic of pairs of points, so only the exact engine
# expands it (the direct route refuses it); on 1-d linear regression it matches SGD
# through eta^2 and misses at eta^3 by -(N - 1)(11 N - 4)/(3 N), growing like N.
regression = linear_regression(dim=1)
n_sym = sympy.Symbol("N", integer=True, positive=True)
residual_rule = -(n_sym - 1) * (11 * n_sym - 4) / (3 * n_sym)
print("\nGDC on 1-d linear regression (B = E = 1), by the exact engine:")
for n in range(2, 6):
    residual = expected_loss(sgd(n), 3, landscape=regression) \
        - expected_loss(sgd(n), 3, landscape=regression, process="gdc")
    plain = expected_loss(sgd(n), 2, landscape=regression) \
        - expected_loss(gd(n, steps=n), 2, landscape=regression)
    assert residual.coefficients[:3] == (0, 0, 0) and plain.coeff(2) != 0
    assert residual.coeff(3) == residual_rule.subs(n_sym, n)
    print(f"  N = {n}: SGD - GD = {plain.coeff(2)} eta^2 + ..., "
          f"SGD - GDC = {residual.coeff(3)} eta^3 + ...")
print(f"  SGD - GDC at eta^3 = {residual_rule}")

# %% Engine against simulation: SGD, noisy GD and the SDE on a five-point population
# l_x(w) = w^2/2 + w^4/12 + x w, x uniform on {-1/2, -1/2, -1/2, -1/2, 2} (mean 0, C = 1,
# third cumulant S = 3/2), from w = 1, T = 3 steps of batch 1.  SGD draws each step's sample
# afresh (training='sampled': 3 draws for 3 steps, one epoch); noisy GD and Euler-Maruyama
# (16 substeps) train on the whole population, whose gradient is the test loss's and whose
# covariance is C(w) (training='population', (N - B)/(B (N - 1)) = 1 at B = 1).
w = sympy.Symbol("w", real=True)
points = [-R(1, 2)] * 4 + [2]
quartic = Landscape(w**2 / 2 + w**4 / 12 + x * w, (w,), (x,), (1,),
                    distribution=Dataset(points), name="quartic, 5 points")
steps, trials, z = 3, 100_000, 4
rates = np.array([0.005, 0.01, 0.015, 0.02, 0.025])
series = {p: approximation_loss(p, 5, landscape=quartic, steps=steps)
          for p in ("sgd", "noisy_gd", "sde")}
dynamics = {"sgd": (SGD(sgd(steps)), "sampled"),
            "noisy_gd": (NoisyGD(len(points), steps=steps), "population"),
            "sde": (SDE(len(points), steps=steps, refine=16), "population")}
mean, sem = {}, {}
for p, (process, training) in dynamics.items():
    runs = simulate(quartic, process, lr=rates, trials=trials, seed=0, training=training,
                    progress=False)
    mean[p], sem[p] = runs.mean()[:, -1], runs.sem()[:, -1]
names = {"sgd": "SGD", "noisy_gd": "noisy GD", "sde": "SDE"}
print(f"\n{quartic.name}, T = {steps}, {trials} runs each: simulated test loss "
      "(+- 1 SE) and the engine's order-3 series")
for i, lr in enumerate(rates):
    print(f"  lr {lr:.3f}: " + "  ".join(
        f"{names[p]} {mean[p][i]:.6f} +- {sem[p][i]:.0e} ({float(series[p].truncate(3)(lr)):.6f})"
        for p in names))


def within(simulated, error, prediction, lr):
    """|simulated - order-3 prediction| < z SE + |eta^4 term|, the next term's allowance."""
    allowance = z * error + abs(float(prediction.coeff(4))) * lr**4
    return abs(simulated - float(prediction.truncate(3)(lr))) < allowance


# the figure's claims: at the smallest eta each process is its order-3 series ...
for p in names:
    assert within(mean[p][0], sem[p][0], series[p], rates[0]), p
# ... and SGD - SDE, an O(eta^2) discretization effect, is within the engine's allowance at
# every eta and resolved from eta = 0.01 on (not the noise's shape: the non-Gaussian gap
# -T S J eta^3/6 is at most 2e-5 here, below the simulation's error)
print("  SGD - SDE: simulated (+- 1 SE), engine order 3")
for i, lr in enumerate(rates):
    both = np.hypot(sem["sgd"][i], sem["sde"][i])
    difference = mean["sgd"][i] - mean["sde"][i]
    engine = series["sgd"] - series["sde"]
    print(f"  lr {lr:.3f}: {difference:.2e} +- {both:.0e}  {float(engine.truncate(3)(lr)):.2e}")
    assert within(difference, both, engine, lr), lr
    assert lr < 0.01 or abs(difference) > z * both, lr
print(f"  within {z} SE + |eta^4 term| of the engine's order 3 at every lr, and more than {z} "
      "SE from 0 for lr >= 0.01")

# %% The figure
grid = np.linspace(0, rates[-1] * 1.04, 100)
colours = {"sgd": "C0", "noisy_gd": "C2", "sde": "C3"}
styles = {"sgd": "-", "noisy_gd": "--", "sde": "-"}
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
for p in names:
    left.plot(grid, [float(series[p].truncate(3)(lr)) for lr in grid], color=colours[p],
              ls=styles[p], label=f"{names[p]}, engine (order 3)")
    left.errorbar(rates, mean[p], yerr=1.96 * sem[p], fmt="o", ms=3, capsize=2,
                  color=colours[p], label=f"{names[p]}, simulated (95%)")
left.set_xlabel("learning rate eta")
left.set_ylabel(f"E l(theta_T), T = {steps}")
left.set_title("test loss")
left.legend(fontsize=7)
pairs = [("sgd", "sde", "SGD - SDE"), ("noisy_gd", "sde", "noisy GD - SDE (discretization)"),
         ("sgd", "noisy_gd", "SGD - noisy GD (non-Gaussian)")]
for (p, q, label), colour, style in zip(pairs, ("C0", "C2", "C1"), ("-", "--", "-")):
    engine = series[p] - series[q]
    right.plot(grid, [float(engine.truncate(3)(lr)) for lr in grid], color=colour, ls=style,
               label=f"{label}, engine (order 3)")
    right.plot(grid, [float(engine(lr)) for lr in grid], color=colour, ls=":", lw=1)
    right.errorbar(rates, mean[p] - mean[q], yerr=1.96 * np.hypot(sem[p], sem[q]), fmt="o",
                   ms=3, capsize=2, color=colour, label=f"{label}, simulated (95%)")
right.axhline(0, color="grey", lw=0.5)
right.set_xlabel("learning rate eta")
right.set_title("differences (dotted: the engine at order 5)")
right.legend(fontsize=7)
fig.suptitle(f"SGD and its approximations on {quartic.name} ({trials} runs each)")
fig.tight_layout()
picture = OUT / "sgd_versus_approximations.png"
OUT.mkdir(parents=True, exist_ok=True)
fig.savefig(picture, dpi=110)
print(f"\nfigure saved to {picture}")
