"""Tutorial: large learning rates -- the exact discrete covariance versus the continuous theory.

Near a minimum SGD does not converge to a point but to a stationary distribution.
Continuous-time (SDE) theory gets its covariance right only at small learning
rates; Liu, Ziyin and Ueda solve the discrete recursion exactly.  symsgd does this
for any linear optimizer: here we derive closed forms in a SymPy session, rederive
Liu et al.'s Table 1 with the general machinery, see the stability edge named in
the error, treat Nesterov and QHM, check everything against iterating the recursion
and against simulation, plot it, and end with Kunin et al.'s phase-space picture.

Run top to bottom: ``python tutorials/large_learning_rates.py`` (the plot goes to the
directory in ``$SYMSGD_OUT``, default ``out/``).
"""

# %% Exact discrete versus continuous covariance, symbolically
import os

import matplotlib.pyplot as plt
import numpy as np
import scipy.stats
import sympy

from symsgd.errors import StabilityError
from symsgd.lyapunov import (continuous_covariance, covariance_at, stationary_covariance,
                             training_error)
from symsgd.optim import QHM, SGD, HeavyBall, Nesterov, damped_newton
from symsgd.phase_space import DiscretePhaseSpace, PhaseSpaceOU

lr, mu, nu, k, c = sympy.symbols("lr mu nu k c", positive=True)
exact = stationary_covariance(SGD(lr), k, c)
continuous = continuous_covariance(SGD(lr), k, c)
print("SGD, exact:     ", exact)
print("SGD, continuous:", continuous)
ratio = sympy.factor(exact / continuous)
print("exact / continuous =", ratio)
assert sympy.simplify(ratio - 2 / (2 - lr * k)) == 0
# The continuous theory is off by the factor 2 / (2 - lr k): 2x at lr k = 1, unbounded at the
# stability edge lr k = 2.  For heavy ball the factor is 2 (1 + mu) / (2 (1 + mu) - lr k).
hb_ratio = sympy.factor(stationary_covariance(HeavyBall(lr, mu), k, c)
                        / continuous_covariance(HeavyBall(lr, mu), k, c))
print("heavy ball, exact / continuous =", hb_ratio)
assert sympy.simplify(hb_ratio - 2 * (1 + mu) / (2 * (1 + mu) - lr * k)) == 0

# %% Liu et al.'s Table 1, derived by the general machinery (commuting K and C)
# Each optimizer is only a state-space system z' = A z + B xi; the covariances below come from
# solving the discrete Lyapunov equation for it, not from typed-in formulas.  We compare with
# the entries as printed in the paper.
k1, k2, c1, c2 = sympy.symbols("k1 k2 c1 c2", positive=True)
K, C, eye = sympy.diag(k1, k2), sympy.diag(c1, c2), sympy.eye(2)
printed = {
    "SGD": (SGD(lr), lr * (K * (2 * eye - lr * K)).inv() * C),
    "SGDM": (HeavyBall(lr, mu),
             lr * (K / (1 + mu) * (2 * eye - lr * K / (1 + mu))).inv() * C / (1 - mu ** 2)),
    "DNM": (damped_newton(lr, K, momentum=mu),
            (1 + mu) / (1 - mu) * lr / (2 * (1 + mu) - lr) * K.inv() ** 2 * C),
}
for name, (optimizer, table_entry) in printed.items():
    derived = stationary_covariance(optimizer, K, C)
    assert (derived - table_entry).applyfunc(sympy.simplify) == sympy.zeros(2, 2), name
    print(f"{name}: Sigma_11 =", derived[0, 0])
# the "approximation error" rows: the training error Tr[K Sigma] / 2
errors = {
    "SGD": (SGD(lr), lr / 2 * ((2 * eye - lr * K).inv() * C).trace()),
    "SGDM": (HeavyBall(lr, mu),
             lr / (2 * (1 - mu)) * ((2 * eye - lr * K / (1 + mu)).inv() * C).trace()),
}
for name, (optimizer, table_entry) in errors.items():
    assert sympy.simplify(training_error(optimizer, K, C) - table_entry) == 0, name
