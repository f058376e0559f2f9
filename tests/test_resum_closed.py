"""The resummed sums in closed form (issue 14): a walk on each term's lattice, and T -> infinity.

On a homogeneous schedule (GD, single-epoch SGD) calling a Resummed evaluates every term as
``walk(transfer(...), T)``, by repeated squaring; other schedules are summed over time (the
O(T) sweep) or, several epochs in a fixed order, by walks over the epochs.  Ground truths:

* the time sweep ``_sweep`` (the code path the closed form replaced), term by term and summed;
* the exact rational polynomial ``Resummed.expr`` (small T);
* large-T values, for ``asymptote`` / ``limit`` / ``velocity``;
* independent closed forms: exact discrete Lyapunov stationary covariances
  (:mod:`symsgd.lyapunov`) on quadratic landscapes, the empirical minimizer for GD, and
  hand-derived drift velocities on valleys of minima.

Tolerances.  The closed form and the sweep add up the same products of propagators in a
different order, so they agree to a few ulps times the condition number of the sum: the
sum of the magnitudes of the terms over the magnitude of the total.  1e-12 of that scale
leaves three to four orders of magnitude of room (the largest mismatch seen is 1.4e-15).
Large-T comparisons allow 1e-9: ``walk`` squares ``log2 T`` times and ``asymptote`` divides
truncated Laurent series, each adding rounding (seen: below 1e-13).
"""

import functools
import warnings

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from symsgd import Dataset, Landscape, resummed_displacement, resummed_loss
from symsgd.diagrams._integrals import continuum
from symsgd.diagrams.resum import _closed, _memberships, _sweep, rvalue_terms
from symsgd.errors import (InputTypeError, MeasureError, MethodError, NonFiniteError,
                           ScheduleError, StabilityError)
from symsgd.landscapes import gauss, helix, linear_regression, mean_estimation, shifting_valleys
from symsgd.lyapunov import discrete_lyapunov, stationary_covariance
from symsgd.optim import SGD
from symsgd.schedule import gd, sgd

Q = sympy.Rational
u, z, x, w, a, b, x0, x1 = sympy.symbols("u z x w a b x0 x1", real=True)
MEASURES = ("test", "train", "gap", "weights")


# -- fixtures: landscapes built once (their cumulants are cached on the instance) -----------

@functools.lru_cache(maxsize=None)
def landscape(name: str) -> Landscape:
    return {
        "helix": helix,
        "gauss": gauss,
        "mean_estimation": lambda: mean_estimation(init=1),
        "mean_estimation_3/2": lambda: mean_estimation(hessian=Q(3, 2), noise=2, init=1),
        "shifting_valleys": shifting_valleys,
        "linear_regression": lambda: linear_regression(dim=2),
        "linear_regression_at_minimum": lambda: linear_regression(dim=2, init=[1, 1]),
        "quadratic_2d": quadratic_2d,
        "drift_valley": drift_valley,
    }[name]()


def quadratic_2d() -> Landscape:
    """A 2-D quadratic basin with a non-diagonal Hessian ``[[2, 1/2], [1/2, 1]]`` and correlated
    additive Gaussian gradient noise ``C = [[5/4, 1/2], [1/2, 2]]``; minimum 0 at the origin."""
    loss = (2 * a**2 + a * b + b**2) / 2 + x0 * (a + b) + x1 * (a - 2 * b) / 2
    return Landscape(loss, (a, b), (x0, x1), (1, -1), name="quadratic 2d")


#: ``drift_valley``'s constants: ``l_x = (h + k z) u^2 / 2 + s x u (1 + c z)``.
H_U, K_Z, S_U, C_Z = 2, 3, 1, 1


def drift_valley() -> Landscape:
    """A second valley of minima (``u = 0``, any ``z``): ``H = diag(h, 0)`` at the origin, the
    curvature across the valley grows with ``z`` and so does the noise (``C = s^2 (1 + c z)^2``).

    SGD drifts along ``z`` because ``dl/dz = k u^2 / 2 + s c x u`` has the mean ``k E[u^2] / 2``
    (``x_t`` is independent of ``u_t``, so the noise term averages to zero): towards flatter
    ``z``.  At ``z = 0`` the stationary ``E[u^2]`` of SGD with batch ``B`` is
    ``eta s^2 / (B h (2 - eta h))`` (the scalar Lyapunov fixed point), so the drift per step is
    ``-eta^2 k s^2 / (2 B h (2 - eta h))``: what the order-3 diagrams (the third derivative
    ``d^3 l / du^2 dz`` with two noise edges and the loose end along ``z``) resum to."""
    loss = (H_U + K_Z * z) * u**2 / 2 + S_U * x * u * (1 + C_Z * z)
    return Landscape(loss, (u, z), x, (0, 0), name="drift valley")


