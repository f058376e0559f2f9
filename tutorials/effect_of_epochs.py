"""Tutorial: the effect of epochs (Tenka, section A.1), redone with the diagram engine.

The paper's worked example asks (Question 1): how does SGD that makes ``M``
passes over ``N`` training points at learning rate ``eta/M`` differ from one
pass at ``eta``?  Both take the same total step ``eta T``, so they agree to
first order.  The paper answers with diagrams in four steps, and so do we:

1. the two *space-times* (which point each step uses);
2. the diagrams that *embed* in them, with their automorphisms and embedding
   counts -- polynomials in ``N``, ``M`` and the batch size ``B``;
3. the *uvalue* of each diagram (a contraction of the landscape's statistics);
4. the *sum*: ``[eta^d] E l = sum_D (-1/B)^d (embeddings of D)/|Aut D| uvalue(D)``.
   Rescaling ``eta -> eta/M`` multiplies order ``d`` by ``M^-d``, so a diagram
   drops out of the difference exactly when it has ``M^d`` times as many
   embeddings into the ``M``-epoch space-time as into the one-epoch one.

The assembled difference is checked against the direct route, the closed
form in ``docs/results.md``, and the brute-force exact engine on a concrete
landscape.  The paper's printed answer is wrong: it keeps only the diagram
``*(a(a))`` and misses ``(M-1)/(2M) N [G H G]``, because the chain ``*(a(b))``
(``G H G``) has ``binomial(M N, 2)`` embeddings, not ``M^2 binomial(N, 2)``.
Every diagram involved is drawn: text form, TikZ, and PNG pictures written to
the directory ``$SYMSGD_OUT`` (default ``out/``).

Run top to bottom: ``python tutorials/effect_of_epochs.py`` (a few seconds).
"""

# %% Symbols, schedules, a landscape and the output directory
import os
import pathlib

import matplotlib.pyplot as plt
import sympy

from symsgd import Landscape, Series, expected_loss, sgd
from symsgd.diagrams import (Diagram, count_embeddings, draw, embedding_automorphisms,
                             enumerate_diagrams, iter_embeddings, uvalue, weight)
from symsgd.distributions import Dataset
from symsgd.routes.diagrams import contributions
from symsgd.tensors import Contraction, collect_contractions

OUT = pathlib.Path(os.environ.get("SYMSGD_OUT", "out"))
OUT.mkdir(parents=True, exist_ok=True)

N, B, M = sympy.symbols("N B M", integer=True, positive=True)
one = sgd(N, batch=B)                  # one epoch at learning rate eta
many = sgd(N, batch=B, epochs=M)       # M epochs at learning rate eta / M (same eta T)
ORDER = 3                              # eta^2 is the paper's question; eta^3 for contrast

# The named statistics, built from their graphs (independently of the diagram engine):
# G H G = G_a H_ab G_b and G.grad(tr C)/2 = G_b kappa(grad_a l, grad_a grad_b l).
GHG = Contraction.from_graph([1, 2, 1], [[0], [1], [2]], [(0, 1), (1, 2)])
GdC = Contraction.from_graph([1, 2, 1], [[0, 1], [2]], [(0, 1), (1, 2)])

a, b, x, y = sympy.symbols("a b x y")
half = sympy.Rational(1, 2)
# a two-parameter landscape with skewed, correlated data: every statistic below is non-zero
L = Landscape(a**2 * b / 2 + (a - x)**2 / 2 + b**2 * y / 2 + a * b * x + b**3 * x / 6, (a, b),
              (x, y), init=[1, -half], distribution=Dataset([(0, 1), (1, -1), (3, 2)]),
              name="L")


def same(expr, target):
    """Assert that two symbolic expressions are equal."""
    assert sympy.expand(expr - target) == 0, sympy.expand(expr - target)


def tidy(expr):
    """An expression linear in contractions, each coefficient factored."""
    return sympy.Add(*(sympy.factor(c) * k for k, c in collect_contractions(expr).items()))


