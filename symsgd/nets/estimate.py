"""Matrix-free estimates of contraction atoms on a torch model, with their errors.

:func:`estimate` measures the value of every :class:`~symsgd.tensors.Contraction`
that a derived series contains, on a :class:`~symsgd.nets.NetLandscape` at its
``theta_0``, without forming any tensor of rank above one:

* each cumulant block is written in joint moments (Moebius inversion); a
  moment's nodes share one data point and distinct moments use independent
  points (see :mod:`symsgd.nets._plan`);
* a node alone in its moment is a population mean, computed exactly on the
  whole population (``G``, ``H v``, ``J[u, v, .]``);
* the nodes' tensors are contracted along a spanning forest of the edges by
  nested ``torch.func.jvp`` and one ``torch.func.grad``; every edge carries the
  inverse metric ``M`` if one is given; edges closing a cycle (traces) are cut
  and replaced by probe pairs ``(z, M z)`` with ``E[z z^T] = I``.

In the sampled mode (the default) every atom is averaged over the same
``budget`` random draws (index tuples drawn uniformly with replacement, and
Rademacher probes), so the estimates are unbiased and their joint covariance is
the sample covariance over draws divided by ``budget``.  In the exact mode the
expectations are sums over every index tuple of the population (coincident
indices included, since the points are independent draws with replacement) and
over a basis for every probe: exact up to rounding, at a cost of ``n^m P^c``
draws for a term with ``m`` shared points and ``c`` cut edges (each ``n`` evaluations
where a population mean is taken along drawn directions).

>>> import torch, sympy, symsgd
>>> from symsgd.landscapes import mean_estimation
>>> net = NetLandscape.from_landscape(mean_estimation(init=1), [[-1], [0], [1]])
>>> s = symsgd.expected_loss(symsgd.sgd(3), 2, method='direct')
>>> est = estimate(s.contractions(), net, exact=True)
>>> [(str(a), round(float(v), 12)) for a, v in zip(est.atoms, est.mean[:, 0])]
[('l', 0.5), ('[G G]', 1.0), ('[G H G]', 1.0), ('C:H', 0.666666666667)]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import grad, jvp, vmap
from tqdm.auto import tqdm

from .._progress import _quiet
from .._sympify import no_text
from ..errors import (InputTypeError, MatrixError, MethodError, NonFiniteError, RangeError,
                      ShapeError)
from ..tensors import Contraction
from ._plan import plan
from .landscape import NetLandscape
from ._checks import count, seed as _seed

__all__ = ["Estimates", "estimate", "MAX_EXACT"]

#: The most evaluations the exact mode does for one term before it refuses (use sampling).
MAX_EXACT = 10 ** 7


@dataclass(frozen=True, eq=False)
class Estimates:
    """Estimated values of contraction atoms with their joint covariance.

    Attributes:
        atoms: the :class:`~symsgd.tensors.Contraction` atoms, in order.
        mean: shape ``(A, D)``: the estimates (``D = 1`` for scalar atoms,
            ``D = P`` for vector atoms, one column per coordinate).
        covariance: shape ``(D, A, A)``: per coordinate, the covariance of the
            estimates (zeros in exact mode).
        exact: whether the values are exact population expectations.
        budget: the number of random draws (``None`` in exact mode).
        seed: the seed of the draws.
        rank: 0 for scalar atoms, 1 for vector atoms.

    >>> import numpy as np
    >>> from symsgd.tensors import Contraction
    >>> G2 = Contraction.from_graph([1, 1], [[0], [1]], [(0, 1)])
    >>> e = Estimates((G2,), np.array([[2.0]]), np.array([[[0.25]]]), False, 100, 0, 0)
    >>> e.value(G2), e.standard_error(G2)
    (2.0, 0.5)
    """

    atoms: tuple
    mean: np.ndarray
    covariance: np.ndarray
    exact: bool
    budget: int | None
    seed: int | None
    rank: int

    def __post_init__(self):
        if not all(isinstance(a, Contraction) for a in self.atoms):
            raise InputTypeError("atoms must be Contractions")
        if self.rank not in (0, 1):
            raise ShapeError(f"rank must be 0 (scalar atoms) or 1 (vector atoms), got "
                             f"{self.rank!r}")
        mean = np.asarray(no_text(self.mean, "mean"), dtype=np.float64)
        cov = np.asarray(no_text(self.covariance, "covariance"), dtype=np.float64)
        A = len(self.atoms)
        if mean.ndim != 2 or mean.shape[0] != A or cov.shape != (mean.shape[1], A, A):
            raise ShapeError(f"mean must have shape (A, D) and covariance (D, A, A) with "
                             f"A = {A}; got {mean.shape} and {cov.shape}")
        if self.rank == 0 and mean.shape[1] != 1:
            raise ShapeError(f"scalar atoms have one column (D = 1), got {mean.shape[1]}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
            raise NonFiniteError("estimates contain NaN or infinity")
        mean.setflags(write=False)
        cov.setflags(write=False)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "covariance", cov)

    def _index(self, atom) -> int:
        try:
            return self.atoms.index(atom)
        except ValueError:
            raise InputTypeError(f"{atom} is not among the estimated atoms") from None

    def value(self, atom):
        """The estimate of ``atom``: a float (scalar atoms) or an array of shape ``(P,)``."""
        v = self.mean[self._index(atom)]
        return float(v[0]) if self.rank == 0 else v

    def standard_error(self, atom):
        """The standard error of ``atom``'s estimate (per coordinate for vector atoms)."""
        i = self._index(atom)
        se = np.sqrt(np.maximum(self.covariance[:, i, i], 0.0))
        return float(se[0]) if self.rank == 0 else se


