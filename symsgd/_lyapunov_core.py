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
optimizer's own ``(A, B)`` and compiled for numpy and torch.  This gives

* closed forms per eigenvalue for SymPy inputs (commuting ``K`` and ``C``),
* the exact answer for non-commuting ``K`` and ``C`` in ``O(n^3)`` with full
  precision at the stability edge (no bilinear transform, no Kronecker system),
* a vectorized fast path when only eigenvalues are given.

:func:`discrete_lyapunov` is a general dense solver (complex Schur form,
Bartels-Stewart column recursion, one step of iterative refinement) for any
``A``; :func:`lyapunov_residual` measures the relative residual.

>>> import sympy
>>> from symsgd.optim import SGD
>>> lr, k, c = sympy.symbols('lr k c', positive=True)
>>> stationary_covariance(SGD(lr), k, c)
-c*lr/(k*(k*lr - 2))
"""

from __future__ import annotations

import functools
import numbers

import numpy as np
import scipy.linalg
import sympy

from .errors import NonFiniteError, ShapeError, StabilityError
from .optim import SGD, HeavyBall, Optimizer, Preconditioned, _as_hessian

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


# ----------------------------------------------------------------------------
# the per-eigenvalue-pair kernel


def _canonical(opt: Optimizer):
    """An optimizer whose ``A`` is a polynomial in ``K`` and that behaves like ``opt``.

    A scalar :class:`Preconditioned` is :class:`SGD` or :class:`HeavyBall` with
    ``lr = lr_matrix``; a matrix one is handled by whitening (see
    :func:`_whiten`), which maps it to ``lr = 1``.
    """
    if isinstance(opt, Preconditioned):
        lr = opt.lr_matrix if opt.is_scalar else 1
        if opt.order == 1:
            return SGD(lr, weight_decay=opt.weight_decay if opt.is_scalar else 0)
        return HeavyBall(lr, opt.momentum, weight_decay=opt.weight_decay if opt.is_scalar else 0)
    return opt


@functools.lru_cache(maxsize=None)
def _derive_kernel(cls):
    """Symbolic kernel ``Y(k1, k2)`` of an optimizer class, with symbolic hyperparameters."""
    names = [n for n in cls.__dataclass_fields__ if n != "weight_decay"]
    syms = sympy.symbols(" ".join(names), real=True, seq=True)
    opt = cls(**dict(zip(names, syms)))
    a1, b1 = opt.state_space(_K1)
    a2, b2 = opt.state_space(_K2)
    s = a1.rows
    y = sympy.Matrix(s, s, sympy.symbols(f"y0:{s * s}"))
    solution = sympy.solve(list(y - a1 * y * a2.T - b1 * b2.T), list(y), dict=True)[0]
    entries = sympy.Matrix(s, s, [sympy.factor(solution[v]) for v in y])
    args = (_K1, _K2) + tuple(syms)
    compiled = {
        "numpy": sympy.lambdify(args, list(entries), modules="numpy", cse=True),
        "torch": sympy.lambdify(args, list(entries), modules="math", cse=True),
    }
    return names, syms, entries, compiled


def kernel(optimizer: Optimizer):
    """The kernel ``Y(k1, k2)`` of ``optimizer``, a SymPy matrix in ``k1, k2``.

    ``Y`` solves ``Y = A(k1) Y A(k2)^T + B(k1) B(k2)^T`` (per unit noise), where
    ``A(k), B(k)`` is the optimizer's state space on a scalar Hessian ``k``
    (weight decay excluded: ``k`` is the effective curvature).  Entry ``[0, 0]``
    is the weight-weight part; the stationary weight covariance is
    ``V (C_hat * Y[0, 0](k_i, k_j)) V^T``.

    Args:
        optimizer: any optimizer of :mod:`symsgd.optim` (a scalar-rate one for
            :class:`Preconditioned`).

    >>> from symsgd.optim import SGD
    >>> import sympy
    >>> kernel(SGD(sympy.Symbol('lr')))[0, 0]
    -lr/(k1*k2*lr - k1 - k2)
    """
    canon = _canonical(optimizer)
    names, syms, entries, _ = _derive_kernel(type(canon))
    values = [getattr(canon, n) for n in names]
    return entries.subs(dict(zip(syms, values)))


def _kernel_grid(canon, k1, k2, backend="numpy"):
    """Numeric kernel entries on broadcast arrays ``k1, k2``: a list of ``s*s`` arrays."""
    names, _, _, compiled = _derive_kernel(type(canon))
    values = [float(getattr(canon, n)) for n in names]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return compiled[backend](k1, k2, *values)


# ----------------------------------------------------------------------------
# input validation


def _is_sympy(x) -> bool:
    return isinstance(x, (sympy.Basic, sympy.MatrixBase))


def _noise_matrix(noise, n, what="noise"):
    """Validate a numeric noise covariance for dimension ``n``: symmetric PSD, finite."""
    if isinstance(noise, numbers.Real) and not isinstance(noise, bool):
        if not np.isfinite(noise):
            raise NonFiniteError(f"the {what} must be finite, got {noise!r}")
        if noise < 0:
            raise ValueError(f"the {what} variance must be >= 0, got {noise!r}")
        return float(noise) * np.eye(n)
    c = np.asarray(noise, dtype=float)
    if c.shape != (n, n):
        raise ShapeError(f"the {what} covariance has shape {c.shape}, expected {(n, n)}")
    if not np.all(np.isfinite(c)):
        raise NonFiniteError(f"the {what} covariance contains NaN or infinity")
    scale = max(np.abs(c).max(), np.finfo(float).tiny)
    if not np.allclose(c, c.T, rtol=0, atol=1e-12 * scale):
        raise ValueError(f"the {what} covariance must be symmetric")
    c = (c + c.T) / 2
    if n and np.linalg.eigvalsh(c).min() < -1e-10 * scale:
        raise ValueError(f"the {what} covariance must be positive semi-definite")
    return c


def _noise_vector(noise, n):
    """Validate per-eigenvalue noise variances (the commuting fast path)."""
    c = np.broadcast_to(np.asarray(noise, dtype=float), (n,)) if np.ndim(noise) == 0 \
        else np.asarray(noise, dtype=float)
    if c.shape != (n,):
        raise ShapeError(f"per-eigenvalue noise has shape {c.shape}, expected {(n,)}")
    if not np.all(np.isfinite(c)):
        raise NonFiniteError("the noise contains NaN or infinity")
    if c.size and c.min() < 0:
        raise ValueError("per-eigenvalue noise variances must be >= 0")
    return c


def _eigen(k):
    """Eigendecomposition of a symmetric matrix, with numerically-zero eigenvalues snapped to 0."""
    vals, vecs = np.linalg.eigh(k)
    tol = 64 * np.finfo(float).eps * max(1.0, np.abs(vals).max(initial=0.0)) * max(1, len(vals))
    vals = np.where(np.abs(vals) <= tol, 0.0, vals)
    return vals, vecs


def _combine(grid, c_hat):
    """``c_hat * grid``, with ``0`` where the kernel is infinite but the noise vanishes."""
    bad = ~np.isfinite(grid)
    if not bad.any():
        return c_hat * grid
    tol = 1e-10 * max(np.abs(c_hat).max(initial=0.0), np.finfo(float).tiny)
    if np.any(np.abs(c_hat[bad]) > tol):
        raise StabilityError(
            "the Hessian has a zero eigenvalue along which the noise is nonzero: the weights "
            "diffuse without bound and there is no stationary covariance")
    return np.where(bad, 0.0, c_hat * np.where(bad, 0.0, grid))


# ----------------------------------------------------------------------------
# stationary covariance


def _whiten(opt: Preconditioned, k, c):
    """Map a matrix-rate optimizer to ``lr = 1``: returns ``(S, K~, C~)`` with ``S = Lambda^{1/2}``.

    With ``u = S^{-1} w`` and ``p = S m`` the update becomes heavy ball with
    ``lr = 1`` on ``K~ = S (K + wd) S`` and noise ``C~ = S C S``.
    """
    lam = opt.lr_matrix
    vals, vecs = np.linalg.eigh(lam)
    s = (vecs * np.sqrt(vals)) @ vecs.T
    k_eff = k + float(opt.weight_decay) * np.eye(len(k))
    return s, s @ k_eff @ s, s @ c @ s


def _numeric_dense(opt, k, c, full_state):
    """Stationary covariance for numeric matrices via the eigenbasis kernel."""
    n = k.shape[0]
    scale = None
    if isinstance(opt, Preconditioned) and not opt.is_scalar:
        if opt.lr_matrix.shape != (n, n):
            raise ShapeError(f"lr_matrix has shape {opt.lr_matrix.shape} but the Hessian "
                             f"has shape {(n, n)}")
        scale, k_eff, c = _whiten(opt, k, c)
        vals, vecs = _eigen(k_eff)
        opt.check_stable(vals)
    else:
        k_eff = opt.effective_hessian(k)
        vals, vecs = _eigen(k_eff)
        opt.check_stable(vals - float(opt.weight_decay))
    canon = _canonical(opt)
    c_hat = vecs.T @ c @ vecs
    grids = _kernel_grid(canon, vals[:, None], vals[None, :])
    s = canon.order
    blocks = [[vecs @ _combine(np.broadcast_to(grids[i * s + j], (n, n)), c_hat) @ vecs.T
               for j in range(s)] for i in range(s)]
    if scale is not None:
        inv = np.linalg.inv(scale)
        maps = [scale, inv]
        blocks = [[maps[i] @ blocks[i][j] @ maps[j] for j in range(s)] for i in range(s)]
    if not full_state:
        return (blocks[0][0] + blocks[0][0].T) / 2
    full = np.block(blocks)
    return (full + full.T) / 2


def _numeric_eigen(opt, k, c, full_state):
    """Per-eigenvalue fast path: ``k`` and ``c`` are 1-D arrays of eigenvalues."""
    if isinstance(opt, Preconditioned) and not opt.is_scalar:
        raise ShapeError("a matrix lr_matrix needs the full Hessian, not its eigenvalues")
    opt.check_stable(k)
    canon = _canonical(opt)
    k_eff = k + float(opt.weight_decay)
    grids = _kernel_grid(canon, k_eff, k_eff)
    s = canon.order
    out = np.empty(k.shape + (s, s))
    for i in range(s):
        for j in range(s):
            out[:, i, j] = _combine(np.broadcast_to(grids[i * s + j], k.shape), c)
    return out if full_state else out[:, 0, 0]


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


def _symbolic(opt, k, c, full_state):
    """Symbolic stationary covariance: per-eigenvalue closed forms or a general solve."""
    if not isinstance(k, sympy.MatrixBase):
        if isinstance(c, sympy.MatrixBase):
            raise ShapeError("a scalar Hessian needs a scalar noise variance")
        if isinstance(opt, Preconditioned) and not opt.is_scalar:
            raise ShapeError("a matrix lr_matrix needs a matrix Hessian")
        k_eff = opt.effective_hessian(k)
        y = kernel(opt).subs({_K1: k_eff, _K2: k_eff})
        out = (sympy.sympify(c) * y).applyfunc(sympy.factor)
        return out if full_state else out[0, 0]
    n = k.rows
    c = sympy.Matrix(c) if isinstance(c, sympy.MatrixBase) else sympy.sympify(c) * sympy.eye(n)
    if c.shape != (n, n):
        raise ShapeError(f"the noise covariance has shape {c.shape}, expected {(n, n)}")
    if c != c.T:
        raise ValueError("the noise covariance must be symmetric")
    if k.is_diagonal() and c.is_diagonal() and (opt_is_scalar := not (
            isinstance(opt, Preconditioned) and not opt.is_scalar)) and opt_is_scalar:
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
            message names the bound), or noise along a flat direction.
        ShapeError, NonFiniteError, ValueError: bad shapes, NaNs, non-symmetric
            or non-PSD noise.

    >>> import numpy as np
    >>> from symsgd.optim import HeavyBall
    >>> float(stationary_covariance(HeavyBall(1.0, 0.5), 1.0, 1.0))
    1.5
    >>> stationary_covariance(HeavyBall(1.0, 0.5), np.array([1.0, 2.0]), 1.0)
    array([1.5, 1.5])
    """
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a symsgd.optim.Optimizer, got {optimizer!r}")
    if _is_sympy(hessian) or _is_sympy(noise) or any(
            _is_sympy(v) and not isinstance(v, np.ndarray) and getattr(v, "free_symbols", None)
            for v in optimizer.hyperparameters().values()):
        k = hessian if _is_sympy(hessian) else sympy.sympify(hessian)
        if isinstance(k, sympy.MatrixBase):
            k = _as_hessian(sympy.Matrix(k))
        return _symbolic(optimizer, k, noise, full_state)
    if np.ndim(hessian) == 0:
        k = np.array([float(_as_hessian(hessian))])
        c = _noise_vector(noise, 1) if np.ndim(noise) == 0 else _noise_vector(
            _noise_matrix(noise, 1)[0], 1)
        out = _numeric_eigen(optimizer, k, c, full_state)
        return out[0]
    k = np.asarray(hessian, dtype=float)
    if k.ndim == 1:
        if not np.all(np.isfinite(k)):
            raise NonFiniteError("the Hessian eigenvalues contain NaN or infinity")
        return _numeric_eigen(optimizer, k, _noise_vector(noise, k.size), full_state)
    k = _as_hessian(k)
    return _numeric_dense(optimizer, k, _noise_matrix(noise, k.shape[0]), full_state)