# %% Step 1: the space-times (rows: points n, columns: steps t)
print("space-time of 2 epochs over N = 3 points, batch 1:")
print(sgd(3, epochs=2).draw())
print("space-time of 1 epoch over N = 3 points, batch 1:")
print(sgd(3).draw())
print("2 epochs over N = 4 points, batch 2:")
print(sgd(4, batch=2, epochs=2).draw())

# %% Step 2: the diagrams that embed, their symmetries and embedding counts
# enumerate_diagrams(d, schedule=...) keeps the diagrams with at least one embedding.
# Every diagram that embeds in one epoch embeds in M epochs; some embed in M epochs only.
rows = {}                # D -> (count in one epoch, count in M epochs, difference of weights)
for d in range(1, ORDER + 1):
    in_one = set(enumerate_diagrams(d, schedule=one))
    in_many = list(enumerate_diagrams(d, schedule=many))
    assert in_one <= set(in_many)
    only_many = ", ".join(D.text() for D in in_many if D not in in_one) or "none"
    print(f"\n{len(in_many)} diagrams with {d} edges embed in M epochs, {len(in_one)} in one "
          f"epoch; only in M epochs: {only_many}")
    print(f"  {'diagram':14} {'|Aut|':>5}  {'embeddings, 1 epoch':24} {'embeddings, M epochs':30}"
          f" {'[eta^d] weight difference':30}")
    for D in in_many:
        c1 = sympy.factor(count_embeddings(D, one))
        cm = sympy.factor(count_embeddings(D, many))
        # weight = (-1/B)^d * count / |Aut|; the M-epoch run's rate eta/M scales it by M^-d
        diff = sympy.factor(weight(D, many, count=cm) / M**d - weight(D, one, count=c1))
        same(diff, (-1 / B)**d * (cm / M**d - c1) / D.n_automorphisms)
        rows[D] = (c1, cm, diff)
        print(f"  {D.text():14} {D.n_automorphisms:>5}  {c1!s:24} {cm!s:30} "
              f"{'cancels' if diff == 0 else str(diff):30}")

# The cancellation rule: a diagram cancels iff it has M^d times as many embeddings.
order2 = [D for D in rows if D.order == 2]
survivors = {d: [D for D in rows if D.order == d and rows[D][2] != 0] for d in (1, 2, 3)}
assert survivors[1] == []                                  # the eta^1 terms agree
assert [D.text() for D in survivors[2]] == ["*(a(a))", "*(a(b))"]
assert [D.text() for D in rows if D.order == 3 and rows[D][2] == 0] \
    == ["*(a, a, a)", "*(a, a, b)", "*(a, b, c)"]
print("\nat eta^2 the tie *(a(a)) (in M epochs only) AND the chain *(a(b)) survive;"
      "\nat eta^3 only the three diagrams whose nodes all hang from the root cancel: each node"
      "\ntakes any cell of its point's row, independently, and every row has M times as many"
      "\ncells in M epochs; an edge between two nodes orders their times and spoils the scaling.")

# %% The paper's step 2 and where it goes wrong: the chain G H G
# The paper (A.1.3) says the multi-epoch embeddings of every order-2 diagram except *(a(a))
# "correspond by an M^2 : 1 map" to the single-epoch ones.  For the chain *(a(b)) with batch 1
# that would be M^2 binomial(N, 2) embeddings; the engine counts binomial(M N, 2):
chain, tie = Diagram("*(a(b))"), Diagram("*(a(a))")
chain_count = count_embeddings(chain, sgd(N, epochs=M))
same(chain_count, sympy.binomial(M * N, 2).expand(func=True))
extra = sympy.factor(chain_count - M**2 * sympy.binomial(N, 2).expand(func=True))
same(extra, count_embeddings(tie, sgd(N, epochs=M)))        # N binomial(M, 2)
print(f"\nchain *(a(b)), batch 1: {sympy.factor(chain_count)} = binomial(M N, 2) embeddings;"
      f"\n  M^2 binomial(N, 2) misses {extra} = N binomial(M, 2) of them,"
      " as many as the tie *(a(a)) has")

