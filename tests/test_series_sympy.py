"""A Series that behaves like SymPy (issue 9): construction, substitution, calculus, the
``_sympy_`` protocol, printing in the user's form, mathematical equality, and sizes checked
against the schedule's rules.

Every expected value is computed independently: by SymPy on the plain expression
``sum c_k eta^k + O(eta^(d+1))``, by hand, or by a derivation at concrete sizes.
"""

import ast
import functools
import itertools
import pathlib

import pytest
import sympy
from hypothesis import given, settings, strategies as st

import symsgd
from symsgd.errors import (InputTypeError, LandscapeError, MeasureError, OrderError, RangeError,
                           ScheduleError, ShapeError, SymbolError)
from symsgd.schedule import gd, sgd
from symsgd.series import ETA, Series
from symsgd.tensors import Contraction, collect_contractions

N, B, E, M = sympy.symbols("N B E M", integer=True, positive=True)
x, y, h = sympy.symbols("x y h")
R = sympy.Rational
ROOT = pathlib.Path(symsgd.__file__).parent


@functools.lru_cache(maxsize=None)
def derived(method="direct", order=3):
    return symsgd.expected_loss(sgd(N, batch=B), order, method=method)


@functools.lru_cache(maxsize=None)
def landscape():
    w, z = sympy.symbols("w z")
    return symsgd.Landscape((w - z)**2 / 2 + w**3 * z / 3, w, z, init=[1])


def plain(s):
    """The series as SymPy would hold it, built here from the coefficients."""
    return sympy.Add(*(c * ETA**k for k, c in enumerate(s.coefficients)),
                     sympy.O(ETA**(s.order + 1)))


# ------------------------------------------------------------------ construction
def test_constructor_options_are_keyword_only_and_label_replaces_quantity():
    with pytest.raises(TypeError):
        Series((1, 2), ETA)
    with pytest.raises(TypeError):
        Series((1,), quantity="test loss")
    assert Series((1,), measure="test").label == "test loss"
    assert Series((1,), measure="test", moment=2).label == "second moment of the test loss"
    assert Series((1,), measure="gap", label="my gap").label == "my gap"
    assert Series((1,)).label is None
    assert symsgd.expected_loss(sgd(N), 1, method="direct", measure="train").label \
        == "training loss"


@pytest.mark.parametrize("kwargs, error", [
    (dict(measure="loss"), MeasureError), (dict(measure="weights", moment=2), MeasureError),
    (dict(moment=3), MeasureError), (dict(moment=True), MeasureError),
    (dict(label=3), TypeError), (dict(schedule="sgd"), TypeError), (dict(notes="a note"), TypeError),
    (dict(method=None), TypeError), (dict(eta="eta"), TypeError)])
def test_constructor_validates_with_typed_errors(kwargs, error):
    with pytest.raises(error):
        Series((1, 2), **kwargs)


def test_constructor_never_parses_strings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    attack = "__import__('pathlib').Path('pwned').touch() or 1"
    for coefficients in [(attack,), (1, attack), ([attack, 1],), ([[1], [attack]],)]:
        with pytest.raises(InputTypeError):
            Series(coefficients)
    assert not (tmp_path / "pwned").exists()


def test_coefficients_must_be_free_of_eta():
    with pytest.raises(SymbolError, match="free of eta"):
        Series((1, ETA))
    with pytest.raises(SymbolError):
        Series((1, 2)) * ETA
    with pytest.raises(SymbolError):
        Series((1, 2)) + ETA


def test_same_named_symbols_with_different_assumptions_are_refused():
    plain_n = sympy.Symbol("N")
    with pytest.raises(SymbolError, match=r"Symbol\('N'\) and Symbol\('N', integer=True, "
                                          r"positive=True\)"):
        Series((plain_n, N))
    with pytest.raises(SymbolError, match="eta"):
        Series((sympy.Symbol("eta"), 1))
    with pytest.raises(SymbolError, match="'N'"):
        Series((plain_n, 1), schedule=sgd(N))
    with pytest.raises(SymbolError, match="'N'"):
        Series((plain_n, 1)) + Series((N, 1))


