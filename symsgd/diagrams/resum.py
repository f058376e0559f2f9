"""The resummed (rvalue, linkless) form of the diagram expansion: Tenka's Theorem 1.

A *link* is a non-root node with one child, alone in its block: it evaluates to
``H``.  In an embedding, a link at time ``s`` may sit in any of the ``B`` cells
of batch ``s`` (a singleton block has no row constraint), which cancels the
``1/B`` of the edge it adds.  Contracting the links of every diagram onto its
linkless representative (orbit-stabilizer turns ``1/|Aut|`` of the long
diagrams into ``1/|Aut|`` of the short one), the chains of ``k`` links between
a child at time ``t`` and its parent at time ``t'`` (the root at ``T``) sum to
``sum_k binomial(t' - t - 1, k) (-eta H)^k eta / (-B)``, so that, exactly for
every ``T`` and every batch size ``B``::

    E s(theta_T) = sum over linkless (decorated) diagrams D of
                   factor(D) (-1/B)^d / |Aut(D)| * sum over embeddings f of rvalue_f(D),

where ``rvalue_f(D)`` contracts the cumulants of ``uvalue(D)`` with the
propagator ``(I - eta H)^(t' - t - 1) eta`` on every edge instead of ``eta``
(Tenka, Theorem 1, sections A.4.2 and B.5).  The embeddings of ``D`` are summed as time
assignments weighted by their row count: the product over blocks of the
number of points in every batch that the block's nodes occupy.  Keeping the
linkless diagrams with at most ``d`` edges gives a function of ``eta`` whose
Taylor expansion agrees with the order-``d`` series.

For the training loss and the generalization gap the decorated diagrams
(a training root joined to a block) are the ones that must be linkless: a
node whose block the root joins is no link.

Two evaluations:

* exact (:attr:`Resummed.expr`): a polynomial in ``eta`` with rational
  coefficients, from the landscape's exact statistics and exact matrix powers
  (small ``T``);
* numeric (calling a :class:`Resummed`): float64, in an eigenbasis of ``H``.
  On GD, single-epoch SGD and several epochs in a fixed order each term's sum
  over embeddings is a walk on its lattice of placed times, in closed form
  (:mod:`symsgd.diagrams._transfer`: ``log2 T`` matrix products, cost flat in
  ``T``); with uniform reshuffling, walks over epochs of walks over phases, the
  expected row counts summed over which blocks share a point
  (:mod:`symsgd.diagrams._reshuffle`, also flat in ``T``, and no enumeration of the
  points' orders).  A seeded reshuffle's batches are arbitrary: it uses one sweep
  over time in which every edge carries a geometric filter ``b(t + 1) = (1 - eta
  lambda) b(t) + eta f(t)`` (cost linear in ``T``, the size of the schedule itself).
  ``propagator='exponential'`` replaces ``(1 - eta lambda)^(t'-t-1)`` by
  ``exp(-eta lambda (t' - t))`` (the exponential of Remark 1, with the sums over time
  kept); ``propagator='integral'`` is all of Remark 1: the exponential, and integrals
  over continuous times for the sums (GD, single-epoch SGD, and several epochs in a
  fixed order or reshuffled, with continuous phases; the space-time density is in
  :mod:`symsgd.diagrams._integrals`).  Both differ from the discrete form at
  relative order ``eta``.

The ``T -> infinity`` form (Tenka, Theorem 2) is :meth:`Resummed.asymptote`, with
:meth:`Resummed.limit` and :meth:`Resummed.velocity`; ``moment=2`` gives second
moments (two roots at ``T``).

Build one with :func:`symsgd.resummed_loss` or :func:`symsgd.resummed_displacement`:

>>> from symsgd import resummed_loss, sgd
>>> from symsgd.landscapes import mean_estimation
>>> r = resummed_loss(sgd(3), 2, landscape=mean_estimation(init=1))
>>> r
Resummed(test loss, sgd(N=3, batch=1, epochs=1, reshuffle='fixed'), order=2, 5 terms)

On this quadratic landscape with Gaussian noise the linkless diagrams with two
edges are all there is: ``r.expr`` is the exact expected loss, a polynomial of
degree ``2T``.

>>> r.expr
eta**6 - 5*eta**5 + 11*eta**4 - 13*eta**3 + 9*eta**2 - 3*eta + 1/2
>>> r.series(2)
Series(1/2 - 3*eta + 9*eta**2 + O(eta**3))
>>> print(f"{float(r(0.1)):.6f}")
0.278051
"""

from __future__ import annotations

import functools
import itertools
import string
import warnings
from collections import Counter
from dataclasses import KW_ONLY, dataclass, field

import numpy as np
import opt_einsum
import sympy
from sympy import QQ
from sympy.polys.rings import ring

from ..errors import (GrowthWarning, InputTypeError, LandscapeError, MeasureError, MethodError,
                      NonFiniteError, OrderError, ScheduleError, StabilityError, check_order)
from .._sympify import expression, no_text
from ..measures import NAMES, root_products
from ..landscape import Landscape
from ..statistics import NumericStatistics
from ..schedule import BaseSchedule, SGDSchedule
from ..series import ETA, Series
from ._errors import DiagramError
from ._integrals import Continuum, continuum
from ._reshuffle import Reshuffled, reshuffle_asymptote, reshuffle_walk
from ._transfer import (epochs_asymptote, epochs_walk, term_asymptote, term_integral, transfer,
                        walk)
from .diagram import Diagram
from .enumerate import enumerate_diagrams
from .values import decorated_values

__all__ = ["Resummed", "rvalue_terms", "RTerm", "PROPAGATORS"]

#: Edge propagators of the numeric evaluation.
PROPAGATORS = ("discrete", "exponential", "integral")

_LETTERS = string.ascii_letters
_RING, _ETA = ring("eta", QQ)


