"""Compiled kernels (symsgd.codegen, Series.lambdify) against exact evaluation (Series.evaluate)."""

import functools

import numpy as np
import pytest
import sympy
from sympy.stats import Exponential, Normal

from symsgd.errors import (BackendError, InputTypeError, LandscapeError, MissingStatisticError,
                           NonFiniteError, RangeError, ScheduleError, ShapeError, SymbolError)
from symsgd.expansion import expected_displacement, expected_loss
from symsgd.landscape import Landscape
from symsgd.schedule import gd, sgd
from symsgd.series import Series

try:  # torch is an optional extra: the numpy kernels are tested without it
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

N, B, E = sympy.symbols("N B E", integer=True, positive=True)
a, b, c, x, y = sympy.symbols("a b c x y")


@functools.lru_cache(maxsize=None)
def landscape():
    loss = (a**2 * b / 3 + (a - x)**2 / 2 + x * y * b**2 / 2 + a * b * c * y + b**3 * x / 5
            + x**2 * a**3 / 7 + c**2 * (1 + x) / 2 + c**4 / 12)
    return Landscape(loss, (a, b, c), (x, y), init=[sympy.Rational(1, 2), -1, 1],
                     distribution={x: Exponential("X", 1) - 1, y: Normal("Y", 0, 1)})


@functools.lru_cache(maxsize=None)
def symbolic(order=3, measure="test", moment=1):
    return expected_loss(sgd(N, batch=B), order, method="direct", measure=measure, moment=moment)


def test_numpy_kernel_matches_exact_evaluation():
    series = symbolic()
    kernel = series.lambdify()
    assert series.lambdify() is kernel
    L = landscape()
    stats = L.statistics(kernel.statistics)
    etas = np.array([0.0, 0.01, 0.1, 0.3])
    got = kernel(etas, stats, N=12, B=3)
    exact = series.evaluate(L, N=12, B=3)
    want = np.array([float(exact(sympy.Rational(str(e)))) for e in etas])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # the landscape's cumulant method works as ``stats`` too
    np.testing.assert_allclose(kernel(etas, L.cumulant, N=12, B=3), want, rtol=1e-12)


@needs_torch
def test_torch_kernel_matches_and_is_differentiable():
    series = symbolic()
    kn, kt = series.lambdify(backend="numpy"), series.lambdify(backend="torch")
    L = landscape()
    stats = L.statistics(kn.statistics)
    tstats = {k: torch.tensor(v, dtype=torch.float64, device="cpu", requires_grad=True)
              for k, v in stats.items()}
    eta = torch.tensor([0.05, 0.2], dtype=torch.float64, requires_grad=True)
    out = kt(eta, tstats, N=12, B=3)
    np.testing.assert_allclose(out.detach().numpy(), kn(np.array([0.05, 0.2]), stats, N=12, B=3),
                               rtol=1e-12)
    out.sum().backward()
    # d/deta of sum_k c_k eta^k, from the exact coefficients
    exact = series.evaluate(L, N=12, B=3)
    e = sympy.Symbol("e")
    d = sympy.diff(exact.removeO().subs(exact.eta, e), e)
    want = [float(d.subs(e, sympy.Rational(v))) for v in ("0.05", "0.2")]
    np.testing.assert_allclose(eta.grad.numpy(), want, rtol=1e-12)
    assert tstats[(1,)].grad is not None and torch.isfinite(tstats[(1,)].grad).all()


def test_metric_kernel_matches_exact_evaluation():
    series = symbolic(2)
    L = landscape()
    metric = sympy.Matrix([[1, 0, sympy.Rational(1, 4)], [0, 2, 0], [sympy.Rational(1, 4), 0, 1]])
    exact = series.evaluate(L, metric=sympy.ImmutableDenseNDimArray(metric), N=8, B=2)
    kernel = series.lambdify()
    got = kernel(1.0, L.statistics(kernel.statistics), metric=np.array(metric, dtype=float),
                 N=8, B=2)
    assert got == pytest.approx(float(exact(1)), rel=1e-12)
    # with the metric equal to eta * I, the scalar-eta series at eta
    got = kernel(1.0, L.statistics(kernel.statistics), metric=0.1 * np.eye(3), N=8, B=2)
    assert got == pytest.approx(float(series.evaluate(L, N=8, B=2)(sympy.Rational(1, 10))),
                                rel=1e-12)


