"""Contracted products of landscape statistics as canonical SymPy atoms.

A :class:`Contraction` is one monomial of the perturbative expansion, e.g.
``G_a H_ab G_b``.  It is described by a graph:

* nodes ``0..n-1``; node ``i`` stands for ``grad^{k_i} l_x`` and has ``k_i``
  symmetric index slots (``degrees[i] = k_i``; ``k = 0`` is the loss itself);
* a partition of the nodes into *blocks*; a block evaluates to the joint
  cumulant ``kappa(grad^{k_1} l_x, ..., grad^{k_m} l_x)`` of its nodes'
  tensors at one data point (or to their joint moment, for a *moment block*);
* edges (pairs of nodes; a loop is a trace) each contracting one slot of each
  endpoint through the learning rate ``eta`` (a scalar, or an inverse metric
  ``eta^{ab}`` inserted on every edge);
* an ordered tuple of *free* slots (node indices) for vector-valued
  quantities such as the expected weights; free slots are raised with the
  metric too (they are vector indices).

Every slot is used exactly once: ``degrees[i]`` equals the number of edge
ends at ``i`` (a loop counts twice) plus the free slots at ``i``.

Contractions are canonical (a canonical labelling of the graph, with joint
cumulants symmetric in their arguments and derivative slots symmetric within a
node), so isomorphic graphs give the same atom and like terms combine:

>>> GHG = Contraction.from_graph([1, 2, 1], [[0], [1], [2]], [(0, 1), (1, 2)])
>>> GHG
[G H G]
>>> GHG == Contraction.from_graph([2, 1, 1], [[2], [0], [1]], [(1, 0), (0, 2)])
True
>>> CH = Contraction.from_graph([1, 1, 2], [[0, 1], [2]], [(0, 2), (1, 2)])
>>> 3 * GHG + CH - GHG
2*[G H G] + C:H
>>> import sympy
>>> sympy.latex(CH)
'C_{a b} H_{a b}'

Named statistics: ``G, H, J`` (means of ``grad^1..3 l_x``), ``K`` (mean of
``grad^4``), ``l`` (the loss), ``C = kappa(grad l, grad l)``,
``S = kappa(grad l, grad l, grad l)``; any other block prints as ``kappa(...)``
in text and ``{\\kappa^{(k_1,...)}}`` in LaTeX (braced, so that its indices
attach to the whole name), and a moment block as ``E(...)`` and
``{\\mathbb{E}^{(k_1,...)}}``:

>>> K = Contraction.from_graph([1, 2, 1], [[0, 1], [2]], [(0, 2), (1, 1)])
>>> K
[G_a kappa(grad l, grad^2 l)_a,bb]
>>> sympy.latex(K)
'G_{a} {\\\\kappa^{(1,2)}}_{a;b b}'

As the base of a power, a contraction of several factors or indices is
parenthesized, so that ``(G_a G_b H_ab)^2`` is not read as ``G_a G_b H_ab^2``:

>>> sympy.latex(GHG**2)
'\\\\left(G_{a} G_{b} H_{a b}\\\\right)^{2}'
"""

from __future__ import annotations

import itertools
import numbers
import string
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import sympy
from sympy import AtomicExpr, S
from sympy.printing.precedence import PRECEDENCE
from sympy.tensor.array import NDimArray
from sympy.utilities.iterables import multiset_partitions

from ._graphcanon import canonical_order
from ._sympify import expression, refuse_text
from .errors import InputTypeError, MissingStatisticError, NonFiniteError, ShapeError

__all__ = ["Contraction", "contractions_in", "collect_contractions", "evaluate_expr",
           "lookup_statistic", "statistic_name"]

_MEAN_NAMES = {0: "l", 1: "G", 2: "H", 3: "J", 4: "K"}
_CUMULANT_NAMES = {(1, 1): "C", (1, 1, 1): "S"}
_LETTERS = string.ascii_lowercase
#: Printing precedence of a contraction with several factors or indices: tighter than a
#: product (no brackets as a factor) and looser than a power (brackets as a base).
_COMPOUND_PRECEDENCE = (PRECEDENCE["Mul"] + PRECEDENCE["Pow"]) // 2


