"""Landscapes, data distributions and the zoo against independent computations.

* Cumulants (Moebius inversion in the code under test) against centred
  moments computed here: derivatives by ``sympy.diff``, expectations from
  moment tables written in this file (or ``sympy.stats.E``), then
  ``E[(g-G)(g-G)]``, ``E[(g-G)^3]``, ... directly.
* Finite datasets against numpy: per-sample gradients written out by hand,
  ``np.mean`` / ``np.cov(bias=True)`` / einsum.
* The zoo against values derived by hand from each documented loss.
"""

import fractions
import itertools

import numpy as np
import pytest
import sympy
import sympy.stats as sstats
from hypothesis import given, settings
from hypothesis import strategies as st
from sympy.stats import (Bernoulli, Cauchy, Exponential, MultivariateNormal, Normal, Pareto,
                         StudentT, Uniform)

from symsgd import (BackendError, Dataset, Landscape, LandscapeError, MomentError,
                    NonFiniteError, NotPolynomialError, RandomVariables, ShapeError, StandardNormal,
                    SymsgdError)
from symsgd.errors import InputTypeError
from symsgd.landscapes import (gauss, helix, linear_regression, mean_estimation,
                               shifting_valleys, valley_of_death)

R = sympy.Rational
a, b, x, y = sympy.symbols("a b x y")
u, e = sympy.symbols("u e")           # stand-ins for the random symbols of a mapping


# ------------------------------------------------------------ moment tables
def normal_moment(k):
    return sympy.S.Zero if k % 2 else sympy.factorial2(k - 1)


def exponential_moment(rate):
    return lambda k: sympy.factorial(k) / sympy.Integer(rate)**k


def uniform_moment(lo, hi):
    return lambda k: sympy.Integer(hi**(k + 1) - lo**(k + 1)) / ((k + 1) * (hi - lo))


def bernoulli_moment(p):
    return lambda k: sympy.S.One if k == 0 else p


def table_expect(expr, gens, moments):
    """E[expr] for independent ``gens`` with ``E[g_i^k] = moments[i](k)``; expr polynomial in gens."""
    poly = sympy.Poly(sympy.expand(expr), *gens)
    return sympy.expand(sum(c * sympy.Mul(*(m(k) for m, k in zip(moments, mon)))
                            for mon, c in poly.terms()))


def to_list(array):
    return array.tolist() if hasattr(array, "tolist") else array


def same(actual, expected):
    """Exact entrywise equality of a SymPy array with a nested list."""
    act = np.array(to_list(actual), dtype=object)
    exp = np.array(to_list(expected), dtype=object)
    assert act.shape == exp.shape, (act.shape, exp.shape)
    for got, want in zip(act.flat, exp.flat):
        assert sympy.simplify(sympy.sympify(got) - sympy.sympify(want)) == 0, (got, want)


# ----------------------------------------------- Moebius vs centred moments
LOSS_1 = a**2 * x**2 / 2 + a * b * x**3 / 3 + b**3 * x / 3 + (a - b)**2 * x / 2 + a * b
LOSS_2 = (a**2 * x * y / 2 + a * b * x**2 + a * b * y**2 / 3 + a**3 * x / 3
          + b**2 * x * y**2 / 2 + (a - b)**2 / 2)
INIT = (R(1, 2), -1)

# name: (loss, data, distribution, expectation written here, check the 4th cumulant too)
# (sympy.stats gets Uniform moments from series of the MGF: slow at high orders.)
CASES = {
    "standard normal (default)": (
        LOSS_2, (x, y), None,
        lambda f: table_expect(f, (x, y), (normal_moment, normal_moment)), True),
    "Exponential": (
        LOSS_1, (x,), Exponential("X", 2),
        lambda f: table_expect(f, (x,), (exponential_moment(2),)), True),
    "Uniform": (
        LOSS_1, (x,), Uniform("U", -1, 2),
        lambda f: table_expect(f, (x,), (uniform_moment(-1, 2),)), False),
    "mapping, correlated": (
        LOSS_2, (x, y),
        {x: Exponential("X1", 1), y: 2 * Exponential("X1", 1) + Bernoulli("E", R(1, 3))},
        lambda f: table_expect(sympy.sympify(f).xreplace({x: u, y: 2 * u + e}), (u, e),
                               (exponential_moment(1), bernoulli_moment(R(1, 3)))), True),
}


