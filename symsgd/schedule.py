"""Batch schedules: which training points each SGD step uses.

A schedule is a list of batches ``B_0, ..., B_{T-1}`` of indices into the
training set ``x_0, ..., x_{N-1}``; step ``t`` moves the weights by
``-eta * mean_{n in B_t} grad l_n``.  Its *space-time* is the set of cells
``(n, t)`` with ``n in B_t``.

Three kinds of schedule share one interface (:class:`BaseSchedule`):

* :class:`Schedule` -- an explicit list of batches;
* :class:`SGDSchedule` -- ``epochs`` passes over ``N`` points in batches of
  ``batch``, with a rule for reshuffling between epochs (built by :func:`sgd`);
* :class:`GDSchedule` -- ``steps`` full-batch steps (built by :func:`gd`).

The family types accept SymPy symbols for their sizes, for the symbolic
routes; a schedule whose sizes are all numbers is *concrete* and can list its
batches.  A uniformly reshuffled schedule is a random schedule: its
:meth:`~BaseSchedule.realizations` are all equally likely batch sequences with
their probabilities, which the exact engine averages over.

>>> s = sgd(4, batch=2, epochs=2)
>>> s.T
4
>>> print(s.draw())
n\\t 0 1 2 3
  0  # . # .
  1  # . # .
  2  . # . #
  3  . # . #
"""

from __future__ import annotations

import itertools
import math
import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import sympy

from ._sympify import refuse_text
from .errors import InputTypeError, MethodError, RangeError, ScheduleError

__all__ = [
    "BaseSchedule",
    "Schedule",
    "SGDSchedule",
    "GDSchedule",
    "sgd",
    "gd",
    "MAX_REALIZATIONS",
]

#: Largest number of distinct batch sequences a random schedule may average over exactly.
MAX_REALIZATIONS = 200_000

_RESHUFFLE_RULES = ("fixed", "random")


def _size(value, name: str):
    """Validate a size: a positive integer, or a SymPy expression that may be one.

    A symbolic size is refused when SymPy's assumptions decide that it is not
    an integer or not positive (``Symbol('k', negative=True)``); a plain
    ``Symbol('N')`` is accepted (declare ``integer=True, positive=True`` so that
    more can be checked).
    """
    refuse_text(value, name)
    if isinstance(value, bool):
        raise InputTypeError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, (float, np.floating, sympy.Float)):
        raise InputTypeError(f"{name} must be an integer, got the float {value!r}")
    if isinstance(value, numbers.Integral):
        value = int(value)
    elif isinstance(value, sympy.Expr):
        if isinstance(value, sympy.Integer):
            value = int(value)
        elif value.is_number:
            raise ScheduleError(f"{name} must be an integer, got {value}")
        elif value.is_integer is False or value.is_positive is False:
            raise ScheduleError(f"{name} must be a positive integer, got {value}")
        else:
            return value
    else:
        raise InputTypeError(f"{name} must be an integer or a SymPy expression, got "
                             f"{type(value).__name__} {value!r}")
    if value < 1:
        raise ScheduleError(f"{name} must be at least 1, got {value}")
    return value


def _is_number(value) -> bool:
    return isinstance(value, int)


