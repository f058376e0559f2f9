"""The :class:`Diagram`: a rooted tree plus a set partition of its non-root nodes.

A diagram with ``d`` edges has nodes ``0..d``; node 0 is the root.  A non-root
node with ``k`` children stands for ``grad^(k+1) l_x``, the root with ``k``
children for ``grad^k s``; the nodes of one block share a data point and
evaluate to their joint cumulant; edges contract indices through ``eta``
(Tenka, sections 2.2 and B.3).

Diagrams are canonical: the nodes are numbered in a canonical preorder (every
parent before its children) and the blocks by first occurrence, so equal
diagrams compare and hash equal whatever labelling built them.  The text form
writes the root as ``*``, every other node as the letter of its block, and
children in parentheses:

>>> D = Diagram.from_string('*(a(b), a)')
>>> D
Diagram('*(a, a(b))')
>>> D == Diagram.from_parents([None, 0, 1, 0], blocks=[[1, 3], [2]])
True
>>> D.order, D.n_automorphisms, D.parents, D.blocks
(3, 1, (None, 0, 0, 2), ((1, 2), (3,)))
"""

from __future__ import annotations

import re

import sympy
from sympy import Expr, Integer, Tuple

from ._canon import canonical_form
from ._errors import DiagramError
from .draw import draw as _draw, to_tikz as _to_tikz

__all__ = ["Diagram"]


_INTS = [Integer(i) for i in range(256)]
_TOKEN = re.compile(r"\s*(?:\*|[a-z]\d*|\(|\)|,)")


def _int(i: int) -> Integer:
    return _INTS[i] if i < 256 else Integer(i)


