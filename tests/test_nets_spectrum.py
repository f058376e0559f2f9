"""The top Hessian subspace of a torch landscape against dense Hessians and exact statistics."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

torch = pytest.importorskip("torch")

import symsgd  # noqa: E402
from symsgd.errors import InputTypeError, RangeError  # noqa: E402
from symsgd.nets import NetLandscape, hessian_operator, top_subspace  # noqa: E402

from test_nets_estimate import dense_derivatives, mlp_net  # noqa: E402

EPS = np.finfo(float).eps


def test_top_eigenpairs_equal_the_dense_hessian():
    net = mlp_net(n=15)
    T = dense_derivatives(net, 2)
    H = T[2].mean(0).numpy()
    C = np.cov(T[1].numpy().T, bias=True)
    G = T[1].mean(0).numpy()
    values, vectors = np.linalg.eigh(H)
    k = 4
    top = top_subspace(net, k)
    scale = np.abs(values).max()
    # Lanczos to machine precision: residuals and eigenvalues at rounding level of ||H||
    assert np.all(top.residual <= 1e3 * EPS * scale)
    np.testing.assert_allclose(top.hessian, values[::-1][:k], rtol=0, atol=1e3 * EPS * scale)
    V = top.vectors
    np.testing.assert_allclose(V.T @ V, np.eye(k), atol=1e-10)
    np.testing.assert_allclose(V.T @ H @ V, np.diag(top.hessian), atol=1e3 * EPS * scale)
    np.testing.assert_allclose(top.noise, V.T @ C @ V, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(top.gradient, V.T @ G, rtol=1e-10, atol=1e-12)


def test_hessian_operator_matches_dense_products():
    net = mlp_net(n=7)
    H = dense_derivatives(net, 2)[2].mean(0).numpy()
    v = np.random.default_rng(0).standard_normal(net.dim)
    np.testing.assert_allclose(hessian_operator(net) @ v, H @ v, rtol=1e-10, atol=1e-12)


def test_linear_regression_subspace_is_exact():
    """On a quadratic landscape H and C are the population's exact rational statistics."""
    base = symsgd.landscapes.linear_regression(dim=3)
    rng = np.random.default_rng(1)
    points = [[sympy.Rational(int(v), 2) for v in row] for row in rng.integers(-4, 5, (9, 4))]
    exact = NetLandscape.on_population(base, points)
    H = np.array(exact.H.tolist(), dtype=float)
    C = np.array(exact.C.tolist(), dtype=float)
    top = top_subspace(NetLandscape.from_landscape(base, points), 2)
    V = top.vectors
    np.testing.assert_allclose(top.hessian, np.linalg.eigvalsh(H)[::-1][:2], rtol=1e-10)
    np.testing.assert_allclose(top.noise, V.T @ C @ V, rtol=1e-10, atol=1e-12)
    # the subspace feeds the Lyapunov solver: the stationary covariance of SGD there
    from symsgd.lyapunov import stationary_covariance
    from symsgd.optim import SGD
    sigma = stationary_covariance(SGD(0.1), np.diag(top.hessian), top.noise)
    np.testing.assert_allclose(sigma, stationary_covariance(SGD(0.1), V.T @ H @ V, V.T @ C @ V),
                               rtol=1e-8)


def test_bad_input():
    net = mlp_net(n=3)
    with pytest.raises(RangeError, match="between 1 and P - 1"):
        top_subspace(net, net.dim)
    with pytest.raises(InputTypeError, match="k must be an integer"):
        top_subspace(net, 2.0)
    with pytest.raises(InputTypeError, match="NetLandscape"):
        hessian_operator("net")
    with pytest.raises(RangeError, match="tol"):
        top_subspace(net, 1, tol=-1.0)
    with pytest.raises(RangeError, match="seed"):
        top_subspace(net, 1, seed=-1)
