"""The direct route (``method='direct'``): the Key Lemma expanded mechanically, symbolic schedules.

For the measured function ``s`` and SGD steps ``theta <- theta - eta g_t(theta)``
(``g_t`` the mean gradient of batch ``B_t``), write ``f_T = s`` and
``f_t(theta) = f_{t+1}(theta - eta g_t(theta))``, so that ``s(theta_T) = f_0(theta_0)``.
Taylor's theorem gives the Key Lemma (Tenka, section 2.2 and B.2)::

    f_t = sum_d (-eta)^d / d! * g_t^{(x)d} . grad^d f_{t+1},

where ``grad`` does not act on ``g_t`` itself.  To order ``eta^K`` at most
``K`` steps *fire* (``d >= 1``).  This module applies the operator of one
abstract firing step at a time, from the last to the first, to products of
per-step tensors: ``grad`` acting on a product is the product rule, so each of
the ``d`` new factors ``g_t`` attaches to one existing factor (whose derivative
order rises by one).  Identical labelled products are merged after each step.

Then expectations: each factor of step ``t`` is ``(1/B) sum_{n in B_t} grad^k l_n``.
The expectation of a product of per-sample tensors is a sum over set
partitions ``pi`` of the factors of products of joint cumulants, restricted to
partitions whose blocks lie within one sample (moments to cumulants by Moebius
inversion).  Summing over which samples coincide, a block may share a sample
with another block, so the weight of ``pi`` is the number of ways to choose
the firing times ``t_1 < ... < t_m`` and one sample per block lying in every
batch its factors come from::

    W(pi) = sum_{t_1 < ... < t_m} prod_{blocks b} |intersection of B_{t_j}, j in b|

(expected over reshuffles for random schedules).  ``W`` is computed in closed
form for the schedule families -- polynomials in ``N``, ``batch``, ``epochs``
(falling factorials) -- and by enumeration for explicit schedules.

The training loss ``(1/N) sum_n l_n`` is a root factor whose sample may join
a block; the test loss ``l = E l_x`` is a root factor in a block of its own;
the expected weights have a root ``theta`` whose gradient is the identity
(a free index); second moments have two root factors.

>>> import sympy
>>> from symsgd import expected_loss, sgd
>>> N = sympy.Symbol('N', integer=True, positive=True)
>>> expected_loss(sgd(N), 2, method='direct').coeff(2)
N*(N - 1/2)*[G H G] + N*C:H/2
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import defaultdict
from fractions import Fraction

import symengine as se
import sympy
from sympy.utilities.iterables import multiset_partitions
from tqdm.auto import tqdm

from .._graphcanon import canonical_order, connected_groups
from .._progress import _quiet
from ..errors import ScheduleError
from ..measures import root_products
from ..schedule import BaseSchedule, GDSchedule, Schedule, SGDSchedule
from ..tensors import Contraction
from ._common import Request, Route

__all__ = ["expand", "weight_function", "ROUTE"]


# ---------------------------------------------------------------- labelled products
def _merge_key(steps, parents, kinds):
    """A canonical key of a labelled forest (roots carry their kind, others their step)."""
    n = len(steps)
    adj = [[0] * n for _ in range(n)]
    for v, p in enumerate(parents):
        if p >= 0:
            adj[v][p] += 1
            adj[p][v] += 1
    colors = [(steps[v], kinds[v]) for v in range(n)]
    order = canonical_order(colors, adj, list(range(n)))
    pos = {v: i for i, v in enumerate(order)}
    return (tuple(colors[v] for v in order),
            tuple(sorted((pos[v], pos[p]) for v, p in enumerate(parents) if p >= 0)))


def _fire(terms, step, budget_of, weights_root):
    """Apply ``sum_{d>=1} (-1)^d/d! (g_step . grad)^d`` to labelled products.

    ``terms`` maps merge keys to ``(steps, parents, kinds, coefficient)``.
    """
    out = {}
    for steps, parents, kinds, coeff in terms.values():
        n_old = len(steps)
        budget = budget_of(steps)
        children = [0] * n_old
        for p in parents:
            if p >= 0:
                children[p] += 1
        for d in range(1, budget + 1):
            for targets in itertools.combinations_with_replacement(range(n_old), d):
                mult = defaultdict(int)
                for t in targets:
                    mult[t] += 1
                if weights_root and any(kinds[t] == "weights" and children[t] + c > 1
                                        for t, c in mult.items()):
                    continue
                c = coeff * Fraction((-1) ** d, math.prod(math.factorial(x) for x in mult.values()))
                new_steps = steps + (step,) * d
                new_parents = parents + targets
                new_kinds = kinds + ("",) * d
                key = _merge_key(new_steps, new_parents, new_kinds)
                if key in out:
                    s, p, k, old = out[key]
                    out[key] = (s, p, k, old + c)
                else:
                    out[key] = (new_steps, new_parents, new_kinds, c)
    return {k: v for k, v in out.items() if v[3]}


@functools.lru_cache(maxsize=64)
def _products(order: int, roots: tuple):
    """All labelled products with ``m`` firing steps, for every ``m <= order``.

    Returns a list of ``(m, steps, parents, kinds, coefficient)``; steps are
    labelled ``1..m`` backwards in time (step ``m`` is the earliest), roots
    have step 0.
    """
    r = len(roots)
    start = ((0,) * r, (-1,) * r, tuple(roots), Fraction(1))
    level = {None: start}
    out = [(0,) + start]
    weights_root = "weights" in roots
    for m in range(1, order + 1):
        level = _fire(level, m, lambda steps: order - (len(steps) - r), weights_root)
        if not level:
            break
        out.extend((m,) + v for v in level.values())
    return out


# ---------------------------------------------------------------- set partitions
def _partitions(nodes, steps_of, admissible):
    """Set partitions of ``nodes`` whose blocks' step sets are admissible."""
    blocks: list[list[int]] = []
    block_steps: list[set] = []

    def rec(i):
        if i == len(nodes):
            yield [list(b) for b in blocks]
            return
        v = nodes[i]
        s = steps_of(v)
        for b, bs in zip(blocks, block_steps):
            new = bs | s
            if admissible(new):
                b.append(v)
                added = new - bs
                bs |= added
                yield from rec(i + 1)
                bs -= added
                b.pop()
        blocks.append([v])
        block_steps.append(set(s))
        yield from rec(i + 1)
        blocks.pop()
        block_steps.pop()

    yield from rec(0)