@dataclass(frozen=True)
class RTerm:
    """One linkless decorated diagram of the resummed expansion (see :func:`rvalue_terms`).

    >>> term = rvalue_terms(1, 'test', 1, 3)[1]
    >>> term.diagram, term.factor, term.subscripts(eigen=False)
    (Diagram('*(a)'), -1, 'b,a,ab->')

    Attributes:
        diagram: the linkless diagram ``D``.
        factor: ``(-1/B)^d / |Aut(D)|`` times the decoration's factor.
        parents: for each data node ``1..d``, the node its edge reaches
            (``0`` the root; ``None`` a loose end, which ends at time ``T``).
        rows: for each data node, the index of its block among the data blocks.
        blocks: the cumulant blocks, as ``(degrees, slots)``: the derivative
            order of each node in the block, and the einsum letters of their slots.
        edges: for each data node, the letters ``(child slot, parent slot)``
            of its edge (``None`` for the parent slot of a loose end).
    """

    diagram: Diagram
    factor: sympy.Rational
    parents: tuple
    rows: tuple
    blocks: tuple
    edges: tuple

    def __post_init__(self):
        if not isinstance(self.diagram, Diagram):
            raise DiagramError(f"expected a Diagram, got {type(self.diagram).__name__}")
        d = self.diagram.order
        if not (len(self.parents) == len(self.rows) == len(self.edges) == d):
            raise DiagramError(f"a term of a diagram with {d} edges needs {d} parents, rows, edges")
        if any(p is not None and not 0 <= p < v for v, p in enumerate(self.parents, start=1)):
            raise DiagramError(f"parents {self.parents} must precede their children")

    @property
    def order(self) -> int:
        """The number of edges: the power of ``eta`` of the diagram's uvalue."""
        return self.diagram.order

    @functools.cached_property
    def children(self) -> tuple:
        """The data nodes whose edge reaches each node ``0..d`` (loose ends count for 0)."""
        kids = [[] for _ in range(self.order + 1)]
        for v, p in enumerate(self.parents, start=1):
            kids[0 if p is None else p].append(v)
        return tuple(tuple(k) for k in kids)

    def subscripts(self, eigen: bool) -> str:
        """The einsum subscripts of the value: block tensors, then per edge either the
        propagator matrix (``eigen=False``) or the two eigenvector matrices of its
        ends (``eigen=True``, output: one eigen index per edge, then the free index)."""
        terms = [slots for _, slots in self.blocks]
        used = set("".join(terms))
        spare = iter(c for c in _LETTERS if c not in used)
        free = ""
        out = ""
        for child, parent in self.edges:
            if eigen:
                i = next(spare)
                out += i
                terms.append(child + i)
                if parent is None:
                    free = next(spare)
                    terms.append(free + i)
                else:
                    terms.append(parent + i)
            else:
                if parent is None:
                    free = next(spare)
                terms.append(child + (parent or free))
        return ",".join(terms) + "->" + out + free


def _graph_links(graph) -> bool:
    """Whether a decorated graph has a link: a data node with one child, alone in its block."""
    kids = Counter(t for t in graph.edges if t is not None)
    alone = {b[0] for b in graph.blocks if len(b) == 1}
    return any(kids[v] == 1 and v in alone for v in range(1, len(graph.edges) + 1))


def rvalue_terms(order: int, measure: str, batch, N, *, moment: int = 1) -> tuple:
    """The linkless decorated diagrams with at most ``order`` edges, as :class:`RTerm` s.

    Args:
        order: the highest number of edges (a power of ``eta``).
        measure: ``'test'``, ``'train'``, ``'gap'`` or ``'weights'``.
        batch: the batch size ``B``.
        N: the number of training points (for the training-root factors).
        moment: 1 for the mean, 2 for the second moment (scalar measures): two roots
            at time ``T``, both numbered ``0`` in :attr:`RTerm.parents`.

    Raises:
        OrderError: an order that is negative or beyond 16.
        MeasureError: an unknown measure, or a moment it does not have.

    >>> [(t.diagram.text(), t.factor) for t in rvalue_terms(2, 'test', 1, 3)]
    [('*', 1), ('*(a)', -1), ('*(a, a)', 1/2), ('*(a, b)', 1/2), ('*(a(a))', 1)]
    """
    if check_order(order) > 16:
        raise OrderError(f"order {order} is beyond the resummed expansion's reach (16)")
    root_products(measure, moment=moment)
    batch = expression(batch, "batch")
    only_linkless = measure in ("test", "weights")
    out = []
    for d in range(order + 1):
        for D in enumerate_diagrams(d, linkless=only_linkless):
            for f, g in decorated_values(D, measure=measure, moment=moment, N=N):
                if not only_linkless and _graph_links(g):
                    continue
                out.append(_term(D, g, (-sympy.Integer(1) / batch) ** d / D.n_automorphisms * f))
    return tuple(out)


def _term(D: Diagram, graph, factor) -> RTerm:
    d = D.order
    degrees = dict(graph.degrees)
    letters = iter(_LETTERS)
    slots = {u: "" for u in degrees}
    edges = []
    for v, target in enumerate(graph.edges, start=1):
        child = next(letters)
        slots[v] = child + slots[v]
        parent = None
        if target is not None:
            parent = next(letters)
            slots[target] += parent
        edges.append((child, parent))
    blocks = tuple((tuple(degrees[u] for u in b), "".join(slots[u] for u in b))
                   for b in graph.blocks)
    data_blocks = [b for b in graph.blocks if any(1 <= u <= d for u in b)]
    row = {u: i for i, b in enumerate(data_blocks) for u in b if 1 <= u <= d}
    parents = tuple(0 if t == d + 1 else t for t in graph.edges)      # both roots at T
    return RTerm(D, sympy.Rational(factor), parents, tuple(row[v] for v in range(1, d + 1)),
                 blocks, tuple(edges))


# -- the schedule's space-time ---------------------------------------------------