def test_the_result_type_does_not_depend_on_a_route():
    """series.py (and its helper _sizes.py) import no route and nothing of symsgd.diagrams."""
    assert not hasattr(Series, "diagrams")
    for name in ("series.py", "_sizes.py"):
        tree = ast.parse((ROOT / name).read_text())
        imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        imported += [a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for a in node.names]
        for module in imported:
            assert not module.lstrip(".").startswith(
                ("diagrams", "routes", "perturbation", "_exact", "expansion",
                 "symsgd.diagrams", "symsgd.routes")), (name, module)


# ------------------------------------------------------------------ equality
def test_equality_is_mathematical():
    direct, diagrams = derived("direct"), derived("diagrams")
    assert any(a != b for a, b in zip(direct.coefficients, diagrams.coefficients))  # forms differ
    assert direct == diagrams and hash(direct) == hash(diagrams)
    assert len({direct, diagrams}) == 1
    factored = direct.map(sympy.factor)
    assert factored == direct and hash(factored) == hash(direct)
    # metadata does not count
    assert Series(direct.coefficients) == direct
    assert Series((1, N), label="a", notes=("n",), method="m") == Series((1, N))
    # what counts: the coefficients, the order and eta
    assert direct != direct.truncate(2)
    assert Series((1, N)) != Series((1, N + 1))
    assert Series((1, N)) != Series((1, N), eta=h)
    assert Series((1, 2)) != (1, 2) and Series((1,)) != 1


# ------------------------------------------------------------------ substitution
def test_subs_of_eta_gives_the_truncated_polynomials_value():
    s = derived()
    rate = R(1, 100)
    want = sympy.expand(sum(c * rate**k for k, c in enumerate(s.coefficients)))
    for key in (ETA, sympy.Symbol("eta"), "eta"):
        got = s.subs(key, rate)
        assert not isinstance(got, Series) and sympy.expand(got) == want
    assert sympy.expand(s.subs(eta=rate)) == want
    assert sympy.expand(s.subs({ETA: rate, N: 4, B: 2})) == sympy.expand(want.subs({N: 4, B: 2}))
    floating = s.subs(ETA, 0.01)
    assert floating.has(sympy.Float) and not isinstance(floating, Series)
    vector = Series(([1, 0], [x, 2]))
    assert vector.subs(ETA, 3) == sympy.ImmutableDenseNDimArray([1 + 3 * x, 6])


def test_subs_of_eta_by_a_symbol_renames_the_variable():
    s = Series((1, N, N**2))
    t = s.subs(ETA, h)
    assert isinstance(t, Series) and t.eta == h and t.coefficients == s.coefficients
    assert sympy.sympify(t) == sympy.sympify(s).subs(ETA, h)


def test_subs_by_name_and_by_same_named_symbol():
    s = derived()
    want = symsgd.expected_loss(sgd(6, batch=2), 3, method="direct")
    for got in (s.subs(N=6, B=2), s.subs({"N": 6, "B": 2}), s.subs([(sympy.Symbol("N"), 6),
                                                                    (sympy.Symbol("B"), 2)])):
        assert isinstance(got, Series) and got == want
        assert got.schedule == sgd(6, batch=2)
    assert s.subs("N", 6).schedule == sgd(6, batch=B)


def test_subs_refuses_what_it_cannot_do():
    s = derived()
    for key in ("M", sympy.Symbol("M")):
        with pytest.raises(SymbolError, match="no symbol 'M'"):
            s.subs(key, 100)
    with pytest.raises(SymbolError):
        s.subs(M=100)
    with pytest.raises(RangeError):
        s.subs(N=-3)
    with pytest.raises(RangeError):
        s.subs(N=R(5, 2))
    with pytest.raises(InputTypeError):
        s.subs(N="10")
    with pytest.raises(InputTypeError):
        s.subs(ETA, "1/10")
    with pytest.raises(InputTypeError):
        s.subs(N=2.0)
    with pytest.raises(ScheduleError, match="does not divide"):
        s.subs(N=4, B=3)
    with pytest.raises(RangeError):  # a symbolic value that breaks N's assumptions
        s.subs(N=-M)
    assert s.subs(N=4 * M, B=2 * M).schedule == sgd(4 * M, batch=2 * M)


