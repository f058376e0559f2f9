"""Monte Carlo of SGD, GD, GDC, SDE, noisy GD and SVAG (issue 11) against exact truths.

* SGD and GD: the exact engine's polynomial (brute-force expectation over the
  law) on polynomial landscapes and on a finite population.
* SDE and SVAG on MEAN ESTIMATION, a quadratic basin with constant gradient
  noise given the training set: their first two moments are computed here in
  closed form for every refinement ``R`` (Euler-Maruyama) and amplification ``l``
  (both equal ``R = l``), and the Ornstein-Uhlenbeck limit; the simulated bias
  against the limit shrinks like ``1 / R`` (fitted slope).
* Noisy GD on a two-dimensional quadratic: :func:`symsgd.lyapunov.covariance_at`.
* GDC against SGD: the paired difference is ``O(eta^3)`` where GD's is
  ``O(eta^2)`` (fitted slope of their ratio).
* Batched trials against a plain loop with ``torch.optim.SGD`` (momentum, Nesterov,
  weight decay) on a torch model, to 1e-12 (the test loss, the displacement and the
  speed ``|theta_k - theta_{k-1}|^2`` at every recorded step); different groupings
  give identical results.
* The speed on a quadratic where it is known exactly: GD, heavy ball with weight
  decay, and Euler-Maruyama substeps without noise (deterministic).

Tolerances: simulated means within 4.5 standard errors (about 1 in 150,000 per
comparison for a normal mean); fitted slopes within intervals several standard
errors wide (stated at each fit).
"""

from __future__ import annotations

import types

import numpy as np
import pytest
import sympy

torch = pytest.importorskip("torch")

import symsgd  # noqa: E402
from symsgd.errors import (InputTypeError, LandscapeError, MeasureError,  # noqa: E402
                           MethodError, NonFiniteError, RangeError, ShapeError,
                           StabilityError)
from symsgd.landscapes import linear_regression, mean_estimation  # noqa: E402
from symsgd.lyapunov import covariance_at  # noqa: E402
from symsgd.nets import NetLandscape, Runs, simulate  # noqa: E402
from symsgd.nets.dynamics import (GD, GDC, SDE, SGD, SVAG, FreshBatchSGD,  # noqa: E402
                                  NoisyGD)
from symsgd.nets.montecarlo import BLOCK  # noqa: E402
from symsgd.optim import SGD as LinearSGD  # noqa: E402

from test_nets_estimate import mlp_net  # noqa: E402

Z = 4.5


def within(mc_mean, mc_sem, exact):
    return np.all(np.abs(mc_mean - exact) <= Z * mc_sem + 1e-12 * np.maximum(1, np.abs(exact)))


def weighted_slope(x, y, se):
    """Least-squares slope of ``log|y|`` against ``log x`` with weights from ``se``, and
    its standard error."""
    lx, ly = np.log(x), np.log(np.abs(y))
    w = (np.abs(y) / se) ** 2
    A = np.vstack([lx, np.ones_like(lx)]).T
    cov = np.linalg.inv(A.T @ (w[:, None] * A))
    beta = cov @ A.T @ (w * ly)
    return beta[0], np.sqrt(cov[0, 0])


# ------------------------------------------------------------------- SGD and GD
@pytest.mark.parametrize("landscape", [mean_estimation(init=1), linear_regression(dim=2)],
                         ids=["mean_estimation", "linear_regression"])
@pytest.mark.parametrize("schedule", [symsgd.sgd(3), symsgd.sgd(4, batch=2),
                                      symsgd.sgd(2, epochs=2, reshuffle="random"),
                                      symsgd.gd(3, steps=2)], ids=str)
def test_sgd_and_gd_equal_the_exact_engine(landscape, schedule):
    rates = [0.05, 0.2]
    runs = simulate(landscape, SGD(schedule), lr=rates, trials=6000, seed=1)
    order = 2 * schedule.T
    loss = symsgd.expected_loss(schedule, order, landscape=landscape, method="exact")
    train = symsgd.expected_loss(schedule, order, landscape=landscape, measure="train",
                                 method="exact")
    weights = symsgd.expected_displacement(schedule, schedule.T, landscape=landscape,
                                           method="exact")
    init = np.array([float(v) for v in landscape.init])
    for i, lr in enumerate(rates):
        for measure, truth in (("test", loss), ("train", train)):
            assert within(runs.mean(measure=measure)[i, -1], runs.sem(measure=measure)[i, -1],
                          float(truth(lr)))
        exact_w = init + np.array([float(c) for c in weights(lr)])
        assert within(runs.weights[i, -1], runs.weights_sem[i, -1], exact_w)


