"""The resummed value of a linkless term in closed form: a walk on its lattice of placed times.

The discrete resummed value of a term sums, over the integer time assignments with
``t_child < t_parent`` (the root and loose ends at ``T``), the row count times the
product over edges of ``eta q^(lag - 1)``, ``q = 1 - eta lambda`` in an eigenbasis of
``H`` (the exponential propagator: ``eta r^lag``, ``r = exp(-eta lambda)``).  On a
homogeneous space-time -- full-batch steps (GD), or single-epoch SGD, where the nodes of
a block share one step (:func:`~symsgd.diagrams._integrals.continuum`) -- every step is
the same, so the sum is a walk of ``T`` steps backwards from ``T``:

* a *state* is the set of placed variables (nodes, or blocks when tied); a variable can be
  placed once the parents of its nodes are (the root is placed from the start);
* in one step any set of available variables is placed; an edge whose parent is placed
  and whose child is not is *alive*: it multiplies the step by ``q`` (``r``) if its child
  stays unplaced and by ``1`` (``r``) if its child is placed now;
* the value is the entry (empty set, full set) of ``W^T``, times ``eta^d`` and the row
  count ``rows^blocks``.

``W`` is triangular (states only grow), so ``W^T`` by repeated squaring takes ``log2 T``
products: the cost is flat in ``T`` but for that logarithm.  The same matrix gives the
``T -> infinity`` behaviour (Tenka, Theorem 2): the full set absorbs (no edge is alive
there: ``W = 1``), a state whose alive edges all lie in zero-curvature directions (a
valley of minima) has ``W_ss = 1`` too, and the others decay.  So the value tends to a
polynomial in ``T`` (:func:`asymptote`): a constant (the limit) when only the full set is
a unit state on the way, a linear growth (the drift velocity of Corollary 4) when the
walk passes one more, and so on.

>>> import numpy as np
>>> from symsgd.diagrams.resum import rvalue_terms
>>> term = rvalue_terms(1, 'test', 1, 1)[1]          # *(a): one edge, to the root
>>> q = np.array([0.5])                               # the edge's step factor
>>> float(walk(transfer(term, True, q, np.ones(1)), 3))   # 1 + q + q^2
1.75
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse

from ._integrals import expm_metzler

__all__ = ["transfer", "epochs_walk", "term_integral", "walk", "asymptote", "term_asymptote",
           "epochs_asymptote"]


@dataclass(frozen=True)
class Lattice:
    """A backward walk's states and transitions, as arrays (see :func:`_lattice`).

    Attributes:
        states: the number of states (placeable sets, empty first, full last).
        variables: the number of variables (a path passes at most ``variables + 1`` states).
        matrix: ``(states^2, transitions)`` sparse: which matrix entry each transition adds to.
        ends, stays: ``(transitions, d)`` how many times factor ``v`` takes ``end`` (0 or 1)
            and ``stay`` (0, 1 or 2: a crossing edge's head and tail) in each transition.
        placed: ``(transitions,)`` the number of variables each transition places.
    """

    states: int
    variables: int
    matrix: object
    ends: np.ndarray
    stays: np.ndarray
    placed: np.ndarray


def _lattice(m: int, d: int, needs, edges=(), heads=(), tails=()):
    """The :class:`Lattice` of a backward walk on ``m`` variables with ``d`` factors, or
    ``None`` when a variable needs itself (no walk places it).  A cycle of needs through
    several variables leaves the full set unreachable: the walks' value is then 0.

    ``needs[x]``: the variables placed in earlier steps than ``x``.  The factors are
    indexed by an edge ``v`` (for its eigenvalue) and are alive in a step as follows:

    * ``edges`` ``(v, parent, child)``: once the parent is placed (``None``: the root,
      placed before the walk) until the child is: ``end`` in the child's step;
    * ``heads`` ``(v, child)``: from the start until the child is placed (``end`` then);
    * ``tails`` ``(v, parent)``: in every step after the parent's (the root's: all).
    """
    if any(x in needs[x] for x in range(m)):
        return None
    states = [frozenset(S) for k in range(m + 1) for S in itertools.combinations(range(m), k)
              if all(needs[x] <= set(S) for x in S)]
    index = {S: i for i, S in enumerate(states)}
    entries, ends, stays, placed = [], [], [], []
    for S, i in index.items():
        alive = [(v, c) for v, p, c in edges if c not in S and (p is None or p in S)]
        alive += [(v, c) for v, c in heads if c not in S]
        always = [v for v, p in tails if p is None or p in S]
        free = [x for x in range(m) if x not in S and needs[x] <= S]
        for k in range(len(free) + 1):
            for A in itertools.combinations(free, k):
                end, stay = np.zeros(d, dtype=np.int8), np.zeros(d, dtype=np.int8)
                for v, c in alive:
                    if c in A:
                        end[v] += 1
                    else:
                        stay[v] += 1
                for v in always:
                    stay[v] += 1
                entries.append(i * len(states) + index[S | set(A)])
                ends.append(end)
                stays.append(stay)
                placed.append(k)
    n, count = len(states), len(entries)
    matrix = scipy.sparse.csr_matrix((np.ones(count), (entries, np.arange(count))),
                                     shape=(n * n, count))
    return Lattice(n, m, matrix, np.array(ends).reshape(count, d),
                   np.array(stays).reshape(count, d), np.array(placed))


def _factors(lattice: Lattice, stay: np.ndarray, end: np.ndarray) -> np.ndarray:
    """``(..., transitions)``: each transition's product of its factors' ``end`` and ``stay``."""
    out = np.ones(stay.shape[:-1] + (len(lattice.placed),))
    for factors, counts in ((end, lattice.ends), (stay, lattice.stays), (stay, lattice.stays - 1)):
        for v in np.flatnonzero((counts > 0).any(axis=0)):
            out *= np.where(counts[:, v] > 0, factors[..., v:v + 1], 1.0)
    return out


def _scatter(lattice: Lattice, values: np.ndarray) -> np.ndarray:
    """``(..., states, states)``: per-transition values summed into their matrix entries."""
    batch, n = values.shape[:-1], lattice.states
    flat = values.reshape(-1, values.shape[-1])
    return np.asarray((lattice.matrix @ flat.T).T).reshape(batch + (n, n))


def _matrix(lattice, stay: np.ndarray, end: np.ndarray):
    """The one-step matrices ``W[..., state, state]`` of a lattice (``None`` stays)."""
    if lattice is None:
        return None
    return _scatter(lattice, _factors(lattice, stay, end))


def _idle(lattice: Lattice, per_factor: np.ndarray) -> np.ndarray:
    """``(..., states)``: per state, the sum of ``per_factor`` (``(..., d)``) over the factors
    alive while it stays (its self-transition, counted with multiplicity)."""
    return per_factor @ lattice.stays[lattice.placed == 0].T.astype(np.float64)


def _decay(lattice: Lattice, logstay: np.ndarray) -> np.ndarray:
    """``1 - W_ss`` of each state, ``(..., states)``, from the factors' ``log stay``
    (``log1p(-eta lambda)`` or ``-eta lambda``): ``-expm1(sum of the logs)``, accurate
    where ``W_ss`` is near 1 (no cancellation in ``1 - W_ss``)."""
    return -np.expm1(_idle(lattice, logstay))


def _continuous(lattice, rates: np.ndarray, length) -> np.ndarray:
    """The continuous-time walk of a lattice over a time ``length``: the integral over the
    variables' times (each in ``[0, length]``, in the lattice's orders) of ``exp(-sum of the
    alive factors' rates times the time they are alive)``, i.e. ``exp(length G)[empty,
    full]`` with ``G`` placing one variable at rate 1 and decaying at the alive rates
    (:func:`~symsgd.diagrams._integrals.expm_metzler`: entrywise accurate, zero and equal
    rates included).  ``None`` for no lattice; ``rates``: ``(..., d)``."""
    if lattice is None:
        return None
    one = (lattice.placed == 1).astype(np.float64)
    G = _scatter(lattice, np.broadcast_to(one, rates.shape[:-1] + one.shape)) - \
        _idle(lattice, rates)[..., :, None] * np.eye(lattice.states)
    return expm_metzler(float(length) * G)[..., 0, -1]


def term_integral(term, tied: bool, rates: np.ndarray, length) -> np.ndarray:
    """The continuous walk (:func:`_continuous`) of a term on a homogeneous space-time of
    ``length`` steps; ``rates``: ``(..., d)``, ``eta lambda`` of each edge.  ``None`` when
    no walk reaches the full set."""
    return _continuous(_term_lattice(term, tied), rates, length)


@functools.lru_cache(maxsize=1 << 16)
def _term_lattice(term, tied: bool):
    """The lattice of a term on a homogeneous space-time: its variables are the nodes, or
    the blocks when a block's nodes share one step."""
    var = [term.rows[v] if tied else v for v in range(term.order)]
    m = len(set(var))
    needs = [set() for _ in range(m)]
    edges = []
    for v, p in enumerate(term.parents):
        parent = var[p - 1] if p else None
        if parent is not None:
            needs[var[v]].add(parent)
        edges.append((v, parent, var[v]))
    return _lattice(m, term.order, needs, edges=edges)


