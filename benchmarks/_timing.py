"""Timing helper shared by the benchmark scripts."""

import time

import numpy as np


def timed(f, *, repeat):
    """Best wall time of ``repeat`` calls of ``f`` and its last result."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - start)
    return best, out
