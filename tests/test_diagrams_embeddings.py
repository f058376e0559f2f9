"""Embeddings: dynamic programme vs brute force, closed forms vs concrete counts, Aut_f."""

import itertools
import random
from collections import Counter

import pytest
import sympy
from hypothesis import given, settings, strategies as st

from symsgd.diagrams import (Diagram, count_embeddings, embedding_automorphisms,
                             enumerate_diagrams, iter_embeddings, weight)
from symsgd.errors import ScheduleError
from symsgd.schedule import Schedule, gd, sgd

N, B, E, T = sympy.symbols("N B E T", positive=True, integer=True)


def brute_count(D, schedule):
    """Try every assignment of cells to the non-root nodes (the definition)."""
    cells = sorted(schedule.cells)
    time_of_root = schedule.T
    count = 0
    for f in itertools.product(cells, repeat=D.order):
        f = ((None, time_of_root),) + f
        if any(f[v][1] >= f[D.parents[v]][1] for v in range(1, D.n_nodes)):
            continue
        if any(len({f[v][0] for v in b}) > 1 for b in D.blocks):
            continue
        count += 1
    return count


def brute_average(D, schedule):
    return sum(p * brute_count(D, s) for p, s in schedule.realizations())


SMALL_SCHEDULES = [
    Schedule([[0], [1], [0]]),
    Schedule([[0, 1], [1, 2], [0, 2]]),
    Schedule([[2], [0], [2], [1]], N=4),
    sgd(3), sgd(4, batch=2), sgd(2, epochs=2), gd(2, steps=2),
]


@pytest.mark.parametrize("schedule", SMALL_SCHEDULES, ids=str)
def test_dp_and_enumeration_against_brute_force(schedule):
    for d in range(4):
        for D in enumerate_diagrams(d):
            expected = brute_count(D, schedule)
            assert count_embeddings(D, schedule, method="dp") == expected
            assert count_embeddings(D, schedule, method="enumerate") == expected
            listed = list(iter_embeddings(D, schedule))
            assert len(set(listed)) == len(listed) == expected


def test_dp_against_brute_force_order_4_and_random_schedules():
    rng = random.Random(3)
    for _ in range(4):
        n, t = rng.randint(1, 3), rng.randint(1, 4)
        b = rng.randint(1, n)
        schedule = Schedule([rng.sample(range(n), b) for _ in range(t)], N=n)
        for D in rng.sample(list(enumerate_diagrams(4)), 25):
            assert count_embeddings(D, schedule, method="dp") == brute_count(D, schedule)


def test_random_reshuffling_averages_realizations():
    s = sgd(3, epochs=2, reshuffle="random")
    assert len(s.realizations()) == 6
    for d in range(4):
        for D in enumerate_diagrams(d):
            assert count_embeddings(D, s) == brute_average(D, s)


def test_gd_formula_exhaustive():
    for d in range(5):
        for D in enumerate_diagrams(d):
            poly = count_embeddings(D, gd(N, steps=T))
            assert sympy.Poly(poly, N, T).total_degree() <= d + D.n_blocks
            for n, t in itertools.product(range(1, 4), range(1, 6)):
                assert poly.subs({N: n, T: t}) == count_embeddings(D, gd(n, steps=t), method="dp")


SGD_SIZES = [(n, b, e) for n in range(1, 5) for b in range(1, n + 1) if n % b == 0
             for e in range(1, 4)]


@pytest.mark.parametrize("d", range(5))
def test_fixed_sgd_formula_exhaustive(d):
    sizes = SGD_SIZES if d < 4 else SGD_SIZES[::3]
    for D in enumerate_diagrams(d):
        poly = count_embeddings(D, sgd(N, batch=B, epochs=E))
        assert poly.is_polynomial(N, B, E)
        assert poly == count_embeddings(D, sgd(N, batch=B, epochs=E), method="formula")
        for n, b, e in sizes:
            s = sgd(n, batch=b, epochs=e)
            assert poly.subs({N: n, B: b, E: e}) == count_embeddings(D, s, method="dp"), (D, n, b, e)


@pytest.mark.parametrize("d", range(5))
def test_random_sgd_formula_exhaustive(d):
    sizes = [(2, 1, 2), (2, 1, 3), (3, 1, 2), (4, 2, 2), (4, 1, 2), (6, 3, 2), (4, 2, 3)]
    if d == 4:
        sizes = [(3, 1, 2), (4, 2, 2), (2, 1, 3)]
    differs = 0
    for D in enumerate_diagrams(d):
        expr = count_embeddings(D, sgd(N, batch=B, epochs=E, reshuffle="random"))
        fixed = count_embeddings(D, sgd(N, batch=B, epochs=E))
        differs += sympy.cancel(expr - fixed) != 0
        for n, b, e in sizes:
            s = sgd(n, batch=b, epochs=e, reshuffle="random")
            assert expr.subs({N: n, B: b, E: e}) == count_embeddings(D, s, method="dp"), (D, n, b, e)
        # one epoch: reshuffling is immaterial
        assert sympy.cancel(expr.subs(E, 1) - fixed.subs(E, 1)) == 0
    # THEORY.md: reshuffling changes E l(theta_T) only from order 4 on
    assert (differs > 0) == (d >= 4)


