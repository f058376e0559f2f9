"""Timings and memory of the matrix-free estimates on a real network (a script, not a test).

The digits convnet of :mod:`symsgd.nets.models` (P = 2,990 parameters) on scikit-learn's
digits (n = 1,797 points, the population): for the order-``--order`` test-loss series of
``sgd(N, batch=B)``

* the time of each contraction atom alone (``estimate([atom], net, budget=...)``);
* the time of the whole ``predict(series, net, N=10, B=1)`` (Tenka's Figure 2 setting:
  T = 10 steps of batch 1) and the relative standard errors of its order-1 and order-2
  coefficients;
* the time of one simulated SGD trial (10 steps of batch 1, then the population test
  loss; plain torch) and the ratio of the two;
* the peak resident memory (``ru_maxrss``) against ``P * n * 8`` bytes (one float64 per
  parameter and population point: a dense per-sample Jacobian).

Targets (the issue's): the order-1 and order-2 coefficients to under 5% relative standard
error with the default budget, the whole prediction under :data:`TARGET_S` seconds on CPU,
and no memory beyond the scale of ``P * n``: the peak-memory rise of a prediction (in fresh
processes) must not grow with the budget (at most :data:`MEMORY_GROWTH` times for 4x the
draws, where memory proportional to the draws would give 4x; the allocator's own growth
makes the ratio noisy), and it is reported against ``P * n * 8`` bytes.  Prints a table
and PASS or FAIL per target; the exit status is 1 if a target fails.

Usage: ``python benchmarks/bench_nets.py [--budget 1024] [--seed 0] [--order 3] [--chunk C]``
(about a minute on a 2-core machine at the default budget).
"""

import argparse
import os
import resource
import sys

import sympy
import torch
from torch.func import grad, vmap

import symsgd
from symsgd.nets import NetLandscape, data, estimate, models, predict

from _timing import timed

TARGET_S = 60.0
TARGET_REL_SE = 0.05
MEMORY_GROWTH = 2.0
STEPS = 10


