"""Direct perturbation (symsgd.routes.direct) against the exact engine, and the named results.

The oracle is the brute-force exact engine (``method='exact'``): symbolic SGD
on polynomial landscapes with exact rationals.  The direct route's symbolic
coefficients are evaluated on the landscape's exact cumulants and must agree
exactly, for concrete schedules and for symbolic sizes substituted afterwards.
"""

import functools

import pytest
import sympy
from sympy.stats import Exponential, Normal

from symsgd.errors import InputTypeError, MeasureError, OrderError, ScheduleError
from symsgd import expected_displacement, expected_loss
from symsgd.landscape import Landscape
from symsgd.routes.direct import expand, weight_function
from symsgd.schedule import Schedule, gd, sgd
from symsgd.series import ETA
from symsgd.tensors import Contraction, collect_contractions, evaluate_expr

N, B, E, M = sympy.symbols("N B E M", integer=True, positive=True)
a, b, x, y = sympy.symbols("a b x y")

# named contractions used by the propositions
GG = Contraction.from_graph([1, 1], [[0], [1]], [(0, 1)])
GHG = Contraction.from_graph([1, 2, 1], [[0], [1], [2]], [(0, 1), (1, 2)])
CH = Contraction.from_graph([1, 1, 2], [[0, 1], [2]], [(0, 2), (1, 2)])
# G_b kappa(grad_a l, grad_a grad_b l) = G . grad tr C / 2
GdC = Contraction.from_graph([1, 2, 1], [[0, 1], [2]], [(0, 1), (1, 2)])
SJ = Contraction.from_graph([1, 1, 1, 3], [[0, 1, 2], [3]], [(0, 3), (1, 3), (2, 3)])
# the vector grad^b tr C / 2 = kappa(grad_a l, grad_a grad_b l)
dC = Contraction.from_graph([1, 2], [[0, 1]], [(0, 1)], free=[1])


@functools.lru_cache(maxsize=None)
def landscape():
    """Two parameters, two data coordinates, one of them skewed (non-Gaussian noise)."""
    loss = (a**2 * b / 3 + (a - x)**2 / 2 + x * y * b**2 / 2 + a * b * y + b**3 * x / 5
            + x**2 * a**3 / 7)
    return Landscape(loss, (a, b), (x, y), init=[sympy.Rational(1, 2), -1],
                     distribution={x: Exponential("X", 1), y: Normal("Y", 0, 1)})


def evaluate(expr, L=None):
    L = L or landscape()
    return sympy.expand(evaluate_expr(expr, L.cumulant))


def evaluate_vector(expr, L=None):
    L = L or landscape()
    total = [sympy.S.Zero] * L.dim
    for c, coeff in collect_contractions(expr).items():
        value = c.evaluate(L.cumulant)
        total = [t + coeff * v for t, v in zip(total, value)]
    return [sympy.expand(t) for t in total]


def assert_matches_exact(schedule, order, measure="test", moment=1, symbolic=None, subs=None):
    derived = expand(symbolic or schedule, order, measure=measure, moment=moment)
    if subs:
        derived = [c.subs(subs) for c in derived]
    exact = expected_loss(schedule, order, landscape=landscape(), measure=measure, moment=moment)
    for k in range(order + 1):
        assert evaluate(derived[k]) == exact.coeff(k), (schedule, k)


@pytest.mark.parametrize("schedule,order", [
    (sgd(3), 3),
    (sgd(4, batch=2), 3),
    (gd(2, steps=2), 3),
    (sgd(2, epochs=3), 3),
    (sgd(4, batch=2, epochs=2), 3),
    (sgd(3, epochs=2), 4),
    (Schedule([[0, 1], [1, 2], [0, 2]]), 3),
    (sgd(3, epochs=2, reshuffle=7), 3),
])
def test_test_loss_matches_exact_engine(schedule, order):
    assert_matches_exact(schedule, order)


def test_random_reshuffling_matches_exact_engine():
    assert_matches_exact(sgd(3, epochs=2, reshuffle="random"), 4)


@pytest.mark.parametrize("measure,moment,schedule,order", [
    ("train", 1, sgd(3), 3),
    ("train", 1, sgd(4, batch=2, epochs=2), 2),
    ("gap", 1, sgd(2, epochs=2), 3),
    ("gap", 1, gd(2, steps=2), 2),
    ("test", 2, sgd(2, epochs=2), 2),
    ("train", 2, sgd(2, epochs=2), 2),
    ("gap", 2, sgd(2, epochs=2), 2),
    ("train", 1, sgd(3, epochs=2, reshuffle="random"), 3),
])
def test_other_measures_match_exact_engine(measure, moment, schedule, order):
    assert_matches_exact(schedule, order, measure, moment)


