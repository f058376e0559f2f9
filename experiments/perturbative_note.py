"""The perturbative-analysis note: its quantities and figures on Shifting Valleys and the
Valley of Death, against simulation.

The note names five contractions of the landscape's statistics at the initialization
(``<(a)> = G``, ``<(a)(a)> = E |grad l_x|^2``, ``<(ab)(b)> = E grad_ab l_x grad_b l_x``)::

    INT = G.G   UNC = tr C   PAS = 2 (G H G + G.grad(tr C) / 2)   TEM = G.grad(tr C)   PER = H:C

and expands the test loss of SGD (batch 1, one epoch, ``T = N`` steps) and GD (``T`` steps)
in them.  ``tutorials/named_results.py`` derives the expansions with the engine and lists
the note's errata; to order ``eta^2``, with ``T = N``:

* the generalization gap is ``eta UNC`` (both optimizers);
* SGD's advantage over GD, ``E l_GD - E l_SGD``, is ``(T - 1) TEM eta^2 / 4``: temerity
  alone (the note's form, ``(T - 1) (TEM - PER) eta^2 / 4``, adds a peril term).

Three figures, ``N = T = 10``, every comparison paired (the same training set per trial):

* test loss against ``eta`` on Shifting Valleys (``eta <= 0.025``, as in the note, where
  ``eta`` halves the test loss) and on the Valley of Death (rates scaled by the ratio of the
  two ``|G|^2``), simulated SGD and GD against the order-2 and order-3 predictions;
* the generalization gap of SGD against UNC, over seven initializations ``(A, B)`` of
  Shifting Valleys (four with ``--quick``), at ``eta = 0.005``;
* SGD's advantage over GD against TEM (PER shown in the labels) at the same points.

The predictions are the engine's series (``method='direct'``, symbolic ``N, T``)
evaluated on each landscape's exact statistics, to order 4; a truncation at order ``k`` is
allowed ``|c_{k+1}| eta^{k+1}`` (the next term) on top of the simulation's ``z`` standard
errors (Bonferroni's ``z`` for 95% over the comparisons of a claim).

Asserted: on both landscapes, at the smallest ``eta``, the order-2 prediction agrees with
SGD and GD; on Shifting Valleys at ``eta = 0.025`` it does not (the note's claim of
agreement up to there fails; the order-3 prediction is much closer); at every
initialization the order-3 gap and advantage agree with simulation; at ``(A, B) = (-3/2,
3/2)``, where TEM = 0 and PER = 18, the note's advantage (its ``eta^2`` term plus the
engine's higher orders) is rejected.

Usage: ``python experiments/perturbative_note.py [OUTDIR] [--quick] [--trials 50000]``
(about three minutes by default on 2 cores, 45 s with ``--quick``).
"""

import matplotlib.pyplot as plt
import numpy as np
import scipy.stats
import sympy

import symsgd
from symsgd.landscapes import shifting_valleys, valley_of_death
from symsgd.nets import simulate
from symsgd.nets.dynamics import GD, SGD
from symsgd.series import Series
from symsgd.tensors import Contraction

from _harness import arguments, option, save

args = arguments(__doc__, trials=(50000, "paired trials per landscape and initialization"))
trials = option(args, "trials", 50000, 4000)
STEPS = 10                                        # N = T = 10, batch 1
RATES = np.array([0.0025, 0.005, 0.01, 0.015, 0.02, 0.025])
ETA = 0.005                                       # the rate of the gap and advantage figures
R = sympy.Rational
INITS = [(1, 1), (R(-3, 2), R(3, 2)), (R(-1, 2), 1), (R(1, 2), R(1, 2)), (-1, 1), (1, 0),
         (0, 1)]
if args.quick:                                    # the note's start, TEM = 0, TEM < 0, PER small
    INITS = [INITS[i] for i in (0, 1, 3, 4)]

N, T = sympy.symbols("N T", integer=True, positive=True)
SCHEDULES = {"SGD": (symsgd.sgd(N), {"N": STEPS}),
             "GD": (symsgd.gd(N, steps=T), {"N": STEPS, "T": STEPS})}
