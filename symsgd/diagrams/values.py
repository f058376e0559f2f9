"""Values of diagrams and the diagram expansion of every measured quantity.

The *uvalue* of a diagram (Tenka A.4.1) is a contraction: every non-root node
with ``k`` children is ``grad^(k+1) l_x``, the root with ``k`` children is
``grad^k`` of the measured function, every block is the joint cumulant of its
nodes (the outline rule), every edge contracts through ``eta`` (the power of
``eta`` is kept outside).  The master formula (``../shared/THEORY.md``)

    [eta^d] E s(theta_T) = sum_D weight(D, schedule) * value_s(D)

holds for every measured function once ``value_s`` is the *decorated* value:

* test loss: the root is a block of its own (a mean);
* training loss ``(1/N) sum_n l_n``: the root is a data node of a point
  drawn from the training set; it either joins one block of ``D`` (the point
  of that block: factor ``1/N``) or stays alone (any point: factor ``1``);
* generalization gap: test minus training loss;
* expected weights: the root has one child, whose slot towards the root
  becomes a free (vector) index -- a loose end;
* second moments: ``grad^k (s s)`` by Leibniz, i.e. the root's children are
  split in every way between two root factors (each decorated as above; two
  training roots may share a new point: factor ``N / N^2``).

Summing decorations labelled (every block, every subset) and dividing by
``|Aut(D)|`` is the sum over decorated diagrams up to symmetry by the
orbit-stabilizer theorem.

>>> import sympy
>>> from symsgd.schedule import sgd
>>> N = sympy.Symbol('N', integer=True, positive=True)
>>> uvalue(Diagram('*(a, a)'))
C:H
>>> diagram_expansion(sgd(N), 2)
[l, -N*[G G], N*(2*N - 1)*[G H G]/2 + N*C:H/2]
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

import sympy
from tqdm.auto import tqdm

from .._progress import _quiet
from .._graphcanon import connected_groups
from ..errors import check_order
from ..measures import root_products
from ..schedule import BaseSchedule
from ..tensors import Contraction, evaluate_coefficients
from .diagram import Diagram, DiagramError
from .embeddings import count_embeddings
from .enumerate import enumerate_diagrams, set_partitions

__all__ = ["uvalue", "decorated_values", "diagram_expansion", "contributions", "Contribution"]


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


def decorated_values(D: Diagram, measure: str = "test", moment: int = 1, N=None):
    """The decorations of ``D`` for a measured quantity, as ``(factor, Graph)`` pairs.

    ``value_s(D) = sum factor * contraction(Graph)``; ``factor`` holds the
    powers of ``N`` of training roots and the measure's signs.

    Args:
        D: a diagram.
        measure: ``'test'``, ``'train'``, ``'gap'`` or ``'weights'``.
        moment: 1, or 2 for the second moment (scalar measures).
        N: the number of training points (a number or symbol; default ``N``).

    >>> [(f, atom(g)) for f, g in decorated_values(Diagram('*(a)'), 'gap')]
    [(-1/N, [tr C])]
    """
    if not isinstance(D, Diagram):
        raise DiagramError(f"expected a Diagram, got {type(D).__name__}")
    plan = root_products(measure, moment)
    N = sympy.Symbol("N", integer=True, positive=True) if N is None else sympy.sympify(N)
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


def uvalue(D: Diagram, measure: str = "test", moment: int = 1, N=None):
    """The uvalue of ``D`` for a measured quantity: a SymPy expression in contractions.

    For the test loss (the default) it is a single
    :class:`~symsgd.tensors.Contraction`.

    >>> uvalue(Diagram('*(a(b))'))
    [G H G]
    >>> uvalue(Diagram('*(a(b))'), 'weights')
    [G_a H_a^b]
    """
    return sympy.Add(*(f * atom(g) for f, g in decorated_values(D, measure, moment, N)))


@dataclass(frozen=True)
class Contribution:
    """One diagram's share of a coefficient: ``weight * value``.

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

    @property
    def term(self):
        """``weight * value``."""
        return self.weight * self.value


