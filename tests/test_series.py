"""The Series API (symsgd.series), each operation against an independent computation.

Hand-made series are checked against values worked out by hand; derived series
against the brute-force exact engine on a concrete polynomial landscape, and
against derivations for concrete sizes.
"""

import functools
from fractions import Fraction

import numpy as np
import pytest
import sympy
from sympy.stats import Exponential

from symsgd.errors import OrderError, RangeError, ShapeError, SymbolError
from symsgd.expansion import expected_displacement, expected_loss
from symsgd.landscape import Landscape
from symsgd.schedule import gd, sgd
from symsgd.series import ETA, Series
from symsgd.landscapes import shifting_valleys
from symsgd.tensors import Contraction

N, B, E = sympy.symbols("N B E", integer=True, positive=True)
x, y = sympy.symbols("x y")
R = sympy.Rational
SIZES = [(2, 1, 1), (4, 2, 1), (3, 3, 1), (2, 1, 2)]


@functools.lru_cache(maxsize=None)
def landscape():
    """Two parameters, a skewed data law: every statistic up to order 3 is non-zero."""
    a, b, z = sympy.symbols("a b z")
    loss = a**2 * b / 2 + (a - z)**2 / 2 + b**2 * z**2 / 4 + a * b * z + a**3 * z / 6
    return Landscape(loss, (a, b), z, init=[1, R(1, 2)], distribution={z: Exponential("Z", 1) - 1})


@functools.lru_cache(maxsize=None)
def general(order=3, measure="test", moment=1):
    """The symbolic series for SGD with N points, batch B, E epochs."""
    return expected_loss(sgd(N, batch=B, epochs=E), order, method="direct", measure=measure,
                         moment=moment)


@functools.lru_cache(maxsize=None)
def exact(n, b, e, order=3, measure="test", moment=1):
    return expected_loss(sgd(n, batch=b, epochs=e), order, landscape=landscape(), measure=measure,
                         moment=moment)


def hand():
    return Series((x, 1 - N, N**2 * y, R(-1, 3)))


def grad_tr_c_over_2():
    """``G_b kappa(grad_a l, grad_a grad_b l)``: G against the vector grad tr C / 2."""
    return Contraction.from_graph([1, 2, 1], [[0, 1], [2]], [(0, 1), (1, 2)])


# ------------------------------------------------------------------ structure
def test_coefficients_iteration_and_length():
    s = hand()
    assert s.order == 3 and len(s) == 4 and s.shape == ()
    assert list(s) == [x, 1 - N, N**2 * y, R(-1, 3)]
    assert s.coeff(0) == x and s.coeff(2) == N**2 * y and s.coeff(3) == R(-1, 3)
    for bad in (4, -1, 1.0, True, "1"):
        with pytest.raises(OrderError):
            s.coeff(bad)


def test_construction_errors():
    with pytest.raises(OrderError):
        Series(())
    with pytest.raises(TypeError):
        Series((1, 0.5))
    with pytest.raises(ShapeError):
        Series((0, sympy.Array([1, 2])))
    with pytest.raises(TypeError):
        Series((1,), eta="eta")


def test_truncate():
    s = Series(hand().coefficients, quantity="q", notes=("n",))
    t = s.truncate(1)
    assert t.coefficients == (x, 1 - N) and t.order == 1
    assert t.quantity == "q" and t.notes == ("n",)
    assert s.truncate(3) == s
    with pytest.raises(OrderError):
        s.truncate(4)


def test_call():
    s = Series((2, R(-1, 3), R(1, 4)))
    assert s(R(1, 2)) == 2 - R(1, 6) + R(1, 16)
    assert sympy.expand(hand()(y) - (x + (1 - N) * y + N**2 * y**3 - y**3 / 3)) == 0
    v = Series((sympy.Array([0, 0]), sympy.Array([1, -2]), sympy.Array([x, 0])))
    assert v(R(1, 3)) == sympy.Array([R(1, 3) + x / 9, R(-2, 3)])


