"""Kunin et al.'s limiting dynamics against minibatch heavy-ball SGD on linear regression.

A finite regression dataset ``y = x^T theta_bar + sigma eps`` (``x`` Gaussian with an
anisotropic covariance) is fitted by heavy-ball SGD with weight decay in Kunin et
al.'s convention (``v <- beta v - g - wd theta``, ``theta <- theta + lr v``), each
gradient the mean over a minibatch drawn with replacement from the data.  Many
independent chains run in parallel (numpy, seeded), started at the ridge solution
and measured after a burn-in.

Three predictions are drawn against the simulation:

* Kunin et al.'s continuous OU model with their Assumption 3, ``Sigma = sigma^2 H``
  (:class:`symsgd.phase_space.PhaseSpaceOU`): the instantaneous speed (their
  eq. 16) and the displacement (eq. 17).
* The exact discrete recursion with the exact minibatch noise
  (:class:`symsgd.phase_space.DiscretePhaseSpace`): near the minimum the noise of a
  batch is ``(Cov_i(x_i r_i) + E_i[(x_i^T P x_i) x_i x_i^T] - H P H) / S`` when the
  weights have covariance ``P``: state dependent, solved self-consistently
  (:func:`symsgd.lyapunov.self_consistent_covariance`).  The second moments are then
  exact at every learning rate; they diverge at the edge where the second-moment
  recursion (including this multiplicative noise) loses stability, far below the
  edge ``2 (1 + beta)`` of noiseless heavy ball.
* The exact recursion with Kunin's noise ``sigma^2 H`` (speed panel, dotted), to
  separate the effect of discreteness from that of the noise model.

Saves ``kunin_dynamics.png`` (speed against the learning rate, displacement and
diffusion exponent against the lag at a small and a large learning rate).

Usage: ``python scripts/plot_kunin_dynamics.py [OUTDIR] [--quick]`` (default ``out/``;
``--quick`` runs fewer chains and steps).
"""

import argparse
import os
import time

# The matrices here are tiny (144 x 144 at most); threaded BLAS only adds contention, which on a
# busy 2-core machine made the eigenvalue bisection 200x slower.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402
from tqdm import tqdm  # noqa: E402

from symsgd.lyapunov import self_consistent_covariance  # noqa: E402
from symsgd.optim import HeavyBall  # noqa: E402
from symsgd.phase_space import DiscretePhaseSpace, PhaseSpaceOU, diffusion_exponent  # noqa: E402

BETA, WD, BATCH, SIGMA = 0.9, 1e-4, 64, 1.0
SPECTRUM = np.geomspace(1.0, 1e-3, 6)            # covariance of x: the Hessian's eigenvalues
N_DATA = 4000


