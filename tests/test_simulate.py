"""Monte Carlo simulation (``symsgd.simulate``) against closed forms and the exact engine.

Every expected value here is derived independently of ``simulate``: by hand
(mean estimation, the HELIX drift), or by the brute-force exact engine
(Shifting Valleys).  Comparisons are made within confidence intervals built
from the simulation's own standard errors, whose honesty is checked separately
(coverage over seeds, and against exact standard deviations).
"""

import itertools
import math

import numpy as np
import pytest
import sympy

import symsgd
from symsgd import (BackendError, NonFiniteError, RangeError, ScheduleError, ShapeError,
                    Simulation, expected_loss, gd, sgd, simulate)
from symsgd.landscapes import helix, mean_estimation, shifting_valleys

# ------------------------------------------------------------------------- HELIX
#
# Write (u, v) in the frame turned by z: p = cos z u + sin z v, q = -sin z u + cos z v.
# Then l_x = p^2 + q^2/2 + x (p - q)/sqrt(2), and dl_x/dz = p q + x (p + q)/sqrt(2).
# The landscape is invariant under the screw motion (turn (u, v) by alpha, shift z by
# alpha), so (p, q) is a Markov chain on its own, and since x_t is independent of the
# state before step t,
#     E[z_{t+1} - z_t] = -eta E[p_t q_t]            (exactly).
# One step, with P = (1 - 2 eta) p - eta x/sqrt2, Q = (1 - eta) q + eta x/sqrt2 and the
# frame turned by delta = -eta (p q + x (p + q)/sqrt2), gives
#     p'q' = P Q cos(2 delta) + (Q^2 - P^2) sin(2 delta)/2.
# With m = E[p q]: E[P Q] = (1 - 2 eta)(1 - eta) m - eta^2/2, and at leading order
# (Gaussian (p, q) with Var p = eta/8, Var q = eta/4, Cov = -eta/6)
#     E[(Q^2 - P^2) delta] = eta^3/16 - eta^3/24 = eta^3/48.
# Hence m_{t+1} = a m_t - eta^2/2 + eta^3/48 + O(eta^4), a = (1 - 2 eta)(1 - eta), so the
# stationary drift per step is
#     v = -eta m = eta^2 / 6 * (1 + 5 eta / 8 + O(eta^2)),
# the paper's eta^2/6 with its O(eta) relative correction.  (An independent simulation
# of the reduced (p, q) chain puts the O(eta^2) remainder near +0.4 eta^2 for
# eta in [0.05, 0.4]; the tests allow eta^2.)  Started at the origin, m_t = m_inf (1 - a^t),
# so E[z_T] = v * (T - (1 - a^T)/(1 - a)) up to a relative error O(1/T): the per-trial
# estimate z_T / T_eff has mean v and its standard error is the simulation's SE / T_eff.


def _helix_drift(eta):
    """The drift per step to second order (see the derivation above)."""
    return eta**2 / 6 * (1 + 5 * eta / 8)


def _helix_effective_steps(eta, T):
    a = (1 - 2 * eta) * (1 - eta)
    return T - (1 - a**T) / (1 - a)


def _helix_run(eta, T, trials, seed):
    """Per-trial drift estimate z_T / T_eff: mean and standard error; the simulation."""
    sim = simulate(sgd(T), landscape=helix(), lr=eta, trials=trials, seed=seed, every=T,
                   progress=False)
    t_eff = _helix_effective_steps(eta, T)
    return sim.weights[0, -1, 2] / t_eff, sim.weights_sem[0, -1, 2] / t_eff, sim


def test_helix_drift_at_eta_002():
    eta = 0.02
    drift, se, sim = _helix_run(eta, T=2000, trials=2000, seed=11)
    leading = eta**2 / 6
    assert se < 0.006 * leading  # a confidence interval narrow enough to mean something
    # within the 95% confidence interval of the second-order prediction, allowing eta^2
    # relative for the O(eta^2) remainder (negligible here: 0.04% against an SE of ~0.3%)
    assert abs(drift - _helix_drift(eta)) < 1.96 * se + eta**2 * leading
    # and eta^2/6 itself to 3% (the first-order correction 5 eta/8 is 1.25% here)
    assert abs(drift / leading - 1) < 0.03
    # (u, v, x) -> (-u, -v, -x) is a symmetry, so E u_T = E v_T = 0
    for i in (0, 1):
        assert abs(sim.weights[0, -1, i]) < 4 * sim.weights_sem[0, -1, i]