def test_sgd_on_a_finite_population_equals_the_exact_engine():
    base = linear_regression(dim=2)
    rng = np.random.default_rng(0)
    points = [[sympy.Rational(int(v), 4) for v in row] for row in rng.integers(-8, 9, (5, 3))]
    net = NetLandscape.from_landscape(base, points)
    exact = NetLandscape.on_population(base, points)
    schedule = symsgd.sgd(3)
    runs = simulate(net, SGD(schedule), lr=[0.1], trials=6000, seed=2)
    truth = symsgd.expected_loss(schedule, 6, landscape=exact, method="exact")
    assert within(runs.mean()[0, -1], runs.sem()[0, -1], float(truth(0.1)))
    start = float(exact.test_loss.subs(dict(zip(exact.params, exact.init))))
    assert runs.mean()[0, 0] == pytest.approx(start, rel=1e-12)


# ------------------------------------------------------------ SDE, SVAG, noisy GD
N, B, T, LR, THETA0 = 4, 1, 4, 0.5, 1.0


def euler_maruyama(R):
    """E[test loss] of R-refined Euler-Maruyama (and of SVAG(l = R)) on MEAN ESTIMATION.

    ``l_x = theta^2 / 2 + x theta``, ``x ~ N(0, 1)``: given the training set the
    gradient is ``theta + xbar`` and the noise covariance ``Sigma = (N-B)/(B(N-1)) s^2``
    with ``E s^2 = (N-1)/N``; the test loss is ``theta^2 / 2``."""
    dt = LR / R
    a, n = 1 - dt, R * T
    noise = LR * dt * (N - B) / (B * N) * (1 - a ** (2 * n)) / (1 - a * a)
    return 0.5 * ((1 - a ** n) ** 2 / N + THETA0 ** 2 * a ** (2 * n) + noise)


def ornstein_uhlenbeck():
    tau = LR * T
    return 0.5 * ((1 - np.exp(-tau)) ** 2 / N + THETA0 ** 2 * np.exp(-2 * tau)
                  + LR * (N - B) / (B * N) * (1 - np.exp(-2 * tau)) / 2)


@pytest.mark.parametrize("kind", ["sde", "svag"])
def test_sde_and_svag_converge_to_the_ou_solution_at_rate_one(kind):
    L = mean_estimation(init=1)
    sizes = (1, 2, 4, 8)
    bias, se = [], []
    for R in sizes:
        dyn = SDE(N, steps=T, refine=R) if kind == "sde" else SVAG(N, steps=T, l=R)
        runs = simulate(L, dyn, lr=LR, trials=30000, seed=3)
        m, s = runs.mean()[0, -1], runs.sem()[0, -1]
        assert within(m, s, euler_maruyama(R)), (R, m, s, euler_maruyama(R))
        bias.append(m - ornstein_uhlenbeck())
        se.append(s)
    # the closed forms' own bias is 1/R to leading order; the simulated one follows it
    slope, slope_se = weighted_slope(np.array(sizes[:3]), np.array(bias[:3]), np.array(se[:3]))
    assert abs(slope + 1) < max(0.3, 4 * slope_se), (slope, slope_se)


def correlated_quadratic():
    """``w K w / 2 + x M^T w`` with standard normal ``x`` in two dimensions, started at
    ``(1, -1)``: ``(landscape, K, M)``."""
    w1, w2, x1, x2 = sympy.symbols("w1 w2 x1 x2", real=True)
    Ks = sympy.Matrix([[2, sympy.Rational(1, 2)], [sympy.Rational(1, 2), 1]])
    Ms = sympy.Matrix([[1, sympy.Rational(1, 2)], [0, 1]])
    w, x = sympy.Matrix([w1, w2]), sympy.Matrix([x1, x2])
    L = symsgd.Landscape((w.T * Ks * w)[0] / 2 + (x.T * Ms.T * w)[0], (w1, w2), (x1, x2),
                         (1, -1))
    return L, np.array(Ks.tolist(), dtype=float), np.array(Ms.tolist(), dtype=float)


