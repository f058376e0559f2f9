"""Tests of symsgd.phase_space: Kunin et al.'s OU model vs the exact discrete recursion vs simulation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symsgd.errors import ShapeError
from symsgd.phase_space import DiscretePhaseSpace, PhaseSpaceOU, diffusion_exponent


def _simulate(lr, beta, wd, h, sigma2, batch, steps, chains, burn, rng):
    """Heavy-ball SGD, Kunin's convention, Gaussian noise sigma2 H / S; returns trajectories."""
    n = h.shape[0]
    chol = np.linalg.cholesky(sigma2 * h / batch)
    theta, v = np.zeros((chains, n)), np.zeros((chains, n))
    out = np.empty((steps + 1, chains, n))
    for t in range(burn + steps + 1):
        if t >= burn:
            out[t - burn] = theta
        g = theta @ h + rng.standard_normal((chains, n)) @ chol.T
        v = beta * v - g - wd * theta
        theta = theta + lr * v
    return out


def test_decomposition_and_lyapunov():
    ou = PhaseSpaceOU(0.05, 0.8, 0.1, np.diag([0.5, 2.0]), sigma2=2.0, batch=8)
    q, u = ou.decomposition()
    a, d = ou.drift(), ou.diffusion()
    b = np.linalg.inv(u)
    assert np.allclose(a @ b + b @ a.T, 2 * d, atol=1e-12)
    assert np.allclose(q, -q.T) and np.allclose((d + q) @ u, a)
    # Kunin's printed Q and U (their eq. 12) for Sigma = sigma2 H
    h, s2, eta, beta, wd = ou.hessian, 2.0, 0.05, 0.8, 0.1
    q_printed = np.block([[0 * h, -s2 * h], [s2 * h, 0 * h]])
    u_printed = np.block([[2 / (eta * (1 + beta) * s2) * np.linalg.inv(h) @ (h + wd * np.eye(2)),
                           0 * h], [0 * h, np.linalg.inv(h) / s2]])
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
    m = rng.normal(size=(3, 3))
    h = m @ m.T / 3 + 0.1 * np.eye(3)
    h = h / np.linalg.eigvalsh(h + wd * np.eye(3)).max() * 0.9 * 2 * (1 + beta) / lr \
        if lr * np.linalg.eigvalsh(h + wd * np.eye(3)).max() >= 1.8 * (1 + beta) else h
    pot, kin = PhaseSpaceOU(lr, beta, wd, h, 1.0, 2).energies()
    assert np.isclose(pot, kin, rtol=1e-8)
    pot, kin = DiscretePhaseSpace(lr, beta, wd, h, 1.0, 2).energies()
    assert np.isclose(pot, kin, rtol=1e-8)


def test_speed_and_diffusion_against_simulation():
    rng = np.random.default_rng(7)
    h = np.diag([0.2, 1.0, 3.0])
    lr, beta, wd, s2, batch = 0.3, 0.6, 0.05, 1.0, 4
    ex = DiscretePhaseSpace(lr, beta, wd, h, s2, batch)
    ou = PhaseSpaceOU(lr, beta, wd, h, s2, batch)
    chains, steps = 4000, 60
    traj = _simulate(lr, beta, wd, h, s2, batch, steps, chains, burn=400, rng=rng)
    # instantaneous speed: mean over chains of ||theta_1 - theta_0||^2
    d1 = np.sum((traj[1] - traj[0]) ** 2, axis=1)
    se = d1.std(ddof=1) / np.sqrt(chains)
    assert abs(d1.mean() - ex.speed()) < 1.96 * se
    assert abs(d1.mean() - ou.speed()) > 5 * se
    # global displacement at a few lags
    lags = np.array([2, 10, 40])
    exact = ex.global_displacement(lags)
    cont = ou.global_displacement(lags)
    for lag, e, c in zip(lags, exact, cont):
        d = np.sum((traj[lag] - traj[0]) ** 2, axis=1)
        se = d.std(ddof=1) / np.sqrt(chains)
        assert abs(d.mean() - e) < 2.39 * se, (lag, d.mean(), e, se)  # Bonferroni over 3
    assert np.all(np.abs(cont - exact) > 0.02 * exact)


def test_small_learning_rate_limit():
    h = np.diag([0.5, 1.0])
    ex = DiscretePhaseSpace(1e-4, 0.9, 0.01, h, 1.0, 1)
    ou = PhaseSpaceOU(1e-4, 0.9, 0.01, h, 1.0, 1)
    assert np.isclose(ex.speed(), ou.speed(), rtol=1e-3)
    lags = np.array([10, 1000, 20000])
    assert np.allclose(ex.global_displacement(lags), ou.global_displacement(lags), rtol=1e-2)
    t = np.unique(np.geomspace(1, 1e6, 40).astype(int))
    exponent = diffusion_exponent(t, ex.global_displacement(t))
    assert exponent[0] > 1.5 and exponent[-1] < 0.1   # ballistic, then confined


def test_bad_inputs():
    with pytest.raises(ValueError):
        PhaseSpaceOU(0.1, 1.0, 0.0, np.eye(2))
    with pytest.raises(ValueError):
        PhaseSpaceOU(0.1, 0.5, 0.0, np.diag([1.0, 0.0]))
    with pytest.raises(ShapeError):
        DiscretePhaseSpace(0.1, 0.5, 0.0, np.ones((2, 3)))
