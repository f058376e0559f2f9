"""Derivation time and peak memory of the direct route, per order.

Single-epoch SGD with symbolic ``N`` and ``batch``: ``expand(sgd(N, batch=B), order)``.
Each order runs in a fresh process (so caches from lower orders do not help
and the peak resident memory is that order's alone); orders are tried upwards
until one exceeds the time budget.

    python benchmarks/bench_perturbation.py --budget 600
"""

import argparse
import json
import subprocess
import sys
import time

CHILD = """
import json, resource, sys, time
import sympy
from symsgd.routes.direct import expand
from symsgd.schedule import sgd
N, B = sympy.symbols('N B', integer=True, positive=True)
start = time.perf_counter()
coeffs = expand(sgd(N, batch=B), int(sys.argv[1]), progress=False)
elapsed = time.perf_counter() - start
terms = len(sympy.Add.make_args(coeffs[-1]))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "terms": terms, "peak_MiB": peak}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=600.0,
                        help="seconds allowed for one order (default 600)")
    parser.add_argument("--max-order", type=int, default=10)
    args = parser.parse_args()
    print(f"{'order':>5} {'seconds':>9} {'terms':>7} {'peak MiB':>9}")
    for order in range(1, args.max_order + 1):
        start = time.perf_counter()
        try:
            out = subprocess.run([sys.executable, "-c", CHILD, str(order)], capture_output=True,
                                 text=True, timeout=args.budget, check=True)
        except subprocess.TimeoutExpired:
            print(f"{order:>5} exceeded the budget of {args.budget:.0f} s")
            break
        row = json.loads(out.stdout)
        print(f"{order:>5} {row['seconds']:>9.2f} {row['terms']:>7} {row['peak_MiB']:>9.0f}",
              flush=True)
        if time.perf_counter() - start > args.budget:
            break


if __name__ == "__main__":
    main()
