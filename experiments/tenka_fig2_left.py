"""Tenka Figure 2 left: the digits convnet's test loss after T = 10 SGD steps against lr.

SGD with ``N = 10`` training points drawn from the digits population, batch 1 (``T =
10`` steps), simulated with :func:`symsgd.nets.simulate` (95% intervals over trials),
against the order-1, -2 and -3 predictions of the measured series
(:func:`symsgd.nets.predict`, bands from the statistics' standard errors).  Reports
the first learning rate where the order-3 prediction leaves the simulation's interval.

Asserted: at every learning rate up to ``0.05`` the order-3 prediction agrees with the
simulation within ``z sqrt(se_sim^2 + se_pred^2) + |c_3| lr^3`` (Bonferroni's ``z`` for
95% over those rates; the last term allows for the truncation).

Usage: ``python experiments/tenka_fig2_left.py [OUTDIR] [--quick] [--trials 2000]
[--budget 1024]`` (about 3 minutes by default on 2 cores, 20 s with ``--quick``).
"""

import matplotlib.pyplot as plt
import numpy as np
import scipy.stats
import sympy

import symsgd
from symsgd.nets import predict, simulate
from symsgd.nets.dynamics import SGD

from _harness import arguments, digits_net, option, save

args = arguments(__doc__, trials=(2000, "simulated trials per learning rate"),
                 budget=(1024, "draws per measured statistic"))
trials = option(args, "trials", 2000, 200)
budget = option(args, "budget", 1024, 256)
rates = np.array([0.01, 0.03, 0.1] if args.quick else [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4])
CHECKED = rates[rates <= 0.05]
STEPS = 10

net = digits_net("convnet", seed=args.seed)
N, B = sympy.symbols("N B", integer=True, positive=True)
series = symsgd.expected_loss(symsgd.sgd(N, batch=B), 3, method="direct")
p = predict(series, net, budget=budget, seed=args.seed, N=STEPS, B=1)
orders = {k: p.truncate(k) for k in (1, 2, 3)}
runs = simulate(net, SGD(symsgd.sgd(STEPS)), lr=rates, trials=trials, seed=args.seed)
mean, sem = runs.mean()[:, -1], runs.sem()[:, -1]

z = scipy.stats.norm.ppf(1 - 0.05 / (2 * len(CHECKED)))
c3 = abs(p.coefficients[3])
rows, leaves = [], None
print(f"{'lr':>6s} {'simulated (95%)':>22s} {'order 3 (95%)':>22s} {'agrees':>7s}")
for lr, m, s in zip(rates, mean, sem):
    pred, pse = float(p(lr)), float(p.standard_error(lr))
    inside = abs(m - pred) <= 1.96 * np.hypot(s, pse)
    if not inside and leaves is None:
        leaves = float(lr)
    allowed = z * np.hypot(s, pse) + c3 * lr ** 3
    rows.append({"lr": float(lr), "simulated": float(m), "simulated_se": float(s),
                 **{f"order{k}": float(o(lr)) for k, o in orders.items()},
                 **{f"order{k}_se": float(o.standard_error(lr)) for k, o in orders.items()},
                 "inside_95": bool(inside)})
    print(f"{lr:6g} {m:12.5f} +- {1.96 * s:.5f} {pred:12.5f} +- {1.96 * pse:.5f} "
          f"{'yes' if inside else 'no':>7s}")
    if lr in CHECKED:
        assert abs(m - pred) <= allowed, f"lr = {lr}: order 3 and the simulation disagree"
print("the order-3 prediction first leaves the 95% interval at lr =", leaves)

fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
for ax, top in zip(axes, (0.06, rates.max() * 1.05)):
    grid = np.linspace(0, top, 200)
    for k, o in orders.items():
        o.plot(grid, ax=ax, label=f"order {k}")
    keep = rates <= top
    ax.errorbar(rates[keep], mean[keep], yerr=1.96 * sem[keep], fmt="ko", ms=4,
                label=f"SGD, {trials} trials (95%)")
    low = min(mean[keep].min(), min(o(grid).min() for o in orders.values()))
    high = p.coefficients[0]
    ax.set_ylim(low - 0.1 * (high - low), high + 0.1 * (high - low))
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"test loss after {STEPS} steps (batch 1)")
    ax.set_title(f"digits convnet, P = {net.dim}")
axes[0].legend()
fig.tight_layout()
save(args.outdir, "tenka_fig2_left", fig,
     {"trials": trials, "budget": budget, "seed": args.seed, "coefficients":
      p.coefficients.tolist(), "coefficient_se": p.standard_errors().tolist(), "rows": rows,
      "order3_leaves_band_at": leaves})