def test_noisy_gd_equals_the_discrete_lyapunov_covariance():
    L, K, M = correlated_quadratic()
    n, batch, steps, lr = 6, 2, 5, 0.3
    runs = simulate(L, NoisyGD(n, steps=steps, batch=batch), lr=lr, trials=30000, seed=4)
    A = np.eye(2) - lr * K
    theta0 = np.array([1.0, -1.0])
    S = sum(np.linalg.matrix_power(A, j) for j in range(steps)) * lr
    mean = np.linalg.matrix_power(A, steps) @ theta0
    second = np.outer(mean, mean) + S @ M @ M.T @ S.T / n
    sigma = (n - batch) / (batch * n) * M @ M.T             # E Sigma over training sets
    second = second + covariance_at(LinearSGD(lr), K, sigma, steps)
    assert within(runs.mean()[0, -1], runs.sem()[0, -1], 0.5 * np.trace(K @ second))
    assert within(runs.weights[0, -1], runs.weights_sem[0, -1], mean)


def test_noisy_gd_is_sgd_in_its_first_two_moments_on_a_quadratic():
    """One step from theta_0: SGD with a batch drawn without replacement and noisy GD
    have the same mean and covariance of the update (here through the test loss)."""
    L = mean_estimation(init=1)
    sgd_runs = simulate(L, SVAG(N, steps=1, l=1), lr=0.5, trials=40000, seed=5)
    noisy = simulate(L, NoisyGD(N, steps=1), lr=0.5, trials=40000, seed=5)
    diff, se = sgd_runs.paired(noisy)
    assert abs(diff[0, -1]) < Z * se[0, -1]


# -------------------------------------------------------------------------- GDC
def test_gdc_matches_sgd_to_second_order():
    """Paired differences from SGD (E = B = 1) on 1-d linear regression, where the
    regularizer's gradient is not zero: GD's is O(eta^2), GDC's O(eta^3), so their
    ratio is O(eta) (fitted slope within 0.3 of 1, about 3 standard errors)."""
    L = linear_regression(dim=1)
    rates = np.array([0.005, 0.01, 0.02, 0.04])
    common = dict(lr=rates, trials=100000, seed=6)
    sgd_runs = simulate(L, SGD(symsgd.sgd(4)), **common)
    gd_diff, gd_se = simulate(L, GD(4, steps=4), **common).paired(sgd_runs)
    gdc_diff, gdc_se = simulate(L, GDC(4, steps=4), **common).paired(sgd_runs)
    gd_diff, gd_se, gdc_diff, gdc_se = gd_diff[:, -1], gd_se[:, -1], gdc_diff[:, -1], gdc_se[:, -1]
    assert np.all(np.abs(gdc_diff) < np.abs(gd_diff) / 4)
    ratio = gdc_diff / gd_diff
    ratio_se = np.abs(ratio) * np.hypot(gdc_se / gdc_diff, gd_se / gd_diff)
    slope, slope_se = weighted_slope(rates, ratio, ratio_se)
    assert abs(slope - 1) < 0.3 and slope_se < 0.1, (slope, slope_se)
    slope, _ = weighted_slope(rates[:2], gd_diff[:2], gd_se[:2])
    assert abs(slope - 2) < 0.3, slope


def test_gdc_minus_sgd_is_the_exact_engines_series():
    """SGD - GDC on 1-d linear regression (N = T = 4, B = 1), paired, against the exact
    engine's GDC series (``expected_loss(..., process='gdc')``) to eta^5: within 3 standard
    errors plus the eta^5 term at every rate, where the leading eta^3 term alone is rejected
    at lr 0.04 (the eta^4 term, 553/4 eta^4, is needed)."""
    L = linear_regression(dim=1)
    series = (symsgd.expected_loss(symsgd.sgd(4), 5, landscape=L)
              - symsgd.expected_loss(symsgd.sgd(4), 5, landscape=L, process="gdc"))
    assert series.coefficients[:3] == (0, 0, 0)
    rates = np.array([0.01, 0.02, 0.04])
    common = dict(lr=rates, trials=100000, seed=6)
    diff, se = simulate(L, SGD(symsgd.sgd(4)), **common).paired(
        simulate(L, GDC(4, steps=4), **common))
    diff, se = diff[:, -1], se[:, -1]
    predicted = np.array([float(series(lr)) for lr in rates])
    next_term = np.abs(float(series.coeff(5)) * rates**5)
    assert np.all(np.abs(diff - predicted) < 3 * se + next_term), (diff, se, predicted)
    leading = float(series.coeff(3)) * rates[-1]**3
    assert abs(diff[-1] - leading) > 10 * se[-1]


