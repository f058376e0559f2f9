"""The ``symsgd`` command: a demo that derives, prints and checks an expansion.

``symsgd demo`` takes a landscape from the zoo and an SGD schedule, derives
the Taylor expansion of the expected test loss in ``eta`` by all three routes
(the brute-force exact engine, direct perturbation and the diagram rules),
prints it as text and LaTeX, then simulates SGD at a few small learning rates
and compares.  It exits with status 1 when a check fails: the routes disagree,
or a simulated mean misses the series by more than its 99.9% interval plus the
size of the first neglected term.

>>> main(["demo", "--trials", "4000", "--order", "2", "--lr", "0.01"])  # doctest: +ELLIPSIS
symsgd demo: Shifting Valleys, ...
...
all checks passed
0
"""

from __future__ import annotations

import argparse
import sys

import sympy

from . import __version__, landscapes
from .errors import SymsgdError
from .expansion import expected_loss
from .routes import METHODS
from .schedule import sgd
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


def _at_least(minimum: int):
    """An argparse type: an integer of at least ``minimum``."""
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value
    return parse


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symsgd", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"symsgd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="derive, print and check an expansion")
    demo.add_argument("--landscape", choices=sorted(ZOO), default="shifting-valleys")
    demo.add_argument("--N", type=_at_least(1), default=4, help="training points")
    demo.add_argument("--batch", type=_at_least(1), default=1)
    demo.add_argument("--epochs", type=_at_least(1), default=1)
    demo.add_argument("--order", type=_at_least(0), default=3, help="highest power of eta")
    demo.add_argument("--lr", type=_positive_float, nargs="+", default=[0.005, 0.01, 0.02])
    demo.add_argument("--trials", type=_at_least(2), default=40_000,
                      help="simulated runs per rate")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--plot", metavar="FILE", help="save prediction and simulation as a picture")
    return parser


def _demo(args) -> int:
    landscape = ZOO[args.landscape]()
    schedule = sgd(args.N, batch=args.batch, epochs=args.epochs)
    print(f"symsgd demo: {landscape.name}, l_x = {landscape.loss}, "
          f"init {dict(zip(landscape.params, landscape.init))}")
    print(f"test loss l = {landscape.test_loss};  G = {landscape.G};  H = {landscape.H};  "
          f"C = {landscape.C}")
    print(f"schedule: {schedule} (T = {schedule.T})")
    print(schedule.draw())

    # the exact series one order further: its last coefficient sizes the neglected term
    full = expected_loss(schedule, args.order + 1, landscape=landscape, progress=False)
    neglected = full.coeff(args.order + 1)
    series = {m: full.truncate(args.order) if m == "exact" else
              expected_loss(schedule, args.order, landscape=landscape, method=m, progress=False)
              for m in METHODS}
    exact = series["exact"]
    print(f"\nE[l(theta_T)] = {exact}")
    print(f"LaTeX: {sympy.latex(exact)}")
    agree = all(s == exact for s in series.values())
    print("routes " + ", ".join(series) + (" agree exactly" if agree else " DISAGREE"))
    for name, s in series.items():
        if s != exact:
            print(f"  {name}: {s}")

    sim = simulate(landscape, schedule, args.lr, args.trials, seed=args.seed)
    print(f"\nsimulation: {args.trials} runs per learning rate (seed {args.seed})")
    print(f"{'eta':>8} {'series':>12} {'simulated':>12} {'95% +-':>10} {'z':>7}")
    ok = agree
    for i, eta in enumerate(sim.lr):
        rational = sympy.Rational(float(eta))     # the binary value the simulation used
        predicted = float(exact(rational))
        mean, sem = sim.test_loss[i, -1], sim.test_loss_sem[i, -1]
        z = (mean - predicted) / sem
        allowed = Z_CHECK * sem + abs(float(neglected * rational**(args.order + 1)))
        ok &= bool(abs(mean - predicted) <= allowed)
        print(f"{eta:8.4g} {predicted:12.6f} {mean:12.6f} {1.96 * sem:10.2g} {z:7.2f}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        ax = sim.plot("test_loss", prediction=lambda e: exact(sympy.Rational(float(e))))
        ax.set_title(f"{landscape.name}: order-{args.order} series against SGD")
        ax.figure.savefig(args.plot, dpi=120)
        print(f"plot saved to {args.plot}")
    print("all checks passed" if ok else "CHECK FAILED")
    return 0 if ok else 1


#: Sub-commands by name.
COMMANDS = {"demo": _demo}


def main(argv=None) -> int:
    """Run the ``symsgd`` command with ``argv`` (default: the process arguments)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except SymsgdError as error:
        parser.error(str(error))


if __name__ == "__main__":
    sys.exit(main())