def test_helix_drift_resolves_the_first_order_correction():
    """At eta = 0.1 the correction 5 eta/8 is 6% and stands out of the noise."""
    eta = 0.1
    drift, se, _ = _helix_run(eta, T=600, trials=2000, seed=12)
    leading = eta**2 / 6
    tolerance = 1.96 * se + eta**2 * leading
    assert se < 0.005 * leading
    assert abs(drift - _helix_drift(eta)) < tolerance
    assert abs(drift - leading) > 2 * tolerance  # eta^2/6 alone is excluded


@pytest.mark.slow
def test_helix_drift_at_eta_002_full_precision():
    """At eta = 0.02 with an SE near 0.1%: eta^2/6 alone is excluded, the corrected drift is not.

    Independent groups (seeds) are pooled: mean of group estimates, SE from their SEs.
    """
    eta, groups = 0.02, 4
    runs = [_helix_run(eta, T=3000, trials=2500, seed=100 + g)[:2] for g in range(groups)]
    drift = np.mean([d for d, _ in runs])
    se = math.sqrt(sum(s**2 for _, s in runs)) / groups
    leading = eta**2 / 6
    tolerance = 1.96 * se + eta**2 * leading
    assert abs(drift - _helix_drift(eta)) < tolerance
    assert abs(drift - leading) > 2 * tolerance
    assert abs(drift / leading - 1) < 0.03


# --------------------------------------------------------------- Shifting Valleys
#
# The loss A + (B - A x)^2 - A^2 is quadratic in the parameters, so the gradient is affine,
# theta_T is a polynomial of degree T in eta, and E s(theta_T) one of degree 2T: the exact
# engine's series terminates (checked below), so evaluating it at eta has no truncation
# error at all.

SV_RATES = (sympy.Rational(1, 100), sympy.Rational(3, 100), sympy.Rational(6, 100))


@pytest.mark.parametrize("schedule", [sgd(4), sgd(4, batch=2, epochs=2),
                                      sgd(2, epochs=2, reshuffle="random"), gd(3, steps=2)],
                         ids=str)
def test_shifting_valleys_matches_exact_engine(schedule):
    L, T = shifting_valleys(), schedule.T
    sim = simulate(schedule, landscape=L, lr=[float(e) for e in SV_RATES], trials=40000, seed=2024,
                   every=T, progress=False)
    assert list(sim.steps) == [0, T]
    for measure, mean, sem in (("test", sim.test_loss[:, -1], sim.test_loss_sem[:, -1]),
                               ("train", sim.train_loss[:, -1], sim.train_loss_sem[:, -1])):
        series = expected_loss(schedule, 2 * T + 1, landscape=L, method="exact", measure=measure,
                               progress=False)
        assert series.coeff(2 * T + 1) == 0 and series.coeff(2 * T) != 0
        for eta, m, se in zip(SV_RATES, mean, sem):
            assert abs(m - float(series(eta))) < 4 * se, (measure, eta)
        # the comparison has power beyond first order: at the largest rate the first-order
        # series is far outside the interval (so the eta^2 and higher terms are being tested)
        assert abs(mean[-1] - float(series.truncate(1)(SV_RATES[-1]))) > 10 * sem[-1]
        # a low-order series at small eta: the lowest order whose truncation error, bounded
        # by the exact tail, is under a tenth of the SE
        eta = SV_RATES[0]

        def tail(order):
            return float(sum(abs(series.coeff(k)) * eta**k for k in range(order + 1, 2 * T + 1)))

        order = next(k for k in range(2 * T + 1) if tail(k) < 0.1 * sem[0])
        assert order <= 4
        assert abs(mean[0] - float(series.truncate(order)(eta))) < 4 * sem[0] + tail(order)


