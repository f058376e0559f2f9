"""Tests of symsgd.phase_space: Kunin et al.'s OU model, the exact recursion and simulation."""

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from _accuracy import EPS, agreement_bound, inv_sep, rel, residual, residual_bound
from symsgd.errors import MatrixError, NonFiniteError, RangeError, ShapeError
from symsgd.phase_space import DiscretePhaseSpace, PhaseSpaceOU, diffusion_exponent


def _simulate(lr, beta, wd, h, noise, steps, chains, burn, rng):
    """Heavy-ball SGD, Kunin's convention, Gaussian gradient noise of covariance ``noise``.

    Returns the trajectories of ``z = (theta, v)``, shape ``(steps + 1, chains, 2n)``.
    """
    n = h.shape[0]
    chol = np.linalg.cholesky(noise)
    theta, v = np.zeros((chains, n)), np.zeros((chains, n))
    out = np.empty((steps + 1, chains, 2 * n))
    for t in range(burn + steps + 1):
        if t >= burn:
            out[t - burn] = np.concatenate([theta, v], axis=1)
        g = theta @ h + rng.standard_normal((chains, n)) @ chol.T
        v = beta * v - g - wd * theta
        theta = theta + lr * v
    return out


def _recursion(lr, beta, wd, h, noise):
    """``(M, N)`` of one update, built column by column from the update rule itself."""
    n = h.shape[0]

    def step(theta, v, xi):
        v = beta * v - (h @ theta + xi) - wd * theta
        return theta + lr * v, v

    m = np.empty((2 * n, 2 * n))
    for j, e in enumerate(np.eye(2 * n)):
        m[:, j] = np.concatenate(step(e[:n], e[n:], np.zeros(n)))
    g = np.stack([np.concatenate(step(np.zeros(n), np.zeros(n), e)) for e in np.eye(n)], axis=1)
    return m, g @ noise @ g.T


def _iterate_to_stationarity(m, noise, tol=1e-15):
    """``Sigma <- M Sigma M^T + N`` from 0 until it stops changing."""
    cov = np.zeros_like(m)
    for _ in range(1_000_000):
        new = m @ cov @ m.T + noise
        if np.abs(new - cov).max() <= tol * np.abs(new).max():
            return new
        cov = new
    raise AssertionError("the covariance recursion did not converge")


def _kunin_printed(lr, beta, wd, h, s2):
    """Kunin et al.'s ``A, D`` (their eq. 6), ``Q, U`` (eq. 12) for ``Sigma = s2 H``, as printed."""
    n = h.shape[0]
    z, eye = np.zeros((n, n)), np.eye(n)
    c = 2 / (lr * (1 + beta))
    a = np.block([[z, -eye], [c * (h + wd * eye), c * (1 - beta) * eye]])
    d = np.block([[z, z], [z, c * (1 - beta) * s2 * h]])
    q = np.block([[z, -s2 * h], [s2 * h, z]])
    u = np.block([[c / s2 * np.linalg.inv(h) @ (h + wd * eye), z], [z, np.linalg.inv(h) / s2]])
    return a, d, q, u


def _random_spd(rng, n, floor):
    m = rng.normal(size=(n, n))
    return m @ m.T / n + floor * np.eye(n)


def test_decomposition_and_lyapunov():
    ou = PhaseSpaceOU(0.05, 0.8, 0.1, np.diag([0.5, 2.0]), sigma2=2.0, batch=8)
    q, u = ou.decomposition()
    a, d = ou.drift(), ou.diffusion()
    b = np.linalg.inv(u)
    assert np.allclose(a @ b + b @ a.T, 2 * d, atol=1e-12)
    assert np.allclose(q, -q.T) and np.allclose((d + q) @ u, a)
    a_printed, d_printed, q_printed, u_printed = _kunin_printed(0.05, 0.8, 0.1, ou.hessian, 2.0)
    assert np.allclose(a, a_printed) and np.allclose(d, d_printed)
    assert np.allclose(u, u_printed) and np.allclose(q, q_printed)
    # the current is divergence-free and tangent to level sets of the modified loss
    j = ou.current()
    assert abs(np.trace(j)) < 1e-9 * np.abs(j).max()
    assert np.allclose(u @ j + j.T @ u, 0, atol=1e-9 * np.abs(u @ j).max())