def centred_reference(loss, expect, order4):
    """G, H, J and centred moments of the derivatives at INIT, computed directly."""
    params = (a, b)
    at = dict(zip(params, INIT))
    idx = range(2)
    g = [sympy.diff(loss, p).xreplace(at) for p in params]
    h = [[sympy.diff(loss, p, q).xreplace(at) for q in params] for p in params]
    test = expect(loss)
    ref = {"test": test,
           "G": [expect(gi) for gi in g],
           "H": [[expect(hij) for hij in row] for row in h],
           # differentiating E l_x(theta) is a second route to E grad^k l_x
           "G'": [sympy.diff(test, p).xreplace(at) for p in params],
           "H'": [[sympy.diff(test, p, q).xreplace(at) for q in params] for p in params],
           "J'": [[[sympy.diff(test, p, q, r).xreplace(at) for r in params] for q in params]
                  for p in params]}
    c = [g[i] - ref["G"][i] for i in idx]
    d = [[h[i][j] - ref["H"][i][j] for j in idx] for i in idx]
    l0 = loss.xreplace(at)
    m2 = [[expect(c[i] * c[j]) for j in idx] for i in idx]
    ref["C"] = m2
    ref["S"] = [[[expect(c[i] * c[j] * c[k]) for k in idx] for j in idx] for i in idx]
    if order4:
        ref["k4"] = [[[[expect(c[i] * c[j] * c[k] * c[m])
                        - m2[i][j] * m2[k][m] - m2[i][k] * m2[j][m] - m2[i][m] * m2[j][k]
                        for m in idx] for k in idx] for j in idx] for i in idx]
    ref["k12"] = [[[expect(c[i] * d[j][k]) for k in idx] for j in idx] for i in idx]
    ref["k112"] = [[[[expect(c[i] * c[j] * d[k][m]) for m in idx] for k in idx] for j in idx]
                   for i in idx]
    ref["k01"] = [expect((l0 - expect(l0)) * c[i]) for i in idx]
    ref["m11"] = [[expect(g[i] * g[j]) for j in idx] for i in idx]
    return ref


@pytest.mark.parametrize("case", list(CASES))
def test_cumulants_equal_centred_moments(case):
    loss, data, dist, expect, order4 = CASES[case]
    L = Landscape(loss, (a, b), data, INIT, distribution=dist)
    ref = centred_reference(loss, expect, order4)
    assert sympy.expand(L.test_loss - ref["test"]) == 0
    same(L.G, ref["G"])
    same(L.G, ref["G'"])
    same(L.H, ref["H"])
    same(L.H, ref["H'"])
    same(L.J, ref["J'"])
    same(L.C, ref["C"])
    same(L.S, ref["S"])
    same(L.cumulant(1, 1), ref["C"])
    same(L.cumulant(1, 1, 1), ref["S"])
    if order4:
        same(L.cumulant(1, 1, 1, 1), ref["k4"])
    same(L.cumulant(1, 2), ref["k12"])
    same(L.cumulant(1, 1, 2), ref["k112"])
    same(L.cumulant(0, 1), ref["k01"])
    same(L.moment(1, 1), ref["m11"])
    # The noise is not Gaussian in any case but the first, so S is not identically zero.
    if case != "standard normal (default)":
        assert any(v != 0 for v in np.array(L.S.tolist()).flat)


def test_cumulant_axes_are_grouped_by_argument():
    """kappa(grad^2 l, grad l)[j,k,i] == kappa(grad l, grad^2 l)[i,j,k]."""
    loss, data, dist, _, _ = CASES["Exponential"]
    L = Landscape(loss, (a, b), data, INIT, distribution=dist)
    k12, k21 = L.cumulant(1, 2), L.cumulant(2, 1)
    assert k12.shape == (2, 2, 2) and k21.shape == (2, 2, 2)
    for i, j, k in itertools.product(range(2), repeat=3):
        assert k21[j, k, i] == k12[i, j, k]
    assert L.cumulant(0).shape == () and L.cumulant(0, 0).shape == ()


def test_gauss_third_cumulant_by_sympy_stats():
    """GAUSS: the third central moment of the gradient at h = 0 is -1."""
    h, xs = sympy.symbols("h x", real=True)
    X = Normal("Xg", 0, 1)
    grad = sympy.diff((h + xs**2 * sympy.exp(-h)) / 2, h).subs(h, 0).subs(xs, X)
    mean = sstats.E(grad)
    third = sstats.E(sympy.expand((grad - mean)**3))
    second = sstats.E(sympy.expand((grad - mean)**2))
    assert (mean, second, third) == (0, R(1, 2), -1)
    L = gauss()
    same(L.G, [mean])
    same(L.C, [[second]])
    same(L.S, [[[third]]])
    # g = (1 - x^2)/2 and x^2 is chi-squared(1) with cumulants 2^(n-1) (n-1)!:
    # kappa_4(g) = 48 / 2^4 = 3.
    same(L.cumulant(1, 1, 1, 1), [[[[3]]]])
    same(L.H, [[R(1, 2)]])            # E[x^2 e^{-h}/2] at h = 0
    same(L.J, [[[-R(1, 2)]]])         # E[-x^2 e^{-h}/2]
    assert sympy.simplify(L.test_loss - (h + sympy.exp(-h)) / 2) == 0
    assert L.name == "GAUSS"


