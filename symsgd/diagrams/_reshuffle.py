"""Random reshuffling's resummed value in closed form: walks over epochs of walks over phases.

Under ``reshuffle='random'`` every epoch visits the ``N`` points in a fresh uniformly random
order, in ``M = N / B`` batches.  A term's discrete resummed value sums, over the time
assignments ``t = e M + p`` (epoch ``e``, phase ``p``) of its nodes, the product of the
edges' propagators times the expected row count ``E prod_b C_b``, where ``C_b`` counts
the points in every batch that block ``b``'s nodes occupy.  That expectation couples the
blocks and the epochs; it is made local as follows.

* Sum over which blocks share a point: a partition ``sigma`` of the blocks into
  *classes*, distinct classes on distinct points (``(N)_|sigma|`` point tuples, ``(N)_k``
  the falling factorial).  The epochs' orders are independent, so the probability that the
  classes' points lie in their nodes' batches is a product over epochs.
* In one epoch, the ``k`` classes it holds each need their nodes at one phase, and the
  probability that ``k`` distinct points fill batches with ``c_p`` of them at phase ``p``
  is ``prod_p (B)_(c_p) / (N)_k``.  Summing phases where classes coincide exactly,
  by Moebius inversion over the partitions ``tau`` of the classes into *tied* groups
  (free otherwise), gives the weight ``prod_(G in tau) h(|G|) / (N)_k`` with ``h(n) =
  B (-1)^(n-1) (n-1)!``: the cumulants of the falling factorials (their generating
  function is ``(1 + x)^B``, its logarithm ``B log(1 + x)``).

So for each ``sigma`` the value is a walk backwards over the ``E`` epochs (as in
:mod:`._transfer`): a state is the set of nodes placed, an epoch places any set ``A``
whose parents are placed (or in ``A``), and contributes ``sum_tau weight(tau)`` times a
walk over its ``M`` phases whose variables are ``tau``'s groups of the classes in ``A``:
an edge within ``A`` orders its groups, an edge from a placed parent into ``A`` is a
head, one from ``A`` to a later-placed child a tail, and one spanning the epoch stays
``M`` phases.  The cost is ``log2 E`` and ``log2 M`` matrix products per walk: flat in
``T``.  The first epoch's order, fixed by the schedule's realizations, may be taken as
random too: the data points are exchangeable.

With ``rates`` the phases are continuous (Remark 1's integral form): every phase walk of
the decomposition becomes its integral (``_continuous`` of :mod:`._transfer`), the weights
kept.  Tied groups and classes that share a point are lower-dimensional integrals, weighted
as in the discrete sums (within one epoch a tied pair of classes, ``-B``, and one class
holding both blocks, ``+B``, share a lattice and cancel).

>>> import numpy as np
>>> from symsgd.diagrams.resum import rvalue_terms
>>> term = rvalue_terms(2, 'test', 1, 2)[2]      # *(a, a): one block, two edges to the root
>>> term.diagram
Diagram('*(a, a)')

Two epochs of two points, batch 1, ``q = 1/2``: both nodes at one time count one point
(``sum_t q^(2 (3 - t))``); in two epochs, the point is in both batches with probability
``1/2`` (``(1/2) 2 (q^3 + q^2)(q + 1)``); at two phases of one epoch, none.

>>> q = np.full(2, 0.5)
>>> float(reshuffle_walk(term, 2, 2, 1, 2, stay=q, end=np.ones(2)))
1.890625
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse
from sympy.utilities.iterables import multiset_partitions

from ..errors import ScheduleError
from ._transfer import _continuous, _lattice, _matrix, _node_parents, _settled, walk

__all__ = ["Reshuffled", "reshuffle_walk", "reshuffle_asymptote"]


@dataclass(frozen=True)
class Reshuffled:
    """The space-time of SGD with uniform reshuffling over several epochs.

    Attributes:
        epochs: ``E``.
        steps: ``M = N / B``, the steps of an epoch.
        batch: ``B``.
        points: ``N``.
    """

    epochs: int
    steps: int
    batch: int
    points: int

    def __post_init__(self):
        if min(self.epochs, self.steps, self.batch) < 1 or self.steps * self.batch != self.points:
            raise ScheduleError(f"inconsistent reshuffled space-time {self}")


def reshuffle_walk(term, epochs: int, steps: int, batch: int, points: int, *,
                   stay=None, end=None, rates=None) -> np.ndarray:
    """The expected row-weighted sum over time assignments of a term's propagators under
    uniform reshuffling (see the module docstring).

    Args:
        term: an :class:`~symsgd.diagrams.resum.RTerm` with ``d >= 1`` edges.
        epochs, steps, batch, points: ``E``, ``M``, ``B`` and ``N = M B``.
        stay, end: ``(..., d)``: the edges' factors for a step in which the child stays
            unplaced and for its own step (discrete phases).
        rates: ``(..., d)``: the edges' decay rates ``eta lambda`` (continuous phases).

    Returns the sum ``(...)``, the expected row counts included (``eta^d`` not).
    """
    if (rates is None) == (stay is None or end is None):
        raise TypeError("reshuffle_walk takes either stay and end, or rates")
    plan = _plan(_node_parents(term), term.rows)
    total = 0.0
    for count, W in _epoch_matrices(plan, _phase_walks(plan, steps, stay, end, rates), batch,
                                    points):
        total = total + count * walk(W, epochs)
    return total


def reshuffle_asymptote(term, steps: int, batch: int, points: int, *, stay, end, logstay):
    """The polynomial in the number of epochs ``E`` that :func:`reshuffle_walk` approaches
    (``asymptote`` of :mod:`._transfer` for each ``sigma``'s walk over epochs; an epoch placing no
    node keeps the alive edges for ``M`` steps, so a state's decay is ``-expm1(M sum log
    stay)``).  Returns ``(coefficients, bad)`` as ``epochs_asymptote`` does;
    ``stay``, ``end``, ``logstay``: ``(..., d)`` (``logstay`` ``NaN`` where ``stay <= 0``)."""
    plan = _plan(_node_parents(term), term.rows)
    decay = -np.expm1(steps * logstay @ plan.alive.T.astype(np.float64))
    total, bad = 0.0, np.zeros(stay.shape[:-1], dtype=bool)
    for count, W in _epoch_matrices(plan, _phase_walks(plan, steps, stay, end, None), batch,
                                    points):
        coefficients, wrong = _settled(W, decay, term.order + 1)
        total, bad = total + count * coefficients, bad | wrong
    return total, bad


def _phase_walks(plan, steps: int, stay, end, rates) -> list:
    """The value of every phase lattice of the plan over ``M`` phases: discrete (``stay``,
    ``end``) or continuous (``rates``)."""
    if rates is not None:
        return [_continuous(lattice, rates, steps) for lattice in plan.lattices]
    return [walk(_matrix(lattice, stay, end), steps) for lattice in plan.lattices]


def _epoch_matrices(plan, values: list, batch: int, points: int):
    """For each ``sigma`` (with no more classes than points): ``(N)_|sigma|`` and its matrices
    ``W[..., state, state]`` of one epoch, from the phase walks' ``values``."""
    shape = values[0].shape
    stacked = np.stack([v.reshape(-1) for v in values], axis=-1)          # (batch, keys)
    # (N)_k, the falling factorials, for the k <= d classes a term can have
    falling = np.array([float(math.perm(points, k)) for k in range(plan.alive.shape[1] + 1)])
    for classes, rule in plan.sigmas:
        if classes > points:                                      # not enough points
            continue
        weights = rule.signs * float(batch) ** rule.powers / falling[rule.held]
        mix = scipy.sparse.csr_matrix((weights, (rule.entries, rule.keys)),
                                      shape=(plan.states ** 2, len(plan.lattices)))
        W = np.asarray((mix @ stacked.T).T).reshape(shape + (plan.states, plan.states))
        yield falling[classes], W


