"""Values of diagrams for every measure: uvalues and their decorations.

The *uvalue* of a diagram (Tenka A.4.1) is a contraction: every non-root node
with ``k`` children is ``grad^(k+1) l_x``, the root with ``k`` children is
``grad^k`` of the measured function, every block is the joint cumulant of its
nodes (the outline rule), every edge contracts through ``eta`` (the power of
``eta`` is kept outside).  The master formula (Tenka, sections 2.4 and B.3,
with the embedding count of :mod:`symsgd.diagrams.embeddings`)

    [eta^d] E s(theta_T) = sum_D weight(D, schedule) * value_s(D)

holds for every measured function once ``value_s`` is the *decorated* value:

* test loss: the root is a block of its own (a mean);
* training loss ``(1/N) sum_n l_n``: the root is a data node of a point
  drawn from the training set; it either joins one block of ``D`` (the point
  of that block: factor ``1/N``) or stays alone (any point: factor ``1``);
* generalization gap: test minus training loss;
* expected weights: the root has one child, whose slot towards the root
  becomes a free (vector) index -- a loose end;
* second moments (Tenka, section A.7): ``grad^k (s s)`` by Leibniz, i.e.
  the root's children are split in every way between two root factors (each
  decorated as above; two training roots may share a new point: factor
  ``N / N^2``).

Summing decorations labelled (every block, every subset) and dividing by
``|Aut(D)|`` is the sum over decorated diagrams up to symmetry by the
orbit-stabilizer theorem.

The sum itself is the diagram route, :mod:`symsgd.routes.diagrams`.

>>> uvalue(Diagram('*(a, a)'))
C:H
>>> uvalue(Diagram('*(a)'), measure='gap')
-[tr C]/N
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

import sympy
from tqdm.auto import tqdm

from .._graphcanon import connected_groups
from .._progress import _quiet
from .._sympify import expression
from ..errors import InputTypeError, MeasureError, ScheduleError, check_order
from ..measures import root_products
from ..schedule import BaseSchedule
from ..series import Series
from ..tensors import Contraction
from ._canon import set_partitions
from ._errors import DiagramError
from .diagram import Diagram
from .embeddings import count_embeddings
from .enumerate import enumerate_diagrams

__all__ = ["uvalue", "decorated_values", "atom", "Contribution", "contribution_table",
           "contributions_of"]


class Graph(NamedTuple):
    """A decorated diagram as a contraction graph.

    ``degrees`` pairs node ids with slot counts (diagram nodes ``1..d`` keep their
    ids, root factors are ``0`` and ``d + 1``); ``blocks`` partition the data
    and root nodes; ``edges[e]`` is the target of the edge from diagram node
    ``e + 1`` towards the root (``None`` for a loose end: a free slot).
    """

    degrees: tuple
    blocks: tuple
    edges: tuple


def decorated_values(D: Diagram, *, measure: str = "test", moment: int = 1, N=None):
    """The decorations of ``D`` for a measure, as ``(factor, Graph)`` pairs.

    ``value_s(D) = sum factor * contraction(Graph)``; ``factor`` holds the
    powers of ``N`` of training roots and the measure's signs.

    Args:
        D: a diagram.
        measure: ``'test'``, ``'train'``, ``'gap'`` or ``'weights'``.
        moment: 1, or 2 for the second moment (scalar measures).
        N: the number of training points (a number or symbol; default ``N``).

    Raises:
        DiagramError: ``D`` is not a diagram.
        MeasureError: an unknown measure or moment.

    >>> [(f, atom(g)) for f, g in decorated_values(Diagram('*(a)'), measure='gap')]
    [(-1/N, [tr C])]
    """
    if not isinstance(D, Diagram):
        raise DiagramError(f"expected a Diagram, got {type(D).__name__}")
    plan = root_products(measure, moment=moment)
    N = sympy.Symbol("N", integer=True, positive=True) if N is None else expression(N, "N")
    merged = {}
    for sign, kinds in plan:
        for f, g in _decorations(D, kinds, N):
            merged[g] = merged.get(g, sympy.S.Zero) + sign * f
    return [(f, g) for g, f in merged.items() if f != 0]


def _decorations(D: Diagram, kinds: tuple, N):
    d = D.order
    parents, degrees, blocks = D.parents, D.degrees, D.blocks
    kids = D.children[0]
    if kinds == ("weights",):
        if len(kids) != 1:
            return
        degs = tuple((v, degrees[v]) for v in range(1, d + 1))
        edges = tuple(None if parents[v] == 0 else parents[v] for v in range(1, d + 1))
        yield sympy.S.One, Graph(degs, tuple(blocks), edges)
        return
    roots = (0, d + 1)[:len(kinds)]
    for split in itertools.product(range(len(roots)), repeat=len(kids)):
        target = dict(zip(kids, (roots[i] for i in split)))
        degs = tuple(sorted([(v, degrees[v]) for v in range(1, d + 1)]
                            + [(r, split.count(i)) for i, r in enumerate(roots)]))
        edges = tuple(target.get(v, parents[v]) for v in range(1, d + 1))
        train = [r for r, k in zip(roots, kinds) if k == "train"]
        tests = [(r,) for r, k in zip(roots, kinds) if k == "test"]
        for choice in itertools.product(range(-1, len(blocks)), repeat=len(train)):
            new = [r for r, c in zip(train, choice) if c < 0]
            joined = [list(b) for b in blocks]
            for r, c in zip(train, choice):
                if c >= 0:
                    joined[c].append(r)
            for rgs in set_partitions(len(new)):
                groups = [[] for _ in range(max(rgs, default=-1) + 1)]
                for r, g in zip(new, rgs):
                    groups[g].append(r)
                factor = N ** len(groups) / N ** len(train)
                all_blocks = tuple(sorted(tuple(sorted(b)) for b in
                                          joined + tests + groups))
                yield factor, Graph(degs, all_blocks, edges)


def atom(graph: Graph):
    """The contraction of a decorated graph: a product over its connected pieces.

    >>> atom(Graph(((0, 1), (1, 1)), ((0,), (1,)), (0,)))
    [G G]
    """
    if not isinstance(graph, tuple) or len(graph) != 3:
        raise InputTypeError(f"atom needs a Graph (degrees, blocks, edges), got {graph!r}")
    graph = Graph(*graph)
    degrees = dict(graph.degrees)
    links = [(e + 1, t) for e, t in enumerate(graph.edges) if t is not None]
    links += [(b[0], v) for b in graph.blocks for v in b[1:]]
    out = sympy.S.One
    for piece in connected_groups(sorted(degrees), links):
        index = {v: i for i, v in enumerate(piece)}
        out *= Contraction(
            [degrees[v] for v in piece],
            [[index[v] for v in b] for b in graph.blocks if b[0] in index],
            [(index[e + 1], index[t]) for e, t in enumerate(graph.edges)
             if t is not None and e + 1 in index],
            free=[index[e + 1] for e, t in enumerate(graph.edges) if t is None and e + 1 in index])
    return out


def uvalue(D: Diagram, *, measure: str = "test", moment: int = 1, N=None):
    """The uvalue of ``D`` for a measure: a SymPy expression in contractions.

    For the test loss (the default) it is a single
    :class:`~symsgd.tensors.Contraction`.

    >>> uvalue(Diagram('*(a(b))'))
    [G H G]
    >>> uvalue(Diagram('*(a(b))'), measure='weights')
    [G_a H_a^b]
    """
    return sympy.Add(*(f * atom(g) for f, g in
                       decorated_values(D, measure=measure, moment=moment, N=N)))


@dataclass(frozen=True)
class Contribution:
    """One diagram's share of a coefficient: ``weight * value``.

    >>> import sympy
    >>> c = Contribution(Diagram('*(a)'), sympy.Integer(-3), uvalue(Diagram('*(a)')))
    >>> c.term
    -3*[G G]

    Attributes:
        diagram: the diagram.
        weight: ``(-1/B)^d * embeddings / |Aut(D)|`` for the schedule.
        value: its decorated uvalue (contractions).
    """

    diagram: Diagram
    weight: sympy.Expr
    value: sympy.Expr

    def __post_init__(self):
        if not isinstance(self.diagram, Diagram):
            raise DiagramError(f"expected a Diagram, got {type(self.diagram).__name__}")
        object.__setattr__(self, "weight", expression(self.weight, "weight"))
        object.__setattr__(self, "value", expression(self.value, "value"))

    @property
    def term(self):
        """``weight * value``.

        >>> Contribution(Diagram('*'), sympy.S.One, uvalue(Diagram('*'))).term
        l
        """
        return self.weight * self.value


def contribution_table(schedule: BaseSchedule, order: int, measure: str, moment: int,
                       progress: bool | None) -> list:
    """The :class:`Contribution` of every diagram with at most ``order`` edges, by power of ``eta``.

    The schedule and the order are checked here; the measure, moment and progress flag
    are taken as valid (the public entries check them:
    :func:`symsgd.routes.diagrams.contributions` and :func:`contributions_of`).
    Entry ``k`` lists every diagram with ``k`` edges that embeds into the
    schedule and has a non-zero decorated value.

    >>> from symsgd.schedule import sgd
    >>> [c.diagram.text() for c in contribution_table(sgd(3), 2, 'test', 1, False)[2]]
    ['*(a, a)', '*(a, b)', '*(a(b))']
    """
    if not isinstance(schedule, BaseSchedule):
        raise ScheduleError(f"expected a schedule, got {type(schedule).__name__}")
    order = check_order(order)
    N = sympy.sympify(schedule.N, strict=True)
    B = sympy.sympify(schedule.batch, strict=True)
    diagrams = [D for d in range(order + 1) for D in enumerate_diagrams(d)]
    out = [[] for _ in range(order + 1)]
    bar = tqdm(total=len(diagrams), desc="diagrams", leave=False,
               disable=_quiet(progress, order < 5))
    for D in diagrams:
        bar.update()
        if measure == "weights" and D.n_children[0] != 1:
            continue
        count = count_embeddings(D, schedule)
        if count == 0:
            continue
        value = sympy.Add(*(f * atom(g) for f, g in
                            decorated_values(D, measure=measure, moment=moment, N=N)))
        if value == 0:
            continue
        w = (-1 / B) ** D.order * count / D.n_automorphisms
        out[D.order].append(Contribution(D, w, value))
    bar.close()
    return out


def contributions_of(series: Series, k: int) -> tuple:
    """The diagrams behind the coefficient of ``eta**k`` of a series, whatever route derived it.

    Returns the :class:`Contribution` of every diagram with ``k`` edges that
    embeds into the series' schedule: its weight (embeddings over
    automorphisms, times ``(-1/B)^k``) and its decorated uvalue, a
    contraction.  Their terms add up to the symbolic coefficient; evaluated on
    a landscape's statistics, to the coefficient of a series derived on it.

    Args:
        series: a :class:`~symsgd.Series` that records its schedule, measure
            and moment (every route's result does).
        k: the power of ``eta``.

    Raises:
        InputTypeError: ``series`` is not a Series.
        OrderError: ``k`` outside ``0..series.order``.
        MeasureError, ScheduleError: the series records no measure or no schedule
            (built by hand, or a combination of series).

    >>> import sympy
    >>> from symsgd import expected_loss, sgd
    >>> N = sympy.Symbol('N', integer=True, positive=True)
    >>> s = expected_loss(sgd(N), 2, method='direct')
    >>> [(c.diagram.text(), c.weight, c.value) for c in contributions_of(s, 2)]
    [('*(a, a)', N/2, C:H), ('*(a, b)', N**2/2, [G H G]), ('*(a(b))', N**2/2 - N/2, [G H G])]
    >>> sympy.expand(sum(c.term for c in contributions_of(s, 2)) - s.coeff(2))
    0
    """
    if not isinstance(series, Series):
        raise InputTypeError(f"contributions_of takes a Series, got {type(series).__name__}")
    series.coeff(k)
    if series.measure is None:
        raise MeasureError("this series does not record its measure (built by hand, or a "
                           "combination of series): no diagrams to list")
    if not isinstance(series.schedule, BaseSchedule):
        raise ScheduleError("this series does not record its schedule (built by hand, or a "
                            "combination of series): no diagrams to list")
    root_products(series.measure, moment=series.moment)
    return tuple(contribution_table(series.schedule, k, series.measure, series.moment, False)[k])