# ---------------------------------------------------------------- schedule weights
def _falling(x, k: int):
    return sympy.Mul(*(x - i for i in range(k)))


def _binom(x, k: int):
    return _falling(x, k) / math.factorial(k)


def _set_partitions(items):
    items = list(items)
    if not items:
        yield []
        return
    yield from multiset_partitions(items)


def _compositions(m: int):
    """The ways to cut ``0..m-1`` (time order) into consecutive runs."""
    for cuts in itertools.product((False, True), repeat=max(m - 1, 0)):
        runs, cur = [], [0]
        for j, cut in enumerate(cuts, start=1):
            if cut:
                runs.append(cur)
                cur = [j]
            else:
                cur.append(j)
        runs.append(cur)
        yield runs


def _linear_extensions(s: int, less) -> int:
    """The number of orders of ``0..s-1`` with ``a`` before ``b`` for every ``(a, b)`` in ``less``."""
    preds = [0] * s
    for a, b in less:
        if a == b:
            return 0
        preds[b] |= 1 << a
    ways = [0] * (1 << s)
    ways[0] = 1
    for mask in range(1 << s):
        if ways[mask]:
            for v in range(s):
                if not mask >> v & 1 and preds[v] & mask == preds[v]:
                    ways[mask | 1 << v] += ways[mask]
    return ways[(1 << s) - 1]


