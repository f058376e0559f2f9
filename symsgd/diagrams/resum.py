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
* numeric (calling a :class:`Resummed`): float64, in an eigenbasis of ``H``,
  with one sweep over time in which every edge carries a geometric filter
  ``b(t + 1) = (1 - eta lambda) b(t) + eta f(t)``.  No division occurs, so
  zero and repeated eigenvalues need no special care; the cost is linear in
  ``T``.  ``propagator='exponential'`` replaces ``(1 - eta lambda)^(t'-t-1)``
  by ``exp(-eta lambda (t' - t))`` (the exponential of Remark 1, with the
  sums over time kept); ``propagator='integral'`` is all of Remark 1: the
  exponential, and integrals over continuous times in ``[0, T]`` for the sums
  (GD and single-epoch SGD; the space-time density and the integration are
  in :mod:`symsgd.diagrams._integrals`).  Both differ from the discrete form
  at relative order ``eta``.

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
from collections import Counter
from dataclasses import KW_ONLY, dataclass, field

import numpy as np
import opt_einsum
import sympy
from sympy import QQ
from sympy.polys.rings import ring

from ..errors import (InputTypeError, LandscapeError, MethodError, NonFiniteError, OrderError,
                      ScheduleError, StabilityError, check_order)
from .._sympify import expression, no_text
from ..measures import NAMES, root_products
from ..landscape import Landscape
from ..statistics import NumericStatistics
from ..schedule import BaseSchedule
from ..series import ETA, Series
from ._errors import DiagramError
from ._integrals import continuum, integrate
from ._transfer import asymptote, transfer, walk
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


def rvalue_terms(order: int, measure: str, batch, N) -> tuple:
    """The linkless decorated diagrams with at most ``order`` edges, as :class:`RTerm` s.

    Args:
        order: the highest number of edges (a power of ``eta``).
        measure: ``'test'``, ``'train'``, ``'gap'`` or ``'weights'``.
        batch: the batch size ``B``.
        N: the number of training points (for the training-root factors).

    Raises:
        OrderError: an order that is negative or beyond 16.
        MeasureError: an unknown measure.

    >>> [(t.diagram.text(), t.factor) for t in rvalue_terms(2, 'test', 1, 3)]
    [('*', 1), ('*(a)', -1), ('*(a, a)', 1/2), ('*(a, b)', 1/2), ('*(a(a))', 1)]
    """
    if check_order(order) > 16:
        raise OrderError(f"order {order} is beyond the resummed expansion's reach (16)")
    root_products(measure)
    batch = expression(batch, "batch")
    only_linkless = measure in ("test", "weights")
    out = []
    for d in range(order + 1):
        for D in enumerate_diagrams(d, linkless=only_linkless):
            for f, g in decorated_values(D, measure=measure, N=N):
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
    return RTerm(D, sympy.Rational(factor), tuple(graph.edges), tuple(row[v] for v in range(1, d + 1)),
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
        subscripts = term.subscripts(eigen=False)
        for lags, count in _lags(term, memberships, T).items():
            while len(powers) < max(lags, default=0):
                powers.append(powers[-1].dot(step))
            edges = [powers[k - 1] for k in lags]
            value = np.einsum(subscripts, *tensors, *edges, optimize="greedy")
            total = total + np.reshape(value, (-1,)) * (QQ(int(count.p), int(count.q))
                                                         * QQ(int(term.factor.p), int(term.factor.q)))
    return list(total)


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


def _closed(term: RTerm, space, stay, end, eta) -> np.ndarray:
    """``R[eta, i_1, ..., i_d]`` on a homogeneous space-time, in closed form (a walk of
    ``T`` steps on the term's lattice by repeated squaring: :mod:`._transfer`)."""
    d, E, P = term.order, stay.shape[0], stay.shape[1]
    if d == 0:
        return np.ones(E)
    W = transfer(term, space.tied, stay, end)
    if W is None:
        return np.zeros((E,) + (P,) * d)
    blocks = max(term.rows, default=-1) + 1
    scale = eta ** d * float(space.rows) ** blocks
    return walk(W, space.T) * scale.reshape((E,) + (1,) * d)


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
        propagator: ``'discrete'`` (exact), ``'exponential'`` (Remark 1's
            exponential, sums over times kept) or ``'integral'`` (Remark 1:
            exponential and integrals over times; GD and single-epoch SGD).
        eta: the learning-rate symbol of :attr:`expr`.
        terms: the :class:`RTerm` s summed (built from the others).
    """

    schedule: BaseSchedule
    landscape: Landscape
    order: int
    _: KW_ONLY
    measure: str = "test"
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
        if self.propagator == "integral":
            continuum(self.schedule)
        if not isinstance(self.eta, sympy.Symbol):
            raise InputTypeError(f"eta must be a SymPy Symbol, got {type(self.eta).__name__}")
        terms = rvalue_terms(self.order, self.measure, self.schedule.batch, self.schedule.N)
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
        return NAMES[self.measure]

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
        return Series(tuple(coeffs), eta=self.eta, measure=self.measure, moment=1,
                      schedule=self.schedule, method="diagrams (resummed)")

    @functools.cached_property
    def _numeric(self):
        H = _floats(self.landscape.H, "H").reshape(self.landscape.dim, self.landscape.dim)
        lam, U = np.linalg.eigh(H)
        kept = []
        for term in self.terms:
            tensors = [_floats(self.landscape.cumulant(*deg), f"kappa{deg}") for deg, _ in term.blocks]
            ends = [U] * (2 * len(term.edges))
            K = np.asarray(opt_einsum.contract(term.subscripts(eigen=True), *tensors, *ends))
            if np.any(K):
                kept.append((float(term.factor), term, K))
        return lam, kept, _memberships(self.schedule)

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
        lam, kept, memberships = self._numeric
        if self.propagator == "integral":
            space = continuum(self.schedule)
            values = functools.partial(integrate, space=space, lam=lam, eta=flat)
        else:
            discrete = self.propagator == "discrete"
            steps = 1.0 - flat[:, None] * lam[None, :] if discrete \
                else np.exp(-flat[:, None] * lam[None, :])
            space = _homogeneous(self.schedule)
            if space is None:
                values = functools.partial(_sweep, memberships=memberships, discrete=discrete,
                                           steps=steps, eta=flat)
            else:
                values = functools.partial(_closed, space=space, stay=steps,
                                           end=np.ones_like(steps) if discrete else steps,
                                           eta=flat)
        out = np.zeros(flat.shape + ((self.landscape.dim,) if self._vector else ()))
        for factor, term, K in kept:
            R = values(term)
            d = term.order
            out += factor * np.einsum(K, list(range(1, d + 1)) + ([d + 1] if self._vector else []),
                                      R, list(range(d + 1)),
                                      [0] + ([d + 1] if self._vector else []))
        return out.reshape(rates.shape + out.shape[1:])

    def _asymptote(self, lr, what: str):
        """``(limit, velocity)`` at the learning rates ``lr``, summed over the terms."""
        rates = _rates(lr)
        flat = rates.reshape(-1)
        space = _homogeneous(self.schedule)
        if space is None or self.propagator == "integral":
            raise ScheduleError(f"the {what} is taken on a homogeneous schedule family (GD, or "
                                f"single-epoch SGD) with the discrete or exponential "
                                f"propagator; got {self.schedule} ({self.propagator})")
        lam, kept, _ = self._numeric
        discrete = self.propagator == "discrete"
        stay = 1.0 - flat[:, None] * lam[None, :] if discrete \
            else np.exp(-flat[:, None] * lam[None, :])
        end = np.ones_like(stay) if discrete else stay
        tail = (self.landscape.dim,) if self._vector else ()
        limit, velocity = np.zeros(flat.shape + tail), np.zeros(flat.shape + tail)
        for factor, term, K in kept:
            d = term.order
            if d == 0:
                limit += factor * K
                continue
            W = transfer(term, space.tied, stay, end)
            if W is None:
                continue
            value, rate, bad = asymptote(W)
            axes = list(range(1, d + 1))
            weight = np.abs(K).reshape(K.shape[:d] + (-1,)).sum(-1) if self._vector else np.abs(K)
            broken = np.einsum(bad.astype(np.float64), [0] + axes, weight, axes, [0]) > 0
            if np.any(broken):
                raise StabilityError(_no_asymptote(term, flat[broken], lam))
            scale = factor * flat ** d * float(space.rows) ** (max(term.rows, default=-1) + 1)
            out = [0] + ([d + 1] if self._vector else [])
            limit += scale.reshape((-1,) + (1,) * len(tail)) * np.einsum(
                value, [0] + axes, K, axes + ([d + 1] if self._vector else []), out)
            velocity += scale.reshape((-1,) + (1,) * len(tail)) * np.einsum(
                rate, [0] + axes, K, axes + ([d + 1] if self._vector else []), out)
        shape = rates.shape + tail
        return limit.reshape(shape), velocity.reshape(shape)

    def limit(self, lr) -> np.ndarray:
        """The ``T -> infinity`` value of the prediction at the learning rates ``lr`` (Tenka,
        Theorem 2), for the schedule's family: GD on its ``N`` points, or SGD with its batch
        on fresh points at every step (the number of steps is ignored).

        Raises:
            StabilityError: the value has no limit at some rate: it grows linearly in ``T``
                along a zero-curvature direction (see :meth:`velocity`), or a direction
                with ``|1 - lr lambda| >= 1`` (negative curvature, or ``lr >= 2/lambda``)
                that the diagrams' edges reach.
            ScheduleError: a schedule whose steps are not alike (several epochs), or the
                integral propagator.
            InputTypeError, NonFiniteError: learning rates that are not finite numbers.

        >>> from symsgd import resummed_loss, sgd
        >>> from symsgd.landscapes import mean_estimation
        >>> r = resummed_loss(sgd(2), 2, landscape=mean_estimation(init=1))
        >>> print(f"{float(r.limit(0.1)):.6f}")     # eta C / (2 (2 - eta H)) at H = C = 1
        0.026316
        """
        limit, velocity = self._asymptote(lr, "limit")
        moving = np.any(velocity.reshape(velocity.shape[:np.ndim(lr)] + (-1,)) != 0, axis=-1)
        if np.any(moving):
            raise StabilityError(f"the {self.label} grows linearly in T at lr = "
                                 f"{np.asarray(lr, dtype=float)[moving].tolist()} (a valley of "
                                 f"minima); its rate is Resummed.velocity")
        return limit

    def velocity(self, lr) -> np.ndarray:
        """The linear growth rate per step of the prediction as ``T -> infinity``: on a valley
        of minima, the drift velocity (Tenka, Corollary 4); zero where it has a limit.

        Arguments and errors as for :meth:`limit` (but linear growth is its answer).

        >>> from symsgd import resummed_displacement, sgd
        >>> from symsgd.landscapes import helix
        >>> v = resummed_displacement(sgd(1), 3, landscape=helix()).velocity(0.01)
        >>> print(f"{v[2] / 0.01**2:.4f}")    # along z: (1/6)/(1 - 2 eta/3)
        0.1678
        """
        return self._asymptote(lr, "velocity")[1]

    def __repr__(self) -> str:
        extra = "" if self.propagator == "discrete" else f", propagator={self.propagator!r}"
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


def _no_asymptote(term: RTerm, rates, lam) -> str:
    """Why a term has neither a limit nor a linear growth at these rates."""
    bound = 2.0 / lam.max() if lam.max() > 0 else np.inf
    return (f"the diagram {term.diagram.text()} has no T -> infinity limit nor linear growth at "
            f"lr = {rates.tolist()}: its edges reach a direction with |1 - lr lambda| >= 1 "
            f"(curvature {lam.min():.3g} .. {lam.max():.3g}; stable below lr = {bound:.6g}), "
            f"or a valley reached twice (growth faster than linear)")


def _floats(array, what: str) -> np.ndarray:
    if isinstance(array, np.ndarray):
        return np.asarray(array, dtype=np.float64)
    entries, shape = _entries(array)
    try:
        return np.array([float(x) for x in entries], dtype=np.float64).reshape(shape)
    except TypeError:
        raise LandscapeError(f"the numeric resummed value needs numeric statistics; "
                             f"{what} is {array}") from None