def peak_bytes() -> int:
    """The process's peak resident memory so far (``ru_maxrss`` is in KiB on Linux)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def verdict(ok, label):
    print(f"{'PASS' if ok else 'FAIL'}: {label}")
    return ok


def sgd_trial(net, draws, lr):
    """Test losses after SGD (one step of batch 1 per column of ``draws``), one per row."""
    theta = net.params.expand(len(draws), -1).clone()
    step = vmap(grad(net.sample_loss))
    for t in range(draws.shape[1]):
        xs, ys = net.point(draws[:, t])
        theta = theta - lr * step(theta, xs, ys)
    return vmap(lambda th: net.loss(theta=th))(theta)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=1024, help="random draws per estimate")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws")
    parser.add_argument("--order", type=int, default=3, help="order of the series in eta")
    parser.add_argument("--chunk", type=int, default=None,
                        help="NetLandscape's chunk: the most per-sample evaluations vectorized "
                             "at once (default: NetLandscape's)")
    args = parser.parse_args(argv)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpus={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    x, y = data.digits()
    model = models.ConvNet((1, 8, 8), 10, seed=0)
    cross_entropy = torch.nn.functional.cross_entropy
    extra = {} if args.chunk is None else {"chunk": args.chunk}
    net = NetLandscape(model, lambda out, t: cross_entropy(out, t, reduction="none"), x, y,
                       **extra)
    P, n = net.dim, net.size
    N, B = sympy.symbols("N B", integer=True, positive=True)
    t_derive, series = timed(lambda: symsgd.expected_loss(symsgd.sgd(N, batch=B), args.order,
                                                         method="direct"), repeat=1)
    atoms = series.contractions()
    print(f"digits convnet: P = {P}, n = {n}; order-{args.order} series of sgd(N, batch=B): "
          f"{len(atoms)} atoms, derived in {t_derive:.2f} s; budget {args.budget}, "
          f"seed {args.seed}, chunk {net.chunk}")
    estimate(atoms[:1], net, budget=2, seed=args.seed)          # warm up torch's kernels
    base = peak_bytes()

    print(f"\n{'atom':44s} {'time (s)':>9s} {'value':>12s} {'rel. SE':>9s}")
    per_atom = []
    for a in atoms:
        t, e = timed(lambda a=a: estimate([a], net, budget=args.budget, seed=args.seed),
                     repeat=1)
        per_atom.append(t)
        value, se = e.value(a), e.standard_error(a)
        rel = se / abs(value) if value else float("inf")
        print(f"{str(a):44s} {t:9.2f} {value:12.4e} {rel:9.2%}")
    print(f"{'sum over atoms':44s} {sum(per_atom):9.2f}")

    t_predict, p = timed(lambda: predict(series, net, budget=args.budget, seed=args.seed,
                                         N=STEPS, B=1), repeat=1)
    after_estimates = peak_bytes()
    c, se = p.coefficients, p.standard_errors()
    print(f"\npredict(series, net, budget={args.budget}, N={STEPS}, B=1): {t_predict:.2f} s")
    print(f"{'k':>3s} {'c_k':>12s} {'SE':>10s} {'rel. SE':>9s}")
    for k, (ck, sk) in enumerate(zip(c, se)):
        print(f"{k:3d} {ck:12.5g} {sk:10.2g} {sk / abs(ck) if ck else float('inf'):9.2%}")

    draws = torch.randint(n, (1, STEPS), generator=torch.Generator().manual_seed(args.seed))
    sgd_trial(net, draws, 0.01)
    t_trial, _ = timed(lambda: sgd_trial(net, draws, 0.01), repeat=3)
    many = torch.randint(n, (100, STEPS), generator=torch.Generator().manual_seed(args.seed))
    t_many, _ = timed(lambda: sgd_trial(net, many, 0.01), repeat=1)
    print(f"\none simulated SGD trial ({STEPS} steps of batch 1, then the test loss on all {n} "
          f"points): {t_trial * 1e3:.1f} ms alone, {t_many * 10:.1f} ms each in a vmap of 100")
    print(f"prediction / one trial: {t_predict / t_trial:.0f}  (/ one vectorized trial: "
          f"{t_predict / (t_many / 100):.0f})")

    peak = peak_bytes()
    dense = P * n * 8
    rise = after_estimates - base
    print(f"\npeak RSS: {peak / 2 ** 20:.0f} MiB; baseline before estimating (torch, model, "
          f"data) {base / 2 ** 20:.0f} MiB; rise during the estimates {rise / 2 ** 20:.1f} MiB "
          f"({rise / (args.budget * P * 8):.1f} float64 P-vectors per draw), by the end "
          f"{(peak - base) / 2 ** 20:.1f} MiB; P * n * 8 bytes = {dense / 2 ** 20:.1f} MiB")
    print()
    ok = verdict(t_predict <= TARGET_S,
                 f"whole prediction {t_predict:.1f} s (target <= {TARGET_S:g} s)")
    for k in (1, 2):
        if k <= args.order:
            rel = se[k] / abs(c[k])
            ok &= verdict(rel < TARGET_REL_SE, f"order-{k} coefficient relative SE {rel:.2%} "
                          f"(target < {TARGET_REL_SE:.0%})")
    small, large = (_rise_in_fresh_process(b, args) for b in (args.budget, 4 * args.budget))
    print(f"memory rise of predict in fresh processes: {small / 2 ** 20:.0f} MiB at budget "
          f"{args.budget}, {large / 2 ** 20:.0f} MiB at budget {4 * args.budget} "
          f"({small / dense:.1f} and {large / dense:.1f} x P*n*8)")
    ok &= verdict(large <= MEMORY_GROWTH * small,
                  f"memory flat in the budget: x{large / small:.2f} for 4x the draws "
                  f"(target <= {MEMORY_GROWTH:g}; draws are processed in chunks of "
                  f"NetLandscape.chunk = 2**20 // P, so the rise is O(2**20) floats per stored "
                  f"vector, below the scale of P * n)")
    return 0 if ok else 1


def _rise_in_fresh_process(budget, args) -> int:
    """The peak-memory rise of one ``predict`` at ``budget``, in a fresh interpreter (Linux:
    the peak is reset through ``/proc/self/clear_refs`` after a warm-up)."""
    import subprocess
    code = f"""
import sympy, torch, symsgd
from symsgd.nets import NetLandscape, data, models, predict
x, y = data.digits()
ce = torch.nn.functional.cross_entropy
net = NetLandscape(models.ConvNet((1, 8, 8), 10, seed=0), lambda o, t: ce(o, t, reduction='none'),
                   x, y{'' if args.chunk is None else f', chunk={args.chunk}'})
N, B = sympy.symbols('N B', integer=True, positive=True)
series = symsgd.expected_loss(symsgd.sgd(N, batch=B), {args.order}, method='direct')
predict(series, net, budget=2, seed=0, N={STEPS}, B=1)
def status(key):
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key))
with open('/proc/self/clear_refs', 'w') as f:   # resets the peak (VmHWM) to the current RSS
    f.write('5')
base = status('VmRSS:')
predict(series, net, budget={budget}, seed={args.seed}, N={STEPS}, B=1)
print((status('VmHWM:') - base) * 1024)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return max(int(done.stdout.split()[-1]), 1)


if __name__ == "__main__":
    sys.exit(main())