def test_exact_evaluation_agrees_with_the_exact_engine():
    L = landscape()
    direct = symbolic(2).evaluate(L, N=4, B=2)
    exact = expected_loss(sgd(4, batch=2), 2, landscape=L)
    assert direct.coefficients == exact.coefficients


def test_vector_and_second_moment_kernels():
    L = landscape()
    disp = expected_displacement(gd(N, steps=2), 2, method="direct")
    kernel = disp.lambdify()
    got = kernel(np.array([0.1, 0.2]), L.statistics(kernel.statistics), N=3)
    exact = expected_displacement(gd(3, steps=2), 2, landscape=L)
    want = np.array([[float(v) for v in exact(sympy.Rational(e, 10))] for e in (1, 2)])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    second = symbolic(2, "test", 2)
    kernel = second.lambdify(backend="numpy" if torch is None else "torch")
    got = kernel(0.1, L.statistics(kernel.statistics), N=4, B=2)
    exact = expected_loss(sgd(4, batch=2), 2, landscape=L, moment=2)
    assert float(got) == pytest.approx(float(exact(sympy.Rational(1, 10))), rel=1e-12)
    variance = second - symbolic(2).times(symbolic(2))
    assert variance.coeff(0) == 0


def test_kernel_errors():
    series = symbolic(2)
    kernel = series.lambdify()
    stats = landscape().statistics(kernel.statistics)
    bad = dict(stats)
    bad[(2,)] = np.ones((2, 2))
    with pytest.raises(ShapeError):
        kernel(0.1, bad, N=4, B=2)
    bad[(2,)] = np.ones((3, 2))
    with pytest.raises(ShapeError):
        kernel(0.1, bad, N=4, B=2)
    with pytest.raises(ShapeError):
        kernel(0.1, stats, metric=np.eye(2), N=4, B=2)
    bad = dict(stats)
    bad[(1,)] = np.array([np.nan, 0.0, 0.0])
    with pytest.raises(NonFiniteError):
        kernel(0.1, bad, N=4, B=2)
    with pytest.raises(NonFiniteError):
        kernel(np.inf, stats, N=4, B=2)
    with pytest.raises(SymbolError, match=r"missing \['B'\]"):
        kernel(0.1, stats, N=4)
    with pytest.raises(MissingStatisticError, match=r"\(2,\) \(H\)") as missing:
        kernel(0.1, {k: v for k, v in stats.items() if k != (2,)}, N=4, B=2)
    assert isinstance(missing.value, KeyError)
    with pytest.raises(BackendError, match="jax"):
        series.lambdify(backend="jax")
    for dtype in ("float16", "int64", object) + (() if torch is None else (torch.complex64,)):
        with pytest.raises(BackendError):
            series.lambdify(dtype=dtype)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("torch", marks=needs_torch)])
def test_float32_kernels(backend):
    """``dtype='float32'`` computes in float32 (not a final cast), to float32 accuracy."""
    series = symbolic(2)
    k64, k32 = series.lambdify(backend=backend), series.lambdify(backend=backend, dtype="float32")
    assert k32 is not k64 and k64.dtype == np.float64 and k32.dtype == np.float32
    assert series.lambdify(backend=backend, dtype=np.float32) is k32
    if torch is not None:
        assert series.lambdify(backend=backend, dtype=torch.float32) is k32
    L = landscape()
    stats = L.statistics(k64.statistics)
    exact = series.evaluate(L, N=8, B=2)
    etas = [sympy.Rational(1, 100), sympy.Rational(1, 5)]
    want = np.array([float(exact(e)) for e in etas])
    got64 = k64(np.array([float(e) for e in etas]), stats, N=8, B=2)
    got32 = k32(np.array([float(e) for e in etas]), stats, N=8, B=2)
    if backend == "torch":
        assert got64.dtype == torch.float64 and got32.dtype == torch.float32
        got64, got32 = got64.numpy(), got32.numpy()
    assert got64.dtype == np.float64 and got32.dtype == np.float32
    np.testing.assert_allclose(got64, want, rtol=1e-12)
    np.testing.assert_allclose(got32, want, rtol=1e-5)
    assert np.any(got32.astype(np.float64) != got64)


