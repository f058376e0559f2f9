"""Timings of the closed-form resummed expansion against issue 14's targets (a script, not a test).

Targets, each measured in a fresh process (imports, term enumeration, statistics and
evaluation included): HELIX's resummed weight displacement at ``T = 10^4`` in under 10 s at
order 5 and under 60 s at order 6, and a cost flat in ``T`` from ``10^2`` to ``10^6`` (the
ratio of the evaluation times is reported).  Prints PASS or FAIL per target; the exit status
is 1 if one fails.  ``--schedule random`` times SGD with uniform reshuffling instead,
``sqrt(T)`` epochs of ``sqrt(T)`` points (no target: it had no closed form before, and the
time sweep must enumerate the points' orders, ``(sqrt(T)!)^(sqrt(T) - 1)`` of them).

Usage: ``python benchmarks/bench_resummed.py [--orders 5 6 7] [--schedule random]``
"""

import argparse
import os
import subprocess
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

TARGETS = {5: 10.0, 6: 60.0}
RATES = "[0.01, 0.02, 0.05]"

#: ``T`` steps of each schedule family, as code.
SCHEDULES = {"single": "sgd({T})",
             "random": "sgd(math.isqrt({T}), epochs=math.isqrt({T}), reshuffle='random')"}

FRESH = """
import math
from symsgd import resummed_displacement, sgd
from symsgd.landscapes import helix
print(*resummed_displacement({schedule}, {order}, landscape=helix())({rates})[:, 2])
"""

FLAT = """
import math, time
from symsgd import resummed_displacement, sgd
from symsgd.landscapes import helix
r = resummed_displacement({small}, {order}, landscape=helix())
r({rates})                                   # statistics and terms, computed once
for T in (10**2, 10**4, 10**6):
    again = resummed_displacement({schedule}, {order}, landscape=helix())
    object.__setattr__(again, "_numeric", r._numeric)      # shared: time the evaluation
    start = time.perf_counter()
    again({rates})
    print(T, time.perf_counter() - start)
"""


def child(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout


def run(order: int, T: int, family: str) -> dict:
    schedule = SCHEDULES[family]
    start = time.perf_counter()
    z = [float(v) for v in child(FRESH.format(schedule=schedule.format(T=T), order=order,
                                              rates=RATES)).split()]
    wall = time.perf_counter() - start
    lines = child(FLAT.format(small=schedule.format(T=4), schedule=schedule.format(T="T"),
                              order=order, rates=RATES)).splitlines()
    return {"wall": wall, "z": z,
            "eval": {int(a): float(b) for a, b in (line.split() for line in lines)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[3, 4, 5, 6])
    parser.add_argument("--schedule", choices=sorted(SCHEDULES), default="single")
    args = parser.parse_args()
    print(f"cpus={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
          f"threads {os.environ['OMP_NUM_THREADS']}, schedule {args.schedule}: "
          f"{SCHEDULES[args.schedule].format(T='T')}")
    print("order | fresh process, T = 1e4 (s) | evaluation at T = 1e2 / 1e4 / 1e6 (s) | ratio "
          "| z_T / T at lr 0.01, 0.02, 0.05")
    ok = True
    for order in args.orders:
        result = run(order, 10**4, args.schedule)
        wall = result["wall"]
        ev = result["eval"]
        ratio = ev[10**6] / ev[10**2]
        drift = ", ".join(f"{z / 1e4:.4e}" for z in result["z"])
        print(f"{order} | {wall:.2f} | "
              f"{ev[10**2]:.4f} / {ev[10**4]:.4f} / {ev[10**6]:.4f} | {ratio:.2f} | {drift}")
        if order in TARGETS and args.schedule == "single":
            passed = wall <= TARGETS[order]
            ok &= passed
            print(f"{'PASS' if passed else 'FAIL'}: order {order} at T = 1e4 in {wall:.2f} s "
                  f"(target <= {TARGETS[order]:g} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
