"""Liu et al.'s Figure 2: stationary variance against learning rate near the stability edge.

Continuous-time theory (Mandt et al.), the exact discrete covariance
(:func:`symsgd.lyapunov.stationary_covariance`) and a seeded Monte Carlo
simulation of SGD and heavy ball on ``L = k w^2 / 2`` with Gaussian noise.

Usage: ``python scripts/plot_stability_edge.py [OUTDIR]`` (default ``out/``).
"""

import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from symsgd.lyapunov import continuous_covariance, stationary_covariance  # noqa: E402
from symsgd.optim import SGD, HeavyBall  # noqa: E402


def simulate(opt, k, c, steps, chains, rng):
    """Final weights of ``chains`` independent runs of ``opt`` (vectorized)."""
    w = np.zeros(chains)
    m = np.zeros(chains)
    mu = getattr(opt, "momentum", 0.0)
    for _ in range(steps):
        g = k * w + np.sqrt(c) * rng.standard_normal(chains)
        m = mu * m + g
        w = w - opt.lr * m
    return w


def main(outdir="out"):
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(0)
    k, c = 1.0, 1.0
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, mu in zip(axes, (0.0, 0.5)):
        make = (lambda lr: SGD(lr)) if mu == 0 else (lambda lr: HeavyBall(lr, mu))
        edge = make(1.0).lr_bound() / k
        grid = np.linspace(0.02, 0.995, 200) * edge
        exact = [stationary_covariance(make(x), k, c) for x in grid]
        cont = [continuous_covariance(make(x), k, c) for x in grid]
        pts = np.linspace(0.1, 0.97, 12) * edge
        sims = [simulate(make(x), k, c, 2000, 4000, rng) for x in pts]
        mean = [np.mean(s ** 2) for s in sims]
        err = [1.96 * np.std(s ** 2, ddof=1) / np.sqrt(len(s)) for s in sims]
        ax.semilogy(grid * k, exact, label="exact discrete")
        ax.semilogy(grid * k, cont, "--", label="continuous (Mandt et al.)")
        ax.errorbar(pts * k, mean, yerr=err, fmt="o", ms=4, label="simulation (95% CI)")
        ax.axvline(edge * k, color="grey", lw=0.8)
        ax.set_xlabel("lr * k")
        ax.set_ylabel("Var[w]")
        ax.set_title("SGD" if mu == 0 else f"heavy ball, momentum {mu}")
        ax.legend()
    fig.tight_layout()
    path = os.path.join(outdir, "stability_edge.png")
    fig.savefig(path, dpi=120)
    print(path)
    return path


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out")