SERIES = {(name, measure): symsgd.expected_loss(schedule, 4, method="direct", measure=measure)
          for name, (schedule, _) in SCHEDULES.items() for measure in ("test", "gap")}
DYNAMICS = {"SGD": SGD(symsgd.sgd(STEPS)), "GD": GD(STEPS, steps=STEPS)}

G_dC = Contraction.from_graph([1, 2, 1], [[0, 1], [2]], [(0, 1), (1, 2)])    # G.grad(tr C)/2
BASIS = {"INT": Contraction.from_graph([1, 1], [[0], [1]], [(0, 1)]),
         "UNC": Contraction.from_graph([1, 1], [[0, 1]], [(0, 1)]),
         "TEM": 2 * G_dC,
         "PER": Contraction.from_graph([1, 1, 2], [[0, 1], [2]], [(0, 2), (1, 2)])}


def basis(L) -> dict:
    """The note's quantities on the landscape ``L`` (exact)."""
    return {k: Series((c,)).evaluate(L).coeff(0) for k, c in BASIS.items()}


def coefficients(name, measure, L) -> np.ndarray:
    """``c_0 .. c_4`` of ``E measure`` after ``name`` on ``L`` (``N = T = 10``)."""
    series = SERIES[name, measure].evaluate(L, **SCHEDULES[name][1])
    return np.array([float(c) for c in series.coefficients])


def truncated(c, lr, order):
    """The order-``order`` prediction and its allowance ``|c_{order+1}| lr^(order+1)``."""
    lr = np.asarray(lr, dtype=float)
    return np.polyval(c[order::-1], lr), abs(c[order + 1]) * lr ** (order + 1)


def runs(L, rates):
    return {name: simulate(L, dyn, lr=rates, trials=trials, seed=args.seed, progress=False)
            for name, dyn in DYNAMICS.items()}


numbers = {"trials": trials, "N": STEPS, "T": STEPS, "eta": ETA}
fig, axes = plt.subplots(2, 2, figsize=(12, 9))

# -- test loss against eta --------------------------------------------------------------
z = scipy.stats.norm.ppf(1 - 0.05 / 8)            # 2 landscapes x 2 optimizers x 2 claims
for ax, make, scale in ((axes[0, 0], shifting_valleys, 1), (axes[0, 1], valley_of_death, None)):
    L = make()
    g2 = float(basis(L)["INT"])
    scale = scale or 5 / g2                       # Shifting Valleys has |G|^2 = 5
    rates = RATES * scale
    simulated = runs(L, rates)
    grid = np.linspace(0, rates.max(), 100)
    entry = {"lr": rates.tolist()}
    for name, sim in simulated.items():
        c = coefficients(name, "test", L)
        mean, se = sim.mean()[:, -1], sim.sem()[:, -1]
        p2, slack2 = truncated(c, rates, 2)
        p3, slack3 = truncated(c, rates, 3)
        entry[name] = {"simulated": mean.tolist(), "se": se.tolist(), "order2": p2.tolist(),
                       "order3": p3.tolist(), "coefficients": c.tolist()}
        print(f"{L.name}, {name}: simulated {np.round(mean, 4)} +- {np.round(se, 4)}\n"
              f"  order 2 {np.round(p2, 4)}  order 3 {np.round(p3, 4)}")
        assert abs(mean[0] - p2[0]) <= z * se[0] + slack2[0], \
            f"{L.name}, {name}: order 2 misses at the smallest rate"
        if make is shifting_valleys:
            # the note: order 2 matches "for T = 10 and eta <= 0.025"; it does not there
            assert abs(mean[-1] - p2[-1]) > z * se[-1], \
                f"{name}: order 2 inside the band at eta = 0.025"
            assert abs(mean[-1] - p3[-1]) < abs(mean[-1] - p2[-1]) / 2
        ax.errorbar(rates, mean, yerr=1.96 * se, fmt="o", ms=4, label=f"{name} simulated")
        for order, style in ((2, "--"), (3, "-")):
            ax.plot(grid, truncated(c, grid, order)[0], style, label=f"{name} order {order}")
    numbers[L.name] = entry
    ax.set_xlabel("learning rate eta")
    ax.set_ylabel(f"test loss after T = {STEPS} steps")
    ax.set_title(f"{L.name}, from (A, B) = (1, 1)")
    ax.legend(fontsize=8)