@pytest.mark.parametrize("schedule", [sgd(3), sgd(2, epochs=2), gd(2, steps=2),
                                      sgd(3, epochs=2, reshuffle="random")])
def test_displacement_matches_exact_engine(schedule):
    derived = expand(schedule, 3, measure="weights")
    exact = expected_displacement(schedule, 3, landscape=landscape())
    assert derived[0] == 0
    for k in range(1, 4):
        assert evaluate_vector(derived[k]) == list(exact.coeff(k)), k


@pytest.mark.parametrize("symbolic,subs,concrete,order", [
    (sgd(N, batch=B), {N: 6, B: 2}, sgd(6, batch=2), 4),
    (sgd(N, batch=B, epochs=E), {N: 4, B: 2, E: 2}, sgd(4, batch=2, epochs=2), 3),
    (sgd(N, epochs=E, reshuffle="random"), {N: 3, E: 2}, sgd(3, epochs=2, reshuffle="random"), 3),
    (gd(N, steps=E), {N: 2, E: 3}, gd(2, steps=3), 3),
])
def test_symbolic_sizes_match_exact_engine(symbolic, subs, concrete, order):
    assert_matches_exact(concrete, order, symbolic=symbolic, subs=subs)


@pytest.mark.slow
@pytest.mark.parametrize("symbolic,subs,concrete,order", [
    (sgd(N, batch=B, epochs=E), {N: 4, B: 2, E: 2}, sgd(4, batch=2, epochs=2), 4),
    (sgd(N, batch=B, epochs=E, reshuffle="random"), {N: 4, B: 2, E: 2},
     sgd(4, batch=2, epochs=2, reshuffle="random"), 4),
    (sgd(N, batch=B), {N: 4, B: 1}, sgd(4), 5),
    (sgd(N, epochs=E), {N: 2, E: 3}, sgd(2, epochs=3), 5),
])
def test_symbolic_sizes_match_exact_engine_high_order(symbolic, subs, concrete, order):
    assert_matches_exact(concrete, order, symbolic=symbolic, subs=subs)


def test_proposition_0():
    """[eta^1] E l(theta_T) = -T G.G for every schedule family."""
    for schedule in (sgd(N, batch=B, epochs=E), sgd(N, batch=B, epochs=E, reshuffle="random"),
                     gd(N, steps=E)):
        c = expand(schedule, 1)
        assert c[0] == Contraction.from_graph([0], [[0]], [])
        assert sympy.simplify(c[1] + schedule.T * GG) == 0


def proposition_3(N, B, E):
    """The order-2 test loss of SGD for any batch size, in epochs E (derived, see the report)."""
    N, B, E = map(sympy.sympify, (N, B, E))
    T = E * N / B
    return T * (T - sympy.Rational(1, 2)) * GHG + T * E / (2 * B) * CH \
        + T * (E - 1) / (2 * B) * GdC


def tenka_proposition_3(N, B, M):
    """Proposition 3 as printed: coefficients of eta^1 and eta^2."""
    return (-M * N * GG,
            M * N * (M * N - sympy.Rational(1, 2)) * GHG + M * N * M / 2 * CH
            + M * N * (M - 1 / B) / 2 * GdC)


def test_proposition_3_general_batch():
    for shuffle in ("fixed", "random"):
        c = expand(sgd(N, batch=B, epochs=E, reshuffle=shuffle), 2)
        assert sympy.expand(c[1] + E * N / B * GG) == 0
        assert sympy.expand(c[2] - proposition_3(N, B, E)) == 0
    # against the exact engine, at several N, batch sizes and epochs
    for n, bs, ep in [(2, 1, 2), (4, 2, 2), (6, 3, 1), (6, 2, 3)]:
        exact = expected_loss(sgd(n, batch=bs, epochs=ep), 2, landscape=landscape())
        assert evaluate(proposition_3(n, bs, ep)) == exact.coeff(2)
        assert evaluate(-sympy.Rational(n * ep, bs) * GG) == exact.coeff(1)
    # Tenka's statement ("M epochs") holds for B = 1 only; it holds for every B
    # when M is read as T/N = E/B, the updates per training point of section 1.2
    c = expand(sgd(N, batch=B, epochs=E), 2)
    as_epochs = tenka_proposition_3(N, B, E)
    assert sympy.expand((c[2] - as_epochs[1]).subs(B, 1)) == 0
    assert sympy.expand((c[1] - as_epochs[0]).subs(B, 2)) != 0
    assert sympy.expand((c[2] - as_epochs[1]).subs(B, 2)) != 0
    per_point = tenka_proposition_3(N, B, E / B)
    assert sympy.expand(c[1] - per_point[0]) == 0 and sympy.expand(c[2] - per_point[1]) == 0


