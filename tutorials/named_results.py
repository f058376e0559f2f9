"""Tutorial: the paper's propositions and corollaries, derived.

Tenka, "SGD at small learning rates", states a handful of named results about
the expected test loss and weights of SGD to second (or third) order in the
learning rate.  The paper is a draft and several of its printed formulas are
wrong.  Here symsgd's direct route derives each result with symbolic sizes --
``N`` training points, batch size ``B``, ``E`` epochs, so ``T = E N / B``
steps -- prints it as text and LaTeX, states the paper's printed form where it
differs (an erratum; all are listed in ``docs/results.md``), and checks it
twice:

(a) the derived series equals a closed form written out by hand, and
(b) that closed form, evaluated on the exact statistics of concrete polynomial
    landscapes, equals the brute-force exact engine (symbolic SGD with exact
    rationals, ``method='exact'``) at several ``N``, batch sizes and epochs.

Contractions print as named statistics (``G, H, J``: means of the first three
derivatives of ``l_x``; ``C, S``: second and third cumulants of the gradient;
``kappa(...)``: other joint cumulants).  ``[G (grad tr C)/2]`` is
``G_b kappa(grad_a l, grad_a grad_b l) = G . grad(tr C) / 2``.  Every edge
carries one ``eta`` (a scalar, or an inverse metric raising indices).

Run top to bottom: ``python tutorials/named_results.py`` (about 15 s on two cores).
"""

# %% Symbols, named statistics, landscapes and helpers
import sympy
from sympy.stats import Exponential, Normal

from symsgd import ETA, Landscape, Series, expected_displacement, expected_loss, gd, sgd
from symsgd.distributions import Dataset
from symsgd.landscapes import shifting_valleys, valley_of_death
from symsgd.tensors import Contraction, collect_contractions

N, B, E, M = sympy.symbols("N B E M", integer=True, positive=True)
T = E * N / B                      # the number of steps of sgd(N, batch=B, epochs=E)
half = sympy.Rational(1, 2)

# Each statistic is a contraction graph: node degrees (node i is grad^k l_x),
# blocks (one joint cumulant per block) and edges (contracted index pairs).
l0 = Contraction.from_graph([0], [[0]], [])
GG = Contraction.from_graph([1, 1], [[0], [1]], [(0, 1)])
GHG = Contraction.from_graph([1, 2, 1], [[0], [1], [2]], [(0, 1), (1, 2)])
CH = Contraction.from_graph([1, 1, 2], [[0, 1], [2]], [(0, 2), (1, 2)])
GdC = Contraction.from_graph([1, 2, 1], [[0, 1], [2]], [(0, 1), (1, 2)])     # G.grad(tr C)/2
SJ = Contraction.from_graph([1, 1, 1, 3], [[0, 1, 2], [3]], [(0, 3), (1, 3), (2, 3)])
K3H = Contraction.from_graph([1, 1, 2, 2], [[0, 1, 2], [3]], [(0, 3), (1, 2), (2, 3)])
HG = Contraction.from_graph([1, 2], [[0], [1]], [(0, 1)], free=[1])              # (H G)^b
dC = Contraction.from_graph([1, 2], [[0, 1]], [(0, 1)], free=[1])                # grad^b tr C / 2
print("named statistics (text  |  LaTeX):")
for c in (GG, GHG, CH, GdC, SJ, K3H, HG, dC):
    print(f"  {c!s:42} | {sympy.latex(c)}")

a, b, x, y = sympy.symbols("a b x y")
# two landscapes with every statistic above non-zero (skewed, correlated data)
LANDSCAPES = [
    Landscape(a**2 * b / 2 + (a - x)**2 / 2 + b**2 * y / 2 + a * b * x + b**3 * x / 6, (a, b),
              (x, y), init=[1, -half], distribution=Dataset([(0, 1), (1, -1), (3, 2)]),
              name="L1"),
    Landscape(a**3 / 3 - a * b * x + (b - y)**2 / 2 + a**2 * x * y / 2 + b * x**2, (a, b), (x, y),
              init=[-1, half], distribution=Dataset([(1, 0), (-1, 2), (2, 1), (0, -1)]),
              name="L2"),
]