# -- the gap against UNC and SGD's advantage against TEM, over initializations -------------
z = scipy.stats.norm.ppf(1 - 0.05 / (2 * 2 * len(INITS)))
rows = []
for init in INITS:
    L = shifting_valleys(init=init)
    q = {k: float(v) for k, v in basis(L).items()}
    sim = runs(L, [ETA])
    gap, gap_se = sim["SGD"].mean(measure="gap")[0, -1], sim["SGD"].sem(measure="gap")[0, -1]
    adv, adv_se = (v[0, -1] for v in sim["GD"].paired(sim["SGD"]))
    c_gap = coefficients("SGD", "gap", L)
    c_adv = coefficients("GD", "test", L) - coefficients("SGD", "test", L)
    (p_gap, s_gap), (p_adv, s_adv) = truncated(c_gap, ETA, 3), truncated(c_adv, ETA, 3)
    note = (STEPS - 1) * (q["TEM"] - q["PER"]) / 4 * ETA**2 + c_adv[3] * ETA**3
    rows.append({"init": [str(v) for v in init], **q, "gap": gap, "gap_se": gap_se,
                 "gap_order3": float(p_gap), "advantage": adv, "advantage_se": adv_se,
                 "advantage_order3": float(p_adv), "advantage_note": note})
    print(f"(A, B) = ({init[0]}, {init[1]}): UNC {q['UNC']:g} TEM {q['TEM']:g} PER {q['PER']:g}"
          f"  gap {gap:.4f} +- {gap_se:.4f} (order 3 {p_gap:.4f})"
          f"  GD - SGD {adv:.2e} +- {adv_se:.1e} (order 3 {p_adv:.2e}, note {note:.2e})")
    assert abs(gap - p_gap) <= z * gap_se + s_gap, f"{init}: the gap disagrees"
    assert abs(adv - p_adv) <= z * adv_se + s_adv, f"{init}: the advantage disagrees"
    if q["TEM"] == 0 and q["PER"] != 0:
        assert abs(adv - note) > z * adv_se + s_adv, "the note's PER term is not rejected"
numbers["initializations"] = rows

ax = axes[1, 0]
unc = np.array([r["UNC"] for r in rows])
ax.errorbar(unc, [r["gap"] / ETA for r in rows], yerr=[1.96 * r["gap_se"] / ETA for r in rows],
            fmt="o", label="SGD simulated")
ax.plot(unc, [r["gap_order3"] / ETA for r in rows], "x", ms=8, label="order 3")
line = np.linspace(0, unc.max(), 10)
ax.plot(line, line, "k:", label="order 1: eta UNC")
ax.set_xlabel("UNC = tr C")
ax.set_ylabel("generalization gap / eta")
ax.set_title(f"Shifting Valleys, {len(INITS)} initializations, eta = {ETA}")
ax.legend()

ax = axes[1, 1]
tem = np.array([r["TEM"] for r in rows])
ax.errorbar(tem, [r["advantage"] / ETA**2 for r in rows],
            yerr=[1.96 * r["advantage_se"] / ETA**2 for r in rows], fmt="o",
            label="GD - SGD simulated (paired)")
ax.plot(tem, [r["advantage_order3"] / ETA**2 for r in rows], "x", ms=8, label="order 3")
ax.plot(tem, [r["advantage_note"] / ETA**2 for r in rows], "s", mfc="none", ms=8,
        label="the note's eta^2 term (+ order 3)")
line = np.linspace(tem.min(), tem.max(), 10)
ax.plot(line, (STEPS - 1) * line / 4, "k:", label="order 2: (T-1) TEM / 4")
for r in rows:
    ax.annotate(f"PER {r['PER']:g}", (r["TEM"], r["advantage"] / ETA**2), fontsize=7,
                xytext=(4, -10), textcoords="offset points")
ax.set_xlabel("TEM = G . grad tr C")
ax.set_ylabel("(E l_GD - E l_SGD) / eta^2")
ax.set_title("SGD's advantage over GD depends on TEM, not PER")
ax.legend(fontsize=8)
fig.tight_layout()
save(args.outdir, "perturbative_note", fig, numbers)
