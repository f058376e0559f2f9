"""Timings of the Lyapunov solvers (a script; prints the numbers).

Usage: ``python benchmarks/bench_lyapunov.py``
"""

import time

import numpy as np
import scipy.linalg

from symsgd.lyapunov import (discrete_lyapunov, lyapunov_residual, stationary_covariance,
                             stationary_covariance_torch)
from symsgd.optim import HeavyBall, Nesterov


def timed(f, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    rng = np.random.default_rng(0)
    n = 500
    m = rng.normal(size=(n, n))
    K = m @ m.T / n
    m = rng.normal(size=(n, n))
    C = m @ m.T / n
    kmax = np.linalg.eigvalsh(K).max()
    stationary_covariance(HeavyBall(0.1, 0.9), np.eye(2), np.eye(2))  # derive the kernel once
    for frac in (0.5, 0.99995):
        opt = HeavyBall(frac * 2 * 1.9 / kmax, 0.9)
        a, b = opt.state_space(K)
        q = b @ C @ b.T
        t, x = timed(lambda: stationary_covariance(opt, K, C, full_state=True))
        print(f"heavy ball, dense n={n} (state {2 * n}), lr*k_max/bound={frac}: "
              f"eigenbasis kernel {t:.3f} s, residual {lyapunov_residual(a, x, q):.1e}")
        t, y = timed(lambda: discrete_lyapunov(a, q), repeat=1)
        print(f"    Schur solver {t:.2f} s, residual {lyapunov_residual(a, y, q):.1e}")
        t, z = timed(lambda: scipy.linalg.solve_discrete_lyapunov(a, q), repeat=1)
        print(f"    scipy bilinear {t:.2f} s, residual {lyapunov_residual(a, z, q):.1e}")
    t, _ = timed(lambda: stationary_covariance_torch(HeavyBall(0.5 / kmax, 0.9), K, C,
                                                     device="cpu"))
    print(f"heavy ball, dense n={n}, torch (cpu): {t:.3f} s")
    eig = rng.uniform(1e-3, 1.0, size=1_000_000)
    noise = rng.uniform(0.0, 1.0, size=eig.size)
    for opt in (HeavyBall(1.5, 0.9), Nesterov(1.0, 0.9)):
        t, _ = timed(lambda: stationary_covariance(opt, eig, noise))
        print(f"{type(opt).__name__}, commuting fast path, 1e6 eigenvalues: {t:.3f} s")


if __name__ == "__main__":
    main()