def _ints(seq, what):
    refuse_text(seq, what)
    if not isinstance(seq, Iterable):
        raise InputTypeError(f"{what} must be a sequence of integers, got {seq!r}")
    out = []
    for x in seq:
        refuse_text(x, f"an entry of {what}")
        if isinstance(x, bool) or not isinstance(x, (numbers.Integral, sympy.Integer)):
            raise InputTypeError(f"{what} must hold integers, got {x!r}")
        out.append(int(x))
    return tuple(out)


def _validate(degrees, blocks, edges, free, moments):
    degrees = _ints(degrees, "degrees")
    n = len(degrees)
    if any(k < 0 for k in degrees):
        raise ShapeError(f"degrees must be non-negative, got {degrees}")
    refuse_text(blocks, "blocks")
    blocks = tuple(_ints(b, "blocks") for b in blocks)
    seen = sorted(i for b in blocks for i in b)
    if seen != list(range(n)) or any(not b for b in blocks):
        raise ShapeError(f"blocks {blocks} must partition the nodes 0..{n - 1} into non-empty parts")
    refuse_text(edges, "edges")
    edges = tuple(_ints(e, "edges") for e in edges)
    if any(len(e) != 2 for e in edges):
        raise ShapeError(f"every edge must be a pair of nodes, got {edges}")
    free = _ints(free, "free")
    used = [0] * n
    for a, b in edges:
        if not (0 <= a < n and 0 <= b < n):
            raise ShapeError(f"edge {(a, b)} names a node outside 0..{n - 1}")
        used[a] += 1
        used[b] += 1
    for f in free:
        if not 0 <= f < n:
            raise ShapeError(f"free slot on node {f} outside 0..{n - 1}")
        used[f] += 1
    if tuple(used) != degrees:
        raise ShapeError(f"slots used {tuple(used)} do not match the degrees {degrees}")
    moments = frozenset(_ints(moments, "moments"))
    if any(not 0 <= m < len(blocks) for m in moments):
        raise ShapeError(f"moment block indices {sorted(moments)} out of range")
    return degrees, blocks, edges, free, moments


@lru_cache(maxsize=200_000)
def _canonical(degrees, blocks, edges, free, moments):
    """The canonical data ``(degrees, blocks, edges, free, kinds)`` of a contraction graph."""
    n = len(degrees)
    group = [0] * n
    for g, b in enumerate(blocks):
        for i in b:
            group[i] = g
    adj = [[0] * n for _ in range(n)]
    loops = [0] * n
    for a, b in edges:
        if a == b:
            loops[a] += 1
        else:
            adj[a][b] += 1
            adj[b][a] += 1
    free_at = [tuple(p for p, f in enumerate(free) if f == i) for i in range(n)]
    colors = [(degrees[i], loops[i], free_at[i], len(blocks[group[i]]), group[i] in moments)
              for i in range(n)]
    order = canonical_order(colors, adj, group)
    pos = {v: p for p, v in enumerate(order)}
    new_blocks = sorted((tuple(sorted(pos[i] for i in b)), g in moments)
                        for g, b in enumerate(blocks))
    return (tuple(degrees[v] for v in order),
            tuple(b for b, _ in new_blocks),
            tuple(sorted(tuple(sorted((pos[a], pos[b]))) for a, b in edges)),
            tuple(pos[f] for f in free),
            tuple(int(m) for _, m in new_blocks))


