"""Batch schedules: explicit, SGD (fixed, seeded, uniformly reshuffled), GD, symbolic sizes.

Expected values are written by hand from the definitions (batch ``t`` of a
fixed-order epoch holds the points ``t*batch .. t*batch + batch - 1``), and
the exact average over uniform reshuffling is checked against an independent
enumeration of every permutation of every epoch with ``itertools.permutations``.
"""

import dataclasses
import itertools
import math
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from symsgd import GDSchedule, Schedule, ScheduleError, SGDSchedule, gd, sgd
from symsgd.errors import InputTypeError, MethodError, RangeError
from symsgd.schedule import MAX_REALIZATIONS

N_, B_, E_, K_ = sympy.symbols("N B E K", positive=True, integer=True)


def parse_grid(text):
    """Read a drawing back: (N, T, cells marked '#', cells marked '?', extra lines)."""
    lines = text.split("\n")
    head = lines[0].split()
    assert head[0] == "n\\t"
    steps = [int(t) for t in head[1:]]
    T = len(steps)
    assert steps == list(range(T))
    marked, unknown, extra, N = set(), set(), [], 0
    for line in lines[1:]:
        tokens = line.split()
        if not tokens or not tokens[0].isdigit():
            extra.append(line)
            continue
        n, marks = int(tokens[0]), tokens[1:]
        assert n == N and len(marks) == T
        for t, m in enumerate(marks):
            assert m in "#.?"
            if m == "#":
                marked.add((n, t))
            elif m == "?":
                unknown.add((n, t))
        N += 1
    return N, T, marked, unknown, extra


def as_fraction(p):
    return Fraction(int(p.p), int(p.q))


# ------------------------------------------------------------------ explicit
def test_explicit_schedule_sizes_cells_and_drawing():
    s = Schedule([[0, 1], [2, 0]])
    assert (s.N, s.batch, s.T) == (3, 2, 2)
    assert s.batches == ((0, 1), (0, 2))
    assert s.cells == {(0, 0), (1, 0), (0, 1), (2, 1)}
    assert s.draw() == "n\\t 0 1\n  0  # #\n  1  # .\n  2  . #"
    assert not s.is_random and s.is_concrete
    ((p, only),) = s.realizations()
    assert p == 1 and only == s


def test_explicit_schedule_unused_points_and_index_types():
    s = Schedule([[np.int64(1)], [sympy.Integer(0)]], N=4)
    assert s.N == 4 and s.batches == ((1,), (0,))
    assert all(type(n) is int for b in s.batches for n in b)
    N, T, marked, unknown, extra = parse_grid(s.draw())
    assert (N, T) == (4, 2) and marked == {(1, 0), (0, 1)} and not unknown and not extra
    # The order inside a batch does not matter; the order of the batches does.
    assert Schedule([[1, 0], [2, 3]]) == Schedule([(0, 1), (3, 2)])
    assert Schedule([[0, 1], [2, 3]]) != Schedule([[2, 3], [0, 1]])
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.N = 5


def test_wide_drawing_right_aligns_columns():
    s = Schedule([[t % 2] for t in range(12)])
    text = s.draw()
    assert text.split("\n")[0] == "n\\t " + " ".join(f"{t:>2}" for t in range(12))
    N, T, marked, _, _ = parse_grid(text)
    assert (N, T) == (2, 12) and marked == {(t % 2, t) for t in range(12)}


@st.composite
def explicit_schedules(draw):
    N = draw(st.integers(1, 7))
    b = draw(st.integers(1, N))
    T = draw(st.integers(1, 6))
    batches = [draw(st.permutations(range(N)))[:b] for _ in range(T)]
    extra = draw(st.integers(0, 2))
    return batches, N, extra


@settings(max_examples=60, deadline=None)
@given(explicit_schedules())
def test_random_explicit_schedules(case):
    batches, N, extra = case
    top = max(max(b) for b in batches) + 1
    s = Schedule(batches, N=N + extra) if extra else Schedule(batches)
    expected_N = N + extra if extra else top
    cells = {(n, t) for t, b in enumerate(batches) for n in b}
    assert s.cells == cells
    assert (s.N, s.T, s.batch) == (expected_N, len(batches), len(batches[0]))
    assert [set(b) for b in s.batches] == [set(b) for b in batches]
    gN, gT, marked, unknown, extra_lines = parse_grid(s.draw())
    assert (gN, gT, marked, unknown, extra_lines) == (expected_N, len(batches), cells, set(), [])


