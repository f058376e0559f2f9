"""Tenka Figure 2 center: GDC matches SGD better than GD does; the generalization gap.

For logistic regression on the digits (initialized at zero and at several Xavier draws)
and, with ``--convnet``, the digits convnet: ``T = 10`` steps on ``N = 10`` training
points: SGD (batch 1), GD and GDC (GD on ``l + c lr tr C_hat``, Corollary 1 with the
corrected coefficient ``c = (N - 1) / (4 N)``), simulated with the same training set in
every trial, so the differences from SGD are paired.  Left: ``GDC - SGD`` against ``GD -
SGD`` in test loss, equal axes (the paper's picture: little vertical spread, much
horizontal).  Right: SGD's generalization gap (test minus training loss) against the
order-2 prediction measured on the network (:func:`symsgd.nets.predict` of the ``'gap'``
series).

Asserted: at every (initialization, learning rate) where GD's paired difference is
resolved (more than 3 standard errors), GDC's is smaller in size; and the gap's order-2
prediction agrees with the simulation at the smallest learning rate within
``3 sqrt(se_sim^2 + se_pred^2) + |c_2| lr^2`` (the last term kept stands for the unknown
truncation error).

Usage: ``python experiments/tenka_fig2_center.py [OUTDIR] [--quick] [--trials 1000]
[--inits 3] [--convnet]`` (a few minutes by default on 2 cores; the convnet adds about
20 minutes).
"""

import matplotlib.pyplot as plt
import numpy as np
import sympy

import symsgd
from symsgd.nets import predict, simulate
from symsgd.nets.dynamics import GD, GDC, SGD

from _harness import arguments, digits_net, option, save

args = arguments(__doc__, trials=(1000, "trials per learning rate and optimizer"),
                 inits=(3, "Xavier initializations of logistic regression"),
                 convnet=(False, "add the digits convnet (a quarter of the trials; GDC "
                                 "differentiates through its per-sample gradients: slow)"))
trials = option(args, "trials", 1000, 150)
inits = option(args, "inits", 3, 1)
rates = np.array([0.01, 0.05] if args.quick else [0.003, 0.01, 0.03, 0.1])
N_TRAIN = STEPS = 10
problems = [("logistic0", 0)] + [("logistic", args.seed + i) for i in range(inits)]
if args.convnet:
    problems.append(("convnet", args.seed))

points, rows, gap_net = [], [], None
for model, seed in problems:
    net = digits_net(model, seed=seed)
    common = dict(lr=rates, trials=trials // 4 if model == "convnet" else trials, seed=args.seed)
    sgd_runs = simulate(net, SGD(symsgd.sgd(N_TRAIN)), **common)
    gd_d, gd_se = simulate(net, GD(N_TRAIN, steps=STEPS), **common).paired(sgd_runs)
    gdc_d, gdc_se = simulate(net, GDC(N_TRAIN, steps=STEPS), **common).paired(sgd_runs)
    for i, lr in enumerate(rates):
        row = {"model": model, "init": seed, "lr": float(lr),
               "gd_minus_sgd": float(gd_d[i, -1]), "gd_se": float(gd_se[i, -1]),
               "gdc_minus_sgd": float(gdc_d[i, -1]), "gdc_se": float(gdc_se[i, -1])}
        rows.append(row)
        print(f"{model:9s} init {seed} lr {lr:<6g} GD - SGD {row['gd_minus_sgd']: .2e} "
              f"+- {row['gd_se']:.1e}   GDC - SGD {row['gdc_minus_sgd']: .2e} "
              f"+- {row['gdc_se']:.1e}")
        if abs(row["gd_minus_sgd"]) > 3 * row["gd_se"]:
            assert abs(row["gdc_minus_sgd"]) < abs(row["gd_minus_sgd"]), row
    points.append((f"{model} (init {seed})", gd_d[:, -1], gdc_d[:, -1]))
    if model == "logistic" and gap_net is None:             # the first Xavier draw
        gap_runs, gap_net = sgd_runs, net

# the generalization gap of SGD on the first Xavier logistic regression, against order 2
N, B = sympy.symbols("N B", integer=True, positive=True)
gap_series = symsgd.expected_loss(symsgd.sgd(N, batch=B), 2, measure="gap", method="direct")
gap = predict(gap_series, gap_net, budget=512 if args.quick else 2048, seed=args.seed,
              N=N_TRAIN, B=1)
# E gap_0 = 0 (the training set is drawn from the population), so gap_T - gap_0 has the same
# mean as gap_T with far less variance: the training set's own spread cancels trial by trial
values = gap_runs.values(measure="gap")
change = values[:, :, -1] - values[:, :, 0]
sim_gap, sim_se = change.mean(1), change.std(1, ddof=1) / np.sqrt(change.shape[1])
lr0 = rates[0]
allowed = 3 * np.hypot(sim_se[0], gap.standard_error(lr0)) + abs(gap.coefficients[2]) * lr0 ** 2
print(f"gap at lr {lr0:g}: simulated {sim_gap[0]:.3e} +- {sim_se[0]:.1e}, order 2 "
      f"{float(gap(lr0)):.3e} +- {float(gap.standard_error(lr0)):.1e}")
assert abs(sim_gap[0] - float(gap(lr0))) <= allowed

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
for model, x, y in points:
    left.plot(x, y, "o", label=model)
span = max(max(np.abs(x).max(), np.abs(y).max()) for _, x, y in points) * 1.1
left.plot([-span, span], [0, 0], "k-", lw=0.5)
left.plot([0, 0], [-span, span], "k-", lw=0.5)
left.set_xlim(-span, span)
left.set_ylim(-span, span)
left.set_aspect("equal")
left.set_xlabel("GD - SGD (test loss, paired)")
left.set_ylabel("GDC - SGD (test loss, paired)")
left.set_title(f"T = {STEPS}, lr in {rates.min():g} .. {rates.max():g}")
left.legend()
grid = np.linspace(0, rates.max(), 100)
gap.plot(grid, ax=right, label="order-2 prediction")
right.errorbar(rates, sim_gap, yerr=1.96 * sim_se, fmt="ko", ms=4,
               label=f"SGD, {trials} trials (95%)")
right.set_xlabel("learning rate")
right.set_ylabel("generalization gap after 10 steps")
right.set_title("digits logistic regression (Xavier)")
right.legend()
fig.tight_layout()
save(args.outdir, "tenka_fig2_center", fig,
     {"trials": trials, "seed": args.seed, "rows": rows,
      "gap": {"lr": rates.tolist(), "simulated": sim_gap.tolist(), "simulated_se":
              sim_se.tolist(), "order2": gap(rates).tolist(),
              "order2_se": gap.standard_error(rates).tolist()}})
