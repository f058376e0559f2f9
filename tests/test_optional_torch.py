"""torch is an optional extra: the symbolic core and the numpy kernels work without it."""

import subprocess
import sys

WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None          # any 'import torch' now fails
import numpy as np, sympy, symsgd
from symsgd import lyapunov, optim, phase_space, diagrams
from symsgd.landscapes import shifting_valleys
N = sympy.Symbol("N", integer=True, positive=True)
series = symsgd.expected_loss(symsgd.sgd(N), 2, method="direct")
L = shifting_valleys()
assert series.evaluate(L, N=3) == symsgd.expected_loss(symsgd.sgd(3), 2, landscape=L)
kernel = series.lambdify(backend="numpy")
stats = L.statistics(kernel.statistics)
assert np.isfinite(kernel(0.01, stats, N=3))
sim = symsgd.simulate(symsgd.sgd(3), landscape=L, lr=0.01, trials=100, seed=0)
assert sim.test_loss.shape == (1, 4)
print("ok")
"""


def test_core_works_without_torch():
    done = subprocess.run([sys.executable, "-c", WITHOUT_TORCH], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"