def test_speed_printed_formula_is_the_continuous_one():
    h = np.diag([0.3, 1.0, 2.5])
    ou = PhaseSpaceOU(0.02, 0.9, 0.0, h, sigma2=1.5, batch=4)
    assert np.isclose(ou.speed(), 0.02 ** 2 / (4 * (1 - 0.81)) * 1.5 * np.trace(h))


@settings(max_examples=25, deadline=None)
@given(lr=st.floats(0.01, 1.0), beta=st.floats(0.0, 0.95), wd=st.floats(0.0, 0.5),
       seed=st.integers(0, 1000))
def test_equipartition_holds_for_both(lr, beta, wd, seed):
    rng = np.random.default_rng(seed)
    h = _random_spd(rng, 3, 0.1)
    top = 0.9 * 2 * (1 + beta) / lr - wd        # lr (k_max + wd) at most 90% of the edge
    h = h * min(1.0, top / np.linalg.eigvalsh(h).max())
    noise = _random_spd(rng, 3, 0.0)
    for cls in (PhaseSpaceOU, DiscretePhaseSpace):
        for model in (cls(lr, beta, wd, h, sigma2=1.0, batch=2),
                      cls(lr, beta, wd, h, batch=2, sample_noise=noise)):
            pot, kin = model.energies()
            assert np.isclose(pot, kin, rtol=1e-8)


def test_speed_and_diffusion_against_simulation():
    rng = np.random.default_rng(7)
    h = np.diag([0.2, 1.0, 3.0])
    lr, beta, wd, s2, batch = 0.3, 0.6, 0.05, 1.0, 4
    ex = DiscretePhaseSpace(lr, beta, wd, h, sigma2=s2, batch=batch)
    ou = PhaseSpaceOU(lr, beta, wd, h, sigma2=s2, batch=batch)
    chains, steps = 4000, 60
    traj = _simulate(lr, beta, wd, h, s2 * h / batch, steps, chains, burn=400, rng=rng)[..., :3]
    # instantaneous speed: mean over chains of ||theta_1 - theta_0||^2
    d1 = np.sum((traj[1] - traj[0]) ** 2, axis=1)
    se = d1.std(ddof=1) / np.sqrt(chains)
    assert abs(d1.mean() - ex.speed()) < 1.96 * se
    assert abs(d1.mean() - ou.speed()) > 5 * se
    # global displacement at a few lags
    lags = np.array([2, 10, 40])
    exact = ex.global_displacement(lags)
    cont = ou.global_displacement(lags)
    for lag, e in zip(lags, exact):
        d = np.sum((traj[lag] - traj[0]) ** 2, axis=1)
        se = d.std(ddof=1) / np.sqrt(chains)
        assert abs(d.mean() - e) < 2.39 * se, (lag, d.mean(), e, se)  # Bonferroni over 3
    assert np.all(np.abs(cont - exact) > 0.02 * exact)


def test_small_learning_rate_limit():
    h = np.diag([0.5, 1.0])
    ex = DiscretePhaseSpace(1e-4, 0.9, 0.01, h, sigma2=1.0, batch=1)
    ou = PhaseSpaceOU(1e-4, 0.9, 0.01, h, sigma2=1.0, batch=1)
    assert np.isclose(ex.speed(), ou.speed(), rtol=1e-3)
    lags = np.array([10, 1000, 20000])
    assert np.allclose(ex.global_displacement(lags), ou.global_displacement(lags), rtol=1e-2)
    t = np.unique(np.geomspace(1, 1e6, 40).astype(int))
    exponent = diffusion_exponent(t, ex.global_displacement(t))
    assert exponent[0] > 1.5 and exponent[-1] < 0.1   # ballistic, then confined


