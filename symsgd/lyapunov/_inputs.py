"""Validation of the covariance solvers' inputs, and the choice of the symbolic or numeric route.

SymPy inputs are checked exactly (symmetry, positive semi-definiteness of the
noise, the stability bound decided in exact arithmetic); numeric inputs are
checked on their backend (:mod:`symsgd._backends`): shapes, NaN and infinity,
symmetry, noise that is not positive semi-definite.
"""

from __future__ import annotations

import numbers

import numpy as np
import sympy

from .._backends import get_backend
from .._sympify import no_text
from .._validate import _symmetric, _symmetric_sympy
from ..errors import InputTypeError, MatrixError, NonFiniteError, ShapeError, StabilityError
from ..optim import Optimizer

_NUMPY = get_backend("numpy")

#: Relative tolerance of the positive semi-definiteness check on a float noise
#: covariance: ``eigvalsh`` has absolute error about ``n eps ||C||``, so an
#: eigenvalue above ``-PSD_RTOL ||C||_max`` is rounding (``n`` up to ~10^5).
PSD_RTOL = 1e-10

def _user_inputs(optimizer, **values) -> None:
    """Refuse a non-optimizer and strings anywhere in the named inputs (:class:`InputTypeError`).

    Called first by each public solver, before any value reaches ``numpy.asarray``
    (which would parse ``'1.5'``) or SymPy (which would run the string).
    """
    if not isinstance(optimizer, Optimizer):
        raise InputTypeError(f"optimizer must be a symsgd.optim.Optimizer, got {optimizer!r}")
    for name, value in values.items():
        no_text(value, name)


def _is_sympy(x) -> bool:
    return isinstance(x, (sympy.Basic, sympy.MatrixBase))


def _route_symbolic(optimizer: Optimizer, *inputs) -> bool:
    """Whether ``inputs`` and ``optimizer`` call for the symbolic route.

    Symbolic when an input is a SymPy object or a hyperparameter has free
    symbols.  Symbolic values mixed with numeric arrays are refused with a
    :class:`TypeError` (their result would be neither exact nor fast).
    """
    params = [*optimizer.hyperparameters().values(), optimizer.weight_decay]
    if not (any(_is_sympy(x) for x in inputs) or any(
            _is_sympy(p) and p.free_symbols for p in params)):
        return False
    arrays = [x for x in (*inputs, *params) if not _is_sympy(x) and np.ndim(x) > 0]
    if arrays:
        raise InputTypeError(
            "symbolic inputs (SymPy objects or symbolic hyperparameters) cannot be mixed with "
            "numeric arrays: pass matrices as sympy.Matrix (exact Rationals) or give the "
            "optimizer numeric hyperparameters")
    return True


def _sympy_scalar(x, what: str):
    """A SymPy scalar from a SymPy expression or a real number (never a string)."""
    if isinstance(x, sympy.MatrixBase) or not isinstance(x, (sympy.Basic, numbers.Real)) or \
            isinstance(x, bool):
        raise InputTypeError(f"{what} must be a SymPy expression or a real number, got {x!r}")
    return sympy.sympify(x, strict=True)


def _sympy_hessian(k):
    """A validated SymPy Hessian: a symmetric matrix, or a scalar."""
    if isinstance(k, sympy.MatrixBase):
        return _symmetric_sympy(sympy.Matrix(k), "the Hessian")
    return _sympy_scalar(k, "the Hessian")


def _sympy_noise(c, n):
    """A validated SymPy noise covariance for a Hessian of size ``n`` (``None``: scalar).

    Rejects noise that is provably not positive semi-definite (exactly, when it
    has no free symbols; through its diagonal otherwise).
    """
    if n is None:
        if isinstance(c, sympy.MatrixBase):
            raise ShapeError("a scalar Hessian needs a scalar noise variance")
        c = _sympy_scalar(c, "the noise")
        if c.is_nonnegative is False:
            raise MatrixError(f"the noise variance must be >= 0, got {c}")
        return c
    c = sympy.Matrix(c) if isinstance(c, sympy.MatrixBase) else \
        _sympy_scalar(c, "the noise") * sympy.eye(n)
    if c.shape != (n, n):
        raise ShapeError(f"the noise covariance has shape {c.shape}, expected {(n, n)}")
    c = _symmetric_sympy(c, "the noise covariance")
    psd = c.is_positive_semidefinite if not c.free_symbols else \
        (False if any(c[i, i].is_nonnegative is False for i in range(n)) else None)
    if psd is False:
        raise MatrixError("the noise covariance must be positive semi-definite")
    return c