# --------------------------------------------------- batching, grouping, a plain loop
def _qhm(params, lr, beta, nu, wd):
    """Quasi-hyperbolic momentum written out (torch has none): ``m <- beta m + (1 - beta) g``,
    ``w <- w - lr ((1 - nu) g + nu m)``, with ``g`` the gradient plus ``wd w``."""
    class QHM(torch.optim.Optimizer):
        def __init__(self):
            super().__init__(params, {})

        @torch.no_grad()
        def step(self):
            for p in self.param_groups[0]["params"]:
                g = p.grad + wd * p
                m = self.state[p].setdefault("m", torch.zeros_like(p))
                m.mul_(beta).add_((1 - beta) * g)
                p.sub_(lr * ((1 - nu) * g + nu * m))

    return QHM()


def _plain_loop(net, schedule, lr, trials, seed, *, momentum=0.0, nesterov=False, wd=0.0,
                nu=None):
    """Each trial alone with torch.optim.SGD (or QHM written out), its draws rebuilt from
    the documented blocks: the final test losses, shape ``(trials,)``, and every trial's
    weights after each step, shape ``(trials, T + 1, P)``."""
    out, paths = [], []
    for i in range(trials):
        b, r = divmod(i, BLOCK)
        rng = np.random.default_rng([seed, b, 0])
        index = rng.integers(net.size, size=schedule.N * BLOCK).reshape(BLOCK, -1)[r]
        batches = schedule.sample_batches(np.random.default_rng([seed, b, 1]), BLOCK)[r]
        theta = net.params.detach().clone().requires_grad_(True)
        opt = torch.optim.SGD([theta], lr=lr, momentum=momentum, nesterov=nesterov,
                              weight_decay=wd) if nu is None else _qhm([theta], lr, momentum,
                                                                        nu, wd)
        path = [theta.detach().clone().numpy()]
        for t in range(schedule.T):
            rows = torch.as_tensor(index[batches[t]])
            x, y = net.point(rows)
            opt.zero_grad()
            net.losses(theta, x, y).mean().backward()
            opt.step()
            path.append(theta.detach().clone().numpy())
        with torch.no_grad():
            out.append(float(net.loss(theta=theta)))
        paths.append(path)
    return np.array(out), np.array(paths)


@pytest.mark.parametrize("momentum, nesterov, wd, nu", [(0.0, False, 0.0, None),
                                                        (0.9, False, 0.01, None),
                                                        (0.5, True, 0.1, None),
                                                        (0.8, False, 0.05, 0.7)])
def test_batched_trials_equal_a_plain_loop(momentum, nesterov, wd, nu):
    net = mlp_net(n=12, seed=3)
    schedule = symsgd.sgd(6, batch=2, epochs=2, reshuffle="random")
    dyn = SGD(schedule, momentum=momentum, nesterov=nesterov, nu=nu, weight_decay=wd)
    record = [0, 1, 2, 4, 6]                                  # T = 6; steps 3 and 5 skipped
    runs = simulate(net, dyn, lr=0.05, trials=7, seed=9, record=record)
    loop, paths = _plain_loop(net, schedule, 0.05, 7, 9, momentum=momentum, nesterov=nesterov,
                              wd=wd, nu=nu)
    np.testing.assert_allclose(runs.test[0, :, -1], loop, rtol=1e-12, atol=0)
    np.testing.assert_allclose(runs.displacement[0], np.linalg.norm(paths[:, record] -
                                                                    paths[:, :1], axis=2),
                               rtol=1e-12, atol=1e-15)
    # |theta_k - theta_{k-1}|^2, with theta_{-1} = theta_0 (no step before step 0)
    steps = np.array(record)
    speed = np.sum((paths[:, steps] - paths[:, np.maximum(steps - 1, 0)]) ** 2, axis=2)
    assert np.all(speed[:, 1:] > 0) and np.all(runs.speed[0, :, 0] == 0)
    np.testing.assert_allclose(runs.speed[0], speed, rtol=1e-10, atol=0)
    np.testing.assert_array_equal(runs.values(measure="speed"), runs.speed)
    np.testing.assert_allclose(runs.mean(measure="speed")[0], speed.mean(0), rtol=1e-10)
    np.testing.assert_allclose(runs.sem(measure="speed")[0, 1:],
                               speed[:, 1:].std(0, ddof=1) / np.sqrt(7), rtol=1e-8)