@pytest.mark.parametrize("batches, kwargs, error, message", [
    ([[0, 1], [2]], {}, ScheduleError, "equal sizes"),
    ([], {}, ScheduleError, "at least one batch"),
    ([[]], {}, ScheduleError, "empty"),
    ([[0], []], {}, ScheduleError, "empty"),
    ([[-1]], {}, ScheduleError, "negative"),
    ([[0, 3]], {"N": 3}, ScheduleError, "out of range"),
    ([[0, 0]], {}, ScheduleError, "twice"),
    ([[0.0]], {}, InputTypeError, "float index"),
    ([[sympy.Rational(1, 2)]], {}, ScheduleError, "non-integer"),
    ([[True]], {}, ScheduleError, "non-integer"),
    ([["0"]], {}, InputTypeError, "never parses strings"),
    ([[N_]], {}, ScheduleError, "non-integer"),
    ([0, 1], {}, ScheduleError, "not a sequence"),
    ("01", {}, InputTypeError, "batches is a string"),
    (5, {}, ScheduleError, "sequence of sequences"),
    (["01"], {}, InputTypeError, "batch 0 is a string"),
    ([[0]], {"N": "3"}, InputTypeError, "N is a string"),
    ([[0]], {"N": 0}, ScheduleError, "at least 1"),
    ([[0]], {"N": 2.0}, InputTypeError, "integer"),
    ([[0]], {"N": True}, InputTypeError, "integer"),
    ([[0]], {"N": N_}, ScheduleError, "numeric N"),
])
def test_explicit_schedule_rejects_bad_input(batches, kwargs, error, message):
    with pytest.raises(error, match=message):
        Schedule(batches, **kwargs)


# ----------------------------------------------------------------------- sgd
def test_sgd_fixed_order():
    s = sgd(6, batch=2, epochs=2)
    assert isinstance(s, SGDSchedule)
    assert (s.N, s.batch, s.epochs, s.T, s.steps_per_epoch) == (6, 2, 2, 6, 3)
    assert s.batches == ((0, 1), (2, 3), (4, 5)) * 2
    assert s.cells == {(n, e * 3 + n // 2) for e in range(2) for n in range(6)}
    assert s.draw() == ("n\\t 0 1 2 3 4 5\n"
                        "  0  # . . # . .\n  1  # . . # . .\n  2  . # . . # .\n"
                        "  3  . # . . # .\n  4  . . # . . #\n  5  . . # . . #")
    assert not s.is_random
    assert sgd(3).batches == ((0,), (1,), (2,))
    assert sgd(sympy.Integer(4), batch=sympy.Integer(2)).batches == ((0, 1), (2, 3))
    assert sgd(3, batch=3, epochs=2).batches == ((0, 1, 2), (0, 1, 2))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3))
