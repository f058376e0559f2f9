"""The SDE and the second-order SDE expanded in eta (symsgd.approximations), each against
something independent:

* closed forms: the Ornstein-Uhlenbeck process of MEAN ESTIMATION and the moment ODEs of
  linear regression (whose noise covariance depends on the weights), solved by hand;
* the engine: SGD on fresh samples (single-epoch ``sgd``) agrees with the SDE through
  ``eta^1`` and with the second-order SDE through ``eta^2`` and no further, on landscapes with
  non-Gaussian (and skewed) noise; the hand-derived ``eta^3`` differences in contractions;
  the SDE is, contraction by contraction, the leading part in ``T`` of SGD's general series;
* Monte Carlo: Euler-Maruyama (``symsgd.nets.dynamics.SDE``) with fine substeps;
* bad input: typed errors, strings never run.

Noisy GD and SVAG(l) (``approximation_loss``: rules on SGD's general series), each against
a brute force of its own: noisy GD by the backward recursion ``u_t = E_xi u_{t+1}(theta - eta
grad l - eta xi)`` with Gaussian (Isserlis) moments on polynomials, SVAG(l) by the exact engine
on the paired loss ``c1 l_x + c2 l_y`` over two independent copies of the data; Li et al.'s
decomposition SGD - SDE = (SGD - noisy GD) + (noisy GD - SDE) by block sizes; SVAG(l) - SDE =
O(1/l); noisy GD by Monte Carlo (``symsgd.nets.dynamics.NoisyGD``).
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from sympy.polys.domains import QQ
from sympy.polys.rings import ring

import symsgd
from symsgd.approximations import (KINDS, PROCESSES, SVAG_L, approximation_displacement,
                                   approximation_loss, sde_expected_displacement,
                                   sde_expected_loss, svag_weight)
from symsgd.distributions import Dataset, StandardNormal
from symsgd.errors import (InputTypeError, LandscapeError, MeasureError, MethodError, OrderError,
                           RangeError, ScheduleError, SymsgdError)
from symsgd.landscapes import (gauss, linear_regression, mean_estimation, shifting_valleys,
                               valley_of_death)
from symsgd.tensors import contractions_in

R = sympy.Rational
ETA = symsgd.ETA
T = sympy.Symbol("T", integer=True, positive=True)
B = sympy.Symbol("B", integer=True, positive=True)
N = sympy.Symbol("N", integer=True, positive=True)


def taylor(expr, order: int) -> list:
    """The Taylor coefficients of ``expr`` in ``eta`` through ``eta**order``, expanded."""
    poly = sympy.series(expr, ETA, 0, order + 1).removeO()
    return [sympy.simplify(sympy.expand(poly).coeff(ETA, k)) for k in range(order + 1)]


def same(a, b) -> bool:
    return sympy.simplify(sympy.expand(a - b)) == 0


def skewed() -> symsgd.Landscape:
    """A cubic landscape on a skewed finite population: C(theta) varies, S:J != 0."""
    a, b, x = sympy.symbols("a b x", real=True)
    loss = a**3 / 3 + a * b + b**2 + x * (a + b**2 / 2)
    return symsgd.Landscape(loss, (a, b), (x,), (R(1, 2), R(1, 2)),
                            distribution=Dataset([-1, -1, 2]), name="skewed")


# ------------------------------------------------------------ closed forms
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_mean_estimation_is_the_ornstein_uhlenbeck_closed_form(kind):
    """l_x = H theta^2/2 + x S theta: C = S^2, and the (second-order) SDE is OU with rate a =
    H (resp. H (1 + eta H / 2)): E X_t = theta_0 e^{-a t}, Var X_t = eta S^2 (1 - e^{-2at}) /
    (2 a B); everything symbolic (H, S, theta_0, T, B)."""
    H, S, theta0 = sympy.symbols("H S theta0", positive=True)
    L = mean_estimation(hessian=H, noise=S, init=theta0)
    a = H if kind == "sde" else H * (1 + ETA * H / 2)
    t = ETA * T
    mean = theta0 * sympy.exp(-a * t)
    var = ETA * S**2 * (1 - sympy.exp(-2 * a * t)) / (2 * a * B)
    loss = taylor(H * (mean**2 + var) / 2, 4)
    series = sde_expected_loss(L, 4, steps=T, batch=B, kind=kind)
    assert series.order == 4 and series.measure == "test"
    assert all(same(c, e) for c, e in zip(series.coefficients, loss))
    weights = sde_expected_displacement(L, 4, steps=T, batch=B, kind=kind)
    expected = taylor(mean - theta0, 4)
    assert all(same(c[0], e) for c, e in zip(weights.coefficients, expected))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_linear_regression_moment_odes(kind):
    """Least squares in d = 2 with u = w - w_true: grad l = u, C(u) = (|u|^2 + sigma^2) I +
    u u^T (Isserlis), so s = E|U|^2 solves ds/dt = -(2 a - 3 eta / B) s + 2 eta sigma^2 / B
    with a = 1 (resp. 1 + eta / 2), and E U = u_0 e^{-a t}."""
    sigma = sympy.Symbol("sigma", positive=True)
    L = linear_regression(dim=2, noise=sigma, init=[2, -1])
    u0 = sympy.Matrix([1, -2])
    a = 1 if kind == "sde" else 1 + ETA / 2
    rate = 2 * a - 3 * ETA / B
    rest = 2 * ETA * sigma**2 / (B * rate)
    s = rest + (u0.dot(u0) - rest) * sympy.exp(-rate * ETA * T)
    loss = taylor(s / 2 + sigma**2 / 2, 4)
    series = sde_expected_loss(L, 4, steps=T, batch=B, kind=kind)
    assert all(same(c, e) for c, e in zip(series.coefficients, loss))
    weights = sde_expected_displacement(L, 4, steps=T, batch=B, kind=kind)
    for i in range(2):
        expected = taylor(u0[i] * (sympy.exp(-a * ETA * T) - 1), 4)
        assert all(same(c[i], e) for c, e in zip(weights.coefficients, expected))


# ------------------------------------------------------- SGD minus the SDE
LANDSCAPES = {"shifting_valleys": shifting_valleys, "valley_of_death": valley_of_death,
              "skewed": skewed}


@pytest.fixture(scope="module", params=sorted(LANDSCAPES))
def case(request):
    """(landscape, SGD's series for single-epoch batch-B SGD at T = N / B steps, order 4)."""
    L = LANDSCAPES[request.param]()
    sgd = symsgd.expected_loss(symsgd.sgd(N, batch=B), 4, landscape=L, method="direct")
    return L, [sympy.expand(c.subs(N, T * B)) for c in sgd.coefficients]


def test_sgd_minus_sde_starts_at_eta_squared(case):
    """SGD and the SDE agree through eta^1; at eta^2 they differ by -T/2 [G H G] for every
    batch (C:H matches), nonzero on these landscapes."""
    L, sgd = case
    sde = sde_expected_loss(L, 4, steps=T, batch=B)
    diff = [sympy.factor(s - e) for s, e in zip(sgd, sde.coefficients)]
    print(f"\n{L.name}: SGD - SDE =", diff)
    assert diff[0] == 0 and diff[1] == 0
    G, H = sympy.Matrix(L.G.tolist()), sympy.Matrix(L.H.tolist())
    assert same(diff[2], -T / 2 * (G.T * H * G)[0])
    assert diff[2] != 0 and diff[3] != 0


def test_second_order_sde_agrees_one_order_further(case):
    """The second-order SDE agrees with SGD through eta^2 and not at eta^3, where the difference
    is linear in T (a weak order-2 approximation), and eta^4, where it is at most quadratic."""
    L, sgd = case
    sde2 = sde_expected_loss(L, 4, steps=T, batch=B, kind="sde2")
    diff = [sympy.factor(s - e) for s, e in zip(sgd, sde2.coefficients)]
    print(f"\n{L.name}: SGD - second-order SDE =", diff)
    assert diff[:3] == [0, 0, 0]
    assert diff[3] != 0
    assert sympy.degree(diff[3], T) == 1 and sympy.degree(diff[4], T) <= 2


def test_the_exact_engine_agrees_at_a_concrete_size():
    """The same agreement against brute-force symbolic SGD (method='exact'), T = 3 steps."""
    for L in (shifting_valleys(), skewed()):
        sgd = symsgd.expected_loss(symsgd.sgd(3), 3, landscape=L, method="exact")
        sde = sde_expected_loss(L, 3, steps=3)
        sde2 = sde_expected_loss(L, 3, steps=3, kind="sde2")
        assert (sgd - sde).coefficients[:2] == (0, 0) and (sgd - sde).coeff(2) != 0
        assert (sgd - sde2).coefficients[:3] == (0, 0, 0) and (sgd - sde2).coeff(3) != 0
        weights = symsgd.expected_displacement(symsgd.sgd(3), 2, landscape=L, method="exact")
        sde2w = sde_expected_displacement(L, 2, steps=3, kind="sde2")
        assert weights == sde2w


def test_several_epochs_break_the_second_order_agreement():
    """Reusing samples (E epochs of N points, T = N E) opens an eta^2 gap that no SDE on the
    test loss has: SGD - SDE2 = E N (E - 1)/2 (C:H + [G (grad tr C)/2]) at eta^2."""
    E = sympy.Symbol("E", integer=True, positive=True)
    general = symsgd.expected_loss(symsgd.sgd(N, epochs=E), 2, method="direct")
    atoms = {str(a): a for a in general.contractions(2)}
    gap = E * N * (E - 1) / 2 * (atoms["C:H"] + atoms["[G (grad tr C)/2]"])
    for L in (shifting_valleys(), skewed()):
        sgd = general.evaluate(L)
        sde2 = sde_expected_loss(L, 2, steps=N * E, kind="sde2")
        value = symsgd.Series((gap,)).evaluate(L).coeff(0)
        assert same(sgd.coeff(2) - sde2.coeff(2), value) and value != 0
        assert (sgd - sde2).coefficients[:2] == (0, 0)


def _atoms(*powers) -> dict:
    series = symsgd.expected_loss(symsgd.sgd(N, batch=B), max(powers), method="direct")
    return {str(a): a for a in series.contractions(*powers)}


def test_sgd_minus_sde_at_eta_cubed_in_contractions(case):
    """The eta^3 differences derived by hand from the generator (docs/results.md), evaluated on
    the landscape, equal the engine's: SGD - SDE2 = -T/12 [GGGJ] - T/3 [GHHG] + T/(4B) [GCJ] +
    T/(2B) [G kappa(grad l, grad^2 l) H] + T/(2B) [tr HHC] - T/(6B^2) [SJ]; the SDE adds
    T^2/4 [GGGJ] + T^2 [GHHG] (its missing drift correction)."""
    L, sgd = case
    a = _atoms(3)
    gggj, gcj, sj = a["[G_a G_b G_c J_abc]"], a["[G_a C_bc J_abc]"], a["[S_abc J_abc]"]
    ghhg, gkh, hhc = (a["[G H H G]"], a["[G_a kappa(grad l, grad^2 l)_b,ac H_bc]"],
                      a["[tr(H H C)]"])
    to_sde2 = (-T / 12 * gggj - T / 3 * ghhg + T / (4 * B) * gcj + T / (2 * B) * gkh
               + T / (2 * B) * hhc - T / (6 * B**2) * sj)
    to_sde = to_sde2 + T**2 / 4 * gggj + T**2 * ghhg
    for kind, formula in (("sde", to_sde), ("sde2", to_sde2)):
        value = symsgd.Series((0, 0, 0, formula)).evaluate(L).coeff(3)
        engine = sgd[3] - sde_expected_loss(L, 3, steps=T, batch=B, kind=kind).coeff(3)
        assert same(value, engine), kind
    if L.name == "skewed":
        assert symsgd.Series((sj,)).evaluate(L).coeff(0) != 0


def test_the_sde_is_the_leading_part_of_sgd_contraction_by_contraction():
    """SGD's general series (direct route, batch B, N = T B) with, in each contraction, only
    its top power T^(blocks - 1) kept, and contractions with a block of 3 or more nodes (S,
    fourth cumulants, ...) dropped, is the SDE's series: checked at eta^4 on four landscapes
    (GAUSS is not polynomial)."""
    general = symsgd.expected_loss(symsgd.sgd(N, batch=B), 4, method="direct")
    kept = []
    for c in general.coefficients:
        c = sympy.expand(c.subs(N, T * B))
        atoms = contractions_in(c)
        total = c.subs({x: 0 for x in atoms})
        for atom in atoms:
            if max(len(block) for block in atom.blocks) > 2:
                continue
            top = len(atom.blocks) - 1
            total += sympy.Poly(c.coeff(atom), T).coeff_monomial(T**top) * T**top * atom
        kept.append(total)
    leading = symsgd.Series(tuple(kept))
    for L in (shifting_valleys(), valley_of_death(), skewed(), gauss()):
        sde = sde_expected_loss(L, 4, steps=T, batch=B)
        assert all(same(a, b) for a, b in zip(leading.evaluate(L).coefficients,
                                              sde.coefficients)), L.name


# -------------------------------------------------------------- Monte Carlo
#: The Monte Carlo checks: a 5-point Shifting Valleys trained on its whole population with
#: batch 1, 8 steps at this learning rate, 40,000 runs.
MC_POINTS, MC_STEPS, MC_LR = [-2, -1, 0, 1, 2], 8, 0.0125


def _agrees_with_simulation(make, series):
    """Simulate ``make(N, steps)`` and check its final test loss against ``series(L, order,
    batch)``: within 4 standard errors plus ``|c4| eta^4`` of the order-3 series at batch 1,
    and more than twice that from the same process with half the noise (batch 2).
    Returns the landscape and the runs."""
    pytest.importorskip("torch")
    from symsgd.nets import simulate

    a, b, x = sympy.symbols("A B x", real=True)
    L = symsgd.Landscape(a + (b - a * x)**2 - a**2, (a, b), (x,), (R(-1, 2), R(1, 4)),
                         distribution=Dataset(MC_POINTS), name="Shifting Valleys, 5 points")
    runs = simulate(L, make(len(MC_POINTS), MC_STEPS), lr=[MC_LR], trials=40000, seed=0,
                    training="population")
    mean, sem = runs.mean()[0, -1], runs.sem()[0, -1]
    order4 = series(L, 4, 1)
    allowance = 4 * sem + abs(float(order4.coeff(4))) * MC_LR**4
    predicted = float(order4.truncate(3)(MC_LR))
    print(f"\nsimulated {mean:.6f} +- {sem:.1e}, series {predicted:.6f}, allowance {allowance:.1e}")
    assert abs(mean - predicted) < allowance
    half_noise = float(series(L, 3, 2)(MC_LR))
    assert abs(mean - half_noise) > 2 * allowance
    return L, runs


def test_euler_maruyama_agrees_with_the_series():
    """symsgd.nets.dynamics.SDE (Euler-Maruyama, refine substeps) on a finite population,
    training on the whole population with batch 1: its drift is -grad l and its noise
    covariance C(theta) (the population's, (N - B)/(B (N - 1)) = 1), time eta per step: the
    process expanded here.  The order-3 series is within 4 standard errors plus |c4| eta^4;
    the SDE with half the noise (batch=2) is not."""
    pytest.importorskip("torch")
    from symsgd.nets.dynamics import SDE

    L, runs = _agrees_with_simulation(
        lambda N, steps: SDE(N, steps=steps, refine=16),
        lambda L, order, batch: sde_expected_loss(L, order, steps=MC_STEPS, batch=batch))
    weights = sde_expected_displacement(L, 4, steps=MC_STEPS)
    moved = runs.weights[0, -1] - np.array([float(v) for v in L.init])
    for i in range(2):
        bound = 4 * runs.weights_sem[0, -1, i] + abs(float(weights.coeff(4)[i])) * MC_LR**4
        assert abs(moved[i] - float(weights.truncate(3)(MC_LR)[i])) < bound


# ------------------------------------------------- noisy GD and SVAG(l): brute forces
def _qq(value):
    value = sympy.Rational(value)
    return QQ(int(value.p), int(value.q))


def noisy_gd_brute_force(L, order: int, steps: int, batch: int, moment: int = 1) -> list:
    """E l(theta_T)^moment for noisy GD, T concrete: u_T = l^moment, u_t(theta) = E_xi u_{t+1}(theta - eta
    grad l(theta) - eta xi), xi ~ N(0, C(theta)/B), i.e. exp(A) u_{t+1}(y) at y = theta with
    A = -eta grad l(theta) . d_y + (eta^2/(2B)) C(theta) : d_y d_y (Gaussian moments by
    Isserlis; grad l and C frozen at theta), truncated at eta^order.  Polynomials over QQ."""
    P = L.dim
    names = ["eta"] + [f"t{i}" for i in range(P)] + [f"y{i}" for i in range(P)]
    _, eta, *gens = ring(names, QQ)
    th, ys = gens[:P], gens[P:]

    def poly(expr):
        out = eta.ring.zero
        for monom, c in sympy.Poly(sympy.expand(expr), *L.params).terms():
            term = eta.ring(_qq(c))
            for v, e in zip(th, monom):
                term *= v**e
            out += term
        return out

    grad = [sympy.diff(L.test_loss, x) for x in L.params]
    sample = [sympy.diff(L.loss, x) for x in L.params]
    G = [poly(g) for g in grad]
    C = [[poly(L.expect(sympy.expand(sample[a] * sample[b])) - grad[a] * grad[b])
          for b in range(P)] for a in range(P)]

    def trunc(p):
        return eta.ring({m: c for m, c in p.items() if m[0] <= order})

    def A(p):
        first = [p.diff(y) for y in ys]
        out = eta.ring.zero
        for a in range(P):
            out -= eta * G[a] * first[a]
            for b in range(P):
                out += eta**2 * QQ(1, 2 * batch) * C[a][b] * first[a].diff(ys[b])
        return trunc(out)

    u = poly(L.test_loss**moment)
    for _ in range(steps):
        term = total = u.compose(list(zip(th, ys)))
        for k in range(1, order + 1):
            term = A(term) * QQ(1, k)
            total += term
        u = trunc(total.compose(list(zip(ys, th))))
    for v, value in zip(th, L.init):
        u = u.compose(v, eta.ring(_qq(value)))
    coeffs = [sympy.S.Zero] * (order + 1)
    for monom, c in u.items():
        coeffs[monom[0]] += sympy.Rational(int(c.numerator), int(c.denominator))
    return coeffs


def paired(L, l: int) -> symsgd.Landscape:
    """SVAG(l)'s combined sample as a landscape: c1 l_x + c2 l_y over two independent copies
    (l with sqrt(2l - 1) an integer: c1, c2 rational)."""
    root = sympy.sqrt(2 * l - 1)
    assert root.is_Integer
    c1, c2 = (1 + root) / 2, (1 - root) / 2
    copies = tuple(sympy.Symbol(d.name + "_2", real=True) for d in L.data)
    loss = c1 * L.loss + c2 * L.loss.xreplace(dict(zip(L.data, copies)))
    if isinstance(L.distribution, StandardNormal):
        law = None
    else:
        law = Dataset([p + q for p in L.distribution.points for q in L.distribution.points])
    return symsgd.Landscape(loss, L.params, L.data + copies, L.init, distribution=law,
                            name=f"{L.name}, SVAG({l}) pairs")


def svag_brute_force(L, order: int, l: int, steps: int, batch: int, moment: int = 1) -> list:
    """SVAG(l) as SGD (exact engine) on the paired landscape: l T steps, batch B, eta/l (its
    test loss is c1 l + c2 l = l)."""
    P = paired(L, l)
    exact = symsgd.expected_loss(symsgd.sgd(l * steps * batch, batch=batch), order,
                                 landscape=P, method="exact", moment=moment)
    return [c / l**m for m, c in enumerate(exact.coefficients)]


NOISY_CASES = [(name, steps, batch) for name in sorted(LANDSCAPES) for steps in (1, 2, 3)
               for batch in (1, 2)]


@pytest.mark.parametrize("name, steps, batch", NOISY_CASES)
def test_noisy_gd_rule_equals_the_gaussian_brute_force(name, steps, batch):
    """SGD's general series without the contractions that have a data block of 3 or more nodes
    equals noisy GD computed by Gaussian moments, to eta^4; on Valley of Death and the skewed
    landscape SGD differs from it at eta^3 (S:J, or eta^4 terms), so the rule is not SGD's."""
    L = LANDSCAPES[name]()
    brute = noisy_gd_brute_force(L, 4, steps, batch)
    rule = approximation_loss("noisy_gd", 4, landscape=L, steps=steps, batch=batch)
    assert rule.coefficients == tuple(brute)
    sgd = symsgd.expected_loss(symsgd.sgd(steps * batch, batch=batch), 4, landscape=L,
                               method="exact")
    assert sgd.coefficients[:3] == tuple(brute[:3])
    if name != "shifting_valleys":
        assert sgd.coefficients != tuple(brute)


SVAG_CASES = [("shifting_valleys", 5, 1, 1, 4), ("shifting_valleys", 13, 1, 1, 4),
              ("shifting_valleys", 5, 2, 1, 3), ("shifting_valleys", 5, 1, 2, 3),
              ("skewed", 5, 1, 1, 4), ("skewed", 13, 1, 1, 4), ("skewed", 5, 2, 1, 3),
              ("skewed", 5, 1, 2, 3), ("valley_of_death", 5, 1, 1, 4),
              pytest.param("valley_of_death", 5, 2, 1, 3, marks=pytest.mark.slow),
              pytest.param("valley_of_death", 13, 1, 1, 3, marks=pytest.mark.slow)]


@pytest.mark.parametrize("name, l, steps, batch, order", SVAG_CASES)
def test_svag_rule_equals_the_exact_engine_on_the_paired_loss(name, l, steps, batch, order):
    """SGD's series with T -> l T, eta -> eta / l and each contraction times prod p_|block|
    equals the exact engine on c1 l_x + c2 l_y (l = 5: c = 2, -1; l = 13: c = 3, -2)."""
    L = LANDSCAPES[name]()
    rule = approximation_loss("svag", order, landscape=L, steps=steps, batch=batch, l=l)
    assert rule.coefficients == tuple(svag_brute_force(L, order, l, steps, batch))


@pytest.mark.parametrize("name", ["shifting_valleys", "skewed"])
def test_second_moments_of_every_process_against_their_brute_forces(name):
    """E[l(theta_T)^2]: the rules act on each product of contractions of SGD's moment-2
    series (two measured roots).  SGD = the exact engine, noisy GD = the Gaussian brute
    force, SVAG(5) = the exact engine on the paired loss (T = 2, order 4; order 3 with
    B = 2), and the SDE's top-power rule = its generator applied to l^2, with symbolic
    T and B, to order 4; SGD and the SDE agree through eta^1 and differ at eta^2."""
    L = LANDSCAPES[name]()
    for steps, batch, order in [(2, 1, 4), (1, 2, 3)]:
        found = {p: approximation_loss(p, order, landscape=L, steps=steps, batch=batch,
                                       moment=2, **({"l": 5} if p == "svag" else {}))
                 for p in ("sgd", "noisy_gd", "svag")}
        exact = symsgd.expected_loss(symsgd.sgd(steps * batch, batch=batch), order,
                                     landscape=L, moment=2)
        assert found["sgd"].coefficients == exact.coefficients
        assert found["noisy_gd"].coefficients == tuple(
            noisy_gd_brute_force(L, order, steps, batch, moment=2))
        assert found["svag"].coefficients == tuple(
            svag_brute_force(L, order, 5, steps, batch, moment=2))
        assert found["sgd"] != found["svag"] and found["sgd"].moment == 2
    rule = approximation_loss("sde", 4, steps=T, batch=B, moment=2).evaluate(L)
    generator = sde_expected_loss(L, 4, steps=T, batch=B, moment=2)
    assert generator.label == "second moment of the test loss of the SDE"
    assert all(same(a, b) for a, b in zip(rule.coefficients, generator.coefficients,
                                          strict=True))
    sgd_T = approximation_loss("sgd", 4, landscape=L, steps=T, batch=B, moment=2)
    assert all(same(a, b) for a, b in zip(sgd_T.coefficients[:2], rule.coefficients[:2]))
    assert not same(sgd_T.coeff(2), rule.coeff(2))


def test_svag_weights_are_power_sums():
    """p_m = c1^m + c2^m, checked at l = 5, 13 and l = 1 (p_m = 1: SGD)."""
    for l in (1, 5, 13):
        root = sympy.sqrt(2 * l - 1)
        c1, c2 = (1 + root) / 2, (1 - root) / 2
        for m in range(7):
            assert same(svag_weight(m, l=l), c1**m + c2**m)
    assert [svag_weight(m) for m in (1, 2, 3)] == [1, SVAG_L, (3 * SVAG_L - 1) / 2]


def _general(process, order=4, **options):
    return approximation_loss(process, order, steps=T, batch=B, **options)


def test_svag_at_l_one_is_sgd_and_tends_to_the_sde_at_rate_one_over_l():
    """SVAG(1) = SGD in contractions; SVAG(l) - SDE -> 0 as l -> oo in every coefficient to
    eta^4, with a nonzero 1/l coefficient from eta^2 (-T/2 [G H G]) on; the skewness enters
    it as -T/(4 B^2) [S J] at eta^3 (p_3 = (3l - 1)/2)."""
    svag = _general("svag")
    assert svag.subs(SVAG_L, 1) == _general("sgd")
    difference = svag - _general("sde")
    u = sympy.Symbol("u", positive=True)
    first = []
    for m, c in enumerate(difference.coefficients):
        c = sympy.expand(c.xreplace({SVAG_L: 1 / u}))
        assert sympy.expand(c * u**m).is_polynomial(u)       # at most l^m in the denominator
        assert c.subs(u, 0) == 0
        first.append(sympy.expand(sympy.diff(c, u).subs(u, 0)))
    print("\nSVAG(l) - SDE, the 1/l coefficient:", first)
    a = _atoms(2, 3)
    assert first[:2] == [0, 0] and same(first[2], -T / 2 * a["[G H G]"])
    assert same(first[3].coeff(a["[S_abc J_abc]"]), -T / (4 * B**2))
    for L in (shifting_valleys(), skewed()):
        assert symsgd.Series(tuple(first)).evaluate(L).coeff(2) != 0


def test_the_decomposition_of_sgd_minus_sde_by_block_sizes():
    """Li et al.'s decomposition, general in N = T B and B, to eta^4: the discretization error
    (noisy GD - SDE) has only blocks of 1 or 2 nodes; the non-Gaussian gap (SGD - noisy GD)
    has a block of 3 or more nodes in every contraction and starts at eta^3 with
    -T/(6 B^2) [S_abc J_abc]."""
    sgd, noisy, sde = _general("sgd"), _general("noisy_gd"), _general("sde")
    discretization, gap = noisy - sde, sgd - noisy
    assert discretization + gap == sgd - sde
    for m in range(5):
        for atom in contractions_in(discretization.coeff(m)):
            assert max(len(b) for b in atom.blocks) <= 2, atom
        for atom in contractions_in(gap.coeff(m)):
            assert max(len(b) for b in atom.blocks) >= 3, atom
    a = _atoms(3)
    assert gap.coefficients[:3] == (0, 0, 0)
    assert same(gap.coeff(3), -T / (6 * B**2) * a["[S_abc J_abc]"])
    assert discretization.coeff(2) != 0 and len(contractions_in(gap.coeff(4))) == 4


def test_the_decomposition_on_landscapes_against_the_brute_forces():
    """The same split with every process computed independently at T = 3: SGD by the exact
    engine, noisy GD by Gaussian moments, the SDE by its generator.  The gap is -T S:J/(6 B^2)
    at eta^3 (-2 on the skewed landscape, S:J = 4), the discretization error the contractions
    of blocks <= 2 evaluated there."""
    general = _general("noisy_gd", 3) - _general("sde", 3)
    skewness = {}
    for L in (skewed(), valley_of_death()):
        sgd = symsgd.expected_loss(symsgd.sgd(3), 3, landscape=L, method="exact").coefficients
        noisy = noisy_gd_brute_force(L, 3, 3, 1)
        sde = sde_expected_loss(L, 3, steps=3).coefficients
        sj = symsgd.Series((_atoms(3)["[S_abc J_abc]"],)).evaluate(L).coeff(0)
        assert [s - n for s, n in zip(sgd, noisy)] == [0, 0, 0, -3 * sj / 6]
        expected = general.evaluate(L, T=3, B=1).coefficients
        assert all(same(n - e, x) for n, e, x in zip(noisy, sde, expected))
        skewness[L.name] = sj
    assert skewness["skewed"] == 4


def test_the_sde_rule_in_contractions_matches_the_generator_for_the_weights():
    """The SDE in contractions (noisy GD's top power of T per contraction) against the
    generator for the weights, to eta^3 (the test loss: the test above for SGD's leading
    part)."""
    rule = approximation_displacement("sde", 3, steps=T, batch=B)
    for L in (shifting_valleys(), skewed()):
        generator = sde_expected_displacement(L, 3, steps=T, batch=B)
        value = rule.evaluate(L)
        for c, g in zip(value.coefficients, generator.coefficients):
            assert all(same(x, y) for x, y in zip(c, g)), L.name


def test_the_front_door_agrees_with_the_sde_generator_and_sgd():
    """approximation_loss('sde'/'sde2', landscape=L) is the generator; 'sgd' is the direct
    route at N = T B."""
    L = skewed()
    for kind in KINDS:
        assert approximation_loss(kind, 3, landscape=L, steps=T, batch=B) == \
            sde_expected_loss(L, 3, steps=T, batch=B, kind=kind)
    sgd = symsgd.expected_loss(symsgd.sgd(N, batch=B), 3, method="direct")
    assert _general("sgd", 3) == sgd.subs(N, T * B)
    assert approximation_loss("sgd", 3, landscape=L, steps=3) == \
        symsgd.expected_loss(symsgd.sgd(3), 3, landscape=L, method="exact")
    weights = approximation_displacement("svag", 2, landscape=L, steps=2, l=5)
    assert weights.shape == (2,) and weights.measure == "weights"


def test_noisy_gd_by_monte_carlo():
    """symsgd.nets.dynamics.NoisyGD trained on a whole finite population (training=
    'population') with batch 1: drift -grad l (the population's gradient is the test
    loss's) and noise N(0, C(theta)) fresh each step ((N - B)/(B (N - 1)) = 1): the online
    noisy GD expanded here.  Within 4 standard errors plus |c4| eta^4 of the order-3 series;
    the same process with half the noise (batch 2) is not."""
    pytest.importorskip("torch")
    from symsgd.nets.dynamics import NoisyGD

    _agrees_with_simulation(
        lambda N, steps: NoisyGD(N, steps=steps),
        lambda L, order, batch: approximation_loss("noisy_gd", order, landscape=L,
                                                   steps=MC_STEPS, batch=batch))


def test_svag_by_monte_carlo():
    """symsgd.nets.dynamics.SVAG(l = 4) against the series of SVAG(4) and of SGD (= SVAG(1)).

    Mean estimation on the two points -1, 1 (init 1), trained on the whole population with
    batch 1 (each draw a fresh point), T = 4 nominal steps at lr 0.05, 200,000 runs: within
    4 standard errors plus |c5| eta^5 of SVAG(4)'s order-4 series, and more than twice that
    from SGD's (the two series differ by about 15 standard errors)."""
    pytest.importorskip("torch")
    from symsgd.nets import simulate
    from symsgd.nets.dynamics import SVAG

    w, x = sympy.symbols("w x", real=True)
    L = symsgd.Landscape((w - x)**2 / 2, (w,), (x,), (1,), distribution=Dataset([-1, 1]),
                         name="mean of -1, 1")
    lr = 0.05
    runs = simulate(L, SVAG(2, steps=4, l=4), lr=[lr], trials=200000, seed=0,
                    training="population")
    mean, sem = runs.mean()[0, -1], runs.sem()[0, -1]
    series = {l: approximation_loss("svag", 5, landscape=L, steps=4, l=l) for l in (1, 4)}
    allowance = 4 * sem + abs(float(series[4].coeff(5))) * lr**5
    assert abs(mean - float(series[4].truncate(4)(lr))) < allowance
    assert abs(mean - float(series[1].truncate(4)(lr))) > 2 * allowance


# ------------------------------------------------------------------ bad input
BAD = [
    ("not a landscape", lambda: sde_expected_loss({"loss": 1}, 2, steps=3), InputTypeError,
     "Landscape"),
    ("negative order", lambda: sde_expected_loss(shifting_valleys(), -1, steps=3), OrderError,
     "non-negative"),
    ("fractional order", lambda: sde_expected_loss(shifting_valleys(), R(3, 2), steps=3),
     OrderError, "non-negative"),
    ("zero steps", lambda: sde_expected_loss(shifting_valleys(), 2, steps=0), ScheduleError,
     "steps"),
    ("float steps", lambda: sde_expected_loss(shifting_valleys(), 2, steps=2.0), InputTypeError,
     "float"),
    ("negative symbolic steps",
     lambda: sde_expected_loss(shifting_valleys(), 2, steps=sympy.Symbol("k", negative=True)),
     ScheduleError, "positive"),
    ("fractional batch", lambda: sde_expected_loss(shifting_valleys(), 2, steps=3, batch=R(1, 2)),
     ScheduleError, "batch"),
    ("unknown kind", lambda: sde_expected_loss(shifting_valleys(), 2, steps=3, kind="ode"),
     MethodError, "kind"),
    ("kind not a string", lambda: sde_expected_loss(shifting_valleys(), 2, steps=3, kind=2),
     MethodError, "kind"),
    ("training loss", lambda: sde_expected_loss(shifting_valleys(), 2, steps=3, measure="train"),
     MeasureError, "training set"),
    ("gap", lambda: sde_expected_loss(shifting_valleys(), 2, steps=3, measure="gap"),
     MeasureError, "training set"),
    ("weights", lambda: sde_expected_loss(shifting_valleys(), 2, steps=3, measure="weights"),
     MeasureError, "sde_expected_displacement"),
    ("unknown measure", lambda: sde_expected_loss(shifting_valleys(), 2, steps=3, measure=1),
     MeasureError, "unknown measure"),
    ("eta not a symbol", lambda: sde_expected_loss(shifting_valleys(), 2, steps=3, eta=1),
     InputTypeError, "eta"),
    ("displacement, bad kind",
     lambda: sde_expected_displacement(shifting_valleys(), 2, steps=3, kind="sgd"), MethodError,
     "kind"),
    ("positional options", lambda: sde_expected_loss(shifting_valleys(), 2, 3), TypeError,
     "positional"),
]




STRING_CASES = [(f, a) for f in (sde_expected_loss, sde_expected_displacement)
                for a in ("landscape", "order", "steps", "batch", "kind", "measure", "eta")
                if not (f is sde_expected_displacement and a == "measure")]


@pytest.mark.parametrize("function, argument", STRING_CASES)
def test_a_string_is_refused_and_never_run(function, argument, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = "__import__('os').system('touch PWNED')"
    args = {"landscape": shifting_valleys(), "order": 1, "steps": 2, "batch": 1, "kind": "sde",
            "measure": "test", "eta": ETA}
    if function is sde_expected_displacement:
        del args["measure"]
    args[argument] = payload
    with pytest.raises(SymsgdError):
        function(args.pop("landscape"), args.pop("order"), **args)
    assert not (tmp_path / "PWNED").exists()


APPROX_BAD = [
    ("unknown process", lambda: approximation_loss("adam", 2, steps=3), MethodError, "process"),
    ("process not a string", lambda: approximation_loss(1, 2, steps=3), MethodError, "process"),
    ("l below 1", lambda: approximation_loss("svag", 2, steps=3, l=0), RangeError, "positive"),
    ("negative l", lambda: approximation_loss("svag", 2, steps=3, l=-2), RangeError, "positive"),
    ("fractional l", lambda: approximation_loss("svag", 2, steps=3, l=R(3, 2)), RangeError,
     "integer"),
    ("float l", lambda: approximation_loss("svag", 2, steps=3, l=5.0), InputTypeError, "float"),
    ("bool l", lambda: approximation_loss("svag", 2, steps=3, l=True), InputTypeError, "bool"),
    ("non-integer symbolic l",
     lambda: approximation_loss("svag", 2, steps=3, l=sympy.Symbol("r", integer=False)),
     RangeError, "integer"),
    ("l for SGD", lambda: approximation_loss("sgd", 2, steps=3, l=2), MethodError, "SVAG"),
    ("sde2 in contractions", lambda: approximation_loss("sde2", 2, steps=3), LandscapeError,
     "landscape"),
    ("not a landscape", lambda: approximation_loss("sgd", 2, steps=3, landscape={"a": 1}),
     InputTypeError, "Landscape"),
    ("training loss", lambda: approximation_loss("noisy_gd", 2, steps=3, measure="train"),
     MeasureError, "training set"),
    ("weights", lambda: approximation_loss("svag", 2, steps=3, measure="weights"),
     MeasureError, "approximation_displacement"),
    ("unknown measure", lambda: approximation_loss("sgd", 2, steps=3, measure=None),
     MeasureError, "unknown measure"),
    ("zero steps", lambda: approximation_loss("sgd", 2, steps=0), ScheduleError, "steps"),
    ("float batch", lambda: approximation_loss("sgd", 2, steps=2, batch=2.0), InputTypeError,
     "float"),
    ("negative order", lambda: approximation_loss("sgd", -1, steps=2), OrderError,
     "non-negative"),
    ("eta not a symbol", lambda: approximation_loss("sgd", 2, steps=2, eta=1), InputTypeError,
     "eta"),
    ("svag_weight, negative m", lambda: svag_weight(-1), RangeError, "non-negative"),
    ("svag_weight, l = 0", lambda: svag_weight(2, l=0), RangeError, "positive"),
    ("displacement, unknown process", lambda: approximation_displacement("gd", 2, steps=2),
     MethodError, "process"),
    ("positional options", lambda: approximation_loss("sgd", 2, None, 3), TypeError,
     "positional"),
]


@pytest.mark.parametrize("call, error, message", [pytest.param(c, e, m, id=d)
                                                  for d, c, e, m in BAD + APPROX_BAD])
def test_bad_input_raises_a_typed_error(call, error, message):
    with pytest.raises(error, match=message) as info:
        call()
    if error is not TypeError:
        assert isinstance(info.value, SymsgdError)


APPROX_STRINGS = [(f, a) for f in (approximation_loss, approximation_displacement)
                  for a in ("order", "landscape", "steps", "batch", "l", "measure", "eta")
                  if not (f is approximation_displacement and a == "measure")]


@pytest.mark.parametrize("function, argument", APPROX_STRINGS)
def test_approximation_strings_are_refused_and_never_run(function, argument, tmp_path,
                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = "__import__('os').system('touch PWNED')"
    args = {"order": 1, "landscape": None, "steps": 2, "batch": 1, "l": 5, "measure": "test",
            "eta": ETA}
    if function is approximation_displacement:
        del args["measure"]
    args[argument] = payload
    with pytest.raises(SymsgdError):
        function("svag", args.pop("order"), **args)
    with pytest.raises(SymsgdError):
        function(payload, 1, steps=2)
    with pytest.raises(SymsgdError):
        svag_weight(payload)
    assert not (tmp_path / "PWNED").exists()
    assert sorted(PROCESSES) == ["noisy_gd", "sde", "sde2", "sgd", "svag"]


# ------------------------------------------------------------ the front door: process=
@pytest.mark.parametrize("process", ["noisy_gd", "svag", "sde"])
def test_front_door_process_is_the_approximation_of_single_epoch_sgd(process):
    # sgd(N, batch=B) is T = N/B fresh batches; expected_loss(..., process=p) is
    # approximation_loss(p, steps=N/B, batch=B), in contractions and on a landscape.
    schedule = symsgd.sgd(N, batch=B)
    for front, direct in [(symsgd.expected_loss, approximation_loss),
                          (symsgd.expected_displacement, approximation_displacement)]:
        got = front(schedule, 3, method="direct", process=process)
        want = direct(process, 3, steps=N / B, batch=B)
        assert all(same(a, b) for a, b in zip(got.coefficients, want.coefficients, strict=True))
    L = skewed()
    got = symsgd.expected_loss(symsgd.sgd(3), 3, landscape=L, process=process,
                               **({"l": 3} if process == "svag" else {}))
    want = approximation_loss(process, 3, landscape=L, steps=3,
                              **({"l": 3} if process == "svag" else {}))
    assert got.coefficients == want.coefficients and got.label == want.label


def test_front_door_second_order_sde_and_sgd_on_a_landscape():
    L = skewed()
    sde2 = symsgd.expected_loss(symsgd.sgd(4, batch=2), 3, landscape=L, process="sde2")
    assert sde2.coefficients == approximation_loss("sde2", 3, landscape=L, steps=2,
                                                   batch=2).coefficients
    run = symsgd.expected_loss(symsgd.sgd(4, batch=2), 3, landscape=L)
    assert (run - sde2).coefficients[:3] == (0, 0, 0) and (run - sde2).coeff(3) != 0


@pytest.mark.parametrize("call, error, match", [
    (lambda: symsgd.expected_loss(symsgd.sgd(3, epochs=2), 2, landscape=skewed(),
                                  process="sde"), MethodError, "reuses its training points"),
    (lambda: symsgd.expected_loss(symsgd.gd(3), 2, landscape=skewed(), process="noisy_gd"),
     MethodError, "single-epoch"),
    (lambda: symsgd.expected_loss(symsgd.sgd(3), 2, landscape=skewed(), process="sde",
                                  measure="train"), MeasureError, "no training set"),
    (lambda: symsgd.expected_loss(symsgd.sgd(3), 2, landscape=skewed(), process="sde",
                                  moment=3), MeasureError, "moment=3"),
    (lambda: symsgd.expected_loss(symsgd.sgd(3), 2, method="diagrams", process="sde"),
     MethodError, "direct route"),
    (lambda: symsgd.expected_loss(symsgd.sgd(3), 2, process="sde"), LandscapeError,
     "method='direct'"),
    (lambda: symsgd.expected_loss(symsgd.sgd(3), 2, landscape=skewed(), l=2), MethodError,
     "SVAG's factor"),
    (lambda: symsgd.expected_loss(symsgd.sgd(3), 2, method="direct", process="svag", l=0),
     RangeError, "positive"),
    (lambda: symsgd.expected_loss(symsgd.sgd(3), 2, landscape=skewed(), process="ode"),
     MethodError, "unknown process"),
    (lambda: symsgd.expected_displacement(symsgd.sgd(3), 2, method="direct", process="gdc"),
     MethodError, "pairs of training points"),
], ids=["epochs", "gd", "train", "moment", "diagrams", "exact-no-landscape", "l-for-sgd",
        "l-zero", "unknown", "gdc-direct"])
def test_front_door_process_refusals(call, error, match):
    with pytest.raises(error, match=match):
        call()
