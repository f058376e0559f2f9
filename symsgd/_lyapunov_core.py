"""Exact stationary and finite-time covariances of linear optimizers (discrete Lyapunov).

For an optimizer in state-space form ``z' = A z + B xi`` (:mod:`symsgd.optim`)
driven by gradient noise of covariance ``C``, the state covariance obeys

    Sigma_{t+1} = A Sigma_t A^T + B C B^T,

and the stationary covariance solves the discrete Lyapunov equation
``Sigma = A Sigma A^T + B C B^T`` exactly, at any learning rate inside the
stability region (Liu, Ziyin and Ueda; their Theorems 1-3 are special cases).

One machinery serves every optimizer.  Every ``A`` here is a polynomial in the
Hessian ``K`` (a matrix learning rate is first whitened away), so in the
eigenbasis ``K = V diag(k) V^T`` the equation decouples into one small
equation per *pair* of eigenvalues::

    Y = A(k_i) Y A(k_j)^T + B(k_i) B(k_j)^T,     Sigma_ij = (V^T C V)_ij Y(k_i, k_j).

The kernel ``Y(k1, k2)`` is derived once per optimizer class by SymPy from the
optimizer's own ``(A, B)`` and compiled for numpy and torch in a numerically
stable form (see :func:`_stable_form`: no cancellation as the momentum tends to
1, for nearly equal eigenvalues or for small ones).  This gives

* closed forms per eigenvalue for SymPy inputs (commuting ``K`` and ``C``),
* the exact answer for non-commuting ``K`` and ``C`` in ``O(n^3)`` with full
  precision at the stability edge (no bilinear transform, no Kronecker system),
* a vectorized fast path when only eigenvalues are given.

The numeric code runs on numpy or torch through a small backend table
(:class:`_Backend`), with one implementation of the validation, whitening and
eigenvalue handling.  :func:`discrete_lyapunov` is a general dense solver
(complex Schur form, blocked recursive Bartels-Stewart, one step of iterative
refinement) for any ``A``; :func:`lyapunov_residual` measures the relative
residual.

>>> import sympy
>>> from symsgd.optim import SGD
>>> lr, k, c = sympy.symbols('lr k c', positive=True)
>>> stationary_covariance(SGD(lr), k, c)
-c*lr/(k*(k*lr - 2))
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import scipy.linalg
import sympy

from .errors import MatrixError, NonFiniteError, RangeError, ShapeError, StabilityError
from .optim import (SGD, HeavyBall, Optimizer, Preconditioned, _as_hessian, _symmetric,
                    _symmetric_sympy)

__all__ = [
    "stationary_covariance",
    "continuous_covariance",
    "covariance_at",
    "self_consistent_covariance",
    "discrete_lyapunov",
    "lyapunov_residual",
    "kernel",
    "stationary_covariance_torch",
]

_K1, _K2 = sympy.symbols("k1 k2", real=True)
_MEAN, _HALF = sympy.symbols("kbar h", real=True)

#: Hyperparameters in ``[0, 1]`` that the compiled kernels take as ``1 - value``.
#: The kernels are singular as the momentum tends to 1; ``1 - value`` is exact
#: in floating point for ``value >= 1/2`` (Sterbenz), so passing it instead of
#: ``value`` keeps the small factors ``(1 - momentum)^2`` exact.
_COMPLEMENTED = ("momentum", "nu")


# ----------------------------------------------------------------------------
# the per-eigenvalue-pair kernel


def _canonical(opt: Optimizer):
    """An optimizer whose ``A`` is a polynomial in ``K`` and that behaves like ``opt``.

    A scalar :class:`Preconditioned` is :class:`SGD` or :class:`HeavyBall` with
    ``lr = lr_matrix``; a matrix one is handled by whitening (see
    :func:`_whiten`), which maps it to ``lr = 1``.
    """
    if isinstance(opt, Preconditioned):
        lr = 1 if opt.has_matrix_lr else opt.lr_matrix
        wd = 0 if opt.has_matrix_lr else opt.weight_decay
        if opt.order == 1:
            return SGD(lr, weight_decay=wd)
        return HeavyBall(lr, opt.momentum, weight_decay=wd)
    return opt


class _Kernel(NamedTuple):
    """The kernel of an optimizer class: symbolic entries and compiled stable forms."""

    names: tuple          # hyperparameter names (dataclass fields but weight_decay)
    syms: tuple           # their symbols in ``entries``
    entries: Any          # SymPy matrix Y(k1, k2), factored
    args: tuple           # (kbar, h, *hyperparameters or their complements) of ``stable``
    stable: list          # the entries in the stable form of :func:`_stable_form`
    compiled: dict        # backend kernel name -> f(*args) -> list of entries


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
    compiled = {
        "numpy": sympy.lambdify(args, forms, modules="numpy", cse=True),
        "torch": sympy.lambdify(args, forms, modules="math", cse=True),
    }
    return _Kernel(names, syms, entries, args, forms, compiled)


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
    canon = _canonical(optimizer)
    kern = _derive_kernel(type(canon))
    values = [getattr(canon, n) for n in kern.names]
    return kern.entries.subs(dict(zip(kern.syms, values)))


# ----------------------------------------------------------------------------
# numeric backends


@dataclass(frozen=True)
class _Backend:
    """The array operations that differ between numpy and torch (float64 throughout).

    Everything else is written once against ``xp`` (``numpy`` or ``torch``:
    ``isfinite``, ``abs``, ``where``, ``sqrt``, ``stack``, ``broadcast_to``,
    ``linalg.eigh``, ``linalg.eigvalsh``).
    """

    xp: Any
    asarray: Callable     # anything -> float64 array on the backend's device
    eye: Callable         # n -> identity
    block: Callable       # nested lists of matrices -> one matrix
    numpy: Callable       # array -> numpy array (for the stability check)
    kernel: str           # key of the compiled kernel in _Kernel.compiled


_NUMPY = _Backend(np, lambda x: np.asarray(x, dtype=float), np.eye, np.block, np.asarray,
                  "numpy")


@functools.cache
def _torch_backend(device) -> _Backend:
    """The torch backend on ``device`` (built once per device)."""
    import torch

    dev = torch.device(device)

    def asarray(x):
        if isinstance(x, np.ndarray):
            x = np.array(x)  # a writable copy: torch does not wrap read-only arrays
        return torch.as_tensor(x, dtype=torch.float64, device=dev)

    return _Backend(torch, asarray, lambda n: torch.eye(n, dtype=torch.float64, device=dev),
                    lambda rows: torch.cat([torch.cat(row, dim=1) for row in rows], dim=0),
                    lambda x: x.detach().cpu().numpy(), "torch")


def _full(x, shape, be):
    """``x`` (a number or an array) broadcast to ``shape`` on backend ``be``."""
    return be.xp.broadcast_to(be.asarray(x), tuple(shape))


def _kernel_grid(canon, k1, k2, be=_NUMPY):
    """Numeric kernel entries on broadcast arrays ``k1, k2``: a list of ``s*s`` arrays."""
    kern = _derive_kernel(type(canon))
    values = [1 - float(getattr(canon, n)) if n in _COMPLEMENTED else float(getattr(canon, n))
              for n in kern.names]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return kern.compiled[be.kernel]((k1 + k2) / 2, (k1 - k2) / 2, *values)


# ----------------------------------------------------------------------------
# input validation


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
        raise TypeError(
            "symbolic inputs (SymPy objects or symbolic hyperparameters) cannot be mixed with "
            "numeric arrays: pass matrices as sympy.Matrix (exact Rationals) or give the "
            "optimizer numeric hyperparameters")
    return True


def _sympy_scalar(x, what: str):
    """A SymPy scalar from a SymPy expression or a real number (never a string)."""
    if isinstance(x, sympy.MatrixBase) or not isinstance(x, (sympy.Basic, numbers.Real)) or \
            isinstance(x, bool):
        raise TypeError(f"{what} must be a SymPy expression or a real number, got {x!r}")
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
    below = (sympy.sympify(opt.lr_bound()) * inv - k_eff).is_positive_definite
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


def _noise_vector(noise, n, be=_NUMPY, what="per-eigenvalue noise variances"):
    """Validate per-eigenvalue noise variances (the commuting fast path): finite, ``>= 0``."""
    c = be.asarray(noise)
    c = _full(c, (n,), be) if c.ndim == 0 else c
    if tuple(c.shape) != (n,):
        raise ShapeError(f"per-eigenvalue noise has shape {tuple(c.shape)}, expected {(n,)}")
    if not bool(be.xp.isfinite(c).all()):
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
    if n and float(be.xp.linalg.eigvalsh(c).min()) < -1e-10 * float(be.xp.abs(c).max()):
        raise MatrixError("the noise covariance must be positive semi-definite")
    return c


def _eigenvalues(k, be=_NUMPY):
    """Validate a 1-D array of Hessian eigenvalues (finite)."""
    if not bool(be.xp.isfinite(k).all()):
        raise NonFiniteError("the Hessian eigenvalues contain NaN or infinity")
    return k


def _eigen(k, be=_NUMPY):
    """Eigendecomposition of a symmetric matrix, with numerically-zero eigenvalues snapped to 0."""
    vals, vecs = be.xp.linalg.eigh(k)
    n = vals.shape[0]
    if n:
        top = max(1.0, float(be.xp.abs(vals).max()))
        vals = be.xp.where(be.xp.abs(vals) <= 64 * np.finfo(float).eps * top * n, 0.0, vals)
    return vals, vecs


def _combine(grid, c_hat, be=_NUMPY):
    """``c_hat * grid``, with ``0`` where the kernel is infinite but the noise vanishes."""
    xp = be.xp
    bad = ~xp.isfinite(grid)
    if not bool(bad.any()):
        return c_hat * grid
    tol = 1e-10 * max(float(xp.abs(c_hat).max()), np.finfo(float).tiny)
    if bool((xp.abs(c_hat[bad]) > tol).any()):
        raise StabilityError(
            "the Hessian has a zero eigenvalue along which the noise is nonzero: the weights "
            "diffuse without bound and there is no stationary covariance")
    return xp.where(bad, 0.0, c_hat * xp.where(bad, 0.0, grid))


# ----------------------------------------------------------------------------
# stationary covariance


def _whiten(opt: Preconditioned, k, c, be=_NUMPY):
    """Map a matrix-rate optimizer to ``lr = 1``: ``(S, S^{-1}, K~, C~)`` with ``S = Lambda^{1/2}``.

    With ``u = S^{-1} w`` and ``p = S m`` the update becomes heavy ball with
    ``lr = 1`` on ``K~ = S (K + wd) S`` and noise ``C~ = S C S``.
    """
    lam = be.asarray(opt.lr_matrix)
    n = k.shape[0]
    if tuple(lam.shape) != (n, n):
        raise ShapeError(f"lr_matrix has shape {tuple(lam.shape)} but the Hessian has shape "
                         f"{(n, n)}")
    vals, vecs = be.xp.linalg.eigh(lam)
    root = be.xp.sqrt(vals)
    s, s_inv = (vecs * root) @ vecs.T, (vecs / root) @ vecs.T
    k_eff = s @ (k + float(opt.weight_decay) * be.eye(n)) @ s
    return s, s_inv, (k_eff + k_eff.T) / 2, s @ c @ s


def _numeric_dense(opt, k, c, full_state, be=_NUMPY):
    """Stationary covariance for numeric matrices via the eigenbasis kernel."""
    n = k.shape[0]
    canon = _canonical(opt)
    s = canon.order
    if n == 0:
        return be.asarray(np.zeros((0, 0)))
    maps = None
    if opt.has_matrix_lr:
        scale, inv, k_eff, c = _whiten(opt, k, c, be)
        vals, vecs = _eigen(k_eff, be)
        opt.check_stable(be.numpy(vals))
        maps = [scale, inv]
    else:
        vals, vecs = _eigen(k, be)
        opt.check_stable(be.numpy(vals))
        vals = vals + float(opt.weight_decay)
    c_hat = vecs.T @ c @ vecs
    grids = _kernel_grid(canon, vals[:, None], vals[None, :], be)
    blocks = [[vecs @ _combine(_full(grids[i * s + j], (n, n), be), c_hat, be) @ vecs.T
               for j in range(s)] for i in range(s)]
    if maps is not None:
        blocks = [[maps[i] @ blocks[i][j] @ maps[j] for j in range(s)] for i in range(s)]
    out = be.block(blocks) if full_state else blocks[0][0]
    return (out + out.T) / 2


def _numeric_eigen(opt, k, c, full_state, be=_NUMPY):
    """Per-eigenvalue fast path: ``k`` and ``c`` are 1-D arrays of eigenvalues."""
    if opt.has_matrix_lr:
        raise ShapeError("a matrix lr_matrix needs the full Hessian, not its eigenvalues")
    opt.check_stable(be.numpy(k))
    canon = _canonical(opt)
    k_eff = k + float(opt.weight_decay)
    grids = _kernel_grid(canon, k_eff, k_eff, be)
    s = canon.order
    out = be.xp.stack([_combine(_full(g, k.shape, be), c, be) for g in grids], -1)
    out = out.reshape(tuple(k.shape) + (s, s))
    return out if full_state else out[:, 0, 0]


def _numeric(opt, hessian, noise, full_state, be=_NUMPY):
    """The numeric route of :func:`stationary_covariance` on backend ``be``."""
    k = be.asarray(hessian)
    if k.ndim <= 1:
        flat = _eigenvalues(k.reshape(-1), be)
        c = be.asarray(noise)
        if k.ndim == 0 and c.reshape(-1).shape[0] == 1:  # scalar K: c, [c] or [[c]]
            c = c.reshape(-1)
        out = _numeric_eigen(opt, flat, _noise_vector(c, flat.shape[0], be), full_state, be)
        return out[0] if k.ndim == 0 else out
    k = _symmetric(k, "the Hessian", be.xp)
    return _numeric_dense(opt, k, _noise_matrix(noise, k.shape[0], be), full_state, be)


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


def stationary_covariance(optimizer: Optimizer, hessian, noise, *, full_state: bool = False):
    """The exact stationary covariance of ``optimizer`` on the quadratic basin ``hessian``.

    Args:
        optimizer: an optimizer from :mod:`symsgd.optim`.
        hessian: ``K``: a number or SymPy scalar (one eigen-direction), a 1-D
            array of eigenvalues (commuting fast path), a symmetric numpy array,
            or a SymPy matrix.
        noise: ``C``: the gradient-noise covariance, of the same kind (a scalar
            is ``c I``; with a 1-D ``hessian``, the noise eigenvalues in the same
            eigenbasis).
        full_state: return the covariance of the whole state ``(w, m)`` instead
            of the weights alone (for a 1-D ``hessian``: an array ``(n, s, s)``).

    Returns:
        numpy results for numeric inputs, SymPy (factored closed forms per
        eigenvalue when ``K`` and ``C`` are scalars or diagonal) otherwise.

    Raises:
        StabilityError: a learning rate outside the stability region (the
            message names the bound; decided exactly for numeric SymPy input),
            or noise along a flat direction.
        ShapeError, NonFiniteError, MatrixError: bad shapes, NaNs, non-symmetric
            Hessian or noise, noise that is not positive semi-definite.
        TypeError: symbolic hyperparameters with numeric arrays.

    >>> import numpy as np
    >>> from symsgd.optim import HeavyBall, SGD
    >>> float(stationary_covariance(HeavyBall(1.0, 0.5), 1.0, 1.0))
    1.5
    >>> stationary_covariance(HeavyBall(1.0, 0.5), np.array([1.0, 2.0]), 1.0)
    array([1.5, 1.5])
    >>> import sympy
    >>> stationary_covariance(SGD(sympy.Rational(1, 2)), sympy.Integer(1), 1)
    1/3
    >>> stationary_covariance(SGD(sympy.Integer(3)), sympy.Integer(1), 1)
    Traceback (most recent call last):
    ...
    symsgd.errors.StabilityError: lr * k_max = 3 must be < 2 = 2
    """
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a symsgd.optim.Optimizer, got {optimizer!r}")
    if _route_symbolic(optimizer, hessian, noise):
        return _symbolic(optimizer, hessian, noise, full_state)
    return _numeric(optimizer, hessian, noise, full_state)


# ----------------------------------------------------------------------------
# continuous-time (Mandt et al.) counterpart


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

    Args:
        optimizer, hessian, noise: as in :func:`stationary_covariance`.

    Raises:
        StabilityError: a negative eigenvalue, or noise along a flat direction.

    >>> import sympy
    >>> from symsgd.optim import HeavyBall
    >>> lr, mu, k, c = sympy.symbols('lr mu k c', positive=True)
    >>> continuous_covariance(HeavyBall(lr, mu), k, c)
    -c*lr/(2*k*(mu - 1))
    """
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


