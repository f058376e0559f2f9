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

"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from functools import lru_cache

import numpy as np
import pytest
import sympy

import symsgd
from _public import public_modules
from symsgd._sympify import entries, exact, expression, no_text
from symsgd.errors import (InputTypeError, LandscapeError, MissingStatisticError, MomentError,
                           NonFiniteError, RangeError, ScheduleError, ShapeError, SymsgdError)

OPERATORS = ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
             "__truediv__", "__rtruediv__", "__pow__", "__call__", "__getitem__")


def entry_points() -> dict:
    """``{public name: callable}``: each public function, class and top-level class method once.

    A callable reachable under several names is listed under the first one:
    ``symsgd.<name>`` before ``symsgd.<module>.<name>``, modules in sorted order.
    """
    out, seen, classes = {}, set(), []
    for module_name in public_modules():
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
    return symsgd.resummed_loss(symsgd.gd(2, steps=2), 1, landscape=landscape())


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


def xy():
    import torch
    return torch.zeros(3, 2, dtype=torch.float64), None


@lru_cache(maxsize=None)
def net():
    return symsgd.nets.NetLandscape.from_landscape(landscape(), [[-1], [1]])


# --------------------------------------------------------------- the table
#: ``{entry point: (call with the payload string p, None)}``.
CALLS = {
    # the front door and the result types
    "symsgd.expected_loss": (lambda p: symsgd.expected_loss(symsgd.sgd(3), 1, landscape=p),
                             None),
    "symsgd.expected_displacement": (
        lambda p: symsgd.expected_displacement(symsgd.sgd(3), 1, landscape=p), None),
    "symsgd.Series": (lambda p: symsgd.Series((p,)), None),
    "symsgd.Series.__add__": (lambda p: series() + p, None),
    "symsgd.Series.__call__": (lambda p: series()(p), None),
    "symsgd.Series.__mul__": (lambda p: series() * p, None),
    "symsgd.Series.__sub__": (lambda p: series() - p, None),
    "symsgd.Series.coeff": (lambda p: series().coeff(p), None),
    "symsgd.Series.contractions": (lambda p: symbolic_series().contractions(p), None),
    "symsgd.Series.__radd__": (lambda p: p + series(), None),
    "symsgd.Series.__rsub__": (lambda p: p - series(), None),
    "symsgd.Series.__truediv__": (lambda p: series() / p, None),
    "symsgd.Series.__rtruediv__": (lambda p: p / series(), None),
    "symsgd.Series.collect": (lambda p: symbolic_series().collect(p), None),
    "symsgd.Series.diff": (lambda p: symbolic_series().diff(p), None),
    "symsgd.Series.expand": (lambda p: symbolic_series().expand(deep=p), None),
    "symsgd.Series.factor": (lambda p: symbolic_series().factor(p), None),
    "symsgd.Series.xreplace": (lambda p: symbolic_series().xreplace({p: 1}), None),
    "symsgd.Series.simplify": (lambda p: symbolic_series().simplify(rational=p), None),
    "symsgd.Series.evaluate": (lambda p: symbolic_series().evaluate(landscape(), N=p, B=1),
                               None),
    "symsgd.Series.lambdify": (
        lambda p: symbolic_series().lambdify()(0.01, landscape().statistics(
            symbolic_series().lambdify().statistics), N=p, B=1), None),
    "symsgd.Series.map": (lambda p: series().map(p), None),
    "symsgd.Series.subs": (lambda p: symbolic_series().subs(p, 10), None),
    "symsgd.Series.times": (lambda p: series().times(p), None),
    "symsgd.Series.truncate": (lambda p: series().truncate(p), None),
    "symsgd.Resummed": (lambda p: symsgd.Resummed(symsgd.gd(2), landscape(), 1, measure=p),
                        None),
    "symsgd.Resummed.__call__": (lambda p: resummed()(p), None),
    "symsgd.Resummed.asymptote": (lambda p: resummed().asymptote(p), None),
    "symsgd.Resummed.limit": (lambda p: resummed().limit(p), None),
    "symsgd.Resummed.velocity": (lambda p: resummed().velocity(p), None),
    "symsgd.Resummed.series": (lambda p: resummed().series(p), None),
    "symsgd.simulate": (lambda p: symsgd.simulate(schedule=symsgd.sgd(2), landscape=landscape(),
                                                  lr=p, trials=2, seed=0), None),
    "symsgd.Simulation": (
        lambda p: symsgd.Simulation(*[p] * len(dataclasses.fields(symsgd.Simulation))),
        None),
    "symsgd.Simulation.plot": (lambda p: simulation().plot(measure=p), None),
    "symsgd.cli.main": (lambda p: symsgd.cli.main(["demo", "--N", p]), None),
    "symsgd.codegen.Kernel": (lambda p: symsgd.codegen.Kernel(p), None),
    "symsgd.codegen.compile_series": (lambda p: symsgd.codegen.compile_series(p), None),
    # landscapes, data and schedules
    "symsgd.Landscape": (lambda p: symsgd.Landscape(X**2, X, X, init=[0]) and
                         symsgd.Landscape(p, X, X, init=[0]), None),
    "symsgd.Landscape.cumulant": (lambda p: landscape().cumulant(p), None),
    "symsgd.Landscape.cumulant_factors": (lambda p: landscape().cumulant_factors(p), None),
    "symsgd.Landscape.derivative": (lambda p: landscape().derivative(p), None),
    "symsgd.Landscape.expect": (lambda p: landscape().expect(p), None),
    "symsgd.Landscape.moment": (lambda p: landscape().moment(p), None),
    "symsgd.Landscape.numeric": (lambda p: landscape().numeric(backend=p), None),
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
    "symsgd.landscapes.shifting_valleys": (
        lambda p: symsgd.landscapes.shifting_valleys(init=(p, 1)), None),
    "symsgd.landscapes.valley_of_death": (
        lambda p: symsgd.landscapes.valley_of_death(init=(1, p)), None),
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
    "symsgd.routes.Request": (lambda p: symsgd.routes.Request(symsgd.sgd(3), 1, landscape=p),
                              None),
    "symsgd.routes.Route": (lambda p: symsgd.routes.Route(p, p, symbolic=p, summary=p), None),
    "symsgd.routes.lookup": (lambda p: symsgd.routes.lookup(p), None),
    "symsgd.routes.exact.ROUTE": (lambda p: symsgd.routes.exact.ROUTE(p), None),
    "symsgd.routes.direct.ROUTE": (lambda p: symsgd.routes.direct.ROUTE(p), None),
    "symsgd.routes.diagrams.ROUTE": (lambda p: symsgd.routes.diagrams.ROUTE(p), None),
    "symsgd.routes.direct.expand": (lambda p: symsgd.routes.direct.expand(symsgd.sgd(3), p),
                                    None),
    "symsgd.routes.direct.weight_function": (
        lambda p: symsgd.routes.direct.weight_function(p), None),
    "symsgd.routes.diagrams.expand": (lambda p: symsgd.routes.diagrams.expand(symsgd.sgd(3), p),
                                      None),
    "symsgd.routes.diagrams.contributions": (
        lambda p: symsgd.routes.diagrams.contributions(symsgd.sgd(3), 1, measure=p), None),
    "symsgd.resummed_loss": (lambda p: symsgd.resummed_loss(symsgd.gd(2), 1, landscape=p), None),
    "symsgd.resummed_displacement": (
        lambda p: symsgd.resummed_displacement(symsgd.gd(2), 1, landscape=p), None),
    "symsgd.diagrams.contributions_of": (
        lambda p: symsgd.diagrams.contributions_of(symbolic_series(), p), None),
    "symsgd.diagrams.values.contribution_table": (
        lambda p: symsgd.diagrams.values.contribution_table(symsgd.sgd(3), p, "test", 1, False),
        None),
    "symsgd.diagrams.values.atom": (lambda p: symsgd.diagrams.values.atom(p), None),
    "symsgd.measures.root_products": (lambda p: symsgd.measures.root_products(p), None),
    "symsgd.diagrams.Diagram": (lambda p: symsgd.diagrams.Diagram(p), None),
    "symsgd.diagrams.enumerate_diagrams": (
        lambda p: list(symsgd.diagrams.enumerate_diagrams(p)), None),
    "symsgd.diagrams.rooted_trees": (lambda p: symsgd.diagrams.rooted_trees(p), None),
    "symsgd.diagrams.set_partitions": (lambda p: symsgd.diagrams.set_partitions(p), None),
    "symsgd.diagrams.count_embeddings": (
        lambda p: symsgd.diagrams.count_embeddings(diagram(), p), None),
    "symsgd.diagrams.iter_embeddings": (
        lambda p: list(symsgd.diagrams.iter_embeddings(diagram(), p)), None),
    "symsgd.diagrams.embedding_automorphisms": (
        lambda p: symsgd.diagrams.embedding_automorphisms(diagram(), p), None),
    "symsgd.diagrams.weight": (
        lambda p: symsgd.diagrams.weight(diagram(), symsgd.sgd(3), count=p), None),
    "symsgd.diagrams.draw": (lambda p: symsgd.diagrams.draw(diagram(), embedding=p), None),
    "symsgd.diagrams.layout": (lambda p: symsgd.diagrams.layout(diagram(), embedding=p), None),
    "symsgd.diagrams.to_tikz": (lambda p: symsgd.diagrams.to_tikz(diagram(), x=p), None),
    "symsgd.diagrams.rvalue_terms": (lambda p: symsgd.diagrams.rvalue_terms(1, "test", p, 2),
                                     None),
    "symsgd.diagrams.RTerm": (lambda p: symsgd.diagrams.RTerm(p, p, p, p, p, p), None),
    "symsgd.diagrams.uvalue": (lambda p: symsgd.diagrams.uvalue(diagram(), N=p), None),
    "symsgd.diagrams.decorated_values": (
        lambda p: symsgd.diagrams.decorated_values(diagram(), N=p), None),
    "symsgd.diagrams.Contribution": (lambda p: symsgd.diagrams.Contribution(diagram(), p, p),
                                     None),
    "symsgd.optim.SGD": (lambda p: symsgd.optim.SGD(p), None),
    "symsgd.optim.HeavyBall": (lambda p: symsgd.optim.HeavyBall(R(1, 2), p), None),
    "symsgd.optim.Nesterov": (lambda p: symsgd.optim.Nesterov(R(1, 2), p), None),
    "symsgd.optim.QHM": (lambda p: symsgd.optim.QHM(R(1, 2), R(1, 2), p), None),
    "symsgd.optim.Preconditioned": (lambda p: symsgd.optim.Preconditioned([[p]]), None),
    "symsgd.optim.damped_newton": (lambda p: symsgd.optim.damped_newton(R(1, 2), [[p]]),
                                   None),
    "symsgd.optim.natural_gradient": (lambda p: symsgd.optim.natural_gradient(R(1, 2), [[p]]),
                                      None),
    "symsgd.optim.adam_preconditioned": (
        lambda p: symsgd.optim.adam_preconditioned(R(1, 2), [[p]]), None),
    "symsgd.lyapunov.stationary_covariance": (
        lambda p: symsgd.lyapunov.stationary_covariance(sgd_opt(), p, 1), None),
    "symsgd.lyapunov.continuous_covariance": (
        lambda p: symsgd.lyapunov.continuous_covariance(sgd_opt(), p, 1), None),
    "symsgd.lyapunov.covariance_at": (
        lambda p: symsgd.lyapunov.covariance_at(sgd_opt(), p, 1, 2), None),
    "symsgd.lyapunov.self_consistent_covariance": (
        lambda p: symsgd.lyapunov.self_consistent_covariance(lambda s: sgd_opt(), p), None),
    "symsgd.lyapunov.discrete_lyapunov": (
        lambda p: symsgd.lyapunov.discrete_lyapunov([[p]], [[1]]), None),
    "symsgd.lyapunov.lyapunov_residual": (
        lambda p: symsgd.lyapunov.lyapunov_residual([[p]], [[1]], [[1]]), None),
    "symsgd.lyapunov.kernel": (lambda p: symsgd.lyapunov.kernel(p), None),
    "symsgd.lyapunov.training_error": (
        lambda p: symsgd.lyapunov.training_error(sgd_opt(), p, 1), None),
    "symsgd.lyapunov.training_error_continuous": (
        lambda p: symsgd.lyapunov.training_error_continuous(sgd_opt(), p, 1), None),
    "symsgd.lyapunov.escape_efficiency": (
        lambda p: symsgd.lyapunov.escape_efficiency(sgd_opt(), p, 1, 2), None),
    "symsgd.lyapunov.escape_efficiency_continuous": (
        lambda p: symsgd.lyapunov.escape_efficiency_continuous(sgd_opt(), p, 1, 2), None),
    "symsgd.lyapunov.bayes_kl": (lambda p: symsgd.lyapunov.bayes_kl(sgd_opt(), p, 1, 10),
                                 None),
    "symsgd.lyapunov.bayes_lr_equation": (
        lambda p: symsgd.lyapunov.bayes_lr_equation([p], 10, 1, R(1, 10)), None),
    "symsgd.lyapunov.optimal_bayes_lr": (lambda p: symsgd.lyapunov.optimal_bayes_lr([p], 10, 1),
                                         None),
    "symsgd.lyapunov.optimal_bayes_lr_continuous": (
        lambda p: symsgd.lyapunov.optimal_bayes_lr_continuous([p], 10, 1), None),
    "symsgd.lyapunov.kramers_rate": (lambda p: symsgd.lyapunov.kramers_rate(p, 1, 1, 1, 1),
                                     None),
    "symsgd.lyapunov.kramers_rate_continuous": (
        lambda p: symsgd.lyapunov.kramers_rate_continuous(p, 1, 1, 1, 1), None),
    "symsgd.phase_space.PhaseSpaceOU": (
        lambda p: symsgd.phase_space.PhaseSpaceOU(p, 0, 0, 1), None),
    "symsgd.phase_space.DiscretePhaseSpace": (
        lambda p: symsgd.phase_space.DiscretePhaseSpace(p, 0, 0, 1), None),
    "symsgd.phase_space.diffusion_exponent": (
        lambda p: symsgd.phase_space.diffusion_exponent([p], [1]), None),
    # real networks (torch models on a finite population)
    "symsgd.nets.NetLandscape": (lambda p: symsgd.nets.NetLandscape(p, lambda o: o, *xy()),
                                 None),
    "symsgd.nets.Estimates": (lambda p: symsgd.nets.Estimates(p, [[0.0]], [[[0.0]]], True,
                                                              None, 0, 0), None),
    "symsgd.nets.Prediction": (lambda p: symsgd.nets.Prediction(series(), p, [0.0], [[[0.0]]]),
                               None),
    "symsgd.nets.estimate": (lambda p: symsgd.nets.estimate(p, net()), None),
    "symsgd.nets.predict": (lambda p: symsgd.nets.predict(series(), net(), budget=p), None),
    "symsgd.nets.Subspace": (lambda p: symsgd.nets.Subspace(p, [[1.0]], [[1.0]], [0.0], [0.0]),
                             None),
    "symsgd.nets.hessian_operator": (lambda p: symsgd.nets.hessian_operator(p), None),
    "symsgd.nets.top_subspace": (lambda p: symsgd.nets.top_subspace(net(), p), None),
    "symsgd.nets.restrict": (lambda p: symsgd.nets.restrict(net(), p), None),
    "symsgd.nets.Restricted": (lambda p: symsgd.nets.Restricted(p, ([0.0],)), None),
    "symsgd.nets.simulate": (lambda p: symsgd.nets.simulate(net(), symsgd.nets.dynamics.GD(
        2, steps=1), lr=p, trials=2), None),
    "symsgd.nets.Runs": (lambda p: symsgd.nets.Runs(p, [0], 0, [[[0.0]]], [[[0.0]]], [[[0.0]]],
                                                    [[[0.0]]], [[[0.0]]], [[True]]), None),
    "symsgd.approximations.sde_expected_loss": (
        lambda p: symsgd.approximations.sde_expected_loss(landscape(), 1, steps=p), None),
    "symsgd.approximations.sde_expected_displacement": (
        lambda p: symsgd.approximations.sde_expected_displacement(landscape(), 1, steps=2,
                                                                  kind=p), None),
    "symsgd.approximations.approximation_loss": (
        lambda p: symsgd.approximations.approximation_loss("svag", 1, steps=2, l=p), None),
    "symsgd.approximations.approximation_displacement": (
        lambda p: symsgd.approximations.approximation_displacement(p, 1, steps=2), None),
    "symsgd.approximations.svag_weight": (
        lambda p: symsgd.approximations.svag_weight(p), None),
    "symsgd.nets.campaign.Config": (lambda p: symsgd.nets.campaign.Config(
        {"landscape": "gauss"}, {"name": "GD", "N": 2}, lr=p, trials=2), None),
    "symsgd.nets.campaign.run": (lambda p: symsgd.nets.campaign.run(p, "out"), None),
    "symsgd.nets.campaign.launch": (lambda p: symsgd.nets.campaign.launch(p, "out"), None),
    "symsgd.nets.campaign.digits_net": (lambda p: symsgd.nets.campaign.digits_net(p), None),
    "symsgd.nets.dynamics.SGD": (lambda p: symsgd.nets.dynamics.SGD(p), None),
    "symsgd.nets.dynamics.GD": (lambda p: symsgd.nets.dynamics.GD(3, steps=p), None),
    "symsgd.nets.dynamics.FreshBatchSGD": (
        lambda p: symsgd.nets.dynamics.FreshBatchSGD(3, steps=2, momentum=p), None),
    "symsgd.nets.dynamics.GDC": (lambda p: symsgd.nets.dynamics.GDC(p, steps=2), None),
    "symsgd.nets.dynamics.SDE": (lambda p: symsgd.nets.dynamics.SDE(3, steps=2, refine=p),
                                 None),
    "symsgd.nets.dynamics.NoisyGD": (lambda p: symsgd.nets.dynamics.NoisyGD(3, steps=2,
                                                                           batch=p), None),
    "symsgd.nets.dynamics.SVAG": (lambda p: symsgd.nets.dynamics.SVAG(3, steps=2, l=p), None),
    "symsgd.nets.data.digits": (lambda p: symsgd.nets.data.digits(classes=p), None),
    "symsgd.nets.data.fashion_mnist": (lambda p: symsgd.nets.data.fashion_mnist(p), None),
    "symsgd.nets.data.cifar10": (lambda p: symsgd.nets.data.cifar10(p), None),
    "symsgd.nets.models.ConvNet": (lambda p: symsgd.nets.models.ConvNet(p, 10), None),
    "symsgd.nets.models.MLP": (lambda p: symsgd.nets.models.MLP(p), None),
    "symsgd.nets.models.LogisticRegression": (
        lambda p: symsgd.nets.models.LogisticRegression(p, 10), None),
    "symsgd.nets.models.StandardNormalModule": (
        lambda p: symsgd.nets.models.StandardNormalModule(dtype=p), None),
}