def test_random_formula_is_rational_and_exact_at_small_N():
    D = Diagram("*(a(b), a(b))")  # two copies of one chain: a batch-order correlation squared
    expr = count_embeddings(D, sgd(N, batch=B, epochs=E, reshuffle="random"))
    assert not sympy.cancel(expr).is_polynomial(N)
    assert sympy.denom(sympy.cancel(expr)).free_symbols == {N}
    for n, b, e in [(1, 1, 2), (1, 1, 3), (2, 1, 2), (2, 2, 3), (3, 1, 2), (4, 2, 2)]:
        s = sgd(n, batch=b, epochs=e, reshuffle="random")
        dp = count_embeddings(D, s, method="dp")
        assert count_embeddings(D, s, method="formula") == dp
        if n >= D.n_blocks:
            assert expr.subs({N: n, B: b, E: e}) == dp
    wide = Diagram("*(a(b(c)), c(b(a)))")  # three points, N = 1 and 2 are poles of the closed form
    for n in (1, 2, 3):
        s = sgd(n, epochs=2, reshuffle="random")
        oracle = brute_average(wide, s) if n < 3 else count_embeddings(wide, s, method="dp")
        assert count_embeddings(wide, s, method="formula") == oracle


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.data())
def test_formulas_at_random_sizes(d, k, b, e, data):
    D = data.draw(st.sampled_from(list(enumerate_diagrams(d))))
    n = k * b
    fixed = count_embeddings(D, sgd(N, batch=B, epochs=E))
    assert fixed.subs({N: n, B: b, E: e}) == count_embeddings(D, sgd(n, batch=b, epochs=e),
                                                               method="dp")
    concrete_e = count_embeddings(D, sgd(N, batch=b, epochs=e))
    assert concrete_e.subs(N, n) == fixed.subs({N: n, B: b, E: e})
    steps = data.draw(st.integers(1, 6))
    assert count_embeddings(D, gd(N, steps=steps)).subs(N, n) == \
        count_embeddings(D, gd(n, steps=steps), method="dp")


def test_formula_method_on_concrete_and_large_schedules():
    D = Diagram("*(a(b), a(b))")
    s = sgd(4, batch=2, epochs=3, reshuffle="random")
    assert count_embeddings(D, s, method="formula") == count_embeddings(D, s, method="dp")
    big = sgd(12, batch=3, epochs=3, reshuffle="random")  # too many realizations to list
    expr = count_embeddings(D, sgd(N, batch=B, epochs=E, reshuffle="random"))
    assert count_embeddings(D, big) == expr.subs({N: 12, B: 3, E: 3})
    with pytest.raises(ScheduleError):
        count_embeddings(D, big, method="dp")
    with pytest.raises(ScheduleError):
        count_embeddings(D, sgd(N, epochs=2, reshuffle=5))
    with pytest.raises(ScheduleError):
        count_embeddings(D, "not a schedule")
    with pytest.raises(ValueError):
        count_embeddings(D, sgd(3), method="magic")


def test_aut_f_orbit_counting():
    """sum over embeddings up to symmetry of 1/|Aut_f| == count / |Aut(D)| (Theorem 3's two forms)."""
    schedules = [sgd(3), sgd(2, epochs=2), gd(2, steps=2), sgd(4, batch=2)]
    for schedule in schedules:
        for d in range(4):
            for D in enumerate_diagrams(d):
                auts = all_automorphisms(D)
                assert len(auts) == D.n_automorphisms
                embeddings = list(iter_embeddings(D, schedule))
                orbits = Counter()
                for f in embeddings:
                    orbit = frozenset(tuple(f[g[v]] for v in range(D.n_nodes)) for g in auts)
                    stabilizer = sum(1 for g in auts if all(f[g[v]] == f[v] for v in range(D.n_nodes)))
                    assert embedding_automorphisms(D, f) == stabilizer
                    orbits[orbit] += 1
                by_orbit = sum(sympy.Rational(1, embedding_automorphisms(D, next(iter(o))))
                               for o in orbits)
                assert by_orbit == sympy.Rational(len(embeddings), D.n_automorphisms)


def all_automorphisms(D):
    out = []
    blocks = {frozenset(b) for b in D.blocks}
    for perm in itertools.permutations(range(1, D.n_nodes)):
        g = (0,) + perm
        if all(g[D.parents[v]] == D.parents[g[v]] for v in range(1, D.n_nodes)) and \
                {frozenset(g[v] for v in b) for b in blocks} == blocks:
            out.append(g)
    return out


def test_weight():
    C = Diagram("*(a, a)")
    assert weight(C, sgd(4, batch=2)) == sympy.Rational(1, 4) * 4 / 2
    assert weight(Diagram("*(a)"), sgd(N, batch=B)) == -N / B
    assert weight(C, gd(N, steps=T)) == T ** 2 / (2 * N)
    assert weight(Diagram("*"), sgd(5)) == 1
    assert weight(C, sgd(3), count=sympy.Integer(7)) == sympy.Rational(7, 2)


def test_iter_embeddings_rejects_random_schedules():
    with pytest.raises(ScheduleError):
        list(iter_embeddings(Diagram("*(a)"), sgd(3, epochs=2, reshuffle="random")))
