"""Remark 1's exponential-integral form of the resummed diagrams (``propagator='integral'``).

Ground truths: divided differences of exp in extended precision (mpmath), mpmath
quadrature of the time integrals, closed forms on MEAN ESTIMATION, and the exact
discrete resummed form, which the integral form must approach at relative order eta.
"""

import mpmath
import numpy as np
import pytest
import scipy.linalg
import sympy

from symsgd import Landscape, resummed_displacement, resummed_loss
from symsgd.diagrams._integrals import Continuum, continuum, divided_differences, expm_metzler
from symsgd.diagrams._transfer import epochs_walk
from symsgd.diagrams.resum import _closed, rvalue_terms
from symsgd.distributions import Dataset
from symsgd.errors import ScheduleError
from symsgd.landscapes import gauss, helix, mean_estimation, shifting_valleys
from symsgd.schedule import Schedule, gd, sgd

a, b, c, x = sympy.symbols("a b c x")


def three_parameters():
    """Three parameters, skewed finite data, non-zero J, S and mixed cumulants."""
    loss = a**2 * b / 2 + x * a * c + (b - x)**2 * (1 + c) / 2 + c**3 / 6 + x**2 * a**3 / 6
    return Landscape(loss, (a, b, c), x, (1, 0, 1), distribution=Dataset([-1, 0, 2]), name="three")


def valley(eps=0):
    """H = diag(1, eps): at eps = 0 a valley along b, with noise and a third derivative along it."""
    loss = a**2 / 2 + eps * b**2 / 2 + x * (a + 1) * b + a * b**2 * x**2 / 2 - b**2 / 2 + a * x
    return Landscape(loss, (a, b), x, (1, 0), name="valley")


def repeated(eps=0):
    """H = diag(1, 1 + eps, 2) with non-Gaussian noise."""
    loss = (a**2 + (1 + eps) * b**2) / 2 + c**2 + x * (a * b + c) + x**3 * a / 3
    return Landscape(loss, (a, b, c), x, (1, 1, 1), name="repeated")


def _eigenvalues(L):
    return np.linalg.eigvalsh(np.array(L.H.tolist(), dtype=float))


def test_fixture_landscapes_have_the_advertised_hessians():
    assert np.allclose(_eigenvalues(valley()), [0, 1], atol=1e-15)
    assert np.allclose(_eigenvalues(repeated()), [1, 1, 2])
    assert np.allclose(_eigenvalues(helix()), [0, 1, 2], atol=1e-15)


# -- divided differences of exp ------------------------------------------------------------

def _reference(nodes, dps=400, split=60):
    """exp[x_0, ..., x_m] by the distinct-node formula sum_k e^(x_k) / prod_(j != k) (x_k - x_j)
    in extended precision; equal nodes are split by k * 10^-split first (an O(10^-split)
    change), which the precision absorbs."""
    with mpmath.workdps(dps):
        xs = [mpmath.mpf(float(v)) + k * mpmath.mpf(10) ** -split for k, v in enumerate(nodes)]
        total = mpmath.mpf(0)
        for k, u in enumerate(xs):
            total += mpmath.exp(u) / mpmath.fprod(u - w for j, w in enumerate(xs) if j != k)
        return float(total)


def _node_sets():
    rng = np.random.default_rng(7)
    sets = [np.zeros(m + 1) for m in range(1, 6)]                    # all zero: 1/m!
    sets += [np.array([0.0] + [-r] * m) for m in (1, 3, 5) for r in (1e-9, 0.3, 40.0)]
    sets += [np.array([0.0, -2.0, -2.0 * (1 + 1e-12), -2.0 * (1 - 1e-12)]),  # nearly equal
             np.array([0.0, -7.5, -7.5 + 7.5e-12, 0.0, -1e-12]),
             np.array([0.0, 0.0, -300.0, -300.0, -0.01])]
    for m in range(1, 6):
        for scale in (1e-6, 1.0, 30.0):
            nodes = np.concatenate([[0.0], -scale * rng.random(m)])
            if m > 1:
                nodes[-1] = nodes[-2] * (1 + 1e-12 * rng.standard_normal())
            sets.append(nodes)
            sets.append(-nodes / 10)                                 # growing exponentials too
    return sets


def test_divided_differences_match_extended_precision_at_zero_equal_and_nearly_equal_nodes():
    worst = 0.0
    for nodes in _node_sets():
        ours = float(divided_differences(nodes))
        worst = max(worst, abs(ours / _reference(nodes) - 1))
    assert worst < 1e-12
    assert np.allclose(divided_differences(np.zeros((4, 6))), 1 / 120, rtol=1e-15)  # 1/5!