# ---------------------------------------------------------------- datasets
DS_POINTS = [(1, 2), (fractions.Fraction(-1, 2), 0), (3, -1), (0, R(1, 3)), (2, 2)]
DS_LOSS = (a * x + b - y)**2 / 2 + a**2 * b * x**3 / 3 + sympy.exp(a * y) / 4


def ds_numpy(points, theta):
    """Per-sample gradient, Hessian and third derivative of DS_LOSS, written by hand."""
    P = np.array([[float(v) for v in p] for p in points])
    xs, ys = P[:, 0], P[:, 1]
    A, B = theta
    r = A * xs + B - ys
    ex = np.exp(A * ys) / 4
    grad = np.stack([r * xs + 2 * A * B * xs**3 / 3 + ys * ex, r + A**2 * xs**3 / 3], axis=1)
    haa = xs**2 + 2 * B * xs**3 / 3 + ys**2 * ex
    hab = xs + 2 * A * xs**3 / 3
    hess = np.stack([np.stack([haa, hab], 1), np.stack([hab, np.ones_like(xs)], 1)], 1)
    third = np.zeros((len(xs), 2, 2, 2))
    third[:, 0, 0, 0] = ys**3 * ex
    for ijk in ((0, 0, 1), (0, 1, 0), (1, 0, 0)):
        third[(slice(None),) + ijk] = 2 * xs**3 / 3
    loss = r**2 / 2 + A**2 * B * xs**3 / 3 + ex
    return loss, grad, hess, third


def as_float(array):
    return np.array(to_list(array), dtype=float)