def _check_stable_sympy(opt: Optimizer, k) -> None:
    """:meth:`~symsgd.optim.Optimizer.check_stable`, decided exactly for numeric SymPy input.

    Stable iff ``K + wd`` is positive semi-definite and ``bound Lambda^{-1} - (K + wd)``
    is positive definite (``Lambda = lr`` for a scalar rate).  Does nothing when
    something has free symbols (the caller is deriving formulas).
    """
    values = [k, opt.weight_decay, *opt.hyperparameters().values()]
    if any(getattr(v, "free_symbols", None) for v in values):
        return
    km = k if isinstance(k, sympy.MatrixBase) else sympy.Matrix([[k]])
    k_eff = opt.effective_hessian(km)
    lam = opt.lr
    inv = lam.inv() if isinstance(lam, sympy.MatrixBase) else sympy.eye(km.rows) / lam
    psd = k_eff.is_positive_semidefinite
    below = (sympy.sympify(opt.lr_bound(), strict=True) * inv - k_eff).is_positive_definite
    if psd and below:
        return
    kf = np.array(km.evalf(30).tolist(), dtype=float)
    if opt.has_matrix_lr:
        lam_f = np.array(sympy.Matrix(lam).evalf(30).tolist(), dtype=float)
        opt.check_stable(np.linalg.eigvals(lam_f @ (kf + float(opt.weight_decay) *
                                                    np.eye(len(kf)))).real)
    else:
        opt.check_stable(np.linalg.eigvalsh(kf))
    if psd is False or below is False:  # exactly unstable, but rounding hid it from floats
        raise StabilityError(f"the learning rate is on or beyond the stability bound "
                             f"{opt._bound_text()} = {opt.lr_bound()} (decided exactly)")


def _full(x, shape, be):
    """``x`` (a number or an array) broadcast to ``shape`` on backend ``be``."""
    return be.xp.broadcast_to(be.asarray(x), tuple(shape))


def _noise_vector(noise, n, be=_NUMPY, what="per-eigenvalue noise variances"):
    """Validate per-eigenvalue noise variances (the commuting fast path): finite, ``>= 0``."""
    c = be.asarray(noise)
    c = _full(c, (n,), be) if c.ndim == 0 else c
    if tuple(c.shape) != (n,):
        raise ShapeError(f"per-eigenvalue noise has shape {tuple(c.shape)}, expected {(n,)}")
    if not be.isfinite_all(c):
        raise NonFiniteError("the noise contains NaN or infinity")
    if n and float(c.min()) < 0:
        raise MatrixError(f"{what} must be >= 0")
    return c


def _noise_matrix(noise, n, be=_NUMPY):
    """Validate a noise covariance for dimension ``n``: ``c >= 0`` (``c I``) or symmetric PSD."""
    c = be.asarray(noise)
    if c.ndim == 0:
        return _noise_vector(c, 1, be, "the noise variance")[0] * be.eye(n)
    if tuple(c.shape) != (n, n):
        raise ShapeError(f"the noise covariance has shape {tuple(c.shape)}, expected {(n, n)}")
    c = _symmetric(c, "the noise covariance", be.xp)
    if n and float(be.xp.linalg.eigvalsh(c).min()) < -PSD_RTOL * float(be.xp.abs(c).max()):
        raise MatrixError("the noise covariance must be positive semi-definite")
    return c


def _eigenvalues(k, be=_NUMPY):
    """Validate a 1-D array of Hessian eigenvalues (finite)."""
    if not be.isfinite_all(k):
        raise NonFiniteError("the Hessian eigenvalues contain NaN or infinity")
    return k
