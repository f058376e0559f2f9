"""Tenka Figure 10 center: SGD minus SDE on GAUSS after one step, against the engine.

GAUSS (``l_x(h) = (h + x^2 exp(-h)) / 2``, standard normal ``x``, started at the test
minimum ``h = 0``) with the maximal coarseness ``T = 1`` (C.3.2), learning rates 0.05 to
0.25, so ``eta T`` is about 0.1:

* **SGD**, one step on a fresh sample: ``h_1 = -eta (1 - x^2) / 2``, whose expected test
  loss has the closed form ``E l(h_1) = exp(eta/2) / (2 sqrt(1 + eta))`` (``E h_1 = 0`` and
  ``E exp(-eta x^2 / 2) = (1 + eta)^(-1/2)``); checked here against simulated SGD
  (:func:`symsgd.nets.simulate`).
* **The SDE** of Li et al.'s eq. 2 on the data law: ``dX = -(1 - exp(-X)) / 2 dt +
  sqrt(eta C(X)) dW`` with ``C(X) = Var(grad l_x) = exp(-2X) / 2``, to time ``eta``,
  simulated by Euler-Maruyama with ``R`` and ``2R`` substeps on the same Brownian paths and
  extrapolated (``2 m_{2R} - m_R``) to remove the ``O(1/R)`` bias.
* **The prediction**: the difference of the engine's series,
  ``expected_loss(sgd(1), k, landscape=gauss(), method='direct')`` minus
  :func:`symsgd.approximations.sde_expected_loss` (``steps=1``), truncated at ``eta^3``,
  ``eta^4`` and ``eta^5``.

Asserted: simulated SGD agrees with its closed form; the closed form's series equals the
engine's SGD series through ``eta^6``; at ``eta <= 0.1`` the order-3 prediction agrees with
the simulated difference within ``z`` standard errors plus its next term ``|c_4| eta^4``,
and has its sign; over the range the order-5 prediction is closer than the order-3 one (the
paper: "we expect that the fourth order corrections would improve it").

Usage: ``python experiments/tenka_fig10_center.py [OUTDIR] [--quick] [--trials 1000000]``
(about a minute and a half by default on 2 cores, 17 s with ``--quick``).
"""

import matplotlib.pyplot as plt
import numpy as np
import scipy.stats
import sympy

import symsgd
from symsgd.approximations import sde_expected_loss
from symsgd.landscapes import gauss
from symsgd.nets import simulate
from symsgd.nets.dynamics import SGD

from _harness import arguments, option, save

args = arguments(__doc__, trials=(1_000_000, "SDE paths per learning rate"),
                 refine=(64, "Euler-Maruyama substeps R (and 2R)"))
trials = option(args, "trials", 1_000_000, 200_000)
R = option(args, "refine", 64, 32)
RATES = np.array([0.05, 0.1, 0.15, 0.2, 0.25])
ORDER = 6
L = gauss()
eta = symsgd.ETA

# -- the series: SGD by the engine, checked against the closed form; the SDE by the generator
sgd_series = symsgd.expected_loss(symsgd.sgd(1), ORDER, landscape=L, method="direct")
closed = sympy.exp(eta / 2) / (2 * sympy.sqrt(1 + eta))
taylor = sympy.series(closed, eta, 0, ORDER + 1).removeO()
assert all(sympy.nsimplify(sgd_series.coeff(k) - taylor.coeff(eta, k)) == 0
           for k in range(ORDER + 1)), "the engine's SGD series is not the closed form's"
sde_series = sde_expected_loss(L, ORDER, steps=1)
diff = [float(sgd_series.coeff(k) - sde_series.coeff(k)) for k in range(ORDER + 1)]
print("SGD - SDE:", " + ".join(f"({sympy.nsimplify(sgd_series.coeff(k) - sde_series.coeff(k))})"
                               f" eta^{k}" for k in range(ORDER + 1) if diff[k]))


def truncated(order, lr):
    return sum(diff[k] * lr ** k for k in range(order + 1))


# -- SGD: closed form, and a simulation of it
exact_sgd = np.exp(RATES / 2) / (2 * np.sqrt(1 + RATES))
sim = simulate(L, SGD(symsgd.sgd(1)), lr=RATES, trials=min(trials, 200_000), seed=args.seed,
               progress=False)