class _Weights:
    """``W(m, blocks)``: firing-time tuples times sample choices, for one schedule.

    ``blocks`` is a tuple of ``(steps, n_train)``: the firing steps (time
    positions ``0..m-1``, earliest first) of the block's factors and how many
    training-loss roots it holds.
    """

    def __init__(self, schedule: BaseSchedule):
        self.schedule = schedule
        self.N = sympy.sympify(schedule.N, strict=True)
        self.B = sympy.sympify(schedule.batch, strict=True)
        if isinstance(schedule, GDSchedule):
            self.kind = "gd"
            self.T = sympy.sympify(schedule.steps, strict=True)
        elif isinstance(schedule, SGDSchedule) and (
                schedule.epochs == 1 or schedule.reshuffle in ("fixed", "random")):
            self.kind = "fixed" if schedule.epochs == 1 or schedule.reshuffle == "fixed" \
                else "random"
            self.E = sympy.sympify(schedule.epochs, strict=True)
            self.K = sympy.sympify(schedule.steps_per_epoch, strict=True)
        elif isinstance(schedule, (SGDSchedule, Schedule)):
            if not schedule.is_concrete:
                raise ScheduleError(f"{schedule} needs numeric sizes for the direct route")
            self.kind = "explicit"
            self.batches = [frozenset(b) for b in schedule.realizations()[0][1].batches]
        else:
            raise ScheduleError(f"the direct route does not know schedules of type "
                                f"{type(schedule).__name__}")
        self.cache = {}
        # per instance: a class-level cache would keep every schedule's weights alive
        self._fixed_tuples = functools.lru_cache(maxsize=None)(self._count_fixed_tuples)

    @property
    def single_epoch(self) -> bool:
        return self.kind in ("fixed", "random") and self.E == 1

    def admissible(self, steps: set) -> bool:
        """Whether a block with factors at these distinct steps can be non-zero."""
        return len(steps) <= 1 or not self.single_epoch

    def __call__(self, m: int, blocks: tuple):
        key = (m, blocks)
        if key not in self.cache:
            if m == 0:
                value = self.N ** len(blocks)
            else:
                value = getattr(self, "_" + self.kind)(m, blocks)
            self.cache[key] = sympy.expand(value)
        return self.cache[key]

    def _gd(self, m, blocks):
        return self.N ** len(blocks) * _binom(self.T, m)

    def _explicit(self, m, blocks):
        T = len(self.batches)
        everyone = frozenset(range(self.schedule.N))
        total = 0
        for times in itertools.combinations(range(T), m):
            value = 1
            for steps, _ in blocks:
                common = everyone
                for j in steps:
                    common = common & self.batches[times[j]]
                value *= len(common)
                if not value:
                    break
            total += value
        return sympy.Integer(total)

    def _fixed(self, m, blocks):
        with_steps = [s for s, _ in blocks if s]
        factor = self.B ** len(with_steps) * self.N ** (len(blocks) - len(with_steps))
        comps = _components(m, with_steps)
        return factor * self._fixed_tuples(m, comps)

    def _count_fixed_tuples(self, m, comps):
        """Increasing time tuples in ``epochs x K`` with each component at one position."""
        if self.E == 1:
            return _binom(self.K, m) if len(comps) == m else sympy.S.Zero
        total = sympy.S.Zero
        for rho in _set_partitions(range(len(comps))):
            cls = [0] * m
            for c, group in enumerate(rho):
                for comp in group:
                    for j in comps[comp]:
                        cls[j] = c
            s = len(rho)
            for runs in _compositions(m):
                less = [(cls[a], cls[b]) for run in runs for a, b in zip(run, run[1:])]
                ext = _linear_extensions(s, less)
                if ext:
                    total += ext * _binom(self.E, len(runs)) * _binom(self.K, s)
        return total

    def _random(self, m, blocks):
        total = sympy.S.Zero
        for tau in _set_partitions(range(len(blocks))):
            classes = [frozenset().union(*(blocks[b][0] for b in group)) for group in tau]
            for runs in _compositions(m):
                if any(len(c & set(run)) > 1 for c in classes for run in runs):
                    continue
                numerator = [_falling(self.N, len(tau)), _binom(self.E, len(runs))]
                denominator = []
                for run in runs:
                    counts = [sum(1 for c in classes if j in c) for j in run]
                    numerator.append(_binom(self.K, len(run)))
                    numerator.extend(_falling(self.B, a) for a in counts)
                    denominator.append(_falling(self.N, sum(counts)))
                # a zero factor (too few points for the samples) makes the term vanish,
                # before a denominator of the same origin could divide by zero
                if any(f == 0 for f in numerator):
                    continue
                total += sympy.Mul(*numerator) / sympy.Mul(*denominator)
        return total


