"""The diagram route (uvalues, decorated measures) against the exact engine and direct perturbation."""

import pytest
import sympy

from symsgd import Series, expected_displacement, expected_loss
from symsgd.diagrams import Diagram, contributions_of, decorated_values, enumerate_diagrams, uvalue
from symsgd.errors import InputTypeError, MeasureError, OrderError, ScheduleError
from symsgd.routes import diagrams as diagram_route, direct
from symsgd.landscape import Landscape
from symsgd.landscapes import shifting_valleys, valley_of_death
from symsgd.schedule import Schedule, gd, sgd
from symsgd.tensors import Contraction, collect_contractions

N, B, E, T = sympy.symbols("N B E T", positive=True, integer=True)


def three_parameter():
    """A 3-parameter polynomial landscape with skewed (chi-squared) gradient noise."""
    a, b, c, x = sympy.symbols("a b c x", real=True)
    loss = (a * x**2 - a + b * x + a * b * c + (c - x)**2 * b**2 / 2 + a**3 * x / 3
            + c**4 / 12 + a * c * x**3)
    return Landscape(loss, (a, b, c), x, init=(1, 0, sympy.Rational(1, 2)), name="three")


def plain(expr):
    """Replace every symbol by an assumption-free symbol of the same name."""
    expr = sympy.sympify(expr)
    return expr.xreplace({s: sympy.Symbol(s.name) for s in expr.free_symbols})


def by_atoms(expr):
    """``{product of contractions: coefficient}``."""
    out = {}
    for term in sympy.Add.make_args(sympy.expand(plain(expr))):
        atoms = sympy.Mul(*[f for f in sympy.Mul.make_args(term) if isinstance(f, Contraction)])
        out[atoms] = out.get(atoms, 0) + term / atoms
    return out


def same(a, b):
    x, y = by_atoms(a), by_atoms(b)
    return all(sympy.cancel(x.get(k, 0) - y.get(k, 0)) == 0 for k in set(x) | set(y))


# -- uvalues ---------------------------------------------------------------------

def test_uvalue_is_the_contraction_of_the_diagram():
    for d in range(4):
        for D in enumerate_diagrams(d):
            expected = Contraction.from_graph(D.degrees, [[0]] + [list(b) for b in D.blocks],
                                              D.edges)
            assert uvalue(D) == expected


def test_named_uvalues():
    G = Contraction.from_graph([1, 1], [[0], [1]], [(0, 1)])
    trC = Contraction.from_graph([1, 1], [[0, 1]], [(0, 1)])
    assert uvalue(Diagram("*(a)")) == G
    assert str(uvalue(Diagram("*(a, a)"))) == "C:H"
    assert str(uvalue(Diagram("*(a(b))"))) == "[G H G]"
    # training root joined to the block of the only node: the trace of C over N
    assert uvalue(Diagram("*(a)"), measure="train") == G + trC / sympy.Symbol("N", integer=True,
                                                                       positive=True)
    assert uvalue(Diagram("*(a)"), measure="gap", N=5) == -trC / 5
    # loose end: the vector G
    assert uvalue(Diagram("*(a)"), measure="weights") == \
        Contraction.from_graph([1], [[0]], [], free=[0])
    assert uvalue(Diagram("*(a, b)"), measure="weights") == 0


def test_second_moment_splits_the_root_by_leibniz():
    # (s^2)' = 2 s s', so the one-edge diagram has value 2 l G.G
    value = uvalue(Diagram("*(a)"), measure="test", moment=2)
    loss = Contraction.from_graph([0], [[0]], [])
    G = Contraction.from_graph([1, 1], [[0], [1]], [(0, 1)])
    assert sympy.expand(value - 2 * loss * G) == 0


def test_bad_arguments():
    with pytest.raises(MeasureError):
        decorated_values(Diagram("*(a)"), measure="loss")
    with pytest.raises(MeasureError):
        decorated_values(Diagram("*(a)"), measure="weights", moment=2)
    with pytest.raises(OrderError):
        diagram_route.expand(sgd(3), -1)
    with pytest.raises(InputTypeError):
        diagram_route.contributions([[0]], 2)


def test_contributions_sum_to_the_expansion():
    table = diagram_route.contributions(sgd(N, epochs=2), 3)
    coefficients = diagram_route.expand(sgd(N, epochs=2), 3)
    for row, c in zip(table, coefficients):
        assert same(sum((x.term for x in row), sympy.S.Zero), c)
        assert all(x.diagram.order == len(table[:table.index(row)]) for x in row)


# -- against the exact engine -------------------------------------------------------

SCHEDULES = [sgd(3), sgd(4, batch=2), sgd(2, epochs=2), gd(2, steps=2),
             Schedule([[0, 1], [1, 2], [2, 0]]), sgd(3, epochs=2, reshuffle="random")]
LANDSCAPES = [shifting_valleys, valley_of_death, three_parameter]


HEAVY = {(three_parameter, str(s)) for s in SCHEDULES[2:]} | {(valley_of_death, str(SCHEDULES[-1]))}
CASES = [pytest.param(make, s, marks=[pytest.mark.slow] if (make, str(s)) in HEAVY else [],
                      id=f"{make.__name__}-{s}") for make in LANDSCAPES for s in SCHEDULES]


@pytest.mark.parametrize("make, schedule", CASES)
def test_expected_loss_against_exact_engine(make, schedule):
    L = make()
    order = 3
    for measure in ("test", "train", "gap"):
        exact = expected_loss(schedule, order, landscape=L, method="exact", measure=measure)
        diagrams = expected_loss(schedule, order, landscape=L, method="diagrams", measure=measure)
        assert exact.coefficients == diagrams.coefficients, measure
        assert any(c != 0 for c in exact.coefficients[1:])


