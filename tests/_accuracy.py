"""Tolerances derived from the conditioning of the problem, shared by the numeric tests.

For ``L(X) = X - A X A^T`` and any matrix ``Y``, ``Y - X = L^{-1}(R(Y))`` exactly, with
``R(Y) = Y - A Y A^T - Q`` the residual and ``X`` the exact solution: so
``||Y - X||_F <= ||L^{-1}||_2 ||R(Y)||_F`` with ``||L^{-1}||_2 = 1 / sigma_min(I - A (x) A)``.
A backward-stable solver has ``||R(Y)||_F <= d eps (1 + ||A||_2^2) ||Y||_F`` (``d`` the size of
``A``: each entry of ``A Y A^T`` is two length-``d`` dot products, each with relative error at
most ``d eps`` [Higham, "Accuracy and Stability of Numerical Algorithms", section 3.5], and
rounding ``Y`` itself costs ``eps ||Y||``); evaluating ``R`` in floats adds as much again
(the same products and two subtractions, ``||Q|| <= (1 + ||A||^2) ||X||``), so a measured
residual is at most ``2 (d + 1) eps (1 + ||A||_2^2)`` relative.  No tolerance here is tuned on one machine: each is
one of these bounds, evaluated for the problem at hand.
"""

import numpy as np

EPS = np.finfo(float).eps


def residual_bound(a, opt=None):
    """The measured relative residual ``||R(X)||_F / ||X||_F`` of a backward-stable solver.

    For a matrix learning rate ``Lambda`` the solver is backward stable for the whitened
    problem (``lr = 1``); mapping back by ``diag(S, S^{-1})``, ``S = Lambda^{1/2}``, and its
    inverse scales the relative residual by at most ``max(||Lambda||, ||Lambda^{-1}||)^2``.
    """
    bound = 2 * (a.shape[0] + 1) * EPS * (1 + np.linalg.norm(a, 2) ** 2)
    if opt is not None and opt.has_matrix_lr:
        lam = np.asarray(opt.lr_matrix, dtype=float)
        bound *= max(np.linalg.norm(lam, 2), np.linalg.norm(np.linalg.inv(lam), 2)) ** 2
    return bound


def inv_sep(a):
    """``||L^{-1}||_2`` for ``L = I - A (x) A``, by the SVD of the ``d^2 x d^2`` matrix."""
    d = a.shape[0]
    return 1 / np.linalg.svd(np.eye(d * d) - np.kron(a, a), compute_uv=False).min()


def residual(a, x, q):
    """``||X - A X A^T - Q||_F / ||X||_F``, written out here (not the library's)."""
    return np.linalg.norm(x - a @ x @ a.T - q) / np.linalg.norm(x)


def rel(x, y):
    """``||x - y||_F / ||y||_F``."""
    return np.linalg.norm(np.asarray(x, dtype=float) - y) / np.linalg.norm(y)


def agreement_bound(a, q, sep, *solutions, opt=None):
    """How far approximate solutions can be from each other, relative to ``||X||_F``.

    Each is within ``||L^{-1}|| ||R||`` of the exact ``X`` (``sep = ||L^{-1}||``), ``R`` its
    residual measured in floats (uncertain by the rounding of that measurement,
    :func:`residual_bound`).
    """
    return sep * sum(residual(a, y, q) + residual_bound(a, opt) for y in solutions)