def _components(m: int, step_sets) -> tuple:
    """Connected components of ``0..m-1`` linked by the step sets, as a sorted tuple."""
    ordered = [sorted(st) for st in step_sets]
    pairs = [(a, b) for st in ordered for a, b in zip(st, st[1:])]
    return tuple(tuple(g) for g in connected_groups(range(m), pairs))


def weight_function(schedule: BaseSchedule):
    """The schedule's weight ``W(m, blocks)`` (see the module docstring).

    ``blocks`` is a tuple of ``(steps, n_train)`` pairs, steps being time
    positions ``0..m-1`` (earliest first) of the factors in the block.

    Raises:
        ScheduleError: a schedule the direct route does not know, or an explicit
            schedule with symbolic sizes.

    >>> import sympy
    >>> from symsgd.schedule import sgd
    >>> N, B = sympy.symbols('N B', integer=True, positive=True)
    >>> W = weight_function(sgd(N, batch=B))
    >>> W(2, (((0,), 0), ((1,), 0)))  # two steps, one sample each: binomial(N/B, 2) B^2
    -B*N/2 + N**2/2
    """
    if not isinstance(schedule, BaseSchedule):
        raise ScheduleError(f"expected a schedule, got {type(schedule).__name__}")
    return _Weights(schedule)


# ---------------------------------------------------------------- the expansion
def expand(schedule: BaseSchedule, order: int, *, measure: str = "test", moment: int = 1,
           progress: bool | None = None) -> list:
    """The coefficients of ``eta^0..eta^order`` of ``E[s(theta_T)^moment]`` by direct perturbation.

    Args:
        schedule: :func:`~symsgd.sgd` (sizes numeric or SymPy symbols; epochs
            reshuffled ``'fixed'`` or ``'random'``, or a seed for concrete
            sizes), :func:`~symsgd.gd` or an explicit :class:`~symsgd.Schedule`.
        order: the highest power of ``eta``.
        measure: ``'test'``, ``'train'``, ``'gap'`` or ``'weights'`` (the
            expected displacement ``theta_T - theta_0``, a vector).
        moment: 1 for the mean, 2 for the second moment (scalar measures).
        progress: show a progress bar (default: only for long runs).

    Returns:
        A list of SymPy expressions: polynomials (rational functions for
        random reshuffling) in the schedule's symbols times
        :class:`~symsgd.tensors.Contraction` atoms (products of two
        contractions for the second moment of the test loss).  For
        ``'weights'`` the contractions carry one free index.

    Raises:
        InputTypeError, OrderError, MeasureError: see :class:`~symsgd.routes.Request`.
        ScheduleError: see :func:`weight_function`.

    >>> from symsgd.schedule import gd
    >>> expand(gd(3, steps=2), 1)
    [l, -2*[G G]]
    """
    return _coefficients(Request(schedule, order, measure=measure, moment=moment), progress)


def _coefficients(request: Request, progress: bool | None) -> list:
    """The direct route's symbolic coefficients for a checked request."""
    schedule, order = request.schedule, request.order
    plan = root_products(request.measure, moment=request.moment)
    weights = _Weights(schedule)
    acc = [defaultdict(lambda: defaultdict(Fraction)) for _ in range(order + 1)]
    plan = [(sign, _products(order, roots)) for sign, roots in plan]
    bar = tqdm(total=sum(len(p) for _, p in plan), desc="direct perturbation", leave=False,
               disable=_quiet(progress, order < 5))
    for sign, products in plan:
        for m, steps, parents, kinds, coeff in products:
            _expect(acc, m, steps, parents, kinds, sign * coeff, weights)
            bar.update()
    bar.close()
    N, B = weights.N, weights.B
    sizes = [getattr(schedule, name, 1) for name in ("N", "batch", "epochs", "steps")]
    # symengine drops SymPy's assumptions: map its symbols back to the schedule's own
    back = {sympy.Symbol(x.name): x
            for x in set().union(*(sympy.sympify(v, strict=True).free_symbols for v in sizes))}
    scaled = {}
    coefficients = []
    for k in range(order + 1):
        # the coefficient of each atom is a sum of rational multiples of a few weight
        # polynomials: combine them in symengine (SymPy's expand dominated the run time)
        per_atom = defaultdict(lambda: se.Integer(0))
        for raw, per_key in acc[k].items():
            terms = []
            for wkey, q in per_key.items():
                if not q:
                    continue
                if (k, wkey) not in scaled:
                    m, blocks, n_train = wkey
                    scaled[k, wkey] = se.sympify(weights(m, blocks) / B**k / N**n_train)
                terms.append(se.Rational(q.numerator, q.denominator) * scaled[k, wkey])
            if terms:
                per_atom[_atom(raw)] += se.Add(*terms)
        total = []
        for atom, poly in per_atom.items():
            poly = se.expand(poly)
            if poly != 0:
                total.append(sympy.factor_terms(sympy.sympify(poly).xreplace(back)) * atom)
        coefficients.append(sympy.Add(*total))
    return coefficients


