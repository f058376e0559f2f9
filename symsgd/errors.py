"""Typed errors raised by symsgd.

Every error is a :class:`SymsgdError`; the ones caused by a bad argument are
also :class:`ValueError` (or :class:`TypeError`), so generic handlers keep
working.

>>> from symsgd.errors import ScheduleError
>>> issubclass(ScheduleError, ValueError)
True
"""

import numbers

__all__ = [
    "SymsgdError",
    "SmoothnessWarning",
    "GrowthWarning",
    "ScheduleError",
    "LandscapeError",
    "MomentError",
    "OrderError",
    "NotPolynomialError",
    "MeasureError",
    "ShapeError",
    "StabilityError",
    "NonFiniteError",
    "SymbolError",
    "BackendError",
    "MissingStatisticError",
    "RangeError",
    "MatrixError",
    "MethodError",
    "InputTypeError",
    "DataError",
    "CheckpointError",
    "CampaignError",
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


class RangeError(SymsgdError, ValueError):
    """A number outside its valid range: momentum outside [0, 1), a learning rate <= 0, ..."""


class MatrixError(SymsgdError, ValueError):
    """A matrix without a property it needs: symmetric, positive (semi-)definite."""


class MethodError(SymsgdError, ValueError):
    """An unknown choice among named alternatives: a route (``method=``), a propagator, ..."""


class InputTypeError(SymsgdError, TypeError):
    """A value of a type that symsgd does not accept where it was given.

    Above all a string where a SymPy expression or a number is needed: symsgd
    never parses strings (``sympy.sympify`` of a string runs ``eval``), so
    build expressions with SymPy and pass them as objects.
    """


class SymbolError(SymsgdError, ValueError):
    """A symbol an expression does not have, or series in different learning-rate symbols."""


class BackendError(SymsgdError, ValueError):
    """An unknown array backend, or a numeric dtype that a kernel does not support."""


class MissingStatisticError(SymsgdError, KeyError):
    """The given statistics lack one that a contraction or kernel reads.

    >>> str(MissingStatisticError("no statistic (1, 1)"))
    'no statistic (1, 1)'
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def check_order(order) -> int:
    """``order`` as an ``int`` if it is a non-negative integer, else :class:`OrderError`.

    >>> check_order(3)
    3
    >>> check_order(-1)
    Traceback (most recent call last):
    ...
    symsgd.errors.OrderError: order must be a non-negative integer, got -1
    """
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 0:
        raise OrderError(f"order must be a non-negative integer, got {order!r}")
    return int(order)


class DataError(SymsgdError, ValueError):
    """A data set that cannot be read: a missing folder or file, or a corrupt or refused file.

    Raised by :mod:`symsgd.nets.data`, which never downloads anything: the
    message names the folder, the files expected there and where to get them.

    >>> issubclass(DataError, ValueError)
    True
    """


class CheckpointError(SymsgdError, ValueError):
    """A campaign directory that belongs to another config or code version, or is not one.

    Raised by :mod:`symsgd.nets.campaign`; the message names the difference.
    """


class CampaignError(SymsgdError, RuntimeError):
    """A chunk of a campaign failed: the message names the rank and the trials, and the
    original error is its ``__cause__`` (the chunks written before stay valid)."""


class SmoothnessWarning(UserWarning):
    """A loss that is only piecewise smooth in the parameters (ReLU, max pooling, ...).

    On a finite population the loss is smooth near ``theta_0`` unless a sample sits
    exactly on a kink, so the derivatives that :mod:`symsgd.nets` measures are right
    there; but a series in ``eta`` only describes training while no sample crosses a
    kink, a radius that nothing in the statistics reveals.  Emitted (not raised) by
    :class:`symsgd.nets.NetLandscape`.

    >>> issubclass(SmoothnessWarning, UserWarning)
    True
    """


class GrowthWarning(UserWarning):
    """A prediction that grows faster than linearly in ``T``: a linear growth rate is still
    returned (the coefficient of ``T``).  The growth may be real (the second moment of a
    drifting quantity) or a truncated expansion's, which higher orders cancel (HELIX's
    displacement from order 6).

    Emitted (not raised) by :meth:`symsgd.Resummed.velocity`.

    >>> issubclass(GrowthWarning, UserWarning)
    True
    """