class Contraction(AtomicExpr):
    """A contracted product of joint cumulants (or moments) of derivatives of ``l_x``.

    Build one with :meth:`from_graph`; the stored data are canonical.

    Attributes:
        degrees: the number of slots of each node (canonical order).
        blocks: the blocks as sorted tuples of nodes.
        edges: sorted pairs of nodes.
        free: the free slots (node of each), in order.
        kinds: per block, 0 for a cumulant and 1 for a moment.
    """

    is_commutative = True
    is_number = False
    __slots__ = ("degrees", "blocks", "edges", "free", "kinds")

    def __new__(cls, degrees, blocks, edges, *, free=(), moments=()):
        data = _canonical(*_validate(degrees, blocks, edges, free, moments))
        obj = AtomicExpr.__new__(cls)
        obj.degrees, obj.blocks, obj.edges, obj.free, obj.kinds = data
        return obj

    @classmethod
    def from_graph(cls, degrees, blocks, edges, *, free=(), moments=()) -> "Contraction":
        """The contraction of a graph.

        Args:
            degrees: slots per node (node ``i`` is ``grad^{degrees[i]} l_x``).
            blocks: a partition of the nodes; each block is one joint cumulant.
            edges: pairs ``(i, j)`` contracting a slot of ``i`` with one of ``j``.
            free: nodes carrying a free (vector) slot, in order.
            moments: indices into ``blocks`` of the blocks that are joint
                moments rather than cumulants.

        >>> Contraction.from_graph([1], [[0]], [], free=[0])
        G^a
        """
        return cls(degrees, blocks, edges, free=free, moments=moments)

    def __getnewargs_ex__(self):
        moments = tuple(i for i, k in enumerate(self.kinds) if k)
        return (self.degrees, self.blocks, self.edges), {"free": self.free, "moments": moments}

    def __getstate__(self):
        return None

    def __setstate__(self, state):
        return None

    def _hashable_content(self):
        return (self.degrees, self.blocks, self.edges, self.free, self.kinds)

    def sort_key(self, order=None):
        return (self.class_key(), (len(self.edges), self._hashable_content()),
                S.One.sort_key(), S.One)

    @property
    def free_symbols(self):
        return set()

    # ----------------------------------------------------------- structure
    @property
    def n_nodes(self) -> int:
        """The number of nodes."""
        return len(self.degrees)

    @property
    def order(self) -> int:
        """The power of ``eta`` it carries: edges plus free slots."""
        return len(self.edges) + len(self.free)

    @property
    def rank(self) -> int:
        """The number of free slots (0 for a scalar)."""
        return len(self.free)

    @property
    def precedence(self) -> int:
        """Printing precedence: an atom for the loss ``l``, else between product and power."""
        return PRECEDENCE["Atom"] if self.degrees == (0,) and not any(self.kinds) \
            else _COMPOUND_PRECEDENCE

    def statistics(self) -> tuple[tuple[int, ...], ...]:
        """The statistics it needs: per block, the degrees of its nodes (cumulant keys).

        >>> Contraction.from_graph([1, 1, 2], [[0, 1], [2]], [(0, 2), (1, 2)]).statistics()
        ((1, 1), (2,))
        """
        return tuple(tuple(self.degrees[i] for i in b) for b in self.blocks)

    def to_cumulants(self):
        """The same quantity with every moment block written in joint cumulants.

        ``E[X_1...X_m] = sum over set partitions pi of prod_{B in pi} kappa(X_B)``.

        >>> m = Contraction.from_graph([1, 1], [[0, 1]], [(0, 1)], moments=[0])
        >>> m
        [E(grad l, grad l)_a,a]
        >>> m.to_cumulants()
        [G G] + [tr C]
        """
        moment_blocks = [b for b, k in zip(self.blocks, self.kinds) if k]
        if not moment_blocks:
            return self
        fixed = [b for b, k in zip(self.blocks, self.kinds) if not k]
        total = S.Zero
        for choice in itertools.product(*(multiset_partitions(list(b)) for b in moment_blocks)):
            blocks = fixed + [p for parts in choice for p in parts]
            total += Contraction(self.degrees, blocks, self.edges, free=self.free)
        return total

    # ------------------------------------------------------------ evaluation
    def einsum_spec(self, *, metric: bool = False):
        """An einsum recipe: ``(subscripts, operands)``.

        ``operands`` lists statistic keys (tuples of degrees, one per block)
        and, when ``metric`` is true, the string ``'metric'`` once per edge and
        free slot.
        """
        letters = iter(_LETTERS + string.ascii_uppercase)
        slots = [[] for _ in self.degrees]
        terms, operands, out = [], [], []
        for a, b in self.edges:
            x = next(letters)
            if metric:
                y = next(letters)
                terms.append(x + y)
                operands.append("metric")
                slots[a].append(x)
                slots[b].append(y)
            else:
                slots[a].append(x)
                slots[b].append(x)
        for f in self.free:
            x = next(letters)
            if metric:
                y = next(letters)
                terms.append(y + x)
                operands.append("metric")
                slots[f].append(x)
                out.append(y)
            else:
                slots[f].append(x)
                out.append(x)
        block_terms = []
        for b in self.blocks:
            block_terms.append("".join(s for i in b for s in slots[i]))
        subscripts = ",".join(block_terms + terms) + "->" + "".join(out)
        return subscripts, list(self.statistics()) + operands

    def evaluate(self, stats, *, metric=None):
        """The value on given statistics.

        Args:
            stats: a callable ``stats(k1, ..., km)`` returning the cumulant
                array of rank ``k1 + ... + km`` (axes grouped by argument), such
                as a landscape's ``cumulant`` method, or a mapping from degree
                tuples to arrays.  SymPy arrays give exact values, numpy arrays
                floats.
            metric: an optional matrix inserted on every edge and free slot
                (the learning rate as an inverse metric); ``None`` for the
                identity (scalar ``eta`` factored out).

        >>> import numpy as np
        >>> stats = {(1,): np.array([1.0, 2.0]), (2,): np.eye(2) * 3}
        >>> float(Contraction.from_graph([1, 2, 1], [[0], [1], [2]], [(0, 1), (1, 2)]).evaluate(stats))
        15.0
        """
        if any(self.kinds):
            return evaluate_expr(self.to_cumulants(), stats, metric=metric)
        subscripts, keys = self.einsum_spec(metric=metric is not None)
        arrays = [metric if key == "metric" else lookup_statistic(stats, key) for key in keys]
        exact = any(isinstance(a, (sympy.NDimArray, sympy.MatrixBase)) for a in arrays)
        arrays = [_as_array(a, exact) for a in arrays]
        _check_shapes(subscripts, arrays)
        if exact:
            value = np.einsum(subscripts, *arrays) if arrays else np.array(1, dtype=object)
            if getattr(value, "ndim", 0):
                return sympy.ImmutableDenseNDimArray(
                    [sympy.expand(v) for v in np.ravel(value)], value.shape)
            return sympy.expand(expression(value[()] if isinstance(value, np.ndarray) else value,
                                           "the contraction's value"))
        import opt_einsum
        for a in arrays:
            if not np.all(np.isfinite(a)):
                raise NonFiniteError("statistics contain NaN or infinity")
        return opt_einsum.contract(subscripts, *arrays)

    # -------------------------------------------------------------- printing
    def _block_name(self, g: int) -> str:
        return statistic_name(tuple(self.degrees[i] for i in self.blocks[g]), moment=self.kinds[g])

    def _index_form(self, latex: bool):
        """Index notation: lower indices are edges (each letter twice), upper ones free slots.

        A named statistic lists its indices in one group; a general cumulant or
        moment block lists them per argument of positive degree (separated by
        ``;`` in LaTeX, ``,`` in text), so each index shows its argument.
        """
        letters = iter(_LETTERS)
        low = [[] for _ in self.degrees]
        up = [[] for _ in self.degrees]
        for a, b in self.edges:
            x = next(letters)
            low[a].append(x)
            low[b].append(x)
        for f in self.free:
            up[f].append(next(letters))
        join = " " if latex else ""
        factors = []
        for g, b in enumerate(self.blocks):
            named = self.kinds[g] == 0 and (len(b) == 1 or self.statistics()[g] in _CUMULANT_NAMES)
            if named:
                sub, sup = (join.join(x for i in b for x in idx[i]) for idx in (low, up))
            else:
                sep = ";" if latex else ","
                sub, sup = (sep.join(join.join(idx[i]) for i in b if self.degrees[i])
                            if any(idx[i] for i in b) else "" for idx in (low, up))
            name = self._block_latex(g) if latex else self._block_name(g)
            if latex:
                factors.append(name + (f"_{{{sub}}}" if sub else "") + (f"^{{{sup}}}" if sup else ""))
            else:
                factors.append(name + (f"_{sub}" if sub else "") + (f"^{sup}" if sup else ""))
        return " ".join(factors)

    def _block_latex(self, g: int) -> str:
        """The block's LaTeX name; a name with a superscript is braced to take indices."""
        key = tuple(self.degrees[i] for i in self.blocks[g])
        if self.kinds[g]:
            return r"{\mathbb{E}^{(" + ",".join(map(str, key)) + ")}}"
        if len(key) == 1:
            return _MEAN_NAMES.get(key[0], rf"(\nabla^{{{key[0]}}} l)")
        if key in _CUMULANT_NAMES:
            return _CUMULANT_NAMES[key]
        return r"{\kappa^{(" + ",".join(map(str, key)) + ")}}"

    @classmethod
    def class_key(cls):
        return 10, 0, cls.__name__

    def _sympystr(self, printer) -> str:
        text = _shorthand(self) or self._index_form(latex=False)
        return f"[{text}]" if " " in text else text

    def _latex(self, printer) -> str:
        return self._index_form(latex=True)

    def _sympyrepr(self, printer) -> str:
        moments = tuple(i for i, k in enumerate(self.kinds) if k)
        return (f"Contraction({self.degrees}, {self.blocks}, {self.edges}, free={self.free}"
                + (f", moments={moments})" if moments else ")"))


