"""Canonical vertex orders of small coloured multigraphs with a vertex partition.

This is the individualization-refinement scheme of nauty/bliss reduced to what
small contraction graphs (a dozen vertices) need: colour refinement, then a
search that individualizes each vertex of the first non-singleton cell in turn
and keeps the least certificate.  Exchanging two *twins* (vertices of one cell
with the same neighbourhood) is an automorphism, so only one vertex per twin
class is tried; this keeps stars of identical leaves (``G`` vectors hanging off
one tensor) linear instead of factorial.

A graph is given by

* ``colors``: a comparable invariant per vertex (degree, loops, ...);
* ``adj``: a symmetric matrix of edge multiplicities (the diagonal is ignored:
  put loops into the colour);
* ``groups``: a group (block) id per vertex; two vertices in one group are
  related, and that relation is part of the structure.

>>> order = canonical_order(['x', 'y', 'x'], [[0, 1, 0], [1, 0, 1], [0, 1, 0]], [0, 1, 2])
>>> [['x', 'y', 'x'][v] for v in order]
['x', 'x', 'y']
"""

from __future__ import annotations

__all__ = ["canonical_order", "connected_groups"]


def _rank(signatures):
    index = {s: i for i, s in enumerate(sorted(set(signatures)))}
    return [index[s] for s in signatures]


def _refine(c, adj, groups, n):
    """Colour refinement (1-dimensional Weisfeiler-Leman) to a stable colouring."""
    classes = len(set(c))
    while True:
        sigs = []
        for i in range(n):
            row = adj[i]
            gi = groups[i]
            sigs.append((c[i], tuple(sorted(
                (c[j], row[j], groups[j] == gi) for j in range(n)
                if j != i and (row[j] or groups[j] == gi)))))
        c = _rank(sigs)
        new_classes = len(set(c))
        if new_classes == classes:
            return c
        classes = new_classes


def _twins(u, v, adj, groups, n) -> bool:
    gu, gv = groups[u], groups[v]
    for w in range(n):
        if w in (u, v):
            continue
        if adj[u][w] != adj[v][w] or (groups[w] == gu) != (groups[w] == gv):
            return False
    return True


def _certificate(order, colors, adj, groups):
    pos = {v: p for p, v in enumerate(order)}
    n = len(order)
    edges = tuple(sorted((min(pos[i], pos[j]), max(pos[i], pos[j]), adj[i][j])
                         for i in range(n) for j in range(i + 1, n) if adj[i][j]))
    members = {}
    for v in order:
        members.setdefault(groups[v], []).append(pos[v])
    blocks = tuple(sorted(tuple(m) for m in members.values()))
    return (tuple(colors[v] for v in order), edges, blocks)


def canonical_order(colors, adj, groups) -> tuple[int, ...]:
    """A canonical vertex order: ``order[p]`` is the vertex placed at position ``p``.

    Two isomorphic inputs (same colours, multiplicities and groups up to a
    relabelling of the vertices) get orders that map them onto the same
    relabelled graph.

    Args:
        colors: comparable vertex invariants.
        adj: symmetric edge-multiplicity matrix (lists of ints).
        groups: hashable group id per vertex.
    """
    n = len(colors)
    if n == 0:
        return ()
    start = _refine(_rank(list(colors)), adj, groups, n)
    best = [None, None]

    def search(c):
        c = _refine(c, adj, groups, n)
        if len(set(c)) == n:
            order = tuple(sorted(range(n), key=c.__getitem__))
            cert = _certificate(order, colors, adj, groups)
            if best[0] is None or cert < best[0]:
                best[0], best[1] = cert, order
            return
        sizes = {}
        for x in c:
            sizes[x] = sizes.get(x, 0) + 1
        target = min(x for x, k in sizes.items() if k > 1)
        cell = [v for v in range(n) if c[v] == target]
        reps = []
        for v in cell:
            if not any(_twins(r, v, adj, groups, n) for r in reps):
                reps.append(v)
        for v in reps:
            search([2 * x + (x == target and w != v) for w, x in enumerate(c)])

    search(start)
    return best[1]


def connected_groups(nodes, pairs) -> list[list]:
    """The connected components of ``nodes`` joined by ``pairs``, by union-find.

    Each component lists its nodes in the order of ``nodes``; components come
    in the order of their first node.

    >>> connected_groups([0, 1, 2, 3, 4], [(3, 1), (4, 0)])
    [[0, 4], [1, 3], [2]]
    """
    parent = {v: v for v in nodes}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(a)] = find(b)
    groups = {}
    for v in nodes:
        groups.setdefault(find(v), []).append(v)
    return list(groups.values())

