"""A torch landscape restricted to a low-dimensional affine subspace, with exact statistics.

The resummed form (Tenka's Theorem 1) and the Lyapunov and phase-space
predictions need ``H`` in an eigenbasis and the cumulants in that basis: on a
network with thousands of parameters that is out of reach in full, but on the
span of a few top Hessian eigenvectors it is cheap.  :func:`restrict` takes a
:class:`~symsgd.nets.NetLandscape` and a basis ``V`` (``P x k``, e.g. the
:class:`~symsgd.nets.Subspace` of :func:`~symsgd.nets.top_subspace`) and
builds the landscape of ``z -> l_x(theta_0 + V z)``: a model with ``k``
parameters.  Its per-sample derivative tensors at ``z = 0`` up to ``degree``
are computed for every point of the population (``torch.func.jacfwd`` over
``grad``, chunked ``vmap``), so its moments and joint cumulants are exact
population averages, as float64 arrays.

It is exactly the landscape of SGD *confined to the subspace* (for an
orthonormal ``V``, ``z`` are the coordinates of ``theta - theta_0`` in it),
and it plugs in where float statistics are needed:
:func:`symsgd.resummed_loss` and :func:`symsgd.resummed_displacement`
(numeric evaluation), :mod:`symsgd.lyapunov` and :mod:`symsgd.phase_space`
(``H`` and ``C``), and compiled kernels and :meth:`Series.evaluate
<symsgd.Series.evaluate>` (through :meth:`Restricted.cumulant`).
With ``V`` the identity it is the whole landscape, densely.

>>> import numpy as np
>>> from symsgd.landscapes import linear_regression
>>> net = NetLandscape.from_landscape(linear_regression(dim=2),
...                                   [[1, 0, 1], [0, 2, 0], [1, 1, 3], [2, 1, 1]])
>>> r = restrict(net, np.eye(2), degree=2)
>>> r.H                     # E x x^T
array([[1.5 , 0.75],
       [0.75, 1.5 ]])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import grad, jacfwd, vmap

from .._sympify import no_text
from ..diagrams._canon import set_partitions
from ..errors import InputTypeError, NonFiniteError, OrderError, ShapeError
from ..statistics import NumericStatistics
from ._checks import count
from .landscape import NetLandscape
from .spectrum import Subspace

__all__ = ["Restricted", "restrict"]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True, eq=False)
class Restricted(NumericStatistics):
    """A landscape in ``k`` coordinates given by its per-sample derivative tensors.

    The population is uniform over the ``n`` rows: ``moment`` and ``cumulant``
    are exact averages over it (float64).  Build one with :func:`restrict`.

    Attributes:
        vectors: the basis ``V`` of the subspace, shape ``(P, k)``.
        derivatives: ``derivatives[m]`` holds the ``m``-th derivative tensor of
            every sample's loss at ``z = 0``, shape ``(n,) + (k,) * m``, for
            ``m = 0 .. degree``.
    """

    vectors: np.ndarray
    derivatives: tuple

    def __post_init__(self):
        vectors = np.array(no_text(self.vectors, "vectors"), dtype=np.float64)
        if vectors.ndim != 2:
            raise ShapeError(f"vectors must have shape (P, k), got {vectors.shape}")
        k = vectors.shape[1]
        if not isinstance(self.derivatives, tuple) or not self.derivatives:
            raise InputTypeError("derivatives must be a non-empty tuple of arrays")
        arrays = []
        for m, d in enumerate(self.derivatives):
            d = np.array(no_text(d, f"derivatives[{m}]"), dtype=np.float64)
            if d.ndim != m + 1 or d.shape[1:] != (k,) * m or d.shape[0] != \
                    np.shape(self.derivatives[0])[0]:
                raise ShapeError(f"derivatives[{m}] must have shape (n,) + {(k,) * m}, "
                                 f"got {d.shape}")
            if not np.all(np.isfinite(d)):
                raise NonFiniteError(f"the derivatives of order {m} contain NaN or infinity")
            d.setflags(write=False)
            arrays.append(d)
        vectors.setflags(write=False)
        object.__setattr__(self, "vectors", vectors)
        object.__setattr__(self, "derivatives", tuple(arrays))
        object.__setattr__(self, "_cache", {})

    @property
    def dim(self) -> int:
        """``k``, the number of coordinates."""
        return self.vectors.shape[1]

    @property
    def degree(self) -> int:
        """The highest derivative order held."""
        return len(self.derivatives) - 1

    @property
    def size(self) -> int:
        """``n``, the population size."""
        return self.derivatives[0].shape[0]

    def moment(self, *orders: int) -> np.ndarray:
        """``E[grad^{k1} l_x (x) ... (x) grad^{km} l_x]`` over the population, axes grouped by
        argument in the order given.

        Raises:
            OrderError: an order above :attr:`degree`.
        """
        return self._cached("moment", self._orders(orders)).copy()

    def cumulant(self, *orders: int) -> np.ndarray:
        """The joint cumulant ``kappa(grad^{k1} l_x, ..., grad^{km} l_x)`` over the population,
        by Moebius inversion of the joint moments (axes grouped by argument).

        >>> import numpy as np
        >>> from symsgd.landscapes import mean_estimation
        >>> net = NetLandscape.from_landscape(mean_estimation(), [[-1], [1]])
        >>> restrict(net, np.eye(1), degree=1).cumulant(1, 1)     # C = Var x
        array([[1.]])

        Raises:
            OrderError: an order above :attr:`degree`.
        """
        return self._cached("cumulant", self._orders(orders)).copy()

    def _orders(self, orders) -> tuple:
        orders = tuple(orders)
        if not orders or any(isinstance(k, bool) or not isinstance(k, int) or k < 0
                             for k in orders):
            raise ShapeError(f"derivative orders must be non-negative integers, got {orders}")
        if max(orders) > self.degree:
            raise OrderError(f"the statistic {orders} needs derivatives of order {max(orders)}; "
                             f"this landscape was restricted with degree={self.degree}")
        return orders

    def _cached(self, kind: str, orders: tuple) -> np.ndarray:
        key = (kind, orders)
        if key not in self._cache:
            self._cache[key] = (self._moment if kind == "moment" else self._cumulant)(orders)
        return self._cache[key]

    def _moment(self, orders: tuple) -> np.ndarray:
        letters = iter(_LETTERS)
        operands, subs = [], []
        for k in orders:
            subs.append("n" if k == 0 else "n" + "".join(next(letters) for _ in range(k)))
            operands.append(self.derivatives[k])
        out = "".join(s[1:] for s in subs)
        total = 0
        for start in range(0, self.size, 256):
            total = total + np.einsum(",".join(subs) + "->" + out,
                                      *(a[start:start + 256] for a in operands), optimize=True)
        return np.asarray(total / self.size, dtype=np.float64)

    def _cumulant(self, orders: tuple) -> np.ndarray:
        axes = np.cumsum((0,) + orders)
        labels = [list(range(axes[i], axes[i + 1])) for i in range(len(orders))]
        total = np.zeros((self.dim,) * int(axes[-1]))
        for growth in set_partitions(len(orders)):
            parts = max(growth) + 1
            operands = []
            for b in range(parts):
                members = [i for i, g in enumerate(growth) if g == b]
                operands += [self._cached("moment", tuple(orders[i] for i in members)),
                             [a for i in members for a in labels[i]]]
            term = np.einsum(*operands, list(range(int(axes[-1]))))
            total = total + (-1) ** (parts - 1) * math.factorial(parts - 1) * term
        return total


def _basis(basis, net: NetLandscape) -> np.ndarray:
    if isinstance(basis, Subspace):
        return basis.vectors
    if isinstance(basis, (str, bytes)) or basis is None:
        raise InputTypeError(f"basis must be a Subspace or a (P, k) array, got {basis!r}")
    try:
        V = np.asarray(basis.detach().cpu() if isinstance(basis, torch.Tensor) else basis,
                       dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputTypeError(f"basis must be a Subspace or a (P, k) array, "
                             f"got {type(basis).__name__}") from error
    if V.ndim != 2 or V.shape[0] != net.dim or V.shape[1] < 1:
        raise ShapeError(f"basis must have shape (P, k) = ({net.dim}, k), got {V.shape}")
    if not np.all(np.isfinite(V)):
        raise NonFiniteError("basis contains NaN or infinity")
    return V


def restrict(net: NetLandscape, basis, *, degree: int = 3) -> Restricted:
    """The landscape ``z -> l_x(theta_0 + V z)`` with its per-sample derivatives up to
    ``degree``, for every point of the population.

    Args:
        net: the :class:`~symsgd.nets.NetLandscape`.
        basis: a :class:`~symsgd.nets.Subspace` (its eigenvectors) or a ``(P, k)`` array.
        degree: the highest derivative order kept; an order-``d`` resummed form
            needs ``degree >= d``.

    Raises:
        InputTypeError, ShapeError: a basis of the wrong type or shape.
        RangeError: ``degree < 1``.
        NonFiniteError: a basis, loss or derivative that is NaN or infinite.

    Cost: ``k ** (m - 1)`` Hessian-vector products per sample for order ``m``;
    memory ``n k ** degree`` floats.

    >>> from symsgd import resummed_loss, sgd
    >>> from symsgd.landscapes import mean_estimation
    >>> net = NetLandscape.from_landscape(mean_estimation(init=1), [[-1], [1]])
    >>> r = resummed_loss(sgd(3), 2, landscape=restrict(net, np.eye(1), degree=2))
    >>> print(f"{float(r(0.1)):.6f}")
    0.278051
    """
    if not isinstance(net, NetLandscape):
        raise InputTypeError(f"net must be a NetLandscape, got {type(net).__name__}")
    V = _basis(basis, net)
    degree = count(degree, "degree")
    k = V.shape[1]
    basis_t = torch.tensor(V, dtype=net.dtype, device=net.device)
    params = net.params.detach()

    def f(z, x, y):
        return net.sample_loss(params + basis_t @ z, x, y)

    fns = [f, grad(f)]
    while len(fns) <= degree:
        fns.append(jacfwd(fns[-1]))
    z0 = torch.zeros(k, dtype=net.dtype, device=net.device)
    in_dims = (None, 0, None if net.targets is None else 0)
    chunk = max(1, net.chunk // k ** (degree - 1))
    out = []
    for m in range(degree + 1):
        parts = []
        for start in range(0, net.size, chunk):
            x, y = net.point(slice(start, start + chunk))
            parts.append(vmap(fns[m], in_dims=in_dims)(z0, x, y).detach().cpu())
        out.append(torch.cat(parts).numpy().astype(np.float64))
    return Restricted(V, tuple(out))
