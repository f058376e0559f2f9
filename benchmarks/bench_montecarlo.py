"""Trials per second of the Monte Carlo engine on the digits convnet, batched against a loop.

Tenka's Figure 2 setting: SGD with ``N = 10`` training points drawn from the digits
population, batch 1, one epoch (``T = 10`` steps), then the test loss on all 1,797
points.  Two ways to run the same trials:

* batched: :func:`symsgd.nets.simulate` (``vmap`` over trials of per-sample
  gradients, a group of trials advancing together);
* a loop: one trial after another with ``torch.optim.SGD`` and autograd, the way
  training code is usually written.

The two give the same numbers (``tests/test_nets_montecarlo.py`` checks it to 1e-12);
this script reports trials per second for each, and the ratio (target:
:data:`TARGET_SPEEDUP`).  Prints PASS or FAIL; the exit status is 1 on a failure.

Usage: ``python benchmarks/bench_montecarlo.py [--trials 256] [--loop 16] [--device cpu]``
"""

import argparse
import os
import sys

import numpy as np
import torch

import symsgd
from symsgd.nets import NetLandscape, data, models, simulate
from symsgd.nets.dynamics import SGD
from symsgd.nets.montecarlo import BLOCK

from _timing import timed

TARGET_SPEEDUP = 20.0
N = 10
MODELS = {"convnet": lambda: models.ConvNet((1, 8, 8), 10, seed=0),
          "logistic": lambda: models.LogisticRegression(64, 10, seed=0),
          "mlp": lambda: models.MLP([64, 16, 10], seed=0)}


def loop(net, schedule, lr, trials, seed):
    """Each trial alone: torch.optim.SGD on the mean batch loss, then the population loss."""
    out = []
    for i in range(trials):
        b, r = divmod(i, BLOCK)
        index = np.random.default_rng([seed, b, 0]).integers(net.size, size=N * BLOCK)
        index = index.reshape(BLOCK, N)[r]
        batches = schedule.sample_batches(np.random.default_rng([seed, b, 1]), BLOCK)[r]
        theta = net.params.detach().clone().requires_grad_(True)
        opt = torch.optim.SGD([theta], lr=lr)
        for t in range(schedule.T):
            x, y = net.point(torch.as_tensor(index[batches[t]]))
            opt.zero_grad()
            net.losses(theta, x, y).mean().backward()
            opt.step()
        with torch.no_grad():
            out.append(float(net.loss(theta=theta)))
    return np.array(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=256, help="batched trials")
    parser.add_argument("--loop", type=int, default=16, help="trials run one by one")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--model", default="convnet", choices=sorted(MODELS),
                        help="Tenka's convnet, logistic regression or a tanh MLP")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpus={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}, device {args.device}")
    x, y = data.digits(flatten=args.model != "convnet")
    ce = torch.nn.functional.cross_entropy
    net = NetLandscape(MODELS[args.model](), lambda out, t: ce(out, t, reduction="none"), x, y,
                       device=args.device)
    schedule = symsgd.sgd(N)
    dyn = SGD(schedule)
    simulate(net, dyn, lr=0.05, trials=2, seed=0, record=[N])            # warm up
    t_batched, runs = timed(lambda: simulate(net, dyn, lr=0.05, trials=args.trials, seed=0,
                                             record=[N]), repeat=1)
    t_loop, looped = timed(lambda: loop(net, schedule, 0.05, args.loop, 0), repeat=1)
    agree = np.max(np.abs(runs.test[0, :args.loop, -1] - looped))
    batched_rate, loop_rate = args.trials / t_batched, args.loop / t_loop
    print(f"digits {args.model} (P = {net.dim}), sgd(N={N}), test loss on n = {net.size} points")
    print(f"batched: {args.trials} trials in {t_batched:.2f} s = {batched_rate:.1f} trials/s")
    print(f"loop:    {args.loop} trials in {t_loop:.2f} s = {loop_rate:.2f} trials/s")
    print(f"largest difference on the shared trials: {agree:.1e}")
    speedup = batched_rate / loop_rate
    ok = speedup >= TARGET_SPEEDUP and agree < 1e-10
    print(f"{'PASS' if ok else 'FAIL'}: batched / loop = {speedup:.1f}x "
          f"(target >= {TARGET_SPEEDUP:g}x), same numbers")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
