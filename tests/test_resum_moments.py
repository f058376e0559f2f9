"""Resummed second moments ``E s(theta_T)^2`` (two roots at ``T``).

Checked against the exact engine's second moment (an independent route: exact SGD on
every realization, expanded in ``eta``), the resummed form's own exact polynomial, and on
MEAN ESTIMATION with Gaussian data (SGD keeps ``theta`` Gaussian) against the closed form
of the stationary fourth moment.
"""

import numpy as np
import pytest
import sympy

from symsgd import expected_loss, gd, resummed_loss, sgd
from symsgd.errors import MeasureError
from symsgd.landscapes import mean_estimation, shifting_valleys

SCHEDULES = [sgd(3), gd(2, steps=2), sgd(4, batch=2), sgd(2, epochs=2)]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=str)
@pytest.mark.parametrize("measure", ["test", "train", "gap"])
@pytest.mark.parametrize("make, order", [(lambda: mean_estimation(init=1), 4),
                                         (shifting_valleys, 3)],
                         ids=["mean_estimation", "shifting_valleys"])
def test_second_moment_series_equals_the_exact_engine(schedule, measure, make, order):
    L = make()
    r = resummed_loss(schedule, order, landscape=L, measure=measure, moment=2)
    want = expected_loss(schedule, order, landscape=L, measure=measure, moment=2,
                         method="exact")
    assert r.series(order).coefficients == want.coefficients
    assert r.series(order).moment == 2
    # the numeric form (closed, or the sweep for two epochs) equals the exact polynomial:
    # both sum the same products, to rounding relative to the value's size
    lr = np.array([0.05, 0.2])
    exact = [float(r.expr.subs(r.eta, sympy.Rational(str(x)))) for x in lr]
    assert np.allclose(r(lr), exact, rtol=1e-12, atol=1e-12 * np.max(np.abs(exact)))


def test_stationary_fourth_moment_on_gaussian_mean_estimation():
    """SGD on ``H theta^2/2 + x S theta`` with Gaussian ``x`` keeps ``theta`` Gaussian,
    stationary variance ``s = eta C / (H (2 - eta H))`` (the discrete Lyapunov equation
    ``s = (1 - eta H)^2 s + eta^2 C``), so ``E l^2 -> H^2 E theta^4 / 4 = 3 H^2 s^2 / 4``.
    The order-4 resummed form holds every diagram with non-zero value here (two pair
    blocks), so its limit is exact."""
    H, C = sympy.Rational(3, 2), sympy.Rational(1, 2)
    L = mean_estimation(hessian=H, noise=sympy.sqrt(C), init=1)
    r = resummed_loss(sgd(2), 4, landscape=L, moment=2)
    for eta in (0.05, 0.3, 1.0):
        s = eta * float(C) / (float(H) * (2 - eta * float(H)))
        assert r.limit(eta) == pytest.approx(3 * float(H) ** 2 * s ** 2 / 4, rel=1e-10)
        mean = resummed_loss(sgd(2), 4, landscape=L).limit(eta)
        assert mean == pytest.approx(float(H) * s / 2, rel=1e-10)


def test_weights_and_third_moments_are_refused():
    with pytest.raises(MeasureError, match="moment"):
        resummed_loss(sgd(2), 2, landscape=mean_estimation(), moment=3)
    with pytest.raises(MeasureError, match="moment"):
        resummed_loss(sgd(2), 2, landscape=mean_estimation(), moment=2.0)