def _memberships(schedule: BaseSchedule) -> tuple:
    """``(probability, membership matrix M[t, n])`` for every realization."""
    out = []
    for p, s in schedule.realizations():
        M = np.zeros((s.T, s.N))
        for t, b in enumerate(s.batches):
            M[t, list(b)] = 1.0
        out.append((p, M))
    return tuple(out)


def _time_assignments(term: RTerm, T: int):
    """Every strictly increasing time assignment of the data nodes (root and loose ends at ``T``)."""
    d = term.order
    times = [T] + [0] * d

    def place(v):
        if v > d:
            yield tuple(times[1:])
            return
        p = term.parents[v - 1]
        for t in range(times[0 if p is None else p]):
            times[v] = t
            yield from place(v + 1)

    yield from place(1)


def _lags(term: RTerm, memberships, T: int) -> dict:
    """``{edge lags: summed row counts}``: the embeddings grouped by the time
    differences of their edges, averaged over the schedule's realizations."""
    out: dict = {}
    n_rows = max(term.rows, default=-1) + 1
    for times in _time_assignments(term, T):
        count = sympy.Integer(0)
        for p, M in memberships:
            rows = np.ones((n_rows, M.shape[1]))
            for v, t in enumerate(times):
                rows[term.rows[v]] *= M[t]
            count += p * int(np.prod(rows.sum(axis=1)))
        if count:
            lags = tuple((times[p - 1] if p else T) - t for p, t in zip(term.parents, times))
            out[lags] = out.get(lags, 0) + count
    return out


# -- exact evaluation ----------------------------------------------------------------

def _entries(array) -> tuple:
    """The entries of a SymPy array (or a scalar) in row-major order, and its shape."""
    if not isinstance(array, sympy.NDimArray):
        return [expression(array, "a statistic")], ()
    shape = tuple(array.shape)
    return [array[i] for i in itertools.product(*map(range, shape))], shape


def _exact_array(array, what: str) -> np.ndarray:
    entries, shape = _entries(array)
    flat = []
    for x in entries:
        if not x.is_Rational:
            raise LandscapeError(f"the exact resummed value needs rational statistics; "
                                 f"{what} has the entry {x}")
        flat.append(_RING(QQ(int(x.p), int(x.q))))
    return np.array(flat + [None], dtype=object)[:-1].reshape(shape)


def _exact_total(terms, landscape: Landscape, schedule: BaseSchedule, vector: bool):
    """The resummed sum as a list (one entry, or one per parameter) of ``QQ[eta]`` elements."""
    P, T = landscape.dim, schedule.T
    memberships = _memberships(schedule)
    stats = {}
    identity = _exact_array(sympy.ImmutableDenseNDimArray(sympy.eye(P)), "I")
    times_eta = np.frompyfunc(lambda a: a * _ETA, 1, 1)
    step = identity - times_eta(_exact_array(landscape.H, "H"))
    powers = [times_eta(identity)]
    total = np.array([_RING.zero] * (P if vector else 1), dtype=object)
    for term in terms:
        tensors = []
        for degrees, _ in term.blocks:
            if degrees not in stats:
                stats[degrees] = _exact_array(landscape.cumulant(*degrees), f"kappa{degrees}")
            tensors.append(stats[degrees])
        if any(all(x == 0 for x in a.flat) for a in tensors):     # a zero block: a zero term
            continue
        inputs, output = term.subscripts(eigen=False).split("->")
        names = inputs.split(",")
        scalar = QQ(int(term.factor.p), int(term.factor.q))       # blocks with no slots
        for name, a in zip(names, tensors):                       # (a childless root)
            if not name:
                scalar = scalar * a[()]
        kept = [(n, a) for n, a in zip(names, tensors) if n]
        subscripts = ",".join([n for n, _ in kept] + names[len(tensors):]) + "->" + output
        for lags, count in _lags(term, memberships, T).items():
            while len(powers) < max(lags, default=0):
                powers.append(powers[-1].dot(step))
            edges = [powers[k - 1] for k in lags]
            value = _exact_einsum(subscripts, [a for _, a in kept] + edges)
            total = total + np.reshape(value, (-1,)) * (QQ(int(count.p), int(count.q)) * scalar)
    return list(total)


def _exact_einsum(subscripts: str, operands: list):
    """``np.einsum`` on object arrays, one connected piece at a time (NumPy's pairwise
    contraction breaks on a piece that contracts to a scalar, as the second root's
    subtree does in a second moment); the pieces' values multiply."""
    inputs, output = subscripts.split("->")
    names = inputs.split(",") if inputs else []
    pieces = []                                   # [(letters, operand indices)]
    for i, name in enumerate(names):
        joined = [p for p in pieces if p[0] & set(name)]
        letters, members = set(name), [i]
        for p in joined:
            pieces.remove(p)
            letters |= p[0]
            members += p[1]
        pieces.append((letters, members))
    value, order = np.array(_RING.one, dtype=object), ""
    for letters, members in pieces:
        out = "".join(c for c in output if c in letters)
        part = np.einsum(",".join(names[i] for i in sorted(members)) + "->" + out,
                         *(operands[i] for i in sorted(members)), optimize="greedy")
        value = np.multiply.outer(value, np.asarray(part, dtype=object)) if out else \
            value * part
        order += out
    return np.transpose(value, [order.index(c) for c in output]) if output else value


# -- numeric evaluation ----------------------------------------------------------------