@pytest.mark.parametrize("make", LANDSCAPES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("schedule", SCHEDULES[:4], ids=str)
def test_displacement_and_second_moments_against_exact_engine(make, schedule):
    L = make()
    exact = expected_displacement(schedule, 3, landscape=L, method="exact")
    diagrams = expected_displacement(schedule, 3, landscape=L, method="diagrams")
    assert exact.coefficients == diagrams.coefficients
    for measure in ("test", "gap"):
        exact = expected_loss(schedule, 2, landscape=L, method="exact", measure=measure, moment=2)
        diagrams = expected_loss(schedule, 2, landscape=L, method="diagrams", measure=measure,
                                 moment=2)
        assert exact.coefficients == diagrams.coefficients, measure


@pytest.mark.slow
@pytest.mark.parametrize("schedule", [sgd(3), sgd(2, epochs=2), gd(2, steps=2),
                                      sgd(2, epochs=2, reshuffle="random")], ids=str)
def test_order_four_against_exact_engine(schedule):
    L = three_parameter()
    for measure in ("test", "gap"):
        exact = expected_loss(schedule, 4, landscape=L, method="exact", measure=measure)
        diagrams = expected_loss(schedule, 4, landscape=L, method="diagrams", measure=measure)
        assert exact.coefficients == diagrams.coefficients
    assert expected_displacement(schedule, 4, landscape=L, method="exact").coefficients == \
        expected_displacement(schedule, 4, landscape=L, method="diagrams").coefficients


# -- against direct perturbation, term by term ------------------------------------------

FAMILIES = [sgd(N, batch=B), sgd(N, batch=B, epochs=E), gd(N, steps=T),
            sgd(N, batch=B, epochs=E, reshuffle="random"), Schedule([[0, 1], [1, 2], [0, 2]])]
MEASURES = [("test", 1), ("train", 1), ("gap", 1), ("weights", 1), ("test", 2), ("gap", 2)]


@pytest.mark.parametrize("schedule", FAMILIES, ids=str)
def test_term_by_term_against_direct_route(schedule):
    for measure, moment in MEASURES:
        order = 3 if moment == 1 else 2
        ours = diagram_route.expand(schedule, order, measure=measure, moment=moment)
        theirs = direct.expand(schedule, order, measure=measure, moment=moment, progress=False)
        for k, (a, b) in enumerate(zip(ours, theirs)):
            assert same(a, b), (measure, moment, k)


@pytest.mark.slow
@pytest.mark.parametrize("schedule", FAMILIES[:3], ids=str)
@pytest.mark.parametrize("order", [4, 5])
def test_high_orders_against_direct_route(schedule, order):
    if order == 5 and schedule != FAMILIES[0]:
        measures = [("test", 1)]
    else:
        measures = [("test", 1), ("gap", 1), ("weights", 1)]
    for measure, moment in measures:
        ours = diagram_route.expand(schedule, order, measure=measure, moment=moment)
        theirs = direct.expand(schedule, order, measure=measure, moment=moment, progress=False)
        assert same(ours[order], theirs[order]), measure
        assert len(collect_contractions(ours[order])) > 5


def test_front_door_symbolic():
    series = expected_loss(sgd(N, batch=B), 2, method="diagrams")
    direct = expected_loss(sgd(N, batch=B), 2, method="direct")
    assert all(same(a, b) for a, b in zip(series.coefficients, direct.coefficients))
    disp = expected_displacement(gd(N, steps=T), 2, method="diagrams")
    assert same(disp.coeff(1), -T * Contraction.from_graph([1], [[0]], [], free=[0]))


# -- the diagrams behind a derived series ----------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: expected_loss(sgd(N, batch=B), 3, method="direct"),
    lambda: expected_loss(sgd(N, epochs=2), 3, method="direct", measure="gap"),
    lambda: expected_loss(gd(N, steps=3), 2, method="direct", moment=2),
    lambda: expected_displacement(sgd(N), 3, method="direct"),
])
def test_listed_diagrams_add_up_to_each_coefficient(make):
    """The diagram list of a series derived by the direct route sums to its coefficients."""
    series = make()
    for k in range(series.order + 1):
        listed = contributions_of(series, k)
        assert all(c.diagram.order == k for c in listed)
        assert same(sum((c.term for c in listed), sympy.S.Zero), series.coeff(k))


def test_listed_diagrams_of_an_evaluated_series():
    from symsgd.tensors import evaluate_expr

    L = shifting_valleys()
    series = expected_loss(sgd(3, batch=1, epochs=2), 3, landscape=L)
    for k in range(4):
        total = sum(c.weight * evaluate_expr(c.value, L.cumulant)
                    for c in contributions_of(series, k))
        assert total == series.coeff(k)


def test_listed_diagrams_need_a_recorded_measure_and_schedule():
    s = expected_loss(sgd(N), 1, method="direct")
    with pytest.raises(OrderError):
        contributions_of(s, 2)
    with pytest.raises(InputTypeError):
        contributions_of(s.coefficients, 1)
    with pytest.raises(MeasureError, match="no diagrams"):
        contributions_of(Series(s.coefficients, schedule=sgd(N)), 1)
    with pytest.raises(ScheduleError, match="no diagrams"):
        contributions_of(Series(s.coefficients, measure="test"), 1)