def direct(schedule, order, measure="test"):
    """The symbolic series of the direct route (no landscape: contractions remain)."""
    if measure == "weights":
        return expected_displacement(schedule, order, method="direct")
    return expected_loss(schedule, order, method="direct", measure=measure)


def exact(schedule, order, landscape, measure="test"):
    """The brute-force exact engine's series on a landscape."""
    if measure == "weights":
        return expected_displacement(schedule, order, landscape=landscape, method="exact")
    return expected_loss(schedule, order, landscape=landscape, measure=measure, method="exact")


def at_rate(series, factor):
    """The series with ``eta`` replaced by ``factor * eta``."""
    return Series(tuple(c * sympy.sympify(factor)**k for k, c in enumerate(series)),
                  eta=series.eta, measure=series.measure, moment=series.moment)


def value(expr, landscape, **sizes):
    """A closed form at concrete sizes, on the landscape's exact statistics."""
    expr = sympy.sympify(expr).subs({s: sizes[s.name] for s in (N, B, E, M) if s.name in sizes})
    return Series((expr,)).evaluate(landscape).coeff(0)


def same(expr, target):
    """Assert that two symbolic coefficients are equal."""
    assert sympy.expand(expr - target) == 0, sympy.expand(expr - target)


def nonzero(expr, landscape):
    v = value(expr, landscape)
    return any(v) if getattr(v, "shape", ()) else v != 0


# so that no check below passes by a vanishing statistic
assert all(nonzero(c, L) for c in (GG, GHG, CH, GdC, HG, dC) for L in LANDSCAPES)


def show(what, formula, paper=None):
    print(f"\n{what}:\n  {formula}\n  LaTeX: {sympy.latex(formula)}")
    if paper is not None:
        print(f"  the paper prints: {paper}")


# %% Proposition 0: G controls the leading-order loss decrease
# E l(theta_T) = l - T G.G eta + O(eta^2), for every schedule with T steps.
for schedule in (sgd(N, batch=B, epochs=E), sgd(N, batch=B, epochs=E, reshuffle="random"),
                 gd(N, steps=T)):
    series = direct(schedule, 1)
    same(series.coeff(0), l0)
    same(series.coeff(1), -schedule.T * GG)
show("Proposition 0, [eta^1] E l(theta_T)", -T * GG)
for L in LANDSCAPES:
    for n, bs, ep in [(3, 1, 1), (2, 1, 2), (4, 2, 1), (4, 2, 3), (6, 3, 2)]:
        ex = exact(sgd(n, batch=bs, epochs=ep), 1, L)
        assert ex.coeff(0) == value(l0, L)
        assert ex.coeff(1) == value(-T * GG, L, N=n, B=bs, E=ep)
    assert exact(gd(3, steps=2), 1, L).coeff(1) == value(-2 * GG, L)
print("  = the exact engine on L1, L2 at (N, B, E) = (3,1,1) (2,1,2) (4,2,1) (4,2,3) (6,3,2) "
      "and for GD with N = 3, T = 2")


# %% Proposition 3 for every batch size, fixed and random reshuffling
def proposition_3(N, B, E):
    T = E * N / B
    return T * (T - half) * GHG + T * E / (2 * B) * CH + T * (E - 1) / (2 * B) * GdC


prop3 = proposition_3(N, B, E)
for rule in ("fixed", "random"):
    series = direct(sgd(N, batch=B, epochs=E, reshuffle=rule), 2)
    same(series.coeff(1), -T * GG)
    same(series.coeff(2), prop3)


def tenka_proposition_3(N, B, M):
    """Proposition 3 as printed (eta^1 and eta^2), 'for M epochs'."""
    return (-M * N * GG, M * N * (M * N - half) * GHG + M * N * M / 2 * CH
            + M * N * (M - 1 / B) / 2 * GdC)


paper = tenka_proposition_3(N, B, E)
show("Proposition 3, [eta^2] E l(theta_T) (T = E N / B steps)", prop3,
     paper=f"eta^1: {paper[0]}, eta^2: {paper[1]}  (M = E epochs)")
same((paper[1] - prop3).subs(B, 1), 0)                       # right for batch 1 ...
assert sympy.expand((paper[0] + T * GG).subs(B, 2)) != 0     # ... wrong for batch 2
print("  erratum: with M = E epochs the printed form holds for B = 1 only (its eta^1 term "
      "is off by a factor B); it holds for every B when M is T / N = E / B, the updates "
      "per training point of the paper's section 1.2:")