def _grad(k: int) -> str:
    return "l" if k == 0 else "grad l" if k == 1 else f"grad^{k} l"


def statistic_name(key: tuple[int, ...], *, moment: bool = False) -> str:
    """The text name of the statistic with degree tuple ``key`` (a joint cumulant, or moment).

    >>> statistic_name((1, 1)), statistic_name((1, 2)), statistic_name((1, 1), moment=True)
    ('C', 'kappa(grad l, grad^2 l)', 'E(grad l, grad l)')
    """
    key = _ints(key, "key")
    if moment:
        return "E(" + ", ".join(_grad(k) for k in key) + ")"
    if len(key) == 1:
        return _MEAN_NAMES.get(key[0], f"E grad^{key[0]} l")
    if key in _CUMULANT_NAMES:
        return _CUMULANT_NAMES[key]
    return "kappa(" + ", ".join(_grad(k) for k in key) + ")"


def lookup_statistic(stats, key: tuple[int, ...]):
    """The array of the statistic ``key`` (a tuple of derivative degrees) in ``stats``.

    Args:
        stats: a callable ``stats(k1, ..., km)`` (such as ``Landscape.cumulant``)
            or a mapping from degree tuples to arrays.
        key: the degrees, e.g. ``(1, 1)`` for ``C``.

    Raises:
        MissingStatisticError: a mapping without ``key`` (a ``KeyError``).

    >>> lookup_statistic({(1,): [1.0, 2.0]}, (1, 1))
    Traceback (most recent call last):
    ...
    symsgd.errors.MissingStatisticError: no statistic (1, 1) (C) among the given keys [(1,)]
    """
    if callable(stats):
        return stats(*key)
    try:
        return stats[key]
    except KeyError:
        raise MissingStatisticError(f"no statistic {key} ({statistic_name(key)}) among the given "
                                    f"keys {sorted(stats, key=str)}") from None


