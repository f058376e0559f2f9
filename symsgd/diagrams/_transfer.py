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

``W`` is triangular (states only grow), with non-negative entries at stable learning
rates, so ``W^T`` by repeated squaring is accurate entry by entry and takes ``log2 T``
products: the cost is flat in ``T`` but for that logarithm.  The same matrix gives the
``T -> infinity`` limit (Tenka, Theorem 2).  The full set absorbs (no edge is alive
there: ``W = 1``); when every other state ``s`` decays (``|W_ss| < 1``) the limit is the
mass it absorbs, ``e_empty (I - W_XX)^-1 W_Xf``.  A state with ``W_ss = 1`` (all its
alive edges in zero-curvature directions: a valley of minima) keeps the mass it receives
and leaks it into the full set at a constant rate, so the value grows linearly in ``T``;
that rate is the drift velocity (:func:`asymptote`).

>>> import numpy as np
>>> from symsgd.diagrams.resum import rvalue_terms
>>> term = rvalue_terms(1, 'test', 1, 1)[1]          # *(a): one edge, to the root
>>> q = np.array([[0.5]])
>>> float(walk(transfer(term, True, q, np.ones((1, 1))), 3)[0, 0])   # 1 + q + q^2
1.75
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["transfer", "walk", "asymptote"]


def _lattice(term, tied: bool):
    """``(number of states, transitions)`` of the backward walk, or ``None`` when no walk
    reaches the full set (a block tied across an edge).  The states are the placeable
    sets ordered by size (empty first, full last); a transition is ``(i, j, ending,
    staying)``: the edges alive in state ``i`` whose child is placed on the way to ``j``,
    and the other alive edges."""
    var = [term.rows[v] if tied else v for v in range(term.order)]
    m = len(set(var))
    needs = [set() for _ in range(m)]               # variables placed before each one
    for v, p in enumerate(term.parents):
        if p:
            if var[v] == var[p - 1]:
                return None
            needs[var[v]].add(var[p - 1])
    states = [frozenset(S) for k in range(m + 1) for S in itertools.combinations(range(m), k)
              if all(needs[x] <= set(S) for x in S)]
    index = {S: i for i, S in enumerate(states)}
    transitions = []
    for S, i in index.items():
        alive = [v for v, p in enumerate(term.parents)
                 if var[v] not in S and (not p or var[p - 1] in S)]
        free = [x for x in range(m) if x not in S and needs[x] <= S]
        for k in range(len(free) + 1):
            for A in itertools.combinations(free, k):
                ending = tuple(v for v in alive if var[v] in A)
                staying = tuple(v for v in alive if var[v] not in A)
                transitions.append((i, index[S | set(A)], ending, staying))
    return len(states), transitions


def transfer(term, tied: bool, stay: np.ndarray, end: np.ndarray):
    """The one-step matrix ``W[eta, i_1, ..., i_d, state, state]`` of a term's walk.

    Args:
        term: an :class:`~symsgd.diagrams.resum.RTerm` with ``d >= 1`` edges.
        tied: whether the nodes of a block share one step (single-epoch SGD).
        stay: ``(E, P)``: an edge's factor for a step in which its child stays unplaced,
            per learning rate and eigenvalue (``q`` or ``r``).
        end: ``(E, P)``: its factor for the step in which its child is placed.

    Returns ``None`` when no walk reaches the full set (the term is zero).
    """
    lattice = _lattice(term, tied)
    if lattice is None:
        return None
    n, transitions = lattice
    d = term.order
    E, P = stay.shape
    W = np.zeros((E,) + (P,) * d + (n, n))
    for i, j, ending, staying in transitions:
        w = np.ones((E,) + (1,) * d)
        for factors, edges in ((end, ending), (stay, staying)):
            for v in edges:
                shape = [E] + [1] * d
                shape[v + 1] = P
                w = w * factors.reshape(shape)
        W[..., i, j] += w
    return W


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


def _closure(A: np.ndarray) -> np.ndarray:
    """Reflexive-transitive closure of boolean adjacency matrices (last two axes)."""
    n = A.shape[-1]
    R = A | np.eye(n, dtype=bool)
    for _ in range(max(1, int(np.ceil(np.log2(max(n, 2)))))):
        R = R | (np.matmul(R.astype(np.float64), R.astype(np.float64)) > 0)
    return R


def asymptote(W: np.ndarray):
    """The ``T -> infinity`` behaviour of ``(W^T)[empty, full]``: ``(limit, velocity, bad)``.

    ``velocity`` is the linear growth rate (zero where the walk has a limit), ``limit``
    the absorbed mass through decaying states (the limit where ``velocity`` is zero), and
    ``bad`` marks entries with no limit nor linear growth: a reached state with
    ``|W_ss| > 1`` or ``W_ss = -1`` (unstable), or mass passing two unit states.
    """
    X = W[..., :-1, :-1]
    n = X.shape[-1]
    diag = np.diagonal(X, axis1=-2, axis2=-1)
    unit = diag == 1.0
    reach = _closure(X != 0)
    reached = reach[..., 0, :]
    unstable = reached & ((np.abs(diag) > 1.0) | (diag == -1.0))
    decaying = X * ~unit[..., :, None]                  # unit states: no way onwards
    eye = np.eye(n)
    start = np.zeros(n)
    start[0] = 1.0
    system = eye - decaying
    mass = np.linalg.solve(np.swapaxes(system, -1, -2), np.broadcast_to(
        start, X.shape[:-1])[..., None])[..., 0]        # e_0 (I - X')^-1
    onward = np.linalg.solve(system, W[..., :-1, -1:])[..., 0]
    limit = (mass * W[..., :-1, -1] * ~unit).sum(-1)
    held = (mass[..., :, None] * X * ~unit[..., :, None]).sum(-2) * unit + unit * (
        np.arange(n) == 0)                              # mass kept by each unit state
    leak = (X * ~unit[..., None, :] * onward[..., None, :]).sum(-1) + W[..., :-1, -1]
    velocity = (held * leak * unit).sum(-1)
    chained = unit[..., :, None] & unit[..., None, :] & ~np.eye(n, dtype=bool) & reach
    bad = np.any(unstable, axis=-1) | np.any(chained & (held != 0)[..., :, None], axis=(-2, -1))
    return limit, velocity, bad