per_point = tenka_proposition_3(N, B, E / B)
same(per_point[0], -T * GG)
same(per_point[1], prop3)
print("  the printed form with M = E / B equals the derived one")
for L in LANDSCAPES:
    for n, bs, ep, rule in [(3, 1, 1, "fixed"), (2, 1, 2, "fixed"), (2, 1, 3, "fixed"),
                            (4, 2, 1, "fixed"), (4, 2, 2, "fixed"), (6, 3, 2, "fixed"),
                            (3, 1, 2, "random"), (4, 2, 2, "random")]:
        ex = exact(sgd(n, batch=bs, epochs=ep, reshuffle=rule), 2, L)
        assert ex.coeff(1) == value(-T * GG, L, N=n, B=bs, E=ep)
        assert ex.coeff(2) == value(prop3, L, N=n, B=bs, E=ep)
print("  = the exact engine on L1, L2 at (N, B, E) = (3,1,1) (2,1,2) (2,1,3) (4,2,1) (4,2,2) "
      "(6,3,2), and randomly reshuffled at (3,1,2) (4,2,2)")

# %% From which order reshuffling matters
# Fixed-order and uniformly reshuffled epochs agree through eta^3 and differ at eta^4.
fixed = direct(sgd(N, batch=B, epochs=E), 4)
shuffled = direct(sgd(N, batch=B, epochs=E, reshuffle="random"), 4)
for k in range(4):
    same(fixed.coeff(k), shuffled.coeff(k))
gap4 = sympy.expand(fixed.coeff(4) - shuffled.coeff(4))
assert gap4 != 0
HHHC = Contraction.from_graph([1, 1, 2, 2, 2], [[0, 1], [2], [3], [4]],
                              [(0, 2), (2, 3), (3, 4), (1, 4)])
print(f"\nreshuffling: fixed and random epochs agree to eta^3; at eta^4 they differ by "
      f"{len(collect_contractions(gap4))} contractions, e.g. (fixed - random) "
      f"{sympy.factor(collect_contractions(gap4)[HHHC])} * {HHHC}")
for L in LANDSCAPES:
    for n, bs, ep in [(2, 1, 2), (4, 2, 2), (2, 1, 3)]:
        fx = exact(sgd(n, batch=bs, epochs=ep), 4, L)
        rd = exact(sgd(n, batch=bs, epochs=ep, reshuffle="random"), 4, L)
        assert fx.coefficients[:4] == rd.coefficients[:4]
        assert fx.coeff(4) - rd.coeff(4) == value(gap4, L, N=n, B=bs, E=ep) != 0
print("  = the exact engine on L1, L2 at (N, B, E) = (2,1,2) (4,2,2) (2,1,3)")

# %% Section A.1: the effect of epochs
# M epochs at learning rate eta/M against one epoch at eta (same eta T), batch B.
one = direct(sgd(N, batch=B), 2)
many = at_rate(direct(sgd(N, batch=B, epochs=M), 2), 1 / M)
diff = many - one
same(diff.coeff(1), 0)
epochs_effect = (M - 1) / (2 * M) * N / B * (GHG + GdC / B)
same(diff.coeff(2), epochs_effect)
paper = (M - 1) / (4 * M) * N * 2 * GdC                     # (M-1)/(4M) N G.grad(tr C)
show("A.1, [eta^2] E l(M epochs, eta/M) - E l(1 epoch, eta)", epochs_effect,
     paper=f"{paper}  (batch 1)")
same(epochs_effect.subs(B, 1) - paper, (M - 1) / (2 * M) * N * GHG)
print("  erratum: the paper misses (M-1)/(2M) N [G H G]: the chain G H G does not cancel "
      "(binomial(M N, 2)/M^2 != binomial(N, 2)); its grad tr C part is right")
for L in LANDSCAPES:
    for n, bs, m in [(3, 1, 2), (2, 1, 3), (4, 2, 2), (4, 2, 3)]:
        ex = at_rate(exact(sgd(n, batch=bs, epochs=m), 2, L), sympy.Rational(1, m)) \
            - exact(sgd(n, batch=bs), 2, L)
        assert ex.coeff(1) == 0
        assert ex.coeff(2) == value(epochs_effect, L, N=n, B=bs, M=m)