@pytest.mark.parametrize("momentum, nesterov, wd", [(0.0, False, 0.0), (0.9, False, 0.01),
                                                    (0.5, True, 0.1)])
def test_fresh_batches_equal_a_plain_loop(momentum, nesterov, wd):
    """FreshBatchSGD draws each trial's batches with replacement from its block's generator
    (``integers(N, size=(trials, steps, batch), dtype=int32)``): a plain torch loop over the
    same draws."""
    N, steps, batch = 6, 5, 3
    fresh = types.SimpleNamespace(
        N=N, T=steps,
        sample_batches=lambda rng, n: rng.integers(N, size=(n, steps, batch), dtype=np.int32))
    net = mlp_net(n=12, seed=3)
    dyn = FreshBatchSGD(N, steps=steps, batch=batch, momentum=momentum, nesterov=nesterov,
                        weight_decay=wd)
    runs = simulate(net, dyn, lr=0.05, trials=7, seed=9, record=[0, steps])
    loop, _ = _plain_loop(net, fresh, 0.05, 7, 9, momentum=momentum, nesterov=nesterov, wd=wd)
    np.testing.assert_allclose(runs.test[0, :, -1], loop, rtol=1e-12, atol=0)


def test_fresh_batches_carry_the_training_sets_covariance_over_the_batch():
    """On a quadratic, each step's noise is the training set's (biased) gradient covariance
    over ``B``, ``(n - 1) / (n B) M M^T`` on average: the test loss after ``T`` steps is the
    mean path's (the training mean ``xbar`` shifts it: ``S M M^T S^T / n``) plus the discrete
    Lyapunov covariance (``covariance_at``), within the simulation's interval; the noise of
    a batch drawn without replacement, ``(n - B) / (n B)``, is rejected."""
    L, K, M = correlated_quadratic()
    n, batch, steps, lr = 6, 2, 5, 0.3
    runs = simulate(L, FreshBatchSGD(n, steps=steps, batch=batch), lr=lr, trials=40000,
                    seed=4)
    A = np.eye(2) - lr * K
    S = sum(np.linalg.matrix_power(A, j) for j in range(steps)) * lr
    mean = np.linalg.matrix_power(A, steps) @ np.array([1.0, -1.0])
    base = np.outer(mean, mean) + S @ M @ M.T @ S.T / n

    def loss(factor):
        second = base + covariance_at(LinearSGD(lr), K, factor * M @ M.T, steps)
        return 0.5 * np.trace(K @ second)
    assert within(runs.mean()[0, -1], runs.sem()[0, -1], loss((n - 1) / (n * batch)))
    assert not within(runs.mean()[0, -1], runs.sem()[0, -1], loss((n - batch) / (n * batch)))


