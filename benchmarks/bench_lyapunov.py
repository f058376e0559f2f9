"""Timings of the Lyapunov solvers against issue 5's speed targets (a script, not a test).

Targets: the heavy-ball stationary covariance for a dense 500-dimensional
``K, C`` "in seconds", and the commuting fast path for a million eigenvalues
"in seconds"; read here as at most :data:`TARGET_S` seconds each.  Prints each
timing (best of a few runs), the residuals, and PASS or FAIL per target; the
exit status is 1 if a target fails.  Finishes in well under a minute on a
2-core machine.

BLAS runs single-threaded unless ``OPENBLAS_NUM_THREADS`` (or ``OMP_NUM_THREADS``)
is set: on a shared, loaded machine OpenBLAS's spinning threads can make dense
calls 10-100 times slower and the timings meaningless.

Usage: ``python benchmarks/bench_lyapunov.py``
"""

import os
import sys

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import scipy.linalg

from symsgd.lyapunov import discrete_lyapunov, lyapunov_residual, stationary_covariance
from symsgd.optim import HeavyBall, Nesterov

from _timing import timed

TARGET_S = 10.0


def verdict(label, seconds):
    ok = seconds <= TARGET_S
    print(f"{'PASS' if ok else 'FAIL'}: {label}: {seconds:.2f} s (target <= {TARGET_S:g} s)")
    return ok


def random_psd(rng, n):
    m = rng.normal(size=(n, n))
    return m @ m.T / n


def main() -> int:
    print(f"BLAS threads: OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"cpus={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    rng = np.random.default_rng(0)
    n = 500
    K, C = random_psd(rng, n), random_psd(rng, n)
    kmax = np.linalg.eigvalsh(K).max()
    stationary_covariance(HeavyBall(0.1, 0.9), np.eye(2), np.eye(2))  # derive the kernel once
    worst_dense = 0.0
    for frac in (0.5, 0.99995):
        opt = HeavyBall(frac * 2 * 1.9 / kmax, 0.9)
        a, b = opt.state_space(K)
        q = b @ C @ b.T
        t, x = timed(lambda opt=opt: stationary_covariance(opt, K, C, full_state=True),
                         repeat=3)
        worst_dense = max(worst_dense, t)
        print(f"heavy ball (momentum 0.9), dense n={n} (state {2 * n}), lr*k_max at {frac} of "
              f"the bound: eigenbasis kernel {t:.3f} s, residual {lyapunov_residual(a, x, q):.1e}")
        if frac == 0.99995:
            t, y = timed(lambda a=a, q=q: discrete_lyapunov(a, q), repeat=1)
            print(f"    general Schur solver (discrete_lyapunov) {t:.2f} s, "
                  f"residual {lyapunov_residual(a, y, q):.1e}")
            t, z = timed(lambda a=a, q=q: scipy.linalg.solve_discrete_lyapunov(a, q),
                         repeat=1)
            print(f"    scipy bilinear {t:.2f} s, residual {lyapunov_residual(a, z, q):.1e}")
    t, _ = timed(lambda: stationary_covariance(HeavyBall(0.5 / kmax, 0.9), K, C,
                                               backend="torch", device="cpu"), repeat=3)
    print(f"heavy ball, dense n={n}, torch (cpu): {t:.3f} s")
    eig = rng.uniform(1e-3, 1.0, size=1_000_000)
    noise = rng.uniform(0.0, 1.0, size=eig.size)
    worst_fast = 0.0
    for opt in (HeavyBall(1.5, 0.9), Nesterov(1.0, 0.9)):
        t, _ = timed(lambda opt=opt: stationary_covariance(opt, eig, noise), repeat=3)
        worst_fast = max(worst_fast, t)
        print(f"{type(opt).__name__}, commuting fast path, 1e6 eigenvalues: {t:.3f} s")
    ok = verdict(f"heavy-ball stationary covariance, dense {n}-dimensional K, C", worst_dense)
    ok &= verdict("commuting fast path, a million eigenvalues", worst_fast)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