print("  = the exact engine on L1, L2 at (N, B, M) = (3,1,2) (2,1,3) (4,2,2) (4,2,3)")

# The other way to read "the effect of epochs": M epochs of N points against one
# epoch of M N fresh points, both at eta (same T): reusing data adds noise correlations.
reuse = direct(sgd(N, batch=B, epochs=M), 2) - direct(sgd(M * N, batch=B), 2)
same(reuse.coeff(1), 0)
reuse_effect = M * (M - 1) * N / (2 * B**2) * (CH + GdC)
same(reuse.coeff(2), reuse_effect)
show("[eta^2] E l(M epochs of N points) - E l(1 epoch of M N points)", reuse_effect)
for L in LANDSCAPES:
    for n, bs, m in [(2, 1, 2), (3, 1, 2), (2, 2, 3)]:
        ex = exact(sgd(n, batch=bs, epochs=m), 2, L) - exact(sgd(m * n, batch=bs), 2, L)
        assert ex.coeff(1) == 0 and ex.coeff(2) == value(reuse_effect, L, N=n, B=bs, M=m)
print("  = the exact engine on L1, L2 at (N, B, M) = (2,1,2) (3,1,2) (2,2,3)")

# %% Section A.8.1: GD versus SGD (the same number T of steps)
gd_vs_sgd = direct(gd(N, steps=T), 2) - direct(sgd(N, batch=B, epochs=E), 2)
same(gd_vs_sgd.coeff(1), 0)
batch_effect = T * (N - B) / (2 * N * B) * GdC
same(gd_vs_sgd.coeff(2), batch_effect)
show("A.8.1, [eta^2] E l_GD - E l_SGD", batch_effect,
     paper="M (N-1)/4 G.grad(tr C)  (batch 1, M epochs)")
same(batch_effect.subs({B: 1, E: M}), M * (N - 1) / 4 * 2 * GdC)
print("  agrees with the paper for batch 1; for batch B the factor is T (1/B - 1/N)/2")
for L in LANDSCAPES:
    for n, bs, ep in [(3, 1, 1), (2, 1, 2), (4, 2, 1), (4, 2, 2), (3, 1, 3)]:
        steps = ep * n // bs
        ex = exact(gd(n, steps=steps), 2, L) - exact(sgd(n, batch=bs, epochs=ep), 2, L)
        assert ex.coeff(1) == 0 and ex.coeff(2) == value(batch_effect, L, N=n, B=bs, E=ep)
print("  = the exact engine on L1, L2 at (N, B, E) = (3,1,1) (2,1,2) (4,2,1) (4,2,2) (3,1,3)")



# %% The perturbative-analysis note: its basis INT, UNC, PAS, TEM, PER
# The note writes <(a)> = G, <(a)(a)> = E|grad l_x|^2, <(ab)(b)> = E[grad_ab l_x grad_b l_x],
# so, with E[grad_ab l_x grad_b l_x] = (H G)_a + grad_a(tr C)/2:
#   INT = G.G   UNC = tr C   PAS = 2 (G H G + G.grad(tr C)/2)   TEM = G.grad(tr C)   PER = H:C
trC = Contraction.from_graph([1, 1], [[0, 1]], [(0, 1)])
INT, UNC, PAS, TEM, PER = GG, trC, 2 * (GHG + GdC), 2 * GdC, CH
Tn = sympy.Symbol("T", integer=True, positive=True)         # GD's steps; SGD: T = N, batch 1


def steps2(T):
    return T * (T - 1) / 2                                  # binomial(T, 2)


# Its expansions, with its eta read as -eta (the sign convention it leaves undefined), and
# what the engine derives, as functions of the basis (PAS, TEM, PER), N and GD's steps T:
def note_sgd(pas, tem, per, N):
    return steps2(N) * (pas / 2 + pas / 4) + N * (pas / 4 + per / 2)


def note_gd(pas, tem, per, N, T):
    return steps2(T) * (pas / 2 + tem / (2 * N) + pas / 4 + per / (2 * N)) \
        + T * (pas / 4 + per / (2 * N))