# ----------------------------------------------------------------------------
# finite time


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
    d = optimizer.order
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

    Args:
        optimizer, hessian, noise: as in :func:`stationary_covariance` (a 1-D
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


# ----------------------------------------------------------------------------
# self-consistent (state-dependent) noise


def self_consistent_covariance(build, hessian, initial=None, *, tol: float = 1e-13,
                               max_iter: int = 500):
    """Stationary covariance when the noise or the preconditioner depends on it.

    Solves ``Sigma = stationary_covariance(*build(Sigma), ...)`` where ``build``
    maps a weight covariance to ``(optimizer, noise)``: state-dependent noise
    such as ``C = c K Sigma K`` (Liu et al., section 4.7), or the natural
    gradient / Adam preconditioners built from ``Sigma``.

    Symbolic (a SymPy scalar ``hessian``): ``build`` receives a positive symbol
    and the positive roots of the resulting equation are returned as a list.
    Numeric: damped fixed-point iteration whose step is halved whenever the
    residual grows or the iterate leaves the stability region.

    Args:
        build: ``Sigma -> (optimizer, noise)``.
        hessian: ``K``: a SymPy scalar for the symbolic route, else a number,
            or numpy matrix (a SymPy matrix is refused
            with a :class:`TypeError`: apply the symbolic route per eigenvalue).
        initial: the starting covariance for the numeric route (default: ``I``
            scaled like the noise of ``build(I)``'s solution).
        tol: relative tolerance on ``||Sigma - F(Sigma)||``.
        max_iter: iteration limit.

    Raises:
        StabilityError: no convergence (e.g. the noise feedback is unstable).

    >>> import sympy
    >>> from symsgd.optim import SGD
    >>> lr, k, c, s = sympy.symbols('lr k c s', positive=True)
    >>> self_consistent_covariance(lambda S: (SGD(lr), 1 + c * k * S * k), k)
    [-lr/(k*(c*k*lr + k*lr - 2))]
    >>> import numpy as np
    >>> K = np.diag([1.0, 2.0])
    >>> S = self_consistent_covariance(lambda S: (SGD(0.1), 0.1 * K @ S @ K + np.eye(2)), K)
    >>> bool(np.allclose(S, stationary_covariance(SGD(0.1), K, 0.1 * K @ S @ K + np.eye(2))))
    True
    """
    if isinstance(hessian, sympy.MatrixBase):
        raise TypeError(
            "self_consistent_covariance takes a SymPy scalar (one eigen-direction, solved in "
            "closed form) or a numeric Hessian, not a SymPy matrix: apply it per eigenvalue, "
            "or pass a numpy array")
    if isinstance(hessian, sympy.Basic):
        s = sympy.Dummy("Sigma", positive=True)
        opt, noise = build(s)
        value = stationary_covariance(opt, hessian, noise)
        roots = sympy.solve(sympy.together(value - s).as_numer_denom()[0], s)
        return [sympy.factor(r) for r in roots
                if r != 0 and sympy.ask(sympy.Q.positive(r)) is not False]
    k = _as_hessian(hessian)
    n = 1 if np.ndim(k) == 0 else k.shape[0]

    def f(sigma):
        opt, noise = build(sigma if np.ndim(k) else float(sigma[0, 0]))
        return np.atleast_2d(stationary_covariance(opt, k, noise))

    sigma = np.eye(n) if initial is None else np.atleast_2d(np.asarray(initial, dtype=float))
    if initial is None:
        try:
            sigma = f(sigma)
        except StabilityError:
            pass
    step, best = 1.0, None
    for _ in range(max_iter):
        try:
            image = f(sigma)
            err = np.linalg.norm(image - sigma) / max(np.linalg.norm(image), 1e-300)
        except StabilityError:
            image, err = None, np.inf
        if best is not None and not err < best[1]:
            step /= 2
            if step < 1e-6:
                break
            sigma = best[0] + step * (best[2] - best[0])
            continue
        if err <= tol:
            return image if np.ndim(k) else float(image[0, 0])
        best = (sigma, err, image)
        sigma = sigma + step * (image - sigma)
        step = min(1.0, step * 1.5)
    raise StabilityError(
        "self-consistent covariance did not converge (the state-dependent noise or "
        "preconditioner may make the dynamics unstable)")


# ----------------------------------------------------------------------------
# general dense solver


def lyapunov_residual(a, x, q) -> float:
    """Relative residual ``||X - A X A^T - Q||_F / ||X||_F`` of a discrete Lyapunov solution.

    >>> import numpy as np
    >>> lyapunov_residual(np.array([[0.5]]), np.array([[4 / 3]]), np.array([[1.0]]))
    0.0
    """
    a, x, q = (np.atleast_2d(np.asarray(m, dtype=float)) for m in (a, x, q))
    r = x - a @ x @ a.T - q
    return float(np.linalg.norm(r) / max(np.linalg.norm(x), np.finfo(float).tiny))


#: Blocks of at most this size are solved column by column in :func:`_stein`.
_LEAF = 64


def _stein(t1, t2, r, hermitian=False):
    """Solve ``Y = T1 Y T2^H + R`` for upper-triangular ``T1`` (m x m) and ``T2`` (n x n).

    Recursive Bartels-Stewart: split the larger triangular factor in halves, solve
    the trailing block first and fold it into the leading block's right-hand
    side with matrix products; blocks of size at most :data:`_LEAF` are solved
    column by column (one triangular solve each).  ``hermitian`` (``T1 is T2``
    and ``R`` Hermitian) splits both sides at once and gets the lower-left block
    as the conjugate transpose of the upper-right one.
    """
    m, n = r.shape
    if hermitian and n > _LEAF:
        h = n // 2
        a11, a12, a22 = t1[:h, :h], t1[:h, h:], t1[h:, h:]
        y22 = _stein(a22, a22, r[h:, h:], True)
        y12 = _stein(a11, a22, r[:h, h:] + a12 @ y22 @ a22.conj().T)
        w = a11 @ y12 @ a12.conj().T
        y11 = _stein(a11, a11, r[:h, :h] + w + w.conj().T + a12 @ y22 @ a12.conj().T, True)
        return np.block([[y11, y12], [y12.conj().T, y22]])
    if n > _LEAF and n >= m:
        h = n // 2
        b11, b12, b22 = t2[:h, :h], t2[:h, h:], t2[h:, h:]
        y2 = _stein(t1, b22, r[:, h:])
        y1 = _stein(t1, b11, r[:, :h] + t1 @ (y2 @ b12.conj().T))
        return np.hstack([y1, y2])
    if m > _LEAF:
        h = m // 2
        a11, a12, a22 = t1[:h, :h], t1[:h, h:], t1[h:, h:]
        y2 = _stein(a22, t2, r[h:])
        y1 = _stein(a11, t2, r[:h] + a12 @ (y2 @ t2.conj().T))
        return np.vstack([y1, y2])
    y = np.zeros((m, n), dtype=complex)
    eye = np.eye(m)
    for j in range(n - 1, -1, -1):
        rhs = r[:, j] + t1 @ (y[:, j + 1:] @ t2[j, j + 1:].conj())
        y[:, j] = scipy.linalg.solve_triangular(eye - t2[j, j].conj() * t1, rhs,
                                                check_finite=False)
    return y


def _schur_solve(t, u, q):
    """Solve ``X = A X A^H + Q`` with ``A = U T U^H`` (complex Schur form)."""
    return u @ _stein(t, t, u.conj().T @ q @ u, hermitian=True) @ u.conj().T


def discrete_lyapunov(a, q, *, refine: int = 1):
    """Solve ``X = A X A^T + Q`` for dense numeric ``A`` (any, stable) and symmetric ``Q``.

    Uses the complex Schur form of ``A`` and a blocked, recursive Bartels-Stewart
    solve of the discrete equation itself (no bilinear transform, which is what
    costs scipy's solver its accuracy near the stability edge), followed by
    ``refine`` steps of iterative refinement.  ``O(n^3)``, mostly in matrix
    products.

    Args:
        a: square matrix with spectral radius < 1.
        q: symmetric matrix of the same shape.
        refine: number of refinement steps.

    Raises:
        StabilityError: spectral radius of ``A`` >= 1.

    >>> import numpy as np
    >>> x = discrete_lyapunov(np.array([[0.5, 1.0], [0.0, -0.9]]), np.eye(2))
    >>> lyapunov_residual(np.array([[0.5, 1.0], [0.0, -0.9]]), x, np.eye(2)) < 1e-14
    True
    """
    a = np.asarray(a, dtype=float)
    q = np.asarray(q, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or q.shape != a.shape:
        raise ShapeError(f"A and Q must be square of the same shape, got {a.shape}, {q.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(q))):
        raise NonFiniteError("A or Q contains NaN or infinity")
    t, u = scipy.linalg.rsf2csf(*scipy.linalg.schur(a, output="real"))
    radius = np.abs(np.diag(t)).max(initial=0.0)
    if not radius < 1:
        raise StabilityError(f"spectral radius of A = {radius:.6g} must be < 1")
    x = _schur_solve(t, u, q).real
    x = (x + x.T) / 2
    for _ in range(refine):
        r = q - x + a @ x @ a.T
        x = x + _schur_solve(t, u, (r + r.T) / 2).real
        x = (x + x.T) / 2
    return x


# ----------------------------------------------------------------------------
# torch backend


def stationary_covariance_torch(optimizer: Optimizer, hessian, noise, *, device="cpu",
                                full_state: bool = False):
    """Torch version of :func:`stationary_covariance` for numeric inputs (float64).

    The same code as the numeric route of :func:`stationary_covariance` (same
    validation, errors and eigenbasis kernel), run with torch on ``device``
    (e.g. ``"cuda"``), so large Hessians can be handled on a GPU.

    Args:
        optimizer: an optimizer from :mod:`symsgd.optim` with numeric hyperparameters.
        hessian: ``K``: a 2-D tensor/array, or a 1-D one of eigenvalues.
        noise: ``C``: same kind as ``hessian`` (a 1-D tensor of noise
            eigenvalues for a 1-D ``hessian``), or a number.
        device: torch device.
        full_state: return the whole state's covariance.

    >>> import torch
    >>> from symsgd.optim import SGD
    >>> out = stationary_covariance_torch(SGD(1.0), torch.eye(2), torch.eye(2))
    >>> out.dtype, out.device.type, float(out[0, 0])
    (torch.float64, 'cpu', 1.0)
    """
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a symsgd.optim.Optimizer, got {optimizer!r}")
    if _route_symbolic(optimizer):
        raise TypeError("stationary_covariance_torch needs numeric hyperparameters")
    return _numeric(optimizer, hessian, noise, full_state, _torch_backend(device))