def build(schedule, order, name, measure, propagator="discrete"):
    if measure == "weights":
        return resummed_displacement(schedule, order, landscape=landscape(name),
                                     propagator=propagator)
    return resummed_loss(schedule, order, landscape=landscape(name), measure=measure,
                         propagator=propagator)


# -- the reference: the time sweep -------------------------------------------------------

def swept(r, lr):
    """``(value, scale)`` of ``r`` at ``lr`` by the O(T) sweep: the loop of
    ``Resummed.__call__`` with ``_sweep`` in place of ``_closed``.  ``scale`` is the sum of the
    magnitudes of the terms (entry by entry): the condition number of the sum times its value."""
    rates = np.asarray(lr, dtype=float).reshape(-1)
    lam, kept = r._numeric
    discrete = r.propagator == "discrete"
    steps = 1.0 - rates[:, None] * lam[None, :] if discrete \
        else np.exp(-rates[:, None] * lam[None, :])
    memberships = _memberships(r.schedule)
    tail = (r.landscape.dim,) if r.measure == "weights" else ()
    value, scale = np.zeros(rates.shape + tail), np.zeros(rates.shape + tail)
    for factor, term, K in kept:
        R = _sweep(term, memberships, discrete, steps, rates)
        d = term.order
        k_axes = list(range(1, d + 1)) + ([d + 1] if tail else [])
        out = [0] + ([d + 1] if tail else [])
        value += factor * np.einsum(K, k_axes, R, list(range(d + 1)), out)
        scale += abs(factor) * np.einsum(np.abs(K), k_axes, np.abs(R), list(range(d + 1)), out)
    return value.reshape(np.shape(lr) + tail), scale.reshape(np.shape(lr) + tail)


def at(coefficients, T, vector):
    """The polynomial ``sum_k coefficients[..., k(, p)] T^k`` of ``Resummed.asymptote``."""
    axis = -2 if vector else -1
    powers = float(T) ** np.arange(coefficients.shape[axis])
    return np.tensordot(np.moveaxis(coefficients, axis, -1), powers, axes=1) if not vector \
        else np.einsum("...kp,k->...p", coefficients, powers)


def close(actual, expected, rtol):
    """Max-norm relative agreement (relative to the largest entry of either side)."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    scale = max(np.max(np.abs(expected)), np.max(np.abs(actual)))
    error = np.max(np.abs(actual - expected))
    assert error <= rtol * scale, f"{error:.3g} > {rtol} * {scale:.3g}"


# -- 1. closed form == sweep ---------------------------------------------------------------

NAMES = ["helix", "gauss", "mean_estimation", "shifting_valleys", "linear_regression"]
HOMOGENEOUS = [sgd(7), sgd(6, batch=2), gd(4, steps=9)]
RATES = np.array([0.01, 0.1, 0.3])


@pytest.mark.parametrize("propagator", ["discrete", "exponential"])
@pytest.mark.parametrize("schedule", HOMOGENEOUS, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_closed_form_equals_the_time_sweep(name, schedule, propagator):
    """Every measure, orders 2 and 3: the walk by repeated squaring gives the sweep's sums.

    The mismatch is bounded by 1e-12 of the terms' magnitudes (the sum's conditioning, see
    the module docstring) and, as these sums are well conditioned, by 1e-12 of the value."""
    for order in (2, 3):
        for measure in MEASURES:
            r = build(schedule, order, name, measure, propagator)
            closed = r(RATES)
            value, scale = swept(r, RATES)
            assert closed.shape == value.shape
            assert np.all(np.abs(closed - value) <= 1e-12 * scale), (order, measure)
            close(closed, value, 1e-12)


@pytest.mark.parametrize("schedule", [sgd(3, epochs=2), sgd(4, batch=2, epochs=3),
                                      sgd(2, epochs=20)], ids=str)
@pytest.mark.parametrize("name", ["helix", "gauss", "shifting_valleys"])
def test_several_epochs_in_a_fixed_order_equal_the_time_sweep(name, schedule):
    """Several epochs in a fixed order revisit their points: no single walk; whatever
    ``__call__`` does for them (the sweep, or walks over epochs and phases), it is the sweep's
    sum, to the same 1e-12 of the terms' magnitudes."""
    for propagator in ("discrete", "exponential"):
        for order in (2, 3):
            for measure in MEASURES:
                r = build(schedule, order, name, measure, propagator)
                value, scale = swept(r, RATES)
                assert np.all(np.abs(r(RATES) - value) <= 1e-12 * scale), (order, measure)