def true_sgd(pas, tem, per, N):
    return steps2(N) * (pas - tem) + N * (pas - tem + 2 * per) / 4


def true_gd(pas, tem, per, N, T):
    return steps2(T) * (pas - tem + tem / (2 * N) + per / N) + T * (pas - tem + 2 * per / N) / 4


basis = sympy.symbols("PAS TEM PER")
for schedule, true, printed, sizes in ((sgd(N), true_sgd, note_sgd, (N,)),
                                       (gd(N, steps=Tn), true_gd, note_gd, (N, Tn))):
    series = direct(schedule, 2)
    same(series.coeff(1), -schedule.T * INT)
    same(series.coeff(2), true(PAS, TEM, PER, *sizes))
    show(f"the note's basis, [eta^2] E l after {schedule}", true(*basis, *sizes),
         paper=printed(*basis, *sizes))
note_sgd_true, note_gd_true = true_sgd(PAS, TEM, PER, N), true_gd(PAS, TEM, PER, N, Tn)
advantage = note_gd_true.subs(Tn, N) - note_sgd_true          # E l_GD - E l_SGD, T = N
same(advantage, (N - 1) * TEM / 4)
show("the note's basis, [eta^2] E l_GD - E l_SGD (T = N)", (N - 1) * basis[1] / 4,
     paper=sympy.factor(note_gd(*basis, N, N) - note_sgd(*basis, N)))
print("  errata: [T choose 2] carries PAS - TEM, not 3 PAS / 4, the [T] term misses -TEM/4, and\n"
      "  GD's [T choose 2] term has PER / N, not PER / (2N); so SGD's advantage over GD at T = N\n"
      "  has no PER term")
# and the generalization gap grows with UNC: eta T UNC / N to leading order (both at T = N)
same(direct(sgd(N), 1, "gap").coeff(1), UNC)
same(direct(gd(N, steps=Tn), 1, "gap").coeff(1), Tn * UNC / N)
show("the note's basis, [eta^1] E (test - train loss) after gd(N, steps=T)",
     Tn * sympy.Symbol("UNC") / N)
NOTE_LANDSCAPES = LANDSCAPES + [shifting_valleys(init=(2, -1)), valley_of_death(init=(-1, 2))]
for L in NOTE_LANDSCAPES:
    for n in (2, 3):
        assert exact(sgd(n), 2, L).coeff(2) == value(note_sgd_true, L, N=n)
        for steps in (1, 3):
            assert exact(gd(n, steps=steps), 2, L).coeff(2) == \
                value(note_gd_true.subs(Tn, steps), L, N=n)
print("  = the exact engine on L1, L2, Shifting Valleys at (2, -1) and the Valley of Death at\n"
      "    (-1, 2), N = 2, 3 (GD with T = 1, 3)")
assert value(advantage - note_gd(PAS, TEM, PER, N, N) + note_sgd(PAS, TEM, PER, N),
             shifting_valleys(), N=10) != 0            # the errata change the value

# %% Section A.8.2: the non-Gaussian term at a minimum
# At a test minimum (G = 0) compare SGD on a landscape with SGD on its Gaussian twin
# (every mean and covariance equal, higher joint cumulants zero): the difference is the
# part of the eta^3 coefficient made of G-free contractions with a block of >= 3 nodes.
def non_gaussian_at_minimum(coefficient):
    return sum((v * c for c, v in collect_contractions(coefficient).items()
                if (1,) not in c.statistics() and any(len(k) >= 3 for k in c.statistics())),
               sympy.S.Zero)


skew_effect = -T * E**2 / (6 * B**2) * SJ - T * E * (E - 1) / (2 * B**2) * K3H
for rule in ("fixed", "random"):
    same(non_gaussian_at_minimum(direct(sgd(N, batch=B, epochs=E, reshuffle=rule), 3).coeff(3)),
         skew_effect)
show("A.8.2, non-Gaussian part of [eta^3] E l(theta_T) at a minimum", skew_effect,
     paper="+T/6 E[grad^3 l] E[grad l grad l grad l]  (B = E = 1)")