# ------------------------------------------------------------------ arithmetic
def test_add_and_subtract_gd_versus_sgd():
    """GD minus SGD (same T = N steps): (N - 1)/2 eta^2 G.grad(tr C)/2 + O(eta^3) (Tenka A.8.1)."""
    g = expected_loss(gd(N, steps=N), 3, method="direct")
    s = expected_loss(sgd(N), 2, method="direct")
    diff = g - s
    assert diff.order == 2 and diff.eta == ETA
    assert [sympy.expand(c) for c in diff] == [0, 0, sympy.expand((N - 1) / 2 * grad_tr_c_over_2())]
    assert diff.schedule is None and diff.method == "direct"
    back = diff + s
    assert [sympy.expand(c - d) for c, d in zip(back, g)] == [0, 0, 0]
    # on a landscape: the difference of the exact engine's series, coefficient by coefficient
    for n in (2, 3):
        exact_g = expected_loss(gd(n, steps=n), 2, landscape=landscape())
        exact_s = expected_loss(sgd(n), 2, landscape=landscape())
        assert diff.evaluate(landscape(), N=n).coefficients == tuple(
            sympy.expand(a - b) for a, b in zip(exact_g, exact_s))
    assert (-s).coefficients == tuple(-c for c in s)


def test_combining_incompatible_series():
    s = hand()
    with pytest.raises(SymbolError) as info:
        s + Series((1, 2), eta=sympy.Symbol("h"))
    assert isinstance(info.value, ValueError)
    exact_weights = expected_displacement(sgd(2), 1, landscape=landscape())
    with pytest.raises(ShapeError):
        Series((0, 1)) - exact_weights
    with pytest.raises(ShapeError):  # a scalar loss and a vector displacement, both in contractions
        expected_loss(sgd(N), 2, method="direct") \
            + expected_displacement(sgd(N), 2, method="direct")
    with pytest.raises(TypeError):
        s + 1
    with pytest.raises(TypeError):
        s - x


def test_multiplication_by_exact_scalars_only():
    s = Series((1, R(1, 2)))
    for factor, want in [(2, (2, 1)), (R(1, 2), (R(1, 2), R(1, 4))),
                         (Fraction(1, 3), (R(1, 3), R(1, 6))), (np.int64(2), (2, 1)),
                         (N, (N, N / 2))]:
        assert (s * factor).coefficients == want and (factor * s).coefficients == want
    v = Series((sympy.Array([0, 1]), sympy.Array([1, 0])))
    assert (3 * v).coefficients == (sympy.Array([0, 3]), sympy.Array([3, 0]))
    for bad in ("2", "N", "__import__('os')", 0.5, np.float64(2.0), True, s, sympy.Matrix([1]),
                [1]):
        with pytest.raises(TypeError):
            s * bad
        with pytest.raises(TypeError):
            bad * s


def test_times():
    a, b = Series((1, 2, 3)), Series((x, y))
    assert a.times(b).coefficients == (x, y + 2 * x)
    # against SymPy's polynomial product, truncated
    c, d = hand(), Series((y, N, 0, x))
    product = sympy.Poly(sympy.expand(c.as_expr() * d.as_expr()), ETA)
    assert c.times(d).coefficients == tuple(sympy.expand(product.coeff_monomial(ETA**k))
                                            for k in range(4))
    with pytest.raises(TypeError):
        a.times(2)
    with pytest.raises(SymbolError):
        a.times(Series((1,), eta=x))
    with pytest.raises(ShapeError):
        a.times(Series((sympy.Array([1, 2]),)))
    with pytest.raises(ShapeError):
        expected_displacement(sgd(N), 1, method="direct").times(Series((1, 1)))


# ------------------------------------------------------------------ substitution and evaluation
def test_subs_agrees_with_a_derivation_at_concrete_sizes():
    s = general()
    for n, b, e in SIZES:
        concrete = expected_loss(sgd(n, batch=b, epochs=e), 3, method="direct")
        assert [sympy.expand(c - d) for c, d in zip(s.subs({N: n, B: b, E: e}), concrete)] \
            == [0] * 4


@pytest.mark.parametrize("measure", ["test", "train"])
def test_evaluate_agrees_with_the_exact_engine(measure):
    s = general(measure=measure)
    for n, b, e in SIZES:
        assert s.evaluate(landscape(), N=n, B=b, E=e).coefficients \
            == exact(n, b, e, measure=measure).coefficients


def test_evaluate_vector_series_agrees_with_the_exact_engine():
    s = expected_displacement(sgd(N, batch=B), 3, method="direct")
    assert s.coeff(0) == 0
    for n, b in [(2, 1), (4, 2)]:
        got = s.evaluate(landscape(), N=n, B=b)
        assert got.shape == (2,)
        assert got.coefficients == expected_displacement(sgd(n, batch=b), 3,
                                                         landscape=landscape()).coefficients