def transfer(term, tied: bool, stay: np.ndarray, end: np.ndarray):
    """The one-step matrices ``W[..., state, state]`` of a term's walk.

    Args:
        term: an :class:`~symsgd.diagrams.resum.RTerm` with ``d >= 1`` edges.
        tied: whether the nodes of a block share one step (single-epoch SGD).
        stay: ``(..., d)``: each edge's factor for a step in which its child stays
            unplaced (``q`` or ``r`` at the edge's eigenvalue), for any batch of cases.
        end: ``(..., d)``: its factor for the step in which its child is placed.

    Returns ``None`` when no walk reaches the full set (the term is zero).
    """
    return _matrix(_term_lattice(term, tied), stay, end)


def epochs_walk(term, epochs: int, steps: int, *, stay=None, end=None, rates=None):
    """The sum over time assignments of several epochs of ``steps`` steps each, the batches
    in the same order every epoch (``reshuffle='fixed'``): the nodes of a block share a
    *phase* (step within the epoch), and may lie in different epochs.

    A time is ``t = e M + p`` (epoch ``e``, phase ``p``; the root at ``e = E - 1``,
    ``p = M``).  Every edge is either within one epoch (``p_child < p_parent``) or
    across epochs (``e_child < e_parent``, phases free); given which, the lag ``t_parent -
    t_child`` splits into ``M (e_parent - e_child - 1)`` and a phase part ``(M - 1 -
    p_child) + 1 + p_parent`` (or ``p_parent - p_child``), so the sum is, over the ``2^d``
    choices, a walk over the ``E - 1`` earlier epochs (components of within-epoch edges
    move together; ``stay^M`` per epoch an edge spans) times a walk over the ``M``
    phases (blocks move together; a crossing edge counts the phases after its child's
    and before its parent's).

    With ``rates`` instead (``eta lambda`` per edge), the phases are continuous in
    ``[0, M)`` and the propagator ``exp(-eta lambda lag)``: Remark 1's integral form on
    this space-time (the phase walk by :func:`_continuous`, ``exp(-eta lambda M)`` per
    epoch spanned).

    Args:
        term: an :class:`~symsgd.diagrams.resum.RTerm` with ``d >= 1`` edges.
        epochs, steps: ``E`` and ``M``.
        stay, end: ``(..., d)``: as for :func:`transfer` (discrete phases).
        rates: ``(..., d)``: the edges' decay rates (continuous phases).

    Returns the sum ``(...)`` (the row count and ``eta^d`` not included).
    """
    if (rates is None) == (stay is None or end is None):
        raise TypeError("epochs_walk takes either stay and end, or rates")
    parents = _node_parents(term)
    span = np.exp(-rates * steps) if rates is not None else stay ** steps
    total = np.zeros(span.shape[:-1])
    for across in itertools.product((False, True), repeat=term.order):
        lattice = _epoch_lattice(parents, across)
        if lattice is None:
            continue
        if epochs == 1:
            if lattice.variables:                                # variables left to place
                continue
            outer = np.ones(span.shape[:-1])
        else:
            outer = walk(_matrix(lattice, span, np.ones_like(span)), epochs - 1)
        lattice = _phase_lattice(term.rows, parents, across)
        if lattice is not None:
            inner = _continuous(lattice, rates, steps) if rates is not None else \
                walk(_matrix(lattice, stay, end), steps)
            total = total + outer * inner
    return total