# ------------------------------------------------------------------ derivatives
def _directional(f, theta, directions, vector: bool):
    """``D^k f(theta)[u_1, ..., u_k]`` or, if ``vector``, the gradient ``D^(k+1) f[u_1..u_k, .]``.

    Forward-mode derivatives along all directions but one, then one reverse pass: a
    scalar ``D^k f[u_1..u_k]`` is ``<grad D^(k-1) f[u_1..u_(k-1)], u_k>`` (measured 2x
    faster than ``k`` nested ``jvp`` on a network's population loss).
    """
    if not vector:
        if not directions:
            return f(theta)
        *directions, last = directions
        return (_directional(f, theta, directions, True) * last).sum(-1)
    g = f
    for u in directions:
        g = (lambda h, w: lambda th: jvp(h, (th,), (w,))[1])(g, u)
    return grad(g)(theta)


def _raise(metric, v):
    """``M v`` for a batch of vectors ``v`` (..., P)."""
    if metric is None:
        return v
    if callable(metric):
        return metric(v)
    if metric.ndim == 1:
        return v * metric
    return v @ metric


def _metric(metric, net: NetLandscape):
    """The inverse metric as ``None``, a diagonal (P,), a symmetric matrix (P, P) or a callable."""
    if metric is None or callable(metric) and not isinstance(metric, torch.Tensor):
        return metric
    if isinstance(metric, (str, bytes)) or not isinstance(metric, (torch.Tensor, np.ndarray)):
        raise InputTypeError(f"metric must be None, a tensor (diagonal (P,) or matrix (P, P)) or "
                             f"a callable v -> M v, got {type(metric).__name__}")
    m = torch.as_tensor(metric).to(dtype=net.dtype, device=net.device)
    P = net.dim
    if m.shape not in ((P,), (P, P)):
        raise ShapeError(f"metric must have shape ({P},) or ({P}, {P}), got {tuple(m.shape)}")
    if not bool(torch.isfinite(m).all()):
        raise NonFiniteError("metric contains NaN or infinity")
    if m.ndim == 2 and not torch.allclose(m, m.T, rtol=0,
                                          atol=64 * torch.finfo(m.dtype).eps * float(m.abs().max())):
        raise MatrixError("the inverse metric must be symmetric")
    return m