def test_xreplace_and_pattern_substitution():
    s = derived(order=2)
    G = s.contractions(1)[0]
    assert s.xreplace({G: 0}) == Series(tuple(c.xreplace({G: 0}) for c in s.coefficients))
    assert s.subs(G, x).coeff(1) == s.coeff(1).subs(G, x)
    assert sympy.expand(s.xreplace({ETA: R(1, 2), N: 2, B: 1})) \
        == sympy.expand(s.subs(eta=R(1, 2), N=2, B=1))
    with pytest.raises(SymbolError):
        s.xreplace({sympy.Symbol("M"): 1})


# ------------------------------------------------------------------ calculus and forms
def test_diff_by_eta_and_by_other_symbols():
    s = Series((x, N * x, N**2 * y, R(1, 3)))
    assert s.diff(ETA) == Series((N * x, 2 * N**2 * y, 1))
    assert s.diff(ETA, 2) == s.diff(ETA).diff(ETA) == s.diff((ETA, 2)) == Series((2 * N**2 * y,
                                                                                  2))
    assert s.diff("N") == Series((0, x, 2 * N * y, 0))
    assert s.diff(N, ETA) == Series((x, 4 * N * y, 0))
    assert sympy.expand(sympy.diff(plain(s), ETA).removeO()) == sympy.expand(s.diff(ETA).removeO())
    with pytest.raises(OrderError):
        Series((1,)).diff(ETA)
    with pytest.raises(SymbolError):
        s.diff(M)
    v = Series(([0, 1], [x, 0]))
    assert v.diff(x) == Series(([0, 0], [1, 0]))


def test_expand_factor_simplify_collect_free_symbols_removeO():
    s = Series((N * (N + 1), N**2 / 2 - R(1, 2)))
    assert s.expand().coefficients == (N**2 + N, N**2 / 2 - R(1, 2))
    assert s.factor().coeff(1) == sympy.factor(N**2 / 2 - R(1, 2)) == (N - 1) * (N + 1) / 2
    assert Series((sympy.sin(x)**2 + sympy.cos(x)**2,)).simplify() == Series((1,))
    assert s.free_symbols == {N, ETA} == sympy.sympify(s).free_symbols
    assert s.removeO() == sympy.sympify(s).removeO()
    assert s.expand() == s == s.factor() == s.simplify() == s.collect()


def test_collect_groups_by_contraction_with_factored_sizes():
    s = derived(order=2)
    c = s.collect().coeff(2)
    assert c.is_Add and len(c.args) == 2
    # independently: tensors.collect_contractions gives each contraction's size polynomial
    assert c == sympy.Add(*(sympy.factor(v) * k for k, v in collect_contractions(s.coeff(2)).items()))
    assert sympy.expand(c - s.coeff(2)) == 0
    # the printer keeps the collected form
    assert sympy.sstr(c) in str(s.collect())
    # second moments: products of contractions are collected as monomials
    second = symsgd.expected_loss(gd(N, steps=2), 2, method="direct", moment=2).collect()
    monomials = []
    for term in sympy.Add.make_args(second.coeff(2)):
        monomial = sympy.Mul(*(f for f in sympy.Mul.make_args(term) if f.atoms(Contraction)))
        assert monomial != 1 and not (term / monomial).atoms(Contraction)
        monomials.append(monomial)
    assert len(set(monomials)) == len(monomials) > 1
    assert any(len(m.atoms(Contraction)) == 2 or m.is_Pow for m in monomials)
    assert second == symsgd.expected_loss(gd(N, steps=2), 2, method="direct", moment=2)
    assert Series((N * x + N * y,)).collect(N).coeff(0) == N * (x + y)


