"""Sizes of a series (``N``, ``B``, ``E``, ...): checked values for its symbols.

One job, shared by :meth:`symsgd.series.Series.subs`, :meth:`~symsgd.series.Series.evaluate`
and the compiled kernels (:mod:`symsgd.codegen`):

* :func:`size_value` gives a symbol an exact value that meets the symbol's
  assumptions (an integer for an integer symbol, ...);
* :func:`substitute_schedule` puts values into a schedule's symbolic sizes and
  rebuilds it through its own constructor, so the schedule's rules (``batch``
  divides ``N``, ``batch <= N``, positive integers) are checked whether the
  values are numbers or expressions;
* :func:`statistics_source` checks what a series is evaluated on.

>>> import sympy
>>> from symsgd.schedule import sgd
>>> N, B = sympy.symbols('N B', integer=True, positive=True)
>>> substitute_schedule(sgd(N, batch=B), {N: 4, B: 2})
SGDSchedule(N=4, batch=2, epochs=1, reshuffle='fixed')
>>> substitute_schedule(sgd(N, batch=B), {N: 4, B: 3})
Traceback (most recent call last):
...
symsgd.errors.ScheduleError: N = 4, B = 3 do not fit the schedule sgd(N=N, batch=B, epochs=1, reshuffle='fixed'): batch = 3 does not divide N = 4
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping

import sympy

from .errors import InputTypeError, LandscapeError, RangeError, ScheduleError
from .schedule import GDSchedule, SGDSchedule, gd, sgd

__all__ = ["size_value", "schedule_symbols", "substitute_schedule", "statistics_source"]

#: The public builder of each schedule family (it carries the family's own checks).
_BUILDERS = {SGDSchedule: sgd, GDSchedule: gd}

_ASSUMPTIONS = ("integer", "positive", "nonnegative", "nonzero")


def size_value(symbol: sympy.Symbol, value):
    """``value`` for ``symbol`` as an exact SymPy number or expression meeting its assumptions.

    Args:
        symbol: the symbol that gets the value.
        value: an ``int``, a ``fractions.Fraction``, a numpy integer or a SymPy
            expression.

    Raises:
        InputTypeError: a string (never parsed), a float, a bool or another type.
        RangeError: a value that breaks an assumption of ``symbol`` (a negative
            or fractional value for ``Symbol('N', integer=True, positive=True)``).

    >>> import sympy
    >>> N = sympy.Symbol('N', integer=True, positive=True)
    >>> size_value(N, 3)
    3
    >>> size_value(N, -3)
    Traceback (most recent call last):
    ...
    symsgd.errors.RangeError: N is positive, got -3
    """
    if isinstance(value, (str, bytes)):
        raise InputTypeError(f"{symbol} = {value!r}: a string is never parsed; give a number "
                             "or build the expression with SymPy")
    if isinstance(value, (bool, float)) or not isinstance(value, (numbers.Rational, sympy.Basic)):
        raise InputTypeError(f"{symbol} = {value!r}: give an exact number (int, Fraction, "
                             "sympy.Rational) or a SymPy expression")
    if not isinstance(value, sympy.Basic):
        value = sympy.Rational(value.numerator, value.denominator)
    if not isinstance(value, sympy.Expr):
        raise InputTypeError(f"{symbol} = {value!r}: not a SymPy expression")
    if value.has(sympy.Float):
        raise InputTypeError(f"{symbol} = {value}: floats are not exact")
    for assumption in _ASSUMPTIONS:
        if getattr(symbol, f"is_{assumption}") and getattr(value, f"is_{assumption}") is False:
            raise RangeError(f"{symbol} is {assumption}, got {value}")
    return value


def _sizes(schedule) -> dict:
    """The schedule's fields that hold SymPy sizes."""
    if not dataclasses.is_dataclass(schedule):
        return {}
    return {f.name: getattr(schedule, f.name) for f in dataclasses.fields(schedule)
            if isinstance(getattr(schedule, f.name), sympy.Basic)}


def schedule_symbols(schedule) -> set:
    """The symbols in a schedule's sizes (empty for ``None`` or a concrete schedule).

    >>> import sympy
    >>> from symsgd.schedule import gd
    >>> schedule_symbols(gd(sympy.Symbol('N', integer=True, positive=True), steps=2))
    {N}
    """
    return set().union(*(v.free_symbols for v in _sizes(schedule).values()))


def substitute_schedule(schedule, rule, method: str = "subs"):
    """The schedule with ``rule`` applied to its sizes, rebuilt through its constructor.

    Args:
        schedule: a schedule, or ``None`` (returned as is).
        rule: a mapping from symbols (or other SymPy keys) to values.
        method: ``'subs'`` or ``'xreplace'``, the SymPy substitution applied.

    Raises:
        ScheduleError: the substituted sizes break the schedule's rules.
    """
    changes = {}
    for name, size in _sizes(schedule).items():
        new = getattr(size, method)(rule)
        if new != size:
            changes[name] = new
    if not changes:
        return schedule
    given = ", ".join(f"{k} = {v}" for k, v in rule.items())
    try:
        build = _BUILDERS.get(type(schedule))
        if build is None:
            return dataclasses.replace(schedule, **changes)
        values = {f.name: getattr(schedule, f.name) for f in dataclasses.fields(schedule)}
        values.update(changes)
        return build(values.pop("N"), **values)
    except ScheduleError as error:
        raise ScheduleError(f"{given} do not fit the schedule {schedule}: {error}") from error


def statistics_source(landscape, what: str):
    """What a series is evaluated on: a landscape's cumulants, a mapping or a callable.

    Raises:
        LandscapeError: ``None`` (no landscape given).
        InputTypeError: anything else that is neither a landscape, a mapping
            from degree tuples to arrays, nor a callable ``stats(k1, ..., km)``.
    """
    if landscape is None:
        raise LandscapeError(f"{what} needs a landscape (or its statistics), got None")
    stats = getattr(landscape, "cumulant", landscape)
    if isinstance(stats, (str, bytes)) or not (callable(stats) or isinstance(stats, Mapping)):
        raise InputTypeError(f"{what} needs a Landscape, a mapping from degree tuples to arrays "
                             f"or a callable stats(k1, ..., km); got {type(landscape).__name__}")
    return stats