def test_multi_epoch_question_A1():
    """M epochs at eta/M versus one epoch at eta (batch 1), to eta^2.

    Tenka's A.1 finds only ``(M-1)/(4M) N G.grad tr C``; the chain ``G H G``
    does not cancel (smaller steps for longer differ at second order even on
    a noiseless quadratic), so the difference is
    ``(M-1)/(2M) N (G H G + G.grad tr C / 2)``.
    """
    for m in (2, 3):
        many = expand(sgd(N, epochs=m), 2)
        one = expand(sgd(N), 2)
        diff = [sympy.expand(many[k] / m**k - one[k]) for k in range(3)]
        assert diff[0] == 0 and diff[1] == 0
        assert sympy.expand(diff[2] - sympy.Rational(m - 1, 2 * m) * N * (GHG + GdC)) == 0
    exact_many = expected_loss(sgd(3, epochs=2), 2, landscape=landscape())
    exact_one = expected_loss(sgd(3), 2, landscape=landscape())
    assert exact_many.coeff(2) / 4 - exact_one.coeff(2) == \
        evaluate(sympy.Rational(3, 4) * (GHG + GdC))


def test_gd_versus_sgd_A81():
    """GD's test loss exceeds SGD's (same T = M N steps) by M (N-1)/4 G.grad tr C at eta^2."""
    for m in (1, 2):
        diff = sympy.expand(expand(gd(N, steps=m * N), 2)[2] - expand(sgd(N, epochs=m), 2)[2])
        assert sympy.expand(diff - m * (N - 1) / 2 * GdC) == 0
    exact = (expected_loss(gd(3, steps=6), 2, landscape=landscape()).coeff(2)
             - expected_loss(sgd(3, epochs=2), 2, landscape=landscape()).coeff(2))
    assert exact == evaluate(2 * (3 - 1) / sympy.Integer(2) * GdC)


def test_non_gaussian_term_at_a_minimum_A82():
    """At a test minimum (G = 0) the skewness enters at eta^3 as -T S.J / (6 B^2)."""
    c3 = expand(sgd(N, batch=B), 3)[3]
    at_min = sum(coeff * c for c, coeff in collect_contractions(c3).items()
                 if (1,) not in c.statistics())
    skew = sum(coeff * c for c, coeff in collect_contractions(at_min).items()
               if any(len(k) >= 3 for k in c.statistics()))
    assert sympy.expand(skew + N / B**3 / 6 * SJ) == 0
    # oracle: two landscapes at a minimum with equal means and covariances, different skewness
    w = sympy.Symbol("w")
    u = sympy.Symbol("u")
    skewed = Landscape(w * u + w**3 / 3 + w**2 / 2, w, u, init=[0],
                       distribution={u: Exponential("U", 1) - 1})
    gaussian = Landscape(w * u + w**3 / 3 + w**2 / 2, w, u, init=[0])
    for schedule, T, bs in [(sgd(3), 3, 1), (sgd(4, batch=2), 2, 2)]:
        diff = (expected_loss(schedule, 3, landscape=skewed).coeff(3)
                - expected_loss(schedule, 3, landscape=gaussian).coeff(3))
        # S = 2 (third cumulant of Exp(1)), J = 2: -T * 2 * 2 / (6 B^2)
        assert diff == -sympy.Rational(T * 4, 6 * bs**2)


