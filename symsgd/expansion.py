"""The front door: expansions of SGD's expected loss and weights in ``eta``, and their resummed form.

:func:`expected_loss` and :func:`expected_displacement` derive a
:class:`~symsgd.Series` by one of the routes of :data:`symsgd.routes.METHODS`
(``method='exact'``, ``'direct'`` or ``'diagrams'``; they agree exactly).
:func:`resummed_loss` and :func:`resummed_displacement` give the resummed
(linkless-diagram) prediction, a :class:`~symsgd.Resummed` callable on
learning rates (Tenka, Theorem 1).

>>> import sympy
>>> from symsgd import Landscape, sgd
>>> w, x = sympy.symbols('w x')
>>> L = Landscape((w - x)**2 / 2, w, x, init=[1])
>>> expected_loss(sgd(2), 2, landscape=L)
Series(1 - 2*eta + 4*eta**2 + O(eta**3))
>>> r = resummed_loss(sgd(2), 2, landscape=L)
>>> r.expr
eta**4 - 3*eta**3 + 4*eta**2 - 2*eta + 1
>>> float(r(0.5))
0.6875
"""

from __future__ import annotations

from . import approximations
from .diagrams.resum import Resummed
from .errors import LandscapeError, MeasureError, MethodError
from .routes import LOSS_MEASURES, SCHEDULE_PROCESSES, Request, lookup
from .schedule import SGDSchedule
from .series import ETA, Series
from .statistics import NumericStatistics

__all__ = ["expected_loss", "expected_displacement", "resummed_loss", "resummed_displacement",
           "PROCESSES"]

#: The processes of the front door's ``process=``: ``{name: description}``.  ``'sgd'`` and
#: ``'gdc'`` run on the schedule's training set; the others stand for single-epoch SGD on
#: fresh samples (:mod:`symsgd.approximations`).
PROCESSES = {**SCHEDULE_PROCESSES,
             **{k: v for k, v in approximations.PROCESSES.items() if k not in SCHEDULE_PROCESSES}}


def _derive(schedule, order, landscape, measure, method, moment, process, l, eta, progress):
    """The series of ``process`` on ``schedule``, by ``method``: the front door's one path."""
    route = lookup(method)
    if not isinstance(process, str) or process not in PROCESSES:
        raise MethodError(f"unknown process {process!r}; expected one of {sorted(PROCESSES)}")
    if process in SCHEDULE_PROCESSES:
        if l is not None:
            raise MethodError(f"l is SVAG's factor; process={process!r} has none")
        request = Request(schedule, order, measure=measure, moment=moment, landscape=landscape,
                          eta=eta, process=process)
        return route(request, progress=progress)
    # the same checks of the schedule, order, measure, moment, landscape and eta as SGD's
    Request(schedule, order, measure=measure, moment=moment, landscape=landscape, eta=eta)
    if not isinstance(schedule, SGDSchedule) or schedule.epochs != 1:
        raise MethodError(f"process={process!r} stands for single-epoch SGD on fresh samples "
                          f"(sgd(N, batch=B)); {schedule!r} reuses its training points")
    if measure != "test" and measure != "weights":
        raise MeasureError(f"measure {measure!r}: process={process!r} has no training set; "
                           "use measure='test'")
    if method == "diagrams":
        raise MethodError(f"process={process!r} is derived from the direct route's series "
                          "(method='direct'), or on a landscape (method='exact')")
    if method == "exact" and landscape is None:
        raise LandscapeError("method='exact' runs on a landscape; give one (landscape=...), or "
                             "use method='direct' for general series")
    return approximations._approximation(process, order, landscape, schedule.T, schedule.batch,
                                         l, eta, measure, moment)


def expected_loss(schedule, order, *, landscape=None, measure="test", method="exact", moment=1,
                  process="sgd", l=None, eta=ETA, progress=None) -> Series:
    """The Taylor expansion of ``E[s(theta_T)^moment]`` in the learning rate, to ``eta**order``.

    Args:
        schedule: a schedule (:func:`~symsgd.sgd`, :func:`~symsgd.gd`, :class:`~symsgd.Schedule`).
        order: the highest power of ``eta`` to compute.
        landscape: a :class:`~symsgd.Landscape`; without one the symbolic
            routes give general coefficients (contractions such as ``[G H G]``).
        measure: ``'test'`` (test loss), ``'train'`` (training loss) or
            ``'gap'`` (test minus training loss).
        method: the route, a key of :data:`symsgd.routes.METHODS`: ``'exact'``
            (brute-force symbolic SGD on a polynomial landscape, the default),
            ``'direct'`` (the Key Lemma) or ``'diagrams'`` (the diagram rules).
        moment: 1 for the mean, 2 for ``E[s(theta_T)^2]``.
        process: what runs, a key of :data:`PROCESSES`: ``'sgd'`` (the schedule
            itself, the default); ``'gdc'`` (GD on the schedule's training set plus
            Tenka's regularizer ``c eta tr C_hat``, ``c = (N - B)/(4 N B)``, for
            ``len(schedule)`` steps; exact route only); or an approximation of
            single-epoch SGD on fresh samples (``sgd(N, batch=B)``, ``T = N/B``):
            ``'noisy_gd'``, ``'svag'``, ``'sde'``, ``'sde2'``
            (:mod:`symsgd.approximations`; test loss and its second moment,
            ``method='direct'`` for general series, ``'exact'`` on a landscape).
        l: SVAG's factor (``process='svag'`` only; default the symbol ``l``).
        eta: the learning-rate symbol of the result.
        progress: show a progress bar (``None``: only for long runs on a terminal).

    Raises:
        MethodError: an unknown method or process, a route that does not expand
            the process, an approximation of a schedule that reuses its points,
            ``l`` for a process other than SVAG.
        MeasureError: an unknown measure or moment (``'weights'`` is
            :func:`expected_displacement`), or one the process does not have.
        InputTypeError: a schedule, landscape or ``eta`` of the wrong type.
        OrderError: an order that is not a non-negative integer.
        LandscapeError: ``method='exact'`` without a landscape.
        RangeError: an ``l`` below 1 or not an integer.

    >>> import sympy
    >>> from symsgd import sgd
    >>> N = sympy.Symbol('N', integer=True, positive=True)
    >>> expected_loss(sgd(N), 1, measure='gap', method='direct').coeff(1)
    [tr C]

    SGD minus its SDE (Li, Malladi and Arora) starts at ``eta^2``:

    >>> sde = expected_loss(sgd(N), 2, method='direct', process='sde')
    >>> (expected_loss(sgd(N), 2, method='direct') - sde).expand().coeff(2)
    -N*[G H G]/2
    """
    if measure not in LOSS_MEASURES:
        raise MeasureError(f"unknown measure {measure!r} for a loss; expected one of "
                           f"{LOSS_MEASURES} (the weights: expected_displacement)")
    return _derive(schedule, order, landscape, measure, method, moment, process, l, eta,
                   progress)