def test_dataset_statistics_match_numpy():
    L = Landscape(DS_LOSS, (a, b), (x, y), INIT, distribution=Dataset(DS_POINTS))
    loss, grad, hess, third = ds_numpy(DS_POINTS, [float(v) for v in INIT])
    n = len(DS_POINTS)
    centred, dh = grad - grad.mean(0), hess - hess.mean(0)
    np.testing.assert_allclose(as_float(L.G), grad.mean(0), rtol=1e-12)
    np.testing.assert_allclose(as_float(L.H), hess.mean(0), rtol=1e-12)
    np.testing.assert_allclose(as_float(L.J), third.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(as_float(L.C), np.cov(grad.T, bias=True), rtol=1e-12)
    np.testing.assert_allclose(as_float(L.S), np.einsum("ni,nj,nk->ijk", centred, centred,
                                                        centred) / n, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(as_float(L.cumulant(1, 2)),
                               np.einsum("ni,njk->ijk", centred, dh) / n, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(float(L.cumulant(0)[()]), loss.mean(), rtol=1e-12)
    # The test loss as a function of theta: the mean per-sample loss anywhere.
    theta = (-0.7, 1.3)
    value = float(L.test_loss.subs({a: theta[0], b: theta[1]}))
    np.testing.assert_allclose(value, ds_numpy(DS_POINTS, theta)[0].mean(), rtol=1e-12)


def test_dataset_expectations_are_exact():
    points = [(1, 2), (fractions.Fraction(-1, 2), 0), (0.25, -1)]   # 0.25 is read as 1/4
    loss = (a * x + b - y)**2 / 2 + a * b * x**3
    L = Landscape(loss, (a, b), (x, y), (1, 0), distribution=Dataset(points))
    for entry in list(np.array(L.C.tolist()).flat) + list(np.array(L.S.tolist()).flat):
        assert isinstance(entry, sympy.Rational)
    xs = [sympy.Integer(1), R(-1, 2), R(1, 4)]
    ys = [2, 0, -1]
    # grad at (a, b) = (1, 0): ((x - y) x + b x^3, (x - y) + a x^3).
    grads = [[(xi - yi) * xi, xi - yi + xi**3] for xi, yi in zip(xs, ys)]
    G = [sum(g[i] for g in grads) / 3 for i in range(2)]
    same(L.G, G)
    same(L.C, [[sum((g[i] - G[i]) * (g[j] - G[j]) for g in grads) / 3 for j in range(2)]
               for i in range(2)])
    assert Dataset([0.5]).points == ((R(1, 2),),)
    assert Dataset([[1, 2], [3, 4]]).dim == 2


def poly_loss_numpy(points, theta):
    P = np.array(points, dtype=float)
    xs, ys = P[:, 0], P[:, 1]
    A, B = theta
    r = A * xs + B - ys
    return np.stack([r * xs + B * xs**2, r + A * xs**2 + 3 * B**2 * ys], axis=1)


POLY_LOSS = (a * x + b - y)**2 / 2 + a * b * x**2 + b**3 * y
point_lists = st.lists(st.tuples(st.integers(-3, 3), st.integers(-3, 3)), min_size=1, max_size=5)


@settings(max_examples=15, deadline=None)
@given(point_lists, st.sampled_from([(0, 0), (1, -1), (2, 1)]))
def test_random_dataset_statistics_match_numpy(points, init):
    L = Landscape(POLY_LOSS, (a, b), (x, y), init, distribution=Dataset(points))
    grad = poly_loss_numpy(points, init)
    c = grad - grad.mean(0)
    np.testing.assert_allclose(as_float(L.G), grad.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(as_float(L.C), np.cov(grad.T, bias=True), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(as_float(L.S), np.einsum("ni,nj,nk->ijk", c, c, c) / len(points),
                               rtol=1e-12, atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(-3, 3)), min_size=2, max_size=5)
       .flatmap(lambda pts: st.tuples(st.just(pts), st.permutations(range(len(pts))))))
def test_relabelling_or_duplicating_points_leaves_statistics_unchanged(case):
    points, perm = case
    base = Landscape(POLY_LOSS, (a, b), (x, y), (1, -1), distribution=Dataset(points))
    relabelled = Landscape(POLY_LOSS, (a, b), (x, y), (1, -1),
                           distribution=Dataset([points[i] for i in perm]))
    doubled = Landscape(POLY_LOSS, (a, b), (x, y), (1, -1), distribution=Dataset(points * 2))
    for other in (relabelled, doubled):
        assert sympy.expand(other.test_loss - base.test_loss) == 0
        for stat in ("G", "H", "C", "S"):
            assert getattr(other, stat) == getattr(base, stat), stat


def test_dataset_with_one_data_symbol_and_sampling():
    w = sympy.Symbol("w")
    L = Landscape((w - x)**2 / 2, w, x, [0], distribution=Dataset([0, 1, 3]))
    # l = (w - x)^2 / 2: G = w0 - mean x, C = variance of x.
    same(L.G, [-R(4, 3)])
    same(L.C, [[R(10, 3) - R(16, 9)]])
    draws = L.distribution.sample(np.random.default_rng(0), (4, 500), L.data)
    assert draws.shape == (4, 500, 1) and set(np.unique(draws)) == {0.0, 1.0, 3.0}
    normal = StandardNormal().sample(np.random.default_rng(0), (3,), (x, y))
    assert normal.shape == (3, 2) and normal.dtype == np.float64


def test_random_variables_sampling_keeps_the_dependence():
    X, E = Exponential("Xs", 2), Bernoulli("Es", R(1, 3))
    law = RandomVariables({x: X, y: 2 * X + E})
    draws = law.sample(np.random.default_rng(3), (2000,), (x, y))
    assert draws.shape == (2000, 2)
    residual = draws[:, 1] - 2 * draws[:, 0]
    assert np.allclose(residual * (1 - residual), 0)               # E is 0 or 1
    assert abs(residual.mean() - 1 / 3) < 5 * np.sqrt(2 / 9 / 2000)
    assert abs(draws[:, 0].mean() - 1 / 2) < 5 * 0.5 / np.sqrt(2000)
    assert (draws[:, 0] > 0).all()


# ---------------------------------------------------- missing moments
W = sympy.Symbol("w")
SIMPLE = (W - x)**2 / 2 + W**3 * x


@pytest.mark.parametrize("dist, ok, fails", [
    (Cauchy("Xc", 0, 1), (), ("G", "test_loss")),
    ({x: Cauchy("Xm", 0, 1)}, (), ("G",)),
    (StudentT("T1", 1), (), ("G",)),
    (Pareto("P2", 1, 2), ("G",), ("C",)),         # alpha = 2: mean 2, variance infinite
    (StudentT("T3", 3), ("G", "C"), ("S",)),      # variance 3, no third moment
    (Pareto("P", 2, 1), (), ("G",)),              # alpha = 1: infinite mean
])
def test_missing_moments_raise_moment_error(dist, ok, fails):
    L = Landscape(SIMPLE, W, x, [1], distribution=dist)
    for stat in ok:
        getattr(L, stat)
    for stat in fails:
        with pytest.raises(MomentError, match="no finite moment"):
            getattr(L, stat)


def test_student_t_finite_moments_are_right():
    """E[T] = 0 and Var T = nu / (nu - 2) for nu = 3; the gradient at w = 1 is w - x + 3 w^2 x."""
    L = Landscape(SIMPLE, W, x, [1], distribution=StudentT("T3b", 3))
    assert sympy.simplify(L.G[0] - 1) == 0
    assert abs(float(L.C[0, 0]) - 2**2 * 3) < 1e-12        # (3 - 1)^2 Var T


def test_non_polynomial_expectations_raise_moment_error():
    with pytest.raises(MomentError, match="not a polynomial"):
        Landscape(sympy.exp(W * x), W, x, [1]).test_loss
    with pytest.raises(MomentError, match="not a polynomial"):
        Landscape(SIMPLE, W, x, [1], distribution={x: sympy.exp(Normal("Xe", 0, 1))}).G
    # A Dataset has exact expectations of any expression.
    L = Landscape(sympy.exp(W * x), W, x, [1], distribution=Dataset([0, 2]))
    assert sympy.simplify(L.test_loss - (1 + sympy.exp(2 * W)) / 2) == 0


# ------------------------------------------------------------- bad input
def landscape(**changes):
    kwargs = dict(loss=(W - x)**2 / 2, params=W, data=x, init=[0])
    kwargs.update(changes)
    return Landscape(**kwargs)


@pytest.mark.parametrize("changes, error, message", [
    ({"params": (W, a), "loss": (W - x)**2 + a, "init": {W: 0}}, LandscapeError, "no value"),
    ({"init": {}}, LandscapeError, "no value"),
    ({"init": {W: 0, a: 1}}, LandscapeError, "not parameters"),
    ({"init": [0, 1]}, LandscapeError, "2 values for 1"),
    ({"init": []}, LandscapeError, "0 values for 1"),
    ({"data": (x, y)}, LandscapeError, "do not appear in the loss"),
    ({"data": y}, LandscapeError, "do not appear in the loss"),
    ({"loss": (W - x)**2 * 0.5}, InputTypeError, "floats"),
    ({"init": [0.5]}, InputTypeError, "float"),
    ({"init": [np.float64(0.5)]}, InputTypeError, "float"),
    ({"init": 0.5}, InputTypeError, "float"),
    ({"init": [True]}, InputTypeError, "SymPy expression or a number"),
    ({"init": ["0"]}, InputTypeError, "never parses strings"),
    ({"init": "0"}, InputTypeError, "init is a string"),
    ({"init": None}, InputTypeError, "SymPy expression or a number"),
    ({"init": [[0]]}, InputTypeError, "SymPy expression or a number"),
    ({"init": [sympy.nan]}, NonFiniteError, "not finite"),
    ({"init": [sympy.oo]}, NonFiniteError, "not finite"),
    ({"loss": (W - x)**2 + sympy.zoo * W}, NonFiniteError, "not finite"),
    ({"init": {W: "0"}}, InputTypeError, "never parses strings"),
    ({"loss": "(w - x)**2 / 2"}, InputTypeError, "loss is a string"),
    ({"loss": b"(w - x)**2 / 2"}, InputTypeError, "loss is a string"),
    ({"loss": 3}, InputTypeError, "got the number 3"),
    ({"loss": sympy.true}, InputTypeError, "SymPy expression"),
    ({"loss": [(W - x)**2]}, InputTypeError, "SymPy expression"),
    ({"loss": sympy.Matrix([(W - x)**2])}, InputTypeError, "SymPy expression"),
    ({"name": 3}, InputTypeError, "name must be a string"),
    ({"params": (W, W), "init": [0, 0]}, LandscapeError, "repeat"),
    ({"data": (x, x)}, LandscapeError, "repeat"),
    ({"params": (W, x), "init": [0, 0]}, LandscapeError, "both parameter and data"),
    ({"params": "w"}, InputTypeError, "params is a string"),
    ({"params": ["w"]}, InputTypeError, "params is a string"),
    ({"params": 3}, InputTypeError, "Symbol or a sequence"),
    ({"data": "x"}, InputTypeError, "data symbols is a string"),
    ({"params": (), "init": []}, LandscapeError, "must not be empty"),
    ({"data": ()}, LandscapeError, "must not be empty"),
    ({"data": x + 1}, LandscapeError, "must be SymPy Symbols"),
    ({"distribution": "normal"}, InputTypeError, "distribution is a string"),
    ({"distribution": 3}, InputTypeError, "data distribution"),
    ({"loss": (W - x - y)**2, "data": (x, y), "distribution": Normal("Xn", 0, 1)},
     LandscapeError, "one data symbol"),
    ({"loss": (W - x - y)**2, "data": (x, y), "distribution": {x: Normal("Xn", 0, 1)}},
     LandscapeError, "no law"),
    ({"distribution": {W**2: Normal("Xn", 0, 1)}}, LandscapeError, "not a SymPy Symbol"),
    ({"distribution": {x: 1.5}}, InputTypeError, "float"),
    ({"distribution": {x: "Normal('X', 0, 1)"}}, InputTypeError, "never parses strings"),
    ({"distribution": {"x": Normal("Xn", 0, 1)}}, InputTypeError, "never parses strings"),
    ({"distribution": {x: MultivariateNormal("M", [0, 0], [[1, 0], [0, 1]])[0]}},
     LandscapeError, "single-variable"),
    ({"loss": (W - x - y)**2, "data": (x, y), "distribution": Dataset([1, 2])},
     LandscapeError, "coordinates"),
])
def test_bad_input_raises_typed_errors(changes, error, message):
    with pytest.raises(error, match=message):
        landscape(**changes)


def test_bad_distributions_raise_typed_errors():
    with pytest.raises(LandscapeError, match="at least one point"):
        Dataset([])
    with pytest.raises(InputTypeError, match="never parses strings"):
        Dataset(["a", "b"])
    with pytest.raises(InputTypeError, match="mapping"):
        RandomVariables([(x, Normal("Xq", 0, 1))])
    assert issubclass(LandscapeError, SymsgdError) and issubclass(MomentError, ValueError)


@pytest.mark.parametrize("orders", [(), (-1,), (1.0,), (True,), (1, "1")])
def test_bad_derivative_orders(orders):
    with pytest.raises(ShapeError):
        landscape().cumulant(*orders)
    with pytest.raises(ShapeError):
        landscape().moment(*orders)


def test_exact_and_symbolic_initializations():
    L = landscape(init=[fractions.Fraction(1, 3)])
    assert L.init == (R(1, 3),) and isinstance(L.init[0], sympy.Rational)
    t0 = sympy.Symbol("t0")
    L = landscape(loss=(W - x)**2 / 2 + W**3 / 3, init={W: t0})
    same(L.G, [t0 + t0**2])
    same(L.H, [[1 + 2 * t0]])
    same(L.C, [[1]])
    assert L.init_map == {W: t0} and L.dim == 1
    assert landscape(init=sympy.Integer(2)).init == (2,)


def test_numeric_backend_matches_hand_gradient():
    L = shifting_valleys()
    num = L.numeric()
    rng = np.random.default_rng(0)
    theta, xs = rng.normal(size=(7, 2)), rng.normal(size=(7, 1))
    A, B, X = theta[:, 0], theta[:, 1], xs[:, 0]
    np.testing.assert_allclose(num.loss(theta, xs), A + (B - A * X)**2 - A**2, rtol=1e-12)
    np.testing.assert_allclose(num.grad(theta, xs),
                               np.stack([1 - 2 * X * (B - A * X) - 2 * A, 2 * (B - A * X)], 1),
                               rtol=1e-12)
    np.testing.assert_allclose(num.test_loss(theta), A + B**2, rtol=1e-12)
    # Broadcasting: one theta against many samples.
    assert num.grad(theta[:1], xs).shape == (7, 2)
    with pytest.raises(BackendError, match="unknown backend 'jax'"):
        L.numeric(backend="jax")


def test_polynomial_degree():
    assert valley_of_death().polynomial_degree() == 4
    assert shifting_valleys().polynomial_degree() == 2
    assert mean_estimation(l2=True).polynomial_degree() == 3
    for L in (gauss(), helix()):
        with pytest.raises(NotPolynomialError):
            L.polynomial_degree()


# ------------------------------------------------------------------- the zoo
@pytest.mark.parametrize("make, dim", [(gauss, 1), (helix, 3), (mean_estimation, 1),
                                       (shifting_valleys, 2), (valley_of_death, 2),
                                       (linear_regression, 2)])
def test_zoo_builds(make, dim):
    L = make()
    assert isinstance(L, Landscape) and L.dim == dim and len(L.init) == dim
    assert L.G.shape == (dim,) and L.C.shape == (dim, dim)


def test_zoo_helix():
    L = helix()
    uu, vv, zz = L.params
    # At u = v = 0 the mean loss H(theta)/2 has zero gradient; its Hessian at z = 0
    # comes from u^2 + v^2 + u^2.
    same(L.G, [0, 0, 0])
    same(L.H, [[2, 0, 0], [0, 1, 0], [0, 0, 0]])
    hess = uu**2 + vv**2 + (sympy.cos(zz) * uu + sympy.sin(zz) * vv)**2
    assert sympy.simplify(L.test_loss - hess / 2) == 0
    # Noise direction grad S = (cos(-pi/4), sin(-pi/4), 0); C = E[x^2] grad S grad S^T.
    r = 1 / sympy.sqrt(2)
    s_grad = [r, -r, 0]
    same(L.C, [[s_grad[i] * s_grad[j] for j in range(3)] for i in range(3)])
    same(L.S, np.zeros((3, 3, 3), dtype=int).tolist())       # E[x^3] = 0
    # Third derivative of (cos z u + sin z v)^2/2 at 0: only d^3/du dv dz = 1.
    J = np.zeros((3, 3, 3), dtype=int)
    for ijk in itertools.permutations(range(3)):
        J[ijk] = 1
    same(L.J, J.tolist())
    # kappa(grad l, grad^2 l) = E[x^2] grad S (x) grad^2 S, with grad^2 S having
    # d^2/du dz = -sin(-pi/4) = r and d^2/dv dz = cos(-pi/4) = r.
    s_hess = [[0, 0, r], [0, 0, r], [r, r, 0]]
    same(L.cumulant(1, 2), [[[s_grad[i] * s_hess[j][k] for k in range(3)] for j in range(3)]
                            for i in range(3)])


def test_zoo_mean_estimation():
    H, S, t0 = sympy.symbols("H S theta0", positive=True)
    L = mean_estimation(hessian=H, noise=S, init=t0)
    theta = L.params[0]
    # l = H theta^2/2 + x S theta: gradient H theta + x S, so G = H theta0, C = S^2.
    same(L.G, [H * t0])
    same(L.H, [[H]])
    same(L.C, [[S**2]])
    same(L.S, [[[0]]])
    same(L.J, [[[0]]])
    assert sympy.expand(L.test_loss - H * theta**2 / 2) == 0
    N = mean_estimation(hessian=3, noise=2, init=R(1, 2))
    same(N.G, [R(3, 2)])
    same(N.C, [[4]])
    # l2: ((H + lambda) theta + x S, theta^2/2) at (theta0, 0).
    L2 = mean_estimation(hessian=H, noise=S, l2=True, init=t0)
    theta, lam = L2.params
    same(L2.G, [H * t0, t0**2 / 2])
    same(L2.H, [[H, t0], [t0, 0]])
    same(L2.C, [[S**2, 0], [0, 0]])
    assert sympy.expand(L2.test_loss - (H + lam) * theta**2 / 2) == 0
    with pytest.raises(InputTypeError, match="hessian = 0.5 is a float"):
        mean_estimation(hessian=0.5)
    with pytest.raises(InputTypeError, match="noise is a string"):
        mean_estimation(noise="1")
    with pytest.raises(InputTypeError, match="l2 must be True or False"):
        mean_estimation(l2=1)
    with pytest.raises(TypeError, match="positional"):
        mean_estimation(H, S)


def test_zoo_shifting_valleys():
    L = shifting_valleys()
    A, B = L.params
    # grad l_x at (1, 1): (-1 - 2x + 2x^2, 2 - 2x).
    same(L.G, [1, 2])
    same(L.H, [[0, 0], [0, 2]])
    same(L.C, [[12, 4], [4, 4]])          # Var(2x^2 - 2x) = 8 + 4, Cov = 4 Var x
    # Centred: cA = 2p - 2x with p = x^2 - 1, cB = -2x; E p^3 = 8, E p x^2 = 2, odd ones 0.
    same(L.S, [[[112, 32], [32, 16]], [[32, 16], [16, 0]]])
    assert sympy.expand(L.test_loss - (A + B**2)) == 0


def test_zoo_valley_of_death():
    L = valley_of_death()
    A, B = L.params
    # E (B - A x)^4 = B^4 + 6 A^2 B^2 + 3 A^4, and the loss subtracts 3 A^4.
    assert sympy.expand(L.test_loss - (A + 6 * A**2 * B**2 + B**4)) == 0
    same(L.G, [13, 16])                    # (1 + 12 A B^2, 12 A^2 B + 4 B^3)
    same(L.H, [[12, 24], [24, 24]])        # (12 B^2, 24 A B, 12 A^2 + 12 B^2)
    # grad_B = 4 (1 - x)^3: E (1-x)^3 = 4, E (1-x)^6 = 76, so Var = 16 (76 - 16).
    assert L.C[1, 1] == 960


def test_zoo_note_landscapes_start_anywhere():
    # Shifting Valleys at (A, B): grad l_x = (1 - 2 B x + 2 A x^2 - 2 A, 2 B - 2 A x), so
    # G = (1, 2 B), C = [[4 B^2 + 8 A^2, 4 A B], [4 A B, 4 A^2]] (E x^4 = 3).
    L = shifting_valleys(init=(-3, R(1, 2)))
    same(L.G, [1, 1])
    same(L.C, [[73, -6], [-6, 36]])
    # Valley of Death at (0, 1): grad l_x = (1 - 4 x, 4), so G = (1, 4); the Hessian of l_x
    # there is [[12 x^2, -12 x], [-12 x, 12]], so H = diag(12, 12).
    V = valley_of_death(init=(0, 1))
    same(V.G, [1, 4])
    same(V.H, [[12, 0], [0, 12]])
    assert valley_of_death(init=(1, 1)) == valley_of_death()
    with pytest.raises(LandscapeError, match="two entries"):
        shifting_valleys(init=(1, 2, 3))
    with pytest.raises(InputTypeError, match="float"):
        valley_of_death(init=(0.5, 1))
    with pytest.raises(TypeError, match="positional"):
        shifting_valleys((1, 1))


def test_zoo_linear_regression():
    L = linear_regression(dim=2, noise=R(1, 2), true_weights=(2, -1), init=(1, 1))
    w0, w1 = L.params
    # r = d.x + noise eps with d = w_true - w = (1, -2); grad = -r x.
    # G = -d, H = I, C = (|d|^2 + noise^2) I + d d^T.
    same(L.G, [-1, 2])
    same(L.H, [[1, 0], [0, 1]])
    same(L.C, [[5 + R(1, 4) + 1, -2], [-2, 5 + R(1, 4) + 4]])
    same(L.J, np.zeros((2, 2, 2), dtype=int).tolist())
    assert sympy.expand(L.test_loss - ((w0 - 2)**2 + (w1 + 1)**2 + R(1, 4)) / 2) == 0
    # S from a moment table over (x0, x1, eps).
    x0, x1, ep = sympy.symbols("x0 x1 ep")
    r = x0 - 2 * x1 + ep / 2
    c = [-r * x0 + 1, -r * x1 - 2]
    gens, moments = (x0, x1, ep), (normal_moment,) * 3
    same(L.S, [[[table_expect(c[i] * c[j] * c[k], gens, moments) for k in range(2)]
                for j in range(2)] for i in range(2)])
    default = linear_regression()
    same(default.G, [-1, -1])
    same(default.C, [[4, 1], [1, 4]])
    same(linear_regression(dim=1).C, [[3]])


@pytest.mark.parametrize("kwargs, error, message", [
    ({"dim": 0}, LandscapeError, "positive integer"),
    ({"dim": True}, LandscapeError, "positive integer"),
    ({"dim": 2.0}, LandscapeError, "positive integer"),
    ({"dim": "2"}, InputTypeError, "dim is a string"),
    ({"dim": 2, "true_weights": [1]}, LandscapeError, "one entry per weight"),
    ({"dim": 2, "init": [0]}, LandscapeError, "one entry per weight"),
    ({"true_weights": ["1", "1"]}, InputTypeError, "true_weights\\[0\\] is a string"),
    ({"true_weights": "11"}, InputTypeError, "true_weights is a string"),
    ({"true_weights": 1}, InputTypeError, "must be a sequence"),
    ({"true_weights": [0.5, 1]}, InputTypeError, "float"),
    ({"init": ["0", "0"]}, InputTypeError, "never parses strings"),
    ({"noise": "1"}, InputTypeError, "noise is a string"),
    ({"noise": 0.5}, InputTypeError, "float"),
])
def test_zoo_linear_regression_rejects_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        linear_regression(**kwargs)


def test_zoo_options_are_keyword_only():
    with pytest.raises(TypeError, match="positional"):
        linear_regression(2)