class Regression:
    """A finite least-squares problem: its Hessian, ridge solution and exact minibatch noise."""

    def __init__(self, rng):
        d = len(SPECTRUM)
        basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
        self.x = rng.standard_normal((N_DATA, d)) * np.sqrt(SPECTRUM) @ basis.T
        self.y = self.x @ rng.standard_normal(d) + SIGMA * rng.standard_normal(N_DATA)
        self.hessian = self.x.T @ self.x / N_DATA
        self.minimum = np.linalg.solve(self.hessian + WD * np.eye(d), self.x.T @ self.y / N_DATA)
        grads = self.x * (self.x @ self.minimum - self.y)[:, None]
        grads -= grads.mean(axis=0)
        self.additive = grads.T @ grads / N_DATA
        outer = np.einsum("ni,nj->nij", self.x, self.x).reshape(N_DATA, d * d)
        self.fourth = outer.T @ outer / N_DATA - np.kron(self.hessian, self.hessian)

    @property
    def dim(self):
        """Number of parameters."""
        return self.hessian.shape[0]

    @property
    def k_max(self):
        """Largest eigenvalue of ``H + wd``."""
        return np.linalg.eigvalsh(self.hessian).max() + WD

    def sample_noise(self, weights_cov):
        """Per-sample gradient covariance at stationarity when ``Cov(theta) = weights_cov``."""
        d = self.dim
        return self.additive + (self.fourth @ weights_cov.reshape(-1)).reshape(d, d)

    def exact(self, lr):
        """The exact discrete phase space, minibatch noise solved self-consistently."""
        cov = self_consistent_covariance(
            lambda p: (HeavyBall(lr, BETA, weight_decay=WD), self.sample_noise(p) / BATCH),
            self.hessian)
        return DiscretePhaseSpace(lr, BETA, WD, self.hessian, batch=BATCH,
                                  sample_noise=self.sample_noise(cov))

    def second_moment_radius(self, lr):
        """Spectral radius of the exact map ``Cov(z) -> M Cov M^T + G C(Cov_theta) G^T``."""
        d = self.dim
        m = DiscretePhaseSpace(lr, BETA, WD, self.hessian, batch=BATCH).transition()[0]
        g = np.vstack([-lr * np.eye(d), -np.eye(d)])      # how a gradient kick enters (theta, v)
        theta = np.hstack([np.eye(d), np.zeros((d, d))])
        step = np.kron(m, m) + np.kron(g, g) @ self.fourth @ np.kron(theta, theta) / BATCH
        return np.abs(np.linalg.eigvals(step)).max()

    def burn_in(self, lr):
        """Steps after which second moments started at the minimum are e^-12 from stationary."""
        return int(np.ceil(12 / -np.log(self.second_moment_radius(lr))))

    def second_moment_edge(self):
        """The ``lr * k_max`` where the minibatch second moments diverge (bisection)."""
        low, high = 0.0, 2 * (1 + BETA)
        for _ in range(40):
            mid = (low + high) / 2
            stable = self.second_moment_radius(mid / self.k_max) < 1
            low, high = (mid, high) if stable else (low, mid)
        return low


def simulate(data, lrs, chains, burn, steps, rng):
    """Run ``chains`` chains per learning rate; return per-chain speeds and the trajectories.

    Returns ``speed`` of shape ``(len(lrs), chains)`` (time-averaged
    ``||theta_{k+1} - theta_k||^2``) and ``path``, the weights, ``(steps, len(lrs), chains, d)``.
    """
    shape = (len(lrs), chains)
    lr = np.asarray(lrs)[:, None, None]
    theta = np.broadcast_to(data.minimum, shape + (data.dim,)).copy()
    v = np.zeros_like(theta)
    path = np.empty((steps,) + theta.shape)
    speed = np.zeros(shape)
    for t in tqdm(range(burn + steps), desc="SGD on linear regression", leave=False):
        idx = rng.integers(N_DATA, size=shape + (BATCH,))
        xb = data.x[idx]
        residual = np.einsum("lcsd,lcd->lcs", xb, theta) - data.y[idx]
        grad = np.einsum("lcsd,lcs->lcd", xb, residual) / BATCH
        v = BETA * v - grad - WD * theta
        theta = theta + lr * v
        if t >= burn:
            path[t - burn] = theta
            speed += np.sum((lr * v) ** 2, axis=-1) / steps
    return speed, path


def displacement(path, lags):
    """Per-chain ``mean_t ||theta_{t+s} - theta_t||^2``, shape ``(len(lags), chains)``."""
    return np.stack([np.mean(np.sum((path[s:] - path[:-s]) ** 2, axis=-1), axis=0) for s in lags])


def interval(samples):
    """Mean and 95% half-width (Student t) over independent chains (the last axis)."""
    n = samples.shape[-1]
    half = scipy.stats.t.ppf(0.975, n - 1) * samples.std(axis=-1, ddof=1) / np.sqrt(n)
    return samples.mean(axis=-1), half


def kunin(lr, data):
    """Kunin et al.'s continuous model with their noise assumption ``Sigma = sigma^2 H``."""
    return PhaseSpaceOU(lr, BETA, WD, data.hessian, sigma2=SIGMA ** 2, batch=BATCH)


