"""The ``symsgd`` command: derive general expansions, and a demo that checks one.

``symsgd derive`` prints the Taylor expansion in ``eta`` of SGD's expected
test loss (or training loss, generalization gap, weights, second moment) for
a schedule family, in the landscape statistics ``l, G, H, C, J, S, ...`` and
the schedule's sizes (symbolic unless given), as text or LaTeX, optionally
grouped by contraction:

>>> main(["derive", "--order", "1", "--epochs", "1"])  # doctest: +ELLIPSIS
symsgd derive: test loss of sgd(N=N, batch=B, epochs=1, reshuffle='fixed'), ...
E[l(theta_T)] = l - N*eta*[G G]/B + O(eta**2)
0

``symsgd demo`` takes a landscape from the zoo and an SGD schedule, derives
the expected test loss in ``eta`` by all three routes (the general formulas
of the direct route and of the diagram rules evaluated at the schedule's
sizes, and the brute-force exact engine on the concrete schedule), prints it
as text and LaTeX, then simulates SGD at a few learning rates and checks each
against a criterion that it states first: the simulated mean must lie within
its 99.9% interval plus the size of the first neglected term of the series.
A learning rate where the series' terms have stopped decreasing (``eta*T``
too large), or whose simulation diverges, is reported and never passes.  The
exit status is 0 when every check passes, 1 otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import textwrap

import sympy
from tqdm.auto import tqdm

from . import __version__, landscapes
from ._progress import _quiet
from .errors import NonFiniteError, SymsgdError
from .expansion import expected_displacement, expected_loss
from .measures import NAMES
from .schedule import gd, sgd
from .series import ETA
from .simulate import simulate

__all__ = ["main"]

#: Landscapes the demo can use, by command-line name.
ZOO = {
    "shifting-valleys": landscapes.shifting_valleys,
    "valley-of-death": landscapes.valley_of_death,
    "mean-estimation": lambda: landscapes.mean_estimation(init=1),
    "linear-regression": lambda: landscapes.linear_regression(dim=2),
}

#: z-score of the two-sided 99.9% interval used by the demo's check.
Z_CHECK = 3.29
#: The demo's default learning rates, as values of ``eta * T``.
DEFAULT_ETA_T = (0.02, 0.04, 0.08)
#: The demo's default number of simulated runs per learning rate (fewer for large N).
DEFAULT_TRIALS = 40_000
#: Most training points the demo simulates at once (trials times N): its memory bound.
SIMULATION_BUDGET = 4_000_000
#: Most SGD steps the demo simulates.
MAX_STEPS = 100_000
#: Most steps for which the demo runs the exact engine (brute-force symbolic SGD,
#: whose cost grows steeply with T and the order: 6 s at T = 24 and order 3, 13 s at
#: T = 16 and order 4); above order 3 it also needs T**order <= EXACT_MAX_STEPS**3.
EXACT_MAX_STEPS = 24
#: Most columns (steps) and rows (points) of a drawn schedule.
DRAW_COLUMNS, DRAW_ROWS = 40, 16

NOTATION = """\
notation: l, G, H, J are the loss and the means of its first three derivatives at
the initial weights; C and S the covariance and third cumulant of the gradient over
the data; kappa(...) other joint cumulants; brackets contract the indices, e.g.
[G H G] = G_a H_ab G_b and C:H = C_ab H_ab.  Sizes: N training points, batch B,
epochs E, steps T."""


def _at_least(minimum: int):
    """An argparse type: an integer of at least ``minimum``."""
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value
    parse.__name__ = "integer"                   # argparse's message for a non-integer
    return parse


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


_positive_float.__name__ = "number"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symsgd", description="Computer algebra for the theory of SGD: "
        "derive expansions of SGD's expected loss in the learning rate, and check them.",
        epilog="Run 'symsgd derive --help' first.")
    parser.add_argument("--version", action="version", version=f"symsgd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _derive_parser(commands)
    _demo_parser(commands)
    _simulate_parser(commands)
    return parser


def _progress_flag(parser) -> None:
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show progress bars on stderr (default: for long work, "
                             "on a terminal)")


# -- symsgd derive --------------------------------------------------------------------

def _derive_parser(commands) -> None:
    derive = commands.add_parser(
        "derive", help="print the general expansion for a schedule family",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Print the Taylor expansion in the learning rate eta of SGD's expected test loss "
            "(or training loss, generalization gap, weights, second moment) after T steps, "
            "exactly: a general formula in the statistics of the loss at the initial weights "
            "and the schedule's sizes, symbolic unless given.  No landscape is needed; "
            "'symsgd demo' checks such a formula against simulated SGD.", 88),
        epilog=NOTATION + """

