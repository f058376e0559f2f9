"""Timings of the diagram engine's combinatorics (a script, not a test).

Run: python benchmarks/bench_diagrams.py
"""

import random
import subprocess
import sys
import time

import sympy

from symsgd.diagrams import Diagram, count_embeddings, enumerate_diagrams, weight
from symsgd.schedule import gd, sgd

EXPANSION = """
import sys, time
import sympy
from symsgd import expected_loss, gd, sgd
N, B, E, T = sympy.symbols("N B E T", positive=True, integer=True)
schedule = {"sgd": sgd(N), "sgd-batch": sgd(N, batch=B), "sgd-epochs": sgd(N, batch=B, epochs=E),
            "gd": gd(N, steps=T)}[sys.argv[1]]
start = time.perf_counter()
expected_loss(schedule, 5, method="diagrams", progress=False)
print(time.perf_counter() - start)
"""


def timed(label, fn):
    start = time.perf_counter()
    out = fn()
    print(f"{label:<62} {time.perf_counter() - start:8.3f} s")
    return out


def main():
    N, B, E, T = sympy.symbols("N B E T", positive=True, integer=True)
    for d in range(1, 8):
        diagrams = timed(f"enumerate all diagrams with {d} edges",
                         lambda d=d: list(enumerate_diagrams(d)))
        print(f"{'':<4}{len(diagrams)} diagrams")
    rng = random.Random(0)
    samples = []
    for _ in range(2000):
        parents = [None] + [rng.randrange(v) for v in range(1, 8)]
        samples.append((parents, [[v] for v in range(1, 8) if v % 3] + [[3, 6]]))
    timed("canonicalize 2000 labelled diagrams with 7 edges",
          lambda: [Diagram.from_parents(p, blocks=b) for p, b in samples])
    upto5 = [D for d in range(6) for D in enumerate_diagrams(d)]
    print(f"{'':<4}{len(upto5)} diagrams with at most 5 edges")
    timed("weights, orders 0-5, single-epoch SGD, symbolic N and batch",
          lambda: [weight(D, sgd(N, batch=B)) for D in upto5])
    timed("counts, orders 0-5, fixed-order SGD, symbolic N, batch, epochs",
          lambda: [count_embeddings(D, sgd(N, batch=B, epochs=E)) for D in upto5])
    timed("counts, orders 0-5, GD, symbolic N and steps",
          lambda: [count_embeddings(D, gd(N, steps=T)) for D in upto5])
    upto4 = [D for D in upto5 if D.order <= 4]
    timed("counts, orders 0-4, uniformly reshuffled SGD, symbolic sizes",
          lambda: [count_embeddings(D, sgd(N, batch=B, epochs=E, reshuffle="random"))
                   for D in upto4])
    five = list(enumerate_diagrams(5))
    timed("counts, the 700 order-5 diagrams, sgd(100, batch=5, epochs=3)",
          lambda: [count_embeddings(D, sgd(100, batch=5, epochs=3)) for D in five])
    for label, schedule in (("single-epoch SGD, symbolic N", "sgd"),
                            ("single-epoch SGD, symbolic N and batch", "sgd-batch"),
                            ("SGD, symbolic N, batch and epochs", "sgd-epochs"),
                            ("GD, symbolic N and steps", "gd")):
        seconds = float(subprocess.run([sys.executable, "-c", EXPANSION, schedule],
                                       capture_output=True, text=True, check=True).stdout)
        print(f"{'order-5 diagram expansion (fresh process), ' + label:<62} {seconds:8.3f} s")

if __name__ == "__main__":
    main()