def test_divided_differences_are_the_iterated_integrals_mpmath_quadrature():
    """exp[0, x_1, x_2] = int_0^1 ds_2 int_0^(s_2) ds_1 exp(x_1 (s_2 - s_1) + x_2 (1 - s_2))."""
    for x1, x2 in [(0.0, 0.0), (-3.0, -3.0), (-3.0, 0.0), (-1e-10, -2.0), (1.5, -0.5)]:
        def integrand(s2, x1=x1, x2=x2):
            return mpmath.quad(lambda s1: mpmath.exp(x1 * (s2 - s1) + x2 * (1 - s2)), [0, s2])
        quad = mpmath.quad(integrand, [0, 1])
        assert float(divided_differences([0.0, x1, x2])) == pytest.approx(float(quad), rel=1e-13)


def test_expm_metzler_equals_scipy_where_scipy_is_accurate_and_stays_accurate_where_not():
    rng = np.random.default_rng(3)
    M = np.triu(rng.random((20, 5, 5)), 1) - np.eye(5) * rng.random((20, 1, 5)) * 3
    assert np.allclose(expm_metzler(M), scipy.linalg.expm(M), rtol=1e-12, atol=1e-14)
    chain = np.diag([0.0, -9.6, -0.03, -0.03]) + np.eye(4, k=1)
    assert abs(expm_metzler(chain)[0, 3] / _reference([0.0, -9.6, -0.03, -0.03]) - 1) < 1e-14


# -- the time integrals of one term ------------------------------------------------------------

def _term(text, batch=1):
    return next(t for t in rvalue_terms(3, "test", batch, 3) if t.diagram.text() == text)


def _inner(alpha, t):
    """int_0^t exp(-alpha u) du."""
    return t if alpha == 0 else -mpmath.expm1(-alpha * t) / alpha


def _outer(alpha, below, T):
    """int_0^T exp(-alpha (T - t)) below(t) dt: a node at time t reaching the root at T."""
    return mpmath.quad(lambda t: mpmath.exp(-alpha * (T - t)) * below(t), [0, T])


def _expected(text, tied, rates, T):
    """The time integral of a term at edge rates eta lambda, written as nested integrals."""
    al, bl, cl = rates
    if text == "*(a, b, c)":
        return _inner(al, T) * _inner(bl, T) * _inner(cl, T)
    if text == "*(a(b, c))":     # nodes 2, 3 below node 1
        return _outer(al, lambda t: _inner(bl, t) * _inner(cl, t), T)
    if text == "*(a, a(b))":     # nodes 1, 2 in one block, node 3 below node 2
        if tied:
            return _outer(al + bl, lambda t: _inner(cl, t), T)
        return _inner(al, T) * _outer(bl, lambda t: _inner(cl, t), T)
    assert text == "*(a(a))"     # node 2 below node 1, in one block
    return 0 if tied else _outer(al, lambda t: _inner(bl, t), T)


def integrate(term, space, lam, eta):
    """The integral form's ``R[i_1, ..., i_d]`` of one term at one rate, at every tuple of
    eigenvalues (``K`` all ones)."""
    eta = np.array([eta])
    return _closed(term, space, eta, np.ones((lam.size,) * term.order),
                   rates=eta[:, None] * lam[None, :])[0]


@pytest.mark.parametrize("tied", [False, True], ids=["gd", "single-epoch"])
def test_term_integrals_match_quadrature_with_zero_and_repeated_eigenvalues(tied):
    """Every node (GD) or block (single epoch) integrated over its own time in [0, T] with
    density ``rows`` per block: the lattice of orderings must give the nested integrals
    (mpmath quadrature of closed inner integrals); a block tied along an edge gives 0."""
    T, eta, rows = 7, 0.3, 3
    lam = np.array([0.0, 0.5, 0.5, 1.3])
    for text in ("*(a, b, c)", "*(a(b, c))", "*(a, a(b))", "*(a(a))"):
        term = _term(text)
        R = integrate(term, Continuum(T, tied, rows), lam, eta)
        weight = rows ** (max(term.rows) + 1) * eta ** term.order
        for index in [(0, 0, 0), (1, 2, 0), (3, 1, 2), (2, 2, 3), (0, 3, 1)]:
            index = index[:term.order]
            rates = list(eta * lam[list(index)]) + [0.0] * (3 - term.order)
            expected = weight * float(_expected(text, tied, rates, T))
            assert R[index] == pytest.approx(expected, rel=1e-12, abs=0)