def _sweep(term: RTerm, memberships, discrete: bool, steps, eta) -> np.ndarray:
    """``R[eta, i_1, ..., i_d]``: the row-weighted sum over time assignments of the
    product of edge propagators, edge ``v`` taken at eigenvalue index ``i_v``.

    ``steps[eta, i]`` is the one-step factor of the
    propagator; the discrete form updates ``b(t+1) = steps b(t) + eta f(t)``,
    the exponential one ``b(t+1) = steps (b(t) + eta f(t))``."""
    d = term.order
    E = eta.shape[0]
    ones = np.ones(E)
    kids = term.children
    sub = [[v] for v in range(d + 1)]
    members = Counter(term.rows)
    inside = [Counter() for _ in range(d + 1)]
    for v in range(d, 0, -1):
        inside[v][term.rows[v - 1]] += 1
        p = term.parents[v - 1]
        p = 0 if p is None else p
        sub[p] += sub[v]
        inside[p] += inside[v]
    row_label = lambda b: d + 1 + b  # noqa: E731
    labels = [None] + [[0] + sorted(sub[v]) + [row_label(b) for b in sorted(inside[v])
                                               if inside[v][b] < members[b]]
                       for v in range(1, d + 1)]
    position = [None] + [labels[v].index(v) for v in range(1, d + 1)]
    total = np.zeros((E,) + (steps.shape[1],) * d)
    for p, M in memberships:
        T, N = M.shape
        state = [None] + [np.zeros([E if a == 0 else N if a > d else steps.shape[1]
                                    for a in labels[v]]) for v in range(1, d + 1)]
        factors = [None] + [steps.reshape([E if a == 0 else steps.shape[1] if a == v else 1
                                           for a in labels[v]]) for v in range(1, d + 1)]
        for t in range(T):
            flows = [None] * (d + 1)
            for v in range(d, 0, -1):
                operands = [ones, [0], M[t], [row_label(term.rows[v - 1])]]
                for c in kids[v]:
                    operands += [state[c], labels[c]]
                out = [a for a in labels[v] if a != v]
                flows[v] = np.expand_dims(np.einsum(*operands, out, optimize=True), position[v]) \
                    * eta.reshape((E,) + (1,) * (len(labels[v]) - 1))
            for v in range(1, d + 1):
                state[v] = factors[v] * state[v] + flows[v] if discrete else \
                    factors[v] * (state[v] + flows[v])
        operands = [ones, [0]]
        for c in kids[0]:
            operands += [state[c], labels[c]]
        total = total + float(p) * np.einsum(*operands, list(range(d + 1)))
    return total


def _homogeneous(schedule):
    """The schedule's space-time if every step is alike (GD, single-epoch SGD), else ``None``."""
    try:
        return continuum(schedule)
    except ScheduleError:
        return None


