"""Validation of the numbers and matrices that optimizers and covariance solvers take.

One place for the checks that :mod:`symsgd.optim`, :mod:`symsgd.lyapunov` and
:mod:`symsgd.phase_space` share: hyperparameters in a range, square symmetric
finite matrices (numpy, torch or SymPy), Hessians.  Each raises a typed error
from :mod:`symsgd.errors` naming the argument.

>>> _scalar(0.5, "momentum", low=0, high=1)
0.5
>>> _scalar(1, "momentum", low=0, high=1)
Traceback (most recent call last):
...
symsgd.errors.RangeError: momentum must be < 1, got 1
"""

from __future__ import annotations

import numbers

import numpy as np
import sympy

from .errors import InputTypeError, MatrixError, NonFiniteError, RangeError, ShapeError

#: Relative asymmetry ``max |M - M^T| / max |M|`` accepted from a float matrix
#: (rounding in how a caller assembled it), removed by taking ``(M + M^T) / 2``.
SYMMETRY_RTOL = 1e-12


def _scalar(value, name: str, low=None, high=None, low_open=False, high_open=True):
    """Validate a hyperparameter: a real number in a range, or a SymPy expression.

    Numbers (including SymPy numbers, compared exactly) are range-checked and a
    value outside the range is a :class:`~symsgd.errors.RangeError`;
    expressions with free symbols are kept as they are (the caller is deriving
    formulas).

    Raises:
        TypeError: not a real number or SymPy expression (a string, a matrix, a bool).
        NonFiniteError: NaN or infinity.
        RangeError: outside ``[low, high)`` (ends open or closed as asked) or not real.
    """
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, sympy.Basic)) or \
            isinstance(value, sympy.MatrixBase):
        raise InputTypeError(f"{name} must be a real number or a SymPy expression, got {value!r}")
    if isinstance(value, sympy.Basic):
        if value.free_symbols:
            return value
        if value.is_finite is False or value is sympy.nan:
            raise NonFiniteError(f"{name} must be finite, got {value}")
        if not value.is_real:
            raise RangeError(f"{name} must be real, got {value}")
    elif not np.isfinite(float(value)):
        raise NonFiniteError(f"{name} must be finite, got {value!r}")
    if low is not None and bool(value < low if not low_open else value <= low):
        raise RangeError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and bool(value > high if not high_open else value >= high):
        raise RangeError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return value


def _symmetric(arr, what: str, xp=np):
    """Validate a square, finite, symmetric float array and return its symmetric part.

    Args:
        arr: a float64 array of the namespace ``xp`` (numpy or torch).
        what: its name in error messages.
        xp: ``numpy`` or ``torch`` (a :class:`~symsgd._backends.Backend`'s ``xp``).

    Raises:
        ShapeError, NonFiniteError, MatrixError: not square, NaN or infinity,
            not symmetric (to :data:`SYMMETRY_RTOL` relative).

    >>> _symmetric(np.array([[1.0, 2.0], [0.0, 1.0]]), "the Hessian")
    Traceback (most recent call last):
    ...
    symsgd.errors.MatrixError: the Hessian must be symmetric
    """
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ShapeError(f"{what} must be a square matrix, got shape {tuple(arr.shape)}")
    if not bool(xp.isfinite(arr).all()):
        raise NonFiniteError(f"{what} contains NaN or infinity")
    if arr.shape[0] and float(xp.abs(arr - arr.T).max()) > \
            SYMMETRY_RTOL * float(xp.abs(arr).max()):
        raise MatrixError(f"{what} must be symmetric")
    return (arr + arr.T) / 2


def _symmetric_sympy(m, what: str):
    """Validate a square symmetric SymPy matrix (exactly).

    Raises:
        ShapeError, MatrixError: not square, not symmetric.

    >>> _symmetric_sympy(sympy.Matrix([[1, 2], [3, 4]]), "the noise")
    Traceback (most recent call last):
    ...
    symsgd.errors.MatrixError: the noise must be symmetric
    """
    if m.rows != m.cols:
        raise ShapeError(f"{what} must be square, got shape {m.shape}")
    if m != m.T:
        raise MatrixError(f"{what} must be symmetric")
    return m


def _as_hessian(k):
    """Validate a Hessian: a number, a SymPy scalar, a square array or a square SymPy matrix.

    Returns a float, the SymPy object, or the symmetric part of a float64 numpy array.

    Raises:
        NonFiniteError, ShapeError, MatrixError: see :func:`_symmetric`.

    >>> _as_hessian([[2, 0], [0, 1]])
    array([[2., 0.],
           [0., 1.]])
    """
    if isinstance(k, sympy.MatrixBase):
        return _symmetric_sympy(k, "the Hessian")
    if isinstance(k, sympy.Basic):
        return k
    if isinstance(k, numbers.Real) and not isinstance(k, bool):
        if not np.isfinite(k):
            raise NonFiniteError(f"the Hessian must be finite, got {k!r}")
        return float(k)
    return _symmetric(np.asarray(k, dtype=float), "the Hessian")