examples:
  symsgd derive --order 2                       # SGD, symbolic N, B, E
  symsgd derive --order 3 --batch 1 --epochs 1 --collect
  symsgd derive --schedule gd --order 2 --N 10 --steps 5 --latex
  symsgd derive --order 2 --measure gap --method diagrams
  symsgd derive --order 2 --moment 2            # E[l(theta_T)^2]""")
    derive.add_argument("--schedule", choices=("sgd", "gd"), default="sgd",
                        help="sgd: minibatch SGD, N points in batches of B for E epochs; "
                             "gd: full-batch GD for T steps (default: sgd)")
    derive.add_argument("--order", type=_at_least(0), default=2,
                        help="highest power of eta (default: 2; order 6 takes seconds, "
                             "order 8 minutes)")
    derive.add_argument("--measure", choices=("test", "train", "gap", "weights"),
                        default="test",
                        help="test loss, training loss, gap (test minus training loss) or "
                             "weights (theta_T - theta_0) (default: test)")
    derive.add_argument("--moment", type=int, choices=(1, 2), default=1,
                        help="1: the mean; 2: the second moment E[s(theta_T)^2] "
                             "(default: 1)")
    derive.add_argument("--method", choices=("direct", "diagrams"), default="direct",
                        help="direct perturbation (Key Lemma) or the diagram rules; they "
                             "agree exactly (default: direct)")
    derive.add_argument("--N", type=_at_least(1), help="training points (default: symbol N)")
    derive.add_argument("--batch", type=_at_least(1),
                        help="sgd: batch size, divides N (default: symbol B)")
    derive.add_argument("--epochs", type=_at_least(1), help="sgd: epochs (default: symbol E)")
    derive.add_argument("--reshuffle", choices=("fixed", "random"),
                        help="sgd: the same order every epoch, or a fresh uniformly random "
                             "one (default: fixed)")
    derive.add_argument("--steps", type=_at_least(1), help="gd: steps (default: symbol T)")
    derive.add_argument("--latex", action="store_true", help="print LaTeX instead of text")
    derive.add_argument("--collect", action="store_true",
                        help="group each coefficient by contraction (the form to read)")
    _progress_flag(derive)
    derive.set_defaults(run=_derive, subparser=derive)


def _size(value, name: str):
    return sympy.Symbol(name, integer=True, positive=True) if value is None else value


def _family(args, parser):
    """The schedule the ``derive`` arguments ask for (argparse errors for misfits)."""
    if args.schedule == "sgd":
        if args.steps is not None:
            parser.error("--steps is for --schedule gd; sgd takes --N, --batch, --epochs")
        build = lambda: sgd(_size(args.N, "N"), batch=_size(args.batch, "B"),  # noqa: E731
                            epochs=_size(args.epochs, "E"), reshuffle=args.reshuffle or "fixed")
    else:
        extra = [f"--{k}" for k in ("batch", "epochs", "reshuffle") if getattr(args, k)]
        if extra:
            parser.error(f"{', '.join(extra)}: for --schedule sgd; gd takes --N and --steps")
        build = lambda: gd(_size(args.N, "N"), steps=_size(args.steps, "T"))  # noqa: E731
    try:
        return build()
    except SymsgdError as error:
        parser.error(str(error))


def _grouped(coefficient, atoms) -> list[tuple[object, object]]:
    """``coefficient`` as ``(monomial in the contraction atoms, factored size factor)`` pairs.

    A polynomial in the contractions, with coefficients in the sizes; the
    monomials come in a canonical order.
    """
    if coefficient == 0:
        return []
    present = [a for a in atoms if coefficient.has(a)]
    if not present:
        return [(sympy.S.One, sympy.factor(coefficient))]
    poly = sympy.Poly(coefficient, *present)
    return [(sympy.Mul(*(a**p for a, p in zip(present, powers))), sympy.factor(c))
            for powers, c in poly.terms()]