# ----------------------------------------------------------------------------
# continuous-time (Mandt et al.) counterpart


def continuous_covariance(optimizer: Optimizer, hessian, noise):
    """Stationary covariance of the continuous-time (SDE) limit of ``optimizer``.

    The Ornstein-Uhlenbeck process ``dw = -L K w dt + L C^{1/2} dW`` (time in
    steps, ``L`` = :meth:`~symsgd.optim.Optimizer.effective_lr`, ``K`` including
    weight decay) has ``L K S + S K L = L C L``; for heavy ball this is
    Mandt et al.'s ``S K + K S = lr C / (1 - mu)``.

    Args:
        optimizer, hessian, noise: as in :func:`stationary_covariance`.

    >>> import sympy
    >>> from symsgd.optim import HeavyBall
    >>> lr, mu, k, c = sympy.symbols('lr mu k c', positive=True)
    >>> continuous_covariance(HeavyBall(lr, mu), k, c)
    -c*lr/(2*k*(mu - 1))
    """
    lr_eff = optimizer.effective_lr()
    if isinstance(optimizer, Preconditioned) and not optimizer.is_scalar:
        k = _as_hessian(hessian if not _is_sympy(hessian) else sympy.Matrix(hessian))
        if isinstance(k, sympy.MatrixBase):
            lam = sympy.Matrix(lr_eff)
            n = k.rows
            c = sympy.Matrix(noise) if isinstance(noise, sympy.MatrixBase) else noise * sympy.eye(n)
            m = lam * optimizer.effective_hessian(k)
            x = sympy.Matrix(n, n, lambda i, j: sympy.Dummy(f"s{min(i, j)}{max(i, j)}"))
            sol = sympy.solve(list(m * x + x * m.T - lam * c * lam), list(x.free_symbols),
                              dict=True)[0]
            return x.subs(sol).applyfunc(sympy.factor)
        c = _noise_matrix(noise, k.shape[0])
        vals, vecs = np.linalg.eigh(lr_eff)
        s = (vecs * np.sqrt(vals)) @ vecs.T
        k_eff = s @ (k + float(optimizer.weight_decay) * np.eye(len(k))) @ s
        kv, kvec = _eigen(k_eff)
        grid = 1.0 / (kv[:, None] + kv[None, :]) if kv.min() > 0 else \
            np.divide(1.0, kv[:, None] + kv[None, :], out=np.full((len(kv),) * 2, np.inf),
                      where=(kv[:, None] + kv[None, :]) > 0)
        x = kvec @ _combine(grid, kvec.T @ s @ c @ s @ kvec) @ kvec.T
        out = s @ x @ s
        return (out + out.T) / 2
    if _is_sympy(hessian) or _is_sympy(noise) or isinstance(lr_eff, sympy.Basic):
        k = sympy.sympify(hessian) if not isinstance(hessian, sympy.MatrixBase) else hessian
        k_eff = optimizer.effective_hessian(k)
        if not isinstance(k_eff, sympy.MatrixBase):
            return sympy.factor(lr_eff * sympy.sympify(noise) / (2 * k_eff))
        n = k_eff.rows
        c = sympy.Matrix(noise) if isinstance(noise, sympy.MatrixBase) else noise * sympy.eye(n)
        x = sympy.Matrix(n, n, lambda i, j: sympy.Dummy(f"s{min(i, j)}{max(i, j)}"))
        x = sympy.Matrix(n, n, lambda i, j: x[min(i, j), max(i, j)])
        sol = sympy.solve(list(k_eff * x + x * k_eff - lr_eff * c), list(x.free_symbols),
                          dict=True)[0]
        return x.subs(sol).applyfunc(sympy.factor)
    lr_eff = float(lr_eff)
    if np.ndim(hessian) <= 1:
        k = np.atleast_1d(np.asarray(hessian, dtype=float)) + float(optimizer.weight_decay)
        c = _noise_vector(noise, k.size)
        with np.errstate(divide="ignore"):
            out = _combine(lr_eff / (2 * k), c)
        return out[0] if np.ndim(hessian) == 0 else out
    k = optimizer.effective_hessian(hessian)
    c = _noise_matrix(noise, k.shape[0])
    vals, vecs = _eigen(k)
    with np.errstate(divide="ignore"):
        grid = lr_eff / (vals[:, None] + vals[None, :])
    out = vecs @ _combine(grid, vecs.T @ c @ vecs) @ vecs.T
    return (out + out.T) / 2


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


