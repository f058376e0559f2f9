"""The three routes to an expansion, side by side, and the table that names them.

* ``'exact'`` (:mod:`symsgd.routes.exact`): SGD run symbolically on a
  polynomial landscape, the ground truth;
* ``'direct'`` (:mod:`symsgd.routes.direct`): the Key Lemma expanded
  mechanically, general series with symbolic sizes;
* ``'diagrams'`` (:mod:`symsgd.routes.diagrams`): Tenka's diagram rules.

They share one check of their input (:class:`Request`) and one tail from
coefficients to a :class:`~symsgd.Series` (:class:`Route`), and must agree
exactly.  :func:`symsgd.expected_loss` is the front door; ``method=`` picks
a route of :data:`METHODS`.

>>> sorted(METHODS)
['diagrams', 'direct', 'exact']
>>> lookup('foo')
Traceback (most recent call last):
...
symsgd.errors.MethodError: unknown method 'foo'; available: 'diagrams', 'direct', 'exact'
"""

from ..errors import MethodError
from . import diagrams, direct, exact
from ._common import LOSS_MEASURES, SCHEDULE_PROCESSES, Request, Route

__all__ = ["METHODS", "lookup", "Request", "Route", "LOSS_MEASURES", "SCHEDULE_PROCESSES",
           "exact", "direct", "diagrams"]

#: The routes by their ``method=`` name.
METHODS = {route.name: route for route in (exact.ROUTE, direct.ROUTE, diagrams.ROUTE)}


def lookup(method: str) -> Route:
    """The route named ``method``.

    Raises:
        MethodError: no route has that name (the message lists those that do).

    >>> lookup('direct').symbolic
    True
    """
    if not isinstance(method, str) or method not in METHODS:
        raise MethodError(f"unknown method {method!r}; available: "
                          + ", ".join(repr(m) for m in sorted(METHODS)))
    return METHODS[method]