def _derive(args, parser) -> int:
    if args.measure == "weights" and args.moment != 1:
        parser.error("--moment 2 needs a scalar measure (test, train or gap), not weights")
    schedule = _family(args, parser)
    if args.measure == "weights":
        series = expected_displacement(schedule, args.order, method=args.method,
                                       progress=args.progress)
        lhs, lhs_latex = "E[theta_T - theta_0]", r"\mathbb{E}[\theta_T - \theta_0]"
    else:
        series = expected_loss(schedule, args.order, method=args.method, measure=args.measure,
                               moment=args.moment, progress=args.progress)
        s = {"test": "l", "train": "L_train", "gap": "gap"}[args.measure]
        power = "^2" if args.moment == 2 else ""
        lhs = f"E[{s}(theta_T){power}]"
        lhs_latex = (rf"\mathbb{{E}}[{s}(\theta_T){power}]"
                     .replace("L_train", r"L_{\mathrm{train}}"))
    what = NAMES[args.measure]
    what = what if args.moment == 1 else f"second moment of the {what}"
    print(f"symsgd derive: {what} of {schedule}, T = {schedule.T} steps; "
          f"{args.method} route, to order {args.order} in eta")
    if not args.collect:
        body = sympy.latex(series) if args.latex else str(series).split("\n")[0]
        print(f"{lhs_latex} = {body}" if args.latex else f"{lhs} = {body}")
    else:
        _print_collected(series, lhs_latex if args.latex else lhs, args.latex)
    for note in getattr(series, "notes", ()):
        print(f"# {note}")
    return 0


def _print_collected(series, lhs: str, latex: bool) -> None:
    """Each coefficient of ``series``, one line per contraction monomial."""
    atoms = series.contractions()
    eta = series.eta
    if latex:
        terms = [eta**k * sympy.Add(*(c * m for m, c in _grouped(coefficient, atoms)),
                                    evaluate=False)
                 for k, coefficient in enumerate(series.coefficients) if coefficient != 0]
        order = sympy.latex(sympy.O(eta**(len(series.coefficients))))
        body = " + ".join(sympy.latex(t) for t in terms).replace("+ - ", "- ")
        print(f"{lhs} = {body} + {order}")
        return
    print(f"{lhs} = sum over k of c_k eta^k + O(eta^{len(series.coefficients)}), with c_k "
          "grouped by contraction:")
    for k, coefficient in enumerate(series.coefficients):
        groups = _grouped(coefficient, atoms)
        print(f"c_{k} =" + (" 0" if not groups else ""))
        for monomial, factor in groups:
            print(f"    {monomial}:  {factor}")


# -- symsgd demo ----------------------------------------------------------------------

def _demo_parser(commands) -> None:
    demo = commands.add_parser(
        "demo", help="derive an expansion three ways and check it against simulated SGD",
        description="Derive the expected test loss of SGD on a landscape from the zoo by "
                    "three routes (they must agree exactly), then simulate SGD and check "
                    "the truncated series against the simulation by a criterion printed "
                    "before the check: |series - simulated| <= 3.29 SE + |first neglected "
                    "term|.  Learning rates where the series' terms stop decreasing are "
                    "reported, never passed.  Exit status 0: every check passed; 1: a check "
                    "failed or could not be made; 2: bad arguments.")
    demo.add_argument("--landscape", choices=sorted(ZOO), default="shifting-valleys")
    demo.add_argument("--N", type=_at_least(1), default=4, help="training points (default: 4)")
    demo.add_argument("--batch", type=_at_least(1), default=1, help="batch size (default: 1)")
    demo.add_argument("--epochs", type=_at_least(1), default=1, help="epochs (default: 1)")
    demo.add_argument("--order", type=_at_least(0), default=3,
                      help="highest power of eta (default: 3)")
    demo.add_argument("--lr", type=_positive_float, nargs="+",
                      help="learning rates to simulate (default: eta*T = "
                           + ", ".join(map(str, DEFAULT_ETA_T)) + ")")
    demo.add_argument("--trials", type=_at_least(2),
                      help=f"simulated runs per rate (default: {DEFAULT_TRIALS}, fewer when "
                           f"trials * N would pass {SIMULATION_BUDGET:,})")
    demo.add_argument("--seed", type=int, default=0, help="simulation seed (default: 0)")
    demo.add_argument("--plot", metavar="FILE", help="save prediction and simulation as a picture")
    _progress_flag(demo)
    demo.set_defaults(run=_demo, subparser=demo)