print("Table 1 (SGD, SGDM, DNM covariances; SGD, SGDM training errors) reproduced")
print("LaTeX, SGDM:", sympy.latex(stationary_covariance(HeavyBall(lr, mu), k, c)))

# %% The stability edge: outside it there is no stationary distribution, and the error says why
for optimizer in (SGD(2.5), HeavyBall(3.5, 0.5), Nesterov(1.6, 0.5)):
    try:
        stationary_covariance(optimizer, 1.0, 1.0)
    except StabilityError as err:
        print(f"{type(optimizer).__name__}: StabilityError: {err}")
        assert "is not below the stability bound" in str(err)
    else:
        raise AssertionError(f"{optimizer} beyond its edge gave a covariance")
# The bound is where the recursion's spectral radius reaches 1: check it for every optimizer.
for optimizer in (SGD(1.0), HeavyBall(1.0, 0.5), Nesterov(1.0, 0.5), QHM(1.0, 0.9, 0.7)):
    bound = float(optimizer.lr_bound())
    radius = [max(abs(np.linalg.eigvals(np.asarray(optimizer.state_space(x)[0], float))))
              for x in (0.999 * bound, 1.001 * bound)]
    assert radius[0] < 1 < radius[1], (optimizer, radius)
    print(f"{type(optimizer).__name__}: lr * k_max < {bound:.4g}, radius just inside/outside: "
          f"{radius[0]:.5f} / {radius[1]:.5f}")

# %% Nesterov and QHM: closed forms, then numbers checked against iteration and simulation
print("Nesterov:", stationary_covariance(Nesterov(lr, mu), k, c))
print("QHM:     ", stationary_covariance(QHM(lr, mu, nu), k, c))
K_num = np.array([[1.0, 0.3], [0.3, 0.4]])
C_num = np.array([[0.5, -0.2], [-0.2, 1.0]])                # does not commute with K
optimizers = {"Nesterov": Nesterov(0.6, 0.5), "QHM": QHM(0.8, 0.9, 0.7)}


def simulate(optimizer, hessian, noise, steps, chains, rng):
    """Final weights of ``chains`` runs of the update rule, written out; Gaussian noise."""
    root = np.linalg.cholesky(noise)
    w = np.zeros((chains, len(hessian)))
    m = np.zeros_like(w)
    lr, beta = optimizer.lr, getattr(optimizer, "momentum", 0.0)
    for _ in range(steps):
        g = w @ hessian + rng.standard_normal(w.shape) @ root.T
        if isinstance(optimizer, SGD):
            w = w - lr * g
        elif isinstance(optimizer, HeavyBall):
            m = beta * m + g
            w = w - lr * m
        elif isinstance(optimizer, Nesterov):          # torch's nesterov=True
            m = beta * m + g
            w = w - lr * (g + beta * m)
        else:                                          # QHM (Ma and Yarats)
            m = beta * m + (1 - beta) * g
            w = w - lr * ((1 - optimizer.nu) * g + optimizer.nu * m)
    return w


rng = np.random.default_rng(0)
z = scipy.stats.norm.ppf(1 - 0.05 / (2 * 3 * len(optimizers)))  # Bonferroni: 3 entries each
for name, optimizer in optimizers.items():
    sigma = stationary_covariance(optimizer, K_num, C_num)
    iterated = covariance_at(optimizer, K_num, C_num, 20_000)
    assert np.abs(sigma - iterated).max() < 1e-10 * np.abs(sigma).max()
    w = simulate(optimizer, K_num, C_num, 400, 20_000, rng)
    prods = w[:, [0, 0, 1]] * w[:, [0, 1, 1]]
    mean, se = prods.mean(0), prods.std(0, ddof=1) / np.sqrt(len(w))
    want = sigma[[0, 0, 1], [0, 1, 1]]
    print(f"{name}: exact {np.round(want, 4)}, simulated {np.round(mean, 4)} +- "
          f"{np.round(z * se, 4)}")
    assert np.all(np.abs(mean - want) < z * se)