def test_arithmetic_with_scalars():
    s = Series((1, N))
    assert (s + 1).coefficients == (2, N) and (1 + s).coefficients == (2, N)
    assert (s + N).coefficients == (1 + N, N) and (N + s).coefficients == (1 + N, N)
    assert (1 - s).coefficients == (0, -N) and (s - x).coefficients == (1 - x, N)
    assert (s / 2).coefficients == (R(1, 2), N / 2) and (s / N).coefficients == (1 / N, 1)
    assert (R(1, 2) * s).coefficients == (R(1, 2), N / 2) and isinstance(N * s, Series)
    assert isinstance(sympy.Integer(2) + s, Series) and isinstance(N - s, Series)
    with pytest.raises(TypeError, match="float"):
        s / 0.5
    with pytest.raises(ZeroDivisionError):
        s / 0
    with pytest.raises(InputTypeError):
        s / "2"
    with pytest.raises(TypeError):
        2 / s
    with pytest.raises(ShapeError):
        Series(([1, 2],)) + 1
    displacement = symsgd.expected_displacement(sgd(N), 1, method="direct")
    with pytest.raises(ShapeError):
        displacement + N
    assert displacement + 0 == displacement


# ------------------------------------------------------------------ the SymPy protocol
def test_sympify_gives_the_expression_with_its_order_term():
    s = derived(order=2)
    e = sympy.sympify(s)
    assert e == plain(s) and e.getO() == sympy.O(ETA**3)
    assert sympy.expand(e) == sympy.expand(plain(s))
    assert sympy.simplify(Series((x + x, 1))) == 2 * x + ETA + sympy.O(ETA**2)
    assert sympy.diff(s, ETA) == s.diff(ETA)   # sympy.diff calls the series' own diff
    assert sympy.expand(sympy.sympify(s.diff(ETA)) - sympy.diff(plain(s), ETA)) \
        == sympy.O(ETA**2)
    hand = Series((1, N, N**2 / 2))
    assert sympy.series(sympy.exp(N * ETA), ETA, 0, 3) == sympy.sympify(hand)
    assert sympy.pretty(hand) == sympy.pretty(plain(hand))
    assert "O" in sympy.pretty(s) and "η" in sympy.pretty(s)


def test_sympify_of_a_vector_series_is_an_array_of_series():
    v = Series(([1, 0], [x, N]))
    a = sympy.sympify(v)
    assert isinstance(a, sympy.ImmutableDenseNDimArray) and a.shape == (2,)
    assert a[0] == 1 + x * ETA + sympy.O(ETA**2) and a[1] == N * ETA + sympy.O(ETA**2)
    assert sympy.sympify(sympy.diff(v, x)) == sympy.ImmutableDenseNDimArray(
        [ETA + sympy.O(ETA**2), sympy.O(ETA**2)])
    assert sympy.simplify(v)[1] == a[1]
    assert "O" in sympy.pretty(v)


# ------------------------------------------------------------------ printing
def test_the_printer_keeps_the_users_form():
    s = Series((0, N**2 - 1, (N + 1)**2 - N**2 - 2 * N - 1, R(1, 2) - N / 2))
    f = s.map(sympy.factor)
    assert str(f) == "eta*(N - 1)*(N + 1) - eta**3*(N - 1)/2 + O(eta**4)"
    assert sympy.sstr(f.coeff(1)) == "(N - 1)*(N + 1)"
    # a coefficient that is zero but not written as 0 is dropped
    assert str(s) == "(N**2 - 1)*eta + (1/2 - N/2)*eta**3 + O(eta**4)"
    assert r"\left(N - 1\right) \left(N + 1\right)" in sympy.latex(f)


# ------------------------------------------------------------------ sizes against the schedule
def test_evaluate_checks_sizes_against_the_schedule():
    s, L = derived(order=2), landscape()
    for sizes in (dict(N=4, B=3), dict(N=4, B=8), dict(N=3, B=2)):
        with pytest.raises(ScheduleError):
            s.evaluate(L, **sizes)
    with pytest.raises(RangeError):
        s.evaluate(L, N=-10, B=2)
    with pytest.raises(InputTypeError):
        s.evaluate(L, N="10", B=2)
    assert s.evaluate(L, N=4, B=2) == symsgd.expected_loss(sgd(4, batch=2), 2, landscape=L)
    assert s.evaluate(L, N=4).schedule == sgd(4, batch=B)   # B left symbolic
    with pytest.raises(ScheduleError):
        s.evaluate(L, N=4).evaluate(L, B=3)
    # a size the coefficients lack but the schedule has: accepted and checked
    t = symsgd.expected_loss(gd(N, steps=E), 0, method="direct")
    assert E not in t.coeff(0).free_symbols
    assert t.evaluate(L, N=2, E=3).schedule == gd(2, steps=3)
    with pytest.raises(RangeError):
        t.evaluate(L, E=0)
    with pytest.raises(SymbolError, match="eta"):
        s.evaluate(L, eta=1)


