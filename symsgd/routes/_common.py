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

from dataclasses import KW_ONLY, dataclass, replace
from typing import Callable

import sympy

from ..errors import InputTypeError, LandscapeError, MethodError, check_order
from ..landscape import Landscape
from ..measures import root_products
from ..schedule import BaseSchedule
from ..series import ETA, Series
from ..tensors import evaluate_coefficients

__all__ = ["Request", "Route", "LOSS_MEASURES", "SCHEDULE_PROCESSES"]

#: The measures of :func:`symsgd.expected_loss` (``'weights'`` is
#: :func:`symsgd.expected_displacement`'s).
LOSS_MEASURES = ("test", "train", "gap")

#: The processes a route runs on a schedule's training set: ``{name: description}``.
SCHEDULE_PROCESSES = {
    "sgd": "the schedule's SGD",
    "gdc": "GDC (Tenka, Corollary 1): len(schedule) GD steps on the N training points "
           "of mean l + c eta tr C_hat, tr C_hat = sum_n |g_n - g_bar|^2/(N - 1), "
           "c = (N - B)/(4 N B) for the schedule's batch B",
}


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
        process: a key of :data:`SCHEDULE_PROCESSES`: ``'sgd'`` (the schedule run
            as given) or ``'gdc'`` (GD on its training set plus Tenka's regularizer).

    Raises:
        InputTypeError: a schedule, landscape or ``eta`` of the wrong type.
        OrderError: an order that is not a non-negative integer.
        MeasureError: an unknown measure, or a moment it does not have.
        MethodError: an unknown process.

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
    process: str = "sgd"

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
        if not isinstance(self.process, str) or self.process not in SCHEDULE_PROCESSES:
            raise MethodError(f"unknown process {self.process!r} for a schedule; expected one "
                              f"of {sorted(SCHEDULE_PROCESSES)}")

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
        processes: the keys of :data:`SCHEDULE_PROCESSES` it expands.

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
    _: KW_ONLY
    processes: tuple = ("sgd",)

    def __post_init__(self):
        if not isinstance(self.name, str) or not isinstance(self.summary, str):
            raise InputTypeError(f"a Route's name and summary are text, got {self.name!r}, "
                                 f"{self.summary!r}")
        if not callable(self.coefficients):
            raise InputTypeError(f"a Route's coefficients must be callable, got "
                                 f"{self.coefficients!r}")
        if not isinstance(self.symbolic, bool):
            raise InputTypeError(f"a Route's symbolic flag is a bool, got {self.symbolic!r}")
        if not isinstance(self.processes, tuple) \
                or not set(self.processes) <= set(SCHEDULE_PROCESSES):
            raise InputTypeError(f"a Route's processes are a tuple of keys of "
                                 f"SCHEDULE_PROCESSES, got {self.processes!r}")

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
        if request.process not in self.processes:
            raise MethodError(f"method={self.name!r} expands {' and '.join(self.processes)}, "
                              f"not process={request.process!r}"
                              + (" (tr C_hat is a statistic of pairs of training points, "
                                 "which no contraction of one point's cumulants expresses); "
                                 "use method='exact' on a landscape"
                                 if request.process == "gdc" else ""))
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
        series = Series(tuple(coefficients), eta=request.eta, measure=request.measure,
                        moment=request.moment, schedule=request.schedule, method=self.name,
                        notes=_notes(request.schedule))
        if request.process == "sgd":
            return series
        return replace(series, label=f"{series.label} of {request.process.upper()}",
                       notes=(SCHEDULE_PROCESSES[request.process],) + series.notes)


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