@functools.lru_cache(maxsize=None)
def one_dimensional():
    w, z = sympy.symbols("w z")
    return Landscape((w - z)**2 / 2 + w**3 * z / 3 + w**4 / 12, w, z, init=[sympy.Rational(1, 2)],
                     distribution={z: Exponential("Z", 1) - 1})


def test_a_cached_kernel_keeps_no_per_call_state():
    """One vector kernel serves statistics of dimensions 3, 1, 3 in turn; calls change nothing."""
    kernel = expected_displacement(gd(N, steps=2), 2, method="direct").lambdify()
    before = dict(vars(kernel))
    for L in (landscape(), one_dimensional(), landscape()):
        got = kernel(np.array([0.1, 0.2]), L.statistics(kernel.statistics), N=3)
        exact = expected_displacement(gd(3, steps=2), 2, landscape=L)
        want = np.array([[float(v) for v in exact(sympy.Rational(e, 10))] for e in (1, 2)])
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert vars(kernel).keys() == before.keys()
        assert all(vars(kernel)[k] is v for k, v in before.items())


def test_kernel_checks_sizes_before_computing():
    """Sizes meet the symbols' assumptions and the recorded schedule's rules (issue 9)."""
    series = symbolic(2)
    kernel = series.lambdify()
    stats = landscape().statistics(kernel.statistics)
    for sizes, error in [(dict(N=-10, B=2), RangeError), (dict(N=4, B=8), ScheduleError),
                         (dict(N=6, B=4), ScheduleError), (dict(N=0, B=1), RangeError),
                         (dict(N="10", B=2), InputTypeError), (dict(N=10.0, B=2), InputTypeError),
                         (dict(N=N, B=2), InputTypeError), (dict(N=4, B=2, M=1), SymbolError)]:
        with pytest.raises(error):
            kernel(0.1, stats, **sizes)
    with pytest.raises(LandscapeError):
        kernel(0.1, None, N=4, B=2)
    with pytest.raises(InputTypeError):
        kernel(0.1, "stats", N=4, B=2)
    with pytest.raises(TypeError):  # the metric is keyword-only
        kernel(0.1, stats, None, N=4, B=2)
    want = float(series.evaluate(landscape(), N=4, B=2)(sympy.Rational(1, 10)))
    assert float(kernel(0.1, stats, N=np.int64(4), B=sympy.Integer(2))) == pytest.approx(want,
                                                                                         rel=1e-12)
    # the same coefficients without a schedule: an equal series, but its own kernel, which
    # checks only the symbols' assumptions
    bare = Series(series.coefficients)
    assert bare == series and bare.lambdify() is not kernel
    assert np.isfinite(float(bare.lambdify()(0.1, stats, N=4, B=3)))
    with pytest.raises(RangeError):
        bare.lambdify()(0.1, stats, N=4, B=-3)


def test_kernel_accepts_and_checks_schedule_sizes_the_coefficients_lack():
    series = expected_loss(gd(N, steps=E), 1, method="direct")
    kernel = series.lambdify()
    assert kernel.symbols == ("E",)   # -E [G G]: full-batch steps do not depend on N
    stats = landscape().statistics(kernel.statistics)
    assert float(kernel(0.1, stats, N=3, E=2)) == float(kernel(0.1, stats, E=2))
    with pytest.raises(RangeError):
        kernel(0.1, stats, N=0, E=2)
    with pytest.raises(SymbolError, match="accepts"):
        kernel(0.1, stats, N=3)
