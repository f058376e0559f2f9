"""GDC (Tenka's Corollary 1: GD on ``l + c eta tr C_hat``) expanded to any order.

The exact route runs GDC on the ring of data coefficients; here it is checked
against a brute force that shares nothing with it: every training set of a
finite population is enumerated, GDC is run on it with ``sympy.diff`` of the
written-out objective and a symbolic ``eta``, and the results are averaged.
Then the corollary itself: GDC equals SGD through ``eta^2`` and differs at
``eta^3``, which GD (no regularizer) does already at ``eta^2``.
"""

from __future__ import annotations

import itertools

import pytest
import sympy

import symsgd
from symsgd import ETA, gd, sgd
from symsgd.distributions import Dataset
from symsgd.errors import MethodError, ScheduleError
from symsgd.landscapes import shifting_valleys

R = sympy.Rational


def skewed() -> symsgd.Landscape:
    """A cubic landscape on a skewed three-point population (``C(theta)`` varies)."""
    a, b, x = sympy.symbols("a b x", real=True)
    loss = a**3 / 3 + a * b + b**2 + x * (a + b**2 / 2)
    return symsgd.Landscape(loss, (a, b), (x,), (R(1, 2), R(1, 2)),
                            distribution=Dataset([-1, -1, 2]), name="skewed")


def quartic() -> symsgd.Landscape:
    """A one-parameter quartic whose Hessian depends on the data (non-Gaussian, skewed)."""
    w, x = sympy.symbols("w x", real=True)
    loss = w**4 / 12 + x * w**3 / 6 + (w - x) ** 2 / 2
    return symsgd.Landscape(loss, (w,), (x,), (R(1),), distribution=Dataset([-2, 1, 1, 3]),
                            name="quartic")


def truncate(expr, order: int):
    poly = sympy.Poly(sympy.expand(expr), ETA)
    return sum((c * ETA**m[0] for m, c in poly.terms() if m[0] <= order), sympy.S.Zero)


def brute_force_gdc(L, N: int, B: int, T: int, order: int, measure: str) -> list:
    """Average over every training set of ``L``'s population, GDC written out by hand."""
    population = L.distribution.points if hasattr(L.distribution, "points") else None
    assert population is not None
    c = R(N - B, 4 * N * B)
    params = list(L.params)
    totals = sympy.S.Zero
    for points in itertools.product(population, repeat=N):
        losses = [L.loss.subs(dict(zip(L.data, (p if isinstance(p, tuple) else (p,)))))
                  for p in points]
        grads = [[sympy.diff(l, v) for v in params] for l in losses]
        mean = [sum(g[i] for g in grads) / N for i in range(len(params))]
        tr_c = sum((g[i] - mean[i]) ** 2 for g in grads for i in range(len(params))) / (N - 1)
        objective = sum(losses) / N + c * ETA * tr_c
        step = [sympy.diff(objective, v) for v in params]
        theta = list(L.init)
        for _ in range(T):
            at = dict(zip(params, theta))
            theta = [truncate(t - ETA * s.subs(at), order) for t, s in zip(theta, step)]
        at = dict(zip(params, theta))
        train = sum(losses) / N
        value = {"test": L.test_loss, "train": train, "gap": L.test_loss - train}[measure]
        totals += truncate(value.subs(at), order)
    mean = sympy.expand(totals / len(population) ** N)
    return [mean.coeff(ETA, k) for k in range(order + 1)]


@pytest.mark.parametrize("make", [skewed, quartic], ids=["skewed", "quartic"])
@pytest.mark.parametrize("N, B, epochs, measure", [
    (2, 1, 1, "test"), (3, 1, 1, "test"), (2, 1, 2, "train"), (4, 2, 1, "gap")])
def test_gdc_equals_brute_force_over_every_training_set(make, N, B, epochs, measure):
    L = make()
    schedule = sgd(N, batch=B, epochs=epochs)
    order = 4 if N < 4 else 3
    got = symsgd.expected_loss(schedule, order, landscape=L, measure=measure, process="gdc")
    want = brute_force_gdc(L, N, B, schedule.T, order, measure)
    assert list(got.coefficients) == want


def test_gdc_matches_sgd_through_eta2_and_differs_at_eta3():
    # Corollary 1: with c = (N - B)/(4 N B), GDC - SGD is O(eta^3); GD - SGD is not.
    for L in (skewed(), quartic(), shifting_valleys()):
        for N, B, epochs in [(2, 1, 1), (3, 1, 1), (4, 2, 1), (2, 1, 2)]:
            schedule = sgd(N, batch=B, epochs=epochs)
            run = symsgd.expected_loss(schedule, 3, landscape=L)
            gdc = symsgd.expected_loss(schedule, 3, landscape=L, process="gdc")
            plain = symsgd.expected_loss(gd(N, steps=schedule.T), 3, landscape=L)
            assert (run - gdc).coefficients[:3] == (0, 0, 0)
            assert (run - gdc).coeff(3) != 0
            assert (run - plain).coeff(2) != 0


def test_gdc_weights_match_sgd_through_eta2():
    L = skewed()
    for N, B in [(2, 1), (3, 1), (4, 2)]:
        diff = (symsgd.expected_displacement(sgd(N, batch=B), 3, landscape=L)
                - symsgd.expected_displacement(sgd(N, batch=B), 3, landscape=L, process="gdc"))
        assert all(c == 0 for k in range(3) for c in diff.coeff(k))
        assert any(c != 0 for c in diff.coeff(3))


def test_gdc_of_full_batch_gd_is_gd():
    # B = N: c = 0, GDC is GD.
    L = skewed()
    assert symsgd.expected_loss(gd(3, steps=2), 3, landscape=L, process="gdc") == \
        symsgd.expected_loss(gd(3, steps=2), 3, landscape=L)


def test_gdc_refusals():
    with pytest.raises(MethodError, match="pairs of training points"):
        symsgd.expected_loss(sgd(3), 2, method="direct", process="gdc")
    with pytest.raises(MethodError, match="pairs of training points"):
        symsgd.expected_loss(sgd(3), 2, method="diagrams", process="gdc")
    with pytest.raises(ScheduleError, match="N >= 2"):
        symsgd.expected_loss(sgd(1), 2, landscape=skewed(), process="gdc")