def covariance_at(optimizer: Optimizer, hessian, noise, steps, *, initial=None,
                  full_state: bool = False):
    """The covariance (second moment about the minimum) after ``steps`` steps.

    Iterates ``Sigma_{t+1} = A Sigma_t A^T + B C B^T`` from ``Sigma_0`` exactly, by
    binary powering (``O(n^3 log t)``, no cancellation); a SymPy ``steps``
    symbol uses ``Sigma_t = Sigma_inf - A^t (Sigma_inf - Sigma_0) A^{tT}``.

    Args:
        optimizer, hessian, noise: as in :func:`stationary_covariance` (a 1-D
            ``hessian`` is treated per eigenvalue).
        steps: a non-negative integer or a SymPy symbol.
        initial: ``E[z_0 z_0^T]``: the weights' second moment (momentum buffer
            starting at 0) or the whole state's; default 0 (start at the minimum).
        full_state: return the whole state's covariance.

    >>> from symsgd.optim import SGD
    >>> float(covariance_at(SGD(0.5), 1.0, 1.0, 2))
    0.3125
    """
    symbolic_t = isinstance(steps, sympy.Basic) and not steps.is_Integer
    if not symbolic_t:
        if isinstance(steps, bool) or int(steps) != steps or steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
        steps = int(steps)
    per_eigen = not _is_sympy(hessian) and np.ndim(hessian) <= 1
    if per_eigen:
        if isinstance(optimizer, Preconditioned) and not optimizer.is_scalar:
            raise ShapeError("a matrix lr_matrix needs the full Hessian, not its eigenvalues")
        k = np.atleast_1d(np.asarray(hessian, dtype=float))
        c = _noise_vector(noise, k.size)
        a = np.stack([optimizer.state_space(float(x))[0] for x in k]) if k.size else None
        b = np.stack([optimizer.state_space(float(x))[1] for x in k]) if k.size else None
        q = b @ b.transpose(0, 2, 1) * c[:, None, None]
        d = a.shape[-1]
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
    sym = _is_sympy(hessian) or _is_sympy(noise) or symbolic_t
    if sym:
        k = sympy.Matrix(hessian) if isinstance(hessian, sympy.MatrixBase) else \
            sympy.Matrix([[hessian]])
        n = k.rows
        c = sympy.Matrix(noise) if isinstance(noise, sympy.MatrixBase) else \
            sympy.sympify(noise) * sympy.eye(n)
        a, b = (sympy.Matrix(m) for m in optimizer.state_space(
            k if isinstance(hessian, sympy.MatrixBase) else hessian))
    else:
        k = _as_hessian(hessian)
        n = k.shape[0]
        c = _noise_matrix(noise, n)
        a, b = optimizer.state_space(k)
    d = a.shape[0]
    q = b @ c @ b.T
    z0 = sympy.zeros(d, d) if sym else np.zeros((d, d))
    if initial is not None:
        init = sympy.Matrix(initial) if sym and not isinstance(initial, numbers.Number) \
            and np.ndim(initial) else initial
        if not sym:
            init = np.asarray(initial, dtype=float)
            init = init * np.eye(n) if init.ndim == 0 else init
        elif np.ndim(initial) == 0:
            init = sympy.sympify(initial) * sympy.eye(n)
        if tuple(init.shape) == (n, n):
            z0[:n, :n] = init
        elif tuple(init.shape) == (d, d):
            z0 = init
        else:
            raise ShapeError(f"initial has shape {tuple(init.shape)}, expected {(n, n)} "
                             f"or {(d, d)}")
    if symbolic_t:
        inf = stationary_covariance(optimizer, hessian, noise, full_state=True)
        inf = inf if isinstance(inf, sympy.MatrixBase) else sympy.Matrix([[inf]])
        power = a ** steps
        out = (inf - power * (inf - z0) * power.T).applyfunc(sympy.simplify)
    else:
        power, total = _sum_powers(a, q, steps)
        out = power @ z0 @ power.T + total
        if sym:
            out = out.applyfunc(sympy.factor)
    out = out if full_state else out[:n, :n]
    if sym and not isinstance(hessian, sympy.MatrixBase):
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
        hessian: ``K`` (SymPy scalar for the symbolic route, else numeric).
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
    if _is_sympy(hessian) and not isinstance(hessian, sympy.MatrixBase):
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
        out = stationary_covariance(opt, k, noise)
        return np.atleast_2d(out)

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


