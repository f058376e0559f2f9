"""How one contraction is estimated: Moebius terms, a spanning forest, probe edges.

A :class:`~symsgd.tensors.Contraction` is a sum over *terms*: each cumulant
block is written in joint moments by Moebius inversion on its set partitions,
``kappa(X_1, ..., X_m) = sum_pi (-1)^(|pi|-1) (|pi|-1)! prod_{B in pi} E[prod_{i in B} X_i]``,
so a term is a partition of the nodes into *parts* whose nodes share one data
point, the parts' points being independent.  A part of one node is an
expectation over a single point: the population mean, computed exactly.  A part
of several nodes needs a point drawn from the population (or every point, in
exact mode).

Edges are evaluated by passing vectors along a spanning forest of the edge
graph (each node's tensor is contracted with its children's vectors through
directional derivatives); an edge that would close a cycle (a trace, a loop)
is cut and replaced by a probe pair ``(z, M z)`` with ``E[z z^T] = I``, which
keeps the estimate unbiased.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from ..diagrams._canon import set_partitions
from ..errors import ShapeError
from ..tensors import Contraction

__all__ = ["Plan", "Term", "plan"]


@dataclass(frozen=True)
class Term:
    """One product of joint moments: ``coefficient * E[...]`` over independent points.

    Attributes:
        coefficient: the Moebius weight (an integer).
        point: per node, the index of its drawn point (``0..points-1``), or
            ``None`` for a node alone in its part (a population mean).
        points: how many independent points the term draws.
    """

    coefficient: int
    point: tuple
    points: int


@dataclass(frozen=True)
class Plan:
    """The evaluation plan of a contraction.

    Attributes:
        degrees: per node, the derivative order.
        children: per node, the ``(child, edge)`` pairs of the spanning forest.
        roots: one root per connected component (the free slot's node first).
        probes: per node, the probe slots it receives: ``(probe index, raised)``
            where ``raised`` means the slot receives ``M z`` rather than ``z``.
        n_probes: the number of cut edges.
        free: the node carrying the free slot, or ``None``.
        terms: the Moebius terms.
    """

    degrees: tuple
    children: tuple
    roots: tuple
    probes: tuple
    n_probes: int
    free: int | None
    terms: tuple

    @property
    def points(self) -> int:
        """The most independent points any term draws."""
        return max(t.points for t in self.terms)


def _terms(c: Contraction) -> tuple:
    choices = []
    for block, moment in zip(c.blocks, c.kinds):
        if moment:
            choices.append([(1, (block,))])
            continue
        options = []
        for rgs in set_partitions(len(block)):
            q = max(rgs) + 1
            parts = tuple(tuple(block[i] for i in range(len(block)) if rgs[i] == j)
                          for j in range(q))
            options.append(((-1) ** (q - 1) * math.factorial(q - 1), parts))
        choices.append(options)
    terms = []

    def walk(g, coefficient, parts):
        if g == len(choices):
            point = [None] * len(c.degrees)
            big = [p for p in parts if len(p) > 1]
            for j, p in enumerate(big):
                for v in p:
                    point[v] = j
            terms.append(Term(coefficient, tuple(point), len(big)))
            return
        for mu, ps in choices[g]:
            walk(g + 1, coefficient * mu, parts + list(ps))

    walk(0, 1, [])
    return tuple(terms)


@lru_cache(maxsize=4096)
def plan(c: Contraction) -> Plan:
    """The :class:`Plan` of a contraction (cached).

    Raises:
        ShapeError: more than one free slot (the value would be a dense matrix).

    >>> CH = Contraction.from_graph([1, 1, 2], [[0, 1], [2]], [(0, 2), (1, 2)])
    >>> p = plan(CH)
    >>> [(t.coefficient, t.point) for t in p.terms]
    [(1, (0, 0, None)), (-1, (None, None, None))]
    >>> p.n_probes
    0
    """
    if len(c.free) > 1:
        raise ShapeError(f"{c} has {len(c.free)} free indices: its value is a dense tensor; "
                         "only scalar and vector contractions are estimated matrix-free")
    n = len(c.degrees)
    free = c.free[0] if c.free else None
    adjacency = [[] for _ in range(n)]
    for e, (a, b) in enumerate(c.edges):
        adjacency[a].append((b, e))
        if a != b:
            adjacency[b].append((a, e))
    seen, children, roots = [False] * n, [[] for _ in range(n)], []
    tree_edges = set()
    order = ([free] if free is not None else []) + list(range(n))
    for r in order:
        if seen[r]:
            continue
        roots.append(r)
        seen[r] = True
        stack = [r]
        while stack:
            v = stack.pop()
            for w, e in adjacency[v]:
                if not seen[w]:
                    seen[w] = True
                    children[v].append((w, e))
                    tree_edges.add(e)
                    stack.append(w)
    probes = [[] for _ in range(n)]
    k = 0
    for e, (a, b) in enumerate(c.edges):
        if e in tree_edges:
            continue
        probes[a].append((k, False))
        probes[b].append((k, True))
        k += 1
    return Plan(tuple(c.degrees), tuple(tuple(ch) for ch in children), tuple(roots),
                tuple(tuple(p) for p in probes), k, free, _terms(c))