# The missing ones, listed at N = 3, M = 2: project each embedding onto one epoch (its rows).
# Embeddings whose two nodes use different points map 4 : 1 (M^2 : 1) onto the single-epoch
# embeddings; those whose two nodes use the SAME point in different epochs have no image --
# exactly the cells where the tie *(a(a)) embeds.
small_many, small_one = sgd(3, epochs=2), sgd(3)
fibres = {}
for f in iter_embeddings(chain, small_many):
    rows_used = tuple(sorted({f[1][0], f[2][0]}, reverse=True))
    fibres.setdefault(rows_used, []).append(f)
images = {(f[1][0], f[2][0]) for f in iter_embeddings(chain, small_one)}
same_point = [f for r, fs in fibres.items() if len(r) == 1 for f in fs]
assert {r: len(fs) for r, fs in fibres.items() if len(r) == 2} == {r: 4 for r in images}
assert sorted((f[1], f[2]) for f in same_point) \
    == sorted((f[1], f[2]) for f in iter_embeddings(tie, small_many))
assert all(embedding_automorphisms(chain, f) == 1 for f in same_point)
assert all(embedding_automorphisms(tie, f) == 1 for f in iter_embeddings(tie, small_many))
print(f"  at N = 3, M = 2: {sum(map(len, fibres.values()))} chain embeddings; "
      f"{len(images)} single-epoch ones, each hit 4 times; {len(same_point)} more use one point "
      f"twice:")
for f in same_point:
    print(f"    b at (n, t) = {f[2]}, a at {f[1]}")


def text_picture(D, f, schedule):
    """An embedding as text: node letters in their cells, '#' other cells of the space-time."""
    at = {}
    for v in range(1, D.n_nodes):
        at.setdefault(f[v], []).append(D.node_name(v))
    lines = [f"{D.text()} embedded; the root * sits at t = {schedule.T}"]
    for n in range(schedule.N):
        cells = ["".join(at.get((n, t), [])) or ("#" if (n, t) in schedule.cells else ".")
                 for t in range(schedule.T)]
        lines.append(f"  n={n}  " + " ".join(c.ljust(2) for c in cells))
    return "\n".join(lines)


print(text_picture(chain, same_point[0], small_many))
print(text_picture(tie, next(iter_embeddings(tie, small_many)), small_many))

# %% Step 3: the uvalues
# The outline rule makes every block a joint CUMULANT (and lets different blocks share a point):
# the tie *(a(a)) is G_b kappa(grad_a l, grad_a grad_b l) = G.grad(tr C)/2.
print("\nuvalues (text | LaTeX):")
for D in order2:
    print(f"  {D.text():10} {uvalue(D)!s:22} | {sympy.latex(uvalue(D))}")
assert uvalue(chain) == GHG and uvalue(tie) == GdC

# %% Step 4: sum the contributions and compare with the direct route
# contributions(schedule, order) lists every diagram's weight and uvalue, order by order.
table_one, table_many = contributions(one, ORDER), contributions(many, ORDER)
assembled = []
for d in range(ORDER + 1):
    for schedule, table in ((one, table_one), (many, table_many)):
        for c in table[d]:
            same(c.weight, weight(c.diagram, schedule))
    assembled.append(sum((c.term / M**d for c in table_many[d]), sympy.S.Zero)
                     - sum((c.term for c in table_one[d]), sympy.S.Zero))
    # the same difference, diagram by diagram, from the table of step 2
    same(assembled[d], sum((rows[D][2] * uvalue(D) for D in rows if D.order == d), sympy.S.Zero))
assembled = Series(tuple(tidy(c) for c in assembled))


def at_rate(series, factor):
    """The series with eta replaced by factor * eta."""
    return Series(tuple(c * sympy.sympify(factor)**k for k, c in enumerate(series)))


direct = at_rate(expected_loss(many, ORDER, method="direct"), 1 / M) \
    - expected_loss(one, ORDER, method="direct")
for d in range(ORDER + 1):
    same(assembled.coeff(d), direct.coeff(d))                                 # (a)
print("\nE l(M epochs, eta/M) - E l(1 epoch, eta), from the diagrams (= the direct route):")
for d in range(ORDER + 1):
    print(f"  eta^{d}: {assembled.coeff(d)}")
print(f"  LaTeX of eta^2: {sympy.latex(assembled.coeff(2))}")

