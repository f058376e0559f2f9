"""The front door and the route table: one check of the input, typed errors, the routes agree.

Each error case here was an untyped or internal error before the routes were
gathered in :mod:`symsgd.routes` (an AttributeError from deep inside the direct
route for a landscape given as a dict, a plain ValueError for an unknown method).
"""

import inspect

import pytest
import sympy

import symsgd
from symsgd import (InputTypeError, LandscapeError, MeasureError, MethodError, OrderError,
                    Series, expected_displacement, expected_loss, gd, resummed_loss, sgd)
from symsgd.landscapes import shifting_valleys, valley_of_death
from symsgd.routes import METHODS, Request, Route, lookup

N = sympy.Symbol("N", integer=True, positive=True)
ROUTES = sorted(METHODS)


def test_the_table_names_three_routes_and_each_module_has_its_route():
    assert ROUTES == ["diagrams", "direct", "exact"]
    for name, route in METHODS.items():
        assert isinstance(route, Route) and route.name == name and route.summary
        assert getattr(symsgd.routes, name).ROUTE is route
    assert [name for name in ROUTES if METHODS[name].symbolic] == ["diagrams", "direct"]


@pytest.mark.parametrize("method", ROUTES)
def test_a_landscape_that_is_not_a_landscape_is_a_typed_error(method):
    """Before: ``method='direct'`` with a dict raised AttributeError deep in the evaluation."""
    with pytest.raises(InputTypeError, match="landscape must be a symsgd.Landscape"):
        expected_loss(sgd(3), 2, landscape={"loss": 1}, method=method)
    with pytest.raises(InputTypeError, match="got str"):
        expected_displacement(sgd(3), 2, landscape="shifting_valleys", method=method)


def test_an_unknown_method_names_the_available_ones():
    for call in (lambda: expected_loss(sgd(3), 2, method="foo"),
                 lambda: expected_displacement(sgd(3), 2, method="foo"),
                 lambda: lookup(None)):
        with pytest.raises(MethodError) as info:
            call()
        assert all(repr(name) in str(info.value) for name in ROUTES)


@pytest.mark.parametrize("method", ROUTES)
def test_every_route_checks_its_request_the_same_way(method):
    L = shifting_valleys()
    with pytest.raises(InputTypeError, match="schedule"):
        expected_loss([[0], [1]], 2, landscape=L, method=method)
    with pytest.raises(InputTypeError, match="schedule"):
        expected_loss("sgd(3)", 2, landscape=L, method=method)
    with pytest.raises(OrderError):
        expected_loss(sgd(3), -1, landscape=L, method=method)
    with pytest.raises(OrderError):
        expected_loss(sgd(3), "2", landscape=L, method=method)
    with pytest.raises(MeasureError, match="expected_displacement"):
        expected_loss(sgd(3), 1, landscape=L, method=method, measure="weights")
    with pytest.raises(MeasureError):
        expected_loss(sgd(3), 1, landscape=L, method=method, measure="quantity")
    with pytest.raises(MeasureError):
        expected_loss(sgd(3), 1, landscape=L, method=method, moment=3)
    with pytest.raises(InputTypeError, match="Symbol"):
        expected_loss(sgd(3), 1, landscape=L, method=method, eta="eta")


def test_the_exact_route_needs_a_landscape():
    with pytest.raises(LandscapeError, match="method='exact' runs on a landscape"):
        expected_loss(sgd(3), 2)
    with pytest.raises(LandscapeError):
        METHODS["exact"](Request(gd(2), 1, measure="weights"))
    with pytest.raises(InputTypeError, match="Request"):
        METHODS["direct"]((sgd(2), 1))


@pytest.mark.parametrize("make", [shifting_valleys, valley_of_death], ids=lambda f: f.__name__)
@pytest.mark.parametrize("schedule", [sgd(3), sgd(2, epochs=2), gd(2, steps=2)], ids=str)
def test_the_routes_agree_through_the_common_tail(make, schedule):
    """On a landscape every route's series has the same exact coefficients and metadata."""
    L = make()
    for measure in ("test", "gap"):
        series = [expected_loss(schedule, 3, landscape=L, method=m, measure=measure)
                  for m in ROUTES]
        assert len({s.coefficients for s in series}) == 1
        assert [s.method for s in series] == ROUTES
        assert all(s.measure == measure and s.moment == 1 and s.schedule == schedule
                   for s in series)
    moved = [expected_displacement(schedule, 2, landscape=L, method=m) for m in ROUTES]
    assert len({s.coefficients for s in moved}) == 1
    assert moved[0].shape == (L.dim,) and moved[0].coeff(0) == sympy.ImmutableDenseNDimArray(
        [0] * L.dim)


def test_the_tail_evaluates_the_symbolic_coefficients_once():
    """With a landscape a symbolic route's series is its general series evaluated."""
    L = shifting_valleys()
    general = expected_loss(sgd(N, epochs=2), 3, method="direct", measure="train")
    on_L = expected_loss(sgd(3, epochs=2), 3, landscape=L, method="direct", measure="train")
    assert general.evaluate(L, N=3).coefficients == on_L.coefficients
    assert on_L.notes == general.notes == (
        "the same order in every epoch (reshuffling matters from order 4)",)


def test_the_front_door_signatures():
    """The problem positionally, every option keyword-only, one return type each."""
    expected = {
        expected_loss: ["schedule", "order", "landscape", "measure", "method", "moment",
                        "process", "l", "eta", "progress"],
        expected_displacement: ["schedule", "order", "landscape", "method", "process", "l", "eta",
                                "progress"],
        resummed_loss: ["schedule", "order", "landscape", "measure", "moment", "propagator",
                        "eta"],
    }
    for function, names in expected.items():
        parameters = inspect.signature(function).parameters
        assert list(parameters) == names
        assert [p.kind for p in parameters.values()][:2] == [
            inspect.Parameter.POSITIONAL_OR_KEYWORD] * 2
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(parameters.values())[2:])
    assert inspect.signature(expected_loss).return_annotation in (Series, "Series")
    assert inspect.signature(expected_loss).parameters["method"].default == "exact"
