"""The resummed (linkless, rvalue) form of the diagram expansion, Tenka's Theorem 1.

Ground truths: the exact engine (brute-force symbolic SGD), the diagram
expansion with uvalues, closed forms for quadratic landscapes, and Monte Carlo.
"""

import numpy as np
import pytest
import sympy

from symsgd import Landscape, expected_displacement, expected_loss, simulate
from symsgd.diagrams import Resummed, resummed_displacement, resummed_loss
from symsgd.diagrams.resum import rvalue_terms
from symsgd.distributions import Dataset
from symsgd.errors import (LandscapeError, MeasureError, NonFiniteError, OrderError,
                           ScheduleError)
from symsgd.landscapes import (gauss, mean_estimation, shifting_valleys,
                               valley_of_death)
from symsgd.schedule import Schedule, gd, sgd

a, b, c, x = sympy.symbols("a b c x")


def three_parameters():
    """Three parameters, skewed data (a finite dataset), non-zero J, S and mixed cumulants."""
    loss = a**2 * b / 2 + x * a * c + (b - x)**2 * (1 + c) / 2 + c**3 / 6 + x**2 * a**3 / 6
    return Landscape(loss, (a, b, c), x, (1, 0, 1), Dataset([-1, 0, 2]), name="three")


def flat_valley():
    """H = diag(1, 0): a valley along b, with noise and third derivatives along it."""
    loss = a**2 / 2 + x * (a + 1) * b + a * b**2 * x**2 / 2 - b**2 / 2 + a * x
    return Landscape(loss, (a, b), x, (1, 0), name="flat valley")


def repeated():
    """H = diag(1, 1, 2) with non-Gaussian noise."""
    loss = (a**2 + b**2) / 2 + c**2 + x * (a * b + c) + x**3 * a / 3
    return Landscape(loss, (a, b, c), x, (1, 1, 1), name="repeated")


LANDSCAPES = [shifting_valleys, valley_of_death, three_parameters]
SCHEDULES = [sgd(3), sgd(4, batch=2), sgd(2, epochs=2), sgd(4, batch=2, epochs=2),
             gd(2, steps=3)]


def _eigenvalues(L):
    return np.linalg.eigvalsh(np.array(L.H.tolist(), dtype=float))


def test_fixture_landscapes_have_the_advertised_hessians():
    assert np.allclose(_eigenvalues(flat_valley()), [0, 1])
    assert np.allclose(_eigenvalues(repeated()), [1, 1, 2])
    L = three_parameters()
    assert any(v != 0 for v in L.S.tolist()[0][0]) and any(v != 0 for v in L.J.tolist()[0][0])


# -- Theorem 1, exactly -----------------------------------------------------------------