def test_discrete_quantities_are_those_of_the_recursion():
    """Non-commuting H and noise: M, N, Cov, lagged Cov, A, D, Q, U against the update rule."""
    rng = np.random.default_rng(3)
    h, noise = _random_spd(rng, 3, 0.2), _random_spd(rng, 3, 0.0)
    lr, beta, wd, batch = 0.3, 0.6, 0.05, 2
    ex = DiscretePhaseSpace(lr, beta, wd, h, batch=batch, sample_noise=noise)
    m, n_step = _recursion(lr, beta, wd, h, noise / batch)
    # entries of M and N: a few roundings of numbers of the size of the entries (n-term dot
    # products for N: n eps each, Higham section 3.5)
    n = h.shape[0]
    assert np.all(np.abs(ex.transition()[0] - m) <= 4 * EPS * np.abs(m).max())
    assert np.all(np.abs(ex.transition()[1] - n_step) <= 4 * n * EPS * np.abs(n_step).max())
    # the covariance: both solutions within ||L^{-1}|| x (residual) of the exact one
    cov = _iterate_to_stationarity(m, n_step)
    got = ex.stationary_covariance()
    assert residual(m, got, n_step) <= residual_bound(m)       # backward stable
    sep = inv_sep(m)
    forward = agreement_bound(m, n_step, sep, got, cov)
    assert rel(got, cov) <= forward
    lags = [3, 0, 1, 7]
    for lag, lagged in zip(lags, ex.lag_covariance(lags)):
        power = np.linalg.matrix_power(m, lag)
        # M^lag Sigma: Sigma's error carried by ||M^lag||, plus lag products' rounding
        scale = np.linalg.norm(power, 2) * np.linalg.norm(cov) / np.linalg.norm(power @ cov)
        assert rel(lagged, power @ cov) <= scale * (forward + (lag + 1) * residual_bound(m))
    a = ex.drift()
    assert np.all(np.abs(a - (np.eye(6) - m) / lr) <= 4 * EPS * np.abs(a).max())
    q, u = ex.decomposition()
    kappa = batch * (1 - beta ** 2)
    lag1 = m @ cov
    lag_error = np.linalg.norm(m, 2) * np.linalg.norm(cov) / np.linalg.norm(lag1) * \
        (forward + 2 * residual_bound(m))
    # Q from the antisymmetric part of the lag-1 covariance: its relative error is that of
    # lag1 scaled by ||lag1|| / ||lag1 - lag1^T||
    antisym = np.linalg.norm(lag1) / np.linalg.norm(lag1 - lag1.T)
    assert rel(q, -kappa * (lag1 - lag1.T) / (2 * lr)) <= 2 * antisym * lag_error
    # U = (kappa Sigma)^{-1}: relative error cond(Sigma) times Sigma's (first order, x 2)
    assert rel(u, np.linalg.inv(kappa * cov)) <= 2 * np.linalg.cond(cov) * forward
    d = ex.diffusion()
    # (D + Q) U = A: the products' rounding and the errors of U and Q carried by the factors
    error_u = 2 * np.linalg.cond(cov) * forward
    product = (np.linalg.norm(d, 2) + np.linalg.norm(q, 2)) * np.linalg.norm(u, 2) / \
        np.linalg.norm(a)
    assert rel((d + q) @ u, a) <= product * (error_u + 2 * antisym * lag_error + 6 * 6 * EPS)
    # D is positive semi-definite up to its own error (that of Sigma, times ||D|| / ||D||)
    assert np.linalg.eigvalsh(d).min() >= -(error_u + 2 * antisym * lag_error) * \
        np.linalg.norm(d, 2) * product
    j = ex.current()
    # U J + J^T U = 0 up to the rounding of the products and the error of U
    assert np.linalg.norm(u @ j + j.T @ u) <= 2 * np.linalg.norm(u @ j) * (
        error_u + 2 * antisym * lag_error + 6 * 6 * EPS)


def test_current_and_modified_loss_against_monte_carlo():
    """The lag-1 antisymmetric cross-covariance and the Gibbs form exp(-kappa Psi), simulated."""
    rng = np.random.default_rng(11)
    h = np.array([[1.0, 0.4], [0.4, 0.5]])
    noise = np.array([[0.5, -0.2], [-0.2, 1.0]])
    lr, beta, wd, batch = 0.4, 0.5, 0.0, 2
    ex = DiscretePhaseSpace(lr, beta, wd, h, batch=batch, sample_noise=noise)
    ou = PhaseSpaceOU(lr, beta, wd, h, batch=batch, sample_noise=noise)
    chains, steps = 2000, 200
    z = _simulate(lr, beta, wd, h, noise / batch, steps, chains, burn=300, rng=rng)
    flux = np.einsum("tci,tcj->cij", z[1:], z[:-1]) / steps
    flux = flux - flux.transpose(0, 2, 1)
    upper = np.triu_indices(4, 1)
    est, se = flux.mean(0)[upper], flux.std(0, ddof=1)[upper] / np.sqrt(chains)
    kappa = ex.kappa
    exact = (-2 * lr / kappa * ex.decomposition()[0])[upper]
    continuous = (-2 * lr / kappa * ou.decomposition()[0])[upper]
    z_crit = scipy.stats.norm.ppf(1 - 0.05 / (2 * len(est)))    # Bonferroni over 6
    assert np.all(np.abs(est - exact) < z_crit * se), (est, exact, se)
    assert np.max(np.abs(est - continuous) / se) > 10
    # Gaussian noise: 2 kappa Psi = kappa z^T U z = z^T Cov^-1 z is chi-square, 4 degrees of freedom
    u = ex.decomposition()[1]
    stat = kappa * np.einsum("ci,ij,cj->c", z[-1], u, z[-1])
    inside = np.mean(stat <= scipy.stats.chi2.ppf(0.5, 4))
    assert abs(inside - 0.5) < 2.24 * np.sqrt(0.25 / chains)             # Bonferroni over 2
    assert abs(stat.mean() - 4) < 2.24 * stat.std(ddof=1) / np.sqrt(chains)