def _node_parents(term) -> tuple:
    """Each edge's parent as a node index (``0 .. d-1``), ``None`` for the root or a loose
    end."""
    return tuple(p - 1 if p else None for p in term.parents)


@functools.lru_cache(maxsize=1 << 16)
def _epoch_lattice(parents, across):
    """The walk over earlier epochs: its variables are the components of the within-epoch
    edges (the root's component sits in the last epoch, placed before the walk), and a
    crossing edge runs from its parent's component to its child's, which must differ and
    not be the root's.  ``None`` when no assignment fits."""
    d = len(parents)
    component = list(range(d))

    def find(x):
        while component[x] != x:
            x = component[x]
        return x
    for v, p in enumerate(parents):
        if not across[v] and p is not None:
            component[find(v)] = find(p)
    roots = {find(v) for v, p in enumerate(parents) if not across[v] and p is None}
    labels = {c: i for i, c in enumerate(sorted({find(v) for v in range(d)} - roots))}
    place = [labels.get(find(v)) for v in range(d)]
    needs = [set() for _ in labels]
    edges = []
    for v, p in enumerate(parents):
        if across[v]:
            parent = None if p is None else place[p]
            if place[v] is None or parent == place[v]:          # no earlier epoch for it
                return None
            if parent is not None:
                needs[place[v]].add(parent)
            edges.append((v, parent, place[v]))
    return _lattice(len(labels), d, needs, edges=edges)


