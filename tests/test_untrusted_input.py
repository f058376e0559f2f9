"""No public entry point runs the code in a string (issue 9).

``sympy.sympify`` of a string runs ``eval``; so does every SymPy operation that
sympifies a string operand.  Every public entry point that takes user values is
called here with a string that would create a file if it were run, in a
temporary working directory: each must refuse it with a typed error (a
:class:`~symsgd.errors.SymsgdError`) and leave no file behind.

The table is complete by construction: :func:`entry_points` walks
``symsgd.__all__``, the ``__all__`` of every public submodule and the public
methods (and arithmetic operators) of the classes exported by ``symsgd``;
``test_the_table_lists_every_public_entry_point`` fails when one is missing
from :data:`CALLS` (or a row names one that no longer exists).  Entry points
that take no user values have a row in :data:`NO_USER_VALUES` and are checked
to take no arguments.

Rows marked ``xfail(strict=True)`` fail today because the fix belongs to a
file that another branch of issue 9 rewrites; strict, so that they turn into
errors as soon as the fix lands and the marker must be removed.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from functools import lru_cache

import numpy as np
import pytest
import sympy

import symsgd
from symsgd._sympify import entries, exact, expression
from symsgd.errors import (InputTypeError, LandscapeError, MissingStatisticError, MomentError,
                           NonFiniteError, RangeError, ScheduleError, ShapeError, SymsgdError)

OPERATORS = ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
             "__truediv__", "__rtruediv__", "__pow__", "__call__", "__getitem__")


def _modules() -> list[str]:
    names = sorted(m.name for m in pkgutil.walk_packages(symsgd.__path__, "symsgd.")
                   if not any(part.startswith("_") for part in m.name.split(".")))
    return ["symsgd"] + names


def entry_points() -> dict:
    """``{public name: callable}``: each public function, class and top-level class method once.

    A callable reachable under several names is listed under the first one:
    ``symsgd.<name>`` before ``symsgd.<module>.<name>``, modules in sorted order.
    """
    out, seen, classes = {}, set(), []
    for module_name in _modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not callable(obj) or (inspect.isclass(obj) and issubclass(obj, BaseException)):
                continue
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            out[f"{module_name}.{name}"] = obj
            if module_name == "symsgd" and inspect.isclass(obj):
                classes.append((f"{module_name}.{name}", obj))
    for class_name, cls in classes:
        for name in sorted(dir(cls)):
            if name.startswith("_") and name not in OPERATORS:
                continue
            if isinstance(inspect.getattr_static(cls, name), property):
                continue
            method = getattr(cls, name)
            raw = getattr(method, "__func__", method)
            if not callable(method) or not str(getattr(raw, "__module__", "")).startswith("symsgd"):
                continue
            if getattr(raw, "__isabstractmethod__", False):
                continue
            if id(raw) in seen:
                continue
            seen.add(id(raw))
            out[f"{class_name}.{name}"] = method
    return out


ENTRY_POINTS = entry_points()          # imports every public module, so the rows can use them


# ------------------------------------------------------------------ fixtures
R = sympy.Rational
N, B = sympy.symbols("N B", integer=True, positive=True)


@lru_cache(maxsize=None)
def landscape():
    return symsgd.landscapes.shifting_valleys()


@lru_cache(maxsize=None)
def series():
    return symsgd.expected_loss(symsgd.sgd(3), 2, landscape=landscape())


@lru_cache(maxsize=None)
def symbolic_series():
    return symsgd.expected_loss(symsgd.sgd(N, batch=B), 2, method="direct")


@lru_cache(maxsize=None)
def resummed():
    return symsgd.diagrams.resummed_loss(symsgd.gd(2, steps=2), landscape=landscape(), order=1)


@lru_cache(maxsize=None)
def simulation():
    return symsgd.simulate(schedule=symsgd.sgd(2), landscape=landscape(), lr=[0.01], trials=2,
                           seed=0)


@lru_cache(maxsize=None)
def diagram():
    return next(iter(symsgd.diagrams.enumerate_diagrams(2)))


def sgd_opt():
    return symsgd.optim.SGD(R(1, 2))


def ghg():
    return symsgd.tensors.Contraction.from_graph([1, 2, 1], [[0], [1], [2]], [(0, 1), (1, 2)])


def rng():
    return np.random.default_rng(0)


X = sympy.Symbol("x")


# --------------------------------------------------------------- the table
def _xfail(branch):
    return pytest.mark.xfail(strict=True, reason=f"fixed in i9-{branch}")


#: ``{entry point: (call with the payload string p, mark or None)}``.
CALLS = {
    # the front door and the result types
    "symsgd.expected_loss": (lambda p: symsgd.expected_loss(symsgd.sgd(3), 1, landscape=p),
                             "routes"),
    "symsgd.expected_displacement": (
        lambda p: symsgd.expected_displacement(symsgd.sgd(3), 1, landscape=p), "routes"),
    "symsgd.Series": (lambda p: symsgd.Series((p,)), "series"),
    "symsgd.Series.__add__": (lambda p: series() + p, "series"),
    "symsgd.Series.__call__": (lambda p: series()(p), "series"),
    "symsgd.Series.__mul__": (lambda p: series() * p, "series"),
    "symsgd.Series.__sub__": (lambda p: series() - p, "series"),
    "symsgd.Series.coeff": (lambda p: series().coeff(p), None),
    "symsgd.Series.contractions": (lambda p: symbolic_series().contractions(p), None),
    "symsgd.Series.diagrams": (lambda p: symbolic_series().diagrams(p), None),
    "symsgd.Series.evaluate": (lambda p: symbolic_series().evaluate(landscape(), N=p, B=1),
                               "series"),
    "symsgd.Series.lambdify": (
        lambda p: symbolic_series().lambdify()(0.01, landscape().statistics(
            symbolic_series().lambdify().statistics), N=p, B=1), "series"),
    "symsgd.Series.map": (lambda p: series().map(p), "series"),
    "symsgd.Series.subs": (lambda p: symbolic_series().subs(p, 10), "series"),
    "symsgd.Series.times": (lambda p: series().times(p), "series"),
    "symsgd.Series.truncate": (lambda p: series().truncate(p), None),
    "symsgd.Resummed": (lambda p: symsgd.Resummed(symsgd.gd(2), landscape(), 1, measure=p),
                        None),
    "symsgd.Resummed.__call__": (lambda p: resummed()(p), "routes"),
    "symsgd.Resummed.series": (lambda p: resummed().series(p), None),
    "symsgd.simulate": (lambda p: symsgd.simulate(schedule=symsgd.sgd(2), landscape=landscape(),
                                                  lr=p, trials=2, seed=0), "backends"),
    "symsgd.Simulation": (
        lambda p: symsgd.Simulation(*[p] * len(dataclasses.fields(symsgd.Simulation))),
        "backends"),
    "symsgd.Simulation.plot": (lambda p: simulation().plot(p), "backends"),
    "symsgd.cli.main": (lambda p: symsgd.cli.main(["demo", "--N", p]), None),
    "symsgd.codegen.Kernel": (lambda p: symsgd.codegen.Kernel(p), "series"),
    "symsgd.codegen.compile_series": (lambda p: symsgd.codegen.compile_series(p), "series"),
    # landscapes, data and schedules
    "symsgd.Landscape": (lambda p: symsgd.Landscape(X**2, X, X, init=[0]) and
                         symsgd.Landscape(p, X, X, init=[0]), None),
    "symsgd.Landscape.cumulant": (lambda p: landscape().cumulant(p), None),
    "symsgd.Landscape.derivative": (lambda p: landscape().derivative(p), None),
    "symsgd.Landscape.expect": (lambda p: landscape().expect(p), None),
    "symsgd.Landscape.moment": (lambda p: landscape().moment(p), None),
    "symsgd.Landscape.numeric": (lambda p: landscape().numeric(backend=p), "backends"),
    "symsgd.Landscape.statistics": (lambda p: landscape().statistics([p]), None),
    "symsgd.Distribution.check": (lambda p: symsgd.StandardNormal().check(p), None),
    "symsgd.Dataset.check": (lambda p: symsgd.Dataset([1]).check(p), None),
    "symsgd.StandardNormal.expect": (lambda p: symsgd.StandardNormal().expect(p, (X,)), None),
    "symsgd.StandardNormal.moment": (lambda p: symsgd.StandardNormal().moment((p,), (X,)), None),
    "symsgd.StandardNormal.sample": (lambda p: symsgd.StandardNormal().sample(rng(), (p,), (X,)),
                                     None),
    "symsgd.RandomVariables": (lambda p: symsgd.RandomVariables({X: p}), None),
    "symsgd.RandomVariables.check": (
        lambda p: symsgd.RandomVariables({X: sympy.stats.Normal("Z", 0, 1)}).check((p,)), None),
    "symsgd.RandomVariables.moment": (
        lambda p: symsgd.RandomVariables({X: sympy.stats.Normal("Z", 0, 1)}).moment((p,), (X,)),
        None),
    "symsgd.RandomVariables.sample": (
        lambda p: symsgd.RandomVariables({X: sympy.stats.Normal("Z", 0, 1)}).sample(
            rng(), (p,), (X,)), None),
    "symsgd.Dataset": (lambda p: symsgd.Dataset([p, 1]), None),
    "symsgd.Dataset.expect": (lambda p: symsgd.Dataset([1]).expect(p, (X,)), None),
    "symsgd.Dataset.sample": (lambda p: symsgd.Dataset([1]).sample(rng(), (p,), (X,)), None),
    "symsgd.distributions.as_distribution": (
        lambda p: symsgd.distributions.as_distribution(p, (X,)), None),
    "symsgd.landscapes.mean_estimation": (lambda p: symsgd.landscapes.mean_estimation(hessian=p),
                                          None),
    "symsgd.landscapes.linear_regression": (
        lambda p: symsgd.landscapes.linear_regression(noise=p), None),
    "symsgd.sgd": (lambda p: symsgd.sgd(p), None),
    "symsgd.gd": (lambda p: symsgd.gd(3, steps=p), None),
    "symsgd.Schedule": (lambda p: symsgd.Schedule([[p]]), None),
    "symsgd.SGDSchedule": (lambda p: symsgd.SGDSchedule(4, batch=p), None),
    "symsgd.GDSchedule": (lambda p: symsgd.GDSchedule(p), None),
    "symsgd.GDSchedule.sample_batches": (lambda p: symsgd.gd(2).sample_batches(rng(), p), None),
    "symsgd.SGDSchedule.sample_batches": (
        lambda p: symsgd.sgd(2, epochs=2, reshuffle="random").sample_batches(rng(), p), None),
    # tensors
    "symsgd.tensors.Contraction": (lambda p: symsgd.tensors.Contraction([p], [[0]], []), None),
    "symsgd.tensors.contractions_in": (lambda p: symsgd.tensors.contractions_in(p), None),
    "symsgd.tensors.collect_contractions": (lambda p: symsgd.tensors.collect_contractions(p), None),
    "symsgd.tensors.evaluate_expr": (
        lambda p: symsgd.tensors.evaluate_expr(ghg(), {(1,): sympy.Array([1, 2]),
                                                       (2,): [[p, 0], [0, 0]]}), None),
    "symsgd.tensors.lookup_statistic": (lambda p: symsgd.tensors.lookup_statistic({}, p), None),
    "symsgd.tensors.statistic_name": (lambda p: symsgd.tensors.statistic_name(p), None),
    # routes and diagrams
    "symsgd.perturbation.expand": (lambda p: symsgd.perturbation.expand(symsgd.sgd(3), p),
                                   None),
    "symsgd.perturbation.route": (
        lambda p: symsgd.perturbation.route(symsgd.sgd(3), 1, p, "test", 1, False), "routes"),
    "symsgd.perturbation.weight_function": (lambda p: symsgd.perturbation.weight_function(p),
                                            "routes"),
    "symsgd.measures.root_products": (lambda p: symsgd.measures.root_products(p), None),
    "symsgd.diagrams.Diagram": (lambda p: symsgd.diagrams.Diagram(p), None),
    "symsgd.diagrams.enumerate_diagrams": (
        lambda p: list(symsgd.diagrams.enumerate_diagrams(p)), None),
    "symsgd.diagrams.rooted_trees": (lambda p: symsgd.diagrams.rooted_trees(p), "routes"),
    "symsgd.diagrams.set_partitions": (lambda p: symsgd.diagrams.set_partitions(p), "routes"),
    "symsgd.diagrams.count_embeddings": (
        lambda p: symsgd.diagrams.count_embeddings(diagram(), p), None),
    "symsgd.diagrams.iter_embeddings": (
        lambda p: list(symsgd.diagrams.iter_embeddings(diagram(), p)), None),
    "symsgd.diagrams.embedding_automorphisms": (
        lambda p: symsgd.diagrams.embedding_automorphisms(diagram(), p), None),
    "symsgd.diagrams.weight": (lambda p: symsgd.diagrams.weight(diagram(), symsgd.sgd(3), p),
                               "routes"),
    "symsgd.diagrams.draw": (lambda p: symsgd.diagrams.draw(diagram(), embedding=p), None),
    "symsgd.diagrams.layout": (lambda p: symsgd.diagrams.layout(diagram(), p), None),
    "symsgd.diagrams.to_tikz": (lambda p: symsgd.diagrams.to_tikz(diagram(), x=p), "routes"),
    "symsgd.diagrams.resummed_loss": (
        lambda p: symsgd.diagrams.resummed_loss(symsgd.gd(2), landscape=p, order=1), None),
    "symsgd.diagrams.resummed_displacement": (
        lambda p: symsgd.diagrams.resummed_displacement(symsgd.gd(2), landscape=p, order=1),
        None),
    "symsgd.diagrams.rvalue_terms": (lambda p: symsgd.diagrams.rvalue_terms(1, "test", p, 2),
                                     "routes"),
    "symsgd.diagrams.RTerm": (lambda p: symsgd.diagrams.RTerm(p, p, p, p, p, p), "routes"),
    "symsgd.diagrams.uvalue": (lambda p: symsgd.diagrams.uvalue(diagram(), N=p), "routes"),
    "symsgd.diagrams.decorated_values": (
        lambda p: symsgd.diagrams.decorated_values(diagram(), N=p), "routes"),
    "symsgd.diagrams.contributions": (lambda p: symsgd.diagrams.contributions(symsgd.sgd(3), p),
                                      None),
    "symsgd.diagrams.Contribution": (lambda p: symsgd.diagrams.Contribution(diagram(), p, p),
                                     "routes"),
    "symsgd.diagrams.diagram_expansion": (
        lambda p: symsgd.diagrams.diagram_expansion(symsgd.sgd(3), p), None),
    # optimizers, Lyapunov, phase space
    "symsgd.optim.SGD": (lambda p: symsgd.optim.SGD(p), "backends"),
    "symsgd.optim.HeavyBall": (lambda p: symsgd.optim.HeavyBall(R(1, 2), p), "backends"),
    "symsgd.optim.Nesterov": (lambda p: symsgd.optim.Nesterov(R(1, 2), p), "backends"),
    "symsgd.optim.QHM": (lambda p: symsgd.optim.QHM(R(1, 2), R(1, 2), p), "backends"),
    "symsgd.optim.Preconditioned": (lambda p: symsgd.optim.Preconditioned([[p]]), "backends"),
    "symsgd.optim.damped_newton": (lambda p: symsgd.optim.damped_newton(R(1, 2), [[p]]),
                                   "backends"),
    "symsgd.optim.natural_gradient": (lambda p: symsgd.optim.natural_gradient(R(1, 2), [[p]]),
                                      "backends"),
    "symsgd.optim.adam_preconditioned": (
        lambda p: symsgd.optim.adam_preconditioned(R(1, 2), [[p]]), "backends"),
    "symsgd.lyapunov.stationary_covariance": (
        lambda p: symsgd.lyapunov.stationary_covariance(sgd_opt(), p, 1), "backends"),
    "symsgd.lyapunov.continuous_covariance": (
        lambda p: symsgd.lyapunov.continuous_covariance(sgd_opt(), p, 1), "backends"),
    "symsgd.lyapunov.covariance_at": (
        lambda p: symsgd.lyapunov.covariance_at(sgd_opt(), p, 1, 2), "backends"),
    "symsgd.lyapunov.self_consistent_covariance": (
        lambda p: symsgd.lyapunov.self_consistent_covariance(lambda s: sgd_opt(), p), "backends"),
    "symsgd.lyapunov.discrete_lyapunov": (
        lambda p: symsgd.lyapunov.discrete_lyapunov([[p]], [[1]]), "backends"),
    "symsgd.lyapunov.lyapunov_residual": (
        lambda p: symsgd.lyapunov.lyapunov_residual([[p]], [[1]], [[1]]), "backends"),
    "symsgd.lyapunov.kernel": (lambda p: symsgd.lyapunov.kernel(p), "backends"),
    "symsgd.lyapunov.stationary_covariance_torch": (
        lambda p: symsgd.lyapunov.stationary_covariance_torch(sgd_opt(), p, 1), "backends"),
    "symsgd.lyapunov.training_error": (
        lambda p: symsgd.lyapunov.training_error(sgd_opt(), p, 1), "backends"),
    "symsgd.lyapunov.training_error_continuous": (
        lambda p: symsgd.lyapunov.training_error_continuous(sgd_opt(), p, 1), "backends"),
    "symsgd.lyapunov.escape_efficiency": (
        lambda p: symsgd.lyapunov.escape_efficiency(sgd_opt(), p, 1, 2), "backends"),
    "symsgd.lyapunov.escape_efficiency_continuous": (
        lambda p: symsgd.lyapunov.escape_efficiency_continuous(sgd_opt(), p, 1, 2), "backends"),
    "symsgd.lyapunov.bayes_kl": (lambda p: symsgd.lyapunov.bayes_kl(sgd_opt(), p, 1, 10),
                                 "backends"),
    "symsgd.lyapunov.bayes_lr_equation": (
        lambda p: symsgd.lyapunov.bayes_lr_equation([p], 10, 1, R(1, 10)), "backends"),
    "symsgd.lyapunov.optimal_bayes_lr": (lambda p: symsgd.lyapunov.optimal_bayes_lr([p], 10, 1),
                                         "backends"),
    "symsgd.lyapunov.optimal_bayes_lr_continuous": (
        lambda p: symsgd.lyapunov.optimal_bayes_lr_continuous([p], 10, 1), "backends"),
    "symsgd.lyapunov.kramers_rate": (lambda p: symsgd.lyapunov.kramers_rate(p, 1, 1, 1, 1),
                                     "backends"),
    "symsgd.lyapunov.kramers_rate_continuous": (
        lambda p: symsgd.lyapunov.kramers_rate_continuous(p, 1, 1, 1, 1), "backends"),
    "symsgd.phase_space.PhaseSpaceOU": (
        lambda p: symsgd.phase_space.PhaseSpaceOU(p, 0, 0, 1), "backends"),
    "symsgd.phase_space.DiscretePhaseSpace": (
        lambda p: symsgd.phase_space.DiscretePhaseSpace(p, 0, 0, 1), "backends"),
    "symsgd.phase_space.diffusion_exponent": (
        lambda p: symsgd.phase_space.diffusion_exponent([p], [1]), "backends"),
}

#: Entry points without user values: they must take no arguments (besides ``self``).
NO_USER_VALUES = {
    "symsgd.landscapes.gauss", "symsgd.landscapes.helix", "symsgd.landscapes.shifting_valleys",
    "symsgd.landscapes.valley_of_death", "symsgd.Landscape.polynomial_degree",
    "symsgd.GDSchedule.draw", "symsgd.GDSchedule.realizations", "symsgd.Schedule.realizations",
    "symsgd.SGDSchedule.realizations", "symsgd.Distribution",
    "symsgd.StandardNormal", "symsgd.schedule.BaseSchedule", "symsgd.optim.Optimizer", "symsgd.Series.as_expr",
    "symsgd.Series.latex", "symsgd.Series.simplify",
}

#: Entry points whose refusal is not a SymsgdError: a command line reports bad arguments
#: through argparse (``SystemExit`` with status 2 and a usage message).
COMMAND_LINE = {"symsgd.cli.main"}


def _rows():
    rows = []
    for name, (call, owner) in sorted(CALLS.items()):
        marks = [_xfail(owner)] if owner else []
        rows.append(pytest.param(name, call, marks=marks, id=name))
    return rows


def test_the_table_lists_every_public_entry_point():
    found = set(ENTRY_POINTS)
    listed = set(CALLS) | NO_USER_VALUES
    assert not CALLS.keys() & NO_USER_VALUES
    missing, stale = sorted(found - listed), sorted(listed - found)
    assert not missing, f"public entry points without a row in CALLS or NO_USER_VALUES: {missing}"
    assert not stale, f"rows naming no public entry point: {stale}"


@pytest.mark.parametrize("name", sorted(NO_USER_VALUES))
def test_entry_points_without_user_values_take_no_arguments(name):
    params = list(inspect.signature(ENTRY_POINTS[name]).parameters)
    assert params in ([], ["self"]), f"{name} takes {params}: give it a row in CALLS"


@pytest.mark.parametrize("name, call", _rows())
def test_a_string_is_refused_and_never_run(name, call, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = "PWNED_" + re.sub(r"\W", "_", name)
    payload = f"__import__('os').system('touch {marker}')"
    expected = SystemExit if name in COMMAND_LINE else SymsgdError
    try:
        with pytest.raises(expected) as info:
            call(payload)
    finally:
        assert not (tmp_path / marker).exists(), f"{name} ran the code in a string"
    if expected is SystemExit:
        assert info.value.code == 2


# ------------------------------------------------- other bad input, typed errors
W = sympy.Symbol("w")
STATS = {(1,): np.array([1.0, 2.0]), (2,): np.eye(2)}

#: ``(description, call, error, message)``: bad values other than code strings.
BAD_INPUTS = [
    ("expression of None", lambda: expression(None, "v"), InputTypeError, "v must be a SymPy"),
    ("expression of a bool", lambda: expression(True, "v"), InputTypeError, "got bool"),
    ("expression of a set", lambda: expression(sympy.FiniteSet(1), "v"), InputTypeError,
     "SymPy expression"),
    ("exact of a complex", lambda: exact(1j, "v"), InputTypeError, "float"),
    ("exact of numpy float", lambda: exact(np.float32(1), "v"), InputTypeError, "float"),
    ("exact of a Decimal", lambda: exact(__import__("decimal").Decimal("1.5"), "v"),
     InputTypeError, "not an exact number"),
    ("entries with bytes", lambda: entries([[1], [b"x"]], "m"), InputTypeError, r"m\[1\]\[0\]"),
    ("entries of a str array", lambda: entries(np.array(["1"]), "m"), InputTypeError, "strings"),
    ("Dataset of NaN", lambda: symsgd.Dataset([float("nan"), 1]), NonFiniteError, "nan"),
    ("Dataset of inf", lambda: symsgd.Dataset([float("inf"), 1]), NonFiniteError, "inf"),
    ("Dataset of -inf in a point", lambda: symsgd.Dataset([(1, -np.inf)]), NonFiniteError,
     r"point 0\[1\]"),
    ("Dataset of zoo", lambda: symsgd.Dataset([sympy.zoo]), NonFiniteError, "zoo"),
    ("Dataset of None", lambda: symsgd.Dataset([None]), InputTypeError, "point 0"),
    ("Dataset of a dict", lambda: symsgd.Dataset({1: 2}), InputTypeError, "sequence"),
    ("Dataset of ragged points", lambda: symsgd.Dataset([(1, 2), (3,)]), LandscapeError,
     "different numbers"),
    ("Dataset of an empty point", lambda: symsgd.Dataset([()]), LandscapeError,
     "no coordinates"),
    ("Dataset of nested points", lambda: symsgd.Dataset([((1, 2),)]), InputTypeError,
     r"point 0\[0\]"),
    ("sampling a symbolic Dataset", lambda: symsgd.Dataset([W]).sample(rng(), (2,), (X,)),
     LandscapeError, "numeric points"),
    ("sampling without a Generator", lambda: symsgd.StandardNormal().sample(0, (2,), (X,)),
     InputTypeError, "Generator"),
    ("sampling a negative shape", lambda: symsgd.Dataset([1]).sample(rng(), (-1,), (X,)),
     ShapeError, "non-negative"),
    ("moment with a float exponent", lambda: symsgd.StandardNormal().moment((1.0,), (X,)),
     ShapeError, "non-negative integers"),
    ("moment with too few exponents", lambda: symsgd.StandardNormal().moment((1,), (X, W)),
     ShapeError, "tuple of 2"),
    ("expect over a non-symbol", lambda: symsgd.StandardNormal().expect(X, (X + 1,)),
     InputTypeError, "Symbols"),
    ("expect of a list", lambda: symsgd.StandardNormal().expect([X], (X,)), InputTypeError,
     "got list"),
    ("Cauchy law has no mean",
     lambda: symsgd.Landscape(W * X, W, X, init=[0],
                              distribution=sympy.stats.Cauchy("Q", 0, 1)).G,
     MomentError, "no finite moment"),
    ("a law that is not a mapping", lambda: symsgd.RandomVariables([1]), InputTypeError,
     "mapping"),
    ("Landscape.derivative(-1)", lambda: landscape().derivative(-1), ShapeError, "non-negative"),
    ("Landscape.derivative(1.0)", lambda: landscape().derivative(1.0), ShapeError,
     "non-negative"),
    ("Landscape.expect(None)", lambda: landscape().expect(None), InputTypeError, "expr"),
    ("Landscape.statistics of a symbolic landscape",
     lambda: symsgd.landscapes.mean_estimation(hessian=sympy.Symbol("H")).statistics([(2,)]),
     LandscapeError, "not numeric"),
    ("Contraction degrees not integers",
     lambda: symsgd.tensors.Contraction([1.5], [[0]], []), InputTypeError, "integers"),
    ("Contraction degrees not a sequence", lambda: symsgd.tensors.Contraction(1, [[0]], []),
     InputTypeError, "sequence of integers"),
    ("Contraction with unused slots", lambda: symsgd.tensors.Contraction([1], [[0]], []),
     ShapeError, "do not match"),
    ("Contraction with a bad partition", lambda: symsgd.tensors.Contraction([0], [[1]], []),
     ShapeError, "partition"),
    ("Contraction positional free", lambda: symsgd.tensors.Contraction([1], [[0]], [], [0]),
     TypeError, "positional"),
    ("Contraction.evaluate on strings", lambda: ghg().evaluate({(1,): ["1", "2"],
                                                                (2,): np.eye(2)}),
     InputTypeError, "strings"),
    ("Contraction.evaluate on an object array of strings",
     lambda: ghg().evaluate({(1,): np.array(["1", 2], dtype=object), (2,): np.eye(2)}),
     InputTypeError, "strings"),
    ("Contraction.evaluate on None", lambda: ghg().evaluate({(1,): None, (2,): np.eye(2)}),
     InputTypeError, "not numeric"),
    ("Contraction.evaluate on NaN", lambda: ghg().evaluate({(1,): [np.nan, 1], (2,): np.eye(2)}),
     NonFiniteError, "NaN"),
    ("Contraction.evaluate, missing statistic", lambda: ghg().evaluate({(1,): [1.0, 2.0]}),
     MissingStatisticError, "no statistic"),
    ("Contraction.evaluate, mismatched shapes",
     lambda: ghg().evaluate({(1,): [1.0, 2.0], (2,): np.eye(3)}), ShapeError, "mismatched"),
    ("evaluate_expr of a string", lambda: symsgd.tensors.evaluate_expr("x", STATS),
     InputTypeError, "expr is a string"),
    ("collect_contractions of a product",
     lambda: symsgd.tensors.collect_contractions(ghg() ** 2), ShapeError, "product"),
    ("statistic_name of floats", lambda: symsgd.tensors.statistic_name((1.0,)), InputTypeError,
     "integers"),
    ("sgd with a float N", lambda: symsgd.sgd(3.0), InputTypeError, "float"),
    ("sgd with batch > N (symbolic)", lambda: symsgd.sgd(N, batch=N + 1), ScheduleError,
     "exceeds"),
    ("sample_batches with 0 trials", lambda: symsgd.sgd(2).sample_batches(rng(), 0),
     RangeError, "at least 1"),
    ("sample_batches without a Generator", lambda: symsgd.sgd(2).sample_batches(None, 1),
     InputTypeError, "Generator"),
]


@pytest.mark.parametrize("call, error, message",
                         [pytest.param(c, e, m, id=d) for d, c, e, m in BAD_INPUTS])
def test_bad_input_raises_a_typed_error(call, error, message):
    with pytest.raises(error, match=message) as info:
        call()
    if error is not TypeError:        # TypeError: Python's own, for a positional option
        assert isinstance(info.value, SymsgdError)