def test_small_learning_rate_limit_at_fixed_momentum():
    """Covariance, modified loss and speed converge; the drift's velocity row and the current
    are (1 + beta) / 2 of Kunin's at every learning rate (Sigma = sigma2 H)."""
    rng = np.random.default_rng(5)
    h, beta, wd, s2, batch = _random_spd(rng, 2, 0.3), 0.5, 0.1, 1.5, 4
    errors = []
    for lr in (1e-2, 1e-4, 1e-6):
        ex = DiscretePhaseSpace(lr, beta, wd, h, sigma2=s2, batch=batch)
        a, _, q, u = _kunin_printed(lr, beta, wd, h, s2)
        scale = np.diag([np.sqrt(lr)] * 2 + [1.0] * 2)     # coordinates (theta / sqrt(lr), v)
        errors.append(rel(scale @ ex.decomposition()[1] @ scale, scale @ u @ scale))
        assert errors[-1] < np.sqrt(lr)
        ou = PhaseSpaceOU(lr, beta, wd, h, sigma2=s2, batch=batch)
        assert abs(ex.speed() / ou.speed() - 1) < lr
        assert rel(ex.decomposition()[0], (1 + beta) / 2 * q) < 1e-9
        assert np.allclose(ex.drift()[2:], (1 + beta) / 2 * a[2:], rtol=1e-12, atol=0)
        assert np.allclose(ex.drift()[:2], np.hstack([h + wd * np.eye(2), -beta * np.eye(2)]))
    assert errors[-1] < errors[0] / 50


def test_joint_limit_recovers_kunin():
    """lr -> 0 with 1 - beta = 0.3 sqrt(lr): A, D, Q and U all converge at rate sqrt(lr)."""
    h, wd, s2, batch = np.diag([0.5, 2.0]), 0.1, 1.5, 4
    errors = []
    for lr in (1e-4, 1e-6):
        beta = 1 - 0.3 * np.sqrt(lr)
        ex = DiscretePhaseSpace(lr, beta, wd, h, sigma2=s2, batch=batch)
        a, d, q, u = _kunin_printed(lr, beta, wd, h, s2)
        scale = np.diag([np.sqrt(lr)] * 2 + [1.0] * 2)
        inv = np.linalg.inv(scale)
        errors.append([rel(inv @ ex.drift() @ scale, inv @ a @ scale),
                       rel(inv @ ex.diffusion() @ inv, inv @ d @ inv),
                       rel(ex.decomposition()[0], q),
                       rel(scale @ ex.decomposition()[1] @ scale, scale @ u @ scale)])
        assert max(errors[-1]) < 5 * np.sqrt(lr), errors[-1]
    assert np.all(np.array(errors[1]) < 0.15 * np.array(errors[0]))