# --------------------------------------------------------------- mean estimation
#
# l_x(theta) = H theta^2/2 + S x theta with x standard normal.  A step on batch B_s is
# theta <- a theta - (eta S/|B_s|) sum_{n in B_s} x_n with a = 1 - eta H, so after t steps
#     theta_t = a^t theta_0 - sum_n c_n x_n,   c_n = (eta S/|B|) sum_{s < t, n in B_s} a^(t-1-s).
# Test loss = H theta^2/2; training loss = H theta^2/2 + S xbar theta with xbar = u . x,
# u = (1/N, ..., 1/N).  For a fixed batch order theta_t is Gaussian, and the training loss
# is the quadratic form const + b.x + x'Ax with
#     const = H mu^2/2,  b = -H mu c + S mu u,  A = H cc'/2 - S (u c' + c u')/2,
# of mean const + tr A and variance 2 tr(A^2) + |b|^2.  Random orders are a mixture.


def _orders(schedule):
    """[(probability, batches)] for the batch orders of a concrete schedule, built by hand."""
    if isinstance(schedule, symsgd.GDSchedule):
        return [(1.0, [tuple(range(schedule.N))] * schedule.steps)]
    N, B, E = schedule.N, schedule.batch, schedule.epochs

    def split(order):
        return [tuple(order[j:j + B]) for j in range(0, N, B)]

    if schedule.reshuffle == "fixed":
        return [(1.0, split(list(range(N))) * E)]
    assert schedule.reshuffle == "random"
    perms = list(itertools.permutations(range(N)))
    return [(1.0 / len(perms)**E, [b for p in combo for b in split(p)])
            for combo in itertools.product(perms, repeat=E)]


def _mean_estimation_truth(schedule, eta, H, S, theta0, t):
    """Exact means and standard deviations of theta_t, test and training loss after t steps."""
    N = schedule.N
    a = 1 - eta * H
    mu = a**t * theta0
    u = np.full(N, 1.0 / N)
    first = np.zeros(3)  # E theta, E test, E train
    second = np.zeros(3)
    for prob, batches in _orders(schedule):
        c = np.zeros(N)
        for s, batch in enumerate(batches[:t]):
            for n in batch:
                c[n] += eta * S / len(batch) * a**(t - 1 - s)
        var = c @ c
        test_mean = H / 2 * (mu**2 + var)
        test_sq = H**2 / 4 * (mu**4 + 6 * mu**2 * var + 3 * var**2)
        A = H / 2 * np.outer(c, c) - S / 2 * (np.outer(u, c) + np.outer(c, u))
        b = -H * mu * c + S * mu * u
        train_mean = H * mu**2 / 2 + np.trace(A)
        train_sq = 2 * np.trace(A @ A) + b @ b + train_mean**2
        first += prob * np.array([mu, test_mean, train_mean])
        second += prob * np.array([mu**2 + var, test_sq, train_sq])
    return first, np.sqrt(np.maximum(second - first**2, 0))


ME_CASES = [(1, 1), (2, sympy.Rational(1, 2))]
ME_SCHEDULES = [gd(4, steps=5), sgd(5), sgd(4, batch=2, epochs=3), sgd(3, epochs=3, reshuffle="random")]
ME_RATES = [0.05, 0.2, 0.5, 0.9]


@pytest.mark.parametrize("H,S", ME_CASES)
@pytest.mark.parametrize("schedule", ME_SCHEDULES, ids=str)
def test_mean_estimation_closed_form(schedule, H, S):
    """Means at every step and every learning rate, and the standard errors, are exact."""
    trials = 20000
    sim = simulate(schedule, landscape=mean_estimation(hessian=H, noise=S, init=1), lr=ME_RATES, trials=trials,
                   seed=7, every=1, progress=False)
    assert list(sim.steps) == list(range(schedule.T + 1)) and sim.trials == trials
    np.testing.assert_array_equal(sim.lr, ME_RATES)
    H, S = float(H), float(S)
    # the largest possible relative error of a sample SD at 5 sigma (kurtosis <= 15 for a
    # Gaussian quadratic form): SE(sd)/sd ~ sqrt((kurtosis - 1)/(4 trials))
    sd_tolerance = 5 * math.sqrt(14 / (4 * trials))
    for i, eta in enumerate(ME_RATES):
        for k, t in enumerate(sim.steps):
            mean, sd = _mean_estimation_truth(schedule, eta, H, S, 1.0, int(t))
            got = np.array([sim.weights[i, k, 0], sim.test_loss[i, k], sim.train_loss[i, k]])
            sem = np.array([sim.weights_sem[i, k, 0], sim.test_loss_sem[i, k],
                            sim.train_loss_sem[i, k]])
            assert np.all(np.abs(got - mean) <= 4 * sem + 1e-12), (eta, t, got, mean, sem)
            # standard errors: the sample SD over trials / sqrt(trials) against the exact SD
            for j in range(3):
                if sd[j] < 1e-12:
                    assert sem[j] == 0.0
                else:
                    assert abs(sem[j] * math.sqrt(trials) / sd[j] - 1) < sd_tolerance, (eta, t, j)


