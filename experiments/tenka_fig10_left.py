"""Tenka Figure 10 left: several epochs at lr / E against one epoch at lr, with predictions.

SGD on ``N = 10`` training points, batch 1, for ``E`` epochs at learning rate ``lr / E``
against one epoch at ``lr`` (the same ``eta T``, so only the correlations between epochs
differ), on logistic regression on the digits (Xavier initialization).  Both run on the
same training set in every trial, so the difference is paired.  The prediction is the
difference of the two order-3 series the engine derives (``sgd(N, batch=B, epochs=E)``
with ``eta -> eta / E``, minus ``sgd(N, batch=B)``), measured on the network with
:func:`symsgd.nets.predict`; its ``eta^2`` term is Corollary 2 in the corrected form of
``docs/results.md``, ``(E-1)/(2E) N/B (G H G + [G grad tr C/2]/B)``.

Asserted: at the smallest learning rate, for every ``E``, the simulated difference agrees
with the prediction within ``z sqrt(se_sim^2 + se_pred^2) + |c_3| lr^3`` (Bonferroni's
``z`` for 95% over the ``E``s), and it is positive (more epochs cost test loss).

Usage: ``python experiments/tenka_fig10_left.py [OUTDIR] [--quick] [--trials 2000]``
(about two minutes by default on 2 cores).
"""

import matplotlib.pyplot as plt
import numpy as np
import scipy.stats
import sympy

import symsgd
from symsgd.nets import predict, simulate
from symsgd.nets.dynamics import SGD
from symsgd.series import Series

from _harness import arguments, digits_net, option, save

args = arguments(__doc__, trials=(2000, "paired trials per learning rate"),
                 budget=(2048, "draws per measured statistic"))
trials = option(args, "trials", 2000, 300)
budget = option(args, "budget", 2048, 512)
epochs = [2, 3] if args.quick else [2, 3, 5, 8]
rates = np.array([0.1, 0.4] if args.quick else [0.05, 0.1, 0.2, 0.4, 0.8])
N_TRAIN = 10

net = digits_net("logistic", seed=args.seed)
N, B = sympy.symbols("N B", integer=True, positive=True)
one = symsgd.expected_loss(symsgd.sgd(N, batch=B), 3, method="direct")
one_runs = simulate(net, SGD(symsgd.sgd(N_TRAIN)), lr=rates, trials=trials, seed=args.seed)
z = scipy.stats.norm.ppf(1 - 0.05 / (2 * len(epochs)))
results, numbers = {}, {"trials": trials, "budget": budget, "lr": rates.tolist()}
for E in epochs:
    many = symsgd.expected_loss(symsgd.sgd(N, batch=B, epochs=E), 3, method="direct")
    diff = Series(tuple(sympy.expand(cm / E ** k - c1) for k, (c1, cm)
                        in enumerate(zip(one.coefficients, many.coefficients))),
                  measure="test", label=f"{E} epochs at eta/{E} minus one at eta")
    p = predict(diff, net, budget=budget, seed=args.seed, N=N_TRAIN, B=1)
    runs = simulate(net, SGD(symsgd.sgd(N_TRAIN, epochs=E)), lr=rates / E, trials=trials,
                    seed=args.seed)
    # paired: the same training sets; the learning rates differ by the factor E by design
    d = runs.test[:, :, -1] - one_runs.test[:, :, -1]
    mean, se = d.mean(1), d.std(1, ddof=1) / np.sqrt(trials)
    pred, pse = p(rates), p.standard_error(rates)
    results[E] = (mean, se, p)
    numbers[f"E={E}"] = {"simulated": mean.tolist(), "simulated_se": se.tolist(),
                         "predicted": pred.tolist(), "predicted_se": pse.tolist(),
                         "coefficients": p.coefficients.tolist()}
    print(f"E = {E}: " + "  ".join(f"lr {lr:g}: {m:.2e} +- {s:.1e} (pred {q:.2e})"
                                   for lr, m, s, q in zip(rates, mean, se, pred)))
    allowed = z * np.hypot(se[0], pse[0]) + abs(p.coefficients[3]) * rates[0] ** 3
    assert abs(mean[0] - pred[0]) <= allowed, f"E = {E}: simulation and prediction disagree"
    assert mean[0] > 3 * se[0], f"E = {E}: more epochs did not cost test loss"

fig, ax = plt.subplots(figsize=(7, 5))
grid = np.linspace(0, rates.max(), 100)
for E, (mean, se, p) in results.items():
    ax.errorbar(rates, mean, yerr=1.96 * se, fmt="o", ms=4, label=f"E = {E}")
    p.plot(grid, ax=ax, label=f"E = {E}, order 3")
ax.set_xlabel("learning rate of one-epoch SGD (E epochs run at lr / E)")
ax.set_ylabel("test loss: E epochs minus one (paired)")
ax.set_title(f"digits logistic regression, N = {N_TRAIN}, batch 1")
ax.legend(ncol=2)
fig.tight_layout()
save(args.outdir, "tenka_fig10_left", fig, numbers)
