"""Embeddings of diagrams into a schedule's space-time, and the master-formula weight.

An embedding of a diagram ``D`` assigns every non-root node a cell ``(n, t)``
(point ``n`` in batch ``t``) such that times strictly increase from child to
parent (the root sits at time ``T``) and the nodes of one block get the same
row ``n``; nodes of different blocks may share a row or a cell
(Tenka, sections A.3 and B.3).  Embeddings are counted node-labelled; the master
formula is::

    [eta^d] E s(theta_T) = sum_D weight(D, schedule) * uvalue(D),
    weight(D, schedule) = (-1/B)^d * (number of embeddings) / |Aut(D)|.

Counting, for a concrete schedule, is a dynamic programme over the tree: the
table of a node is indexed by its time and by the rows of the blocks that
have members both inside and outside its subtree.  Random reshuffling is
averaged exactly over the schedule's realizations.  For the schedule families
with symbolic sizes the count is a closed form (see :func:`count_embeddings`).

>>> import sympy
>>> from symsgd.schedule import sgd, gd
>>> from symsgd.diagrams import Diagram
>>> C = Diagram('*(a, a)')
>>> count_embeddings(C, sgd(4, batch=2, epochs=2))
16
>>> N, B, E = sympy.symbols('N B E', positive=True, integer=True)
>>> count_embeddings(C, sgd(N, batch=B, epochs=E))
E**2*N
>>> weight(C, gd(N, steps=3))
9/(2*N)
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterator

import numpy as np
import sympy
from sympy import QQ
from sympy.polys.fields import field
from sympy.polys.rings import ring

from .._sympify import expression
from ..errors import MethodError, ScheduleError
from ..schedule import BaseSchedule, GDSchedule, Schedule, SGDSchedule
from ._canon import canonical_form, set_partitions
from ._errors import DiagramError
from .diagram import Diagram

__all__ = ["count_embeddings", "iter_embeddings", "embedding_automorphisms", "weight"]

_METHODS = ("auto", "dp", "enumerate", "formula")


def _check(D) -> Diagram:
    if not isinstance(D, Diagram):
        raise DiagramError(f"expected a Diagram, got {type(D).__name__}")
    return D


def _check_schedule(schedule) -> BaseSchedule:
    if not isinstance(schedule, BaseSchedule):
        raise ScheduleError(f"expected a schedule, got {type(schedule).__name__}")
    return schedule


def count_embeddings(D: Diagram, schedule: BaseSchedule, *, method: str = "auto"):
    """The number of node-labelled embeddings of ``D`` into ``schedule``'s space-time.

    Args:
        D: a diagram.
        schedule: an explicit :class:`~symsgd.schedule.Schedule` or a family
            (:func:`~symsgd.schedule.sgd`, :func:`~symsgd.schedule.gd`), with
            numeric or symbolic sizes.  A randomly reshuffled schedule gives
            the exact expectation over its realizations.
        method: ``'dp'`` (dynamic programme on every realization),
            ``'enumerate'`` (list the embeddings, slow), ``'formula'`` (the
            closed form of the family, evaluated at the sizes) or ``'auto'``
            (``'dp'`` for numeric sizes, the closed form for symbolic ones, or
            when there are too many realizations to list).

    Raises:
        DiagramError, ScheduleError: not a diagram, not a schedule.
        MethodError: an unknown ``method``.

    Returns:
        A SymPy Integer or Rational; for symbolic sizes an exact expression:
        a polynomial in ``N, batch, epochs`` (SGD, fixed order; GD: in ``N,
        steps``), and for uniform reshuffling over several epochs a rational
        function of them (the probability that distinct points share a
        batch, ``(batch - 1)/(N - 1)``, enters), exact for ``N >=``
        ``D.n_blocks`` (smaller ``N`` can be poles; give numeric ``N``).

    >>> from symsgd.schedule import Schedule
    >>> count_embeddings(Diagram('*(a(b))'), Schedule([[0], [1], [0]]))
    3
    """
    _check(D)
    _check_schedule(schedule)
    if method not in _METHODS:
        raise MethodError(f"method must be one of {_METHODS}, got {method!r}")
    if method == "formula" or (method == "auto" and not schedule.is_concrete):
        return _formula(D, schedule)
    try:
        realizations = schedule.realizations()
    except ScheduleError:
        if method == "auto" and isinstance(schedule, SGDSchedule):
            return _formula(D, schedule)
        raise
    count = _count_dp if method in ("dp", "auto") else _count_enumerate
    total = sympy.Integer(0)
    for p, s in realizations:
        total += p * count(D, s)
    return total


# -- concrete schedules ------------------------------------------------------

def _membership(schedule: Schedule) -> np.ndarray:
    M = np.zeros((schedule.T, schedule.N), dtype=np.int64)
    for t, b in enumerate(schedule.batches):
        M[t, list(b)] = 1
    return M


def _count_dp(D: Diagram, schedule: Schedule) -> int:
    return _dp(D, _membership(schedule))


def _dp(D: Diagram, M: np.ndarray) -> int:
    """Count embeddings into the space-time with membership matrix ``M[t, n]``."""
    d = D.order
    if d == 0:
        return 1
    parents, labels, kids = D.parents, D.labels, D.children
    sizes = [len(b) for b in D.blocks]
    cells = int(M.sum())
    dtype = np.int64 if cells ** d < 2 ** 62 else object
    M = M.astype(dtype)
    inside = [dict() for _ in range(d + 1)]
    for v in range(d, 0, -1):
        inside[v][labels[v - 1]] = inside[v].get(labels[v - 1], 0) + 1
        for b, c in inside[v].items():
            inside[parents[v]][b] = inside[parents[v]].get(b, 0) + c
    opened = [None] + [sorted(b for b, c in inside[v].items() if c < sizes[b])
                       for v in range(1, d + 1)]
    before: dict[int, np.ndarray] = {}
    total: dict[int, np.ndarray] = {}
    for v in range(d, 0, -1):
        operands = [M, [0, 1 + labels[v - 1]]]
        for c in kids[v]:
            operands += [before[c], [0] + [1 + b for b in opened[c]]]
        f = np.einsum(*operands, [0] + [1 + b for b in opened[v]])
        cum = np.cumsum(f, axis=0)
        total[v] = cum[-1]
        before[v] = np.concatenate([np.zeros_like(cum[:1]), cum[:-1]], axis=0)
    operands = []
    for c in kids[0]:
        operands += [total[c], [1 + b for b in opened[c]]]
    return int(np.einsum(*operands, []))


def _count_enumerate(D: Diagram, schedule: Schedule) -> int:
    return sum(1 for _ in iter_embeddings(D, schedule))


def iter_embeddings(D: Diagram, schedule: BaseSchedule) -> Iterator[tuple]:
    """Yield every node-labelled embedding of ``D`` into a deterministic concrete schedule.

    An embedding is a tuple ``f`` of cells, ``f[v] = (n, t)`` for node ``v``;
    ``f[0] = (None, T)`` is the root.

    >>> from symsgd.schedule import sgd
    >>> list(iter_embeddings(Diagram('*(a(b))'), sgd(2)))
    [((None, 2), (1, 1), (0, 0))]
    """
    _check(D)
    _check_schedule(schedule)
    if schedule.is_random:
        raise ScheduleError("embeddings into a randomly reshuffled schedule are random; "
                            "iterate over schedule.realizations()")
    batches = schedule.batches
    T = len(batches)
    parents, labels = D.parents, D.labels
    d = D.order
    f: list = [(None, T)] + [None] * d
    rows: dict[int, int] = {}

    def place(v: int):
        if v > d:
            yield tuple(f)
            return
        b = labels[v - 1]
        fixed = rows.get(b)
        for t in range(f[parents[v]][1]):
            for n in batches[t]:
                if fixed is not None and n != fixed:
                    continue
                f[v] = (n, t)
                if fixed is None:
                    rows[b] = n
                yield from place(v + 1)
                if fixed is None:
                    del rows[b]

    yield from place(1)


def embedding_automorphisms(D: Diagram, embedding) -> int:
    """``|Aut_f(D)|``: the automorphisms of ``D`` that also preserve the embedding's cells.

    Args:
        D: a diagram.
        embedding: the cell of every node, as yielded by :func:`iter_embeddings`
            (``embedding[v]`` for node ``v``; entry 0, the root's, is ignored).

    Summed over embeddings up to symmetry, ``1/|Aut_f|`` gives
    ``count_embeddings(D, s) / D.n_automorphisms``.

    >>> D = Diagram('*(a, b)')
    >>> embedding_automorphisms(D, [None, (0, 0), (0, 0)]), embedding_automorphisms(D, [None, (0, 0), (1, 0)])
    (2, 1)
    """
    _check(D)
    embedding = list(embedding)
    if len(embedding) != D.n_nodes:
        raise DiagramError(f"an embedding of a diagram with {D.n_nodes} nodes needs "
                           f"{D.n_nodes} cells (root first), got {len(embedding)}")
    ids: dict = {}
    colors = [0] + [1 + ids.setdefault(tuple(cell), len(ids)) for cell in embedding[1:]]
    parents = (-1,) + D.parents[1:]
    return canonical_form(parents, D.labels, colors)[2]


def weight(D: Diagram, schedule: BaseSchedule, *, count=None):
    """The master-formula weight ``(-1/B)^d * count_embeddings(D, schedule) / |Aut(D)|``.

    ``[eta^d] E s(theta_T) = sum over diagrams D with d edges of weight(D) * uvalue(D)``.

    Args:
        D: a diagram with ``d`` edges.
        schedule: the schedule; ``B`` is its batch size (``N`` for GD).
        count: the embedding count if already known.

    >>> from symsgd.schedule import sgd
    >>> weight(Diagram('*(a)'), sgd(6, batch=2))
    -3
    """
    _check(D)
    _check_schedule(schedule)
    count = count_embeddings(D, schedule) if count is None else expression(count, "count")
    B = sympy.sympify(schedule.batch, strict=True)
    w = (-1 / B) ** D.order * count / D.n_automorphisms
    return w if w.is_Number else sympy.factor(w)


# -- closed forms for the schedule families -----------------------------------

def _formula(D: Diagram, schedule: BaseSchedule):
    if isinstance(schedule, GDSchedule):
        N, T = sympy.sympify(schedule.N, strict=True), sympy.sympify(schedule.steps, strict=True)
        return sympy.expand(N ** D.n_blocks * _order_polynomial(D, T))
    if isinstance(schedule, SGDSchedule):
        N, B, E = (sympy.sympify(x, strict=True)
                   for x in (schedule.N, schedule.batch, schedule.epochs))
        if schedule.reshuffle == "random" and E != 1:
            return _random_formula(D, N, B, E)
        if schedule.reshuffle not in ("fixed", "random") and E != 1:
            if not schedule.is_concrete:
                raise ScheduleError("a seeded shuffle has no closed form for symbolic sizes")
            return count_embeddings(D, schedule, method="dp")
        return sympy.expand(B ** D.n_blocks * _fixed_formula(D, N / B, E))
    raise ScheduleError(f"no closed form for {schedule}; use an SGD or GD family or numbers")


@lru_cache(maxsize=4096)
def _order_polynomial(D: Diagram, T):
    """Strictly increasing time assignments in ``[0, T)`` (root at ``T``), in ``T``."""
    values = [_dp(D, np.ones((t, 1), dtype=np.int64)) if t else int(D.order == 0)
              for t in range(D.order + 1)]
    return _newton(values, T)


def _newton(values, x):
    """The polynomial of degree < len(values) through ``(i, values[i])``, at ``x``."""
    diffs = list(values)
    out = sympy.Integer(0)
    for m in range(len(values)):
        out += diffs[0] * sympy.binomial(x, m).expand(func=True) if m else diffs[0]
        diffs = [b - a for a, b in zip(diffs, diffs[1:])]
    return out


def _fixed_value(D: Diagram, K: int, E: int) -> int:
    """Embeddings into fixed-order SGD with ``K`` points, batch 1, ``E`` epochs."""
    if K == 0 or E == 0:
        return int(D.order == 0)
    M = np.zeros((K * E, K), dtype=np.int64)
    M[np.arange(K * E), np.arange(K * E) % K] = 1
    return _dp(D, M)


@lru_cache(maxsize=4096)
def _fixed_formula(D: Diagram, K, E):
    """Slot-and-epoch assignments of fixed-order SGD: a polynomial of degree at most
    ``n_blocks`` in the number of batches per epoch ``K`` and at most ``d`` in ``E``
    (a sum of ``binomial(K, m) binomial(E, m')`` over patterns), interpolated exactly."""
    k, d = D.n_blocks, D.order
    Es = [int(E)] if E.is_Integer else list(range(d + 1))
    Ks = [int(K)] if K.is_Integer else list(range(k + 1))
    rows = [_newton([_fixed_value(D, k_, e_) for k_ in Ks], K) if len(Ks) > 1
            else sympy.Integer(_fixed_value(D, Ks[0], e_)) for e_ in Es]
    return _newton(rows, E) if len(Es) > 1 else rows[0]


def _weak_orders(elements, strict=(), weak=()):
    """Ordered set partitions (lists of levels) of ``elements`` with ``level(a) < level(b)``
    for ``(a, b)`` in ``strict`` and ``level(a) <= level(b)`` for ``(a, b)`` in ``weak``."""
    def rec(remaining: frozenset):
        if not remaining:
            yield []
            return
        rem = sorted(remaining)
        for mask in range(1, 1 << len(rem)):
            level = frozenset(x for i, x in enumerate(rem) if mask >> i & 1)
            if any(b in level and a in remaining for a, b in strict):
                continue
            if any(b in level and a in remaining and a not in level for a, b in weak):
                continue
            for rest in rec(remaining - level):
                yield [level] + rest

    return rec(frozenset(elements))


_RING, _K, _B = ring("K,B", QQ)
_FIELD, _FN, _FB, _FE = field("N,B,E", QQ)


def _falling(x, q: int):
    out = _RING.one
    for i in range(q):
        out *= x - i
    return out


@lru_cache(maxsize=None)
def _same_epoch_probability(constraints: frozenset):
    """Probability that, in one uniformly shuffled epoch, the distinct points ``a`` of
    ``(a, b)`` in ``constraints`` fall in strictly earlier batches than ``b``.

    ``q`` given points land in given batches, ``c_j`` of them in batch ``j``,
    with probability ``prod_j (B)_{c_j} / (N)_q``; ``binomial(K, L)`` counts the
    batch values of a pattern with ``L`` distinct batches (``K = N/B``).
    Returns the numerator (a polynomial in ``K, B``) and ``q``."""
    if not constraints:
        return _RING.one, 0
    points = sorted({x for pair in constraints for x in pair})
    total = _RING.zero
    for levels in _weak_orders(points, strict=constraints):
        term = _falling(_K, len(levels)) / math.factorial(len(levels))
        for level in levels:
            term *= _falling(_B, len(level))
        total += term
    return total, len(points)


@lru_cache(maxsize=4096)
def _random_formula(D: Diagram, N, B, E):
    """Expected embeddings into SGD with uniform reshuffling between epochs.

    Sum over which blocks share a point (a partition ``pi`` of the blocks,
    ``(N)_q`` choices of ``q`` distinct points), over the pattern of the nodes'
    epochs (an ordered partition into ``m`` levels, ``binomial(E, m)`` epoch
    values, children's epochs at most their parents'), of the product over
    epochs of the probability that the same-epoch edges go forward in time.
    The epochs' shuffles are independent; the first epoch's fixed order does
    not change the sum over points, which is symmetric in them.

    The result is a rational function of ``N``; its denominator is a product
    of falling factorials ``(N)_q`` with ``q <= n_blocks``, so for symbolic
    ``N`` it holds for ``N >= n_blocks``.  For a numeric ``N`` the terms that
    need more than ``N`` distinct points are dropped, which is exact for
    every ``N``."""
    d = D.order
    parents, labels = D.parents, D.labels
    edges = [(c, parents[c]) for c in range(1, d + 1) if parents[c] != 0]
    epoch_patterns = list(_weak_orders(range(1, d + 1), weak=edges))
    terms: dict = {}
    for pi in set_partitions(D.n_blocks):
        point = [None] + [pi[labels[v - 1]] for v in range(1, d + 1)]
        q_pi = max(pi, default=-1) + 1
        if N.is_Integer and q_pi > N:
            continue
        for levels in epoch_patterns:
            num = _RING.one
            dens = []
            for level in levels:
                pairs = [(point[c], point[p]) for c, p in edges if c in level and p in level]
                if any(a == b for a, b in pairs):
                    break
                factor, q = _same_epoch_probability(frozenset(pairs))
                num *= factor
                if q:
                    dens.append(q)
            else:
                key = (q_pi, len(levels), tuple(sorted(dens)))
                terms[key] = terms.get(key, _RING.zero) + num
    total = _FIELD.zero
    for (q_pi, m, dens), num in terms.items():
        term = _FIELD.zero
        for (i, j), c in num.terms():
            term += _FIELD(c) * _FB ** j * (_FN / _FB) ** i
        den = _FIELD.one
        for q in dens:
            den *= _ffield(_FN, q)
        total += term * _ffield(_FN, q_pi) * _ffield(_FE, m) / (math.factorial(m) * den)
    values = {sympy.Symbol("N"): N, sympy.Symbol("B"): B, sympy.Symbol("E"): E}
    num = sympy.factor(total.numer.as_expr().subs(values, simultaneous=True))
    den = sympy.factor(total.denom.as_expr().subs(values, simultaneous=True))
    return num / den


def _ffield(x, q: int):
    out = _FIELD.one
    for i in range(q):
        out *= x - i
    return out