def test_blocks_tied_in_a_cycle_do_not_embed_in_a_single_epoch():
    """*(a(b), b(a)): each block has a node below a node of the other one.  With one time
    per block no order fits (0, as the discrete count); with GD every node is free."""
    term = next(t for t in rvalue_terms(4, "test", 1, 3) if t.diagram.text() == "*(a(b), b(a))")
    lam = np.array([0.0, 1.0])
    assert np.all(integrate(term, Continuum(5, True, 1), lam, 0.1) == 0)
    free = integrate(term, Continuum(5, False, 1), lam, 0.1)
    assert free[0, 0, 0, 0] == pytest.approx((0.1**2 * 5**2 / 2)**2, rel=1e-13)
    assert np.all(free > 0)


# -- closed forms on MEAN ESTIMATION -------------------------------------------------------

@pytest.mark.parametrize("batch", [1, 2])
def test_mean_estimation_closed_forms(batch):
    """l_x = theta^2/2 + x theta from theta_0 = 1: the integral form replaces (1 - eta)^T by
    q = exp(-eta T) and the noise sum by its integral: single-epoch SGD gives
    q^2/2 + eta (1 - q^2) / (4 B), GD on N points q^2/2 + (1 - q)^2 / (2 N); the mean moves
    by q - 1."""
    L = mean_estimation(init=1)
    eta = np.array([1e-3, 0.02, 0.3])
    T = 60
    q = np.exp(-eta * T)
    r = resummed_loss(sgd(T * batch, batch=batch), 2, landscape=L, propagator="integral")
    assert np.allclose(r(eta), q**2 / 2 + eta * (1 - q**2) / (4 * batch), rtol=1e-13)
    r = resummed_loss(gd(3, steps=T), 2, landscape=L, propagator="integral")
    assert np.allclose(r(eta), q**2 / 2 + (1 - q)**2 / 6, rtol=1e-13)
    w = resummed_displacement(sgd(T * batch, batch=batch), 1, landscape=L, propagator="integral")
    assert np.allclose(w(eta)[:, 0], q - 1, rtol=1e-13)


# -- convergence to the discrete form ------------------------------------------------------

def _slope(make, measure, L, product=1.0, sizes=(50, 100, 200)):
    rates, gaps = [], []
    for T in sizes:
        eta = product / T
        if measure == "weights":
            exact, approx = (resummed_displacement(make(T), 3, landscape=L, propagator=p)
                             for p in ("discrete", "integral"))
        else:
            exact, approx = (resummed_loss(make(T), 3, landscape=L, measure=measure, propagator=p)
                             for p in ("discrete", "integral"))
        e = exact(eta)
        rates.append(eta)
        gaps.append(np.linalg.norm(approx(eta) - e) / np.linalg.norm(e))
    return np.polyfit(np.log(rates), np.log(gaps), 1)[0], np.array(gaps) / np.array(rates)


@pytest.mark.parametrize("measure", ["test", "weights"])
@pytest.mark.parametrize("make", [sgd, lambda T: sgd(2 * T, batch=2), lambda T: gd(2, steps=T)],
                         ids=["sgd", "sgd-batch-2", "gd"])
def test_integral_form_approaches_discrete_form_at_relative_order_eta(make, measure):
    """eta -> 0 with eta T = 1 fixed: the relative difference falls like eta (fitted
    slope 1), and difference / eta = c + O(eta): its changes halve when eta halves."""
    slope, ratio = _slope(make, measure, three_parameters())
    assert 0.95 < slope < 1.15
    assert np.all(ratio > 0.01) and abs(ratio[2] - ratio[1]) < 0.7 * abs(ratio[1] - ratio[0])


def test_training_loss_integral_form_approaches_discrete_form():
    """The decorated diagrams (a training root joined to a block), eta T = 1/2 (at eta T = 1
    the loss crosses zero and relative differences mean nothing)."""
    slope, ratio = _slope(lambda T: sgd(2 * T, batch=2), "train", shifting_valleys(), product=0.5)
    assert 0.95 < slope < 1.15
    assert abs(ratio[2] - ratio[1]) < 0.7 * abs(ratio[1] - ratio[0])


# -- the large-T limit near a minimum ------------------------------------------------------

