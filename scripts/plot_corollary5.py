"""Tenka's Corollary 5 on MEAN ESTIMATION: overfitting and generalization gap of GD.

GD on ``N`` points of ``l_x = H theta^2 / 2 + x theta`` (``C = 1``), started at the
test minimum ``theta = 0``, for ``T`` steps at learning rate ``eta``.  For a range of
Hessians ``H`` the figure shows the engine's resummed prediction
(:func:`symsgd.resummed_loss`, discrete propagators), the paper's printed
form (``exp(-eta T H)`` in place of ``(1 - eta H)^T``) and a seeded simulation
(:func:`symsgd.simulate`, 95% intervals; for the gap the half-width uses the sum of
the test and training standard errors, an upper bound).  Overfitting peaks for
medium curvature, ``H`` near ``1.26 / (eta T)``; the gap tends to ``C / (H N)``.

Usage: ``python scripts/plot_corollary5.py [OUTDIR] [--quick]`` (default ``out/``;
writes ``corollary5_mean_estimation.png``).
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import sympy

from symsgd import gd, resummed_loss, simulate
from symsgd.landscapes import mean_estimation

ETA, N, T = 0.1, 10, 100


def landscape(H):
    """MEAN ESTIMATION with Hessian ``H`` (as an exact rational) and ``C = 1``, at its minimum."""
    return mean_estimation(hessian=sympy.nsimplify(H), noise=1, init=0)


def engine(H, measure):
    """The resummed prediction at ``ETA``."""
    return float(resummed_loss(gd(N, steps=T), 2, landscape=landscape(H), measure=measure)(ETA))


def main(outdir="out", quick=False):
    start = time.time()
    os.makedirs(outdir, exist_ok=True)
    grid = np.geomspace(1e-3, 4, 25 if quick else 60)
    points = np.geomspace(3e-3, 3, 5 if quick else 9)
    trials = 2000 if quick else 20000
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, measure, title in zip(axes, ("test", "gap"), ("overfitting  E l(theta_T) - l(theta*)",
                                                         "generalization gap")):
        decay = 1 - np.exp(-ETA * T * grid)
        paper = decay**2 / (2 * grid * N) if measure == "test" else decay / (grid * N)
        ax.plot(grid, [engine(h, measure) for h in grid], label="engine (resummed, discrete)")
        ax.plot(grid, paper, "--", label="Corollary 5 as printed (exp)")
        means, halves = [], []
        for i, h in enumerate(points):
            sim = simulate(gd(N, steps=T), landscape=landscape(h), lr=ETA, trials=trials, seed=i,
                           every=T, progress=False)
            if measure == "test":
                means.append(sim.test_loss[0, -1])
                halves.append(1.96 * sim.test_loss_sem[0, -1])
            else:
                means.append(sim.gap[0, -1])
                halves.append(1.96 * (sim.test_loss_sem[0, -1] + sim.train_loss_sem[0, -1]))
        ax.errorbar(points, means, yerr=halves, fmt="o", capsize=3, label="simulation (95%)")
        if measure == "test":
            ax.axvline(1.2564 / (ETA * T), color="gray", lw=0.8, label="H = 1.26/(eta T)")
        ax.set_xscale("log")
        ax.set_xlabel("Hessian H")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.suptitle(f"MEAN ESTIMATION, GD from the test minimum: N={N}, T={T}, eta={ETA}, C=1")
    fig.tight_layout()
    path = os.path.join(outdir, "corollary5_mean_estimation.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path} in {time.time() - start:.1f} s")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", nargs="?", default="out")
    parser.add_argument("--quick", action="store_true", help="fewer Hessians and trials")
    args = parser.parse_args()
    main(args.outdir, args.quick)