# (b) the closed form of docs/results.md, section A.1
epochs_effect = (M - 1) / (2 * M) * N / B * (GHG + GdC / B)
same(assembled.coeff(1), 0)
same(assembled.coeff(2), epochs_effect)
print("  eta^2 equals docs/results.md: (M-1)/(2M) N/B (G H G + G.grad(tr C)/(2B)) =",
      epochs_effect)

# %% The paper's printed answer
# (M-1)/(4M) N G.grad(tr C) (batch 1) is the tie *(a(a)) alone: N binomial(M, 2) embeddings,
# |Aut_f| = 1, times M^-2 from the rate.  It misses the chain's N binomial(M, 2) extra embeddings.
paper = (M - 1) / (4 * M) * N * 2 * GdC                  # G.grad(tr C) = 2 [G (grad tr C)/2]
same(rows[tie][2].subs(B, 1) * GdC, paper)
same(assembled.coeff(2).subs(B, 1) - paper, (M - 1) / (2 * M) * N * GHG)
same(rows[chain][2].subs(B, 1), extra / M**2)
print("\nthe paper prints (batch 1): (M-1)/(4M) N G.grad(tr C) =", paper)
print("  erratum: it misses (M-1)/(2M) N [G H G] =", (M - 1) / (2 * M) * N * GHG,
      "\n  from the chain's N binomial(M, 2) embeddings beyond M^2 binomial(N, 2): smaller steps"
      "\n  taken for longer differ at eta^2 even on a noiseless quadratic.")

# The same slip, read in the paper's own bookkeeping.  If blocks were MOMENTS and different
# blocks had to use different points, the chain's same-point embeddings would belong to the
# tie instead; the chain's other embeddings number M^2 binomial(N, 2) (12 at N = 3, M = 2), so
# the chain would cancel, and the tie would be worth the moment E[grad l grad^2 l] G =
# G.grad(tr C)/2 + G H G -- the moment the paper writes in A.1.3.  Its next step equates that
# moment with grad C / 2 times G, which holds only at G = 0, and loses the same G H G.
moment = Contraction.from_graph([1, 2, 1], [[0, 1], [2]], [(0, 1), (1, 2)], moments=[0])
assert sum(len(fs) for r, fs in fibres.items() if len(r) == 2) == 2**2 * 3
same(paper.subs(GdC, GdC + GHG), assembled.coeff(2).subs(B, 1))
print(f"  (kept as the moment {moment} that the paper writes, its tie alone is right for batch 1)")

# %% (c) The exact engine on the concrete landscape
# Brute-force symbolic SGD with exact rationals on L, at a few sizes, through eta^3.
assert all(Series((c,)).evaluate(L).coeff(0) != 0 for c in (GHG, GdC))
assert Series((moment - GdC - GHG,)).evaluate(L).coeff(0) == 0      # moment = cumulant + G H G
for n, bs, m in [(3, 1, 2), (2, 1, 3), (4, 2, 2)]:
    exact = at_rate(expected_loss(sgd(n, batch=bs, epochs=m), ORDER, landscape=L, method="exact"),
                    sympy.Rational(1, m)) \
        - expected_loss(sgd(n, batch=bs), ORDER, landscape=L, method="exact")
    predicted = assembled.evaluate(L, N=n, B=bs, M=m)
    assert exact.coefficients == predicted.coefficients
    note = "(batch 2)"
    if bs == 1:
        printed = Series((paper,)).evaluate(L, N=n, M=m).coeff(0)
        as_moment = Series((paper.subs(GdC, moment),)).evaluate(L, N=n, M=m).coeff(0)
        assert printed != exact.coeff(2) and as_moment == exact.coeff(2)
        note = f"the paper's printed answer gives {printed} at eta^2"
    print(f"(N, B, M) = ({n}, {bs}, {m}): exact difference {exact} = diagrams; {note}")

# %% Drawings: text form, LaTeX and TikZ of the diagrams that decide the answer
print("\nthe two surviving order-2 diagrams:")
tikz = []
for D in survivors[2]:
    c1, cm, diff = rows[D]
    print(f"\n{D.text()}  |Aut| = {D.n_automorphisms}, embeddings {c1} (1 epoch), {cm} "
          f"(M epochs), uvalue {uvalue(D)}, LaTeX {sympy.latex(D)}")
    print(D.to_tikz())
    tikz.append(f"% {D.text()}\n{D.to_tikz()}")