def expected_displacement(schedule, order, *, landscape=None, method="exact", process="sgd",
                          l=None, eta=ETA, progress=None) -> Series:
    """The Taylor expansion of ``E[theta_T - theta_0]`` in the learning rate, to ``eta**order``.

    Arguments (``process`` and ``l`` included) and errors as for
    :func:`expected_loss`; the coefficients are SymPy arrays of shape ``(P,)`` on a
    landscape, contractions with a free index without one.

    >>> import sympy
    >>> from symsgd import Landscape, gd
    >>> w, x = sympy.symbols('w x')
    >>> L = Landscape((w - x)**2 / 2, w, x, init=[1])
    >>> expected_displacement(gd(3, steps=2), 2, landscape=L).coeff(1)
    [-2]
    """
    return _derive(schedule, order, landscape, "weights", method, 1, process, l, eta, progress)


def _resummed(schedule, order, landscape, measure, propagator, eta, moment=1) -> Resummed:
    numeric = isinstance(landscape, NumericStatistics)
    request = Request(schedule, order, measure=measure, moment=moment,
                      landscape=None if numeric else landscape, eta=eta)
    if landscape is None:
        raise LandscapeError("the resummed form needs a landscape: its propagators use the "
                             "Hessian and its values the statistics at the initialization")
    return Resummed(request.schedule, landscape, request.order, measure=measure,
                    moment=request.moment, propagator=propagator, eta=eta)


def resummed_loss(schedule, order, *, landscape, measure="test", moment=1,
                  propagator="discrete", eta=ETA) -> Resummed:
    """The resummed prediction of the expected loss: linkless diagrams with at most ``order`` edges.

    Tenka's Theorem 1, truncated: propagators ``(I - eta H)^(t'-t-1) eta`` on
    the edges; its Taylor expansion agrees with the order-``order`` series.

    Args:
        schedule: a concrete schedule (random reshuffling is averaged exactly).
        order: the highest number of edges of a linkless diagram kept (the order in
            ``eta`` of the series it agrees with).
        landscape: the landscape (its statistics at the initialization): a
            :class:`~symsgd.Landscape`, or float statistics such as a network
            restricted to its top Hessian eigenvectors (:func:`symsgd.nets.restrict`).
        measure: ``'test'``, ``'train'`` or ``'gap'``.
        moment: 1 for the mean, 2 for the second moment ``E s(theta_T)^2`` (two roots
            at ``T``; the variance is ``moment 2 - mean^2``).
        propagator: ``'discrete'`` (exact), ``'exponential'`` or ``'integral'``
            (Remark 1; see :class:`~symsgd.Resummed`).
        eta: the learning-rate symbol of the exact form.

    Raises:
        MeasureError: an unknown measure (``'weights'``: :func:`resummed_displacement`),
            or a moment other than 1 and 2.
        MethodError: an unknown propagator.
        LandscapeError: no landscape.
        ScheduleError: a schedule with symbolic sizes.

    >>> from symsgd.landscapes import mean_estimation
    >>> from symsgd.schedule import gd
    >>> resummed_loss(gd(2, steps=2), 2, landscape=mean_estimation(init=1)).expr
    3*eta**4/4 - 3*eta**3 + 4*eta**2 - 2*eta + 1/2

    Remark 1's approximation, here ``q^2/2 + (1 - q)^2/4`` with ``q = exp(-eta T)``:

    >>> r = resummed_loss(gd(2, steps=100), 2, landscape=mean_estimation(init=1),
    ...                   propagator='integral')
    >>> print(f"{float(r(0.01)):.6f}")
    0.167562
    """
    if measure not in LOSS_MEASURES:
        raise MeasureError(f"measure must be one of {LOSS_MEASURES}, got {measure!r}; "
                           "use resummed_displacement for the weights")
    return _resummed(schedule, order, landscape, measure, propagator, eta, moment)


def resummed_displacement(schedule, order, *, landscape, propagator="discrete",
                          eta=ETA) -> Resummed:
    """The resummed prediction of ``E theta_T - theta_0`` (the root is a loose end).

    Arguments and errors as for :func:`resummed_loss`; the values have a
    trailing axis of length ``P``.

    >>> from symsgd.landscapes import mean_estimation
    >>> from symsgd.schedule import sgd
    >>> resummed_displacement(sgd(2), 1, landscape=mean_estimation(init=1)).expr
    [eta**2 - 2*eta]
    """
    return _resummed(schedule, order, landscape, "weights", propagator, eta)