def _terms_against_the_sweep(schedule, space, discrete, order, measures=MEASURES):
    """``_closed`` on ``space`` against ``_sweep``, every term up to ``order``, at every tuple
    of eigenvalues 0, 1/2, 2 (``K`` all ones: also where a landscape's cumulants vanish) and
    rates with ``0 < q = 1 - eta lambda <= 1``: sums of positive products, accurate to a few
    ulps, hence relative 1e-12 entry by entry.  Returns how many terms had embeddings."""
    lam = np.array([0.0, 0.5, 2.0])
    eta = np.array([0.01, 0.1, 0.3])
    steps = 1.0 - eta[:, None] * lam if discrete else np.exp(-eta[:, None] * lam)
    end = np.ones_like(steps) if discrete else steps
    memberships = _memberships(schedule)
    checked = 0
    for measure in measures:
        for term in rvalue_terms(order, measure, schedule.batch, schedule.N):
            if term.order == 0:
                continue
            reference = _sweep(term, memberships, discrete, steps, eta)
            value = _closed(term, space, eta, np.ones((lam.size,) * term.order), stay=steps,
                            end=end)
            np.testing.assert_allclose(value, reference, rtol=1e-12, atol=0)
            checked += bool(np.any(reference))
            assert np.all(reference > 0) or not np.any(reference)
    return checked


@pytest.mark.parametrize("discrete", [True, False], ids=["discrete", "exponential"])
@pytest.mark.parametrize("schedule", HOMOGENEOUS, ids=str)
def test_each_term_closed_form_equals_its_sweep_entry_by_entry(schedule, discrete):
    """One walk on a homogeneous space-time (terms with no embedding, a block tied across
    an edge, are zero on both sides)."""
    assert _terms_against_the_sweep(schedule, continuum(schedule), discrete, 3) > 20


@pytest.mark.parametrize("discrete", [True, False], ids=["discrete", "exponential"])
@pytest.mark.parametrize("schedule", [sgd(3, epochs=2), sgd(4, batch=2, epochs=3),
                                      sgd(6, batch=2, epochs=2)], ids=str)
