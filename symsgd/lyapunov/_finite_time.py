"""The covariance after a finite number of steps (binary powering, or a symbolic step count).

Accuracy: ``Sigma_t = A^t Sigma_0 A^{tT} + sum_{s<t} A^s Q A^{sT}`` by
``O(log t)`` squarings; every term is a sum of positive semi-definite products,
so there is no cancellation and the error is ``O(log2(t) n eps ||Sigma_t||)``.
"""

from __future__ import annotations

import numbers

import numpy as np
import sympy

from .._validate import _as_hessian
from ..errors import RangeError, ShapeError
from ..optim import Optimizer
from ._inputs import (_eigenvalues, _noise_matrix, _noise_vector, _route_symbolic, _sympy_hessian,
                      _sympy_noise, _sympy_scalar, _user_inputs)
from ._stationary import stationary_covariance

def _sum_powers(a, q, steps):
    """``(A^t, sum_{s<t} A^s Q A^{sT})`` by binary powering (batched over leading axes)."""
    sym = isinstance(a, sympy.MatrixBase)
    tr = (lambda m: m.T) if sym else (lambda m: np.swapaxes(m, -1, -2))
    eye = sympy.eye(a.rows) if sym else np.broadcast_to(np.eye(a.shape[-1]), a.shape).copy()
    power, total = eye, q * 0
    for bit in bin(steps)[2:]:
        total = total + power @ total @ tr(power)
        power = power @ power
        if bit == "1":
            total = q + a @ total @ tr(a)
            power = a @ power
    return power, total


def _initial_state(initial, n, d, sym):
    """The initial second moment of the state ``(d x d``) from ``initial`` (weights or state)."""
    z0 = sympy.zeros(d, d) if sym else np.zeros((d, d))
    if initial is None:
        return z0
    if sym:
        init = sympy.Matrix(initial) if isinstance(initial, sympy.MatrixBase) else \
            _sympy_scalar(initial, "initial") * sympy.eye(n)
    else:
        init = np.asarray(initial, dtype=float)
        init = init * np.eye(n) if init.ndim == 0 else init
    if tuple(init.shape) == (n, n):
        z0[:n, :n] = init
        return z0
    if tuple(init.shape) == (d, d):
        return init
    raise ShapeError(f"initial has shape {tuple(init.shape)}, expected {(n, n)} or {(d, d)}")


def _covariance_at_eigen(optimizer, hessian, noise, steps, initial, full_state):
    """:func:`covariance_at` per eigenvalue (a number or a 1-D array of eigenvalues)."""
    if optimizer.has_matrix_lr:
        raise ShapeError("a matrix lr_matrix needs the full Hessian, not its eigenvalues")
    k = _eigenvalues(np.atleast_1d(np.asarray(hessian, dtype=float)))
    c = _noise_vector(noise, k.size)
    d = optimizer.state_blocks
    pairs = [optimizer.state_space(float(x)) for x in k]
    a = np.stack([p[0] for p in pairs]) if pairs else np.zeros((0, d, d))
    b = np.stack([p[1] for p in pairs]) if pairs else np.zeros((0, d, 1))
    q = b @ b.transpose(0, 2, 1) * c[:, None, None]
    z0 = np.zeros((k.size, d, d))
    if initial is not None:
        init = np.asarray(initial, dtype=float)
        if init.shape == (k.size,) or init.ndim == 0:
            z0[:, 0, 0] = init
        elif init.shape == (k.size, d, d):
            z0 = init.copy()
        else:
            raise ShapeError(f"initial has shape {init.shape}, expected {(k.size,)} "
                             f"or {(k.size, d, d)}")
    power, total = _sum_powers(a, q, steps)
    out = power @ z0 @ power.transpose(0, 2, 1) + total
    out = out if full_state else out[:, 0, 0]
    return out[0] if np.ndim(hessian) == 0 else out


def covariance_at(optimizer: Optimizer, hessian, noise, steps, *, initial=None,
                  full_state: bool = False):
    """The covariance (second moment about the minimum) after ``steps`` steps.

    Iterates ``Sigma_{t+1} = A Sigma_t A^T + B C B^T`` from ``Sigma_0`` exactly, by
    binary powering (``O(n^3 log t)``, no cancellation); a SymPy ``steps``
    symbol uses ``Sigma_t = Sigma_inf - A^t (Sigma_inf - Sigma_0) A^{tT}``.

    Accuracy: each of the ``O(log2 t)`` products rounds with relative error
    ``d eps (1 + ||A||_2^2)``, carried forward by at most ``max_s ||A^s||_2^2``; the
    sums are of positive semi-definite terms, so nothing cancels.

    Args:
        optimizer, hessian, noise: as in :func:`~symsgd.lyapunov.stationary_covariance` (a 1-D
            ``hessian`` is treated per eigenvalue; an empty one gives an empty result).
        steps: a non-negative integer or a SymPy symbol.
        initial: ``E[z_0 z_0^T]``: the weights' second moment (momentum buffer
            starting at 0) or the whole state's; default 0 (start at the minimum).
        full_state: return the whole state's covariance.

    >>> from symsgd.optim import SGD
    >>> float(covariance_at(SGD(0.5), 1.0, 1.0, 2))
    0.3125
    >>> covariance_at(SGD(0.5), [], [], 2)
    array([], dtype=float64)
    """
    _user_inputs(optimizer, hessian=hessian, noise=noise, steps=steps, initial=initial)
    symbolic_t = isinstance(steps, sympy.Basic) and not steps.is_Integer
    if not symbolic_t:
        if isinstance(steps, bool) or not isinstance(steps, numbers.Real) or \
                not np.isfinite(float(steps)) or steps != int(steps) or steps < 0:
            raise RangeError(f"steps must be a non-negative integer, got {steps!r}")
        steps = int(steps)
    sym = _route_symbolic(optimizer, hessian, noise, initial) or symbolic_t
    if not sym and np.ndim(hessian) <= 1:
        return _covariance_at_eigen(optimizer, hessian, noise, steps, initial, full_state)
    if sym:
        k = _sympy_hessian(hessian)
        n = k.rows if isinstance(k, sympy.MatrixBase) else 1
        c = _sympy_noise(noise, n if isinstance(k, sympy.MatrixBase) else None)
        c = c if isinstance(c, sympy.MatrixBase) else c * sympy.eye(1)
        a, b = (sympy.Matrix(m) for m in optimizer.state_space(k))
    else:
        k = _as_hessian(hessian)
        n = k.shape[0]
        c = _noise_matrix(noise, n)
        a, b = optimizer.state_space(k)
    d = a.shape[0]
    z0 = _initial_state(initial, n, d, sym)
    if symbolic_t:
        inf = stationary_covariance(optimizer, k, noise, full_state=True)
        inf = inf if isinstance(inf, sympy.MatrixBase) else sympy.Matrix([[inf]])
        power = a ** steps
        out = (inf - power * (inf - z0) * power.T).applyfunc(sympy.simplify)
    else:
        power, total = _sum_powers(a, b @ c @ b.T, steps)
        out = power @ z0 @ power.T + total
        if sym:
            out = out.applyfunc(sympy.factor)
    out = out if full_state else out[:n, :n]
    if sym and not isinstance(k, sympy.MatrixBase):
        return out[0, 0] if not full_state else out
    return out