def _atom(raw):
    """Build the (product of) contraction(s) of one raw graph ``(degrees, blocks, edges, free, roots)``."""
    degrees, blocks, edges, free, components = raw
    if components is None:
        return Contraction(degrees, blocks, edges, free=free)
    return sympy.Mul(*(Contraction(d, b, e, free=f) for d, b, e, f in components))


def _expect(acc, m, steps, parents, kinds, coeff, weights):
    """Add the expectation of one labelled product to ``acc`` (per order and raw graph)."""
    n = len(steps)
    k = sum(1 for s in steps if s > 0)
    children = [0] * n
    for p in parents:
        if p >= 0:
            children[p] += 1
    data_nodes = [v for v in range(n) if steps[v] > 0 or kinds[v] == "train"]
    time_pos = {v: m - steps[v] for v in range(n) if steps[v] > 0}
    steps_of = (lambda v: {time_pos[v]} if v in time_pos else set())
    weights_root = [v for v in range(n) if kinds[v] == "weights"]
    if weights_root and children[weights_root[0]] != 1:
        return
    degrees = [children[v] + (1 if steps[v] > 0 else 0) for v in range(n)]
    for pi in _partitions(data_nodes, steps_of, weights.admissible):
        blocks_w = tuple(sorted(
            (tuple(sorted({time_pos[v] for v in b if v in time_pos})),
             sum(1 for v in b if kinds[v] == "train")) for b in pi))
        n_train = sum(x for _, x in blocks_w)
        singles = [[v] for v in range(n) if kinds[v] == "test"]
        raw = _raw_graph(degrees, parents, pi + singles, weights_root, kinds)
        acc[k][raw][(m, blocks_w, n_train)] += coeff


def _raw_graph(degrees, parents, blocks, weights_root, kinds):
    """The raw contraction data of a labelled product with a partition."""
    edges = [(v, p) for v, p in enumerate(parents) if p >= 0]
    if weights_root:
        w = weights_root[0]
        (child,) = [v for v, p in enumerate(parents) if p == w]
        keep = [v for v in range(len(degrees)) if v != w]
        new = {v: i for i, v in enumerate(keep)}
        degrees = [degrees[v] for v in keep]
        blocks = [[new[v] for v in b] for b in blocks if w not in b]
        edges = [(new[a], new[b]) for a, b in edges if b != w]
        return (tuple(degrees), tuple(map(tuple, blocks)), tuple(edges), (new[child],), None)
    roots = [v for v in range(len(degrees)) if kinds[v] in ("test", "train")]
    if len(roots) == 1:
        return (tuple(degrees), tuple(map(tuple, blocks)), tuple(edges), (), None)
    # two root factors: the graph may fall apart into connected pieces (a product)
    parts = connected_groups(range(len(degrees)), edges + [(b[0], v) for b in blocks for v in b[1:]])
    if len(parts) == 1:
        return (tuple(degrees), tuple(map(tuple, blocks)), tuple(edges), (), None)
    components = []
    for part in parts:
        new = {v: i for i, v in enumerate(part)}
        components.append((tuple(degrees[v] for v in part),
                           tuple(tuple(new[v] for v in b) for b in blocks if b[0] in new),
                           tuple((new[a], new[b]) for a, b in edges if a in new), ()))
    return (None, None, None, None, tuple(sorted(components)))


#: The direct route: the Key Lemma with the schedule's closed-form weights.
ROUTE = Route("direct", _coefficients, symbolic=True,
              summary="the Key Lemma expanded mechanically (Tenka, sections 2.2 and B.2)")
