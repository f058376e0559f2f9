"""Landscape.cumulant (factored over the data's features) against the definition entry by entry.

The reference below is the obviously correct form: for every index of the tensor, Moebius
inversion over set partitions of the arguments with exact expectations of the products of
the derivatives' entries (``E[prod_B]``).  It shares nothing with the factored code but the
landscape's own expectation and derivatives.
"""

import itertools

import numpy as np
import pytest
import sympy
from sympy.utilities.iterables import multiset_partitions

from symsgd import Dataset, Landscape, RandomVariables
from symsgd.errors import ShapeError
from symsgd.landscapes import (gauss, helix, linear_regression, mean_estimation,
                               shifting_valleys, valley_of_death)

w, v, x, y = sympy.symbols("w v x y", real=True)
H, S = sympy.symbols("H S", positive=True)


def _reference(landscape, orders):
    P = landscape.dim
    at = {}
    for k in set(orders):
        arr = landscape.derivative(k)
        sub = landscape.init_map
        at[k] = (lambda a: (lambda idx: sympy.expand(
            (a[idx] if idx else a).xreplace(sub))))(arr)
    splits = np.cumsum((0,) + tuple(orders))
    values = []
    for idx in itertools.product(range(P), repeat=sum(orders)):
        parts = [idx[splits[i]:splits[i + 1]] for i in range(len(orders))]
        factors = [at[k](p) for k, p in zip(orders, parts)]
        total = sympy.S.Zero
        for blocks in multiset_partitions(list(range(len(orders)))):
            n = len(blocks)
            term = (-1) ** (n - 1) * sympy.factorial(n - 1)
            for block in blocks:
                term *= landscape.expect(sympy.Mul(*(factors[i] for i in block)))
            total += term
        values.append(total)
    return values


LANDSCAPES = {
    "gauss": gauss(),
    "helix": helix(),
    "mean_estimation symbolic": mean_estimation(hessian=H, noise=S, init=1),
    "shifting_valleys": shifting_valleys(),
    "valley_of_death": valley_of_death(),
    "linear_regression": linear_regression(dim=2, init=[1, 0]),
    "dataset, exp": Landscape(sympy.exp(w * x) + (w - x) ** 2 * v, (w, v), (x,), init=[1, 2],
                              distribution=Dataset([0, 1, 3])),
    "two variables, skewed": Landscape((w * x - y) ** 3 / 3 + w ** 2 * y, w, (x, y), init=[1],
                                       distribution=RandomVariables({
                                           x: sympy.stats.Exponential("X", 1),
                                           y: sympy.stats.Normal("Y", 0, 1)})),
}
ORDERS = [(0,), (1,), (2,), (3,), (0, 0), (0, 1), (1, 1), (2, 1), (1, 2), (1, 1, 1),
          (2, 2), (0, 1, 2), (1, 1, 1, 1)]


@pytest.mark.parametrize("name", LANDSCAPES)
def test_factored_cumulant_equals_the_definition(name):
    landscape = LANDSCAPES[name]
    for orders in ORDERS:
        if landscape.dim ** sum(orders) > 300:
            continue
        got = landscape.cumulant(*orders)
        want = _reference(landscape, orders)
        flat = [got[i] for i in itertools.product(*map(range, got.shape))] if got.shape \
            else [got[()]]
        assert len(flat) == len(want)
        for a, b in zip(flat, want):
            assert sympy.simplify(a - b) == 0, (name, orders, a, b)


def test_cumulant_factors_contract_to_the_cumulant():
    L = LANDSCAPES["two variables, skewed"]
    kappa, (C1, C2) = L.cumulant_factors(1, 2)
    assert kappa.shape == (C1.shape[0], C2.shape[0])
    assert sympy.Array(np.einsum(kappa, [0, 1], C1, [0, 2], C2, [1, 3, 4], [2, 3, 4]).tolist()) \
        .applyfunc(sympy.expand) == L.cumulant(1, 2)


def test_constant_features_drop_out_of_joint_cumulants():
    L = mean_estimation(init=1)            # grad = theta + x: features 1 and x
    kappa, (C,) = L.cumulant_factors(1)
    assert kappa.shape == (2,)
    kappa, (C, D) = L.cumulant_factors(1, 1)
    assert kappa.tolist() == [[1]] and C.tolist() == [[1]]


def test_data_free_gradient_has_empty_factors_and_zero_cumulants():
    L = Landscape(w ** 2 + x, w, x, init=[1])              # grad = 2 w: no feature
    kappa, (C, D) = L.cumulant_factors(1, 1)
    assert kappa.shape == (0, 0)
    assert L.cumulant(1, 1) == sympy.ImmutableDenseNDimArray([[0]])
    assert L.cumulant(2) == sympy.ImmutableDenseNDimArray([[2]])


@pytest.mark.parametrize("orders", [(), (-1,), (1.0,), (True,)])
def test_bad_orders(orders):
    with pytest.raises(ShapeError):
        helix().cumulant_factors(*orders)