def test_evaluate_rejects_unknown_symbols():
    with pytest.raises(SymbolError, match="M") as info:
        general().evaluate(landscape(), N=2, B=1, E=1, M=3)
    assert isinstance(info.value, ValueError)
    with pytest.raises(TypeError):  # values are never parsed from strings
        general().evaluate(landscape(), N="2", B=1, E=1)


def test_variance_of_the_loss_agrees_with_the_exact_engine():
    """Var l(theta_T) = E[l^2] - (E l)^2: zero at orders 0 and 1 (theta_T - theta_0 = O(eta))."""
    variance = general(moment=2) - general().times(general())
    assert sympy.expand(variance.coeff(0)) == 0 and sympy.expand(variance.coeff(1)) == 0
    for n, b, e in SIZES:
        mean, second = exact(n, b, e), exact(n, b, e, moment=2)
        want = [sympy.expand(second.coeff(k) - sum(mean.coeff(i) * mean.coeff(k - i)
                                                    for i in range(k + 1))) for k in range(4)]
        got = variance.evaluate(landscape(), N=n, B=b, E=e)
        assert list(got.coefficients) == want
        assert want[2] > 0


def test_simplify_collects_without_changing_the_value():
    s = Series((0, N * x / 2 + N * y / 2))
    assert s.simplify().coeff(1) == N * (x + y) / 2 != s.coeff(1)
    t = general().simplify()
    assert [sympy.expand(c - d) for c, d in zip(t, general())] == [0] * 4
    assert t.notes == general().notes


# ------------------------------------------------------------------ printing
def test_str_lists_powers_in_increasing_order():
    assert str(hand()) == "x + (1 - N)*eta + N**2*eta**2*y - eta**3/3 + O(eta**4)"
    assert repr(Series((2, R(-1, 3)))) == "Series(2 - eta/3 + O(eta**2))"
    assert str(Series((0, 0, 1))) == "eta**2 + O(eta**3)"
    assert str(Series((0, 0))) == "O(eta**2)"
    assert str(Series((1, -x - y))) == "1 + (-x - y)*eta + O(eta**2)"
    v = Series((sympy.Array([0, 0]), sympy.Array([1, -2]), sympy.Array([x, 0])))
    assert str(v) == "[1, -2]*eta + [x, 0]*eta**2 + O(eta**3)"


@pytest.mark.parametrize("printer, group, power", [
    (sympy.sstr, "({})*", lambda k: "eta" if k == 1 else f"eta**{k}"),
    (sympy.latex, r"\left({}\right) ", lambda k: r"\eta" if k == 1 else rf"\eta^{{{k}}}")])
def test_symbolic_series_print_one_group_per_power(printer, group, power):
    """``c_0 + (c_1) eta + (c_2) eta^2 + ...``: each c_k exactly as SymPy prints it alone."""
    s = general(measure="train")
    parts = [printer(s.coeff(0))]
    for k in range(1, 4):
        c = sympy.expand(s.coeff(k))
        assert c.is_Add
        parts.append(group.format(printer(c)) + power(k))
    parts.append(printer(sympy.O(ETA**4)))
    assert printer(s) == " + ".join(parts)
    assert s.latex() == sympy.latex(s)


def test_notes_show_in_str_only():
    s = Series((1, x), notes=("first assumption", "second"))
    assert str(s) == "1 + eta*x + O(eta**2)\n# first assumption\n# second"
    assert repr(s) == "Series(1 + eta*x + O(eta**2))"
    assert f"s = {s}." == "s = 1 + eta*x + O(eta**2)."
    assert "#" not in s.latex() and "assumption" not in sympy.latex(s)
    derived = expected_loss(sgd(N, epochs=2), 2, method="direct")
    assert derived.notes and str(derived).splitlines()[1:] == [f"# {n}" for n in derived.notes]


def test_notebook_latex_is_the_series_latex():
    s = expected_loss(sgd(N), 2, method="direct")
    assert s._repr_latex_() == f"${sympy.latex(s)}$"


def test_evaluate_takes_exact_sizes_that_meet_the_symbols_assumptions():
    s = expected_loss(sgd(N), 2, method="direct")
    L = shifting_valleys()
    assert s.evaluate(L, N=np.int64(2)) == s.evaluate(L, N=2) == expected_loss(sgd(2), 2,
                                                                                landscape=L)
    for bad in (2.5, "3", True):
        with pytest.raises(TypeError):
            s.evaluate(L, N=bad)
    for bad in (-3, sympy.Rational(5, 2), 0):
        with pytest.raises(RangeError):
            s.evaluate(L, N=bad)