def speed_panel(ax, data, edge, sweep, speed):
    """Speed against ``lr * k_max``, relative to Kunin's eq. 16."""
    grid = np.linspace(0.05, 0.97, 60) * edge
    reference = np.array([kunin(lr, data).speed() for lr in grid / data.k_max])
    exact = np.array([data.exact(lr).speed() for lr in grid / data.k_max])
    assumed = np.array([DiscretePhaseSpace(lr, BETA, WD, data.hessian, sigma2=SIGMA ** 2,
                                           batch=BATCH).speed()
                        for lr in grid / data.k_max])
    at_sweep = np.array([kunin(lr, data).speed() for lr in sweep / data.k_max])
    mean, half = interval(speed / at_sweep[:, None])
    ax.plot(grid, exact / reference, label="exact discrete, minibatch noise")
    ax.plot(grid, assumed / reference, ":", label=r"exact discrete, $\Sigma = \sigma^2 H$")
    ax.axhline(1.0, ls="--", color="C1", label="Kunin et al. eq. 16 (continuous)")
    ax.errorbar(sweep, mean, yerr=half, fmt="o", ms=4, color="C2", label="simulation (95% CI)")
    ax.axvline(edge, color="grey", lw=0.8)
    ax.text(edge, 1.0, "second-moment\nedge ", color="grey", fontsize=8, ha="right", va="bottom")
    ax.set_yscale("log")
    ax.set_xlabel(r"lr $\cdot$ k_max")
    ax.set_ylabel("speed / eq. 16")
    ax.set_title(r"instantaneous speed $E\|\theta_{k+1} - \theta_k\|^2$")
    ax.legend(fontsize=8)


def displacement_panels(axes, data, sweep, path):
    """Displacement and its local exponent against the lag, at the smallest and largest lr."""
    lags = np.unique(np.geomspace(1, len(path) // 3, 30).astype(int))
    for i, color in ((0, "C3"), (len(sweep) - 1, "C4")):
        lr = sweep[i] / data.k_max
        mean, half = interval(displacement(path[:, i], lags))
        cont = kunin(lr, data).global_displacement(lags)
        disc = data.exact(lr).global_displacement(lags)
        label = rf"lr $\cdot$ k_max = {sweep[i]:.2f}"
        axes[0].plot(lags, disc, color=color, label=f"exact discrete, {label}")
        axes[0].plot(lags, cont, "--", color=color, label=f"Kunin et al. (continuous), {label}")
        axes[0].errorbar(lags, mean, yerr=half, fmt="o", ms=3, color=color, alpha=0.7)
        axes[1].plot(lags, diffusion_exponent(lags, disc), color=color)
        axes[1].plot(lags, diffusion_exponent(lags, cont), "--", color=color)
        axes[1].plot(lags, diffusion_exponent(lags, mean), "o", ms=3, color=color, alpha=0.7,
                     label=f"simulation, {label}")
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("lag s (steps)")
    axes[0].set_ylabel(r"$E\|\theta_{t+s} - \theta_t\|^2$")
    axes[0].set_title("global displacement (points: simulation, 95% CI)")
    axes[0].legend(fontsize=7)
    axes[1].axhline(1.0, color="grey", lw=0.8)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("lag s (steps)")
    axes[1].set_ylabel("local exponent c")
    axes[1].set_title(r"diffusion exponent $d \log E\|\Delta\|^2 / d \log s$")
    axes[1].legend(fontsize=8)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", nargs="?", default="out")
    parser.add_argument("--quick", action="store_true", help="fewer chains and steps")
    args = parser.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    start = time.perf_counter()
    rng = np.random.default_rng(2021)
    data = Regression(rng)
    edge = data.second_moment_edge()
    sweep = np.linspace(0.1, 0.7, 4 if args.quick else 7) * edge    # lr * k_max simulated
    chains, steps = (12, 600) if args.quick else (48, 2400)
    lrs = sweep / data.k_max
    burn = max(data.burn_in(lr) for lr in lrs)
    speed, path = simulate(data, lrs, chains, burn=burn, steps=steps, rng=rng)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    speed_panel(axes[0], data, edge, sweep, speed)
    displacement_panels(axes[1:], data, sweep, path)
    fig.suptitle(f"heavy ball (beta = {BETA}, wd = {WD}), batch {BATCH} of {N_DATA} "
                 f"regression points, {chains} chains x {steps} steps")
    fig.tight_layout()
    picture = os.path.join(args.outdir, "kunin_dynamics.png")
    fig.savefig(picture, dpi=120)
    print(picture, f"({time.perf_counter() - start:.1f} s)")
    return picture


if __name__ == "__main__":
    main()
