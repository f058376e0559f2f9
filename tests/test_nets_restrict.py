"""A network restricted to a subspace (issue 10): exact statistics, the resummed form, Lyapunov.

Oracles, independent of :mod:`symsgd.nets.restrict`:

* zoo landscapes on a finite population, whose symbolic :class:`~symsgd.Landscape`
  with the :class:`~symsgd.Dataset` law has exact rational cumulants, and whose
  resummed form evaluates them through the unchanged symbolic path;
* the small tanh MLP's dense per-sample derivative tensors (``torch.func``
  ``hessian``/``jacfwd`` in all ``P`` coordinates), projected on the basis here.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import symsgd  # noqa: E402
from symsgd.codegen import compile_series  # noqa: E402
from symsgd.errors import (InputTypeError, LandscapeError, NonFiniteError,  # noqa: E402
                           OrderError, RangeError, ShapeError)
from symsgd.lyapunov import discrete_lyapunov, stationary_covariance  # noqa: E402
from symsgd.nets import NetLandscape, Restricted, restrict, top_subspace  # noqa: E402
from symsgd.optim import SGD  # noqa: E402

from test_nets_estimate import (ZOO, _population, dense_cumulant,  # noqa: E402
                                dense_derivatives, mlp_net)


def _keys(degree):
    """Every degree tuple with entries 0..degree, up to three arguments."""
    return [k for m in (1, 2, 3) for k in itertools.product(range(degree + 1), repeat=m)
            if sum(k) <= 6]


def _rotation(P, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((P, P)))
    return q


def _project(tensor, V):
    """``tensor`` with every axis contracted with ``V`` (P x k)."""
    out = np.asarray(tensor, dtype=float)
    for _ in range(out.ndim):
        out = np.tensordot(out, V, axes=([0], [0]))
    return out


@pytest.mark.parametrize("name", sorted(ZOO))
def test_cumulants_equal_the_symbolic_landscape_in_any_basis(name):
    base = ZOO[name]()
    points = _population(base, 6, seed=3)
    exact = NetLandscape.on_population(base, points)
    net = NetLandscape.from_landscape(base, points)
    V = _rotation(net.dim, seed=4)
    r = restrict(net, V, degree=3)
    assert (r.dim, r.degree, r.size) == (net.dim, 3, 6)
    for key in _keys(3):
        want = _project(np.array(exact.cumulant(*key).tolist() if sum(key) else
                                 exact.cumulant(*key)[()], dtype=float), V)
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(r.cumulant(*key), want, rtol=0, atol=1e-10 * scale,
                                   err_msg=str(key))


@pytest.mark.parametrize("name", sorted(ZOO))
@pytest.mark.parametrize("measure", ["test", "train", "gap", "weights"])
def test_resummed_form_equals_the_symbolic_landscapes(name, measure):
    """In the identity basis the restricted landscape is the whole one: the numeric
    resummed values equal those computed from the exact symbolic statistics."""
    base = ZOO[name]()
    points = _population(base, 5, seed=5)
    exact = NetLandscape.on_population(base, points)
    r = restrict(NetLandscape.from_landscape(base, points), np.eye(exact.dim), degree=3)
    schedule = symsgd.sgd(4, batch=2, epochs=2)
    build = symsgd.resummed_displacement if measure == "weights" else \
        lambda *a, **k: symsgd.resummed_loss(*a, measure=measure, **k)
    lr = np.array([0.0, 0.01, 0.05, 0.1])
    want = build(schedule, 3, landscape=exact)(lr)
    got = build(schedule, 3, landscape=r)(lr)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * max(1.0, np.abs(want).max()))


def test_top_subspace_statistics_equal_projected_dense_tensors():
    net = mlp_net(n=10, seed=1, small=True)
    top = top_subspace(net, 3)
    r = restrict(net, top, degree=3)
    T = dense_derivatives(net, 3)
    V = top.vectors
    for key in [(1,), (2,), (3,), (1, 1), (2, 1), (1, 1, 1), (2, 2), (3, 1), (0, 1)]:
        want = _project(dense_cumulant(T, key).numpy(), V)
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(r.cumulant(*key), want, rtol=0, atol=1e-10 * scale,
                                   err_msg=str(key))
    # and with what top_subspace measured on its own
    np.testing.assert_allclose(r.H, np.diag(top.hessian), atol=1e-8 * top.hessian.max())
    np.testing.assert_allclose(r.C, top.noise, atol=1e-10 * np.abs(top.noise).max())
    np.testing.assert_allclose(r.G, top.gradient, atol=1e-10 * np.abs(top.gradient).max())


def test_resummed_form_on_the_top_subspace_matches_its_series():
    """Confined to the subspace, the resummed value's Taylor expansion at eta = 0 is the
    order-2 series of SGD on the restricted landscape, evaluated on its statistics."""
    net = mlp_net(n=10, seed=2, small=True)
    r = restrict(net, top_subspace(net, 2), degree=2)
    schedule = symsgd.sgd(3, batch=1)
    resummed = symsgd.resummed_loss(schedule, 2, landscape=r)
    kernel = compile_series(symsgd.expected_loss(schedule, 2, method="diagrams"))
    # the difference is O(eta^3): halving eta divides it by about 8
    lr = np.array([0.004, 0.002])
    gap = np.abs(resummed(lr) - kernel(lr, r))
    assert gap[0] > 0 and 5 < gap[0] / gap[1] < 11


def test_lyapunov_on_the_restricted_landscape():
    net = mlp_net(n=10, seed=3, small=True)
    r = restrict(net, top_subspace(net, 3), degree=2)
    lr = 0.5 / float(np.linalg.eigvalsh(r.H).max())
    sigma = stationary_covariance(SGD(lr), r.H, r.C)
    a = np.eye(3) - lr * r.H
    np.testing.assert_allclose(sigma, discrete_lyapunov(a, lr ** 2 * r.C),
                               atol=1e-10 * np.abs(sigma).max())


def test_bad_input():
    net = mlp_net(n=4, seed=0, small=True)
    with pytest.raises(InputTypeError):
        restrict(net, "np.eye(13)")
    with pytest.raises(InputTypeError):
        restrict("net", np.eye(13))
    with pytest.raises(ShapeError):
        restrict(net, np.eye(3))
    with pytest.raises(NonFiniteError):
        restrict(net, np.full((13, 2), np.nan))
    with pytest.raises(RangeError):
        restrict(net, np.eye(13)[:, :2], degree=0)
    with pytest.raises(InputTypeError):
        restrict(net, np.eye(13)[:, :2], degree="3")
    r = restrict(net, np.eye(13)[:, :2], degree=1)
    with pytest.raises(OrderError, match="degree=1"):
        r.cumulant(2)
    with pytest.raises(OrderError):
        symsgd.resummed_loss(symsgd.sgd(2), 1, landscape=r)(0.1)
    with pytest.raises(LandscapeError, match="exact form"):
        symsgd.resummed_loss(symsgd.sgd(2), 1, landscape=r).expr
    with pytest.raises(ShapeError):
        Restricted(np.eye(2), (np.zeros(3), np.zeros((3, 3))))
    with pytest.raises(NonFiniteError):
        Restricted(np.eye(2), (np.zeros(3), np.full((3, 2), np.inf)))
    # the arrays are read-only: the statistics cannot be changed behind the cache's back
    with pytest.raises(ValueError):
        r.derivatives[1][0, 0] = 1.0