@functools.lru_cache(maxsize=1 << 16)
def _phase_lattice(rows, parents, across):
    """The walk over the phases of an epoch: its variables are the blocks (``rows``: each
    node's); a within-epoch edge orders its blocks, a crossing edge is a head (the phases
    after its child's) and a tail (those before its parent's)."""
    blocks = max(rows, default=-1) + 1
    needs = [set() for _ in range(blocks)]
    edges, heads, tails = [], [], []
    for v, p in enumerate(parents):
        child, parent = rows[v], None if p is None else rows[p]
        if across[v]:
            heads.append((v, child))
            tails.append((v, parent))
        else:
            if parent is not None:
                needs[child].add(parent)
            edges.append((v, parent, child))
    return _lattice(blocks, len(parents), needs, edges=edges, heads=heads, tails=tails)


def walk(W: np.ndarray, T: int) -> np.ndarray:
    """``(W^T)[..., empty, full]`` by repeated squaring (``log2 T`` matrix products)."""
    x = np.zeros(W.shape[:-2] + (1, W.shape[-1]))
    x[..., 0, 0] = 1.0
    power, T = W, int(T)
    while T:
        if T & 1:
            x = x @ power
        T >>= 1
        if T:
            power = power @ power
    return x[..., 0, -1]


def term_asymptote(term, tied: bool, stay: np.ndarray, end: np.ndarray, logstay: np.ndarray):
    """:func:`asymptote` of a term's walk on a homogeneous space-time, with its states'
    decays ``1 - W_ss`` from ``logstay`` (the factors' ``log stay``, ``(..., d)``; ``NaN``
    where ``stay <= 0``, then ``1 - W_ss`` is taken as is: no cancellation there).
    ``None`` when no walk reaches the full set."""
    lattice = _term_lattice(term, tied)
    if lattice is None:
        return None
    return _settled(_matrix(lattice, stay, end), _decay(lattice, logstay), lattice.variables + 1)


def epochs_asymptote(term, steps: int, *, stay, end, logstay):
    """:func:`asymptote` of :func:`epochs_walk` as the number of epochs ``E`` grows (the
    steps per epoch ``M`` fixed): each of the ``2^d`` walks over ``E - 1`` epochs tends to a
    polynomial, times its phase walk.  Returns ``(coefficients, bad)``, ``coefficients[...,
    k]`` multiplying ``E^k``, or ``None`` when no walk reaches the full set; ``stay``,
    ``end``, ``logstay``: as for :func:`term_asymptote`."""
    parents = _node_parents(term)
    span = stay ** steps
    total, bad = None, np.zeros(stay.shape[:-1], dtype=bool)
    for across in itertools.product((False, True), repeat=term.order):
        outer = _epoch_lattice(parents, across)
        inner = _phase_lattice(term.rows, parents, across)
        if outer is None or inner is None:
            continue
        W = _matrix(outer, span, np.ones_like(span))
        # one window for all (d + 1 >= the states a path passes): the parts add up as they are
        coefficients, wrong = _settled(W, _decay(outer, steps * logstay), term.order + 1)
        part = walk(_matrix(inner, stay, end), steps)[..., None] * _shifted(coefficients)
        total, bad = part if total is None else total + part, bad | wrong
    return None if total is None else (total, bad)


def _shifted(coefficients: np.ndarray) -> np.ndarray:
    """A polynomial in ``n`` (``coefficients[..., k]`` of ``n^k``) as one in ``E = n + 1``:
    ``n^k = sum_j binomial(k, j) (-1)^(k - j) E^j``."""
    K = coefficients.shape[-1]
    change = np.array([[math.comb(k, j) * (-1.0) ** (k - j) for j in range(K)]
                       for k in range(K)])
    return coefficients @ change