# %% Plot: variance against lr * k for four optimizers, exact, continuous and simulated
out_dir = os.environ.get("SYMSGD_OUT", "out")
os.makedirs(out_dir, exist_ok=True)
# (QHM with momentum 0.9: its exact variance falls below the continuous one at moderate lr,
# then overtakes it near the edge)
family = {"SGD": lambda x: SGD(x), "heavy ball (0.5)": lambda x: HeavyBall(x, 0.5),
          "Nesterov (0.5)": lambda x: Nesterov(x, 0.5),
          "QHM (0.9, 0.7)": lambda x: QHM(x, 0.9, 0.7)}
fig, axes = plt.subplots(1, 4, figsize=(17, 4))
for ax, (name, make) in zip(axes, family.items()):
    edge = float(make(1.0).lr_bound())
    grid = np.linspace(0.02, 0.99, 120) * edge
    exact_v = np.array([stationary_covariance(make(x), 1.0, 1.0) for x in grid])
    cont_v = np.array([continuous_covariance(make(x), 1.0, 1.0) for x in grid])
    pts = np.linspace(0.15, 0.95, 6) * edge        # simulated with k = c = 1
    sims = np.array([simulate(make(x), np.eye(1), np.eye(1), 300, 4000, rng)[:, 0] ** 2
                     for x in pts])
    mean, half = sims.mean(1), 1.96 * sims.std(1, ddof=1) / np.sqrt(sims.shape[1])
    ax.semilogy(grid, exact_v, label="exact discrete")
    ax.semilogy(grid, cont_v, "--", label="continuous")
    ax.errorbar(pts, mean, yerr=half, fmt="o", ms=4, label="simulation (95% CI)")
    ax.axvline(edge, color="grey", lw=0.8)
    ax.set_title(name)
    ax.set_xlabel("lr * k")
    share = np.interp(0.95 * edge, grid, cont_v) / np.interp(0.95 * edge, grid, exact_v)
    print(f"{name}: at 95% of the edge the continuous theory gives {share:.2f} of the variance")
    assert share < 0.2
    # six points at 95% each: allow one outside by chance, not more
    assert np.sum(np.abs(mean - [stationary_covariance(make(x), 1.0, 1.0) for x in pts])
                  > half) <= 1
axes[0].set_ylabel("Var[w]  (k = c = 1)")
axes[0].legend()
fig.tight_layout()
picture = os.path.join(out_dir, "large_learning_rates.png")
fig.savefig(picture, dpi=110)
print("saved", picture)

# %% Kunin et al.'s phase space: what survives the small-lr limit and what does not
# Heavy ball with weight decay in Kunin's convention; their continuous OU model versus the exact
# recursion.  The modified loss (the stationary density) converges as lr -> 0; the probability
# current does not: at fixed momentum it stays at (1 + beta) / 2 of Kunin's at every lr.
H = np.diag([0.5, 2.0])
for step in (1e-1, 1e-3):
    ou = PhaseSpaceOU(step, 0.5, 1e-3, H, sigma2=1.0, batch=8)
    ex = DiscretePhaseSpace(step, 0.5, 1e-3, H, sigma2=1.0, batch=8)
    current_ratio = ex.decomposition()[0][0, 2] / ou.decomposition()[0][0, 2]
    speed_ratio = ex.speed() / ou.speed()
    print(f"lr = {step:g}: discrete / Kunin speed {speed_ratio:.4f}, current {current_ratio:.4f}")
    assert np.isclose(current_ratio, 0.75)
assert abs(speed_ratio - 1) < 1e-3