@pytest.mark.parametrize("kind", ["gd", "heavy_ball", "substeps"])
def test_the_speed_on_a_quadratic_is_exact(kind):
    """Deterministic runs on the population loss ``theta^2 / 2 + xbar theta`` (minimum
    ``-xbar``): ``|theta_k - theta_{k-1}|^2`` at each recorded step, 0 at step 0."""
    net = NetLandscape.from_landscape(mean_estimation(init=1), [[-1], [0], [2]])
    xbar, lr, T, record = 1 / 3, 0.3, 7, [0, 1, 2, 5, 7]
    if kind == "gd":                      # theta_k + xbar = (1 - lr)^k (theta_0 + xbar)
        dyn = GD(3, steps=T)
        theta = -xbar + (1 - lr) ** np.arange(T + 1) * (1 + xbar)
    elif kind == "substeps":              # R Euler steps of lr / R per nominal step, no noise
        R = 4
        dyn = SDE(3, steps=T, batch=3, refine=R)
        theta = -xbar + (1 - lr / R) ** (R * np.arange(T + 1)) * (1 + xbar)
    else:                                 # torch's heavy ball: m <- mu m + g + wd theta
        mu, wd = 0.6, 0.1
        dyn = GD(3, steps=T, momentum=mu, weight_decay=wd)
        theta, m = [1.0], 0.0
        for _ in range(T):
            m = mu * m + theta[-1] + xbar + wd * theta[-1]
            theta.append(theta[-1] - lr * m)
        theta = np.array(theta)
    runs = simulate(net, dyn, lr=lr, trials=3, seed=0, record=record, training="population")
    steps = np.array(record)
    exact = np.where(steps > 0, (theta[steps] - theta[np.maximum(steps - 1, 0)]) ** 2, 0.0)
    assert np.all(exact[1:] > 1e-6)
    np.testing.assert_allclose(runs.speed[0], np.broadcast_to(exact, (3, len(record))),
                               rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(runs.displacement[0, 0], np.abs(theta[steps] - 1), rtol=1e-12)


def test_grouping_gives_identical_results():
    net = mlp_net(n=12, seed=4)
    dyn = SDE(5, steps=3, batch=2, refine=2)
    runs = [simulate(net, dyn, lr=[0.05, 0.1], trials=BLOCK + 5, seed=3, group=g,
                     record=[0, 1, 3]) for g in (BLOCK + 5, 7, 100)]
    for other in runs[1:]:
        np.testing.assert_allclose(other.test, runs[0].test, rtol=1e-12, atol=0)
        np.testing.assert_allclose(other.displacement, runs[0].displacement, rtol=1e-12,
                                   atol=1e-15)
        np.testing.assert_allclose(other.speed, runs[0].speed, rtol=1e-12, atol=1e-30)
    first = simulate(net, dyn, lr=[0.05, 0.1], trials=5, seed=3, record=[0, 1, 3])
    np.testing.assert_allclose(first.test, runs[0].test[:, :5], rtol=1e-12, atol=0)


def test_paired_runs_share_training_sets():
    L = mean_estimation(init=1)
    a = simulate(L, GD(5, steps=2), lr=0.1, trials=50, seed=7)
    b = simulate(L, GDC(5, steps=2), lr=0.1, trials=50, seed=7)
    # on a constant-Hessian landscape the regularizer's gradient is zero: GDC is GD
    np.testing.assert_allclose(a.test, b.test, rtol=1e-12)
    diff, se = a.paired(b)
    assert np.all(np.abs(diff) < 1e-12) and a.covariance(b).shape == (1, 2)


def test_training_on_the_whole_population():
    """With a fixed training set (the population), GD is deterministic and equals plain GD on
    the population loss; SGD trials differ only in their batch orders."""
    net = mlp_net(n=12, seed=5)
    runs = simulate(net, GD(12, steps=3), lr=0.1, trials=3, seed=1, training="population")
    theta = net.params.detach().clone()
    for _ in range(3):
        theta = theta - 0.1 * torch.func.grad(lambda th: net.loss(theta=th))(theta)
    np.testing.assert_allclose(runs.test[0, :, -1], float(net.loss(theta=theta)), rtol=1e-12)
    np.testing.assert_allclose(runs.train[0, :, -1], runs.test[0, :, -1], rtol=1e-12)
    # a Landscape with a Dataset law: the training loss is the test loss at every step
    exact = NetLandscape.on_population(mean_estimation(init=1), [[-1], [0], [2]])
    runs = simulate(exact, SGD(symsgd.sgd(3, reshuffle="random")), lr=0.2, trials=4, seed=0,
                    training="population")
    np.testing.assert_allclose(runs.train, runs.test, rtol=1e-12)
    assert np.ptp(runs.test[0, :, -1]) > 0                   # the orders differ between trials
    with pytest.raises(ShapeError):
        simulate(net, GD(10, steps=3), lr=0.1, trials=2, training="population")
    with pytest.raises(LandscapeError):
        simulate(mean_estimation(init=1), GD(3, steps=1), lr=0.1, trials=2,
                 training="population")
    with pytest.raises(MethodError):
        simulate(net, GD(12, steps=1), lr=0.1, trials=2, training="bootstrap")


# -------------------------------------------------------------------- bad input
def test_bad_input():
    L = mean_estimation(init=1)
    with pytest.raises(StabilityError, match="2 / k_max"):
        simulate(L, SGD(symsgd.sgd(3)), lr=2.5, trials=10)
    with pytest.raises(StabilityError):
        simulate(L, SDE(3, steps=2, refine=2), lr=4.5, trials=10)  # lr / 2 beyond 2
    with pytest.raises(RangeError):
        SVAG(4, steps=2, l=0)
    with pytest.raises(InputTypeError):
        SVAG(4, steps=2, l=1.5)
    with pytest.raises(RangeError):
        SDE(4, steps=2, refine=0)
    with pytest.raises(InputTypeError):
        SDE(4, steps=2, refine="16")
    with pytest.raises(RangeError):
        GDC(1, steps=2)
    with pytest.raises(RangeError):
        NoisyGD(3, steps=2, batch=4)
    with pytest.raises(RangeError):
        simulate(L, GD(3, steps=2), lr=0.1, trials=1)
    with pytest.raises(RangeError):
        simulate(L, GD(3, steps=2), lr=-0.1, trials=2)
    with pytest.raises(NonFiniteError):
        simulate(L, GD(3, steps=2), lr=float("nan"), trials=2)
    with pytest.raises(RangeError):
        simulate(L, GD(3, steps=2), lr=0.1, trials=2, record=[5])
    with pytest.raises(InputTypeError):
        simulate(L, "SGD", lr=0.1, trials=2)
    with pytest.raises(InputTypeError):
        simulate("L", GD(3, steps=2), lr=0.1, trials=2)
    with pytest.raises(InputTypeError):
        SGD(symsgd.sgd(3), momentum="0.9")
    with pytest.raises(InputTypeError):
        SGD(symsgd.sgd(3), momentum=0.5, nu=0.5, nesterov=True)
    with pytest.raises(RangeError):
        SGD(symsgd.sgd(3), momentum=0.5, nu=1.5)


def test_runs_checks_the_speed():
    """The speed has the shape of the other per-trial measures; runs built without it (the
    field is optional, last) refuse ``measure='speed'``."""
    cube = np.zeros((1, 2, 3))
    args = ([0.1], [0, 1, 2], 0, cube, cube, cube, np.zeros((1, 3, 1)), np.zeros((1, 3, 1)),
            np.ones((1, 2), dtype=bool))
    assert Runs(*args, speed=cube).mean(measure="speed").shape == (1, 3)
    with pytest.raises(ShapeError, match="speed"):
        Runs(*args, speed=np.zeros((1, 2, 2)))
    with pytest.raises(InputTypeError, match="speed"):
        Runs(*args, speed=np.full((1, 2, 3), "x"))
    with pytest.raises(MeasureError, match="without the speed"):
        Runs(*args).values(measure="speed")
    assert Runs(*args).mean(measure="displacement").shape == (1, 3)


def test_divergence_names_trial_and_step_and_keeps_what_finished():
    # least squares with per-sample Hessians x x^T: no exact bound is known up front; GD at
    # lr = 20 multiplies the error by about |1 - 20 mean(x^2)| ~ 19 per step until it overflows
    L = linear_regression(dim=1)
    with pytest.raises(NonFiniteError, match=r"trial \d+ at lr = 20 became non-finite at "
                                             r"step \d+") as info:
        simulate(L, GD(20, steps=300), lr=[0.01, 20.0], trials=20, seed=0)
    partial = info.value.partial
    assert isinstance(partial, Runs)
    assert partial.complete[0].all() and not partial.complete[1].any()
    assert np.isfinite(partial.test[0]).all() and np.isnan(partial.test[1]).all()


@pytest.mark.parametrize("N, B", [(5, 2), (4, 3)])              # rejection, and sorted keys
def test_svag_batches_are_uniform_distinct_subsets(N, B):
    import itertools
    import scipy.stats
    from symsgd.nets.dynamics.svag import _distinct
    draws = _distinct(np.random.default_rng(0), (30000,), N, B)
    assert all(len(set(r)) == B for r in draws)
    subsets = list(itertools.combinations(range(N), B))
    counts = np.array([np.sum(np.all(np.sort(draws, 1) == s, axis=1)) for s in subsets])
    assert counts.sum() == len(draws)
    assert scipy.stats.chisquare(counts).pvalue > 1e-4
