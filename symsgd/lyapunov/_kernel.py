"""The per-eigenvalue-pair kernel ``Y(k1, k2)`` of an optimizer, derived by SymPy.

Every ``A`` here is a polynomial in the Hessian ``K`` (a matrix learning rate is
first whitened away, see :mod:`._eigenbasis`), so in the eigenbasis
``K = V diag(k) V^T`` the discrete Lyapunov equation decouples into one small
equation per *pair* of eigenvalues::

    Y = A(k_i) Y A(k_j)^T + B(k_i) B(k_j)^T,     Sigma_ij = (V^T C V)_ij Y(k_i, k_j).

The kernel is derived once per optimizer class from the optimizer's own
``(A, B)`` and compiled (for numpy and torch arrays alike) in a
numerically stable form (:func:`_stable_form`: no cancellation as the momentum
tends to 1, for nearly equal eigenvalues or for small ones).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np
import sympy

from ..errors import InputTypeError
from ..optim import SGD, HeavyBall, Optimizer, Preconditioned

_K1, _K2 = sympy.symbols("k1 k2", real=True)
_MEAN, _HALF = sympy.symbols("kbar h", real=True)

#: Hyperparameters in ``[0, 1]`` that the compiled kernels take as ``1 - value``.
#: The kernels are singular as the momentum tends to 1; ``1 - value`` is exact
#: in floating point for ``value >= 1/2`` (Sterbenz), so passing it instead of
#: ``value`` keeps the small factors ``(1 - momentum)^2`` exact.
_COMPLEMENTED = ("momentum", "nu")


def _canonical(opt: Optimizer):
    """An optimizer whose ``A`` is a polynomial in ``K`` and that behaves like ``opt``.

    A scalar :class:`Preconditioned` is :class:`SGD` or :class:`HeavyBall` with
    ``lr = lr_matrix``; a matrix one is handled by whitening (see
    :func:`_whiten`), which maps it to ``lr = 1``.
    """
    if isinstance(opt, Preconditioned):
        lr = 1 if opt.has_matrix_lr else opt.lr_matrix
        wd = 0 if opt.has_matrix_lr else opt.weight_decay
        if opt.state_blocks == 1:
            return SGD(lr, weight_decay=wd)
        return HeavyBall(lr, opt.momentum, weight_decay=wd)
    return opt


class _Kernel(NamedTuple):
    """The kernel of an optimizer class: symbolic entries and their stable forms."""

    names: tuple          # hyperparameter names (dataclass fields but weight_decay)
    syms: tuple           # their symbols in ``entries``
    entries: Any          # SymPy matrix Y(k1, k2), factored
    args: tuple           # (kbar, h, *hyperparameters or their complements) of ``stable``
    stable: list          # the entries in the stable form of :func:`_stable_form`


def _stable_form(expr, names, syms):
    """``expr(k1, k2, hyperparameters)`` rewritten for accurate floating-point evaluation.

    Substitutes ``k1 = kbar + h``, ``k2 = kbar - h`` and ``x = 1 - x'`` for the
    hyperparameters ``x`` in :data:`_COMPLEMENTED`, and writes numerator and
    denominator as polynomials in ``h`` whose coefficients are factored.  The
    ``h^0`` coefficient of the denominator is the kernel's denominator on the
    diagonal, a product of factors such as ``kbar``, ``1 - momentum`` and the
    distance to the stability edge ``2 (1 + momentum) - lr kbar``, each evaluated
    without cancellation; the remaining coefficients multiply powers of the
    exactly computed ``h = (k1 - k2) / 2``.  The expanded form that
    ``sympy.factor`` gives instead cancels like ``(1 - momentum)^2`` (heavy
    ball's denominator holds ``k1 (mu^3 - mu^2 - mu + 1)``).

    Returns the new expression and its hyperparameter arguments (in the order of
    ``names``).  Heavy ball's weight-weight entry, with ``s = 1 - momentum``,
    is ``lr s (2 - s) / (s^2 kbar (2 (2 - s) - lr kbar) + lr (2 - s)^2 h^2)``:

    >>> from symsgd.optim import HeavyBall
    >>> kern = _derive_kernel(HeavyBall)
    >>> kern.entries[0, 0]  # doctest: +ELLIPSIS
    -lr*(momentum - 1)*(momentum + 1)/(k1**2*lr*momentum - ... + k2*momentum**3 - ... + k2)
    >>> form, args = _stable_form(kern.entries[0, 0], kern.names, kern.syms)
    >>> form
    -lr*one_minus_momentum*(one_minus_momentum - 2)/(h**2*lr*(one_minus_momentum - 2)**2
    - kbar*one_minus_momentum**2*(kbar*lr + 2*one_minus_momentum - 4))
    """
    args = [sympy.Symbol(f"one_minus_{n}", real=True) if n in _COMPLEMENTED else x
            for n, x in zip(names, syms)]
    subs = {_K1: _MEAN + _HALF, _K2: _MEAN - _HALF}
    subs.update({x: 1 - a for n, x, a in zip(names, syms, args) if n in _COMPLEMENTED})
    num, den = sympy.fraction(sympy.cancel(sympy.together(expr.subs(subs))))

    def in_powers_of_h(poly):
        return sympy.Add(*[sympy.factor(coef) * _HALF ** power
                           for (power,), coef in sympy.Poly(poly, _HALF).terms()])

    return in_powers_of_h(num) / in_powers_of_h(den), args


@functools.cache
def _derive_kernel(cls) -> _Kernel:
    """Kernel ``Y(k1, k2)`` of an optimizer class, with symbolic hyperparameters."""
    names = tuple(n for n in cls.__dataclass_fields__ if n != "weight_decay")
    syms = tuple(sympy.symbols(" ".join(names), real=True, seq=True))
    opt = cls(**dict(zip(names, syms)))
    a1, b1 = opt.state_space(_K1)
    a2, b2 = opt.state_space(_K2)
    s = a1.rows
    y = sympy.Matrix(s, s, sympy.symbols(f"y0:{s * s}"))
    solution = sympy.solve(list(y - a1 * y * a2.T - b1 * b2.T), list(y), dict=True)[0]
    entries = sympy.Matrix(s, s, [sympy.factor(solution[v]) for v in y])
    stable = [_stable_form(solution[v], names, syms) for v in y]
    args = (_MEAN, _HALF) + tuple(stable[0][1])
    forms = [form for form, _ in stable]
    return _Kernel(names, syms, entries, args, forms)


@functools.cache
def _compiled(cls):
    """The stable forms of ``cls``'s kernel as one Python function of arrays.

    The forms are rational, so the generated code uses arithmetic operators only
    (``modules='math'`` emits no library call) and runs unchanged on every
    backend's arrays.
    """
    kern = _derive_kernel(cls)
    return sympy.lambdify(kern.args, kern.stable, modules="math", cse=True)


def kernel(optimizer: Optimizer):
    """The kernel ``Y(k1, k2)`` of ``optimizer``, a SymPy matrix in ``k1, k2``.

    ``Y`` solves ``Y = A(k1) Y A(k2)^T + B(k1) B(k2)^T`` (per unit noise), where
    ``A(k), B(k)`` is the optimizer's state space on a scalar Hessian ``k``
    (weight decay excluded: ``k`` is the effective curvature).  Entry ``[0, 0]``
    is the weight-weight part; the stationary weight covariance is
    ``V (C_hat * Y[0, 0](k_i, k_j)) V^T``.  (Numeric evaluation uses an
    equivalent, numerically stable form of the same rational functions.)

    Args:
        optimizer: any optimizer of :mod:`symsgd.optim` (a scalar-rate one for
            :class:`Preconditioned`).

    >>> from symsgd.optim import SGD
    >>> import sympy
    >>> kernel(SGD(sympy.Symbol('lr')))[0, 0]
    -lr/(k1*k2*lr - k1 - k2)
    """
    if not isinstance(optimizer, Optimizer):
        raise InputTypeError(f"optimizer must be a symsgd.optim.Optimizer, got {optimizer!r}")
    canon = _canonical(optimizer)
    kern = _derive_kernel(type(canon))
    values = [getattr(canon, n) for n in kern.names]
    return kern.entries.subs(dict(zip(kern.syms, values)))


def _kernel_grid(canon, k1, k2):
    """Numeric kernel entries on broadcast arrays ``k1, k2`` (numpy or torch): ``s*s`` arrays."""
    kern = _derive_kernel(type(canon))
    values = [1 - float(getattr(canon, n)) if n in _COMPLEMENTED else float(getattr(canon, n))
              for n in kern.names]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _compiled(type(canon))((k1 + k2) / 2, (k1 - k2) / 2, *values)