@dataclass(frozen=True)
class _Rule:
    """How one ``sigma`` weighs the phase walks into its epoch matrix: entry ``entries[i]``
    of ``W`` gains ``signs[i] B^powers[i] / (N)_held[i]`` times phase walk ``keys[i]``."""

    entries: np.ndarray
    keys: np.ndarray
    signs: np.ndarray
    powers: np.ndarray
    held: np.ndarray


@dataclass(frozen=True)
class _Plan:
    """A term's epoch states, its distinct phase lattices and each ``sigma``'s rule;
    ``alive[state, v]``: whether edge ``v`` is alive in an epoch that places no node."""

    states: int
    lattices: tuple
    sigmas: tuple
    alive: np.ndarray


def _partitions(items) -> tuple:
    """The set partitions of ``items``, each in canonical form: a sorted tuple of sorted
    tuples (one, empty, for no items)."""
    return _canonical_partitions(tuple(sorted(items)))


@functools.lru_cache(maxsize=None)
def _canonical_partitions(items: tuple) -> tuple:
    if not items:
        return ((),)
    return tuple(tuple(sorted(tuple(sorted(g)) for g in p)) for p in multiset_partitions(items))


@functools.lru_cache(maxsize=1 << 12)
def _plan(parents: tuple, rows: tuple) -> _Plan:
    """The epoch walk's states (node sets closed under parents), for each transition the
    phase lattice of every grouping of the blocks it places, and for every ``sigma`` the
    weights of those lattices."""
    d = len(parents)
    closed = [S for S in range(1 << d)
              if all(p is None or S >> p & 1 for v, p in enumerate(parents) if S >> v & 1)]
    closed.sort(key=lambda S: (bin(S).count("1"), S))
    index = {S: i for i, S in enumerate(closed)}
    transitions = []
    for S in closed:
        rest = [v for v in range(d) if not S >> v & 1]
        for mask in range(1 << len(rest)):
            A = sum(1 << v for j, v in enumerate(rest) if mask >> j & 1)
            if S | A in index:
                transitions.append((S, A))
    lattices, keys, zero = [], {}, set()
    for S, A in transitions:
        present = {rows[v] for v in range(d) if A >> v & 1}
        for groups in _partitions(present):
            lattice = _phase(parents, rows, S, A, groups)
            if lattice is None:                          # no phases fit: a zero walk
                zero.add((S, A, groups))
            else:
                keys[S, A, groups] = len(lattices)
                lattices.append(lattice)
    sigmas = []
    for sigma in _partitions(range(max(rows) + 1)):
        cls = {b: c for c, group in enumerate(sigma) for b in group}
        columns = [[] for _ in range(5)]
        for S, A in transitions:
            present = sorted({rows[v] for v in range(d) if A >> v & 1})
            held = sorted({cls[b] for b in present})
            for tau in _partitions(held):
                groups = tuple(sorted(tuple(sorted(b for b in present if cls[b] in g))
                                      for g in tau))
                if (S, A, groups) in zero:
                    continue
                key = keys[S, A, groups]
                sign = math.prod((-1) ** (len(g) - 1) * math.factorial(len(g) - 1) for g in tau)
                for column, x in zip(columns, (index[S] * len(closed) + index[S | A], key,
                                               sign, len(tau), len(held))):
                    column.append(x)
        sigmas.append((len(sigma), _Rule(*(np.array(c, dtype=np.int64 if i != 2 else float)
                                           for i, c in enumerate(columns)))))
    alive = np.array([[(p is None or S >> p & 1) and not S >> v & 1
                       for v, p in enumerate(parents)] for S in closed], dtype=bool)
    return _Plan(len(closed), tuple(lattices), tuple(sigmas), alive.reshape(len(closed), d))


def _phase(parents, rows, S: int, A: int, groups):
    """The walk over one epoch's phases when it places the nodes ``A`` (``S`` placed in
    later epochs), the blocks of ``A`` tied in ``groups``."""
    group = {b: g for g, members in enumerate(groups) for b in members}
    needs = [set() for _ in groups]
    edges, heads, tails = [], [], []
    for v, p in enumerate(parents):
        child_here, child_done = A >> v & 1, S >> v & 1
        parent_here = p is not None and A >> p & 1
        parent_done = p is None or S >> p & 1
        if child_done or not (parent_here or parent_done):       # placed, or not yet alive
            continue
        if child_here and parent_here:
            needs[group[rows[v]]].add(group[rows[p]])
            edges.append((v, group[rows[p]], group[rows[v]]))
        elif child_here:
            heads.append((v, group[rows[v]]))
        elif parent_here:
            tails.append((v, group[rows[p]]))
        else:                                                      # spans the epoch
            tails.append((v, None))
    return _lattice(len(groups), len(parents), needs, edges=edges, heads=heads, tails=tails)