@pytest.mark.parametrize("batch", [1, 2])
def test_large_time_limit_at_a_minimum_agrees_to_relative_order_eta(batch):
    """GAUSS at its minimum (G = 0, H = C = 1/2), eta T from 10 to 80.  The discrete order-2
    excess loss tends to C eta / (2 B (2 - eta H)), the integral one to C eta / (4 B) (here
    C eta (1 - exp(-2 eta H T)) / (4 B)): the relative difference tends to -eta H / 2.  At
    order 3 it stays within O(eta) too, and the integral form has converged in T up to the
    transient exp(-2 eta H T)."""
    L = gauss()
    rates = np.array([0.005, 0.01, 0.02, 0.04])
    schedule = sgd(2000 * batch, batch=batch)
    for order in (2, 3):
        exact = resummed_loss(schedule, order, landscape=L)(rates) - 0.5
        approx = resummed_loss(schedule, order, landscape=L, propagator="integral")(rates) - 0.5
        relative = approx / exact - 1
        if order == 2:
            assert np.allclose(approx, 0.5 * rates * -np.expm1(-rates * 2000) / (4 * batch),
                               rtol=1e-12)
            assert np.allclose(relative, -rates / 4, rtol=1e-3)
        assert np.all(np.abs(relative) < 0.3 * rates) and np.all(np.abs(relative) > 0.2 * rates)
    longer = resummed_loss(sgd(4000 * batch, batch=batch), 3, landscape=L,
                           propagator="integral")(rates)
    assert np.all(np.abs(longer - 0.5 - approx) < (2 * np.exp(-2000 * rates) + 1e-12) * approx)


def test_gd_large_time_limit_at_a_minimum():
    """GD's overfitting limit at a test minimum does not depend on the propagator's form:
    (1 - eta lambda)^k and exp(-eta lambda k) both sum (or integrate) to 1 / lambda."""
    L = gauss()
    rates = np.array([0.02, 0.04])
    exact, approx = (resummed_loss(gd(2, steps=4000), 3, landscape=L, propagator=p)(rates)
                     for p in ("discrete", "integral"))
    assert np.allclose(approx, exact, rtol=1e-10)


# -- valleys and repeated eigenvalues ------------------------------------------------------

@pytest.mark.parametrize("make", [valley, repeated], ids=["valley", "repeated"])
@pytest.mark.parametrize("schedule", [sgd(100), sgd(100, batch=4), gd(3, steps=50)], ids=str)
@pytest.mark.parametrize("build", [resummed_loss, resummed_displacement],
                         ids=["loss", "displacement"])
def test_zero_and_repeated_eigenvalues_are_finite_and_continuous(make, schedule, build):
    """Moving the zero (valley) or a repeated eigenvalue by 1e-9 moves the prediction as much
    as it moves the division-free discrete form (the valley is sensitive: b drifts along
    it): no 0/0 and no cancellation anywhere.  The values track the discrete form to O(eta)."""
    rates = np.array([1e-4, 0.01, 0.05, 0.2])
    eps = sympy.Rational(1, 10**9)
    (v0, v1), (d0, d1) = ((build(schedule, 3, landscape=L, propagator=p)(rates) for L in (make(), make(eps)))
                          for p in ("integral", "discrete"))
    assert np.all(np.isfinite(v0)) and np.all(np.isfinite(v1))
    assert np.max(np.abs(d1 - d0)) > 1e-10
    assert np.allclose(v1 - v0, d1 - d0, rtol=0.1, atol=1e-13)
    gap = np.linalg.norm(np.reshape(v0 - d0, (4, -1)), axis=1)
    assert np.all(gap[:3] < 2 * rates[:3] * np.linalg.norm(np.reshape(d0, (4, -1)), axis=1)[:3])


def test_helix_valley_displacement_is_finite_and_near_discrete():
    L = helix()
    rates = np.array([0.005, 0.01])
    exact, approx = (resummed_displacement(sgd(400), 3, landscape=L, propagator=p)(rates)
                     for p in ("discrete", "integral"))
    assert np.all(np.isfinite(approx))
    assert np.all(np.linalg.norm(approx - exact, axis=1)
                  < 3 * rates * np.linalg.norm(exact, axis=1))


# -- schedules, wiring and errors -------------------------------------------------------------