def _epochs(schedule):
    """``(epochs, steps per epoch, batch)`` of SGD over several epochs in a fixed order
    (not full-batch), else ``None``."""
    if isinstance(schedule, SGDSchedule) and schedule.is_concrete and schedule.epochs > 1 \
            and schedule.reshuffle == "fixed" and schedule.batch < schedule.N:
        return int(schedule.epochs), int(schedule.N // schedule.batch), int(schedule.batch)
    return None


def _reshuffled(schedule):
    """The :class:`Reshuffled` space-time of SGD over several epochs with uniform reshuffling
    (not full-batch), else ``None``."""
    if isinstance(schedule, SGDSchedule) and schedule.is_concrete and schedule.epochs > 1 \
            and schedule.reshuffle == "random" and schedule.batch < schedule.N:
        N, B = int(schedule.N), int(schedule.batch)
        return Reshuffled(int(schedule.epochs), N // B, B, N)
    return None


def _space(schedule):
    """The schedule's space-time for the closed forms (a :class:`Continuum`, ``(epochs,
    steps, batch)`` of a fixed order, or :class:`Reshuffled`), else ``None`` (a seeded
    reshuffle: its batches are arbitrary, summed by the sweep)."""
    return _homogeneous(schedule) or _epochs(schedule) or _reshuffled(schedule)


def _closed(term: RTerm, space, eta, K, *, stay=None, end=None, rates=None) -> np.ndarray:
    """``R[eta, i_1, ..., i_d]`` in closed form, at the eigenvalue indices where ``K`` is not
    zero (zero elsewhere): on a homogeneous space-time (a :class:`Continuum`) a walk of
    ``T`` steps on the term's lattice by repeated squaring, over several epochs in a
    fixed order (``(epochs, steps, batch)``) a sum of walks over epochs and phases
    (:mod:`._transfer`), with uniform reshuffling (:class:`Reshuffled`) walks over epochs
    of walks over phases (:mod:`._reshuffle`, the expected row counts included).  The
    discrete and exponential propagators give the edges' factors ``stay`` and ``end``; the
    integral one their ``rates`` ``eta lambda``."""
    d, E = term.order, eta.shape[0]
    if d == 0:
        return np.ones(E)
    P = (stay if rates is None else rates).shape[1]
    R = np.zeros((E,) + (P,) * d)
    index = _support(K, d)
    factors = dict(rates=rates[:, index]) if rates is not None else \
        dict(stay=stay[:, index], end=end[:, index])
    if isinstance(space, Continuum):
        if rates is not None:
            value = term_integral(term, space.tied, factors["rates"], space.T)
        else:
            W = transfer(term, space.tied, factors["stay"], factors["end"])
            value = None if W is None else walk(W, space.T)
    elif isinstance(space, Reshuffled):
        value = reshuffle_walk(term, space.epochs, space.steps, space.batch, space.points,
                               **factors)
    else:
        epochs, steps, _ = space
        value = epochs_walk(term, epochs, steps, **factors)
    if value is not None:
        R[(slice(None),) + tuple(index.T)] = value * _weight(term, _rows(space), eta)[:, None]
    return R


def _term_asymptote(term: RTerm, space, stay, end, logstay):
    """``(coefficients of T^k, bad)`` of a term's closed form as ``T -> infinity`` (more
    steps, or more epochs of ``M`` steps: ``T = E M``), or ``None`` (no embedding)."""
    if isinstance(space, Continuum):
        return term_asymptote(term, space.tied, stay, end, logstay)
    if isinstance(space, Reshuffled):
        steps = space.steps
        found = reshuffle_asymptote(term, steps, space.batch, space.points, stay=stay,
                                    end=end, logstay=logstay)
    else:
        _, steps, _ = space
        found = epochs_asymptote(term, steps, stay=stay, end=end, logstay=logstay)
    if found is None:
        return None
    coefficients, bad = found                                  # powers of E = T / M
    return coefficients / float(steps) ** np.arange(coefficients.shape[-1]), bad


def _rows(space) -> int:
    """The row count per data block that a space-time's walks leave out: the batch (or
    ``N`` for GD), or 1 where the walks include the expected counts (reshuffling)."""
    if isinstance(space, Continuum):
        return space.rows
    if isinstance(space, Reshuffled):
        return 1
    _, _, batch = space
    return batch


def _weight(term: RTerm, rows, eta) -> np.ndarray:
    """``eta^d rows^blocks``: the edges' ``eta`` and each data block's row count (or
    density), which every walk of the term leaves out."""
    return eta ** term.order * float(rows) ** (max(term.rows, default=-1) + 1)


def _propagator(rate, discrete: bool):
    """An edge's ``(stay, end)`` factors at ``rate = eta lambda``: ``(1 - rate, 1)`` for the
    discrete propagator, ``(exp(-rate), exp(-rate))`` for the exponential one."""
    stay = 1.0 - rate if discrete else np.exp(-rate)
    return stay, np.ones_like(stay) if discrete else stay


def _support(K: np.ndarray, d: int) -> np.ndarray:
    """``(M, d)``: the eigenvalue indices of the edges where ``K`` (with its trailing
    parameter axis, if any) is not zero."""
    return np.argwhere(np.any(K.reshape(K.shape[:d] + (-1,)) != 0, axis=-1))


# -- the result -------------------------------------------------------------------------

@dataclass(frozen=True)
class Resummed:
    """The resummed prediction of ``E s(theta_T)`` from linkless diagrams with at most
    ``order`` edges (Tenka's Theorem 1, truncated).

    Call it on learning rates (a number or an array) for float64 values; for
    ``measure='weights'`` the values are displacements ``E theta_T - theta_0``
    with a trailing axis of length ``P``.  :attr:`expr` is the exact
    polynomial in :attr:`eta` (rational statistics, discrete propagator) and
    :meth:`series` its Taylor expansion.

    Build one with :func:`symsgd.resummed_loss` or :func:`symsgd.resummed_displacement`
    (they check their arguments first).

    >>> from symsgd import sgd
    >>> from symsgd.landscapes import mean_estimation
    >>> r = Resummed(sgd(2), mean_estimation(init=1), 1, measure='weights')
    >>> r.expr, r.label
    ([eta**2 - 2*eta], 'weight displacement')

    Attributes:
        schedule: a concrete schedule.
        landscape: the landscape whose statistics at the initialization are used.
        order: the highest number of edges of a linkless diagram kept (the order in ``eta``
            of the series it agrees with).
        measure: ``'test'``, ``'train'``, ``'gap'`` or ``'weights'``.
        moment: 1 for the mean, 2 for the second moment ``E s(theta_T)^2`` (scalar
            measures).
        propagator: ``'discrete'`` (exact), ``'exponential'`` (Remark 1's
            exponential, sums over times kept) or ``'integral'`` (Remark 1:
            exponential and integrals over times; GD, single-epoch SGD, several epochs
            in a fixed order or with uniform reshuffling).
        eta: the learning-rate symbol of :attr:`expr`.
        terms: the :class:`RTerm` s summed (built from the others).
    """

    schedule: BaseSchedule
    landscape: Landscape
    order: int
    _: KW_ONLY
    measure: str = "test"
    moment: int = 1
    propagator: str = "discrete"
    eta: sympy.Symbol = ETA
    terms: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.schedule, BaseSchedule):
            raise InputTypeError(f"schedule must be a symsgd schedule, "
                                 f"got {type(self.schedule).__name__}")
        if not self.schedule.is_concrete:
            raise ScheduleError(f"the resummed form sums over the embeddings into a concrete "
                                f"space-time; {self.schedule} has symbolic sizes")
        if not isinstance(self.landscape, (Landscape, NumericStatistics)):
            raise LandscapeError("the resummed form needs a landscape (its statistics at the "
                                 f"initialization), got {type(self.landscape).__name__}")
        if self.propagator not in PROPAGATORS:
            raise MethodError(f"propagator must be one of {PROPAGATORS}, got {self.propagator!r}")
        if self.propagator == "integral" and _space(self.schedule) is None:
            continuum(self.schedule)
        if not isinstance(self.eta, sympy.Symbol):
            raise InputTypeError(f"eta must be a SymPy Symbol, got {type(self.eta).__name__}")
        terms = rvalue_terms(self.order, self.measure, self.schedule.batch, self.schedule.N,
                             moment=self.moment)
        object.__setattr__(self, "order", int(self.order))
        object.__setattr__(self, "terms", terms)

    @property
    def label(self) -> str:
        """What is predicted in words, e.g. ``'test loss'`` (from :attr:`measure`).

        >>> from symsgd import resummed_displacement, sgd
        >>> from symsgd.landscapes import mean_estimation
        >>> resummed_displacement(sgd(2), 1, landscape=mean_estimation(init=1)).label
        'weight displacement'
        """
        name = NAMES[self.measure]
        return name if self.moment == 1 else f"second moment of the {name}"

    @property
    def _vector(self) -> bool:
        return self.measure == "weights"

    @functools.cached_property
    def expr(self):
        """The exact resummed prediction: a polynomial in :attr:`eta` (a SymPy array of
        them for ``'weights'``), with rational coefficients.

        The embeddings are listed one time assignment at a time (about ``T^order``
        of them): meant for small ``T``; call the object for large ``T``."""
        if self.propagator != "discrete":
            raise MethodError("the exact form uses the discrete propagator; "
                              "build the Resummed with propagator='discrete'")
        if not isinstance(self.landscape, Landscape):
            raise LandscapeError("the exact form needs a symbolic Landscape with rational "
                                 f"statistics; {type(self.landscape).__name__} has float ones "
                                 "(call the Resummed on learning rates instead)")
        total = _exact_total(self.terms, self.landscape, self.schedule, self._vector)
        values = [p.as_expr(self.eta) for p in total]
        return sympy.ImmutableDenseNDimArray(values) if self._vector else values[0]

    def series(self, order: int) -> Series:
        """The Taylor expansion of :attr:`expr` to ``eta**order``.

        Up to :attr:`order` it equals the diagram expansion's series.

        Args:
            order: the highest power of ``eta`` kept.

        >>> from symsgd import resummed_loss, sgd
        >>> from symsgd.landscapes import mean_estimation
        >>> r = resummed_loss(sgd(2), 1, landscape=mean_estimation(init=1))
        >>> r.series(1).coefficients, r.series(3).coefficients
        ((1/2, -2), (1/2, -2, 1, 0))
        """
        order = check_order(order)
        values = list(self.expr) if self._vector else [self.expr]
        polys = [sympy.Poly(v, self.eta) for v in values]
        coeffs = []
        for k in range(order + 1):
            c = [p.coeff_monomial(self.eta ** k) for p in polys]
            coeffs.append(sympy.ImmutableDenseNDimArray(c) if self._vector else c[0])
        return Series(tuple(coeffs), eta=self.eta, measure=self.measure, moment=self.moment,
                      schedule=self.schedule, method="diagrams (resummed)")

    @functools.cached_property
    def _numeric(self):
        """``(eigenvalues of H, [(factor, term, K)] for the non-zero terms)``: ``K`` is the
        term's cumulants contracted with the eigenvectors of its edges' ends.  An entry
        below ``1e-12`` of the same contraction of absolute values (the bound on its
        rounding, with room for thousands of summands) is an exact zero's rounding and is
        set to zero: eigenvectors of a rotated ``H`` and float cumulants leave ``1e-17``
        there, which would let a flat direction the term does not reach grow with ``T``."""
        H = _floats(self.landscape.H, "H").reshape(self.landscape.dim, self.landscape.dim)
        lam, U = np.linalg.eigh(H)
        blocks = functools.lru_cache(maxsize=None)(functools.partial(_block, self.landscape))
        kept = []
        for term in self.terms:
            operands = [blocks(degrees) for degrees, _ in term.blocks]
            if any(not np.any(a) for parts in operands for a, _ in parts):
                continue
            K = _contract(term, operands, U)
            size = _contract(term, [[(np.abs(a), axes) for a, axes in parts]
                                    for parts in operands], np.abs(U))
            K[np.abs(K) <= 1e-12 * size] = 0.0
            if np.any(K):
                kept.append((float(term.factor), term, K))
        return lam, kept

    @functools.cached_property
    def _memberships(self):
        return _memberships(self.schedule)

    def __call__(self, lr) -> np.ndarray:
        """The prediction at the numeric learning rates ``lr`` (float64, shape of ``lr``,
        plus ``(P,)`` for ``'weights'``).

        Raises:
            InputTypeError: learning rates that are not numbers (a string, ...).
            NonFiniteError: a learning rate that is NaN or infinite.
            LandscapeError: statistics that are not numbers.

        >>> from symsgd import resummed_loss, sgd
        >>> from symsgd.landscapes import mean_estimation
        >>> r = resummed_loss(sgd(3), 2, landscape=mean_estimation(init=1))
        >>> r([0.0, 0.1]).round(6)
        array([0.5     , 0.278051])
        """
        rates = _rates(lr)
        flat = rates.reshape(-1)
        lam, kept = self._numeric
        space = _space(self.schedule)
        sweep = closed = None
        if self.propagator == "integral":
            closed = functools.partial(_closed, space=space, eta=flat,
                                       rates=flat[:, None] * lam[None, :])
        else:
            discrete = self.propagator == "discrete"
            steps, end = _propagator(flat[:, None] * lam[None, :], discrete)
            sweep = functools.partial(_sweep, discrete=discrete, steps=steps, eta=flat)
            if space is not None:
                closed = functools.partial(_closed, space=space, stay=steps, end=end, eta=flat)
        out = np.zeros(flat.shape + ((self.landscape.dim,) if self._vector else ()))
        for factor, term, K in kept:
            # several epochs in a fixed order: 2^d pairs of walks against a sweep of T steps,
            # the cheaper (reshuffled: the sweep would visit every order of the points)
            cheap = sweep is not None and (space is None or (
                isinstance(space, tuple) and self.schedule.T <= 4 * 2 ** term.order))
            R = sweep(term, self._memberships) if cheap else closed(term, K=K)
            d = term.order
            out += factor * np.einsum(K, list(range(1, d + 1)) + ([d + 1] if self._vector else []),
                                      R, list(range(d + 1)),
                                      [0] + ([d + 1] if self._vector else []))
        return out.reshape(rates.shape + out.shape[1:])

    def asymptote(self, lr) -> np.ndarray:
        """The polynomial in ``T`` that the prediction approaches as ``T -> infinity``, at the
        learning rates ``lr`` (Tenka, Theorem 2), for the schedule's family: GD on its
        ``N`` points; single-epoch SGD with its batch on fresh points at every step; SGD
        over several epochs (in a fixed order or uniformly reshuffled) with more epochs of
        the same ``N`` points, at the ends of epochs (``T`` a multiple of ``N / B``).  The
        schedule's number of steps is ignored.

        Returns ``coefficients[..., k]``, multiplying ``T^k`` (shape ``lr.shape + (K,)``,
        then ``(P,)`` for ``'weights'``), highest powers that cancel across the diagrams
        (to rounding: ``1e-9`` of the largest diagram's coefficient) removed.  Directions of
        zero curvature (eigenvalues of ``H`` within ``8 P`` machine epsilons of the largest,
        the accuracy of the eigensolver, are taken as zero) make it grow: linearly on a
        valley of minima, see :meth:`velocity`; :meth:`limit` is the constant.

        Raises:
            StabilityError: a diagram's edges reach a direction that does not decay:
                negative curvature, or (discrete propagator) ``lr >= 2/lambda``; no
                polynomial describes it.
            MeasureError: the training loss or the gap of single-epoch SGD, whose
                training set grows with ``T``.
            ScheduleError: a seeded reshuffle or explicit batches (no family to extend).
            MethodError: the integral propagator.
            InputTypeError, NonFiniteError: learning rates that are not finite numbers.

        >>> from symsgd import resummed_loss, gd
        >>> from symsgd.landscapes import mean_estimation
        >>> r = resummed_loss(gd(2, steps=5), 2, landscape=mean_estimation(init=1))
        >>> r.asymptote([0.1, 0.5]).round(12)      # C / (2 H N): the empirical mean's loss
        array([[0.25],
               [0.25]])
        """
        rates = _rates(lr)
        flat = rates.reshape(-1)
        space = _space(self.schedule)
        if self.propagator == "integral":
            raise MethodError("the T -> infinity form is taken with the discrete or the "
                              "exponential propagator, not 'integral'")
        if space is None:
            raise ScheduleError(f"the T -> infinity form extends a schedule family (GD, "
                                f"single-epoch SGD, or more epochs in a fixed order or "
                                f"uniformly reshuffled); {self.schedule} has arbitrary batches")
        if isinstance(space, Continuum) and space.tied and self.measure in ("train", "gap"):
            raise MeasureError(f"single-epoch SGD takes T -> infinity with its training set "
                               f"(N = {space.rows} T), so the {self.label} tends to the test "
                               f"loss's behaviour (the gap to zero); ask for the test loss, or "
                               f"use GD on a fixed training set")
        lam, kept = self._numeric
        lam = np.where(np.abs(lam) <= 8 * lam.size * np.finfo(float).eps * np.abs(lam).max(),
                       0.0, lam)
        discrete = self.propagator == "discrete"
        rate = flat[:, None] * lam[None, :]
        stay, end = _propagator(rate, discrete)
        # log(stay) without rounding 1 - eta lambda first (NaN where stay <= 0)
        logstay = np.where(rate < 1.0, np.log1p(-np.where(rate < 1.0, rate, 0.0)), np.nan) \
            if discrete else -rate
        tail = (self.landscape.dim,) if self._vector else ()
        parts = [np.zeros(flat.shape + (1,) + tail)]
        for factor, term, K in kept:
            d = term.order
            if d == 0:
                parts.append(factor * np.broadcast_to(K, flat.shape + tail)[:, None])
                continue
            index = _support(K, d)
            found = _term_asymptote(term, space, stay[:, index], end[:, index],
                                    logstay[:, index])
            if found is None:
                continue
            coefficients, bad = found                         # (E, M, degree), (E, M)
            if np.any(bad):
                raise StabilityError(_no_asymptote(term, flat[np.any(bad, axis=-1)], lam,
                                                   discrete))
            Kz = K[tuple(index.T)]                             # (M,) or (M, P)
            scale = factor * _weight(term, _rows(space), flat)
            parts.append(scale.reshape((-1, 1) + (1,) * len(tail)) * np.einsum(
                coefficients, [0, 1, 2], Kz, [1] + ([3] if self._vector else []),
                [0, 2] + ([3] if self._vector else [])))
        width = max(p.shape[1] for p in parts)
        parts = [np.concatenate([p, np.zeros((p.shape[0], width - p.shape[1]) + tail)], axis=1)
                 for p in parts]
        total = np.sum(parts, axis=0)
        scale = np.max(np.abs(parts), axis=0)
        degree = width
        while degree > 1 and np.all(np.abs(total[:, degree - 1]) <= 1e-9 * scale[:, degree - 1]):
            degree -= 1
        total = total[:, :degree]
        return total.reshape(rates.shape + total.shape[1:])

    def limit(self, lr) -> np.ndarray:
        """The ``T -> infinity`` value of the prediction at the learning rates ``lr``: the
        constant of :meth:`asymptote` (Tenka, Theorem 2).

        Raises:
            StabilityError: the prediction has no limit at some rate: it grows in ``T``
                along a zero-curvature direction (see :meth:`velocity`), or a direction
                with ``|1 - lr lambda| >= 1`` that the diagrams' edges reach.
            ScheduleError, InputTypeError, NonFiniteError: as for :meth:`asymptote`.

        >>> from symsgd import resummed_loss, sgd
        >>> from symsgd.landscapes import mean_estimation
        >>> r = resummed_loss(sgd(2), 2, landscape=mean_estimation(init=1))
        >>> print(f"{float(r.limit(0.1)):.6f}")     # eta C / (2 (2 - eta H)) at H = C = 1
        0.026316
        """
        return self._power(lr, 0, "limit")

    def velocity(self, lr) -> np.ndarray:
        """The linear growth rate per step of the prediction as ``T -> infinity``: on a valley
        of minima, the drift velocity (Tenka, Corollary 4); zero where it has a limit.

        It is the coefficient of ``T`` in :meth:`asymptote`.  Higher powers of ``T`` are
        reported with a :class:`~symsgd.errors.GrowthWarning` and the rate returned: they
        may be real (a second moment of a drift) or a truncated expansion's, which the next
        orders cancel (HELIX from order 6: a ``T^2`` coefficient of order
        ``eta^(order - 2)``, see ``docs/results.md``).

        Raises:
            StabilityError: a direction that does not decay (negative curvature, or
                ``|1 - lr lambda| >= 1`` with the discrete propagator) that the diagrams'
                edges reach.
            ScheduleError, MethodError, InputTypeError, NonFiniteError: as for
                :meth:`asymptote`.

        >>> from symsgd import resummed_displacement, sgd
        >>> from symsgd.landscapes import helix
        >>> v = resummed_displacement(sgd(2), 3, landscape=helix()).velocity(0.01)
        >>> print(f"{v[2] / 0.01**2:.4f}")    # along z: (1/6)/(1 - 2 eta/3)
        0.1678
        """
        return self._power(lr, 1, "velocity")

    def _power(self, lr, k: int, what: str) -> np.ndarray:
        """The coefficient of ``T^k`` of :meth:`asymptote`; higher powers are refused for the
        limit (``k = 0``) and reported with a warning for the velocity."""
        coefficients = self.asymptote(lr)
        axis = -2 if self._vector else -1
        degree = coefficients.shape[axis]
        if degree > k + 1:
            message = (f"the {self.label} grows like T^{degree - 1} at some of lr = "
                       f"{np.asarray(lr, dtype=float).tolist()} (largest coefficient "
                       f"{np.abs(np.take(coefficients, degree - 1, axis=axis)).max():.3g}); "
                       f"see Resummed.asymptote")
            if k == 0:
                raise StabilityError(f"{message}, so it has no {what}")
            warnings.warn(f"{message}: returning the coefficient of T", GrowthWarning,
                          stacklevel=3)
        if degree <= k:
            return np.zeros(np.take(coefficients, 0, axis=axis).shape)
        return np.take(coefficients, k, axis=axis)

    def __repr__(self) -> str:
        extra = "" if self.moment == 1 else f", moment={self.moment}"
        extra += "" if self.propagator == "discrete" else f", propagator={self.propagator!r}"
        return (f"Resummed({self.label}, {self.schedule}, order={self.order}, "
                f"{len(self.terms)} terms{extra})")


def _rates(lr) -> np.ndarray:
    """Learning rates as a float64 array, refused unless numbers and finite."""
    if lr is None:
        raise InputTypeError("lr must be a number or an array of numbers, got None")
    try:
        rates = np.asarray(no_text(lr, "lr"), dtype=np.float64)
    except (TypeError, ValueError) as error:
        if isinstance(error, InputTypeError):
            raise
        raise InputTypeError(f"lr must be a number or an array of numbers, got "
                             f"{lr!r}") from error
    if not np.all(np.isfinite(rates)):
        raise NonFiniteError(f"learning rates must be finite, got {lr!r}")
    return rates


def _no_asymptote(term: RTerm, rates, lam, discrete: bool) -> str:
    """Why a term has no polynomial form as ``T -> infinity`` at these rates."""
    causes = []
    if lam.min() < 0:
        causes.append(f"negative curvature (lambda down to {lam.min():.3g})")
    if discrete and lam.max() > 0:
        causes.append(f"|1 - lr lambda| >= 1 (stable below lr = 2 / lambda_max = "
                      f"{2.0 / lam.max():.6g})")
    return (f"the diagram {term.diagram.text()} has no T -> infinity form at lr = "
            f"{rates.tolist()}: its edges reach a direction that does not decay: "
            f"{' or '.join(causes)}")


def _block(landscape, degrees) -> list:
    """A cumulant block as einsum operands ``[(array, axes)]``: the factors of
    :meth:`~symsgd.Landscape.cumulant_factors` (scalar cumulants over the data's features,
    axes ``('f', i)``, and each node's coefficients, axes ``('f', i), ('n', i, j)``) for a
    :class:`~symsgd.Landscape`, else the cumulant tensor (axes ``('n', i, j)``)."""
    slots = [("n", i, j) for i, k in enumerate(degrees) for j in range(k)]
    if not isinstance(landscape, Landscape):
        return [(_floats(landscape.cumulant(*degrees), f"kappa{degrees}"), slots)]
    kappa, coefficients = landscape.cumulant_factors(*degrees)
    what = f"kappa{degrees}"
    out = [(_floats(kappa, what), [("f", i) for i in range(len(degrees))])]
    for i, (k, C) in enumerate(zip(degrees, coefficients)):
        out.append((_floats(C, what), [("f", i)] + [("n", i, j) for j in range(k)]))
    return out


def _contract(term: RTerm, operands, U) -> np.ndarray:
    """``K[i_1, ..., i_d(, a)]``: the term's blocks (einsum operands from :func:`_block`)
    contracted with the eigenvectors ``U`` at both ends of every edge."""
    subscripts = term.subscripts(eigen=True)
    inputs, output = subscripts.split("->")
    names = inputs.split(",")
    symbols: dict = {}

    def letter(key):
        return symbols.setdefault(key, opt_einsum.get_symbol(len(symbols)))

    for c in output + "".join(names):
        letter(("edge", c))
    parts, arrays = [], []
    for b, ((degrees, slots), block) in enumerate(zip(term.blocks, operands)):
        for array, axes in block:
            parts.append("".join(letter(("edge", slots[_offset(degrees, a)]))
                                 if a[0] == "n" else letter((b,) + a) for a in axes))
            arrays.append(array)
    for name in names[len(term.blocks):]:
        parts.append("".join(letter(("edge", c)) for c in name))
        arrays.append(U)
    spec = ",".join(parts) + "->" + "".join(letter(("edge", c)) for c in output)
    return np.asarray(opt_einsum.contract(spec, *arrays))


def _offset(degrees, axis) -> int:
    """The position in a block's slot letters of node ``i``'s ``j``-th slot."""
    _, i, j = axis
    return sum(degrees[:i]) + j


def _floats(array, what: str) -> np.ndarray:
    if isinstance(array, np.ndarray) and array.dtype != object:
        return np.asarray(array, dtype=np.float64)
    if isinstance(array, np.ndarray):
        try:
            return np.array(array.tolist(), dtype=np.float64).reshape(array.shape)
        except TypeError:
            raise LandscapeError(f"the numeric resummed value needs numeric statistics; "
                                 f"{what} has the entries {array.tolist()}") from None
    entries, shape = _entries(array)
    try:
        return np.array([float(x) for x in entries], dtype=np.float64).reshape(shape)
    except TypeError:
        raise LandscapeError(f"the numeric resummed value needs numeric statistics; "
                             f"{what} is {array}") from None