m, se = sim.mean()[:, -1], sim.sem()[:, -1]
print("simulated SGD minus its closed form, in standard errors:", np.round((m - exact_sgd) / se, 2))
assert np.all(np.abs(m - exact_sgd) <= 4 * se), "simulated SGD disagrees with its closed form"


# -- the SDE: Euler-Maruyama with R and 2R substeps on the same paths, extrapolated
def sde_means(lr, rng):
    """``(m_2R, m_R)`` per path: the test loss at time ``lr`` with ``2R`` and ``R`` steps."""
    fine, coarse = np.zeros(trials), np.zeros(trials)
    dt = lr / (2 * R)
    for _ in range(R):
        dw = rng.standard_normal((2, trials)) * np.sqrt(dt)
        for k in range(2):
            fine += -(1 - np.exp(-fine)) / 2 * dt + np.sqrt(lr * np.exp(-2 * fine) / 2) * dw[k]
        coarse += -(1 - np.exp(-coarse)) * dt + np.sqrt(lr * np.exp(-2 * coarse) / 2) * dw.sum(0)
    loss = lambda h: (h + np.exp(-h)) / 2  # noqa: E731
    return loss(fine), loss(coarse)


rng = np.random.default_rng(args.seed)
sde, sde_se, bias = [], [], []
for lr in RATES:
    fine, coarse = sde_means(lr, rng)
    extrapolated = 2 * fine - coarse
    sde.append(extrapolated.mean())
    sde_se.append(extrapolated.std(ddof=1) / np.sqrt(trials))
    bias.append((fine - coarse).mean())
sde, sde_se = np.array(sde), np.array(sde_se)
simulated = exact_sgd - sde                    # the closed form has no error
print(f"Euler-Maruyama bias removed (m_2R - m_R): {np.array(bias)}")

z = scipy.stats.norm.ppf(1 - 0.05 / (2 * 2))
numbers = {"trials": trials, "refine": R, "lr": RATES.tolist(), "sgd_exact": exact_sgd.tolist(),
           "sde": sde.tolist(), "sde_se": sde_se.tolist(), "sgd_minus_sde": simulated.tolist(),
           "difference_coefficients": diff, "euler_bias_2R_minus_R": bias}
for order in (3, 4, 5):
    numbers[f"order{order}"] = [truncated(order, lr) for lr in RATES]
for lr, s, e, p3, p5 in zip(RATES, simulated, sde_se, numbers["order3"], numbers["order5"]):
    print(f"lr {lr:.2f}: SGD - SDE {s:+.3e} +- {e:.1e}   order 3 {p3:+.3e}   order 5 {p5:+.3e}")
for i in np.flatnonzero(RATES <= 0.1):
    allowed = z * sde_se[i] + abs(diff[4]) * RATES[i] ** 4
    assert abs(simulated[i] - numbers["order3"][i]) <= allowed, f"lr {RATES[i]}: order 3 misses"
    assert np.sign(numbers["order3"][i]) == np.sign(simulated[i]), "order 3 has the wrong sign"
err3 = np.abs(simulated - np.array(numbers["order3"]))
err5 = np.abs(simulated - np.array(numbers["order5"]))
assert err5.sum() < err3.sum(), "the order-5 prediction is not closer than order 3"

fig, ax = plt.subplots(figsize=(7, 5))
ax.errorbar(RATES, simulated, yerr=1.96 * sde_se, fmt="o", color="k",
            label=f"SGD (exact) - SDE (Euler-Maruyama, {trials:,} paths)")
grid = np.linspace(0, RATES.max() * 1.02, 100)
for order, style in ((3, "--"), (4, "-."), (5, "-")):
    ax.plot(grid, truncated(order, grid), style, label=f"engine, order {order}")
ax.axhline(0, color="gray", lw=0.5)
ax.set_xlabel("learning rate eta (T = 1)")
ax.set_ylabel("E l(SGD) - E l(SDE)")
ax.set_title("GAUSS from the test minimum, one step")
ax.legend()
fig.tight_layout()
save(args.outdir, "tenka_fig10_center", fig, numbers)