def test_continuum_of_schedules():
    assert continuum(sgd(6, batch=2)) == Continuum(3, True, 2)
    assert continuum(gd(3, steps=4)) == Continuum(4, False, 3)
    assert continuum(sgd(4, batch=4, epochs=3)) == Continuum(3, False, 4)  # full batches: GD
    assert continuum(Schedule([[3, 0], [1, 2]])) == Continuum(2, True, 2)
    assert continuum(sgd(6, batch=2, reshuffle=5)) == Continuum(3, True, 2)
    L = three_parameters()
    explicit, family = (resummed_loss(s, 3, landscape=L, propagator="integral")
                        for s in (Schedule([[2, 3], [0, 1]]), sgd(4, batch=2)))
    assert np.allclose(explicit([0.01, 0.1]), family([0.01, 0.1]), rtol=1e-14)


@pytest.mark.parametrize("schedule", [sgd(4, epochs=2, reshuffle=3),
                                      Schedule([[0], [1], [0]])], ids=str)
def test_revisiting_schedules_raise_a_schedule_error(schedule):
    """Arbitrary revisits (a seeded order, explicit batches) have no continuum; uniform
    reshuffling has one (``tests/test_resum_reshuffle.py``)."""
    with pytest.raises(ScheduleError, match="integral propagator"):
        resummed_loss(schedule, 2, landscape=shifting_valleys(), propagator="integral")


def test_integral_form_is_numeric_only_and_named_in_repr():
    r = resummed_loss(sgd(3), 2, landscape=shifting_valleys(), propagator="integral")
    assert "integral" in repr(r)
    assert r(0.0) == 2.0 and r(np.zeros((2, 3))).shape == (2, 3)  # the initial loss A + B^2
    with pytest.raises(ValueError, match="discrete"):
        r.expr


@pytest.mark.parametrize("schedule", [sgd(6), sgd(6, batch=2), sgd(6, batch=6),
                                      sgd(4, batch=4, epochs=3),
                                      sgd(6, batch=3, reshuffle="random"), gd(3, steps=4), gd(1)])
def test_continuum_of_a_family_equals_the_one_read_off_its_batches(schedule):
    """The families' space-time is read from their sizes (in O(1), for huge T); it must be
    the one the explicit batches give."""
    (p, explicit), = schedule.realizations()
    assert continuum(schedule) == continuum(explicit)


@pytest.mark.parametrize("schedule", [sgd(4, epochs=2), sgd(4, batch=2, epochs=2, reshuffle=3)])
def test_continuum_refuses_several_epochs_of_a_family(schedule):
    with pytest.raises(ScheduleError, match="revisits"):
        continuum(schedule)


@pytest.mark.parametrize("epochs, steps", [(2, 3), (3, 2)])
def test_several_epochs_integral_is_the_limit_of_refined_sums(epochs, steps):
    """Several epochs in a fixed order, continuous phases: each term's integral is the limit
    of its discrete exponential sum on a grid refined ``k`` times (phases ``p / k``, each
    block's phase weighted ``1/k``), a Riemann sum with error ``O(1/k)``: Richardson's
    ``2 S(2k) - S(k)`` at ``k = 200`` leaves ``O(1/k^2) ~ 1e-5`` of the value."""
    rng = np.random.default_rng(5)
    checked = 0
    for measure in ("test", "weights", "train"):
        for term in rvalue_terms(3, measure, 1, 4):
            d = term.order
            if d == 0:
                continue
            rates = rng.uniform(0.0, 0.8, size=(2, d))
            exact = epochs_walk(term, epochs, steps, rates=rates)

            def refined(k):
                r = np.exp(-rates / k)
                blocks = max(term.rows) + 1
                return epochs_walk(term, epochs, steps * k, stay=r, end=r) / k ** blocks
            estimate = 2 * refined(400) - refined(200)
            scale = np.max(np.abs(exact))
            assert np.allclose(estimate, exact, rtol=1e-4, atol=1e-4 * scale), term
            checked += np.any(exact != 0)
    assert checked > 10


@pytest.mark.parametrize("measure", ["test", "weights"])
def test_several_epochs_integral_form_approaches_discrete_form(measure):
    """The integral form over two epochs in a fixed order, eta T = 1: the relative difference
    from the discrete form falls like eta (fitted slope 1), as on one epoch (at T = 100 to
    400: at 50 the test loss's difference / eta still moves by 15%)."""
    slope, ratio = _slope(lambda T: sgd(T // 2, epochs=2), measure, three_parameters(),
                          sizes=(100, 200, 400))
    assert 0.95 < slope < 1.15
    assert abs(ratio[2] - ratio[1]) < 0.7 * abs(ratio[1] - ratio[0])