class BaseSchedule(ABC):
    """What every schedule offers: sizes, realizations, cells, drawing, sampling."""

    N: object
    batch: object

    @property
    @abstractmethod
    def T(self):
        """The number of steps (an int, or a SymPy expression for symbolic sizes)."""

    @property
    def is_concrete(self) -> bool:
        """Whether every size is a number, so that the batches can be listed."""
        return all(_is_number(v) for v in self._sizes())

    def _sizes(self) -> tuple:
        return (self.N, self.batch)

    def _require_concrete(self, what: str) -> None:
        if not self.is_concrete:
            raise ScheduleError(f"{what} needs numeric sizes; {self} has symbolic ones")

    @abstractmethod
    def realizations(self) -> tuple[tuple[sympy.Rational, "Schedule"], ...]:
        """The possible explicit schedules with their probabilities (summing to 1)."""

    @property
    def is_random(self) -> bool:
        """Whether the batch sequence is random (more than one realization)."""
        return len(self.realizations()) > 1

    def _single(self, what: str) -> "Schedule":
        if self.is_random:
            raise ScheduleError(f"{what} of a randomly reshuffled schedule is random; "
                                "iterate over realizations() instead")
        return self.realizations()[0][1]

    @property
    def cells(self) -> frozenset[tuple[int, int]]:
        """The space-time cells ``(n, t)`` with ``n`` in batch ``t``."""
        return frozenset((n, t) for t, b in enumerate(self.batches) for n in b)

    def sample_batches(self, rng: np.random.Generator, trials: int) -> np.ndarray:
        """Draw the batches of ``trials`` independent runs: an int array ``(trials, T, batch)``.

        Args:
            rng: a ``numpy.random.Generator``.
            trials: the number of runs, a positive integer.

        Raises:
            InputTypeError: ``rng`` not a Generator, ``trials`` not an integer.
            RangeError: ``trials`` below 1.
            ScheduleError: symbolic sizes.

        >>> import numpy as np
        >>> sgd(4, batch=2).sample_batches(np.random.default_rng(0), 1).tolist()
        [[[0, 1], [2, 3]]]
        """
        _check_sampling(rng, trials)
        self._require_concrete("sampling batches")
        base = np.asarray(self.batches, dtype=np.int64)
        return np.broadcast_to(base, (trials,) + base.shape)

    def draw(self) -> str:
        """The space-time as a text grid: rows are points ``n``, columns steps ``t``."""
        self._require_concrete("drawing")
        if self.is_random:
            return self._draw_random()
        return _grid(self.N, self.T, self.cells)

    def _draw_random(self) -> str:
        raise ScheduleError(f"{self} has no random realizations to draw")


def _check_sampling(rng, trials) -> None:
    if not isinstance(rng, np.random.Generator):
        raise InputTypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    refuse_text(trials, "trials")
    if isinstance(trials, bool) or not isinstance(trials, numbers.Integral):
        raise InputTypeError(f"trials must be an integer, got {trials!r}")
    if trials < 1:
        raise RangeError(f"trials must be at least 1, got {trials}")


def _grid(N: int, T: int, cells, unknown=frozenset()) -> str:
    width = len(str(max(T - 1, 0)))
    head = "n\\t " + " ".join(str(t).rjust(width) for t in range(T))
    rows = [head]
    for n in range(N):
        marks = []
        for t in range(T):
            mark = "#" if (n, t) in cells else "?" if t in unknown else "."
            marks.append(mark.rjust(width))
        rows.append(str(n).rjust(3) + "  " + " ".join(marks))
    return "\n".join(rows)


