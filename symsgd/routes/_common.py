"""What the three routes share: one check of a request, one tail from coefficients to a Series.

Every route answers a :class:`Request` -- a schedule, the highest power of
``eta``, the measure (``'test'``, ``'train'``, ``'gap'``, ``'weights'``), the
moment, optionally a landscape, and the learning-rate symbol -- checked once,
here, when it is built.  A route computes the coefficients of
``eta^0..eta^order``; its :class:`Route` record then runs the common tail: the
symbolic routes' coefficients (expressions in contractions) are evaluated on
the landscape's exact cumulants when there is one, and the coefficients
become a :class:`~symsgd.Series` that records how it was derived.

>>> from symsgd import sgd
>>> from symsgd.routes import METHODS, Request
>>> METHODS['direct'](Request(sgd(2), 1, measure='train')).coeff(1)
-2*[G G] - [tr C]
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Callable

import sympy

from ..errors import InputTypeError, LandscapeError, check_order
from ..landscape import Landscape
from ..measures import root_products
from ..schedule import BaseSchedule
from ..series import ETA, Series
from ..tensors import evaluate_coefficients

__all__ = ["Request", "Route", "LOSS_MEASURES"]

#: The measures of :func:`symsgd.expected_loss` (``'weights'`` is
#: :func:`symsgd.expected_displacement`'s).
LOSS_MEASURES = ("test", "train", "gap")


@dataclass(frozen=True)
class Request:
    """One expansion to derive, checked when it is built.

    Args:
        schedule: a schedule (:func:`~symsgd.sgd`, :func:`~symsgd.gd`, :class:`~symsgd.Schedule`).
        order: the highest power of ``eta``.
        measure: ``'test'``, ``'train'``, ``'gap'`` or ``'weights'`` (the displacement).
        moment: 1 for the mean, 2 for the second moment (scalar measures).
        landscape: a :class:`~symsgd.Landscape`, or ``None`` for symbolic
            coefficients (contractions; the exact route needs a landscape).
        eta: the learning-rate symbol of the result.

    Raises:
        InputTypeError: a schedule, landscape or ``eta`` of the wrong type.
        OrderError: an order that is not a non-negative integer.
        MeasureError: an unknown measure, or a moment it does not have.

    >>> from symsgd import sgd
    >>> Request(sgd(3), 2, measure='gap', moment=2).vector
    False
    >>> Request(sgd(3), 2, landscape={'loss': 1})
    Traceback (most recent call last):
    ...
    symsgd.errors.InputTypeError: landscape must be a symsgd.Landscape (see symsgd.landscapes), got dict
    """

    schedule: BaseSchedule
    order: int
    _: KW_ONLY
    measure: str = "test"
    moment: int = 1
    landscape: Landscape | None = None
    eta: sympy.Symbol = ETA

    def __post_init__(self):
        if not isinstance(self.schedule, BaseSchedule):
            raise InputTypeError(f"schedule must be a symsgd schedule (sgd, gd, Schedule), "
                                 f"got {type(self.schedule).__name__}")
        object.__setattr__(self, "order", check_order(self.order))
        root_products(self.measure, moment=self.moment)
        if self.landscape is not None and not isinstance(self.landscape, Landscape):
            raise InputTypeError(f"landscape must be a symsgd.Landscape (see symsgd.landscapes), "
                                 f"got {type(self.landscape).__name__}")
        if not isinstance(self.eta, sympy.Symbol):
            raise InputTypeError(f"eta must be a SymPy Symbol, got {type(self.eta).__name__}")

    @property
    def vector(self) -> bool:
        """Whether the measure is a vector (the weights).

        >>> from symsgd import gd
        >>> Request(gd(2), 1, measure='weights').vector
        True
        """
        return self.measure == "weights"


@dataclass(frozen=True)
class Route:
    """One route to the expansion, as listed in :data:`symsgd.routes.METHODS`.

    Calling it derives a :class:`Request`'s :class:`~symsgd.Series`:
    ``coefficients(request, progress)`` gives the coefficients, and the tail
    shared by every route evaluates symbolic ones on the request's landscape
    (if any) and builds the Series.

    Attributes:
        name: the ``method=`` name.
        coefficients: ``(request, progress) -> list`` of ``order + 1``
            coefficients (lists of components for ``'weights'`` when evaluated).
        symbolic: its coefficients are expressions in contractions, valid for
            every landscape; otherwise it runs on the request's landscape,
            which it then needs.
        summary: one line on how it works.

    >>> from symsgd import gd
    >>> from symsgd.routes import METHODS
    >>> route = METHODS['diagrams']
    >>> route.symbolic, route(Request(gd(2), 1)).coeff(1)
    (True, -[G G])
    """

    name: str
    coefficients: Callable
    symbolic: bool
    summary: str

    def __post_init__(self):
        if not isinstance(self.name, str) or not isinstance(self.summary, str):
            raise InputTypeError(f"a Route's name and summary are text, got {self.name!r}, "
                                 f"{self.summary!r}")
        if not callable(self.coefficients):
            raise InputTypeError(f"a Route's coefficients must be callable, got "
                                 f"{self.coefficients!r}")
        if not isinstance(self.symbolic, bool):
            raise InputTypeError(f"a Route's symbolic flag is a bool, got {self.symbolic!r}")

    def __call__(self, request: Request, *, progress: bool | None = None) -> Series:
        """The series of ``request`` by this route.

        Raises:
            InputTypeError: ``request`` is not a :class:`Request`.
            LandscapeError: a route that runs on a landscape, and none given.

        >>> from symsgd import gd
        >>> from symsgd.landscapes import shifting_valleys
        >>> from symsgd.routes import METHODS
        >>> METHODS['exact'](Request(gd(3), 1, landscape=shifting_valleys())).coefficients
        (2, -5)
        """
        if not isinstance(request, Request):
            raise InputTypeError(f"a route takes a Request, got {type(request).__name__}")
        if not self.symbolic and request.landscape is None:
            raise LandscapeError(f"method={self.name!r} runs on a landscape; give one "
                                 "(landscape=...), or use a symbolic route for general series")
        coefficients = list(self.coefficients(request, progress))
        if self.symbolic and request.landscape is not None:
            coefficients = evaluate_coefficients(coefficients, request.landscape,
                                                 vector=request.vector)
        if request.vector and isinstance(coefficients[0], list):
            coefficients[0] = [sympy.S.Zero] * len(coefficients[0])
            coefficients = [sympy.ImmutableDenseNDimArray(c) for c in coefficients]
        return Series(tuple(coefficients), eta=request.eta, measure=request.measure,
                      moment=request.moment, schedule=request.schedule, method=self.name,
                      notes=_notes(request.schedule))


def _notes(schedule) -> tuple[str, ...]:
    """The assumptions of a schedule worth printing under its series."""
    rule = getattr(schedule, "reshuffle", None)
    if rule is None or getattr(schedule, "epochs", 1) == 1:
        return ()
    if rule == "random":
        return ("uniformly random reshuffling between epochs, averaged exactly",)
    if rule == "fixed":
        return ("the same order in every epoch (reshuffling matters from order 4)",)
    return (f"epoch orders from seed {rule}",)