@pytest.mark.parametrize("make", LANDSCAPES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("schedule", SCHEDULES, ids=str)
def test_expanded_rvalues_equal_uvalue_series_and_exact_engine(make, schedule):
    L = make()
    exact = expected_loss(schedule, 3, landscape=L, method="exact")
    diagrams = expected_loss(schedule, 3, landscape=L, method="diagrams")
    assert diagrams == exact
    for d in (1, 2, 3):
        r = resummed_loss(schedule, L, d)
        assert r.series(d) == exact.truncate(d)


@pytest.mark.parametrize("measure", ["train", "gap"])
@pytest.mark.parametrize("schedule", [sgd(3), sgd(4, batch=2, epochs=2), gd(2, steps=3),
                                      sgd(3, epochs=2, reshuffle="random")], ids=str)
def test_training_loss_and_gap_resum_over_decorated_linkless_diagrams(measure, schedule):
    L = shifting_valleys()
    r = resummed_loss(schedule, L, 3, measure)
    assert r.series(3) == expected_loss(schedule, 3, landscape=L, method="exact", measure=measure)


@pytest.mark.parametrize("schedule", [sgd(3), sgd(4, batch=2, epochs=2), gd(2, steps=3),
                                      sgd(3, epochs=2, reshuffle="random")], ids=str)
def test_displacement_resums_with_a_loose_end(schedule):
    L = three_parameters()
    r = resummed_displacement(schedule, L, 3)
    assert r.series(3) == expected_displacement(schedule, 3, landscape=L, method="exact")


def test_random_reshuffling_test_loss():
    L = valley_of_death()
    schedule = sgd(3, epochs=2, reshuffle="random")
    assert resummed_loss(schedule, L, 3).series(3) == \
        expected_loss(schedule, 3, landscape=L, method="exact")


@pytest.mark.parametrize("schedule", [sgd(3), sgd(2, epochs=2), sgd(4, batch=2), gd(2, steps=2),
                                      Schedule([[0], [1], [0]])], ids=str)
def test_quadratic_gaussian_landscape_is_resummed_exactly_at_order_two(schedule):
    """For a quadratic loss with Gaussian gradient noise every diagram reduces to the
    linkless ones with at most two edges: the resummed form is the exact expected loss,
    a polynomial of degree 2T, and the displacement is exact from one edge."""
    L = mean_estimation(hessian=sympy.Rational(3, 2), noise=2, init=1)
    full = expected_loss(schedule, 2 * schedule.T, landscape=L, method="exact")
    assert sympy.expand(resummed_loss(schedule, L, 2).expr - full.as_expr()) == 0
    move = expected_displacement(schedule, schedule.T, landscape=L, method="exact")
    assert resummed_displacement(schedule, L, 1).expr == move.as_expr()


def test_skewed_quadratic_is_resummed_exactly_at_order_two():
    L = skewed_quadratic()
    schedule = sgd(2, epochs=2)
    full = expected_loss(schedule, 2 * schedule.T, landscape=L, method="exact")
    assert sympy.expand(resummed_loss(schedule, L, 2).expr - full.as_expr()) == 0


def test_batch_size_enters_as_one_over_b_per_edge():
    """A link in a batch of B cells cancels its edge's 1/B: with batch 2 the resummed
    propagators are the same powers of (1 - eta H), the prefactor alone is (-1/2)^d."""
    terms = {t.diagram.text(): t.factor for t in rvalue_terms(2, "test", 2, 4)}
    assert terms == {"*": 1, "*(a)": sympy.Rational(-1, 2), "*(a, a)": sympy.Rational(1, 8),
                     "*(a, b)": sympy.Rational(1, 8), "*(a(a))": sympy.Rational(1, 4)}


# -- numeric evaluation ---------------------------------------------------------------

@pytest.mark.parametrize("make", [three_parameters, flat_valley, repeated, valley_of_death],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("schedule", [sgd(3, epochs=2), sgd(4, batch=2, epochs=2),
                                      gd(2, steps=4)], ids=str)
def test_numeric_equals_exact_polynomial(make, schedule):
    L = make()
    rates = [sympy.Rational(1, 1000), sympy.Rational(1, 20), sympy.Rational(1, 5),
             sympy.Rational(1, 2)]
    for r in (resummed_loss(schedule, L, 3), resummed_displacement(schedule, L, 3)):
        values = r(np.array([float(q) for q in rates]))
        for q, v in zip(rates, values):
            exact = r.expr.subs(r.eta, q)
            exact = np.array([float(e) for e in exact]) if r.measure == "weights" else float(exact)
            assert np.allclose(v, exact, rtol=1e-12, atol=1e-12 * np.max(np.abs(exact)))


def test_call_accepts_scalars_and_arrays():
    r = resummed_loss(sgd(3), shifting_valleys(), 2)
    grid = np.array([[0.0, 0.1], [0.2, 0.3]])
    values = r(grid)
    assert values.shape == (2, 2)
    assert r(0.2).shape == () and float(r(0.2)) == values[1, 0]
    assert float(r(0.0)) == 2.0  # the initial loss A + B^2
    w = resummed_displacement(sgd(3), shifting_valleys(), 2)
    assert w(grid).shape == (2, 2, 2) and np.all(w(0.0) == 0)


def test_exponential_propagator_differs_at_relative_order_eta():
    """Remark 1's exp(-eta lambda (t'-t)) in place of (1 - eta lambda)^(t'-t-1): the
    leading term agrees and the relative difference shrinks linearly in eta."""
    L = mean_estimation(init=1)
    schedule = sgd(100)
    exact = resummed_loss(schedule, L, 2)
    approx = resummed_loss(schedule, L, 2, propagator="exponential")
    assert "exponential" in repr(approx)
    rates = np.array([0.001, 0.002, 0.004])
    gap = np.abs(approx(rates) / exact(rates) - 1)
    assert np.all(gap < 2 * rates) and np.all(np.diff(gap) > 0)
    with pytest.raises(ValueError, match="discrete"):
        approx.expr


# -- near a minimum: boundedness, Theorem 2, simulation -------------------------------------

def _mean_estimation_loss(eta, T):
    """E l(theta_T) for l_x = theta^2/2 + x theta, single-epoch batch-1 SGD from theta_0 = 1:
    the mean is (1 - eta)^T, the variance eta^2 (1 - q^T) / (1 - q) with q = (1 - eta)^2."""
    q = (1 - eta)**2
    return (q**T + eta**2 * (1 - q**T) / (1 - q)) / 2


def _polynomial(L, make, order, T, rates):
    """The order-``order`` uvalue series of a family with symbolic size, at size ``T``."""
    n = sympy.Symbol("n", integer=True, positive=True)
    series = expected_loss(make(n), order, landscape=L, method="diagrams").subs(n, T)
    return np.array([float(series(sympy.Float(e))) for e in np.atleast_1d(rates)])


def test_resummed_stays_bounded_and_converges_where_the_series_diverges():
    L = mean_estimation(init=1)
    rates = np.array([0.05, 0.1, 0.3])
    previous = None
    for T in (10, 100, 1000):
        values = resummed_loss(sgd(T), L, 2)(rates)
        assert np.allclose(values, _mean_estimation_loss(rates, T), rtol=1e-12)
        polynomial = _polynomial(L, sgd, 2, T, rates)
        if T == 1000:
            assert np.all(np.abs(polynomial) > 1e2) and np.all(values < 0.1)
        previous = values
    limit = rates / (2 * (2 - rates))  # Theorem 2: eta C / (2 (2 H - eta H^2)) * H
    assert np.allclose(previous, limit, rtol=1e-12)


def test_theorem_two_limit_for_a_non_gaussian_minimum():
    """GAUSS starts at a non-degenerate test minimum (G = 0, H = C = 1/2, skewed noise).
    With a fresh point per step the order-3 truncation converges geometrically in T
    (Theorem 2); its order-1 and order-2 truncations have exact limits: the initial loss
    and l + C eta / (2 (2 - eta H)) (the *(a, a) diagram, a geometric series in
    (1 - eta H)^2)."""
    L = gauss()
    eta = np.array([0.05, 0.2])
    v100, v200, v400 = (resummed_loss(sgd(T), L, 3)(eta) for T in (100, 200, 400))
    assert np.all(np.abs(v400 - v200) < 0.2 * np.abs(v200 - v100))
    first, second = (resummed_loss(sgd(400), L, d)(eta) for d in (1, 2))
    assert np.allclose(first, 0.5, rtol=1e-12)
    limit = 0.5 + 0.5 * eta / (2 * (2 - eta / 2))
    q = (1 - eta / 2)**2
    assert np.allclose(second, limit - 0.5 * eta / (2 * (2 - eta / 2)) * q**400, rtol=1e-12)


def skewed_quadratic():
    """A 2-D quadratic basin, H = [[1, 1/2], [1/2, 1]], with skewed gradient noise: the
    dynamics are linear in the data, so the order-2 resummation is exact for every
    schedule while the loss's Taylor polynomial blows up with T."""
    loss = (a**2 + a * b + b**2) / 2 + x * a + (x**2 - 1) * b / 2
    return Landscape(loss, (a, b), x, (1, -1), Dataset([-1, 0, 0, 3]), name="skewed quadratic")


def test_agrees_with_simulation_where_the_polynomial_is_far_off():
    L = skewed_quadratic()
    schedule = sgd(10, epochs=20)
    eta = 0.3
    r = resummed_loss(schedule, L, 2)
    sim = simulate(schedule, landscape=L, lr=[eta], trials=20_000, seed=11)
    mean, sem = sim.test_loss[0, -1], sim.test_loss_sem[0, -1]
    assert abs(float(r(eta)) - mean) < 3 * sem
    n = sympy.Symbol("n", integer=True, positive=True)
    series = expected_loss(sgd(10, epochs=n), 2, landscape=L, method="diagrams").subs(n, 20)
    assert abs(float(series(sympy.Float(eta))) - mean) > 100 * sem


@pytest.mark.slow
def test_truncation_error_near_a_minimum_is_second_order_in_eta():
    """GAUSS at its minimum, a fresh point per step, T = 400 (eta T up to 40): the order-2
    resummed loss misses the simulated loss by O(eta^2) uniformly in T, since every
    diagram with d edges and k blocks scales like eta^(d - k) and d - k = 1 only for d <= 2."""
    L = gauss()
    schedule = sgd(400)
    rates = np.array([0.025, 0.05, 0.1])
    sim = simulate(schedule, landscape=L, lr=rates, trials=100_000, seed=5)
    miss = sim.test_loss[:, -1] - resummed_loss(schedule, L, 2)(rates)
    assert np.all(np.abs(miss) < 0.1 * rates**2 + 3 * sim.test_loss_sem[:, -1])
    assert np.all(np.abs(miss[1:]) > 3 * sim.test_loss_sem[1:, -1])


# -- wiring and errors ----------------------------------------------------------------

def test_expected_loss_resum_returns_a_resummed():
    L = shifting_valleys()
    r = expected_loss(sgd(3), 2, landscape=L, resum=True)
    assert isinstance(r, Resummed) and r == resummed_loss(sgd(3), L, 2)
    assert r == expected_loss(sgd(3), 2, landscape=L, method="diagrams", resum=True)
    assert repr(r) == ("Resummed(test loss, sgd(N=3, batch=1, epochs=1, reshuffle='fixed'), "
                       "order=2, 5 terms)")
    w = expected_displacement(sgd(3), 2, landscape=L, resum=True)
    assert w.measure == "weights" and w.series(2) == \
        expected_displacement(sgd(3), 2, landscape=L, method="exact")
    eta = sympy.Symbol("lr")
    assert expected_loss(sgd(3), 1, landscape=L, resum=True, eta=eta).expr.free_symbols == {eta}


def test_resummed_is_frozen():
    r = resummed_loss(sgd(2), shifting_valleys(), 1)
    with pytest.raises(AttributeError):
        r.order = 3


def test_errors():
    L = shifting_valleys()
    N = sympy.Symbol("N", integer=True, positive=True)
    with pytest.raises(ScheduleError, match="symbolic"):
        expected_loss(sgd(N), 2, landscape=L, resum=True)
    with pytest.raises(LandscapeError, match="landscape"):
        expected_loss(sgd(3), 2, resum=True)
    with pytest.raises(ValueError, match="method='diagrams'"):
        expected_loss(sgd(3), 2, landscape=L, method="exact", resum=True)
    with pytest.raises(MeasureError, match="mean"):
        expected_loss(sgd(3), 2, landscape=L, moment=2, resum=True)
    with pytest.raises(MeasureError):
        resummed_loss(sgd(3), L, 2, measure="weights")
    with pytest.raises(OrderError):
        expected_loss(sgd(3), -1, landscape=L, resum=True)
    with pytest.raises(OrderError):
        resummed_loss(sgd(3), L, 2).series(-1)
    with pytest.raises(ValueError, match="propagator"):
        resummed_loss(sgd(3), L, 2, propagator="continuous")
    with pytest.raises(NonFiniteError):
        resummed_loss(sgd(3), L, 2)(np.nan)
    H = sympy.Symbol("H", positive=True)
    symbolic = resummed_loss(sgd(2), mean_estimation(hessian=H, init=1), 2)
    with pytest.raises(LandscapeError, match="rational"):
        symbolic.expr
    with pytest.raises(LandscapeError, match="numeric"):
        symbolic(0.1)


def test_resummed_series_lists_its_diagrams():
    """The Series of a resummed form records its measure, so its diagrams can be listed."""
    from symsgd.tensors import evaluate_expr

    L = shifting_valleys()
    series = resummed_loss(sgd(3), L, 2).series(2)
    for k in range(3):
        total = sum(c.weight * evaluate_expr(c.value, L.cumulant) for c in series.diagrams(k))
        assert total == series.coeff(k)