def _schur_solve(t, u, q):
    """Solve ``X = A X A^H + Q`` with ``A = U T U^H`` (complex Schur), column recursion."""
    n = t.shape[0]
    qt = u.conj().T @ q @ u
    y = np.zeros((n, n), dtype=complex)
    eye = np.eye(n)
    for j in range(n - 1, -1, -1):
        rhs = qt[:, j].copy()
        if j + 1 < n:
            rhs += t @ (y[:, j + 1:] @ t[j, j + 1:].conj())
        y[:, j] = scipy.linalg.solve_triangular(eye - t[j, j].conj() * t, rhs)
    return u @ y @ u.conj().T


def discrete_lyapunov(a, q, *, refine: int = 1):
    """Solve ``X = A X A^T + Q`` for dense numeric ``A`` (any, stable) and symmetric ``Q``.

    Uses the complex Schur form of ``A`` and a Bartels-Stewart column recursion
    on the discrete equation itself (no bilinear transform, which is what costs
    scipy's solver its accuracy near the stability edge), followed by
    ``refine`` steps of iterative refinement.

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
    t, u = scipy.linalg.schur(a.astype(complex), output="complex")
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
    """Torch version of :func:`stationary_covariance` for numeric matrices (float64).

    Same eigenbasis-kernel algorithm, run with torch on ``device`` (e.g.
    ``"cuda"``), so large Hessians can be handled on a GPU.

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
    import torch

    def tensor(x):
        if isinstance(x, np.ndarray):
            x = np.array(x)
        return torch.as_tensor(x, dtype=torch.float64, device=device)

    k = tensor(hessian)
    if k.ndim == 1:
        c = tensor(noise).expand(k.shape) if tensor(noise).ndim == 0 else tensor(noise)
        if c.shape != k.shape:
            raise ShapeError(f"per-eigenvalue noise has shape {tuple(c.shape)}, "
                             f"expected {tuple(k.shape)}")
        if isinstance(optimizer, Preconditioned) and not optimizer.is_scalar:
            raise ShapeError("a matrix lr_matrix needs the full Hessian, not its eigenvalues")
        optimizer.check_stable(k.cpu().numpy())
        canon = _canonical(optimizer)
        k_eff = k + float(optimizer.weight_decay)
        grids = _kernel_grid(canon, k_eff, k_eff, backend="torch")
        s = canon.order
        out = torch.stack([torch.as_tensor(g, dtype=torch.float64, device=device).expand(k.shape)
                           * c for g in grids], dim=-1).reshape(k.shape + (s, s))
        out = torch.where(c[:, None, None] == 0, torch.zeros_like(out), out)
        if not torch.all(torch.isfinite(out)):
            raise StabilityError("the Hessian has a zero eigenvalue along which the noise is "
                                 "nonzero: there is no stationary covariance")
        return out if full_state else out[:, 0, 0]
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ShapeError(f"the Hessian must be square, got shape {tuple(k.shape)}")
    n = k.shape[0]
    c = tensor(noise) * torch.eye(n, dtype=torch.float64, device=device) \
        if tensor(noise).ndim == 0 else tensor(noise)
    if c.shape != k.shape:
        raise ShapeError(f"the noise covariance has shape {tuple(c.shape)}, expected {(n, n)}")
    if not (torch.all(torch.isfinite(k)) and torch.all(torch.isfinite(c))):
        raise NonFiniteError("the Hessian or the noise contains NaN or infinity")
    scale = None
    if isinstance(optimizer, Preconditioned) and not optimizer.is_scalar:
        lam_vals, lam_vecs = torch.linalg.eigh(tensor(optimizer.lr_matrix))
        scale = (lam_vecs * lam_vals.sqrt()) @ lam_vecs.T
        k = scale @ (k + float(optimizer.weight_decay) * torch.eye(n, dtype=k.dtype,
                                                                   device=device)) @ scale
        c = scale @ c @ scale
        vals, vecs = torch.linalg.eigh((k + k.T) / 2)
        optimizer.check_stable(vals.cpu().numpy())
    else:
        vals, vecs = torch.linalg.eigh((k + k.T) / 2 + float(optimizer.weight_decay)
                                       * torch.eye(n, dtype=k.dtype, device=device))
        optimizer.check_stable(vals.cpu().numpy() - float(optimizer.weight_decay))
    tol = 64 * torch.finfo(torch.float64).eps * max(1.0, float(vals.abs().max())) * n
    vals = torch.where(vals.abs() <= tol, torch.zeros_like(vals), vals)
    canon = _canonical(optimizer)
    c_hat = vecs.T @ c @ vecs
    grids = _kernel_grid(canon, vals[:, None], vals[None, :], backend="torch")
    s = canon.order
    ctol = 1e-10 * float(c_hat.abs().max().clamp_min(1e-300))

    def combine(g):
        g = torch.as_tensor(g, dtype=torch.float64, device=device).expand(n, n)
        bad = ~torch.isfinite(g)
        if bool(torch.any(bad & (c_hat.abs() > ctol))):
            raise StabilityError("the Hessian has a zero eigenvalue along which the noise is "
                                 "nonzero: there is no stationary covariance")
        return torch.where(bad, torch.zeros_like(g), c_hat * torch.where(bad, 0.0, g))

    blocks = [[vecs @ combine(grids[i * s + j]) @ vecs.T for j in range(s)] for i in range(s)]
    if scale is not None:
        maps = [scale, torch.linalg.inv(scale)]
        blocks = [[maps[i] @ blocks[i][j] @ maps[j] for j in range(s)] for i in range(s)]
    out = torch.cat([torch.cat(row, dim=1) for row in blocks], dim=0) if full_state \
        else blocks[0][0]
    return (out + out.T) / 2