# ------------------------------------------------------------------ shorthands
def _items(c: Contraction):
    """Split a contraction into chain items, or None when it is not a chain.

    Items: ``G`` (a vector), ``H`` (a matrix), ``C`` (a two-node block: a
    matrix), ``dC`` = ``kappa(grad l, grad^2 l)`` with its first two slots
    contracted (the vector ``grad tr C / 2``).
    """
    names = {}
    for g, b in enumerate(c.blocks):
        key = tuple(c.degrees[i] for i in b)
        if c.kinds[g]:
            return None
        if key == (1,):
            names[b] = "G"
        elif key == (2,):
            names[b] = "H"
        elif key == (1, 1):
            names[b] = "C"
        elif sorted(key) == [1, 2]:
            u, v = (b[0], b[1]) if c.degrees[b[0]] == 1 else (b[1], b[0])
            if (min(u, v), max(u, v)) not in c.edges:
                return None
            names[b] = "dC"
        else:
            return None
    return names


_RANK = {"G": 0, "H": 1, "C": 2, "dC": 3}
_LABEL = {"G": "G", "H": "H", "C": "C", "dC": "(grad tr C)/2"}


def _shorthand(c: Contraction):
    """``G H G``, ``C:H``, ``tr C``, ``G (grad tr C)/2`` for chains of vectors and matrices.

    Of the contractions with free indices only the vector ``(grad tr C)/2``
    has a shorthand (others read well in index form, e.g. ``G_a H_a^b``).
    """
    if c.free:
        names = _items(c) or {}
        return _LABEL["dC"] if len(c.edges) == 1 and list(names.values()) == ["dC"] else None
    if not c.edges:
        return None
    names = _items(c)
    if names is None:
        return None
    block_of = {i: b for b in c.blocks for i in b}
    links = list(c.edges)
    for b, name in names.items():
        if name == "dC":
            links.remove(tuple(sorted(b)))
    items = list(names)
    if len(items) == 1:
        (b,) = items
        return "tr " + _LABEL[names[b]] if names[b] in ("H", "C") and len(links) <= 1 else None
    nbrs = {b: [] for b in items}
    for x, y in links:
        bx, by = block_of[x], block_of[y]
        if bx == by:
            return None
        nbrs[bx].append(by)
        nbrs[by].append(bx)
    ends = [b for b in items if len(nbrs[b]) == 1]
    if any(len(nbrs[b]) not in (1, 2) for b in items) or len(ends) not in (0, 2):
        return None
    if not ends and len(items) == 2:
        return ":".join(sorted((_LABEL[names[b]] for b in items), key=lambda s: s != "C"))
    seq, prev = [ends[0] if ends else items[0]], None
    while len(seq) <= len(items):
        nxt = [x for x in nbrs[seq[-1]] if x != prev]
        if not nxt or (not ends and nxt[0] == seq[0]):
            break
        prev = seq[-1]
        seq.append(nxt[0])
    if len(seq) != len(items):
        return None
    ranks = [_RANK[names[b]] for b in seq]
    if ends:
        best = min(ranks, ranks[::-1])
    else:
        best = min(r[i:] + r[:i] for r in (ranks, ranks[::-1]) for i in range(len(r)))
    inv = {v: k for k, v in _RANK.items()}
    text = " ".join(_LABEL[inv[r]] for r in best)
    return text if ends else f"tr({text})"


