"""Remark 1's exponential-integral form of the resummed diagrams: continuous times.

The discrete resummed value of a linkless term sums, over the strictly
increasing time assignments ``t_v < t_parent(v)`` (the root and loose ends at
``T``), the row count times the product over edges of ``(1 - eta lambda)^(lag - 1) eta``.
Here ``(1 - eta lambda)^(lag - 1)`` becomes ``exp(-eta lambda lag)`` and the sum
over steps an integral over times in ``[0, T]``.  The row counts become a
space-time density (:class:`Continuum`):

* full-batch steps (GD; ``B = N``): every point is in every batch, so each node
  of a block takes its own time and the block its row among ``N``: measure
  ``N dt_1 ... dt_m`` per block of ``m`` nodes;
* every point in at most one batch (single-epoch SGD, any batch ``B``): a point
  is visited at one step, so the nodes of a block share one time, and ``B``
  points are visited per unit of time: measure ``B dt`` per block.

In an eigenbasis of ``eta H`` the integrand is a product of exponentials.
Place the free times (one per node, or one per block when tied) in increasing
order: between two consecutive times the integrand decays at the rate of the
edges alive there (child placed, parent not yet), so the integral over one
order is an iterated integral of exponentials, the entry of the exponential of
a bidiagonal matrix (divided differences of ``exp``, Opitz's formula).
Summing over the orders is a walk on the lattice of down-sets (the sets of
times placed so far), whose exponential gives all of them at once
(:func:`symsgd.diagrams._transfer.term_integral`).  :func:`expm_metzler` evaluates it
with entrywise relative accuracy, zero and repeated rates included (no division
by rate differences).

>>> import numpy as np
>>> float(divided_differences(np.zeros(3)))  # exp[0, 0, 0] = 1/2!
0.5
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ScheduleError
from ..schedule import GDSchedule, SGDSchedule

__all__ = ["Continuum", "continuum", "divided_differences", "expm_metzler"]

_TAYLOR_TERMS = 20  # beyond the lattice depth; the scaled matrix has norm <= 1/2


@dataclass(frozen=True)
class Continuum:
    """The continuous space-time of a schedule.

    Attributes:
        T: the length of the time interval (the number of steps).
        tied: whether the nodes of a block share one time (each point is
            visited once) or take independent times (every point in every batch).
        rows: the density of a block: ``B`` points per unit of time when tied,
            ``N`` points otherwise.
    """

    T: int
    tied: bool
    rows: int


def continuum(schedule) -> Continuum:
    """The continuous space-time of a GD or single-epoch SGD schedule.

    Raises :class:`~symsgd.errors.ScheduleError` for the others (several
    epochs, reshuffling at random across epochs): their blocks revisit a point
    at separated times, which a time density does not describe.

    >>> from symsgd.schedule import gd, sgd
    >>> continuum(sgd(6, batch=2)), continuum(gd(3, steps=4))
    (Continuum(T=3, tied=True, rows=2), Continuum(T=4, tied=False, rows=3))
    """
    if isinstance(schedule, GDSchedule) and schedule.is_concrete:      # without listing
        return Continuum(int(schedule.steps), False, int(schedule.N))  # the steps
    realizations = ()
    if isinstance(schedule, SGDSchedule) and schedule.is_concrete:
        if schedule.batch == schedule.N:
            return Continuum(int(schedule.T), False, int(schedule.N))
        if schedule.epochs == 1:
            return Continuum(int(schedule.T), True, int(schedule.batch))
    else:
        realizations = schedule.realizations()
    if len(realizations) == 1:
        s = realizations[0][1]
        batches = [set(b) for b in s.batches]
        if all(len(b) == s.N for b in batches):
            return Continuum(s.T, False, s.N)
        if sum(map(len, batches)) == len(set().union(*batches)):
            return Continuum(s.T, True, s.batch)
    raise ScheduleError(f"the integral propagator needs full-batch steps (GD), single-epoch SGD "
                        f"(every point in at most one batch), epochs in a fixed order or "
                        f"uniformly reshuffled; {schedule} revisits points otherwise")


def expm_metzler(M) -> np.ndarray:
    """``exp(M)`` for (stacks of) upper-triangular matrices with non-negative
    off-diagonal entries, accurate entry by entry.

    Scaling and squaring: ``M / 2^s`` (``s`` per matrix, norm at most 1/2) by a
    Taylor series, then ``s`` squarings, which add non-negative products only.

    >>> expm_metzler([[0.0, 1.0], [0.0, 0.0]])
    array([[1., 1.],
           [0., 1.]])
    """
    M = np.asarray(M, dtype=np.float64)
    n = M.shape[-1]
    flat = M.reshape(-1, n, n)
    norm = np.abs(flat).sum(axis=-1).max(axis=-1, initial=0.0)
    s = np.ceil(np.log2(np.maximum(2 * norm, 1.0))).astype(int)
    Y = flat / np.ldexp(1.0, s)[:, None, None]
    eye = np.eye(n)
    F = np.broadcast_to(eye, Y.shape).copy()
    for k in range(n + _TAYLOR_TERMS, 0, -1):
        F = eye + Y @ F / k
    for r in range(s.max(initial=0)):
        more = s > r
        F[more] = F[more] @ F[more]
    return F.reshape(M.shape)


def divided_differences(x) -> np.ndarray:
    """``exp[x_0, ..., x_m]`` along the last axis: the integral over
    ``0 < s_1 < ... < s_m < 1`` of ``exp(sum_k x_k (s_(k+1) - s_k))``
    (``s_0 = 0``, ``s_(m+1) = 1``), exact for equal nodes.

    >>> print(f"{float(divided_differences([0.0, -1.0])):.12f}")  # (1 - e^-1) / 1
    0.632120558829
    """
    x = np.asarray(x, dtype=np.float64)
    m = x.shape[-1]
    A = x[..., :, None] * np.eye(m) + np.eye(m, k=1)
    return expm_metzler(A)[..., 0, m - 1]