#: Entry points without user values: they must take no arguments (besides ``self``).
NO_USER_VALUES = {
    "symsgd.landscapes.gauss", "symsgd.landscapes.helix", "symsgd.Landscape.polynomial_degree",
    "symsgd.GDSchedule.draw", "symsgd.GDSchedule.realizations", "symsgd.Schedule.realizations",
    "symsgd.SGDSchedule.realizations", "symsgd.Distribution",
    "symsgd.StandardNormal", "symsgd.schedule.BaseSchedule", "symsgd.optim.Optimizer",
    "symsgd.Series.latex", "symsgd.Series.removeO", "symsgd.statistics.Named",
    "symsgd.statistics.NumericStatistics", "symsgd.nets.dynamics.Dynamics",
}

#: Entry points whose refusal is not a SymsgdError: a command line reports bad arguments
#: through argparse (``SystemExit`` with status 2 and a usage message).
COMMAND_LINE = {"symsgd.cli.main"}

def _rows():
    rows = []
    for name, (call, owner) in sorted(CALLS.items()):
        rows.append(pytest.param(name, call, id=name))
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
    # numbers written as strings: numpy.asarray(..., dtype=float) would parse them silently
    ("no_text of a str array", lambda: no_text(np.array(["1.5"]), "m"), InputTypeError,
     "array of strings"),
    ("no_text of an object array", lambda: no_text(np.array([1.0, "2"], dtype=object), "m"),
     InputTypeError, r"m\[1\]"),
    ("stationary_covariance of a numeric string",
     lambda: symsgd.lyapunov.stationary_covariance(sgd_opt(), ["1.0"], 1), InputTypeError,
     r"hessian\[0\]"),
    ("stationary_covariance of noise as a string",
     lambda: symsgd.lyapunov.stationary_covariance(sgd_opt(), 1.0, "1"), InputTypeError,
     "noise is a string"),
    ("stationary_covariance without an optimizer",
     lambda: symsgd.lyapunov.stationary_covariance(None, 1.0, 1.0), InputTypeError,
     "Optimizer"),
    ("continuous_covariance without an optimizer",
     lambda: symsgd.lyapunov.continuous_covariance("SGD", 1.0, 1.0), InputTypeError,
     "Optimizer"),
    ("covariance_at with a string initial state",
     lambda: symsgd.lyapunov.covariance_at(sgd_opt(), 1.0, 1.0, 2, initial="0"),
     InputTypeError, "initial"),
    ("discrete_lyapunov of a numeric string array",
     lambda: symsgd.lyapunov.discrete_lyapunov(np.array([["0.5"]]), [[1.0]]), InputTypeError,
     "a is an array of strings"),
    ("lyapunov_residual of a numeric string",
     lambda: symsgd.lyapunov.lyapunov_residual([[0.5]], [["1"]], [[1.0]]), InputTypeError,
     r"x\[0\]\[0\]"),
    ("optimal_bayes_lr with batch >= n_data",
     lambda: symsgd.lyapunov.optimal_bayes_lr([1.0], 10, 20), RangeError, "0 < batch"),
    ("optimal_bayes_lr with a negative eigenvalue",
     lambda: symsgd.lyapunov.optimal_bayes_lr([-1.0], 10, 2), RangeError, "positive"),
    ("self_consistent_covariance without a callable",
     lambda: symsgd.lyapunov.self_consistent_covariance(None, 1.0), InputTypeError,
     "callable"),
    ("Preconditioned of a numeric string", lambda: symsgd.optim.Preconditioned([["0.5"]]),
     InputTypeError, r"lr_matrix\[0\]\[0\]"),
    ("damped_newton with a string lr", lambda: symsgd.optim.damped_newton("0.5", 2.0),
     InputTypeError, "lr must be"),
    ("check_stable of numeric strings", lambda: sgd_opt().check_stable(["1.0"]),
     InputTypeError, r"eigenvalues\[0\]"),
    ("Series.map of a non-callable", lambda: series().map(2), InputTypeError, "callable"),
    ("Series.map returning floats", lambda: series().map(lambda c: 0.5), InputTypeError,
     "not a float"),
    ("Series.factor by a number string", lambda: symbolic_series().factor(N, "1"),
     InputTypeError, "generator"),
    ("Series.expand with a string hint", lambda: symbolic_series().expand(modulus="3"),
     InputTypeError, r"expand\(modulus=...\)"),
    ("Series.times of a scalar", lambda: series().times(2), InputTypeError, "two Series"),
    ("a number divided by a Series", lambda: 1 / series(), InputTypeError, "not invertible"),
    ("compile_series of an expression", lambda: symsgd.codegen.compile_series(X + 1),
     InputTypeError, "got Add"),
    ("diffusion_exponent of numeric strings",
     lambda: symsgd.phase_space.diffusion_exponent([1.0, 2.0], ["1", "2"]), InputTypeError,
     r"displacement\[0\]"),
    ("PhaseSpaceOU with a string Hessian entry",
     lambda: symsgd.phase_space.PhaseSpaceOU(0.1, 0, 0, [["1"]], sigma2=1), InputTypeError,
     r"hessian\[0\]\[0\]"),
    ("Resummed on numeric strings", lambda: resummed()(["0.1"]), InputTypeError,
     r"lr\[0\]"),
    ("Resummed on None", lambda: resummed()(None), InputTypeError, "numbers"),
    ("Simulation with trials 0",
     lambda: symsgd.Simulation(**{**{f.name: getattr(simulation(), f.name)
                                     for f in dataclasses.fields(symsgd.Simulation)},
                                  "trials": 0}), InputTypeError, "positive integer"),
    ("Simulation of a string array",
     lambda: symsgd.Simulation(**{**{f.name: getattr(simulation(), f.name)
                                     for f in dataclasses.fields(symsgd.Simulation)},
                                  "lr": np.array(["0.01"])}), InputTypeError,
     "array of strings"),
    ("Simulation.plot with a prediction that is not callable",
     lambda: simulation().plot(prediction=1.0), InputTypeError, "callable"),
    ("set_partitions(-1)", lambda: symsgd.diagrams.set_partitions(-1), RangeError,
     "non-negative"),
    ("rooted_trees(1.0)", lambda: symsgd.diagrams.rooted_trees(1.0), InputTypeError,
     "non-negative integer"),
    ("layout at cells written as strings",
     lambda: symsgd.diagrams.layout(diagram(), embedding=[None] + [("0", "1")] *
                                    (diagram().n_nodes - 1)), InputTypeError,
     r"embedding\[1\]\[0\]"),
    ("layout at cells that are not pairs",
     lambda: symsgd.diagrams.layout(diagram(), embedding=[None] * diagram().n_nodes),
     symsgd.diagrams.DiagramError, "pair"),
    ("to_tikz with a bool unit", lambda: symsgd.diagrams.to_tikz(diagram(), y=True),
     InputTypeError, "y must be a real number"),
    ("rvalue_terms with a list batch", lambda: symsgd.diagrams.rvalue_terms(1, "test", [1], 2),
     InputTypeError, "batch must be"),
    ("Contribution with a list value",
     lambda: symsgd.diagrams.Contribution(diagram(), 1, [1]), InputTypeError,
     "value must be"),
    ("contribution_table of a non-schedule",
     lambda: symsgd.diagrams.values.contribution_table(3, 1, "test", 1, False), ScheduleError,
     "expected a schedule"),
    ("atom of a non-graph", lambda: symsgd.diagrams.values.atom((1, 2)), InputTypeError,
     "Graph"),
    ("weight_function of a number", lambda: symsgd.routes.direct.weight_function(3),
     ScheduleError, "expected a schedule"),
    ("Route with a non-bool flag",
     lambda: symsgd.routes.Route("x", lambda r, p: [], symbolic=1, summary="s"),
     InputTypeError, "bool"),
]


@pytest.mark.parametrize("call, error, message",
                         [pytest.param(c, e, m, id=d) for d, c, e, m in BAD_INPUTS])
def test_bad_input_raises_a_typed_error(call, error, message):
    with pytest.raises(error, match=message) as info:
        call()
    if error is not TypeError:        # TypeError: Python's own, for a positional option
        assert isinstance(info.value, SymsgdError)