# ------------------------------------------------------------------ helpers
def _as_array(a, exact: bool):
    """A statistic as a numpy array: of SymPy objects if ``exact``, else of float64.

    Strings are refused anywhere (an object array of strings would be parsed by
    SymPy or numpy).
    """
    refuse_text(a, "a statistic")
    if exact:
        if isinstance(a, (sympy.NDimArray, sympy.MatrixBase)):
            shape = tuple(a.shape)
            flat = [a[i] for i in itertools.product(*map(range, shape))]
            return np.array(flat + [None], dtype=object)[:-1].reshape(shape)
        arr = np.asarray(a, dtype=object)
        flat = [expression(v, "an entry of a statistic") for v in arr.ravel()]
        return np.array(flat + [None], dtype=object)[:-1].reshape(arr.shape)
    arr = np.asarray(a)
    if arr.dtype.kind in "USV" or (arr.dtype.kind == "O" and any(
            isinstance(v, (str, bytes)) for v in arr.ravel())):
        raise InputTypeError("a statistic holds strings; pass numbers (numpy arrays)")
    if arr.dtype.kind == "O" and not all(isinstance(v, (numbers.Number, sympy.Expr))
                                         for v in arr.ravel()):
        raise InputTypeError(f"a statistic is not numeric: {a!r}")
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise InputTypeError(f"a statistic is not numeric: {a!r}") from error


def _check_shapes(subscripts: str, arrays) -> None:
    inputs = subscripts.split("->")[0].split(",") if arrays else []
    sizes = {}
    for term, arr in zip(inputs, arrays):
        shape = np.shape(arr)
        if len(shape) != len(term):
            raise ShapeError(f"a statistic of rank {len(shape)} where rank {len(term)} is needed")
        for letter, size in zip(term, shape):
            if sizes.setdefault(letter, size) != size:
                raise ShapeError(f"statistics of mismatched dimensions {sizes[letter]} and {size}")


def contractions_in(expr) -> set:
    """The contractions occurring in a SymPy expression or in the entries of a SymPy array.

    >>> import sympy
    >>> G = Contraction.from_graph([1, 1], [[0], [1]], [(0, 1)])
    >>> contractions_in(3 * G + 1) == {G}
    True
    >>> contractions_in(sympy.Array([0, G])) == {G}
    True
    """
    if isinstance(expr, NDimArray):
        return set().union(*(contractions_in(e) for e in expr))
    return set(expression(expr, "expr").atoms(Contraction))