def test_global_displacement_is_kunins_eq_17_with_time_in_lr_units():
    """The OU displacement equals 2 int_0^T (T - tau) sum_l Cov(v_l(tau), v_l(0)) dtau with
    Kunin's C_l; their printed eq. 17 evaluates C_l at k steps instead of time lr k."""
    lr, beta, s2, batch = 1e-3, 0.9, 1.0, 4
    rho = np.array([0.5, 8.0])
    ou = PhaseSpaceOU(lr, beta, 0.0, np.diag(rho), sigma2=s2, batch=batch)
    kappa = batch * (1 - beta ** 2)
    gamma = (1 - beta) / (lr * (1 + beta))
    omega = np.sqrt(2 / (lr * (1 + beta)) * rho)
    alpha = np.sqrt(np.abs(gamma ** 2 - omega ** 2))
    over = gamma > omega
    assert list(over) == [True, False]              # one overdamped, one underdamped direction

    def c_l(tau):
        """Kunin's C_l(tau) for every direction l (last axis), in an overflow-free form."""
        out = []
        for a, slow in zip(alpha, over):
            if slow:   # e^{-gamma tau} (cosh(a tau) - gamma / a sinh(a tau))
                out.append(((1 - gamma / a) * np.exp((a - gamma) * tau)
                            + (1 + gamma / a) * np.exp(-(a + gamma) * tau)) / 2)
            else:
                out.append(np.exp(-gamma * tau) * (np.cos(a * tau) - gamma / a * np.sin(a * tau)))
        return np.stack(out, axis=-1)

    def eq17(t, clock):
        """Kunin's eq. 17 with C_l evaluated at clock(k) for the lag of k steps."""
        k = np.arange(1, t + 1)
        corr = np.sum(rho * c_l(clock(k)), axis=1)
        return lr ** 2 * s2 / kappa * (rho.sum() * t + 2 * t * np.sum((1 - k / t) * corr))

    for t in (1, 10, 100):
        horizon = lr * t
        integral = 2 * quad(lambda tau, h=horizon: (h - tau) * np.sum(s2 * rho * c_l(tau)) / kappa,
                            0, horizon, limit=200)[0]
        assert np.isclose(ou.global_displacement(t)[0], integral, rtol=1e-9)
        assert abs(eq17(t, lambda k: lr * k) / integral - 1) < 0.05      # a Riemann sum
    assert eq17(10, lambda k: k) < 0.2 * ou.global_displacement(10)[0]     # as printed


def test_general_noise_matches_sigma2_h():
    h = np.diag([0.5, 2.0])
    for cls in (PhaseSpaceOU, DiscretePhaseSpace):
        a = cls(0.1, 0.5, 0.0, h, sigma2=3.0, batch=2)
        b = cls(0.1, 0.5, 0.0, h, batch=2, sample_noise=3.0 * h)
        assert np.allclose(a.stationary_covariance(), b.stationary_covariance(), rtol=1e-13)
        assert np.allclose(a.gradient_noise, 1.5 * h)


def test_bad_steps():
    ex = DiscretePhaseSpace(0.1, 0.5, 0.0, np.eye(2))
    ou = PhaseSpaceOU(0.1, 0.5, 0.0, np.eye(2))
    for model in (ex, ou):
        with pytest.raises(RangeError, match=">= 0"):
            model.global_displacement([1, -2])
        with pytest.raises(NonFiniteError):
            model.global_displacement([np.nan])
        with pytest.raises(ShapeError):
            model.global_displacement([[1, 2]])
        with pytest.raises(RangeError):
            model.global_displacement(True)
        with pytest.raises(RangeError):
            model.global_displacement("3")
    with pytest.raises(RangeError, match="whole numbers"):
        ex.global_displacement([1, 2.5])
    assert np.array_equal(ex.global_displacement([2.0]), ex.global_displacement([2]))
    between = ou.global_displacement([2, 2.5, 3])     # continuous time: any lag
    assert between[0] < between[1] < between[2]


def test_bad_inputs():
    with pytest.raises(RangeError, match="momentum"):
        PhaseSpaceOU(0.1, 1.0, 0.0, np.eye(2))
    with pytest.raises(MatrixError, match="positive definite"):
        PhaseSpaceOU(0.1, 0.5, 0.0, np.diag([1.0, 0.0]))
    with pytest.raises(ShapeError):
        DiscretePhaseSpace(0.1, 0.5, 0.0, np.ones((2, 3)))
    with pytest.raises(TypeError, match="not both"):
        DiscretePhaseSpace(0.1, 0.5, 0.0, np.eye(2), sigma2=1.0, sample_noise=np.eye(2))
    with pytest.raises(ShapeError):
        PhaseSpaceOU(0.1, 0.5, 0.0, np.eye(2), sample_noise=np.eye(3))
    with pytest.raises(MatrixError, match="positive semi-definite"):
        PhaseSpaceOU(0.1, 0.5, 0.0, np.eye(2), sample_noise=np.diag([1.0, -1.0]))
    with pytest.raises(MatrixError, match="symmetric"):
        PhaseSpaceOU(0.1, 0.5, 0.0, np.eye(2), sample_noise=np.array([[1.0, 0.5], [0.0, 1.0]]))