# ------------------------------------------------------------------ evaluation
class _Evaluator:
    """Evaluates terms of contractions on batches of draws (points and probes)."""

    def __init__(self, net: NetLandscape, metric, means: str):
        self.net = net
        self.metric = metric
        self.theta = net.params
        self.means = means
        self._fixed = {}    # values that do not depend on the draws, reused across chunks

    def _node(self, v, p, term, points, messages, batched):
        """The tensor of node ``v`` contracted with ``messages`` (a vector if it has a parent)."""
        net, theta = self.net, self.theta
        vector = v == p.free or v not in p.roots
        j = term.point[v]
        in_dims = tuple(0 if b else None for b in batched)
        if j is None and any(batched) and self.means == "sampled":
            j = term.points + v            # an independent point of its own (unbiased)
        if j is None:
            def f(th):
                return net.loss(theta=th)
            if not any(batched):
                return _directional(f, theta, messages, vector), False
            size = max(1, net.chunk // net.size)
            fn = vmap(lambda *ms: _directional(f, theta, ms, vector), in_dims=in_dims)
            return _chunked(fn, messages, batched, size), True
        data = tuple(a for a in net.point(points[:, j]) if a is not None)   # (x,) or (x, y)
        k = len(data)

        def one(*args):
            xs, ys = args[0], args[1] if k == 2 else None
            return _directional(lambda th: net.sample_loss(th, xs, ys), theta, args[k:], vector)

        fn = vmap(one, in_dims=(0,) * k + in_dims)
        return _chunked(fn, data + tuple(messages), (True,) * k + tuple(batched), net.chunk), True

    def _subtree(self, v, p, term, points, probes):
        key = (p, term, v)
        if key in self._fixed:              # a subtree without drawn points or probes
            return self._fixed[key], False
        out, batched = self._contract(v, p, term, points, probes)
        if not batched:
            self._fixed[key] = out
        return out, batched

    def _contract(self, v, p, term, points, probes):
        messages, batched = [], []
        for w, _ in p.children[v]:
            m, b = self._subtree(w, p, term, points, probes)
            messages.append(_raise(self.metric, m))
            batched.append(b)
        for k, raised in p.probes[v]:
            z = probes[:, k]
            messages.append(_raise(self.metric, z) if raised else z)
            batched.append(True)
        return self._node(v, p, term, points, messages, batched)

    def term(self, c: Contraction, term, points, probes, draws: int):
        """The values of one term on ``draws`` draws: shape ``(draws,)`` or ``(draws, P)``."""
        p = plan(c)
        scalar = torch.ones(draws, dtype=self.net.dtype, device=self.net.device)
        vector = None
        for r in p.roots:
            out, b = self._subtree(r, p, term, points, probes)
            if not b:
                out = out.expand((draws,) + tuple(out.shape))
            if r == p.free:
                vector = _raise(self.metric, out)
            else:
                scalar = scalar * out
        return scalar if vector is None else vector * scalar[:, None]


def _chunked(fn, args, batched, size):
    n = next(a.shape[0] for a, b in zip(args, batched) if b)
    if n <= size:
        return fn(*args)
    parts = []
    for start in range(0, n, size):
        parts.append(fn(*[a[start:start + size] if b else a for a, b in zip(args, batched)]))
    return torch.cat(parts)


# ------------------------------------------------------------------ front door
def _atoms(what) -> tuple:
    from ..series import Series

    if isinstance(what, Series):
        atoms = what.contractions()
    elif isinstance(what, Contraction):
        atoms = (what,)
    elif isinstance(what, (list, tuple)) and all(isinstance(a, Contraction) for a in what):
        atoms = tuple(dict.fromkeys(what))
    else:
        raise InputTypeError(f"estimate takes a Series, a Contraction or a sequence of "
                             f"Contractions, got {type(what).__name__}")
    ranks = {a.rank for a in atoms}
    if len(ranks) > 1:
        raise ShapeError(f"atoms of different ranks {sorted(ranks)} in one estimate")
    if ranks - {0, 1}:
        raise ShapeError("only scalar and vector atoms are estimated matrix-free")
    if not atoms:
        raise ShapeError("nothing to estimate: no contraction atoms")
    return atoms


def estimate(atoms, net: NetLandscape, *, exact: bool = False, budget: int = 1024,
             seed: int = 0, means: str = "sampled", metric=None,
             progress: bool | None = None) -> Estimates:
    """Estimates of contraction atoms on a torch landscape at ``theta_0``, with errors.

    Args:
        atoms: a :class:`~symsgd.Series` (its contractions), a
            :class:`~symsgd.tensors.Contraction` or a sequence of them, all
            scalar or all vector-valued.
        net: the :class:`~symsgd.nets.NetLandscape`.
        exact: enumerate every index tuple of the population and a basis for
            every probe (exact expectations, zero covariance) instead of sampling.
        budget: the number of random draws in the sampled mode (each draw: one
            index tuple and one set of probes, shared by all atoms).
        seed: the seed of the draws (a ``torch.Generator`` on the CPU).
        means: in the sampled mode, how a population mean is taken along
            directions that depend on the draw (``H g_x``, ``J[g_x, g_x, .]``):
            ``'sampled'`` (default) at an independent point of its own, one
            evaluation per draw; ``'exact'`` over the whole population, ``n``
            evaluations per draw (less variance per draw, far more cost per unit
            of precision on a large population).  Means along fixed directions
            (``G``, ``H G``, ``J[G, G, .]``) are always exact.
        metric: an inverse metric on every edge and free slot: ``None`` (the
            identity, a scalar ``eta`` factored out), a diagonal ``(P,)``, a
            symmetric ``(P, P)`` tensor, or a callable ``v -> M v`` on ``(..., P)``
            (which must be symmetric too: it is not checked, and an asymmetric one gives
            values that depend on the direction of the spanning forest).
        progress: show a progress bar (``None``: automatic).

    Raises:
        InputTypeError: wrong argument types.
        ShapeError: atoms of rank 2 or more, mixed ranks, or a metric of the wrong shape.
        MatrixError: a dense metric that is not symmetric.
        RangeError: a budget below 2, or an exact enumeration above :data:`MAX_EXACT`.
        MethodError: ``means`` other than ``'sampled'`` and ``'exact'``.
        NonFiniteError: non-finite derivatives.

    >>> from symsgd.landscapes import mean_estimation
    >>> from symsgd.tensors import Contraction
    >>> net = NetLandscape.from_landscape(mean_estimation(), [[-1], [0], [2]])
    >>> C = Contraction.from_graph([1, 1], [[0, 1]], [(0, 1)])
    >>> e = estimate(C, net, budget=4000, seed=1)
    >>> abs(e.value(C) - 14 / 9) < 4 * e.standard_error(C)    # Var x = 14/9
    True
    """
    if not isinstance(net, NetLandscape):
        raise InputTypeError(f"net must be a NetLandscape, got {type(net).__name__}")
    atoms = _atoms(atoms)
    if not isinstance(exact, bool):
        raise InputTypeError(f"exact must be True or False, got {exact!r}")
    budget = count(budget, "budget", low=2)
    seed = _seed(seed)
    if means not in ("sampled", "exact"):
        raise MethodError(f"means must be 'sampled' or 'exact', got {means!r}")
    metric = _metric(metric, net)
    ev = _Evaluator(net, metric, "exact" if exact else means)
    quiet = _quiet(progress, small=len(atoms) <= 4)
    P, n = net.dim, net.size
    D = P if atoms[0].rank == 1 else 1
    if exact:
        for a in atoms:                           # refuse before computing anything
            cost = _exact_cost(a, n, P)
            if cost > MAX_EXACT:
                raise RangeError(f"exact mode needs {cost} per-sample evaluations for {a} "
                                 f"(n = {n}, P = {P}); use the sampled mode (exact=False)")
        mean = np.zeros((len(atoms), D))
        for i, a in enumerate(tqdm(atoms, desc="atoms", disable=quiet, leave=False)):
            mean[i] = _exact_atom(ev, a, n, P).reshape(-1)
        return Estimates(atoms, mean, np.zeros((D, len(atoms), len(atoms))), True, None, seed,
                         atoms[0].rank)
    gen = torch.Generator().manual_seed(seed)
    m = max(plan(a).points + len(plan(a).degrees) for a in atoms)
    c = max(plan(a).n_probes for a in atoms)
    points = torch.randint(n, (budget, m), generator=gen)
    sums = (None, None, None)
    with tqdm(total=budget * len(atoms), desc="draws x atoms", disable=quiet,
              leave=False) as bar:
        for start in range(0, budget, net.chunk):   # in chunks: memory flat in the budget
            sums = _draws(ev, atoms, points[start:start + net.chunk], gen, c, D, bar, start,
                          sums)
    first, s1, s2 = sums
    mean = first + s1 / budget
    cov = (s2 - np.einsum("ad,bd->dab", s1, s1) / budget) / (budget - 1) / budget
    return Estimates(atoms, mean, cov, False, budget, seed, atoms[0].rank)


def _draws(ev, atoms, pts, gen, c, D, bar, start, sums):
    """``sums = (first, s1, s2)`` updated with the draws of the index rows ``pts``.

    The sums are shifted by the first draw: draws that agree exactly (atoms without
    sampled points) give exactly zero variance, and the sums do not cancel catastrophically.
    """
    net, (first, s1, s2) = ev.net, sums
    k, A = len(pts), len(atoms)
    pts = pts.to(net.device)
    probes = (torch.randint(2, (k, c, net.dim), generator=gen).to(net.dtype) * 2 - 1) \
        .to(net.device)
    values = np.empty((k, A, D))
    for i, a in enumerate(atoms):
        total = sum(t.coefficient * ev.term(a, t, pts, probes, k) for t in plan(a).terms)
        values[:, i] = torch.as_tensor(total).detach().cpu().numpy().reshape(k, D)
        bar.update(k)
    if not np.all(np.isfinite(values)):
        raise NonFiniteError(f"non-finite derivatives at theta_0 (draws {start} to "
                             f"{start + k - 1})")
    if first is None:
        first, s1, s2 = values[0].copy(), np.zeros((A, D)), np.zeros((D, A, A))
    shifted = values - first
    return first, s1 + shifted.sum(axis=0), s2 + np.einsum("kad,kbd->dab", shifted, shifted)


def _exact_cost(a: Contraction, n: int, P: int) -> int:
    """Per-sample evaluations of the exact mode for ``a``: per term, ``n^m P^c`` draws, each
    costing ``n`` more where a population mean is taken along drawn directions."""
    p = plan(a)
    total = 0
    for t in p.terms:
        draws = n ** t.points * P ** p.n_probes
        total += draws * (n if draws > 1 and None in t.point else 1)
    return total


def _exact_atom(ev: _Evaluator, a: Contraction, n: int, P: int) -> np.ndarray:
    p = plan(a)
    dev, size = ev.net.device, ev.net.chunk
    total = 0
    for t in p.terms:
        draws = n ** t.points * P ** p.n_probes
        tuples = itertools.product(itertools.product(range(n), repeat=t.points),
                                   itertools.product(range(P), repeat=p.n_probes))
        acc = 0
        for start in range(0, draws, size):      # lazily, in chunks: memory flat in the count
            block = list(itertools.islice(tuples, size))
            k = len(block)
            points = torch.tensor([pt for pt, _ in block], dtype=torch.long,
                                  device=dev).reshape(k, t.points)
            basis = torch.tensor([pr for _, pr in block], dtype=torch.long,
                                 device=dev).reshape(k, p.n_probes)
            probes = torch.nn.functional.one_hot(basis, P).to(ev.net.dtype) * P ** 0.5
            acc = acc + ev.term(a, t, points, probes, k).sum(dim=0)
        total = total + t.coefficient * acc / draws
    out = torch.as_tensor(total)
    if not bool(torch.isfinite(out).all()):
        raise NonFiniteError(f"non-finite derivatives at theta_0 in {a}")
    return out.detach().cpu().numpy()