def collect_contractions(expr) -> dict:
    """``{contraction: coefficient}`` for an expression linear in contractions.

    Coefficients are expanded polynomials in the other symbols; terms free of
    contractions are collected under the key ``1``.

    >>> import sympy
    >>> N = sympy.Symbol('N')
    >>> G = Contraction.from_graph([1, 1], [[0], [1]], [(0, 1)])
    >>> collect_contractions(N * G + G / 2)
    {[G G]: N + 1/2}
    """
    out = {}
    for term in sympy.Add.make_args(sympy.expand(expression(expr, "expr"))):
        cs = [f for f in sympy.Mul.make_args(term) if f.has(Contraction)]
        if len(cs) > 1 or (cs and not isinstance(cs[0], Contraction)):
            raise ShapeError(f"{term} is a product of contractions, not linear in them")
        key = cs[0] if cs else S.One
        out[key] = out.get(key, S.Zero) + (term / key if cs else term)
    return {k: sympy.expand(v) for k, v in out.items() if sympy.expand(v) != 0}


def _as_sympy(value):
    """A contraction's value as SymPy: numpy floats become 17-digit Floats, arrays SymPy arrays."""
    if isinstance(value, (np.ndarray, np.generic)):
        if np.ndim(value) == 0:
            return sympy.Float(float(value), 17)
        return sympy.ImmutableDenseNDimArray([sympy.Float(float(v), 17) for v in np.ravel(value)],
                                             np.shape(value))
    return value


def evaluate_expr(expr, stats, *, metric=None):
    """Evaluate every contraction in ``expr`` on ``stats`` (see :meth:`Contraction.evaluate`).

    Products of scalar contractions are allowed (second moments, variances).  An
    expression in contractions with free indices (a vector quantity) must have one
    of them, of one rank, in every term; it evaluates to a SymPy array.

    >>> import numpy as np, sympy
    >>> G = Contraction.from_graph([1, 1], [[0], [1]], [(0, 1)])
    >>> N = sympy.Symbol('N')
    >>> evaluate_expr(N * G, {(1,): np.array([1.0, 2.0])})
    5.0*N
    >>> Gv = Contraction.from_graph([1], [[0]], [], free=[0])
    >>> evaluate_expr(N * Gv * G, {(1,): sympy.Array([1, 2])})
    [5*N, 10*N]
    """
    expr = expression(expr, "expr")
    atoms = contractions_in(expr)
    ranks = {c.rank for c in atoms}
    if ranks - {0}:
        return _evaluate_tensor(expr, stats, metric, ranks - {0})
    values = {c: _as_sympy(c.evaluate(stats, metric=metric)) for c in atoms}
    return sympy.expand(expr.xreplace(values))


def evaluate_coefficients(coefficients, landscape, *, vector: bool = False) -> list:
    """Evaluate a route's coefficients (expressions in contractions) on a landscape's statistics.

    Args:
        coefficients: SymPy expressions in contractions (products allowed for
            scalar quantities).
        landscape: a :class:`~symsgd.Landscape` (its exact cumulants are used).
        vector: the quantity is a vector (contractions with one free index):
            each coefficient becomes a list with one entry per parameter.

    >>> import sympy
    >>> from symsgd.landscapes import shifting_valleys
    >>> G = Contraction.from_graph([1, 1], [[0], [1]], [(0, 1)])
    >>> Gv = Contraction.from_graph([1], [[0]], [], free=[0])
    >>> N = sympy.Symbol('N')
    >>> evaluate_coefficients([N * G], shifting_valleys())
    [5*N]
    >>> evaluate_coefficients([0, -3 * Gv], shifting_valleys(), vector=True)
    [[0, 0], [-3, -6]]
    """
    out = []
    for expr in coefficients:
        value = evaluate_expr(expr, landscape.cumulant)
        if vector:
            value = list(value) if isinstance(value, sympy.NDimArray) \
                else [sympy.expand(value)] * landscape.dim
        out.append(value)
    return out


def _evaluate_tensor(expr, stats, metric, ranks):
    if len(ranks) > 1:
        raise ShapeError(f"contractions of ranks {sorted(ranks)} in one expression")
    parts = []
    for term in sympy.Add.make_args(sympy.expand(expr)):
        tensors = [f for f in sympy.Mul.make_args(term) if isinstance(f, Contraction) and f.rank]
        rest = term / tensors[0] if len(tensors) == 1 else term
        if len(tensors) != 1 or any(c.rank for c in contractions_in(rest)):
            raise ShapeError(f"the term {term} is not one vector contraction times scalars")
        parts.append(_as_sympy(tensors[0].evaluate(stats, metric=metric))
                     * evaluate_expr(rest, stats, metric=metric))
    return sum(parts[1:], parts[0]).applyfunc(sympy.expand)
