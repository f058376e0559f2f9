"""Predictions on torch landscapes against the exact engine and against repeated sampling."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

torch = pytest.importorskip("torch")

import symsgd  # noqa: E402
from symsgd.errors import InputTypeError, ScheduleError, SymbolError  # noqa: E402
from symsgd.nets import NetLandscape, Prediction, predict  # noqa: E402

N, B, E = sympy.symbols("N B E", integer=True, positive=True)
R = sympy.Rational
POINTS = [[R(-3, 2)], [R(1, 4)], [R(1, 2)], [R(5, 4)]]


def _exact(schedule, order, landscape, measure):
    return symsgd.expected_loss(schedule, order, landscape=landscape, measure=measure)


def _points(landscape, n=4, seed=0):
    """A population of ``n`` random rational points (exact arithmetic in the engine)."""
    rng = np.random.default_rng(seed)
    return [[R(int(v), 4) for v in row] for row in rng.integers(-6, 7, (n, len(landscape.data)))]


@pytest.mark.parametrize("name", ["shifting_valleys", "linear_regression"])
@pytest.mark.parametrize("measure", ["test", "train", "gap"])
@pytest.mark.parametrize("family, sizes, concrete", [
    ("sgd", {"N": 4, "B": 2}, lambda: symsgd.sgd(4, batch=2)),
    ("epochs", {"N": 2, "E": 2}, lambda: symsgd.sgd(2, epochs=2)),
    ("gd", {"N": 4, "T": 3}, lambda: symsgd.gd(4, steps=3)),
])
def test_exact_prediction_equals_the_exact_engine(name, measure, family, sizes, concrete):
    """Brute-force symbolic SGD on the population (rationals) against estimate + direct route.

    The exact engine needs polynomial losses: Shifting Valleys (non-Gaussian noise in the
    curvature) and linear regression (three data coordinates)."""
    base = getattr(symsgd.landscapes, name)()
    points = _points(base)
    T = sympy.Symbol("T", integer=True, positive=True)
    general = {"sgd": lambda: symsgd.sgd(N, batch=B), "epochs": lambda: symsgd.sgd(N, epochs=E),
               "gd": lambda: symsgd.gd(N, steps=T)}[family]()
    order = 3
    series = symsgd.expected_loss(general, order, method="direct", measure=measure)
    want = _exact(concrete(), order, NetLandscape.on_population(base, points), measure)
    p = predict(series, NetLandscape.from_landscape(base, points), exact=True, **sizes)
    for k in range(order + 1):
        c = float(want.coeff(k))
        assert p.coefficients[k] == pytest.approx(c, rel=1e-10, abs=1e-10), (k, c)


def test_exact_weights_equal_the_exact_engine():
    base = symsgd.landscapes.valley_of_death()
    net = NetLandscape.from_landscape(base, POINTS)
    series = symsgd.expected_displacement(symsgd.sgd(N, batch=B), 3, method="direct")
    p = predict(series, net, exact=True, N=4, B=2)
    want = symsgd.expected_displacement(symsgd.sgd(4, batch=2), 3,
                                        landscape=NetLandscape.on_population(base, POINTS))
    for k in range(4):
        c = np.array([float(v) for v in want.coeff(k)], dtype=float).reshape(-1)
        np.testing.assert_allclose(p.coefficients[k], c, rtol=1e-10, atol=1e-10)
    assert p.coefficients.shape == (4, 2) and p([0.1, 0.2]).shape == (2, 2)


def test_propagated_error_matches_the_spread_over_seeds():
    """The standard error of a prediction at lr (joint covariance propagated) matches the
    spread of predictions over independent seeds; adding absolute errors would overstate it."""
    base = symsgd.landscapes.gauss()
    points = [[R(k, 3)] for k in range(-6, 7)]
    net = NetLandscape.from_landscape(base, points)
    series = symsgd.expected_loss(symsgd.sgd(N, batch=B), 3, method="direct")
    lr = np.array([0.05, 0.2])
    reps = [predict(series, net, budget=40, seed=s, N=12, B=3) for s in range(150)]
    values = np.array([r(lr) for r in reps])
    predicted = np.mean([r.standard_error(lr) ** 2 for r in reps], axis=0)
    # relative standard error of a 150-sample variance: sqrt(2/149) ~ 0.12
    ratio = values.var(axis=0, ddof=1) / predicted
    assert np.all(np.abs(ratio - 1) < 0.45), ratio
    exact = predict(series, net, exact=True, N=12, B=3)(lr)
    inside = np.abs(values - exact) <= 1.96 * np.array([r.standard_error(lr) for r in reps])
    assert inside.mean() > 0.88


def test_band_text_and_plot():
    import matplotlib
    matplotlib.use("Agg")
    base = symsgd.landscapes.gauss()
    net = NetLandscape.from_landscape(base, [[R(k, 2)] for k in range(-3, 4)])
    series = symsgd.expected_loss(symsgd.sgd(N), 2, method="direct")
    p = predict(series, net, budget=50, seed=1, N=7)
    assert isinstance(p, Prediction)
    low, high = p.band([0.0, 0.1])
    assert np.all(low <= p([0.0, 0.1])) and np.all(p([0.0, 0.1]) <= high)
    assert p.text().splitlines()[1].startswith("c_1 = ")
    ax = p.plot(np.linspace(0, 0.1, 5))
    assert len(ax.lines) == 1 and len(ax.collections) == 1


def test_bad_input():
    net = NetLandscape.from_landscape(symsgd.landscapes.gauss(), [[1], [2]])
    series = symsgd.expected_loss(symsgd.sgd(N, batch=B), 2, method="direct")
    with pytest.raises(SymbolError, match="sizes"):
        predict(series, net, exact=True)
    with pytest.raises(ScheduleError):
        predict(series, net, exact=True, N=4, B=3)
    with pytest.raises(InputTypeError, match="Series"):
        predict("1 + eta", net)
    p = predict(series, net, exact=True, N=4, B=2)
    with pytest.raises(InputTypeError):
        p(["0.1"])
    with pytest.raises(InputTypeError, match="level"):
        p.band(0.1, level=0.5)


def test_truncate_is_the_lower_order_measured_once():
    net = NetLandscape.from_landscape(symsgd.landscapes.gauss(), [[R(k, 2)] for k in range(-3, 4)])
    series = symsgd.expected_loss(symsgd.sgd(N), 3, method="direct")
    p = predict(series, net, budget=64, seed=3, N=7)
    q = p.truncate(2)
    assert q.order == 2 and q.series == p.series.truncate(2)
    np.testing.assert_array_equal(q.coefficients, p.coefficients[:3])
    np.testing.assert_array_equal(q.covariance, p.covariance[:, :3, :3])
    from symsgd.errors import OrderError
    with pytest.raises(OrderError):
        p.truncate(4)
