"""Li, Malladi and Arora: SVAG converges to the SDE at rate 1/l; noisy GD against SGD.

SVAG(l) takes ``l`` times the steps at ``lr / l`` on two independent batches combined
with weights ``(1 +- sqrt(2l - 1)) / 2``: drift and diffusion per unit time are SGD's,
and as ``l`` grows it converges weakly to the SDE, with error ``O(1 / l)``.  Two
problems, each with ``N`` training points, batch 1, ``T`` steps:

* GAUSS started at ``h = 1`` (skewed gradient noise; the SDE's Gaussian noise makes
  ``exp(-h)`` overflow in rare trials, which is why SVAG is the practical route to the
  SDE's value here);
* logistic regression on the digits (Xavier initialization).

Left: the final test loss against ``1 / l`` with the weighted fit ``c_0 + c_1 / l``
(``c_0`` estimates the SDE's value).  Right: on the digits, noisy GD (GD plus Gaussian
noise of SGD's covariance, their eq. 5) and GD against SGD with a fresh batch each step
(SVAG with ``l = 1``), differences paired on the training set, against the learning rate.

Asserted: the fits are consistent with the data (chi-squared per degree of freedom
below 4) and on GAUSS ``c_1`` is resolved (more than 3 standard errors), i.e. the
``1 / l`` rate is seen; noisy GD is closer to SGD than GD is at every learning rate where
GD's difference is resolved.

Usage: ``python experiments/li_svag.py [OUTDIR] [--quick] [--trials 80000]``
(about 2 minutes by default on 2 cores).
"""

import matplotlib.pyplot as plt
import numpy as np

import symsgd
from symsgd.landscapes import gauss
from symsgd.nets import simulate
from symsgd.nets.dynamics import GD, SVAG, NoisyGD

from _harness import arguments, digits_net, option, save

args = arguments(__doc__, trials=(80000, "trials on GAUSS (a fortieth of them on the digits)"))
trials = option(args, "trials", 80000, 40000)
AMPS = np.array([1, 2, 4, 8])


def fit(x, y, se):
    """Weighted least squares ``y = c0 + c1 x``: coefficients, their standard errors, and
    chi-squared per degree of freedom."""
    A = np.vstack([np.ones_like(x), x]).T
    w = 1 / se ** 2
    cov = np.linalg.inv(A.T @ (w[:, None] * A))
    c = cov @ A.T @ (w * y)
    chi2 = float(np.sum(w * (y - A @ c) ** 2) / (len(x) - 2))
    return c, np.sqrt(np.diag(cov)), chi2


base = gauss()
problems = {"GAUSS (h_0 = 1)": (symsgd.Landscape(base.loss, base.params, base.data, (1,),
                                                 name="GAUSS"), 8, 5, 0.4, trials),
            "digits logistic": (digits_net("logistic", seed=args.seed), 10, 10, 1.0,
                                max(200, trials // 40))}
fits, numbers = {}, {}
for name, (problem, N, T, lr, n) in problems.items():
    means, ses = [], []
    for l in AMPS:
        runs = simulate(problem, SVAG(N, steps=T, l=int(l)), lr=lr, trials=n, seed=args.seed)
        means.append(runs.mean()[0, -1])
        ses.append(runs.sem()[0, -1])
    means, ses = np.array(means), np.array(ses)
    c, c_se, chi2 = fit(1 / AMPS, means, ses)
    fits[name] = (means, ses, c)
    numbers[name] = {"N": N, "T": T, "lr": lr, "trials": n, "l": AMPS.tolist(),
                     "test_loss": means.tolist(), "se": ses.tolist(), "sde_limit": c[0],
                     "sde_limit_se": c_se[0], "slope_in_1_over_l": c[1], "slope_se": c_se[1],
                     "chi2_per_dof": chi2}
    print(f"{name}: SVAG test loss {np.round(means, 5)} (+- {np.round(ses, 5)}) for l = "
          f"{AMPS.tolist()}; fit {c[0]:.5f} (+- {c_se[0]:.5f}) + ({c[1]:.5f} +- {c_se[1]:.5f}) "
          f"/ l, chi2/dof {chi2:.2f}")
    assert chi2 < 4, f"{name}: the 1/l fit does not describe the data"
    if name.startswith("GAUSS"):
        assert abs(c[1]) > 3 * c_se[1], "the 1/l rate is not resolved on GAUSS"

# noisy GD and GD against SGD with a fresh batch per step, on the digits
net = digits_net("logistic", seed=args.seed)
rates = np.array([0.1, 0.3, 1.0] if args.quick else [0.1, 0.2, 0.5, 1.0, 2.0])
n = max(200, trials // 40)
common = dict(lr=rates, trials=n, seed=args.seed)
sgd_runs = simulate(net, SVAG(10, steps=10, l=1), **common)
noisy_d, noisy_se = (x[:, -1] for x in simulate(net, NoisyGD(10, steps=10), **common)
                     .paired(sgd_runs))
gd_d, gd_se = (x[:, -1] for x in simulate(net, GD(10, steps=10), **common).paired(sgd_runs))
for lr, a, sa, b, sb in zip(rates, noisy_d, noisy_se, gd_d, gd_se):
    print(f"lr {lr:<5g} noisy GD - SGD {a: .2e} +- {sa:.1e}   GD - SGD {b: .2e} +- {sb:.1e}")
    if abs(b) > 3 * sb:
        assert abs(a) < abs(b), f"lr = {lr}: noisy GD is not closer to SGD than GD"
numbers["noisy_gd"] = {"lr": rates.tolist(), "trials": n, "noisy_gd_minus_sgd": noisy_d.tolist(),
                       "noisy_gd_se": noisy_se.tolist(), "gd_minus_sgd": gd_d.tolist(),
                       "gd_se": gd_se.tolist()}

fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
for ax, (name, (means, ses, c)) in zip(axes, fits.items()):
    ax.errorbar(1 / AMPS, means, yerr=1.96 * ses, fmt="ko", ms=4, label="SVAG(l) (95%)")
    grid = np.linspace(0, 1, 50)
    ax.plot(grid, c[0] + c[1] * grid, label=f"fit c0 + c1 / l; c0 = {c[0]:.4f} (SDE)")
    ax.set_xlabel("1 / l")
    ax.set_ylabel("final test loss")
    ax.set_title(name)
    ax.legend()
ax = axes[2]
ax.errorbar(rates, noisy_d, yerr=1.96 * noisy_se, fmt="o-", label="noisy GD - SGD")
ax.errorbar(rates, gd_d, yerr=1.96 * gd_se, fmt="s-", label="GD - SGD")
ax.axhline(0, color="k", lw=0.5)
ax.set_xscale("log")
ax.set_xlabel("learning rate")
ax.set_ylabel("test loss difference (paired)")
ax.set_title("digits logistic, T = 10, batch 1")
ax.legend()
fig.tight_layout()
save(args.outdir, "li_svag", fig, numbers)