def test_corollaries_1_and_2():
    """Displacements at eta^2 (batch 1).

    Cor. 1: ``E[theta_GD - theta_SGD] = (N-1)/4 grad tr C`` for ``T = N``.
    Cor. 2: M epochs at eta/M minus one epoch at eta is
    ``(M-1)/(2M) N (H G + grad tr C / 2)``: the ``grad tr C`` part is Tenka's,
    the ``H G`` part (discretization) is missing there.
    """
    HG = Contraction.from_graph([1, 2], [[0], [1]], [(0, 1)], free=[1])
    sgd_disp = expand(sgd(N), 2, measure="weights")
    gd_disp = expand(gd(N, steps=N), 2, measure="weights")
    assert sympy.expand(gd_disp[1] - sgd_disp[1]) == 0
    assert sympy.expand(gd_disp[2] - sgd_disp[2] - (N - 1) / 2 * dC) == 0
    for m in (2, 3):
        many = expand(sgd(N, epochs=m), 2, measure="weights")
        assert sympy.expand(many[1] / m - sgd_disp[1]) == 0
        assert sympy.expand(many[2] / m**2 - sgd_disp[2]
                            - sympy.Rational(m - 1, 2 * m) * N * (HG + dC)) == 0
    exact = [expected_displacement(s, 2, landscape=landscape()).coeff(2)
             for s in (gd(3, steps=3), sgd(3))]
    assert [e1 - e2 for e1, e2 in zip(*exact)] == evaluate_vector(dC)
    exact = [expected_displacement(s, 2, landscape=landscape()).coeff(2)
             for s in (sgd(3, epochs=2), sgd(3))]
    assert [e1 / 4 - e2 for e1, e2 in zip(*exact)] == \
        evaluate_vector(sympy.Rational(3, 4) * (HG + dC))


def test_reshuffling_matters_from_order_4():
    fixed = expand(sgd(N, epochs=2), 4)
    random = expand(sgd(N, epochs=2, reshuffle="random"), 4)
    for k in range(4):
        assert sympy.simplify(fixed[k] - random[k]) == 0
    assert sympy.simplify(fixed[4] - random[4]) != 0


def test_weights_of_schedule_families():
    W = weight_function(sgd(N, batch=B))
    assert sympy.expand(W(2, (((0,), 0), ((1,), 0))) - sympy.binomial(N / B, 2).expand(func=True)
                        * B**2) == 0
    assert W(2, (((0, 1), 0),)) == 0
    W2 = weight_function(sgd(N, epochs=2))
    assert W2(2, (((0, 1), 0),)) == N   # same point in both epochs


def test_bad_input():
    with pytest.raises(OrderError):
        expand(sgd(3), -1)
    with pytest.raises(OrderError):
        expand(sgd(3), 1.5)
    with pytest.raises(MeasureError):
        expand(sgd(3), 1, measure="loss")
    with pytest.raises(MeasureError):
        expand(sgd(3), 1, measure="weights", moment=2)
    with pytest.raises(ScheduleError):
        sgd(5, batch=2)
    with pytest.raises(ScheduleError):
        expand(sgd(N, epochs=2, reshuffle=3), 1)
    with pytest.raises(InputTypeError):
        expand([[0]], 1)


# ------------------------------------------------------------------ named results, more sizes
K3H = Contraction.from_graph([1, 1, 2, 2], [[0, 1, 2], [3]], [(0, 3), (1, 2), (2, 3)])
HG_VEC = Contraction.from_graph([1, 2], [[0], [1]], [(0, 1)], free=[1])
SIZES = [(2, 1, 1), (3, 1, 1), (2, 1, 2), (3, 1, 2), (2, 1, 3), (2, 2, 1), (4, 2, 1),
         (2, 2, 2), (4, 2, 2), (2, 2, 3)]


def gd_minus_sgd(N, B, E):
    """GD with T = E N / B steps minus SGD at eta^2: T (1/B - 1/N)/2 times [G (grad tr C)/2]."""
    T = sympy.sympify(E) * N / B
    return T * (N - B) / (2 * N * B)


def epochs_effect(N, B, M):
    """M epochs at eta/M minus one epoch at eta (batch B), eta^2: factors of G H G and GdC."""
    base = sympy.Rational(M - 1, 2 * M) * sympy.Rational(N, B)
    return base, base / B


def skew_at_minimum(N, B, E):
    """The non-Gaussian part of the eta^3 test loss at a test minimum."""
    T = sympy.Rational(E * N, B)
    return -T * E**2 / (6 * B**2) * SJ - T * E * (E - 1) / (2 * B**2) * K3H