print("  erratum: the sign (the paper's own derivation, with a_T = -sum grad l, gives -T/6) "
      "and, for batch B, a factor 1/B^2; several epochs add a kappa(grad l, grad l, grad^2 l) H "
      "term")
w = sympy.symbols("w")
twin_loss = a**2 / 2 + b**2 + a * b**2 / 2 + a**3 / 3 + x * (a + b + a * b + a**2 / 2) + w * b**2
twins = [Landscape(twin_loss, (a, b), (x, w), init=[0, 0], distribution=law, name=name)
         for name, law in [("skewed", {x: Exponential("X", 1) - 1, w: Exponential("W", 2)}),
                           ("gaussian", {x: Normal("X", 0, 1), w: Normal("W", half, half)})]]
assert all(value(GG, L) == 0 for L in twins)                         # a test minimum
assert value(CH, twins[0]) == value(CH, twins[1]) and value(SJ, twins[1]) == 0
assert value(SJ, twins[0]) != 0 and value(K3H, twins[0]) != 0
for n, bs, ep, rule in [(3, 1, 1, "fixed"), (4, 2, 1, "fixed"), (2, 1, 2, "fixed"),
                        (4, 2, 2, "fixed"), (2, 1, 3, "fixed"), (2, 1, 2, "random")]:
    coeffs = [exact(sgd(n, batch=bs, epochs=ep, reshuffle=rule), 3, L).coeff(3) for L in twins]
    assert coeffs[0] - coeffs[1] == value(skew_effect, twins[0], N=n, B=bs, E=ep) != 0
print("  = the exact engine (skewed minus Gaussian twin) at (N, B, E) = (3,1,1) (4,2,1) "
      "(2,1,2) (4,2,2) (2,1,3), and randomly reshuffled at (2,1,2)")

# %% Corollary 1: SGD avoids high-C regions more than GD (weights)
gd_vs_sgd_weights = direct(gd(N, steps=T), 2, "weights") \
    - direct(sgd(N, batch=B, epochs=E), 2, "weights")
same(gd_vs_sgd_weights.coeff(1), 0)
chladni = T * (N - B) / (2 * N * B) * dC
same(gd_vs_sgd_weights.coeff(2), chladni)
show("Corollary 1, [eta^2] E[theta_GD - theta_SGD]", chladni)
show("  for B = E = 1", chladni.subs({B: 1, E: 1}),
     paper="(N-1)/(4N) grad tr C  (= (N-1)/(2N) [dC])")
