"""The top of the Hessian spectrum of a torch landscape, and the noise in that subspace.

Near a minimum the phase-space picture (Kunin et al.) and the exact discrete
Lyapunov covariances (Liu, Ziyin and Ueda) need the Hessian ``H`` and the
gradient-noise covariance ``C`` of a network; in full they are ``P x P``.  Here
``H`` is touched only through Hessian-vector products of the population loss:
its top eigenpairs come from Lanczos iteration (:func:`scipy.sparse.linalg.eigsh`
on a :class:`~scipy.sparse.linalg.LinearOperator`), and the noise is projected
on their span exactly, from per-sample gradients (``V^T C V = Cov(V^T grad l_x)``
over the population).  The result feeds :mod:`symsgd.lyapunov` and
:mod:`symsgd.phase_space` directly.

>>> import torch
>>> from symsgd.landscapes import linear_regression
>>> net = NetLandscape.from_landscape(linear_regression(dim=2),
...                                   [[1, 0, 1], [0, 2, 0], [1, 1, 3], [2, 1, 1]])
>>> top = top_subspace(net, 1)
>>> round(float(top.hessian[0]), 12)      # E x x^T = [[3/2, 3/4], [3/4, 3/2]]
2.25
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse.linalg
import torch
from torch.func import grad, jvp, vmap

from .._sympify import no_text
from ..errors import InputTypeError, NonFiniteError, RangeError, ShapeError
from .landscape import NetLandscape
from ._checks import count, seed as _seed

__all__ = ["Subspace", "hessian_operator", "top_subspace"]


def hessian_operator(net: NetLandscape) -> scipy.sparse.linalg.LinearOperator:
    """The population Hessian at ``theta_0`` as a matrix-free scipy ``LinearOperator``.

    Each product is one forward-over-reverse Hessian-vector product of the
    population loss (float64 arrays in and out, on the CPU).

    >>> from symsgd.landscapes import mean_estimation
    >>> net = NetLandscape.from_landscape(mean_estimation(), [[-1], [1]])
    >>> hessian_operator(net) @ np.array([2.0])
    array([2.])
    """
    if not isinstance(net, NetLandscape):
        raise InputTypeError(f"net must be a NetLandscape, got {type(net).__name__}")
    g = grad(lambda th: net.loss(theta=th))

    def matvec(v):
        u = torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(-1), dtype=net.dtype,
                            device=net.device)
        out = jvp(g, (net.params,), (u,))[1]
        return out.detach().cpu().numpy().astype(np.float64)

    return scipy.sparse.linalg.LinearOperator((net.dim, net.dim), matvec=matvec,
                                              dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Subspace:
    """The top eigenpairs of ``H`` and the statistics of the loss restricted to their span.

    Attributes:
        hessian: the eigenvalues, largest first, shape ``(k,)`` (``V^T H V`` is diagonal).
        vectors: the orthonormal eigenvectors as columns, shape ``(P, k)``.
        noise: ``V^T C V``, the covariance of per-sample gradients in the
            subspace, shape ``(k, k)`` (the population's, exactly).
        gradient: ``V^T G``, the mean gradient in the subspace, shape ``(k,)``.
        residual: per pair, ``||H v - lambda v||``, the accuracy Lanczos reached.
    """

    hessian: np.ndarray
    vectors: np.ndarray
    noise: np.ndarray
    gradient: np.ndarray
    residual: np.ndarray

    def __post_init__(self):
        k = np.asarray(self.hessian).shape[0] if np.ndim(self.hessian) == 1 else -1
        shapes = {"hessian": (k,), "noise": (k, k), "gradient": (k,), "residual": (k,)}
        for name, shape in shapes.items():
            value = np.array(no_text(getattr(self, name), name), dtype=np.float64)
            if value.shape != shape:
                raise ShapeError(f"{name} must have shape {shape}, got {value.shape}")
            if not np.all(np.isfinite(value)):
                raise NonFiniteError(f"{name} contains NaN or infinity")
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        vectors = np.array(no_text(self.vectors, "vectors"), dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[1] != k:
            raise ShapeError(f"vectors must have shape (P, {k}), got {vectors.shape}")
        vectors.setflags(write=False)
        object.__setattr__(self, "vectors", vectors)


def top_subspace(net: NetLandscape, k: int, *, tol: float = 0.0, seed: int = 0) -> Subspace:
    """The ``k`` largest Hessian eigenpairs at ``theta_0`` and the noise in their span.

    Args:
        net: the :class:`~symsgd.nets.NetLandscape`.
        k: how many eigenpairs (``1 <= k < P``).
        tol: Lanczos' relative tolerance (0: machine precision).
        seed: seeds Lanczos' starting vector (reproducible results).

    Raises:
        InputTypeError: wrong argument types.
        RangeError: ``k`` outside ``1 .. P - 1``.

    The noise ``V^T C V`` is the population covariance of ``V^T grad l_x``,
    computed from all per-sample gradients (chunked ``vmap``): exact, no sampling.
    """
    if not isinstance(net, NetLandscape):
        raise InputTypeError(f"net must be a NetLandscape, got {type(net).__name__}")
    k = count(k, "k")
    if not k < net.dim:
        raise RangeError(f"k must be between 1 and P - 1 = {net.dim - 1}, got {k}")
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        raise InputTypeError(f"tol must be a non-negative number, got {tol!r}")
    if not tol >= 0:
        raise RangeError(f"tol must be a non-negative number, got {tol!r}")
    seed = _seed(seed)
    op = hessian_operator(net)
    start = np.random.default_rng(seed).standard_normal(net.dim)
    values, vectors = scipy.sparse.linalg.eigsh(op, k=k, which="LA", tol=tol, v0=start)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    residual = np.array([np.linalg.norm(op @ vectors[:, i] - values[i] * vectors[:, i])
                         for i in range(k)])
    basis = torch.as_tensor(vectors, dtype=net.dtype, device=net.device)
    projected = []
    for start_ in range(0, net.size, net.chunk):
        x, y = net.point(slice(start_, start_ + net.chunk))
        if y is None:
            g = vmap(grad(lambda th, xs: net.sample_loss(th, xs, None)),
                     in_dims=(None, 0))(net.params, x)
        else:
            g = vmap(grad(net.sample_loss), in_dims=(None, 0, 0))(net.params, x, y)
        projected.append(g @ basis)
    z = torch.cat(projected).detach().cpu().numpy()
    mean = z.mean(axis=0)
    noise = (z - mean).T @ (z - mean) / net.size
    return Subspace(values, vectors, (noise + noise.T) / 2, mean, residual)