@pytest.mark.parametrize("n,bs,ep", SIZES)
def test_named_results_at_more_sizes(n, bs, ep):
    """Prop. 0, Prop. 3, A.8.1, Cor. 1 (weights), A.1 and Cor. 2 against the exact engine."""
    L = landscape()
    T = ep * n // bs
    run, full, one = sgd(n, batch=bs, epochs=ep), gd(n, steps=T), sgd(n, batch=bs)
    loss = expected_loss(run, 2, landscape=L)
    assert loss.coeff(1) == evaluate(-T * GG)                                   # Prop. 0
    assert loss.coeff(2) == evaluate(proposition_3(n, bs, ep))                  # Prop. 3
    full_loss = expected_loss(full, 2, landscape=L)
    assert full_loss.coeff(1) == loss.coeff(1)
    assert full_loss.coeff(2) - loss.coeff(2) == evaluate(gd_minus_sgd(n, bs, ep) * GdC)  # A.8.1
    disp = expected_displacement(run, 2, landscape=L)
    full_disp = expected_displacement(full, 2, landscape=L)
    assert [g - s for g, s in zip(full_disp.coeff(2), disp.coeff(2))] == \
        evaluate_vector(gd_minus_sgd(n, bs, ep) * dC)                         # Cor. 1
    ghg, gdc = epochs_effect(n, bs, ep)
    one_loss = expected_loss(one, 2, landscape=L)
    assert loss.coeff(1) / ep == one_loss.coeff(1)
    assert loss.coeff(2) / ep**2 - one_loss.coeff(2) == evaluate(ghg * GHG + gdc * GdC)  # A.1
    one_disp = expected_displacement(one, 2, landscape=L)
    assert [m / ep**2 - o for m, o in zip(disp.coeff(2), one_disp.coeff(2))] == \
        evaluate_vector(ghg * HG_VEC + gdc * dC)                              # Cor. 2
    if ep > 1 and n > bs:   # random reshuffling: the same to this order
        shuffled = expected_loss(sgd(n, batch=bs, epochs=ep, reshuffle="random"), 2, landscape=L)
        assert shuffled.coefficients == loss.coefficients


def test_named_results_are_nontrivial_on_the_test_landscape():
    for c in (GG, GHG, CH, GdC):
        assert evaluate(c) != 0
    for v in (dC, HG_VEC):
        assert any(evaluate_vector(v))


def test_non_gaussian_part_symbolic():
    """A.8.2 with symbolic sizes: -T E^2/(6 B^2) S.J - T E (E-1)/(2 B^2) kappa(g, g, grad^2 l).H."""
    for shuffle in ("fixed", "random"):
        c3 = expand(sgd(N, batch=B, epochs=E, reshuffle=shuffle), 3)[3]
        part = sum((v * c for c, v in collect_contractions(c3).items()
                    if (1,) not in c.statistics() and any(len(k) >= 3 for k in c.statistics())),
                   sympy.S.Zero)
        T = E * N / B
        assert sympy.expand(part + T * E**2 / (6 * B**2) * SJ
                            + T * E * (E - 1) / (2 * B**2) * K3H) == 0


@functools.lru_cache(maxsize=None)
def twins():
    """A landscape at a test minimum, linear in skewed data, and its Gaussian twin.

    Every derivative of ``l_x`` is linear in the data, so the twins share all means and
    covariances; the Gaussian twin's higher joint cumulants vanish.  The Hessian depends
    on the data, so ``kappa(grad l, grad l, grad^2 l)`` is non-zero for the skewed one.
    """
    w = sympy.Symbol("w")
    loss = a**2 / 2 + b**2 + a * b**2 / 2 + a**3 / 3 + x * (a + b + a * b + a**2 / 2) + w * b**2
    laws = [{x: Exponential("X", 1) - 1, w: Exponential("W", 2)},
            {x: Normal("X", 0, 1), w: Normal("W", sympy.Rational(1, 2), sympy.Rational(1, 2))}]
    return tuple(Landscape(loss, (a, b), (x, w), init=[0, 0], distribution=law) for law in laws)


@pytest.mark.parametrize("n,bs,ep,shuffle", [(3, 1, 1, "fixed"), (2, 1, 2, "fixed"),
                                             (2, 1, 3, "fixed"), (4, 2, 1, "fixed"),
                                             (2, 2, 2, "fixed"), (4, 2, 2, "fixed"),
                                             (3, 1, 2, "random")])
