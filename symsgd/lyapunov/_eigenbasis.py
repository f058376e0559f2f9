"""The numeric stationary covariance in the eigenbasis of the Hessian, on any backend.

With ``K = V diag(k) V^T`` and ``C_hat = V^T C V`` the stationary covariance is
``V (C_hat_ij Y(k_i, k_j)) V^T`` (the kernel ``Y`` of :mod:`._kernel`); a
matrix learning rate is whitened away first.  The same code runs on numpy and
torch through a :class:`~symsgd._backends.Backend`.

Accuracy (what the tests check): the kernel entries are evaluated to a few ulps;
the rest of the error is that of the symmetric eigendecomposition, backward
stable (``V diag(k) V^T = K + dK``, ``||dK|| <= c n eps ||K||``).  So the
relative residual ``||X - A X A^T - Q|| / ||X||`` is ``O(n eps)`` at any
distance from the stability edge, and the forward error is at most
``n eps kappa`` with ``kappa = ||K|| max |d log Y(k_i, k_j) / d k|`` summed over
both arguments, the sensitivity of the exact answer to the rounding of ``K``
(for SGD on the diagonal, ``2 |lr k - 1| / (2 - lr k)``: ``2e5`` at
``lr k = 1.99999``).  No solver that reads ``K`` in floating point does better.
"""

from __future__ import annotations

import numpy as np

from .._validate import _symmetric
from ..errors import ShapeError, StabilityError
from ..optim import Preconditioned
from ._inputs import _NUMPY, _eigenvalues, _full, _noise_matrix, _noise_vector
from ._kernel import _canonical, _kernel_grid

#: Eigenvalues of ``K`` within ``ZERO_EIGENVALUE_RTOL * n * max(1, ||K||)`` of 0 are
#: taken as exactly 0 (flat directions): ``eigh`` puts a zero eigenvalue within
#: about ``n eps ||K||`` of 0; the factor 64 = 2^6 keeps a margin over that bound.
ZERO_EIGENVALUE_RTOL = 64 * np.finfo(float).eps

#: Noise along a flat direction below this fraction of ``max |C_hat|`` is rounding.
FLAT_NOISE_RTOL = 1e-10


def _eigen(k, be=_NUMPY):
    """Eigendecomposition of a symmetric matrix, with numerically-zero eigenvalues snapped to 0."""
    vals, vecs = be.xp.linalg.eigh(k)
    n = vals.shape[0]
    if n:
        top = max(1.0, float(be.xp.abs(vals).max()))
        vals = be.xp.where(be.xp.abs(vals) <= ZERO_EIGENVALUE_RTOL * top * n, 0.0, vals)
    return vals, vecs


def _combine(grid, c_hat, be=_NUMPY):
    """``c_hat * grid``, with ``0`` where the kernel is infinite but the noise vanishes."""
    xp = be.xp
    bad = ~xp.isfinite(grid)
    if not bool(bad.any()):
        return c_hat * grid
    tol = FLAT_NOISE_RTOL * max(float(xp.abs(c_hat).max()), np.finfo(float).tiny)
    if bool((xp.abs(c_hat[bad]) > tol).any()):
        raise StabilityError(
            "the Hessian has a zero eigenvalue along which the noise is nonzero: the weights "
            "diffuse without bound and there is no stationary covariance")
    return xp.where(bad, 0.0, c_hat * xp.where(bad, 0.0, grid))


def _whiten(opt: Preconditioned, k, c, be):
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


def _numeric_dense(opt, k, c, full_state, be):
    """Stationary covariance for numeric matrices via the eigenbasis kernel."""
    n = k.shape[0]
    canon = _canonical(opt)
    s = canon.state_blocks
    if n == 0:
        return be.asarray(np.zeros((0, 0)))
    maps = None
    if opt.has_matrix_lr:
        scale, inv, k_eff, c = _whiten(opt, k, c, be)
        vals, vecs = _eigen(k_eff, be)
        opt.check_stable(be.to_numpy(vals))
        maps = [scale, inv]
    else:
        vals, vecs = _eigen(k, be)
        opt.check_stable(be.to_numpy(vals))
        vals = vals + float(opt.weight_decay)
    c_hat = vecs.T @ c @ vecs
    grids = _kernel_grid(canon, vals[:, None], vals[None, :])
    blocks = [[vecs @ _combine(_full(grids[i * s + j], (n, n), be), c_hat, be) @ vecs.T
               for j in range(s)] for i in range(s)]
    if maps is not None:
        blocks = [[maps[i] @ blocks[i][j] @ maps[j] for j in range(s)] for i in range(s)]
    out = be.block(blocks) if full_state else blocks[0][0]
    return (out + out.T) / 2


def _numeric_eigen(opt, k, c, full_state, be):
    """Per-eigenvalue fast path: ``k`` and ``c`` are 1-D arrays of eigenvalues."""
    if opt.has_matrix_lr:
        raise ShapeError("a matrix lr_matrix needs the full Hessian, not its eigenvalues")
    opt.check_stable(be.to_numpy(k))
    canon = _canonical(opt)
    k_eff = k + float(opt.weight_decay)
    grids = _kernel_grid(canon, k_eff, k_eff)
    s = canon.state_blocks
    out = be.xp.stack([_combine(_full(g, k.shape, be), c, be) for g in grids], -1)
    out = out.reshape(tuple(k.shape) + (s, s))
    return out if full_state else out[:, 0, 0]


def _numeric(opt, hessian, noise, full_state, be):
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
