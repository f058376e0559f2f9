"""A dense solver of the discrete Lyapunov equation for any stable ``A``, and its residual."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from .._sympify import no_text
from ..errors import NonFiniteError, ShapeError, StabilityError

def lyapunov_residual(a, x, q) -> float:
    """Relative residual ``||X - A X A^T - Q||_F / ||X||_F`` of a discrete Lyapunov solution.

    A backward-stable solver makes it ``O(n eps (1 + ||A||_2^2))``; the forward error of
    ``X`` is at most ``||(I - A (x) A)^{-1}||_2`` times it.

    >>> import numpy as np
    >>> lyapunov_residual(np.array([[0.5]]), np.array([[4 / 3]]), np.array([[1.0]]))
    0.0
    """
    a, x, q = (np.atleast_2d(np.asarray(no_text(m, what), dtype=float))
               for m, what in ((a, "a"), (x, "x"), (q, "q")))
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

    Accuracy: backward stable (the Schur form is computed by orthogonal
    transformations): the relative residual :func:`lyapunov_residual` is of order
    ``n eps (1 + ||A||_2^2)`` however close the spectral radius is to 1, and the
    forward error is at most ``||L^{-1}||_2`` times the residual, ``L = I - A (x) A``
    (``||L^{-1}||_2 = 1 / (1 - rho^2)`` for a symmetric ``A`` of spectral radius ``rho``).

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
    a = np.asarray(no_text(a, "a"), dtype=float)
    q = np.asarray(no_text(q, "q"), dtype=float)
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