@pytest.mark.parametrize("stats, error", [(None, LandscapeError), ("L", InputTypeError),
                                          (3, InputTypeError)])
def test_evaluate_needs_a_landscape(stats, error):
    with pytest.raises(error, match="(?i)landscape"):
        derived(order=2).evaluate(stats, N=10, B=2)


def test_evaluate_metric_is_keyword_only():
    with pytest.raises(TypeError):
        derived(order=1).evaluate(landscape(), None)


# ------------------------------------------------------------------ properties
polynomials = st.lists(st.integers(-3, 3), min_size=3, max_size=3).map(
    lambda c: c[0] + c[1] * N + c[2] * N**2 * x)
series = st.lists(polynomials, min_size=1, max_size=4).map(lambda cs: Series(tuple(cs)))


@settings(max_examples=60, deadline=None)
@given(series, series)
def test_sum_then_difference_is_the_truncated_series(s, t):
    assert (s + t) - t == s.truncate(min(s.order, t.order))
    assert s + t == t + s and s - s == Series((0,) * len(s))
    assert sympy.expand(sympy.sympify(s + t) - sympy.sympify(s) - sympy.sympify(t)).removeO() == 0


@settings(max_examples=60, deadline=None)
@given(series, st.sampled_from([ETA, N, x]))
def test_diff_agrees_with_sympy_on_the_expression(s, symbol):
    if symbol not in s.free_symbols:
        with pytest.raises(SymbolError):
            s.diff(symbol)
        return
    if symbol == ETA and s.order == 0:
        with pytest.raises(OrderError):
            s.diff(symbol)
        return
    got, want = sympy.sympify(s.diff(symbol)), sympy.diff(sympy.sympify(s), symbol)
    assert sympy.expand(got.removeO() - want.removeO()) == 0
    if symbol == ETA:
        assert got.getO() == want.getO()


@settings(max_examples=60, deadline=None)
@given(series, st.sampled_from([sympy.factor, sympy.expand, sympy.simplify,
                                lambda c: sympy.collect(sympy.expand(c), N)]))
def test_equality_and_hash_survive_rewriting(s, rewrite):
    r = s.map(rewrite)
    assert r == s and hash(r) == hash(s) and {r: 1}[s] == 1
    assert s / 3 * 3 == s and -(-s) == s


def test_exhaustive_small_series_print_and_convert_like_sympy():
    """Every series with coefficients in {0, 1, -1, N - 1} to order 2."""
    values = (sympy.S.Zero, sympy.S.One, -sympy.S.One, N - 1)
    for cs in itertools.product(values, repeat=3):
        s = Series(cs)
        assert sympy.sympify(s) == plain(s)
        assert s.removeO() == plain(s).removeO()
        terms = [sympy.sstr(c * ETA**k) if not c.is_Add or k == 0 else f"({c})*{sympy.sstr(ETA**k)}"
                 for k, c in enumerate(cs) if c != 0] + ["O(eta**3)"]
        text = " + ".join(terms).replace("+ -", "- ")
        assert str(s) == text
        assert s == s.map(sympy.factor) == Series(tuple(sympy.expand(c) for c in cs))


def test_matrix_valued_series():
    """Coefficients of rank 2: zeros, printing and the protocol work entrywise."""
    m = Series((sympy.ImmutableDenseNDimArray([[0, 0], [0, 0]]), [[1, x], [0, N]]))
    assert m.shape == (2, 2) and str(m) == "[[1, x], [0, N]]*eta + O(eta**2)"
    a = sympy.sympify(m)
    assert a.shape == (2, 2) and a[0, 1] == x * ETA + sympy.O(ETA**2) and a[1, 0] == sympy.O(ETA**2)
    assert m.free_symbols == {x, N, ETA}
