"""Test-session settings shared by the tests, the doctests and the README.

pytest runs one worker per core (``-n 2``); a multi-threaded BLAS in each
worker oversubscribes the cores and makes small eigenvalue problems orders of
magnitude slower.  One BLAS thread per worker, unless the caller chose.
"""

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

# torch is an optional extra: without it the symbolic core is tested alone.  The real-network
# package (and the README, whose doctest shows it) need torch, so they are not collected;
# tests/ that need it skip themselves (``pytest.importorskip``).
import importlib.util

HAS_TORCH = importlib.util.find_spec("torch") is not None
collect_ignore_glob = [] if HAS_TORCH else ["symsgd/nets/*", "README.md"]