def test_mean_estimation_lr_zero_and_gd_closed_form():
    """eta = 0 leaves theta at theta_0 in every trial; GD: E theta_T = (1 - eta)^T theta_0."""
    sim = simulate(gd(2, steps=6), landscape=mean_estimation(init=3), lr=[0.0, 0.3, 1.0],
                   trials=5000, seed=3,
                   progress=False)
    T = 6
    assert np.all(sim.weights[0] == 3.0) and np.all(sim.weights_sem[0] == 0.0)
    assert np.all(sim.test_loss[0] == 4.5) and np.all(sim.test_loss_sem[0] == 0.0)
    # GD: theta_T = -xbar + (1 - eta)^T (theta_0 + xbar): Var = (1 - (1 - eta)^T)^2 / N
    for i, eta in enumerate([0.3, 1.0]):
        mean = (1 - eta)**T * 3
        assert abs(sim.weights[i + 1, -1, 0] - mean) < 4 * sim.weights_sem[i + 1, -1, 0]
        sd = abs(1 - (1 - eta)**T) / math.sqrt(2)
        assert abs(sim.weights_sem[i + 1, -1, 0] * math.sqrt(5000) / sd - 1) < 0.05
    np.testing.assert_allclose(sim.gap, sim.test_loss - sim.train_loss)


def test_standard_errors_cover_the_truth_95_percent_of_the_time():
    """Over many seeds, |mean - truth| < 1.96 SE in about 95% of the runs."""
    schedule, eta, runs, trials = sgd(3), 0.3, 1000, 100
    L = mean_estimation(init=1)
    truth = (1 - eta)**3  # E theta_3
    inside = 0
    for seed in range(runs):
        sim = simulate(schedule, landscape=L, lr=eta, trials=trials, seed=seed, progress=False)
        inside += abs(sim.weights[0, -1, 0] - truth) < 1.96 * sim.weights_sem[0, -1, 0]
    # t with 99 degrees of freedom: 94.7%; binomial SD over 1000 runs: 0.7%.  An SE off by
    # 10% gives 92.2% or 96.9%.
    assert 0.93 < inside / runs < 0.965