same(chladni.subs({B: 1, E: 1}), (N - 1) / 4 * 2 * dC)
print("  erratum: (N-1)/4 grad tr C, not (N-1)/(4N); (N-1)/(4N) tr C is the GDC regularizer l_C")
for L in LANDSCAPES:
    for n, bs, ep in [(3, 1, 1), (2, 1, 1), (4, 2, 1), (2, 1, 2)]:
        ex = exact(gd(n, steps=ep * n // bs), 2, L, "weights") \
            - exact(sgd(n, batch=bs, epochs=ep), 2, L, "weights")
        assert list(ex.coeff(1)) == [0, 0]
        assert ex.coeff(2) == value(chladni, L, N=n, B=bs, E=ep)
print("  = the exact engine on L1, L2 at (N, B, E) = (3,1,1) (2,1,1) (4,2,1) (2,1,2)")

# %% Corollary 1, second part: GDC
# GD on l + lam * tr C(theta): to eta^2 the regularizer only enters through the eta^1
# term -T eta G'.grad l with G' = G + lam grad tr C = G + 2 lam [dC]; the test loss we
# measure is l itself.  So GDC's loss moves by -2 T lam eta [G (grad tr C)/2] and its
# weights by -2 T lam eta [dC]: both cancel the GD-SGD gaps above for
# lam = c eta, c = (N - B)/(4 N B) = (1/B - 1/N)/4, i.e. (N-1)/(4N) for B = 1.
c_gdc = (N - B) / (4 * N * B)
same(-2 * T * c_gdc * GdC + batch_effect, 0)
same(-2 * T * c_gdc * dC + chladni, 0)
print(f"\nGDC: GD on l + c eta tr C matches SGD to eta^2 (loss and weights) for c = {c_gdc}; "
      f"for B = 1: {c_gdc.subs(B, 1)}")
# The exact engine derives c: run GD on the regularized landscape with a symbol lam,
# put lam = c eta, and solve for the c that closes the gap with SGD at eta^2.
lam, c_sym = sympy.symbols("lambda c")


def gdc_gap(L, n, bs, ep):
    """GDC minus SGD (loss and weights) at eta^2, as functions of c, by the exact engine."""
    grad = sympy.derive_by_array(L.loss, L.params)
    mean = [L.expect(g) for g in grad]
    trC = sympy.expand(sum(L.expect(g**2) - m**2 for g, m in zip(grad, mean)))
    reg = Landscape(L.loss + lam * trC, L.params, L.data, init=L.init,
                    distribution=L.distribution, name=L.name + "+GDC")
    schedule = gd(n, steps=ep * n // bs)
    loss = exact(schedule, 2, reg)                            # E (l + lam tr C)(theta_T)
    disp = exact(schedule, 2, reg, "weights")                 # E theta_T - theta_0
    at0 = dict(zip(L.params, L.init))
    grad_trC = [sympy.diff(trC, p).subs(at0) for p in L.params]
    # subtract lam E tr C(theta_T) = lam (tr C + grad tr C . E(theta_T - theta_0)) + O(eta^3)
    test = loss.removeO() - lam * (trC.subs(at0) + ETA * sum(
        g * d for g, d in zip(grad_trC, disp.coeff(1))))
    weights = disp.removeO()

    def at_eta2(expr):
        return sympy.expand(sympy.sympify(expr).subs(lam, c_sym * ETA)).coeff(ETA, 2)

    sgd_run = sgd(n, batch=bs, epochs=ep)
    return (at_eta2(test) - exact(sgd_run, 2, L).coeff(2),
            [at_eta2(wi) - si for wi, si in zip(weights, exact(sgd_run, 2, L, "weights").coeff(2))])


for L in LANDSCAPES:
    for n, bs, ep in [(3, 1, 1), (2, 1, 1), (4, 2, 1), (2, 1, 2)]:
        loss_gap, weight_gap = gdc_gap(L, n, bs, ep)
        (c_found,) = sympy.solve(loss_gap, c_sym)
        assert c_found == c_gdc.subs({N: n, B: bs})
        assert all(sympy.expand(g.subs(c_sym, c_found)) == 0 for g in weight_gap)
        assert any(sympy.expand(g.subs(c_sym, 0)) != 0 for g in weight_gap)   # plain GD differs
print("  = the exact engine: solving GDC = SGD at eta^2 gives this c on L1, L2 at (N, B, E) = "
      "(3,1,1) (2,1,1) (4,2,1) (2,1,2), and the weights then agree too")

# %% Corollary 2: several epochs at a smaller rate (weights)
one = direct(sgd(N, batch=B), 2, "weights")
many = at_rate(direct(sgd(N, batch=B, epochs=M), 2, "weights"), 1 / M)
diff = many - one
same(diff.coeff(1), 0)
epochs_weights = (M - 1) / (2 * M) * N / B * (HG + dC / B)
same(diff.coeff(2), epochs_weights)
paper = (M - 1) / (4 * M) * N * 2 * dC                       # (M-1)/(4M) N grad tr C
show("Corollary 2, [eta^2] E[theta(M epochs, eta/M) - theta(1 epoch, eta)]", epochs_weights,
     paper=f"{paper}  (batch 1)")
same(epochs_weights.subs(B, 1) - paper, (M - 1) / (2 * M) * N * HG)
print("  erratum: the paper misses (M-1)/(2M) N H G (discretization); its grad tr C part is right")
for L in LANDSCAPES:
    for n, bs, m in [(3, 1, 2), (2, 1, 3), (4, 2, 2)]:
        ex = at_rate(exact(sgd(n, batch=bs, epochs=m), 2, L, "weights"), sympy.Rational(1, m)) \
            - exact(sgd(n, batch=bs), 2, L, "weights")
        assert list(ex.coeff(1)) == [0, 0]
        assert ex.coeff(2) == value(epochs_weights, L, N=n, B=bs, M=m)
print("  = the exact engine on L1, L2 at (N, B, M) = (3,1,2) (2,1,3) (4,2,2)")
print("\nall named results derived and checked")