def _drawing(schedule) -> str:
    """The schedule's space-time grid, at most :data:`DRAW_ROWS` by :data:`DRAW_COLUMNS`."""
    N, T = schedule.N, schedule.T
    if N <= DRAW_ROWS and T <= DRAW_COLUMNS:
        return schedule.draw()
    rows, cols = min(N, DRAW_ROWS), min(T, DRAW_COLUMNS)
    batches = [set(b) for b in schedule.batches[:cols]]
    width = len(str(cols - 1))
    more = " ..." if T > cols else ""
    lines = ["n\\t " + " ".join(str(t).rjust(width) for t in range(cols)) + more]
    for n in range(rows):
        marks = " ".join(("#" if n in b else ".").rjust(width) for b in batches)
        lines.append(str(n).rjust(3) + "  " + marks + more)
    if N > rows:
        lines.append("...")
    lines.append(f"(drawing capped: the first {rows} of {N} points and {cols} of {T} steps)")
    return "\n".join(lines)


def _demo_sizes(args, parser):
    """The schedule, learning rates and trials of a demo, refused before any work if too big."""
    try:
        schedule = sgd(args.N, batch=args.batch, epochs=args.epochs)
    except SymsgdError as error:
        parser.error(str(error))
    T = schedule.T
    if T > MAX_STEPS:
        parser.error(f"T = N * epochs / batch = {T} steps is above the demo's limit of "
                     f"{MAX_STEPS:,}")
    if args.N * 2 > SIMULATION_BUDGET:
        parser.error(f"--N {args.N} is above the demo's limit of {SIMULATION_BUDGET // 2:,} "
                     f"(two runs of N points must fit in {SIMULATION_BUDGET:,})")
    trials = args.trials or min(DEFAULT_TRIALS, SIMULATION_BUDGET // args.N)
    if trials * args.N > SIMULATION_BUDGET:
        parser.error(f"--trials {trials} times --N {args.N} = {trials * args.N:,} training "
                     f"points is above the demo's memory limit of {SIMULATION_BUDGET:,}; "
                     f"use --trials {SIMULATION_BUDGET // args.N} or fewer")
    rates = args.lr or [x / T for x in DEFAULT_ETA_T]
    return schedule, rates, trials


def _agree(a, b) -> bool:
    return len(a) == len(b) and all(sympy.expand(x - y) == 0 for x, y in zip(a, b))


def _routes(schedule, landscape, order, progress, stages):
    """The order-``order + 1`` coefficients by the general routes, checked against each other
    and (for small ``T``) against the exact engine at order ``order``.

    Returns the coefficients and whether every comparison agreed exactly.
    """
    N, B = sympy.symbols("N B", integer=True, positive=True)
    family = sgd(N, batch=B, epochs=schedule.epochs)
    sizes = {"N": schedule.N, "B": schedule.batch}
    values = {}
    for method in ("direct", "diagrams"):
        stages.set_description(f"deriving ({method} route)")
        general = expected_loss(family, order + 1, method=method, progress=progress)
        names = {s.name for c in general.coefficients for s in c.free_symbols}
        values[method] = general.evaluate(landscape, **{k: v for k, v in sizes.items()
                                                         if k in names})
        stages.update()
    coefficients = tuple(values["direct"].coefficients)
    agree = _agree(coefficients, values["diagrams"].coefficients)
    print(f"routes: the general formulas (in N, B) of the direct route and of the diagram "
          f"rules at N = {schedule.N}, B = {schedule.batch}, to order {order + 1}: "
          + ("agree exactly" if agree else "DISAGREE"))
    if schedule.T <= EXACT_MAX_STEPS and schedule.T**order <= EXACT_MAX_STEPS**3:
        stages.set_description("deriving (exact engine)")
        exact = expected_loss(schedule, order, landscape=landscape, method="exact",
                              progress=progress)
        same = _agree(coefficients[:order + 1], exact.coefficients)
        print(f"        the exact engine (brute-force symbolic SGD) on {schedule}, to order "
              f"{order}: " + ("agrees exactly" if same else f"DISAGREES: {exact}"))
        agree &= same
    else:
        print(f"        the exact engine: skipped; the demo runs it for T <= {EXACT_MAX_STEPS} "
              f"steps and T**order <= {EXACT_MAX_STEPS}**3 (brute-force symbolic SGD grows "
              f"steeply with both), here T = {schedule.T} at order {order}")
    stages.update()
    return coefficients, agree


def _check_rate(eta, coefficients, order, simulated, sem):
    """The verdict at one learning rate: ``(passed, columns, reason)``."""
    rational = sympy.Rational(eta)               # the binary value the simulation used
    terms = [abs(c) * rational**k for k, c in enumerate(coefficients)]
    predicted = float(sum(c * rational**k for k, c in enumerate(coefficients[:order + 1])))
    neglected = float(terms[order + 1])
    kept = next((k for k in range(order, -1, -1) if terms[k] != 0), None)
    last = float(terms[kept]) if kept is not None else 0.0
    interval = Z_CHECK * sem
    columns = dict(predicted=predicted, simulated=simulated, interval=interval,
                   neglected=neglected, diff=abs(simulated - predicted))
    k1 = order + 1
    if neglected >= last and neglected > 0:
        return False, columns, (
            f"out of range: the first neglected term |c_{k1}| eta^{k1} = {neglected:.3g} is "
            f"not smaller than the last kept one |c_{kept}| eta^{kept} = {last:.3g}; the "
            f"series' terms have stopped decreasing, so the order-{order} series means "
            f"nothing here (lower the learning rate)")
    if not math.isfinite(simulated):
        return False, columns, "the simulation diverged (non-finite loss or weights)"
    scale = max(abs(float(coefficients[0])), abs(predicted))
    if not interval < scale:
        return False, columns, (
            f"the simulation is unresolved: its 99.9% interval +-{interval:.3g} is not "
            f"smaller than the loss itself ({scale:.3g}): heavy tails or divergence")
    allowed = interval + neglected
    if columns["diff"] > allowed:
        return False, columns, (
            f"FAILED: |series - simulated| = {columns['diff']:.3g} > {allowed:.3g} = "
            f"{interval:.3g} (interval) + {neglected:.3g} (first neglected term)")
    return True, columns, ("ok" if columns["diff"] <= interval
                           else "ok, within the first neglected term")


def _demo(args, parser) -> int:
    landscape = ZOO[args.landscape]()
    schedule, rates, trials = _demo_sizes(args, parser)
    T, order = schedule.T, args.order
    print(f"symsgd demo: {landscape.name}, l_x = {landscape.loss}, "
          f"init {dict(zip(landscape.params, landscape.init))}")
    print(f"test loss l = {landscape.test_loss};  G = {landscape.G};  H = {landscape.H};  "
          f"C = {landscape.C}")
    print(f"schedule: {schedule} (T = {T})")
    print(_drawing(schedule))
    print()
    stages = tqdm(total=3 + len(rates), desc="symsgd demo", leave=False,
                  disable=_quiet(args.progress, T <= DRAW_COLUMNS))
    with stages:
        coefficients, agree = _routes(schedule, landscape, order, args.progress, stages)
        shown = sum(c * ETA**k for k, c in enumerate(coefficients[:order + 1]))
        shown = sympy.Add(shown, sympy.O(ETA**(order + 1)))
        print(f"\nE[l(theta_T)] = {shown}")
        print(f"LaTeX: {sympy.latex(shown)}")
        k1 = order + 1
        print(f"\ncriterion at each learning rate eta (SE: the simulation's standard error):\n"
              f"  pass when |series - simulated| <= {Z_CHECK} SE (the 99.9% interval) + "
              f"|c_{k1}| eta^{k1},\n"
              f"    the first neglected term (c_{k1} = {coefficients[k1]}, derived exactly at "
              f"order {k1});\n"
              f"  never pass when |c_{k1}| eta^{k1} >= |c_{order}| eta^{order}, the last kept "
              f"term (the terms have\n"
              f"    stopped decreasing: eta*T is outside the range where the order-{order} "
              f"series means\n"
              f"    anything), nor when the simulation diverges or its interval is wider than "
              f"the loss.")

        results = []
        for eta in rates:
            stages.set_description(f"simulating eta = {eta:g}")
            try:
                sim = simulate(schedule=schedule, landscape=landscape, lr=[eta], trials=trials,
                               seed=args.seed, every=T, progress=args.progress)
                mean, sem = float(sim.test_loss[0, -1]), float(sim.test_loss_sem[0, -1])
            except NonFiniteError:
                mean, sem = math.inf, math.inf
            results.append((eta, *_check_rate(eta, coefficients, order, mean, sem)))
            stages.update()

    print(f"\nsimulation: {trials} runs per learning rate (seed {args.seed})")
    print(f"{'eta':>9} {'eta*T':>7} {'series':>11} {'simulated':>11} {'99.9% +-':>9} "
          f"{'neglected':>9} {'|diff|':>9}  verdict")
    for eta, passed, c, reason in results:
        print(f"{eta:9.4g} {eta * T:7.3g} {c['predicted']:11.6g} {c['simulated']:11.6g} "
              f"{c['interval']:9.2g} {c['neglected']:9.2g} {c['diff']:9.2g}  "
              + (reason if passed else reason.split(":")[0]))
    failed = [(eta, reason) for eta, passed, _, reason in results if not passed]
    for eta, reason in failed:
        print(f"eta = {eta:g} (eta*T = {eta * T:.3g}): {reason}")
        if reason.startswith("out of range"):
            print(f"symsgd demo: warning: eta = {eta:g}, eta*T = {eta * T:.3g}: outside the "
                  f"range of the order-{order} series (its terms stop decreasing); not checked",
                  file=sys.stderr)
    if args.plot:
        _plot(args.plot, rates, results, coefficients, order, landscape)
    if not agree:
        print("CHECK FAILED: the routes disagree")
    elif failed:
        print(f"CHECK FAILED at {len(failed)} of {len(rates)} learning rates: "
              + ", ".join(f"eta = {eta:g}" for eta, _ in failed))
    else:
        print("all checks passed")
    return 0 if agree and not failed else 1


def _plot(path, rates, results, coefficients, order, landscape) -> None:
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plt.figure().gca()
    mean = np.array([c["simulated"] for _, _, c, _ in results])
    ax.errorbar(rates, mean, yerr=[c["interval"] for _, _, c, _ in results], fmt="o",
                capsize=3, label="simulation (99.9%)")
    grid = np.linspace(0, max(rates), 100)
    poly = [float(c) for c in coefficients[:order + 1]]
    ax.plot(grid, [sum(c * g**k for k, c in enumerate(poly)) for g in grid],
            label=f"order-{order} series")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("test loss")
    ax.set_title(f"{landscape.name}: order-{order} series against SGD")
    ax.legend()
    ax.figure.savefig(path, dpi=120)
    plt.close(ax.figure)
    print(f"plot saved to {path}")


# -- symsgd simulate ------------------------------------------------------------------

def _simulate_parser(commands) -> None:
    simulate_ = commands.add_parser(
        "simulate", help="run a checkpointed Monte Carlo campaign from a config file",
        description="Run the Monte Carlo campaign a config file (.json or .toml) describes "
                    "(symsgd.nets.campaign.Config: problem, dynamics, lr, trials, seed, "
                    "record, training, chunk), in checkpointed chunks of trials; a rerun "
                    "resumes.  The same command runs under 'torchrun --nproc_per_node=K' "
                    "(trials spread over the ranks, the same result).  Needs torch.")
    simulate_.add_argument("config", help="the config file")
    simulate_.add_argument("--out", required=True, metavar="DIR",
                           help="the campaign directory (checkpoints and results.json)")
    _progress_flag(simulate_)
    simulate_.set_defaults(run=_simulate, subparser=simulate_)


def _simulate(args, parser) -> int:
    try:
        from .nets import campaign
    except ImportError as error:
        parser.error(f"symsgd simulate needs torch ({error}): pip install 'symsgd[nets]'")
    runs = campaign.launch(args.config, args.out, progress=args.progress)
    if int(os.environ.get("RANK", "0")) == 0:
        mean, sem = runs.mean(), runs.sem()
        print(f"symsgd simulate: {runs.trials} trials, recorded steps {runs.steps.tolist()}")
        for lr, m, s in zip(runs.lr, mean, sem):
            print(f"  lr {lr:g}: final test loss {m[-1]:.6g} +- {s[-1]:.2g}")
        print(f"wrote {args.out}/results.json")
    return 0


def main(argv=None) -> int:
    """Run the ``symsgd`` command with ``argv`` (default: the process arguments).

    Returns the exit status: 0 on success, 1 when a check fails or symsgd
    refuses its input (a one-line message on stderr); argparse exits with 2
    on bad arguments, before any work.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args, args.subparser)
    except SymsgdError as error:
        message = " ".join(str(error).split())
        print(f"symsgd {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"symsgd {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