def _block_name(i: int) -> str:
    return chr(ord("a") + i % 26) + (str(i // 26) if i >= 26 else "")


class Diagram(Expr):
    """A diagram: a rooted tree with ``d`` edges and a partition of its non-root nodes.

    ``Diagram(parents, labels)`` builds the diagram whose node ``i + 1`` has
    parent ``parents[i]`` (node 0 is the root) and lies in the block labelled
    ``labels[i]`` (any hashable labels; equal labels mean one block).  The
    result is canonical: its ``args`` are the canonical parents and block
    labels (restricted growth string) of nodes ``1..d``.  ``Diagram(text)``
    parses the text form (see :meth:`from_string`); :meth:`from_parents`
    accepts any node labels and a list of blocks.

    >>> Diagram([0, 0], ['x', 'x']) == Diagram.from_string('*(a, a)')
    True
    >>> Diagram([0, 1], [0, 1]).links
    (1,)

    A diagram is a commutative SymPy expression, atomic under ``subs`` and
    ``xreplace``, so sums of weighted diagrams are ordinary expressions:

    >>> 2 * Diagram('*(a, a)') + Diagram('*(a(b))')
    2*Diagram('*(a, a)') + Diagram('*(a(b))')
    """

    is_commutative = True

    def __new__(cls, parents, labels=None):
        if isinstance(parents, str):
            if labels is not None:
                raise DiagramError("Diagram(text) takes no labels")
            return cls.from_string(parents)
        if labels is None:
            raise DiagramError("Diagram(parents, labels) needs the block labels")
        parents = _validated_parents([-1] + [_node(p) for p in parents])
        labels = list(labels)
        if len(labels) != len(parents) - 1:
            raise DiagramError(f"{len(parents) - 1} non-root nodes but {len(labels)} labels")
        canon_parents, rgs, n_aut = canonical_form(parents, labels)
        return cls._new(canon_parents, rgs, n_aut)

    @classmethod
    def _new(cls, parents: tuple, rgs: tuple, n_aut: int | None = None) -> "Diagram":
        """Build from an already canonical ``(parents, rgs)`` (no checks)."""
        obj = Expr.__new__(cls, Tuple(*[_int(p) for p in parents[1:]], sympify=False),
                            Tuple(*[_int(b) for b in rgs], sympify=False))
        obj._parents = parents
        obj._rgs = rgs
        obj._n_aut = n_aut
        return obj

    @classmethod
    def from_parents(cls, parents, *, blocks=None) -> "Diagram":
        """The diagram of a parent array and a list of blocks, with any node labels.

        Args:
            parents: ``parents[v]`` is the parent of node ``v``; exactly one
                node (the root) has parent ``None`` (or ``-1``).
            blocks: an iterable of iterables of non-root nodes, each non-root
                node in exactly one; ``None`` puts every node in its own block.

        >>> Diagram.from_parents([2, 2, None], blocks=[[0, 1]])
        Diagram('*(a, a)')
        """
        parents = list(parents)
        roots = [v for v, p in enumerate(parents) if p is None or p == -1]
        if len(roots) != 1:
            raise DiagramError(f"a diagram needs exactly one root, got {len(roots)}")
        root = roots[0]
        order = [root] + [v for v in range(len(parents)) if v != root]
        index = {v: i for i, v in enumerate(order)}
        try:
            relabelled = [-1] + [index[_node(parents[v])] for v in order[1:]]
        except KeyError as exc:
            raise DiagramError(f"parent {exc.args[0]!r} is not a node") from None
        relabelled = _validated_parents(relabelled)
        labels = [None] * (len(parents) - 1)
        if blocks is None:
            labels = list(range(len(parents) - 1))
        else:
            for b, block in enumerate(blocks):
                for v in block:
                    if v not in index or v == root:
                        raise DiagramError(f"block {b} holds {v!r}, which is not a non-root node")
                    if labels[index[v] - 1] is not None:
                        raise DiagramError(f"node {v!r} is in two blocks")
                    labels[index[v] - 1] = b
            missing = [order[i + 1] for i, lab in enumerate(labels) if lab is None]
            if missing:
                raise DiagramError(f"nodes {missing} are in no block")
        canon_parents, rgs, n_aut = canonical_form(relabelled, labels)
        return cls._new(canon_parents, rgs, n_aut)

    @classmethod
    def from_string(cls, text: str) -> "Diagram":
        """Parse the text form: ``*`` is the root, a letter (optionally with a
        number) names a node's block, children follow in parentheses.

        >>> Diagram.from_string('*(a(b, b), c)').blocks
        ((1,), (2,), (3, 4))
        """
        if not isinstance(text, str):
            raise DiagramError(f"expected a string, got {type(text).__name__}")
        tokens = []
        pos = 0
        stripped = text.rstrip()
        while pos < len(stripped):
            m = _TOKEN.match(stripped, pos)
            if not m:
                raise DiagramError(f"cannot parse {text!r} at position {pos}")
            tokens.append(m.group(0).strip())
            pos = m.end()
        parents: list = []
        labels: list = []
        pos = _parse_node(tokens, 0, None, parents, labels, text)
        if pos != len(tokens):
            raise DiagramError(f"unexpected {tokens[pos]!r} in {text!r}")
        if labels[0] != "*" or "*" in labels[1:]:
            raise DiagramError(f"the root, and only the root, is written '*': {text!r}")
        canon_parents, rgs, n_aut = canonical_form([-1] + parents[1:], labels[1:])
        return cls._new(canon_parents, rgs, n_aut)

    def _eval_subs(self, old, new):
        return self

    def _xreplace(self, rule):
        if self in rule:
            return rule[self], True
        return self, False

    # -- structure ---------------------------------------------------------

    def _ensure(self) -> None:
        if not hasattr(self, "_parents"):
            self._parents = (-1,) + tuple(int(p) for p in self.args[0])
            self._rgs = tuple(int(b) for b in self.args[1])
            self._n_aut = None

    @property
    def order(self) -> int:
        """The number of edges ``d``: the diagram contributes to the power ``eta**d``."""
        return len(self.args[0])

    @property
    def n_nodes(self) -> int:
        """``order + 1``."""
        return self.order + 1

    @property
    def parents(self) -> tuple:
        """``parents[v]`` for every node; ``None`` for the root 0.  Parents precede children."""
        self._ensure()
        return (None,) + self._parents[1:]

    @property
    def labels(self) -> tuple[int, ...]:
        """Block index of every non-root node ``1..d`` (numbered by first occurrence)."""
        self._ensure()
        return self._rgs

    @property
    def children(self) -> tuple[tuple[int, ...], ...]:
        """The children of every node.

        >>> Diagram('*(a(b), c)').children
        ((1, 2), (), (3,), ())
        """
        self._ensure()
        kids: list[list[int]] = [[] for _ in range(self.n_nodes)]
        for v in range(1, self.n_nodes):
            kids[self._parents[v]].append(v)
        return tuple(tuple(k) for k in kids)

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """The edges as ``(child, parent)`` pairs, one per non-root node.

        >>> Diagram('*(a(b))').edges
        ((1, 0), (2, 1))
        """
        self._ensure()
        return tuple((v, self._parents[v]) for v in range(1, self.n_nodes))

    @property
    def n_children(self) -> tuple[int, ...]:
        """The number of children of every node."""
        return tuple(len(k) for k in self.children)

    @property
    def degrees(self) -> tuple[int, ...]:
        """Tensor rank of every node: ``k + 1`` for a non-root node with ``k``
        children (``grad^(k+1) l_x``), ``k`` for the root (``grad^k s``)."""
        return tuple(k + (v > 0) for v, k in enumerate(self.n_children))

    @property
    def depths(self) -> tuple[int, ...]:
        """Distance of every node from the root."""
        self._ensure()
        depth = [0] * self.n_nodes
        for v in range(1, self.n_nodes):
            depth[v] = depth[self._parents[v]] + 1
        return tuple(depth)

    @property
    def blocks(self) -> tuple[tuple[int, ...], ...]:
        """The blocks of the partition, each a sorted tuple of non-root nodes."""
        self._ensure()
        out: list[list[int]] = [[] for _ in range(max(self._rgs, default=-1) + 1)]
        for v, b in enumerate(self._rgs, start=1):
            out[b].append(v)
        return tuple(tuple(b) for b in out)

    @property
    def n_blocks(self) -> int:
        """The number of blocks."""
        return max(self.labels, default=-1) + 1

    def block_signature(self, block: int) -> tuple[int, ...]:
        """The sorted child counts of a block's nodes: the statistic it stands for.

        ``(0,)`` is ``G``, ``(1,)`` is ``H``, ``(0, 0)`` is ``C``, ``(0, 0, 0)`` is ``S``.

        >>> Diagram.from_string('*(a, a)').block_signature(0)
        (0, 0)
        """
        kids = self.n_children
        return tuple(sorted(kids[v] for v in self.blocks[block]))

    @property
    def statistics(self) -> tuple[tuple[int, ...], ...]:
        """The signatures of all blocks, sorted."""
        return tuple(sorted(self.block_signature(b) for b in range(self.n_blocks)))

    def contains(self, signature) -> bool:
        """Whether some block has the given signature (see :meth:`block_signature`)."""
        return tuple(sorted(signature)) in self.statistics

    # -- symmetry and links --------------------------------------------------

    @property
    def n_automorphisms(self) -> int:
        """``|Aut(D)|``: automorphisms of the rooted tree that preserve the partition.

        >>> Diagram.from_string('*(a, b, c)').n_automorphisms
        6
        """
        self._ensure()
        if self._n_aut is None:
            self._n_aut = canonical_form(self._parents, self._rgs)[2]
        return self._n_aut

    @property
    def links(self) -> tuple[int, ...]:
        """The links: non-root nodes with exactly one child that are alone in their block."""
        sizes = [len(b) for b in self.blocks]
        kids = self.n_children
        return tuple(v for v in range(1, self.n_nodes)
                     if kids[v] == 1 and sizes[self.labels[v - 1]] == 1)

    @property
    def is_linkless(self) -> bool:
        """Whether the diagram has no link."""
        return not self.links

    def linkless(self) -> "Diagram":
        """The linkless representative: every link contracted into an edge.

        >>> Diagram.from_string('*(a(b(c)))').linkless()
        Diagram('*(a)')
        """
        links = set(self.links)
        if not links:
            return self
        self._ensure()
        keep = [v for v in range(self.n_nodes) if v not in links]
        index = {v: i for i, v in enumerate(keep)}
        parents = [-1]
        for v in keep[1:]:
            p = self._parents[v]
            while p in links:
                p = self._parents[p]
            parents.append(index[p])
        canon_parents, rgs, n_aut = canonical_form(parents, [self._rgs[v - 1] for v in keep[1:]])
        return type(self)._new(canon_parents, rgs, n_aut)

    # -- printing ------------------------------------------------------------

    def node_name(self, v: int) -> str:
        """The name of node ``v`` in the text form: ``'*'`` for the root, else its block's letter.

        >>> Diagram('*(a, b)').node_name(2)
        'b'
        """
        if not 0 <= v < self.n_nodes:
            raise DiagramError(f"no node {v} in a diagram with {self.n_nodes} nodes")
        return "*" if v == 0 else _block_name(self.labels[v - 1])

    def text(self) -> str:
        """The text form, e.g. ``'*(a, a(b))'``.

        >>> Diagram([0, 1], ['x', 'x']).text()
        '*(a(a))'
        """
        kids = self.children

        def node(v: int) -> str:
            name = self.node_name(v)
            if not kids[v]:
                return name
            return name + "(" + ", ".join(node(c) for c in kids[v]) + ")"

        return node(0)

    def _sympystr(self, printer) -> str:
        return f"Diagram('{self.text()}')"

    def _latex(self, printer) -> str:
        body = self.text().replace("*", r"\ast{}").replace(", ", ",\\,")
        return r"\mathcal{D}\left[" + body + r"\right]"

    def to_tikz(self, **options) -> str:
        """A TikZ picture of the diagram; ``options`` as for :func:`symsgd.diagrams.to_tikz`.

        >>> Diagram('*(a)').to_tikz().count('node[')
        2
        """
        return _to_tikz(self, **options)

    def draw(self, **options):
        """Draw with matplotlib; ``options`` as for :func:`symsgd.diagrams.draw`; returns the axes.

        >>> import matplotlib
        >>> matplotlib.use('Agg')
        >>> Diagram('*(a, a)').draw().get_title()
        '*(a, a)'
        """
        return _draw(self, **options)

    def _repr_latex_(self) -> str:
        return "$" + sympy.latex(self) + "$"

    def _repr_png_(self) -> bytes:
        """The matplotlib picture as PNG bytes, for notebooks (no global figure is left open)."""
        import io

        from matplotlib.figure import Figure

        figure = Figure(figsize=(1.2 + 0.6 * self.order, 1.6))
        self.draw(ax=figure.add_subplot())
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()


def _node(p) -> int:
    if isinstance(p, bool) or not isinstance(p, (int, Integer)):
        raise DiagramError(f"a parent must be a node index, got {p!r}")
    return int(p)


def _validated_parents(parents: list) -> list:
    n = len(parents)
    for v in range(1, n):
        if not 0 <= parents[v] < n or parents[v] == v:
            raise DiagramError(f"node {v} has an invalid parent {parents[v]}")
    for v in range(1, n):
        seen = set()
        u = v
        while u != 0:
            if u in seen:
                raise DiagramError(f"the parent array has a cycle through node {v}")
            seen.add(u)
            u = parents[u]
    return parents


def _parse_node(tokens, pos, parent, parents, labels, text) -> int:
    if pos >= len(tokens) or tokens[pos] in "(),":
        raise DiagramError(f"expected a node in {text!r}")
    me = len(labels)
    labels.append(tokens[pos])
    parents.append(parent)
    pos += 1
    if pos < len(tokens) and tokens[pos] == "(":
        pos = _parse_node(tokens, pos + 1, me, parents, labels, text)
        while pos < len(tokens) and tokens[pos] == ",":
            pos = _parse_node(tokens, pos + 1, me, parents, labels, text)
        if pos >= len(tokens) or tokens[pos] != ")":
            raise DiagramError(f"unbalanced parentheses in {text!r}")
        pos += 1
    return pos