def test_sgd_every_epoch_visits_every_point_once(batch, per_epoch, epochs):
    N = batch * per_epoch
    for reshuffle in ("fixed", 12345):
        s = sgd(N, batch=batch, epochs=epochs, reshuffle=reshuffle)
        assert s.T == epochs * per_epoch and len(s.batches) == s.T
        assert all(len(b) == batch for b in s.batches)
        for e in range(epochs):
            epoch = s.batches[e * per_epoch:(e + 1) * per_epoch]
            assert sorted(n for b in epoch for n in b) == list(range(N))
        assert len(s.cells) == N * epochs
    fixed = sgd(N, batch=batch, epochs=epochs)
    assert fixed.cells == {(n, e * per_epoch + n // batch) for e in range(epochs) for n in range(N)}


def test_sgd_seeded_reshuffle_is_reproducible_and_depends_on_the_seed():
    a, b = sgd(6, batch=2, epochs=3, reshuffle=7), sgd(6, batch=2, epochs=3, reshuffle=7)
    assert a.batches == b.batches and a.realizations() == b.realizations()
    assert not a.is_random and len(a.realizations()) == 1 and a.realizations()[0][0] == 1
    assert sgd(6, batch=2, epochs=3, reshuffle=np.int64(7)).batches == a.batches
    seen = {sgd(6, batch=2, epochs=3, reshuffle=seed).batches for seed in range(20)}
    assert len(seen) > 1
    # A seeded schedule is drawn as a plain grid, one '#' per point and epoch.
    N, T, marked, unknown, _ = parse_grid(a.draw())
    assert (N, T) == (6, 9) and marked == a.cells and not unknown
    rng = np.random.default_rng(0)
    assert np.array_equal(a.sample_batches(rng, 3), np.array([a.batches] * 3))


def reshuffle_law(N, batch, epochs):
    """Every epoch a uniformly random permutation; points relabelled so that the
    first epoch's order is 0..N-1 (the data are exchangeable).  Returns
    {batch sequence (frozensets): probability}."""
    counts = Counter()
    for perms in itertools.product(itertools.permutations(range(N)), repeat=epochs):
        label = {point: i for i, point in enumerate(perms[0])}
        seq = tuple(frozenset(label[p] for p in order[j:j + batch])
                    for order in perms for j in range(0, N, batch))
        counts[seq] += 1
    total = sum(counts.values())
    assert total == math.factorial(N) ** epochs
    return {seq: Fraction(c, total) for seq, c in counts.items()}


@pytest.mark.parametrize("N, batch, epochs", [(3, 1, 2), (3, 1, 3), (4, 2, 2), (4, 2, 3),
                                              (4, 1, 2), (2, 1, 4)])
def test_uniform_reshuffling_is_the_exact_average(N, batch, epochs):
    s = sgd(N, batch=batch, epochs=epochs, reshuffle="random")
    assert s.is_random
    real = s.realizations()
    probs = [p for p, _ in real]
    assert all(isinstance(p, sympy.Rational) for p in probs)
    assert sum(probs) == 1
    # Every distinct sequence of an epoch's batches is equally likely.
    per_epoch = math.factorial(N) // math.factorial(batch) ** (N // batch)
    assert len(real) == per_epoch ** (epochs - 1)
    assert set(probs) == {sympy.Rational(1, len(real))}
    law = {}
    for p, sched in real:
        assert sched.N == N and sched.batch == batch and sched.T == epochs * N // batch
        seq = tuple(frozenset(b) for b in sched.batches)
        assert seq not in law
        law[seq] = as_fraction(p)
    assert law == reshuffle_law(N, batch, epochs)


def test_uniform_reshuffling_degenerate_cases_are_not_random():
    for s in (sgd(4, batch=4, epochs=3, reshuffle="random"), sgd(4, batch=2, epochs=1, reshuffle="random")):
        assert not s.is_random
        ((p, only),) = s.realizations()
        assert p == 1 and only.batches == sgd(4, batch=s.batch, epochs=s.epochs).batches
        assert s.batches == only.batches


def test_uniform_reshuffling_random_views():
    s = sgd(4, batch=2, epochs=2, reshuffle="random")
    with pytest.raises(ScheduleError, match="random"):
        s.batches
    with pytest.raises(ScheduleError, match="random"):
        s.cells
    N, T, marked, unknown, extra = parse_grid(s.draw())
    assert (N, T) == (4, 4)
    assert marked == {(0, 0), (1, 0), (2, 1), (3, 1)}
    assert unknown == {(n, t) for n in range(4) for t in (2, 3)}
    assert extra == ["(later epochs reshuffled at random: ?)"]


def test_uniform_reshuffling_samples():
    N, batch, epochs, trials = 3, 1, 2, 6000
    s = sgd(N, batch=batch, epochs=epochs, reshuffle="random")
    draws = s.sample_batches(np.random.default_rng(1), trials)
    assert draws.shape == (trials, s.T, batch) and draws.dtype == np.int64
    epochs_seen = draws.reshape(trials, epochs, N)
    assert (np.sort(epochs_seen, axis=2) == np.arange(N)).all()
    # Each epoch's order is uniform over the 6 permutations (5 sigma).
    for e in range(epochs):
        counts = Counter(map(tuple, epochs_seen[:, e]))
        assert set(counts) == set(itertools.permutations(range(N)))
        sd = math.sqrt(trials * (1 / 6) * (5 / 6))
        assert all(abs(c - trials / 6) < 5 * sd for c in counts.values())
    batched = sgd(4, batch=2, epochs=3, reshuffle="random").sample_batches(np.random.default_rng(2), 5)
    assert batched.shape == (5, 6, 2) and (np.diff(batched, axis=2) > 0).all()


def test_uniform_reshuffling_too_large_to_average():
    with pytest.raises(ScheduleError, match="MAX_REALIZATIONS"):
        sgd(6, batch=1, epochs=3, reshuffle="random").realizations()   # 720**2 sequences
    assert 720 ** 2 > MAX_REALIZATIONS
    with pytest.raises(ScheduleError, match="MAX_REALIZATIONS"):
        sgd(11, batch=1, epochs=2, reshuffle="random").realizations()
    # Counts with more digits than Python prints are estimated, not formed (they raised a
    # ValueError from int-to-str conversion): 1000!^99 has 254193 digits.
    with pytest.raises(ScheduleError, match=r"about 10\^254193 "):
        sgd(1000, batch=1, epochs=100, reshuffle="random").realizations()
    # Drawing needs no realizations: later epochs are shown as unknown.
    N, T, marked, unknown, _ = parse_grid(sgd(6, batch=1, epochs=3, reshuffle="random").draw())
    assert marked == {(n, n) for n in range(6)}
    assert unknown == {(n, t) for n in range(6) for t in range(6, 18)}


N_POS = sympy.Symbol("N", integer=True, positive=True)
ODD = sympy.Symbol("M", integer=True, positive=True, odd=True)


@pytest.mark.parametrize("N, kwargs, error, message", [
    (4, {"batch": 3}, ScheduleError, "does not divide"),
    (6, {"batch": 4, "epochs": 2}, ScheduleError, "does not divide"),
    (4, {"batch": 8}, ScheduleError, "does not divide"),
    (N_POS, {"batch": N_POS + 1}, ScheduleError, "exceeds N"),
    (N_POS, {"batch": 2 * N_POS}, ScheduleError, "exceeds N"),
    (3, {"batch": N_POS + 3}, ScheduleError, "exceeds N"),
    (ODD, {"batch": 2}, ScheduleError, "does not divide"),
    (0, {}, ScheduleError, "N must be at least 1"),
    (-2, {}, ScheduleError, "N must be at least 1"),
    (4, {"batch": 0}, ScheduleError, "batch must be at least 1"),
    (4, {"batch": -1}, ScheduleError, "batch"),
    (4, {"epochs": 0}, ScheduleError, "epochs must be at least 1"),
    (4.0, {}, InputTypeError, "N must be an integer, got the float"),
    (4, {"batch": 2.0}, InputTypeError, "batch must be an integer, got the float"),
    (4, {"epochs": 1.5}, InputTypeError, "epochs must be an integer, got the float"),
    (np.float64(4), {}, InputTypeError, "float"),
    ("4", {}, InputTypeError, "N is a string"),
    (4, {"batch": "2"}, InputTypeError, "batch is a string"),
    (b"4", {}, InputTypeError, "N is a string"),
    (None, {}, InputTypeError, "N must be an integer or a SymPy expression"),
    ([4], {}, InputTypeError, "N must be an integer or a SymPy expression"),
    (sympy.true, {}, InputTypeError, "N must be an integer or a SymPy expression"),
    (True, {}, InputTypeError, "N must be an integer"),
    (4, {"batch": True}, InputTypeError, "batch must be an integer"),
    (4, {"epochs": False}, InputTypeError, "epochs must be an integer"),
    (sympy.Rational(3, 2), {}, ScheduleError, "N must be an integer"),
    (sympy.Float(4), {}, InputTypeError, "N must be an integer"),
    (sympy.Symbol("k", negative=True), {}, ScheduleError, "positive integer"),
    (sympy.Symbol("k", integer=False), {}, ScheduleError, "positive integer"),
    (sympy.Symbol("k", nonpositive=True), {}, ScheduleError, "positive integer"),
    (4, {"epochs": 2, "reshuffle": "sometimes"}, MethodError, "reshuffle"),
    (4, {"epochs": 2, "reshuffle": True}, InputTypeError, "reshuffle"),
    (4, {"epochs": 2, "reshuffle": 1.5}, InputTypeError, "reshuffle"),
    (4, {"epochs": 2, "reshuffle": None}, InputTypeError, "reshuffle"),
    (4, {"epochs": 2, "reshuffle": -1}, RangeError, "non-negative"),
])
def test_sgd_rejects_bad_input(N, kwargs, error, message):
    with pytest.raises(error, match=message):
        sgd(N, **kwargs)


def test_sgd_symbolic_checks_only_what_is_decidable():
    B = sympy.Symbol("B", integer=True, positive=True)
    # Undecidable under the assumptions: accepted (checked again when sizes are numbers).
    assert sgd(N_POS, batch=B).T == N_POS / B
    assert sgd(sympy.Symbol("N"), batch=sympy.Symbol("B")).batch == sympy.Symbol("B")
    assert sgd(N_POS, batch=N_POS).T == 1
    assert sgd(2 * N_POS, batch=N_POS).T == 2


def test_schedule_options_are_keyword_only():
    for call in (lambda: sgd(6, 2), lambda: sgd(6, 2, 3, "fixed"), lambda: gd(3, 2),
                 lambda: Schedule([[0]], 2), lambda: SGDSchedule(6, 2), lambda: GDSchedule(3, 2)):
        with pytest.raises(TypeError, match="positional"):
            call()


# ------------------------------------------------------------------------ gd
def test_gd():
    g = gd(3, steps=2)
    assert isinstance(g, GDSchedule)
    assert (g.N, g.batch, g.T) == (3, 3, 2)
    assert g.batches == ((0, 1, 2), (0, 1, 2))
    assert g.cells == {(n, t) for n in range(3) for t in range(2)}
    assert g.draw() == "n\\t 0 1\n  0  # #\n  1  # #\n  2  # #"
    assert not g.is_random
    ((p, only),) = g.realizations()
    assert p == 1 and only == Schedule([[0, 1, 2], [2, 1, 0]])
    assert gd(2).T == 1


@pytest.mark.parametrize("N, kwargs, error, message", [
    (0, {}, ScheduleError, "N must be at least 1"),
    (3, {"steps": 0}, ScheduleError, "steps must be at least 1"),
    (3, {"steps": 1.0}, InputTypeError, "steps must be an integer"),
    (True, {}, InputTypeError, "N must be an integer"),
    (3, {"steps": True}, InputTypeError, "steps must be an integer"),
    (3, {"steps": sympy.Rational(1, 2)}, ScheduleError, "steps must be an integer"),
    (3, {"steps": "2"}, InputTypeError, "steps is a string"),
    ("3", {}, InputTypeError, "N is a string"),
    (sympy.Symbol("k", nonnegative=False), {}, ScheduleError, "positive integer"),
])
def test_gd_rejects_bad_input(N, kwargs, error, message):
    with pytest.raises(error, match=message):
        gd(N, **kwargs)


# ------------------------------------------------------------------ symbolic
def test_symbolic_sizes():
    s = sgd(N_, batch=B_, epochs=E_)
    assert sympy.simplify(s.T - E_ * N_ / B_) == 0
    assert sympy.simplify(s.steps_per_epoch - N_ / B_) == 0
    assert not s.is_concrete
    assert sgd(N_).T == N_
    assert sympy.simplify(sgd(N_, batch=2).T - N_ / 2) == 0
    assert sympy.simplify(sgd(4, batch=B_, epochs=3).T - 12 / B_) == 0
    M = sympy.Symbol("M")        # no assumptions: may still be a positive integer
    assert sgd(M, batch=1, epochs=2).T == 2 * M
    g = gd(N_, steps=K_)
    assert g.T == K_ and g.batch == N_ and not g.is_concrete and not g.is_random
    assert gd(N_, steps=3).T == 3
    assert sgd(3, batch=1, epochs=2).is_concrete and gd(3, steps=2).is_concrete


@pytest.mark.parametrize("schedule", [sgd(N_, batch=B_, epochs=E_), sgd(N_, batch=1, epochs=2, reshuffle="random"), gd(N_, steps=K_),
                                      gd(3, steps=K_), sgd(4, batch=2, epochs=E_, reshuffle=3)])
def test_symbolic_schedules_cannot_list_batches(schedule):
    assert not schedule.is_concrete
    for view in ("batches", "cells"):
        with pytest.raises(ScheduleError, match="numeric sizes"):
            getattr(schedule, view)
    with pytest.raises(ScheduleError, match="numeric sizes"):
        schedule.realizations()
    with pytest.raises(ScheduleError, match="numeric sizes"):
        schedule.draw()
    with pytest.raises(ScheduleError, match="numeric sizes"):
        schedule.sample_batches(np.random.default_rng(0), 2)


def test_symbolic_is_random_is_a_bool():
    cases = {sgd(N_, batch=1, epochs=2, reshuffle="random"): True, sgd(N_, batch=B_, epochs=E_, reshuffle="random"): True,
             sgd(N_, batch=N_, epochs=E_, reshuffle="random"): False, sgd(N_, batch=B_, epochs=1, reshuffle="random"): False,
             sgd(N_, batch=B_, epochs=E_): False, sgd(N_, batch=B_, epochs=E_, reshuffle=5): False}
    for schedule, expected in cases.items():
        assert schedule.is_random is expected, schedule
