"""Typed errors raised by symsgd.

Every error is a :class:`SymsgdError`; the ones caused by a bad argument are
also :class:`ValueError` (or :class:`TypeError`), so generic handlers keep
working.

>>> from symsgd.errors import ScheduleError
>>> issubclass(ScheduleError, ValueError)
True
"""

__all__ = [
    "SymsgdError",
    "ScheduleError",
    "LandscapeError",
    "MomentError",
    "OrderError",
    "NotPolynomialError",
    "MeasureError",
    "ShapeError",
    "StabilityError",
    "NonFiniteError",
]


class SymsgdError(Exception):
    """Base class of every error raised by symsgd."""


class ScheduleError(SymsgdError, ValueError):
    """An invalid batch schedule: empty or unequal batches, bad indices or sizes."""


class LandscapeError(SymsgdError, ValueError):
    """An invalid loss landscape: missing initial values, unused data symbols, ..."""


class MomentError(SymsgdError, ValueError):
    """A data distribution lacks a moment that the computation needs."""


class OrderError(SymsgdError, ValueError):
    """An invalid expansion order (negative, non-integer)."""


class NotPolynomialError(SymsgdError, ValueError):
    """The exact engine needs a loss that is polynomial in the parameters."""


class MeasureError(SymsgdError, ValueError):
    """An unknown measured quantity (``measure=`` argument)."""


class ShapeError(SymsgdError, ValueError):
    """Arrays whose shapes do not fit together."""


class StabilityError(SymsgdError, ValueError):
    """A learning rate outside the region where the optimizer is stable."""


class NonFiniteError(SymsgdError, ValueError):
    """A statistic or input that contains NaN or infinity."""
