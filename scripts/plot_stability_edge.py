"""Liu et al.'s Figure 2: stationary variance against learning rate near the stability edge.

(a) White noise: SGD and heavy ball on ``L = k w^2 / 2`` with Gaussian gradient
noise of variance ``c``.  (b) Minibatch noise: SGD on a 1-d linear regression
``y = w* x + eps`` with ``N`` data points, each step's gradient the mean over a
batch of ``S`` points drawn with replacement.

Each panel shows the continuous-time theory (Mandt et al.,
:func:`symsgd.lyapunov.continuous_covariance`), the exact discrete covariance
(:func:`symsgd.lyapunov.stationary_covariance`) and a seeded, vectorized Monte
Carlo simulation (``E[(w - w_min)^2]`` over independent chains, 95% intervals).
Panel (b) shows two discrete predictions: Liu et al.'s, with the noise
approximated by ``C = sigma^2 K / S``, and the exact one, whose batch noise
``(Var_i(x_i r_i) + Var_i(x_i^2) Sigma) / S`` grows with the weights' own
variance ``Sigma`` (solved by :func:`symsgd.lyapunov.self_consistent_covariance`);
it diverges where ``1 - (1 - lr K)^2 = lr^2 Var_i(x_i^2) / S``, just below ``lr K = 2``.

Usage: ``python scripts/plot_stability_edge.py [OUTDIR] [--quick]`` (default
``out/``; ``--quick`` runs fewer chains and learning rates).
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402

from symsgd.lyapunov import (continuous_covariance, self_consistent_covariance,  # noqa: E402
                             stationary_covariance)
from symsgd.optim import SGD, HeavyBall  # noqa: E402

N_DATA, BATCH, NOISE_STD = 1000, 100, 1.0


def interval(samples):
    """Mean and 95% half-width over independent chains (last axis)."""
    n = samples.shape[-1]
    half = scipy.stats.t.ppf(0.975, n - 1) * samples.std(axis=-1, ddof=1) / np.sqrt(n)
    return samples.mean(axis=-1), half


def simulate_white(lrs, momentum, k, c, steps, chains, rng):
    """Final ``w^2`` of heavy ball (``momentum = 0``: SGD) with Gaussian noise, per lr and chain."""
    lr = np.asarray(lrs)[:, None]
    w = np.zeros((len(lrs), chains))
    m = np.zeros_like(w)
    for _ in range(steps):
        g = k * w + np.sqrt(c) * rng.standard_normal(w.shape)
        m = momentum * m + g
        w = w - lr * m
    return w ** 2


def simulate_minibatch(x, y, w_min, lrs, steps, chains, rng):
    """Final ``(w - w_min)^2`` of minibatch SGD on ``mean (w x - y)^2 / 2``, per lr and chain."""
    lr = np.asarray(lrs)[:, None]
    w = np.full((len(lrs), chains), w_min)
    for _ in range(steps):
        idx = rng.integers(len(x), size=w.shape + (BATCH,))
        xb, yb = x[idx], y[idx]
        w = w - lr * np.mean(xb * (xb * w[..., None] - yb), axis=-1)
    return (w - w_min) ** 2


def white_noise_panel(ax, momentum, quick, rng):
    """Panel (a): the white-noise case for SGD (``momentum = 0``) or heavy ball."""
    k, c = 1.0, 1.0
    make = (lambda lr: SGD(lr)) if momentum == 0 else (lambda lr: HeavyBall(lr, momentum))
    edge = make(1.0).lr_bound() / k
    grid = np.linspace(0.02, 0.995, 200) * edge
    pts = np.linspace(0.1, 0.97, 6 if quick else 12) * edge
    sims = simulate_white(pts, momentum, k, c, 300, 1000 if quick else 4000, rng)
    mean, half = interval(sims)
    ax.semilogy(grid * k, [stationary_covariance(make(x), k, c) for x in grid], color="C0",
                label="exact discrete")
    ax.semilogy(grid * k, [continuous_covariance(make(x), k, c) for x in grid], "--",
                color="C1", label="continuous (Mandt et al.)")
    ax.errorbar(pts * k, mean, yerr=half, fmt="o", ms=4, color="C2", label="simulation (95% CI)")
    ax.axvline(edge * k, color="grey", lw=0.8)
    ax.set_xlabel("lr * k")
    ax.set_ylabel("Var[w]")
    name = "SGD" if momentum == 0 else f"heavy ball, momentum {momentum}"
    ax.set_title(f"(a) white noise: {name}")
    ax.legend()


def minibatch_panel(ax, quick, rng):
    """Panel (b): SGD on a 1-d linear regression with minibatch noise."""
    x = rng.standard_normal(N_DATA)
    y = 0.7 * x + NOISE_STD * rng.standard_normal(N_DATA)
    k = np.mean(x ** 2)
    w_min = np.mean(x * y) / k
    grads = x * (x * w_min - y)
    additive, multiplicative = np.mean(grads ** 2), np.var(x ** 2)

    def exact(lr):
        return self_consistent_covariance(
            lambda sigma: (SGD(lr), (additive + multiplicative * sigma) / BATCH), k)

    edge = 2 * k / (k ** 2 + multiplicative / BATCH)       # the exact second moment diverges
    grid = np.linspace(0.02, 0.99, 150) * edge
    pts = np.linspace(0.1, 0.92, 6 if quick else 12) * edge
    sims = simulate_minibatch(x, y, w_min, pts, 300, 500 if quick else 2000, rng)
    mean, half = interval(sims)
    liu = NOISE_STD ** 2 * k / BATCH
    ax.semilogy(grid * k, [exact(lr) for lr in grid], color="C0",
                label="exact discrete, minibatch noise")
    ax.semilogy(grid * k, [stationary_covariance(SGD(lr), k, liu) for lr in grid], ":",
                color="C4", label=r"discrete, $C = \sigma^2 K / S$ (Liu et al.)")
    ax.semilogy(grid * k, [continuous_covariance(SGD(lr), k, liu) for lr in grid], "--",
                color="C1", label="continuous (Mandt et al.)")
    ax.errorbar(pts * k, mean, yerr=half, fmt="o", ms=4, color="C2", label="simulation (95% CI)")
    ax.axvline(edge * k, color="grey", lw=0.8)
    ax.axvline(2, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("lr * K")
    ax.set_ylabel("E[(w - w_min)^2]")
    ax.set_title(f"(b) minibatch noise: SGD, N = {N_DATA}, S = {BATCH}")
    ax.legend()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", nargs="?", default="out")
    parser.add_argument("--quick", action="store_true", help="fewer chains and learning rates")
    args = parser.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    white_noise_panel(axes[0], 0.0, args.quick, rng)
    white_noise_panel(axes[1], 0.5, args.quick, rng)
    minibatch_panel(axes[2], args.quick, rng)
    fig.tight_layout()
    path = os.path.join(args.outdir, "stability_edge.png")
    fig.savefig(path, dpi=120)
    print(path, f"({time.perf_counter() - start:.1f} s)")
    return path


if __name__ == "__main__":
    main()
