"""The symbolic stationary covariance: closed forms per eigenvalue, or an exact linear solve.

For a scalar Hessian (one eigen-direction), or diagonal ``K`` and ``C``, the
covariance is the kernel of :mod:`._kernel` at ``k1 = k2 = k``, factored; for
general SymPy matrices the Lyapunov equation is solved as a linear system in
the entries of the symmetric unknown.  Results are exact.
"""

from __future__ import annotations

import sympy

from ..errors import ShapeError, StabilityError
from ._inputs import _check_stable_sympy, _sympy_hessian, _sympy_noise
from ._kernel import _K1, _K2, kernel

def _symbolic_general(a, b, c):
    """Solve ``X = A X A^T + B C B^T`` for symbolic matrices by a linear solve."""
    d = a.rows
    unknowns = {}
    x = sympy.zeros(d, d)
    for i in range(d):
        for j in range(i, d):
            unknowns[i, j] = sympy.Dummy(f"x{i}{j}")
            x[i, j] = x[j, i] = unknowns[i, j]
    eqs = x - a * x * a.T - b * c * b.T
    eq_list = [eqs[i, j] for i in range(d) for j in range(i, d)]
    solution = sympy.solve(eq_list, list(unknowns.values()), dict=True)
    if not solution:
        raise StabilityError("the Lyapunov equation has no solution (unstable optimizer)")
    return x.subs(solution[0]).applyfunc(sympy.factor)


def _symbolic(opt, hessian, noise, full_state):
    """Symbolic stationary covariance: per-eigenvalue closed forms or a general solve."""
    k = _sympy_hessian(hessian)
    if not isinstance(k, sympy.MatrixBase):
        if opt.has_matrix_lr:
            raise ShapeError("a matrix lr_matrix needs a matrix Hessian")
        c = _sympy_noise(noise, None)
        _check_stable_sympy(opt, k)
        k_eff = opt.effective_hessian(k)
        y = kernel(opt).subs({_K1: k_eff, _K2: k_eff})
        out = (c * y).applyfunc(sympy.factor)
        return out if full_state else out[0, 0]
    n = k.rows
    c = _sympy_noise(noise, n)
    _check_stable_sympy(opt, k)
    if k.is_diagonal() and c.is_diagonal() and not opt.has_matrix_lr:
        per = [_symbolic(opt, k[i, i], c[i, i], True) for i in range(n)]
        s = per[0].rows if isinstance(per[0], sympy.MatrixBase) else 1
        out = sympy.zeros(s * n, s * n)
        for i, block in enumerate(per):
            for a in range(s):
                for b in range(s):
                    out[a * n + i, b * n + i] = block[a, b]
        return out if full_state else out[:n, :n]
    a, b = opt.state_space(k)
    out = _symbolic_general(sympy.Matrix(a), sympy.Matrix(b), c)
    return out if full_state else out[:n, :n]