def test_each_term_over_several_epochs_equals_its_sweep_entry_by_entry(schedule, discrete):
    """The walks over epochs and phases (``__call__`` sweeps such short schedules itself)."""
    space = (schedule.epochs, schedule.N // schedule.batch, schedule.batch)
    assert _terms_against_the_sweep(schedule, space, discrete, 4) > 50


# -- 2. closed form == the exact polynomial ------------------------------------------------

@pytest.mark.parametrize("schedule", [sgd(3), sgd(4, batch=2), gd(2, steps=3),
                                      sgd(3, epochs=2, reshuffle="random")], ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_closed_form_equals_the_exact_polynomial(name, schedule):
    """``r.expr`` (exact rational arithmetic, its own enumeration of the embeddings and exact
    matrix powers of ``I - eta H``) evaluated exactly at rational rates, then rounded once:
    the float64 closed form agrees to 1e-12 of the largest value."""
    rates = [Q(1, 1000), Q(1, 10), Q(3, 10), Q(1, 2)]
    for order in (2, 3):
        for measure in MEASURES:
            r = build(schedule, order, name, measure)
            values = r(np.array([float(q) for q in rates]))
            exact = []
            for q in rates:
                e = r.expr.subs(r.eta, q)
                exact.append([float(v) for v in e] if measure == "weights" else float(e))
            close(values, exact, 1e-12)


# -- 3. cost flat in T --------------------------------------------------------------------

def test_a_million_steps_evaluate_and_sit_on_the_asymptote():
    """HELIX, order 3, sgd(10**6): ``log2 T`` squarings instead of 10**6 steps.  After
    ``(1 - eta)^T`` has died out the value is the asymptote's polynomial at ``T``: linear for
    the displacement (the drift along z), constant for the test loss."""
    rates = np.array([0.05, 0.1])
    T = 10**6
    for measure in ("weights", "test"):
        r = build(sgd(T), 3, "helix", measure)
        values = r(rates)
        assert np.all(np.isfinite(values))
        close(values, at(r.asymptote(rates), T, measure == "weights"), 1e-9)
    assert np.all(build(sgd(T), 3, "helix", "weights")(rates)[:, 2] > 400)     # it moved


# -- 4. asymptote / limit against large T --------------------------------------------------

#: ``(landscape, small schedule, huge schedule of the same family, measures)``.
LIMIT_CASES = [
    ("gauss", sgd(3), sgd(10**7), ("test", "weights")),
    ("gauss", gd(3, steps=2), gd(3, steps=10**7), MEASURES),
    ("mean_estimation_3/2", sgd(3), sgd(10**7), ("test", "weights")),
    ("mean_estimation_3/2", sgd(4, batch=2), sgd(2 * 10**7, batch=2), ("test", "weights")),
    ("mean_estimation_3/2", gd(3, steps=2), gd(3, steps=10**7), MEASURES),
    ("linear_regression", sgd(3), sgd(10**7), ("test", "weights")),
    ("linear_regression", gd(8, steps=2), gd(8, steps=10**7), MEASURES),
]


@pytest.mark.parametrize("propagator", ["discrete", "exponential"])
@pytest.mark.parametrize("case", LIMIT_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_limit_equals_the_value_after_ten_million_steps(case, propagator):
    """``limit`` ignores the schedule's number of steps: taken on a short schedule of the family
    it is the value at T = 10**7 (where ``(1 - eta lambda)^T`` underflows), at two rates."""
    name, small, huge, measures = case
    rates = np.array([0.05, 0.2])
    for order in (2, 3):
        for measure in measures:
            limit = build(small, order, name, measure, propagator).limit(rates)
            close(limit, build(huge, order, name, measure, propagator)(rates), 1e-9)


@pytest.mark.parametrize("name", ["gauss", "mean_estimation_3/2", "linear_regression"])
def test_single_epoch_training_loss_has_no_limit_at_its_own_N(name):
    """Training loss and gap of single-epoch SGD: their diagrams carry ``1/N``, and ``N = B T``
    grows with T, so the T -> infinity form at the schedule's own N would be another quantity:
    refused with a MeasureError (GD keeps its N: see the limits above)."""
    for measure in ("train", "gap"):
        with pytest.raises(MeasureError, match="training set"):
            build(sgd(10), 3, name, measure).limit(0.1)
    build(gd(10, steps=3), 3, name, "gap").limit(0.1)


#: ``(landscape, schedule family at T, measure, propagator, degree in T)`` for the
#: polynomial at finite T.  GD on a valley converges (its noise is frozen in the N points).
POLYNOMIAL_CASES = [
    ("helix", lambda T: sgd(T), "weights", "discrete", 1),
    ("helix", lambda T: sgd(T), "test", "discrete", 0),
    ("helix", lambda T: sgd(2 * T, batch=2), "weights", "exponential", 1),
    ("helix", lambda T: gd(2, steps=T), "weights", "discrete", 0),
    ("gauss", lambda T: sgd(T), "test", "discrete", 0),
    ("mean_estimation_3/2", lambda T: gd(3, steps=T), "train", "exponential", 0),
    ("linear_regression", lambda T: sgd(T), "test", "discrete", 0),
    ("drift_valley", lambda T: sgd(T), "weights", "discrete", 1),
]


@pytest.mark.parametrize("case", POLYNOMIAL_CASES,
                         ids=lambda c: f"{c[0]}-{c[1](2)}-{c[2]}-{c[3]}")
def test_asymptote_polynomial_is_the_value_at_large_T(case):
    """The polynomial of ``asymptote`` (linear in T for SGD on a valley, HELIX and DRIFT
    VALLEY; constant elsewhere) evaluated at T = 2000 and 4000 is the closed-form value there."""
    name, family, measure, propagator, degree = case
    rates = np.array([0.05, 0.2])
    coefficients = build(family(3), 3, name, measure, propagator).asymptote(rates)
    vector = measure == "weights"
    for T in (2000, 4000):
        close(at(coefficients, T, vector), build(family(T), 3, name, measure, propagator)(rates),
              1e-9)
    assert coefficients.shape[-2 if vector else -1] == degree + 1


def test_asymptote_limit_and_velocity_shapes():
    """Shapes: ``lr.shape + (K,)`` (``+ (K, P)`` for weights); ``limit`` and ``velocity`` drop
    the ``K`` axis, and a converging prediction has zero velocity."""
    grid = np.array([[0.05, 0.1], [0.2, 0.4]])
    r = build(sgd(3), 2, "mean_estimation", "test")
    assert r.asymptote(grid).shape == (2, 2, 1)
    assert r.limit(grid).shape == (2, 2) and np.all(r.velocity(grid) == 0)
    assert r.limit(0.1).shape == ()
    d = build(sgd(3), 3, "helix", "weights")
    assert d.asymptote(grid).shape == (2, 2, 2, 3)
    assert d.velocity(grid).shape == (2, 2, 3)
    close(d.velocity(grid), d.asymptote(grid)[..., 1, :], 0)


# -- 5. limit against the Lyapunov stationary value ---------------------------------------

@pytest.mark.parametrize("batch", [1, 2, 4])
def test_limit_is_the_lyapunov_stationary_loss_of_mean_estimation(batch):
    """``H theta^2 / 2 + x S theta`` (Gaussian x): the dynamics are linear with additive Gaussian
    noise, so the order-2 resummation is exact (and order 3 adds nothing).  The stationary
    variance solves ``Sigma = (1 - eta H)^2 Sigma + eta^2 C / B`` (symsgd.lyapunov, exact
    SymPy solve); the mean decays, so the test loss tends to ``H Sigma / 2``.  Rates up to
    ``eta H = 1.8``, close to the edge 2 (conditioning ``1 / (2 - eta H) = 5``)."""
    hessian, noise = Q(3, 2), Q(2)
    rates = [Q(1, 20), Q(1, 2), Q(6, 5)]
    for order in (2, 3):
        r = build(sgd(2 * batch, batch=batch), order, "mean_estimation_3/2", "test")
        oracle = [float(hessian * stationary_covariance(SGD(q), hessian, noise**2 / batch) / 2)
                  for q in rates]
        close(r.limit(np.array([float(q) for q in rates])), oracle, 1e-12)
        weights = build(sgd(2 * batch, batch=batch), order, "mean_estimation_3/2", "weights")
        close(weights.limit(np.array([float(q) for q in rates])), [[-1.0]] * 3, 1e-12)


@pytest.mark.parametrize("batch", [1, 3])
def test_limit_is_the_lyapunov_stationary_loss_of_a_correlated_2d_quadratic(batch):
    """Non-diagonal H and correlated noise: ``Sigma = A Sigma A^T + eta^2 C / B``,
    ``A = I - eta H`` (dense Schur solver, symsgd.lyapunov.discrete_lyapunov); the minimum is
    at 0 with loss 0, so the test loss tends to ``tr(H Sigma) / 2``.  Rates up to 0.7
    (stable below 2 / 2.207 = 0.906)."""
    L = landscape("quadratic_2d")
    H = np.array(L.H.tolist(), dtype=float)
    C = np.array(L.C.tolist(), dtype=float)
    rates = np.array([0.1, 0.4, 0.7])
    oracle = [np.trace(H @ discrete_lyapunov(np.eye(2) - q * H, q**2 * C / batch)) / 2
              for q in rates]
    for order in (2, 3):
        limit = build(sgd(2 * batch, batch=batch), order, "quadratic_2d", "test").limit(rates)
        close(limit, oracle, 1e-12)


def test_gd_limit_is_the_empirical_minimizer():
    """GD on N points converges to the empirical minimizer ``theta = -S xbar / H`` (Gaussian
    quadratic: exact at order 2), with ``E theta^2 = C / (H^2 N)``: test loss ``C / (2 H N)``,
    training loss ``H E theta^2 / 2 + S E[xbar theta] = -C / (2 H N)``, gap ``C / (H N)``, and
    the displacement ``-theta_0``; whatever the stable rate."""
    H, C, N = 1.5, 4.0, 3
    rates = np.array([0.1, 0.7, 1.3])
    expected = {"test": C / (2 * H * N), "train": -C / (2 * H * N), "gap": C / (H * N)}
    for measure, value in expected.items():
        close(build(gd(N, steps=2), 2, "mean_estimation_3/2", measure).limit(rates),
              [value] * 3, 1e-12)
    close(build(gd(N, steps=2), 2, "mean_estimation_3/2", "weights").limit(rates),
          [[-1.0]] * 3, 1e-12)


def _regression_stationary(eta, batch, P=2, sigma2=1.0):
    """Exact stationary test loss of SGD on Gaussian least squares, started at the minimum.

    With ``e = w - w*`` and ``G`` the batch mean of ``x x^T``: ``e' = (I - eta G) e + eta
    (noise term)``, so ``S = E e e^T`` obeys ``S' = E[(I - eta G) S (I - eta G)] +
    eta^2 sigma^2 I / B``, and Isserlis gives ``E[G S G] = S + (S + tr(S) I) / B``.  Solved as a
    linear system on ``vec S``; the test loss is ``(sigma^2 + tr S) / 2``.  (For ``S = s I``:
    ``s = eta sigma^2 / (B (2 - eta) - eta (1 + P))``.)"""
    eye = np.eye(P)
    step = (1 - 2 * eta + eta**2 * (1 + 1 / batch)) * np.eye(P * P) \
        + eta**2 / batch * np.outer(eye.reshape(-1), eye.reshape(-1))
    S = np.linalg.solve(np.eye(P * P) - step, eta**2 * sigma2 / batch * eye.reshape(-1))
    trace = np.trace(S.reshape(P, P))
    assert np.isclose(trace, P * eta * sigma2 / (batch * (2 - eta) - eta * (1 + P)), rtol=1e-12)
    return (sigma2 + trace) / 2


@pytest.mark.parametrize("batch", [1, 2])
def test_linear_regression_limit_against_its_lyapunov_fixed_point(batch):
    """Least squares from the minimum has multiplicative noise (``x x^T`` fluctuates), so a
    truncation is not exact.  Order 2 keeps the noise frozen at the minimum: it is *exactly* the
    additive Lyapunov value ``sigma^2 / 2 + P sigma^2 eta / (2 B (2 - eta))``, hence misses the
    exact fixed point by ``-P (P + 1) sigma^2 eta^2 / (8 B^2) + O(eta^3)`` (expanding the two
    closed forms).  Order 4 gets the ``eta^2`` term too: its miss shrinks like ``eta^3``."""
    P = 2
    schedule = sgd(2 * batch, batch=batch)
    r2 = build(schedule, 2, "linear_regression_at_minimum", "test")
    rates = np.array([0.3, 0.04, 0.02, 0.01])
    close(r2.limit(rates), 0.5 + P * rates / (2 * batch * (2 - rates)), 1e-12)
    exact = np.array([_regression_stationary(q, batch) for q in rates])
    miss2 = (r2.limit(rates) - exact) / rates**2
    assert np.all(np.abs(miss2[1:] + P * (P + 1) / (8 * batch**2)) < 3 * rates[1:])
    r4 = build(schedule, 4, "linear_regression_at_minimum", "test")
    miss4 = np.abs(r4.limit(rates[1:]) - exact[1:])
    assert np.all(miss4 < 0.1 * rates[1:]**2)
    assert 6 < miss4[0] / miss4[1] < 10 and 6 < miss4[1] / miss4[2] < 10


# -- 6. drift velocity on valleys of minima ------------------------------------------------

def test_helix_velocity_is_the_known_drift_and_the_finite_T_slope():
    """HELIX drifts along z at ``(eta^2 / 6) / (1 - 2 eta / 3)`` per step (Tenka, Corollary 4),
    not across the valley; the slope between T = 4000 and 8000 (geometric transients below
    ``0.99^4000 = 3e-18``) is the velocity to 1e-8 (the difference of two values of size
    ``v T`` loses ``log10 2`` digits to the subtraction, nothing more)."""
    eta = np.array([0.01, 0.05, 0.1])
    v = build(sgd(3), 3, "helix", "weights").velocity(eta)
    assert np.all(v[:, :2] == 0)
    close(v[:, 2], (eta**2 / 6) / (1 - 2 * eta / 3), 1e-10)
    slope = (build(sgd(8000), 3, "helix", "weights")(eta)
             - build(sgd(4000), 3, "helix", "weights")(eta)) / 4000
    close(slope, v, 1e-8)


@pytest.mark.parametrize("batch", [1, 2])
def test_a_second_valley_drifts_at_its_hand_derived_velocity(batch):
    """DRIFT VALLEY (see :func:`drift_valley`): order-3 velocity ``-eta^2 k s^2 / (2 B h (2 -
    eta h))`` along z, zero across; the finite-T slope agrees; order 2 sees no drift."""
    eta = np.array([0.01, 0.05, 0.1])
    v = build(sgd(2 * batch, batch=batch), 3, "drift_valley", "weights").velocity(eta)
    hand = -eta**2 * K_Z * S_U**2 / (2 * batch * H_U * (2 - eta * H_U))
    assert np.all(v[:, 0] == 0) and np.all(v[:, 1] < 0)
    close(v[:, 1], hand, 1e-10)
    slope = (build(sgd(8000 * batch, batch=batch), 3, "drift_valley", "weights")(eta)
             - build(sgd(4000 * batch, batch=batch), 3, "drift_valley", "weights")(eta)) / 4000
    close(slope, v, 1e-8)
    assert np.all(build(sgd(2), 2, "drift_valley", "weights").velocity(eta) == 0)


#: Pythagorean rotations ``(cos, sin) = (p / r, q / r)``: exact in SymPy, rounded in the
#: eigenvectors numpy finds (eigh returns the flat eigenvalue as 0 or as a few 1e-17).
ROTATIONS = [(3, 4, 5), (5, 12, 13), (7, 24, 25)]


def rotated(loss_in_u_z, p, q, r, init):
    """``loss_in_u_z(u, z)`` in the rotated coordinates ``u = c a + s b``, ``z = s a - c b``."""
    c, s = Q(p, r), Q(q, r)
    return Landscape(loss_in_u_z(c * a + s * b, s * a - c * b), (a, b), x, init)


def _drift(uu, zz):
    return (H_U + K_Z * zz) * uu**2 / 2 + S_U * x * uu * (1 + C_Z * zz)


@pytest.mark.parametrize("rotation", ROTATIONS, ids=str)
def test_a_rotated_valley_drifts_at_the_same_velocity(rotation):
    """DRIFT VALLEY in rotated coordinates: the velocity is the same vector, rotated (along the
    valley the hand-derived drift, across it nothing), and no spurious growth warning."""
    p, q, r = rotation
    L = rotated(_drift, p, q, r, (0, 0))
    eta = np.array([0.01, 0.05, 0.1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = resummed_displacement(sgd(2), 3, landscape=L).velocity(eta)
    along, across = v @ np.array([q, -p]) / r, v @ np.array([p, q]) / r
    hand = -eta**2 * K_Z * S_U**2 / (2 * H_U * (2 - eta * H_U))
    close(along, hand, 1e-10)
    assert np.all(np.abs(across) <= 1e-12 * np.abs(hand))


@pytest.mark.parametrize("rotation", ROTATIONS, ids=str)
def test_a_rotated_flat_direction_that_nothing_reaches_changes_nothing(rotation):
    """Mean estimation along ``u`` in two parameters, with a flat direction ``z`` that no
    gradient, noise or coupling reaches: the limits are mean estimation's (test loss
    ``eta / (2 (2 - eta))``, displacement ``-u_0`` along ``u``), and the rotated DRIFT VALLEY's
    velocity comes without a GrowthWarning (its axis-aligned twin has no T^2 term)."""
    p, q, r = rotation
    L = rotated(lambda uu, zz: uu**2 / 2 + x * uu, p, q, r, (Q(p, r), Q(q, r)))  # u_0 = 1
    eta = np.array([0.05, 0.1])
    close(resummed_loss(sgd(2), 2, landscape=L).limit(eta), eta / (2 * (2 - eta)), 1e-12)
    close(resummed_displacement(sgd(2), 2, landscape=L).limit(eta),
          [[-p / r, -q / r]] * 2, 1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resummed_displacement(sgd(2), 3, landscape=rotated(_drift, p, q, r, (0, 0))).velocity(eta)


# -- 7. errors ----------------------------------------------------------------------------

def test_no_limit_on_a_valley():
    """HELIX's displacement grows linearly: it has a velocity, no limit."""
    r = build(sgd(3), 3, "helix", "weights")
    with pytest.raises(StabilityError, match="grows"):
        r.limit(0.1)
    assert np.all(np.isfinite(r.velocity(0.1)))


def test_unstable_rates_have_no_asymptote():
    """``|1 - lr lambda| >= 1`` in a direction the edges reach: no polynomial in T.  The message
    names the bound ``2 / lambda_max`` (= 2 here); just below it the limit exists (and is large:
    ``eta / (2 (2 - eta))`` at H = C = 1)."""
    r = build(sgd(2), 2, "mean_estimation", "test")
    for rates in (2.5, 2.0, [0.1, 2.5]):
        for method in (r.limit, r.velocity, r.asymptote):
            with pytest.raises(StabilityError, match="stable below lr = 2"):
                method(rates)
    close(r.limit(1.999), 1.999 / (2 * (2 - 1.999)), 1e-10)


def test_negative_curvature_has_no_asymptote_unless_unreached():
    """Curvature -1 at the initialization: no T -> infinity form.  The same unstable direction
    next to a stable one, but with neither gradient, noise nor coupling (so no edge reaches
    it): the limit is mean estimation's ``eta / (2 (2 - eta))``."""
    unstable = Landscape(-w**2 / 2 + x * w, w, x, init=[0])
    assert unstable.H.tolist() == [[-1]]
    r = resummed_loss(sgd(2), 2, landscape=unstable)
    assert np.isfinite(float(r(0.1)))
    for method in (r.limit, r.velocity, r.asymptote):
        with pytest.raises(StabilityError):
            method(0.1)
    aside = Landscape(u**2 / 2 + x * u - z**2 / 2, (u, z), x, init=[0, 0])
    close(resummed_loss(sgd(2), 3, landscape=aside).limit(0.1), 0.1 / (2 * 1.9), 1e-12)


def test_schedule_and_input_errors():
    """A seeded order (arbitrary batches: no family to extend) and the integral propagator
    have no T -> infinity form; the learning rates are validated like ``__call__``'s."""
    L = landscape("mean_estimation")
    several = resummed_loss(sgd(4, epochs=2, reshuffle=7), 2, landscape=L)
    integral = resummed_loss(sgd(4), 2, landscape=L, propagator="integral")
    for r, error in ((several, ScheduleError), (integral, MethodError)):
        for method in (r.limit, r.velocity, r.asymptote):
            with pytest.raises(error):
                method(0.1)
    assert np.isfinite(float(several(0.1))) and np.isfinite(float(integral(0.1)))
    r = resummed_loss(sgd(4), 2, landscape=L)
    for method in (r.limit, r.velocity, r.asymptote, r):
        with pytest.raises(InputTypeError):
            method("0.1")
        with pytest.raises(NonFiniteError):
            method(float("nan"))
        with pytest.raises(NonFiniteError):
            method([0.1, float("inf")])


# -- 8. property: random quadratics --------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(h=st.integers(1, 8), noise=st.integers(1, 8), init=st.integers(-8, 8),
       fraction=st.floats(0.01, 0.99), T=st.integers(1, 50), batch=st.sampled_from([1, 2]))
def test_closed_form_equals_sweep_on_random_quadratics(h, noise, init, fraction, T, batch):
    """MEAN ESTIMATION with ``H = h / 4`` in [1/4, 2], ``S = noise / 4`` in [1/4, 2],
    ``theta_0 = init / 4`` and ``lr = fraction / H`` in (0, 1/H): sgd(B T, batch=B) in closed
    form equals the sweep to 1e-12 of the sum of the terms' magnitudes (the total can be far
    smaller than its terms: its mean part ``H theta_0^2 q^(2T) / 2`` is a cancellation of O(1)
    terms)."""
    # noise >= 1: mean_estimation with S = 0 has no data symbol in its loss (refused)
    L = mean_estimation(hessian=Q(h, 4), noise=Q(noise, 4), init=Q(init, 4))
    lr = np.array([fraction / (h / 4)])
    for r in (resummed_loss(sgd(batch * T, batch=batch), 2, landscape=L),
              resummed_displacement(sgd(batch * T, batch=batch), 1, landscape=L)):
        value, scale = swept(r, lr)
        assert np.all(np.abs(r(lr) - value) <= 1e-12 * scale)


# -- 9. rounding: exact zeros, tiny curvatures, tiny values (a review's reproductions) -------

def test_a_gradient_that_is_exactly_zero_leaves_no_growth():
    """On three data points ``d l / dz = x/3 + y/7`` is exactly zero; float cumulants leave
    ``1e-19`` there, which alone (its own largest entry) once made the value grow along the
    flat ``z``.  Entries are now compared with the contraction of absolute values."""
    u, z, x, y, w = sympy.symbols("u z x y w", real=True)
    points = [(Q(1, 5), Q(-7, 15), 1), (0, 0, -1), (0, 0, 0)]
    L = Landscape(u**2 / 2 + w * u + (x / 3 + y / 7) * z, (u, z), (x, y, w), (0, 0),
                  distribution=Dataset(points))
    for order in (1, 2, 3):
        r = resummed_displacement(sgd(2), order, landscape=L)
        assert np.all(r.limit([0.1, 0.5]) == 0)


@pytest.mark.parametrize("exponent", [6, 9, 12])
def test_limit_is_accurate_at_tiny_curvature(exponent):
    """MEAN ESTIMATION with ``H = 10^-e``: the limit ``eta C / (2 (2 - eta H))`` divides by
    ``1 - W_ss = eta H``, taken as ``-expm1(log1p(-eta H))``, not ``1 - (1 - eta H)``
    (which left a relative error ``eps / (eta H)``: 3e-4 at ``e = 12``)."""
    h = Q(1, 10**exponent)
    r = resummed_loss(sgd(2), 2, landscape=mean_estimation(hessian=h))
    for eta in (0.1, 1.0):
        close(r.limit(eta), eta / (2 * (2 - eta * float(h))), 1e-13)


def test_tiny_entries_that_are_not_rounding_are_kept():
    """A displacement of size ``1e-13`` (a start ``1e-13`` from the minimum) is a value, not
    rounding, and stays: ``-(1 - (1 - eta)^T) 10^-13``."""
    a, b, x = sympy.symbols("a b x", real=True)
    L = Landscape(a**2 / 2 + b**2 / 2 + x * a, (a, b), (x,), (1, Q(1, 10**13)))
    eta = 0.1
    close(resummed_displacement(sgd(5), 2, landscape=L)(eta)[1],
          -(1 - (1 - eta) ** 5) * 1e-13, 1e-12)


def test_deep_lattices_do_not_overflow():
    """An order-6 sextic: the Laurent window is the path depth, not the number of states,
    so no overflow warning; the polynomial equals the value at ``T = 10^6``."""
    th, x = sympy.symbols("theta x", real=True)
    L = Landscape(th**2 / 2 + th**4 / 24 + th**6 / 720 + x * th, (th,), (x,), (Q(1, 2),))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        limit = resummed_loss(sgd(2), 6, landscape=L).limit(0.01)
        value = resummed_loss(sgd(10**6), 6, landscape=L)(0.01)
    close(limit, value, 1e-10)


def test_negative_curvature_is_named_as_such():
    """The message names the cause: negative curvature (both propagators), and the
    discrete bound ``2 / lambda_max`` only for the discrete propagator."""
    v, x = sympy.symbols("v x", real=True)
    L = Landscape(-v**2 / 2 + x * v, (v,), (x,), (0,))
    for propagator in ("discrete", "exponential"):
        with pytest.raises(StabilityError, match="negative curvature") as caught:
            resummed_loss(sgd(2), 2, landscape=L, propagator=propagator).limit(0.01)
        assert "stable below" not in str(caught.value)
    with pytest.raises(StabilityError, match="stable below lr = 2"):
        resummed_loss(sgd(2), 2, landscape=mean_estimation()).limit(2.5)
    close(resummed_loss(sgd(2), 2, landscape=mean_estimation(),
                        propagator="exponential").limit(3.0),
          resummed_loss(sgd(10**7), 2, landscape=mean_estimation(),
                        propagator="exponential")(3.0), 1e-9)
