"""What the reproduction scripts share: their command line, the digits problems, saving.

Each script reproduces one figure of the source papers with :mod:`symsgd.nets`: it
simulates, predicts, saves the figure (PNG) and its numbers (JSON) to ``OUTDIR``, and
asserts what the figure shows.  ``--quick`` is the size CI runs; the default finishes
in minutes on a 2-core CPU; ``--trials`` and the other flags scale it up.
"""

from __future__ import annotations

import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
from symsgd.nets.campaign import digits_net  # noqa: E402

__all__ = ["arguments", "option", "digits_net", "save"]


def arguments(doc: str, **extra) -> argparse.Namespace:
    """Parse ``OUTDIR [--quick] [--seed S]`` and the script's own options: ``name=(default,
    help)``, a switch when the default is a bool."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("outdir", nargs="?", default="out", help="where to save (default out/)")
    parser.add_argument("--quick", action="store_true", help="the small size CI runs")
    parser.add_argument("--seed", type=int, default=0, help="seed of every draw")
    for name, (default, text) in extra.items():
        if isinstance(default, bool):
            parser.add_argument(f"--{name}", action="store_true", help=text)
        else:
            parser.add_argument(f"--{name}", type=type(default), default=None,
                                help=f"{text} (default {default}; smaller with --quick)")
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    return args


def option(args, name: str, full, quick):
    """The value of ``--name``: given on the command line, else ``quick`` or ``full``."""
    value = getattr(args, name)
    return value if value is not None else (quick if args.quick else full)


def save(outdir: str, name: str, fig, numbers: dict) -> None:
    """Save ``fig`` as ``name.png`` and ``numbers`` as ``name.json`` in ``outdir``."""
    picture = os.path.join(outdir, f"{name}.png")
    fig.savefig(picture, dpi=110)
    table = os.path.join(outdir, f"{name}.json")
    with open(table, "w") as f:
        json.dump(numbers, f, indent=1)
    print("saved", picture)
    print("saved", table)
