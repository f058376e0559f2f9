"""The continuous-time (SDE) counterpart: stationary covariance of the Ornstein-Uhlenbeck limit.

The numeric route is a symmetric eigendecomposition and ``f`` applied entrywise to
the eigenvalue pairs, as in :mod:`symsgd.lyapunov._eigenbasis`.
"""

from __future__ import annotations

import numpy as np
import sympy

from ..errors import ShapeError, StabilityError
from ..optim import Optimizer
from ._eigenbasis import _combine, _eigen
from ._inputs import (_eigenvalues, _noise_matrix, _noise_vector, _route_symbolic, _sympy_hessian,
                      _sympy_noise, _user_inputs)

def _continuous_symbolic(m, rhs):
    """Solve ``M X + X M^T = R`` for a symmetric SymPy matrix ``X`` (a linear solve)."""
    n = m.rows
    x = sympy.Matrix(n, n, lambda i, j: sympy.Dummy(f"s{i}{j}") if i <= j else 0)
    x = sympy.Matrix(n, n, lambda i, j: x[min(i, j), max(i, j)])
    solution = sympy.solve(list(m * x + x * m.T - rhs), list(x.free_symbols), dict=True)
    if not solution:
        raise StabilityError("the continuous Lyapunov equation has no solution")
    return x.subs(solution[0]).applyfunc(sympy.factor)


def _continuous_modes(optimizer: Optimizer, hessian, noise):
    """The continuous-time process in whitened eigen-coordinates: ``(S, v, V, C_hat)``.

    The Ornstein-Uhlenbeck process ``dw = -L K w dt + L C^{1/2} dW`` (``L`` the
    effective learning rate, scalar or matrix; ``K`` with weight decay) becomes
    ``du = -S K S u dt + S C^{1/2} dW`` for ``u = S^{-1} w``, ``S = L^{1/2}``.
    With ``S K S = V diag(v) V^T`` and ``C_hat = V^T S C S V``, its covariance is
    ``S V (C_hat_ij f(v_i + v_j)) V^T S`` with ``f(x) = 1 / x`` at stationarity
    and ``f(x) = (1 - exp(-x t)) / x`` at time ``t`` from ``w = 0``.  For a 1-D
    ``hessian`` (eigenvalues), ``S`` is a number, ``V`` is ``None`` and ``v,
    C_hat`` are per eigenvalue.
    """
    lam = np.asarray(optimizer.effective_lr(), dtype=float)
    k = np.asarray(hessian, dtype=float)
    if k.ndim <= 1:
        if optimizer.has_matrix_lr:
            raise ShapeError("a matrix lr_matrix needs the full Hessian, not its eigenvalues")
        k = _eigenvalues(np.atleast_1d(k))
        lam = float(lam)
        return np.sqrt(lam), lam * (k + float(optimizer.weight_decay)), None, \
            lam * _noise_vector(noise, k.size)
    k_eff = optimizer.effective_hessian(k)
    c = _noise_matrix(noise, k.shape[0])
    lam = lam * np.eye(len(k)) if np.ndim(lam) == 0 else lam
    vals, vecs = np.linalg.eigh(lam)
    s = (vecs * np.sqrt(vals)) @ vecs.T
    m = s @ k_eff @ s
    v, vecs = _eigen((m + m.T) / 2)
    return s, v, vecs, vecs.T @ s @ c @ s @ vecs


def _from_modes(s, v, vecs, c_hat, f):
    """The covariance ``S V (C_hat_ij f(v_i + v_j)) V^T S`` (see :func:`_continuous_modes`)."""
    if vecs is None:
        return s * s * _combine(f(2 * v), c_hat)
    x = vecs @ _combine(f(v[:, None] + v[None, :]), c_hat) @ vecs.T
    out = s @ x @ s
    return (out + out.T) / 2


def continuous_covariance(optimizer: Optimizer, hessian, noise):
    """Stationary covariance of the continuous-time (SDE) limit of ``optimizer``.

    The Ornstein-Uhlenbeck process ``dw = -L K w dt + L C^{1/2} dW`` (time in
    steps, ``L`` = :meth:`~symsgd.optim.Optimizer.effective_lr`, ``K`` including
    weight decay) has ``L K S + S K L = L C L``; for heavy ball this is
    Mandt et al.'s ``S K + K S = lr C / (1 - mu)``.

    Accuracy (numeric): an eigendecomposition and ``1 / (v_i + v_j)`` entrywise: the
    forward error is ``n eps`` times the relative condition ``||K|| / (2 k_min)``.

    Args:
        optimizer, hessian, noise: as in :func:`~symsgd.lyapunov.stationary_covariance`.

    Raises:
        StabilityError: a negative eigenvalue, or noise along a flat direction.

    >>> import sympy
    >>> from symsgd.optim import HeavyBall
    >>> lr, mu, k, c = sympy.symbols('lr mu k c', positive=True)
    >>> continuous_covariance(HeavyBall(lr, mu), k, c)
    -c*lr/(2*k*(mu - 1))
    """
    _user_inputs(optimizer, hessian=hessian, noise=noise)
    if _route_symbolic(optimizer, hessian, noise):
        lam = optimizer.effective_lr()
        k = _sympy_hessian(hessian)
        k_eff = optimizer.effective_hessian(k)
        if not isinstance(k, sympy.MatrixBase):
            if optimizer.has_matrix_lr:
                raise ShapeError("a matrix lr_matrix needs a matrix Hessian")
            return sympy.factor(lam * _sympy_noise(noise, None) / (2 * k_eff))
        lam = sympy.Matrix(lam) if optimizer.has_matrix_lr else lam
        return _continuous_symbolic(lam * k_eff, lam * _sympy_noise(noise, k.rows) * lam)
    s, v, vecs, c_hat = _continuous_modes(optimizer, hessian, noise)
    if v.size and v.min() < 0:
        raise StabilityError("the Hessian has a negative eigenvalue: no stationary distribution "
                             "(the minimum is a saddle)")
    with np.errstate(divide="ignore"):
        out = _from_modes(s, v, vecs, c_hat, lambda pair: 1.0 / pair)
    return out[0] if np.ndim(hessian) == 0 else out