f_tie = next(iter_embeddings(tie, small_many))
tikz.append(f"% {tie.text()} embedded in 2 epochs over 3 points\n{tie.to_tikz(embedding=f_tie)}")
(OUT / "effect_of_epochs_diagrams.tex").write_text("\n\n".join(tikz) + "\n")

# %% Figure 1: every diagram involved, with its share of the difference
order3 = [D for D in rows if D.order == 3]
ncol = 6
fig, axes = plt.subplots(4, ncol, figsize=(2.4 * ncol, 2.5 * 4))
panels = [(0, i, D) for i, D in enumerate(order2)] + \
    [(1 + i // ncol, i % ncol, D) for i, D in enumerate(order3)]
for ax in axes.flat:
    ax.set_axis_off()
for r, c, D in panels:
    ax = axes[r, c]
    draw(D, ax=ax)
    diff = rows[D][2]
    ax.text(0.5, -0.02, "cancels" if diff == 0 else f"{sympy.factor(diff.subs(B, 1))}",
            transform=ax.transAxes, ha="center", va="top", fontsize=8,
            color="0.4" if diff == 0 else "tab:red")
    ax.set_title(f"{D.text()}   |Aut| = {D.n_automorphisms}", fontsize=9)
axes[0, 4].text(0, 0.5, "eta^2: the tie *(a(a)) embeds in\nM epochs only; the chain *(a(b))\n"
                "has binom(MN,2) embeddings,\nnot M^2 binom(N,2)",
                transform=axes[0, 4].transAxes, va="center", fontsize=9)
fig.suptitle("Diagrams of order 2 (top) and 3: the weight of each in E l(M epochs, eta/M) - "
             "E l(1 epoch, eta), batch 1 (red), or 'cancels'", fontsize=11)
fig.tight_layout(rect=(0, 0, 1, 0.97))
fig.savefig(OUT / "effect_of_epochs_diagrams.png", dpi=110)
plt.close(fig)

# %% Figure 2: embeddings in the space-times (the paper's Figure 5)
pictures = [
    (tie, f_tie, small_many,
     "the tie *(a(a)): one point, two epochs\n(no embedding in 1 epoch)"),
    (chain, same_point[0], small_many,
     "the chain *(a(b)) on one point, two epochs:\nan embedding M^2 binom(N,2) misses"),
    (chain, next(f for f in fibres[(2, 0)] if f[2][0] > f[1][0]), small_many,
     "the chain on two points, across epochs: one of\n4 (= M^2) preimages of a 1-epoch embedding"),
    (chain, next(iter_embeddings(chain, small_one)), small_one, "the chain in 1 epoch"),
    (Diagram("*(a, a)"), next(iter_embeddings(Diagram("*(a, a)"), small_many)), small_many,
     "the tie *(a, a) (C:H) in one cell\n(cancels: M^2 times as many)"),
    (Diagram("*(a, b)"), next(iter_embeddings(Diagram("*(a, b)"), small_one)), small_one,
     "*(a, b) (G H G) in one cell, 1 epoch"),
]
fig, axes = plt.subplots(3, 2, figsize=(9, 7.5))
for ax, (D, f, schedule, caption) in zip(axes.flat, pictures):
    draw(D, ax=ax, embedding=f, schedule=schedule)
    ax.set_xlim(-0.6, 6.6)
    ax.set_title(caption, fontsize=9)
fig.suptitle("Embeddings into space-time, N = 3, batch 1 (grey: cells (n, t) of the schedule)",
             fontsize=11)
fig.tight_layout(rect=(0, 0, 1, 0.97))
fig.savefig(OUT / "effect_of_epochs_embeddings.png", dpi=110)
plt.close(fig)
print(f"\npictures written to {OUT}/: effect_of_epochs_diagrams.png, "
      "effect_of_epochs_embeddings.png, effect_of_epochs_diagrams.tex")
print("the effect of epochs: diagrams = direct route = docs/results.md = exact engine")
