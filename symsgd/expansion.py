"""The front door: expansions of SGD's expected loss and weights in ``eta``.

:func:`expected_loss` and :func:`expected_displacement` dispatch to a route
through a small table, :data:`METHODS`.  Every route returns a
:class:`~symsgd.series.Series`; routes must agree exactly.

>>> import sympy
>>> from symsgd import Landscape, sgd
>>> w, x = sympy.symbols('w x')
>>> L = Landscape((w - x)**2 / 2, w, x, init=[1])
>>> expected_loss(sgd(2), 2, landscape=L)
Series(1 - 2*eta + 4*eta**2 + O(eta**3))

``resum=True`` gives the resummed (linkless-diagram) prediction instead, a
:class:`~symsgd.diagrams.resum.Resummed` callable on learning rates:

>>> r = expected_loss(sgd(2), 2, landscape=L, resum=True)
>>> r.expr
eta**4 - 3*eta**3 + 4*eta**2 - 2*eta + 1
>>> float(r(0.5))
0.6875
"""

from __future__ import annotations

import sympy

from . import _exact, perturbation
from .diagrams.resum import Resummed
from .diagrams.values import diagrams_route
from .errors import LandscapeError, MeasureError, check_order
from .measures import NAMES
from .schedule import BaseSchedule
from .series import ETA, Series

__all__ = ["expected_loss", "expected_displacement", "METHODS", "MEASURES"]

#: Measured functions of the final weights accepted by :func:`expected_loss`.
MEASURES = {k: v for k, v in NAMES.items() if k != "weights"}


def _exact_route(schedule, order, landscape, quantity, moment, progress):
    if landscape is None:
        raise TypeError("method='exact' needs a landscape (it runs SGD on it symbolically)")
    return _exact.exact_coefficients(landscape, schedule, order, quantity, moment, progress)


#: Routes by name: ``route(schedule, order, landscape, quantity, moment, progress)``
#: returns the list of coefficients (vectors as lists for ``quantity='weights'``).
METHODS = {"exact": _exact_route, "direct": perturbation.route, "diagrams": diagrams_route}


def _derive(schedule, order, landscape, method, measure, moment, eta, progress, resum):
    """The series (or, with ``resum``, the resummed prediction) of one measured quantity."""
    if not isinstance(schedule, BaseSchedule):
        raise TypeError(f"schedule must be a symsgd schedule, got {type(schedule).__name__}")
    order = check_order(order)
    if resum:
        if method not in (None, "diagrams"):
            raise ValueError(f"resum=True is the linkless form of the diagram route; "
                             f"use method='diagrams' (or leave method out), not {method!r}")
        if landscape is None:
            raise LandscapeError("resum=True needs a landscape: the propagators use its Hessian")
        if moment != 1:
            raise MeasureError(f"resum=True resums the mean only, not moment={moment!r}")
        return Resummed(schedule, landscape, order, measure, eta=eta)
    method = "exact" if method is None else method
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; available: {sorted(METHODS)}")
    coeffs = METHODS[method](schedule, order, landscape, measure, moment, progress)
    if measure == "weights" and isinstance(coeffs[0], list):
        coeffs[0] = [sympy.S.Zero] * len(coeffs[0])
        coeffs = [sympy.ImmutableDenseNDimArray(c) for c in coeffs]
    return Series(tuple(coeffs), eta=eta, measure=measure, moment=moment, schedule=schedule,
                  method=method, notes=_notes(schedule))


def _notes(schedule) -> tuple[str, ...]:
    rule = getattr(schedule, "reshuffle", None)
    if rule is None or getattr(schedule, "epochs", 1) == 1:
        return ()
    if rule == "random":
        return ("uniformly random reshuffling between epochs, averaged exactly",)
    if rule == "fixed":
        return ("the same order in every epoch (reshuffling matters from order 4)",)
    return (f"epoch orders from seed {rule}",)


def expected_loss(schedule, order, landscape=None, method=None, measure="test",
                  moment=1, eta=ETA, progress=None, resum=False) -> Series | Resummed:
    """The Taylor expansion of ``E[s(theta_T)]`` in the learning rate.

    Args:
        schedule: a schedule (:func:`~symsgd.sgd`, :func:`~symsgd.gd`, :class:`~symsgd.Schedule`).
        order: the highest power of ``eta`` to compute.
        landscape: a :class:`~symsgd.Landscape`.
        method: the route, a key of :data:`METHODS` (default ``'exact'``:
            brute-force symbolic SGD on a polynomial landscape; ``'diagrams'``
            with ``resum=True``).
        measure: ``'test'`` (test loss), ``'train'`` (training loss) or
            ``'gap'`` (test minus training loss).
        moment: 1 for the mean, 2 for ``E[s(theta_T)^2]``.
        eta: the learning-rate symbol of the result.
        progress: show a progress bar (default: automatic).
        resum: return the resummed prediction (Tenka's Theorem 1: linkless
            diagrams with at most ``order`` edges, propagators
            ``(I - eta H)^(t'-t-1) eta`` on the edges), a
            :class:`~symsgd.diagrams.resum.Resummed`, instead of a Series;
            needs a landscape and a concrete schedule, and ``moment=1``.
    """
    if measure not in MEASURES:
        raise MeasureError(f"unknown measure {measure!r}; expected one of {sorted(MEASURES)}")
    return _derive(schedule, order, landscape, method, measure, moment, eta, progress, resum)


def expected_displacement(schedule, order, landscape=None, method=None, eta=ETA,
                          progress=None, resum=False) -> Series | Resummed:
    """The Taylor expansion of ``E[theta_T - theta_0]`` in the learning rate.

    Arguments as for :func:`expected_loss`; the coefficients are SymPy arrays
    of shape ``(P,)``.  With ``resum=True``, the resummed prediction (the
    root is a loose end), whose values have a trailing axis of length ``P``.

    >>> import sympy
    >>> from symsgd import Landscape, gd
    >>> w, x = sympy.symbols('w x')
    >>> L = Landscape((w - x)**2 / 2, w, x, init=[1])
    >>> expected_displacement(gd(3, steps=2), 2, landscape=L).coeff(1)
    [-2]
    >>> expected_displacement(gd(3, steps=2), 1, landscape=L, resum=True).expr
    [eta**2 - 2*eta]
    """
    return _derive(schedule, order, landscape, method, "weights", 1, eta, progress, resum)
