"""Test-session settings shared by the tests, the doctests and the README.

pytest runs one worker per core (``-n 2``); a multi-threaded BLAS in each
worker oversubscribes the cores and makes small eigenvalue problems orders of
magnitude slower.  One BLAS thread per worker, unless the caller chose.
"""

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