def _settled(W: np.ndarray, decay: np.ndarray, depth: int):
    """:func:`asymptote` with the decays that are ``NaN`` (``stay <= 0``, no logarithm)
    taken as ``1 - W_ss`` (no cancellation there)."""
    diag = np.diagonal(W, axis1=-2, axis2=-1)
    return asymptote(W, np.where(np.isnan(decay), 1.0 - diag, decay), depth)


def asymptote(W: np.ndarray, decay: np.ndarray, depth: int):
    """The polynomial that ``(W^T)[empty, full]`` approaches as ``T -> infinity``.

    With ``X_s(z) = sum_T (W^T)[empty, s] z^T``, ``X_s (1 - z W_ss) = [s = empty] +
    z sum_(r != s) X_r W_rs`` (states only grow, so this is solved state after state).  A
    state with ``W_ss = 1`` divides by ``1 - z``; a decaying one (``|W_ss| < 1``) by a
    factor analytic on ``|z| <= 1``.  So the full state's series is a polynomial part with
    poles at ``z = 1`` only, plus a part whose coefficients decay geometrically, and the
    principal part ``sum_j a_j (1 - z)^-j`` gives the polynomial ``sum_j a_j
    binomial(T + j - 1, j - 1)``.  It is computed in truncated Laurent series in ``1 - z``:
    a path meets at most ``depth`` unit states, so ``depth`` terms on each side suffice
    (the higher powers, truncated away, may overflow harmlessly).

    Args:
        W: ``(..., n, n)`` transfer matrices from :func:`transfer`.
        decay: ``(..., n)``: ``1 - W_ss``, computed without cancellation (``0``: a unit
            state, all its alive factors in flat directions).
        depth: the most states a path passes (variables + 1).

    Returns ``(coefficients, bad)``: ``coefficients[..., k]`` multiplies ``T^k``
    (``k = 0 .. depth - 1``; the limit is ``k = 0`` when the others vanish, the linear
    growth rate ``k = 1``), and ``bad`` marks entries where a reached state has ``|W_ss|
    >= 1`` and is no unit state (no polynomial describes them).
    """
    n = W.shape[-1]
    L = depth
    window = 2 * L + 1                                      # powers -L .. L of (1 - z)
    batch = W.shape[:-2]
    diag = np.diagonal(W, axis1=-2, axis2=-1)
    unit = decay == 0.0
    X = np.zeros(batch + (n, window))
    X[..., 0, L] = 1.0
    reached = np.zeros(batch + (n,), dtype=bool)
    reached[..., 0] = True
    with np.errstate(over="ignore", invalid="ignore"):
        for s in range(n):
            if s:
                incoming = np.einsum("...rj,...r->...j", X[..., :s, :], W[..., :s, s])
                X[..., s, :] = incoming - np.concatenate(        # times z = 1 - (1 - z)
                    [np.zeros(batch + (1,)), incoming[..., :-1]], axis=-1)
                reached[..., s] = np.any(reached[..., :s] & (W[..., :s, s] != 0), axis=-1)
            X[..., s, :] = np.where(unit[..., s, None], _shift_down(X[..., s, :]),
                                    _divide(X[..., s, :], diag[..., s], decay[..., s]))
    bad = np.any(reached & ~unit & ((decay <= 0.0) | (decay >= 2.0)), axis=-1)
    principal = X[..., -1, :L][..., ::-1]                  # a_1 .. a_L
    coefficients = np.zeros(batch + (L,))
    for j in range(1, L + 1):
        binom = np.poly1d([1.0])                           # binomial(T + j - 1, j - 1)
        for i in range(1, j):
            binom = binom * np.poly1d([1.0, float(i)]) / i
        c = binom.coeffs[::-1]
        coefficients[..., :len(c)] += principal[..., j - 1, None] * c
    return coefficients, bad


def _shift_down(series: np.ndarray) -> np.ndarray:
    """A truncated Laurent series divided by ``1 - z``."""
    return np.concatenate([series[..., 1:], np.zeros(series.shape[:-1] + (1,))], axis=-1)


def _divide(series: np.ndarray, w: np.ndarray, a: np.ndarray) -> np.ndarray:
    """A truncated Laurent series divided by ``1 - z w = a + w (1 - z)``, ``a = 1 - w != 0``
    (given, accurate)."""
    a = np.where(a == 0.0, 1.0, a)                          # unit states take the other branch
    ratio = -w / a
    out = np.zeros_like(series)
    term = series / a[..., None]
    for k in range(series.shape[-1]):
        out[..., k:] += term[..., :series.shape[-1] - k]
        term = term * ratio[..., None]
    return out