@dataclass(frozen=True)
class Schedule(BaseSchedule):
    """An explicit schedule: a list of equally sized batches of point indices.

    Args:
        batches: a non-empty sequence of non-empty sequences of distinct
            indices in ``range(N)``, all of the same length.
        N: the number of training points; defaults to the largest index plus
            one.  Points that no batch uses still count for the training loss.

    >>> s = Schedule([[0, 1], [2, 0]])
    >>> s.N, s.batch, s.T
    (3, 2, 2)
    >>> sorted(s.cells)
    [(0, 0), (0, 1), (1, 0), (2, 1)]
    """

    batches: tuple[tuple[int, ...], ...]
    N: int | None = field(default=None, kw_only=True)

    def __post_init__(self):
        refuse_text(self.batches, "batches")
        if not hasattr(self.batches, "__iter__"):
            raise ScheduleError("batches must be a sequence of sequences of indices")
        batches = []
        for t, b in enumerate(self.batches):
            refuse_text(b, f"batch {t}")
            if not hasattr(b, "__iter__"):
                raise ScheduleError(f"batch {t} is not a sequence of indices: {b!r}")
            idx = []
            for n in b:
                refuse_text(n, f"an index in batch {t}")
                if isinstance(n, (float, np.floating, sympy.Float)):
                    raise InputTypeError(f"batch {t} holds the float index {n!r}")
                if isinstance(n, bool) or not isinstance(n, (numbers.Integral, sympy.Integer)):
                    raise ScheduleError(f"batch {t} holds a non-integer index {n!r}")
                idx.append(int(n))
            if not idx:
                raise ScheduleError(f"batch {t} is empty")
            if len(set(idx)) != len(idx):
                raise ScheduleError(f"batch {t} lists a point twice: {idx}")
            if min(idx) < 0:
                raise ScheduleError(f"batch {t} holds a negative index: {idx}")
            batches.append(tuple(sorted(idx)))
        if not batches:
            raise ScheduleError("a schedule needs at least one batch")
        sizes = {len(b) for b in batches}
        if len(sizes) > 1:
            raise ScheduleError(f"batches must have equal sizes, got sizes {sorted(sizes)}")
        top = max(max(b) for b in batches) + 1
        N = top if self.N is None else _size(self.N, "N")
        if not isinstance(N, int):
            raise ScheduleError("an explicit schedule needs a numeric N")
        if top > N:
            raise ScheduleError(f"index {top - 1} is out of range for N = {N}")
        object.__setattr__(self, "batches", tuple(batches))
        object.__setattr__(self, "N", N)

    @property
    def batch(self) -> int:
        """The common batch size."""
        return len(self.batches[0])

    @property
    def T(self) -> int:
        return len(self.batches)

    def realizations(self):
        return ((sympy.Integer(1), self),)

    @property
    def is_random(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"Schedule(N={self.N}, batch={self.batch}, T={self.T})"


class _Family(BaseSchedule):
    """A schedule given by sizes; its batches come from its realizations."""

    @property
    def batches(self) -> tuple[tuple[int, ...], ...]:
        """The batches as sorted tuples of point indices (deterministic schedules only)."""
        self._require_concrete("listing batches")
        return self._single("the batch list").batches


@dataclass(frozen=True)
class SGDSchedule(_Family):
    """Multi-epoch minibatch SGD over ``N`` points.

    Each epoch visits every point once, in ``N / batch`` batches of consecutive
    points of that epoch's order.  ``reshuffle`` says how the order changes
    between epochs:

    * ``'fixed'``: the same order ``0, 1, ..., N-1`` every epoch;
    * an ``int`` seed: a seeded random permutation for each epoch;
    * ``'random'``: a fresh uniformly random permutation for each epoch; the
      exact engine averages over all of them exactly.

    Use :func:`sgd` to build one.

    >>> import sympy
    >>> N, B = sympy.symbols('N B', positive=True, integer=True)
    >>> sgd(N, batch=B, epochs=2).T
    2*N/B
    """

    N: object
    batch: object = field(default=1, kw_only=True)
    epochs: object = field(default=1, kw_only=True)
    reshuffle: object = field(default="fixed", kw_only=True)

    def __post_init__(self):
        object.__setattr__(self, "N", _size(self.N, "N"))
        object.__setattr__(self, "batch", _size(self.batch, "batch"))
        object.__setattr__(self, "epochs", _size(self.epochs, "epochs"))
        r = self.reshuffle
        if isinstance(r, str):
            if r not in _RESHUFFLE_RULES:
                raise MethodError(f"reshuffle must be 'fixed', 'random' or an integer seed, "
                                  f"got {r!r}")
        elif isinstance(r, bool) or not isinstance(r, numbers.Integral):
            raise InputTypeError(
                f"reshuffle must be 'fixed', 'random' or an integer seed, got {r!r}")
        elif r < 0:
            raise RangeError(f"a reshuffle seed must be a non-negative integer, got {r}")
        else:
            object.__setattr__(self, "reshuffle", int(r))
        _check_divides(self.N, self.batch)

    def _sizes(self):
        return (self.N, self.batch, self.epochs)

    @property
    def steps_per_epoch(self):
        """``N / batch``."""
        if isinstance(self.N, int) and isinstance(self.batch, int):
            return self.N // self.batch
        return sympy.Integer(self.N) / self.batch if isinstance(self.N, int) else \
            self.N / self.batch

    @property
    def T(self):
        return self.epochs * self.steps_per_epoch

    def realizations(self):
        self._require_concrete("listing realizations")
        return _sgd_realizations(self.N, self.batch, self.epochs, self.reshuffle)

    @property
    def is_random(self) -> bool:
        # Sizes are valid, so epochs > 1 iff epochs != 1 and N > batch iff N != batch;
        # symbolic sizes count as random unless identically one epoch or one batch.
        return self.reshuffle == "random" and self.epochs != 1 and self.N != self.batch

    def sample_batches(self, rng, trials):
        if self.reshuffle != "random":
            return super().sample_batches(rng, trials)
        _check_sampling(rng, trials)
        self._require_concrete("sampling batches")
        orders = rng.permuted(np.tile(np.arange(self.N), (trials, self.epochs, 1)), axis=2)
        return np.sort(orders.reshape(trials, self.T, self.batch), axis=2)

    def _draw_random(self) -> str:
        first = {(n, t) for t, b in enumerate(_split(range(self.N), self.batch)) for n in b}
        later = frozenset(range(self.steps_per_epoch, self.T))
        return _grid(self.N, self.T, first, later) + "\n(later epochs reshuffled at random: ?)"

    def __str__(self) -> str:
        return (f"sgd(N={self.N}, batch={self.batch}, epochs={self.epochs}, "
                f"reshuffle={self.reshuffle!r})")


def _check_divides(N, batch) -> None:
    """Refuse a batch that exceeds or does not divide ``N``, when SymPy can decide it.

    Numeric sizes are checked exactly.  For symbolic sizes the checks are
    ``(N - batch).is_negative`` and ``(N / batch).is_integer`` under the
    symbols' assumptions: ``sgd(N, batch=N + 1)`` and ``sgd(N, batch=2 * N)``
    are refused for a positive ``N``, and ``sgd(N, batch=2)`` for an odd ``N``;
    what SymPy cannot decide (``sgd(N, batch=B)``) is accepted, and checked
    again when sizes are substituted.
    """
    if isinstance(N, int) and isinstance(batch, int):
        if N % batch:
            raise ScheduleError(f"batch = {batch} does not divide N = {N}")
        return
    n, b = sympy.Integer(N) if isinstance(N, int) else N, \
        sympy.Integer(batch) if isinstance(batch, int) else batch
    if (n - b).is_negative:
        raise ScheduleError(f"batch = {batch} exceeds N = {N}")
    if (n / b).is_integer is False:
        raise ScheduleError(f"batch = {batch} does not divide N = {N}")


def _sgd_realizations(N: int, batch: int, epochs: int, reshuffle):
    ident = list(range(N))
    if reshuffle == "fixed":
        orders = [ident] * epochs
    elif reshuffle != "random":
        rng = np.random.default_rng(reshuffle)
        orders = [list(rng.permutation(N)) for _ in range(epochs)]
    if reshuffle != "random":
        batches = [b for order in orders for b in _split(order, batch)]
        return ((sympy.Integer(1), Schedule(batches, N=N)),)
    # Uniform reshuffling: the first epoch's order is immaterial (the data are
    # exchangeable), each later epoch is a uniformly random ordered partition of
    # the points into batches (each one comes from batch!^(N/batch) permutations).
    log_seq = (epochs - 1) * (math.lgamma(N + 1) - N // batch * math.lgamma(batch + 1))
    n_seq = None if log_seq > math.log(MAX_REALIZATIONS) + 1.0 else \
        (math.factorial(N) // math.factorial(batch) ** (N // batch)) ** (epochs - 1)
    if n_seq is None or n_seq > MAX_REALIZATIONS:
        count = n_seq or f"about 10^{log_seq / math.log(10):.0f}"   # not the huge integer
        raise ScheduleError(
            f"uniform reshuffling of N={N}, batch={batch}, epochs={epochs} has {count} "
            "batch sequences, more than MAX_REALIZATIONS="
            f"{MAX_REALIZATIONS}; use a symbolic route, the resummed form or a seeded shuffle")
    per_epoch = list(_batchings(tuple(range(N)), batch))
    first = tuple(_split(ident, batch))
    weight = sympy.Rational(1, n_seq)
    return tuple((weight, Schedule(first + sum(combo, ()), N=N))
                 for combo in itertools.product(per_epoch, repeat=epochs - 1))


def _split(order, batch):
    return [tuple(sorted(int(i) for i in order[j:j + batch])) for j in range(0, len(order), batch)]


def _batchings(points: tuple, batch: int) -> Iterator[tuple[tuple[int, ...], ...]]:
    """Every ordered partition of ``points`` into batches of ``batch`` (sorted tuples)."""
    if not points:
        yield ()
        return
    for first in itertools.combinations(points, batch):
        rest = tuple(p for p in points if p not in first)
        for tail in _batchings(rest, batch):
            yield (first,) + tail


@dataclass(frozen=True)
class GDSchedule(_Family):
    """Full-batch gradient descent: ``steps`` steps, each on all ``N`` points.

    >>> g = gd(3, steps=2)
    >>> g.batches
    ((0, 1, 2), (0, 1, 2))
    """

    N: object
    steps: object = field(default=1, kw_only=True)

    def __post_init__(self):
        object.__setattr__(self, "N", _size(self.N, "N"))
        object.__setattr__(self, "steps", _size(self.steps, "steps"))

    @property
    def batch(self):
        return self.N

    def _sizes(self):
        return (self.N, self.steps)

    @property
    def T(self):
        return self.steps

    def realizations(self):
        self._require_concrete("listing realizations")
        return ((sympy.Integer(1), Schedule([range(self.N)] * self.steps, N=self.N)),)

    @property
    def is_random(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"gd(N={self.N}, steps={self.steps})"


def sgd(N, *, batch=1, epochs=1, reshuffle="fixed") -> SGDSchedule:
    """Minibatch SGD: ``epochs`` passes over ``N`` points in batches of ``batch``.

    Args:
        N: number of training points (a positive int or a SymPy expression).
        batch: batch size, dividing ``N``.
        epochs: number of passes.
        reshuffle: ``'fixed'`` (same order each epoch), ``'random'`` (uniform
            reshuffling, averaged exactly) or an integer seed.

    Sizes may be SymPy expressions for the symbolic routes.  Numeric sizes are
    checked exactly; symbolic ones as far as their assumptions decide: a size
    that is provably not a positive integer, a batch provably larger than
    ``N`` (``N - batch`` negative) or provably not dividing it (``N / batch``
    not an integer) is refused.

    Raises:
        InputTypeError: a size that is a string, a float, a bool or not a
            number or SymPy expression; a reshuffle seed that is not an int.
        ScheduleError: a size below 1 or not an integer; a batch that exceeds
            or does not divide ``N``.
        MethodError: an unknown reshuffle rule.
        RangeError: a negative reshuffle seed.

    >>> sgd(6, batch=2).batches
    ((0, 1), (2, 3), (4, 5))
    >>> import sympy
    >>> N = sympy.Symbol('N', integer=True, positive=True)
    >>> sgd(N, batch=N + 1)
    Traceback (most recent call last):
    ...
    symsgd.errors.ScheduleError: batch = N + 1 exceeds N = N
    """
    return SGDSchedule(N, batch=batch, epochs=epochs, reshuffle=reshuffle)


def gd(N, *, steps=1) -> GDSchedule:
    """Full-batch gradient descent on ``N`` points for ``steps`` steps.

    Args:
        N: number of training points (a positive int or a SymPy expression).
        steps: number of steps (likewise).

    Raises:
        InputTypeError: a size that is a string, a float, a bool or not a
            number or SymPy expression.
        ScheduleError: a size below 1 or provably not a positive integer.

    >>> gd(2, steps=3).T
    3
    """
    return GDSchedule(N, steps=steps)