def test_non_gaussian_term_at_a_minimum_more_sizes(n, bs, ep, shuffle):
    skewed, gaussian = twins()
    assert evaluate(GG, skewed) == 0 and evaluate(CH, skewed) == evaluate(CH, gaussian)
    assert evaluate(K3H, skewed) != 0 and evaluate(SJ, skewed) != 0
    run = sgd(n, batch=bs, epochs=ep, reshuffle=shuffle)
    diff = (expected_loss(run, 3, landscape=skewed).coeff(3)
            - expected_loss(run, 3, landscape=gaussian).coeff(3))
    assert diff == evaluate(skew_at_minimum(n, bs, ep), skewed)


@pytest.mark.parametrize("n,bs,ep", [(2, 1, 1), (3, 1, 1), (4, 2, 1), (2, 1, 2)])
def test_gdc_matches_sgd_to_second_order(n, bs, ep):
    """Cor. 1, second part: GD on l + c eta tr C, c = (1/B - 1/N)/4, matches SGD at eta^2.

    The exact engine runs GD on the regularized landscape with a symbol ``lam`` for
    ``c eta``; the regularizer is then removed from the measured loss,
    ``lam E tr C(theta_T) = lam (tr C + grad tr C . E(theta_T - theta_0)) + O(eta^3)``.
    """
    L = landscape()
    lam, eta = sympy.Symbol("lam"), ETA
    grad = sympy.derive_by_array(L.loss, L.params)
    trC = sympy.expand(sum(L.expect(g**2) - L.expect(g)**2 for g in grad))
    reg = Landscape(L.loss + lam * trC, L.params, L.data, init=L.init, distribution=L.distribution)
    steps = gd(n, steps=ep * n // bs)
    at0 = dict(zip(L.params, L.init))
    grad_trC = [sympy.diff(trC, p).subs(at0) for p in L.params]
    disp = expected_displacement(steps, 2, landscape=reg)
    test = expected_loss(steps, 2, landscape=reg).removeO() - lam * (
        trC.subs(at0) + eta * sum(g * d for g, d in zip(grad_trC, disp.coeff(1))))
    c = sympy.Rational(n - bs, 4 * n * bs)

    def at_eta2(expr):
        return sympy.expand(expr.subs(lam, c * eta)).coeff(eta, 2)

    run = sgd(n, batch=bs, epochs=ep)
    assert at_eta2(test) == expected_loss(run, 2, landscape=L).coeff(2)
    assert [at_eta2(d) for d in disp.removeO()] == list(expected_displacement(
        run, 2, landscape=L).coeff(2))
    # without the regularizer GD differs from SGD
    assert expected_loss(steps, 2, landscape=L).coeff(2) != \
        expected_loss(run, 2, landscape=L).coeff(2)


# ------------------------------------------------------------------ symbolic sizes, other measures
@pytest.mark.parametrize("measure,moment,symbolic,subs,concrete,order", [
    ("train", 1, sgd(N, batch=B, epochs=E), {N: 4, B: 2, E: 2}, sgd(4, batch=2, epochs=2), 3),
    ("train", 1, sgd(N, batch=B, epochs=E), {N: 2, B: 1, E: 3}, sgd(2, epochs=3), 3),
    ("gap", 1, sgd(N, batch=B, epochs=E), {N: 3, B: 1, E: 2}, sgd(3, epochs=2), 3),
    ("gap", 1, sgd(N, batch=B, epochs=E), {N: 4, B: 2, E: 1}, sgd(4, batch=2), 3),
    ("gap", 1, sgd(N, batch=B, epochs=E, reshuffle="random"), {N: 3, B: 1, E: 2},
     sgd(3, epochs=2, reshuffle="random"), 3),
    ("test", 2, sgd(N, batch=B, epochs=E), {N: 4, B: 2, E: 2}, sgd(4, batch=2, epochs=2), 2),
    ("test", 2, sgd(N, batch=B, epochs=E), {N: 2, B: 1, E: 2}, sgd(2, epochs=2), 3),
    ("train", 2, sgd(N, batch=B, epochs=E), {N: 2, B: 1, E: 2}, sgd(2, epochs=2), 2),
    ("train", 2, sgd(N, batch=B, epochs=E), {N: 4, B: 2, E: 1}, sgd(4, batch=2), 2),
    ("gap", 2, sgd(N, batch=B, epochs=E), {N: 2, B: 2, E: 3}, sgd(2, batch=2, epochs=3), 2),
    ("train", 1, gd(N, steps=E), {N: 2, E: 3}, gd(2, steps=3), 3),
    ("gap", 2, gd(N, steps=E), {N: 3, E: 2}, gd(3, steps=2), 2),
])
def test_symbolic_size_measures_match_exact_engine(measure, moment, symbolic, subs, concrete,
                                                   order):
    assert_matches_exact(concrete, order, measure, moment, symbolic=symbolic, subs=subs)


@pytest.mark.parametrize("symbolic,subs,concrete", [
    (sgd(N, batch=B, epochs=E), {N: 4, B: 2, E: 2}, sgd(4, batch=2, epochs=2)),
    (sgd(N, batch=B, epochs=E), {N: 2, B: 1, E: 3}, sgd(2, epochs=3)),
    (sgd(N, batch=B, epochs=E, reshuffle="random"), {N: 3, B: 1, E: 2},
     sgd(3, epochs=2, reshuffle="random")),
    (gd(N, steps=E), {N: 3, E: 2}, gd(3, steps=2)),
])
def test_symbolic_size_displacement_matches_exact_engine(symbolic, subs, concrete):
    derived = expand(symbolic, 3, measure="weights")
    exact = expected_displacement(concrete, 3, landscape=landscape())
    for k in range(1, 4):
        assert evaluate_vector(derived[k].subs(subs)) == list(exact.coeff(k)), k


# ------------------------------------------------------------------ the inverse-metric eta
@functools.lru_cache(maxsize=None)
def reparametrized(A):
    """``phi -> l_x(theta_0 + A phi)`` as a landscape in ``phi``, initialized at ``phi = 0``.

    SGD on it with scalar ``eta`` moves ``theta = theta_0 + A phi`` by
    ``-eta A A^T grad l``: SGD on ``l`` with the inverse metric ``eta A A^T``.
    """
    L = landscape()
    phi = sympy.symbols(f"phi0:{A.shape[1]}")
    theta = sympy.Matrix(L.init) + A * sympy.Matrix(phi)
    loss = sympy.expand(L.loss.xreplace(dict(zip(L.params, theta))))
    return Landscape(loss, phi, L.data, init=[0] * len(phi), distribution=L.distribution)


SHEAR = sympy.ImmutableMatrix([[1, 2], [0, 1]])
GENERAL = sympy.ImmutableMatrix([[2, -1], [sympy.Rational(1, 3), 1]])
LINE = sympy.ImmutableMatrix([[1], [-2]])   # a degenerate metric: one direction only


@pytest.mark.parametrize("A,symbolic,sizes,concrete,order", [
    (SHEAR, sgd(N, batch=B, epochs=E), {"N": 2, "B": 1, "E": 2}, sgd(2, epochs=2), 3),
    (GENERAL, sgd(N, batch=B, epochs=E), {"N": 2, "B": 1, "E": 2}, sgd(2, epochs=2), 3),
    (GENERAL, sgd(N, batch=B, epochs=E), {"N": 4, "B": 2, "E": 1}, sgd(4, batch=2), 2),
    (LINE, sgd(N, batch=B, epochs=E), {"N": 4, "B": 2, "E": 1}, sgd(4, batch=2), 2),
    (SHEAR, gd(N, steps=E), {"N": 2, "E": 2}, gd(2, steps=2), 2),
])
def test_inverse_metric_matches_reparametrized_landscape(A, symbolic, sizes, concrete, order):
    """A series evaluated with ``metric = A A^T`` equals the exact engine in the coordinates phi."""
    L = landscape()
    R = reparametrized(A)
    metric = A * A.T
    for measure, moment in [("test", 1), ("train", 1), ("gap", 1), ("test", 2)]:
        derived = expected_loss(symbolic, order, method="direct", measure=measure, moment=moment)
        exact = expected_loss(concrete, order, landscape=R, measure=measure, moment=moment)
        assert derived.evaluate(L, metric=metric, **sizes).coefficients == exact.coefficients
    derived = expected_displacement(symbolic, order, method="direct").evaluate(
        L, metric=metric, **sizes)
    exact = expected_displacement(concrete, order, landscape=R)
    for k in range(order + 1):
        moved = A * sympy.Matrix(list(exact.coeff(k)))     # theta_T - theta_0 = A (phi_T - 0)
        assert list(derived.coeff(k)) == [sympy.expand(v) for v in moved], k
    # the metric matters: without it the series is that of the original coordinates
    plain = expected_loss(symbolic, order, method="direct").evaluate(L, **sizes)
    assert plain.coefficients != expected_loss(concrete, order, landscape=R).coefficients
