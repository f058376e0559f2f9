"""The diagram route (``method='diagrams'``): the master formula summed over diagrams.

``[eta^d] E s(theta_T) = sum over diagrams D with d edges of weight(D) * value_s(D)``
(Tenka, sections 2.4 and B.3; the weights count embeddings into the
schedule's space-time, :mod:`symsgd.diagrams.embeddings`, and the decorated
values are :mod:`symsgd.diagrams.values`).  The diagram machinery lives in
:mod:`symsgd.diagrams`; this module sums it into coefficients.

>>> import sympy
>>> from symsgd import expected_loss, sgd
>>> N = sympy.Symbol('N', integer=True, positive=True)
>>> expected_loss(sgd(N), 2, method='diagrams').coeff(2)
N*(2*N - 1)*[G H G]/2 + N*C:H/2
"""

from __future__ import annotations

from collections import defaultdict

import sympy

from ..diagrams.values import contribution_table
from ..schedule import BaseSchedule
from ..tensors import Contraction
from ._common import Request, Route

__all__ = ["expand", "contributions", "ROUTE"]


def contributions(schedule: BaseSchedule, order: int, *, measure: str = "test", moment: int = 1,
                  progress: bool | None = None) -> list:
    """The diagrams that contribute to each coefficient, with weights and values.

    Returns a list indexed by the power of ``eta``; entry ``k`` lists the
    :class:`~symsgd.diagrams.Contribution` of every diagram with ``k`` edges
    that embeds into the schedule and has a non-zero value.  For the diagrams
    behind one coefficient of a derived series, see
    :func:`symsgd.diagrams.contributions_of`.

    Raises:
        InputTypeError, OrderError, MeasureError: see :class:`~symsgd.routes.Request`.

    >>> from symsgd.schedule import sgd
    >>> [(c.diagram.text(), c.weight, c.value) for c in contributions(sgd(3, epochs=2), 2)[2]]
    [('*(a, a)', 6, C:H), ('*(a, b)', 18, [G H G]), ('*(a(a))', 3, [G (grad tr C)/2]), ('*(a(b))', 15, [G H G])]
    """
    request = Request(schedule, order, measure=measure, moment=moment)
    return contribution_table(schedule, request.order, measure, moment, progress)


def _collect(contributions) -> sympy.Expr:
    """The sum of contributions, grouped by contraction with factored coefficients."""
    acc = defaultdict(lambda: sympy.S.Zero)
    for c in contributions:
        for term in sympy.Add.make_args(sympy.expand(c.value)):
            scalars, atoms = [], []
            for f in sympy.Mul.make_args(term):
                (atoms if f.atoms(Contraction) else scalars).append(f)
            acc[sympy.Mul(*atoms)] += c.weight * sympy.Mul(*scalars)
    out = []
    for atom, coefficient in acc.items():
        coefficient = sympy.factor(sympy.together(coefficient))
        if coefficient != 0:
            out.append(coefficient * atom)
    return sympy.Add(*out)


def _coefficients(request: Request, progress: bool | None) -> list:
    """The diagram route's symbolic coefficients for a checked request."""
    table = contribution_table(request.schedule, request.order, request.measure,
                               request.moment, progress)
    return [_collect(row) for row in table]


def expand(schedule: BaseSchedule, order: int, *, measure: str = "test", moment: int = 1,
           progress: bool | None = None) -> list:
    """The coefficients of ``eta^0..eta^order`` of ``E[s(theta_T)^moment]`` from diagrams.

    Args:
        schedule: any schedule, with numeric or symbolic sizes.
        order: the highest power of ``eta``.
        measure: ``'test'``, ``'train'``, ``'gap'`` or ``'weights'``.
        moment: 1 for the mean, 2 for the second moment.
        progress: show a progress bar (default: only for long runs).

    Returns:
        A list of SymPy expressions linear in contractions (or in products of
        two, for second moments), coefficients factored; rank-1 contractions
        for ``'weights'``.

    Raises:
        InputTypeError, OrderError, MeasureError: see :class:`~symsgd.routes.Request`.

    >>> from symsgd.schedule import gd
    >>> expand(gd(3, steps=2), 1, measure='train')
    [l, -2*[G G] - 2*[tr C]/3]
    """
    return _coefficients(Request(schedule, order, measure=measure, moment=moment), progress)


#: The diagram route: Tenka's master formula, embeddings counted in closed form.
ROUTE = Route("diagrams", _coefficients, symbolic=True,
              summary="the sum over diagrams of weight times uvalue (Tenka, sections 2.4 and B.3)")
