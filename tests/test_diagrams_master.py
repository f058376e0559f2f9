"""The master formula in one dimension, against a brute-force exact expansion of SGD.

On ``l_x(theta) = a theta + b theta^2/2 + c theta^3/6 + e theta^4/24`` with ``x``
taking three values, every uvalue is a number: the root with ``k`` children is
``E[k-th derivative]``, a block is the joint cumulant of its nodes' derivatives
(node with ``k`` children: the ``(k+1)``-th), and contractions are products.
The exact side runs SGD symbolically in ``eta`` (truncated polynomials with
Rational coefficients) for every draw of the training set and every
realization of the schedule, and averages exactly.
"""

import itertools
from fractions import Fraction

import pytest
import sympy
from sympy.utilities.iterables import multiset_partitions

from symsgd.diagrams import enumerate_diagrams, weight
from symsgd.schedule import gd, sgd

ORDER = 4
# values of (a, b, c, e) = derivatives 1..4 at theta_0 = 0, and their probabilities
VALUES = [(Fraction(1), Fraction(2), Fraction(-1), Fraction(3)),
          (Fraction(-2), Fraction(1, 2), Fraction(3), Fraction(-1)),
          (Fraction(3, 2), Fraction(-1), Fraction(1, 3), Fraction(2))]
PROBS = [Fraction(1, 2), Fraction(1, 3), Fraction(1, 6)]


def mean(f):
    return sum(p * f(v) for p, v in zip(PROBS, VALUES))


def deriv(v, k):
    """k-th derivative (k >= 1) of l_x at 0 for data value v."""
    return v[k - 1] if k <= 4 else Fraction(0)


def mul(p, q):
    out = [Fraction(0)] * (ORDER + 1)
    for i, x in enumerate(p):
        if x:
            for j, y in enumerate(q[:ORDER + 1 - i]):
                out[i + j] += x * y
    return out


def exact_coefficients(schedule):
    """[eta^k] E l(theta_T) for k = 0..ORDER, by brute force."""
    test = [mean(lambda v, k=k: deriv(v, k)) for k in range(1, 5)]
    total = [Fraction(0)] * (ORDER + 1)
    for p_real, s in schedule.realizations():
        for draw in itertools.product(range(len(VALUES)), repeat=s.N):
            p = Fraction(p_real.p, p_real.q)
            for i in draw:
                p *= PROBS[i]
            theta = [Fraction(0)] * (ORDER + 1)
            for batch in s.batches:
                th2 = mul(theta, theta)
                th3 = mul(th2, theta)
                grad = [Fraction(0)] * (ORDER + 1)
                for n in batch:
                    a, b, c, e = VALUES[draw[n]]
                    for k in range(ORDER + 1):
                        grad[k] += (a * (k == 0) + b * theta[k] + c * th2[k] / 2
                                    + e * th3[k] / 6) / len(batch)
                theta = [theta[k] - (grad[k - 1] if k else 0) for k in range(ORDER + 1)]
            powers = [theta]
            for _ in range(3):
                powers.append(mul(powers[-1], theta))
            for k in range(ORDER + 1):
                loss = sum(test[j] * powers[j][k] / [1, 2, 6, 24][j] for j in range(4))
                total[k] += p * loss
    return total


def joint_cumulant(orders):
    """kappa of the derivatives of the given orders at one sample, by Moebius inversion."""
    items = list(range(len(orders)))
    out = Fraction(0)
    for partition in multiset_partitions(items):
        m = len(partition)
        term = Fraction((-1) ** (m - 1)) * Fraction(__import__("math").factorial(m - 1))
        for part in partition:
            term *= mean(lambda v, part=part: _prod(deriv(v, orders[i]) for i in part))
        out += term
    return out


def _prod(xs):
    out = Fraction(1)
    for x in xs:
        out *= x
    return out


def uvalue(D):
    kids = D.n_children
    root = mean(lambda v: deriv(v, kids[0])) if kids[0] else Fraction(0)
    value = root
    for block in D.blocks:
        value *= joint_cumulant([kids[v] + 1 for v in block])
    return value


def diagram_coefficients(schedule, substitute=None):
    out = []
    for d in range(ORDER + 1):
        total = sympy.Integer(0)
        for D in enumerate_diagrams(d):
            u = uvalue(D)
            if u:
                w = weight(D, schedule)
                if substitute:
                    w = w.subs(substitute)
                total += w * sympy.Rational(u.numerator, u.denominator)
        out.append(total)
    return out


SCHEDULES = [
    sgd(3, batch=1),
    sgd(4, batch=2),
    sgd(2, batch=1, epochs=2),
    sgd(2, batch=1, epochs=3),
    gd(2, steps=3),
    sgd(2, batch=1, epochs=2, reshuffle="random"),
    sgd(3, batch=1, epochs=2, reshuffle="random"),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=str)
def test_master_formula_against_exact_sgd(schedule):
    exact = exact_coefficients(schedule)
    diagrams = diagram_coefficients(schedule)
    for k in range(1, ORDER + 1):
        assert sympy.Rational(exact[k].numerator, exact[k].denominator) == diagrams[k], k
    assert any(exact[k] for k in range(1, ORDER + 1))


def test_master_formula_with_symbolic_sizes():
    N, B, E, T = sympy.symbols("N B E T", positive=True, integer=True)
    cases = [(sgd(N, batch=B), sgd(4, batch=2), {N: 4, B: 2}),
             (sgd(N, batch=B, epochs=E), sgd(2, batch=1, epochs=2), {N: 2, B: 1, E: 2}),
             (sgd(N, batch=B, epochs=E, reshuffle="random"),
              sgd(3, batch=1, epochs=2, reshuffle="random"), {N: 3, B: 1, E: 2}),
             (gd(N, steps=T), gd(2, steps=3), {N: 2, T: 3})]
    for symbolic, concrete, sizes in cases:
        exact = exact_coefficients(concrete)
        diagrams = diagram_coefficients(symbolic, substitute=sizes)
        for k in range(1, ORDER + 1):
            assert sympy.Rational(exact[k].numerator, exact[k].denominator) == diagrams[k]


def test_reshuffling_matters_from_order_4():
    fixed = exact_coefficients(sgd(3, batch=1, epochs=2))
    random = exact_coefficients(sgd(3, batch=1, epochs=2, reshuffle="random"))
    assert fixed[:4] == random[:4] and fixed[4] != random[4]