def contributions(schedule: BaseSchedule, order: int, measure: str = "test", moment: int = 1,
                  progress: bool | None = None) -> list:
    """The diagrams that contribute to each coefficient, with weights and values.

    Returns a list indexed by the power of ``eta``; entry ``k`` lists the
    :class:`Contribution` of every diagram with ``k`` edges that embeds into
    the schedule and has a non-zero value.

    >>> from symsgd.schedule import sgd
    >>> [(c.diagram.text(), c.weight, c.value) for c in contributions(sgd(3, epochs=2), 2)[2]]
    [('*(a, a)', 6, C:H), ('*(a, b)', 18, [G H G]), ('*(a(a))', 3, [G (grad tr C)/2]), ('*(a(b))', 15, [G H G])]
    """
    order = check_order(order)
    if not isinstance(schedule, BaseSchedule):
        raise TypeError(f"schedule must be a symsgd schedule, got {type(schedule).__name__}")
    root_products(measure, moment)
    N = sympy.sympify(schedule.N)
    B = sympy.sympify(schedule.batch)
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
        value = sympy.Add(*(f * atom(g) for f, g in decorated_values(D, measure, moment, N)))
        if value == 0:
            continue
        w = (-1 / B) ** D.order * count / D.n_automorphisms
        out[D.order].append(Contribution(D, w, value))
    bar.close()
    return out


def _collect(terms):
    acc = defaultdict(lambda: sympy.S.Zero)
    for coeff, value in terms:
        for term in sympy.Add.make_args(sympy.expand(value)):
            c, atoms = [], []
            for f in sympy.Mul.make_args(term):
                (atoms if f.atoms(Contraction) else c).append(f)
            acc[sympy.Mul(*atoms)] += coeff * sympy.Mul(*c)
    out = []
    for a, c in acc.items():
        c = sympy.factor(sympy.together(c))
        if c != 0:
            out.append(c * a)
    return sympy.Add(*out)


def diagram_expansion(schedule: BaseSchedule, order: int, measure: str = "test",
                      moment: int = 1, progress: bool | None = None) -> list:
    """The coefficients of ``eta^0..eta^order`` of ``E[s(theta_T)^moment]`` from diagrams.

    Args:
        schedule: any schedule, with numeric or symbolic sizes.
        order: the highest power of ``eta``.
        measure: ``'test'``, ``'train'``, ``'gap'`` or ``'weights'``.
        moment: 1 for the mean, 2 for the second moment.
        progress: show a progress bar (default: only for long runs).

    Returns:
        A list of SymPy expressions linear in contractions (or in products of
        two, for second moments), coefficients factored; rank-1 contractions
        for ``'weights'``.

    >>> from symsgd.schedule import gd
    >>> diagram_expansion(gd(3, steps=2), 1, 'train')
    [l, -2*[G G] - 2*[tr C]/3]
    """
    table = contributions(schedule, order, measure, moment, progress)
    return [_collect((c.weight, c.value) for c in row) for row in table]


def diagrams_route(schedule, order, landscape, quantity, moment, progress):
    """The ``'diagrams'`` route of :data:`symsgd.expansion.METHODS`.

    Without a landscape the coefficients are expressions in contractions
    (rank-1 contractions for ``'weights'``); with one they are evaluated on
    its exact cumulants (lists of components for ``'weights'``).

    >>> from symsgd.landscapes import mean_estimation
    >>> from symsgd.schedule import sgd
    >>> diagrams_route(sgd(2), 2, mean_estimation(init=1), 'weights', 1, False)
    [[0], [-2], [1]]
    """
    coefficients = diagram_expansion(schedule, order, quantity, moment, progress)
    if landscape is None:
        return coefficients
    return evaluate_coefficients(coefficients, landscape, vector=quantity == "weights")
