"""Tutorial: derive a corollary in a SymPy session.

We ask how SGD's expected test loss depends on the batch size, the number of
epochs and the training-set size, to second order in the learning rate, and
how full-batch GD compares.  The direct route of symsgd derives the general
formulas with symbolic sizes; we print them (text and LaTeX), subtract two of
them to see a corollary appear, check the result on a concrete landscape
against the brute-force exact engine, and compile a numeric kernel.

Run top to bottom: ``python tutorials/derive_a_corollary.py``.
"""

# %% Symbolic sizes and the general second-order series
import numpy as np
import sympy

from symsgd import Landscape, expected_displacement, expected_loss, gd, sgd
from symsgd.tensors import Contraction

N, B, E = sympy.symbols("N B E", integer=True, positive=True)
series = expected_loss(sgd(N, batch=B, epochs=E), 2, method="direct")
print("E l(theta_T) for SGD with N points, batch B, E epochs:")
print(series.simplify())
# Contractions print as named statistics: [G G] = G_a G_a, [G H G], C:H = C_ab H_ab,
# [G (grad tr C)/2] = G_b kappa(grad_a l, grad_a grad_b l).  Every edge carries one eta.

# %% LaTeX of each coefficient
for k in range(3):
    print(f"eta^{k}:", sympy.latex(sympy.factor_terms(series.coeff(k))))

# %% Proposition 3 for every batch size
# With T = E N / B steps, the eta^2 coefficient is
#   T (T - 1/2) G H G + T E / (2B) C:H + T (E - 1) / (2B) G.grad(tr C)/2 .
T = E * N / B
atoms = {str(c): c for c in series.contractions(2)}
claim = (T * (T - sympy.Rational(1, 2)) * atoms["[G H G]"] + T * E / (2 * B) * atoms["C:H"]
         + T * (E - 1) / (2 * B) * atoms["[G (grad tr C)/2]"])
assert sympy.expand(series.coeff(2) - claim) == 0
print("general-batch Proposition 3 holds")

# %% A corollary: GD versus SGD (batch 1, m epochs, the same T = m N steps)
for m in (1, 2, 3):
    diff = (expected_loss(gd(N, steps=m * N), 2, method="direct")
            - expected_loss(sgd(N, epochs=m), 2, method="direct"))
    print(f"m = {m}: E l_GD - E l_SGD =", diff.simplify())
    # GD's loss exceeds SGD's by m (N - 1)/2 * eta^2 * G.grad(tr C)/2, nothing at lower order
    assert diff.coeff(0) == 0 and diff.coeff(1) == 0
    assert sympy.expand(diff.coeff(2) - m * (N - 1) / 2 * atoms["[G (grad tr C)/2]"]) == 0
# GD's loss exceeds SGD's where the gradient noise grows along G.

# %% The same corollary for the weights: SGD drifts away from high-noise regions
drift = (expected_displacement(gd(N, steps=N), 2, method="direct")
         - expected_displacement(sgd(N), 2, method="direct"))
print("E theta_GD - E theta_SGD =", drift.simplify())
# The vector grad(tr C)/2 = kappa(grad_a l, grad_a grad_b l) with a free index b, built from
# its graph: nodes grad l and grad^2 l in one block (one joint cumulant), one edge, one free slot.
half_grad_tr_C = Contraction.from_graph([1, 2], [[0, 1]], [(0, 1)], free=[1])
assert sympy.expand(drift.coeff(1)) == 0
assert sympy.expand(drift.coeff(2) - (N - 1) / 2 * half_grad_tr_C) == 0
print("E theta_GD - E theta_SGD = (N - 1)/4 grad(tr C) eta^2 + O(eta^3)")

# %% Check on a concrete landscape against the brute-force exact engine
a, b, x = sympy.symbols("a b x")
L = Landscape(a**2 * b / 2 + (a - x)**2 / 2 + b**2 * x**2 / 4 + a * b * x, (a, b), x, init=[1, 1])
for n, bs, ep in [(4, 2, 1), (2, 1, 2)]:
    derived = series.evaluate(L, N=n, B=bs, E=ep)
    exact = expected_loss(sgd(n, batch=bs, epochs=ep), 2, landscape=L)
    assert derived.coefficients == exact.coefficients
    print(f"N={n}, B={bs}, E={ep}: direct {derived} equals exact {exact}")

# %% Compile a kernel and evaluate it on numeric statistics for many learning rates
kernel = series.lambdify(backend="numpy")
print("kernel needs statistics", kernel.statistics, "and sizes", kernel.symbols)
stats = L.statistics(kernel.statistics)
etas = np.linspace(0.0, 0.001, 6)
print("predicted test loss:", kernel(etas, stats, N=100, B=10, E=2))

# %% The torch kernel is differentiable (use a prediction as a regularizer)
try:
    import torch
except ImportError:
    torch = None
if torch is not None:
    tkernel = series.lambdify(backend="torch")
    eta = torch.tensor(0.01, dtype=torch.float64, requires_grad=True)
    tstats = {k: torch.tensor(v) for k, v in stats.items()}
    loss = tkernel(eta, tstats, N=100, B=10, E=2)
    loss.backward()
    print(f"torch: loss {loss.item():.6f}, d loss / d eta {eta.grad.item():.6f}")
