"""Enumeration of diagrams: every diagram with a given number of edges, once.

For each unlabelled rooted tree with ``d + 1`` nodes (generated as AHU codes)
the set partitions of its ``d`` non-root nodes are split into orbits of the
tree's automorphism group; each orbit is one diagram, its least member the
canonical form, and ``|Aut(D)| = |Aut(tree)| / |orbit|``.

>>> [sum(1 for _ in enumerate_diagrams(d)) for d in range(4)]
[1, 1, 4, 17]
>>> [D.text() for D in enumerate_diagrams(2)]
['*(a, a)', '*(a, b)', '*(a(a))', '*(a(b))']
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterator

from ..errors import check_order
from ._canon import count, orbit, set_partitions, tree_layout
from .diagram import Diagram
from .embeddings import count_embeddings

__all__ = ["enumerate_diagrams", "rooted_trees"]


@lru_cache(maxsize=None)
def _tree_codes(n: int) -> tuple:
    """AHU codes (sorted tuples of children's codes) of the rooted trees with ``n`` nodes."""
    if n == 1:
        return ((),)
    items = [(size, code) for size in range(1, n) for code in _tree_codes(size)]
    out = []

    def choose(remaining: int, top: int, acc: list) -> None:
        if remaining == 0:
            out.append(tuple(sorted(acc)))
            return
        for i in range(top, -1, -1):
            size, code = items[i]
            if size <= remaining:
                acc.append(code)
                choose(remaining - size, i, acc)
                acc.pop()

    choose(n - 1, len(items) - 1, [])
    return tuple(sorted(out))


def _code_parents(code) -> list[int]:
    parents = [-1]
    stack = [(code, 0)]
    while stack:
        c, me = stack.pop()
        for child in c:
            parents.append(me)
            stack.append((child, len(parents) - 1))
    return parents


def rooted_trees(n_edges: int) -> tuple[tuple[int, ...], ...]:
    """Canonical parent arrays (root 0, ``-1`` as its parent) of all rooted trees with
    ``n_edges`` edges (OEIS A000081: 1, 1, 2, 4, 9, 20, 48, 115, ...).

    >>> rooted_trees(2)
    ((-1, 0, 0), (-1, 0, 1))
    """
    n_edges = count(n_edges, "n_edges")
    return tuple(sorted(tree_layout(_code_parents(c)).parents
                        for c in _tree_codes(n_edges + 1)))


def enumerate_diagrams(order: int, *, linkless: bool = False, schedule=None,
                       statistic=None) -> Iterator[Diagram]:
    """Yield every diagram with ``order`` edges exactly once.

    Args:
        order: the number of edges ``d >= 0`` (the power of ``eta`` they contribute to).
        linkless: only diagrams without links (see :attr:`Diagram.links`).
        schedule: only diagrams with at least one embedding into this
            schedule (concrete: some realization admits one; symbolic: the
            count is not identically zero).
        statistic: only diagrams with a block of this signature, the sorted
            child counts of its nodes (``(0, 0)`` for ``C``, ``(0, 0, 0)`` for
            ``S``, ``(1,)`` for ``H``; see :meth:`Diagram.block_signature`).

    Diagrams come tree by tree (trees in canonical order), partitions in
    increasing canonical order.

    >>> from symsgd.schedule import sgd
    >>> [D.text() for D in enumerate_diagrams(2, schedule=sgd(4))]
    ['*(a, a)', '*(a, b)', '*(a(b))']
    >>> sum(1 for _ in enumerate_diagrams(3, statistic=(0, 0, 0)))
    1
    """
    order = check_order(order)
    if statistic is not None:
        statistic = tuple(sorted(int(k) for k in statistic))
    accept = None
    if schedule is not None:
        accept = lambda D: count_embeddings(D, schedule) != 0  # noqa: E731
    partitions = set_partitions(order)
    for parents in rooted_trees(order):
        layout = tree_layout(parents)
        kids = [0] * (order + 1)
        for v in range(1, order + 1):
            kids[parents[v]] += 1
        seen: set = set()
        reps = []
        for rgs in partitions:
            if rgs in seen:
                continue
            if linkless or statistic is not None:
                sizes = [0] * (order + 1)
                for b in rgs:
                    sizes[b] += 1
                if linkless and any(kids[v] == 1 and sizes[rgs[v - 1]] == 1
                                    for v in range(1, order + 1)):
                    continue
                if statistic is not None and not _has_block(rgs, kids, statistic):
                    continue
            members = orbit(rgs, layout.generators)
            seen |= members
            reps.append((min(members), layout.group_order // len(members)))
        for rgs, n_aut in sorted(reps):
            D = Diagram._new(parents, rgs, n_aut)
            if accept is None or accept(D):
                yield D


def _has_block(rgs, kids, statistic) -> bool:
    blocks: dict[int, list[int]] = {}
    for v, b in enumerate(rgs, start=1):
        blocks.setdefault(b, []).append(kids[v])
    return any(tuple(sorted(ks)) == statistic for ks in blocks.values())