def test_seed_makes_runs_reproducible_and_independent():
    L, schedule = shifting_valleys(), sgd(4, batch=2, epochs=2, reshuffle="random")
    a, b, c = (simulate(schedule, landscape=L, lr=[0.01, 0.05], trials=50, seed=s, progress=False)
               for s in (5, 5, 6))
    for name in ("test_loss", "train_loss_sem", "weights"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.allclose(a.weights[:, -1], c.weights[:, -1])


# --------------------------------------------------------------------- bad input

def _me():
    return mean_estimation(init=1)


@pytest.mark.parametrize("trials", [0, -3, 1, 2.5, 10.0, True, "10"])
def test_bad_trials(trials):
    with pytest.raises(RangeError, match="trials"):
        simulate(sgd(3), landscape=_me(), lr=0.1, trials=trials)


@pytest.mark.parametrize("lr", [-0.1, [0.1, -1e-9], float("nan"), [0.1, float("inf")]])
def test_negative_or_non_finite_learning_rate(lr):
    with pytest.raises(NonFiniteError, match="finite and non-negative"):
        simulate(sgd(3), landscape=_me(), lr=lr, trials=10)


@pytest.mark.parametrize("lr", [sympy.Symbol("eta"), [0.1, sympy.Symbol("eta")], "0.1", 0.1 + 1j])
def test_symbolic_or_non_numeric_learning_rate(lr):
    with pytest.raises(TypeError, match="real number"):
        simulate(sgd(3), landscape=_me(), lr=lr, trials=10)


@pytest.mark.parametrize("lr", [[[0.1, 0.2]], []])
def test_learning_rates_of_wrong_shape(lr):
    with pytest.raises(ShapeError):
        simulate(sgd(3), landscape=_me(), lr=lr, trials=10)


def test_symbolic_schedule():
    N = sympy.Symbol("N", integer=True, positive=True)
    with pytest.raises(ScheduleError, match="numeric sizes"):
        simulate(sgd(N), landscape=_me(), lr=0.1, trials=10)
    with pytest.raises(ScheduleError):
        simulate(gd(3, steps=N), landscape=_me(), lr=0.1, trials=10)


def test_not_a_schedule_or_landscape():
    with pytest.raises(TypeError, match="schedule"):
        simulate([(0,), (1,)], landscape=_me(), lr=0.1, trials=10)
    with pytest.raises(TypeError, match="Landscape"):
        simulate(sgd(3), landscape="theta**2", lr=0.1, trials=10)


@pytest.mark.parametrize("every", [0, -1, 1.5, True])
def test_bad_record_spacing(every):
    with pytest.raises(RangeError, match="every"):
        simulate(sgd(3), landscape=_me(), lr=0.1, trials=10, every=every)


def test_bad_backend_or_device():
    with pytest.raises(BackendError, match=r"unknown backend 'jax'; available: \['numpy', 'torch'\]"):
        simulate(sgd(3), landscape=_me(), lr=0.1, trials=10, backend="jax")
    with pytest.raises(BackendError, match="CPU only"):
        simulate(sgd(3), landscape=_me(), lr=0.1, trials=10, device="cuda")


def test_divergence_raises():
    """|1 - eta H| = 2: theta_t ~ 2^t overflows float64 after ~1024 steps."""
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(NonFiniteError, match="diverged"):
            simulate(gd(2, steps=1100), landscape=_me(), lr=[0.1, 3.0], trials=10, progress=False)
        with pytest.raises(NonFiniteError, match="diverged"):  # only the last step recorded
            simulate(gd(2, steps=1100), landscape=_me(), lr=3.0, trials=10, every=1100,
                     progress=False)


def test_simulation_record_checks_shapes():
    L, K, P = 2, 3, 1
    good = dict(lr=np.ones(L), steps=np.arange(K), trials=10,
                test_loss=np.zeros((L, K)), test_loss_sem=np.zeros((L, K)),
                train_loss=np.zeros((L, K)), train_loss_sem=np.zeros((L, K)),
                weights=np.zeros((L, K, P)), weights_sem=np.zeros((L, K, P)))
    Simulation(**good)
    for name, shape in (("test_loss", (L, K + 1)), ("train_loss_sem", (K, L)),
                        ("weights", (L, K)), ("weights", (L, K + 1, P)),
                        ("weights_sem", (L, K, P + 1))):
        with pytest.raises(ShapeError):
            Simulation(**{**good, name: np.zeros(shape)})


# ------------------------------------------------------------------------- torch

TORCH_CASES = [(helix, sgd(40)), (shifting_valleys, sgd(4, batch=2, epochs=3, reshuffle="random")),
               (lambda: mean_estimation(hessian=2, noise=3, init=1), gd(3, steps=4))]


def _compare_backends(make, schedule, device):
    L = make()
    ref = simulate(schedule, landscape=L, lr=[0.05, 0.1], trials=300, seed=9, progress=False)
    got = simulate(schedule, landscape=L, lr=[0.05, 0.1], trials=300, seed=9, backend="torch",
                   device=device, progress=False)
    np.testing.assert_array_equal(ref.steps, got.steps)
    for name in ("test_loss", "test_loss_sem", "train_loss", "train_loss_sem", "weights",
                 "weights_sem"):
        value = getattr(got, name)
        assert isinstance(value, np.ndarray) and value.dtype == np.float64
        # same data and batches from the same numpy generator: equal up to rounding
        np.testing.assert_allclose(value, getattr(ref, name), rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("make,schedule", TORCH_CASES, ids=["helix", "shifting valleys", "GD"])
def test_torch_backend_matches_numpy(make, schedule):
    pytest.importorskip("torch")
    _compare_backends(make, schedule, "cpu")


@pytest.mark.gpu
def test_torch_backend_on_cuda_matches_numpy():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    _compare_backends(*TORCH_CASES[0], "cuda")
