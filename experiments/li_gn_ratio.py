"""Li, Malladi and Arora, section 6: the ratio G_t / N_t along training of a scale-invariant
net, and where the linear scaling rule fails.

A scale-invariant model (logistic regression on the digits with normalized weights,
``logits = tau x W / |W|``, so ``l(c W) = l(W)``) is trained by SGD with weight decay ``wd``
on the whole data set (1,797 points), batch ``B`` drawn with replacement each step, with
the linear scaling rule ``lr = lr_0 B / B_0`` and the same number of epochs for every ``B``.
Along training, for every trial, it records

* ``R_t = |W_t|^2``, ``G_t = |grad L(W_t)|^2`` and ``N_t = E |g_batch - grad L|^2 = tr C / B``
  (the trace of the batch-gradient noise covariance, ``C`` over the data set).

Scale invariance makes ``<g, W> = 0`` for every batch gradient ``g``, so each step obeys
``|W_{k+1}|^2 = (1 - lr wd)^2 |W_k|^2 + lr^2 |g_k|^2`` exactly (Li et al.'s eq. 13), and in
expectation ``E R_{k+1} - E R_k = -lr wd (2 - lr wd) E R_k + lr^2 E (G_k + N_k)``.  At
equilibrium ``(2 - lr wd) wd R = lr (G + N)`` (their eq. 14); the SDE's equilibrium has
``2 wd R = N`` (eq. 15), so SGD and the SDE can be ``C``-close only if
``lr G <= (C^2 - 1) N``-ish: their criterion for the failure of the SDE approximation and
of the linear scaling rule is ``G_t / N_t > C^2`` (they take ``C^2 = 2``).

Figures: ``G_t / N_t`` against steps for each ``B``; at the end of training ``G / N`` against
``B`` (log-log) with the threshold 2; the final loss against ``B``.

Asserted: the per-step norm identity holds in every trial to ``1e-9`` relative (the model
is scale invariant and ``G``, ``N`` are measured at the right points); the expectation
identity at equilibrium, eq. 14, holds over the last quarter of training within Student's
``t`` standard errors (99% over the batch sizes) plus the unfinished relaxation
``exp(-2 lr wd k_0)`` (a check that ``G + N`` is
``E |g|^2`` as measured); ``G / N`` at the end grows with ``B`` across the grid.
What the final losses show about the predicted critical batch size is reported, not
asserted.

Usage: ``python experiments/li_gn_ratio.py [OUTDIR] [--quick] [--trials 8]``
(about three minutes by default on 2 cores, half a minute with ``--quick``).
"""

import math

import matplotlib.pyplot as plt
import numpy as np
import scipy.stats
import torch
from torch.func import grad, vmap

from symsgd.nets import NetLandscape, data

from _harness import arguments, option, save

args = arguments(__doc__, trials=(8, "independent runs per batch size"),
                 epochs=(20, "epochs of training for every batch size"))
trials = option(args, "trials", 8, 4)
epochs = option(args, "epochs", 20, 6)
BATCHES = [4, 16, 64, 256] if args.quick else [4, 16, 64, 256, 1024]
LR0, B0, WD, TAU = 0.1, 4, 1e-2, 8.0
torch.manual_seed(args.seed)
torch.set_default_dtype(torch.float64)


class NormalizedLogistic(torch.nn.Module):
    """``logits = tau x W / |W|_F``: invariant under ``W -> c W``, ``c > 0``."""

    def __init__(self):
        super().__init__()
        self.W = torch.nn.Parameter(torch.randn(64, 10))

    def forward(self, x):
        return TAU * x @ self.W / self.W.norm()


x, y = data.digits(flatten=True)
ce = torch.nn.functional.cross_entropy
net = NetLandscape(NormalizedLogistic(), lambda out, t: ce(out, t, reduction="none"), x, y,
                   name="normalized digits logistic")
X, Y, n = net.inputs, net.targets, net.size
theta0 = net.params.detach()
sample_grad = vmap(grad(net.sample_loss), in_dims=(None, 0, 0))       # (n, P) at one theta


def statistics(theta):
    """``(G, tr C)`` at each trial's weights ``theta`` (trials, P), over the data set."""
    per = vmap(sample_grad, in_dims=(0, None, None))(theta, X, Y)    # (trials, n, P)
    mean = per.mean(1)
    G = (mean ** 2).sum(1)
    trC = ((per - mean[:, None]) ** 2).sum(2).mean(1)
    return G, trC


def train(B, seed):
    """SGD with weight decay at ``lr = LR0 B / B0``: per-step records and identity errors."""
    lr = LR0 * B / B0
    steps = math.ceil(epochs * n / B)
    every = max(1, steps // (20 if args.quick else 40))
    gen = torch.Generator().manual_seed(seed)
    theta = theta0.expand(trials, -1).clone() * (1 + 0.1 * torch.randn(trials, 1, generator=gen))
    rec = {"step": [], "R": [], "G": [], "N": []}
    identity = 0.0
    batch_grad = vmap(lambda th, i: sample_grad(th, X[i], Y[i]).mean(0))
    for k in range(steps + 1):
        if k % every == 0 or k == steps:
            G, trC = statistics(theta)
            rec["step"].append(k)
            rec["R"].append((theta ** 2).sum(1))
            rec["G"].append(G)
            rec["N"].append(trC / B)
        if k == steps:
            break
        idx = torch.randint(n, (trials, B), generator=gen)
        g = batch_grad(theta, idx)
        new = (1 - lr * WD) * theta - lr * g
        lhs = (new ** 2).sum(1)
        rhs = (1 - lr * WD) ** 2 * (theta ** 2).sum(1) + lr ** 2 * (g ** 2).sum(1)
        identity = max(identity, float(((lhs - rhs).abs() / lhs).max()))
        theta = new
    out = {k: torch.stack(v, 1).numpy() if k != "step" else np.array(v) for k, v in rec.items()}
    loss = vmap(lambda th: net.losses(th, X, Y).mean())(theta).numpy()
    return lr, steps, out, identity, loss


def equilibrium(lr, rec):
    """Eq. 14 over the last quarter of training: ``(2 - lr wd) wd R - lr (G + N)`` relative
    to ``(2 - lr wd) wd R`` (ratio of trial means, its standard error over trials) and the
    allowance ``exp(-2 lr wd k_0)`` for the relaxation not yet finished at the window's start
    ``k_0`` (``E R`` relaxes at rate ``lr wd (2 - lr wd)`` per step)."""
    k0 = len(rec["step"]) * 3 // 4
    R, G, N = (rec[k][:, k0:].mean(1) for k in ("R", "G", "N"))
    lhs = (2 - lr * WD) * WD * R
    resid = (lhs - lr * (G + N)) / lhs.mean()
    return (resid.mean(), resid.std(ddof=1) / np.sqrt(len(resid)),
            math.exp(-2 * lr * WD * rec["step"][k0]))


numbers = {"lr0": LR0, "B0": B0, "wd": WD, "tau": TAU, "epochs": epochs, "trials": trials,
           "batches": BATCHES, "runs": {}}
fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
final_ratio, final_se, final_loss, final_loss_se = [], [], [], []
for B in BATCHES:
    lr, steps, rec, identity, loss = train(B, args.seed + B)
    ratio = rec["G"] / rec["N"]
    k0 = len(rec["step"]) * 3 // 4
    end = ratio[:, k0:].mean(1)
    resid, resid_se, relax = equilibrium(lr, rec)
    final_ratio.append(end.mean())
    final_se.append(end.std(ddof=1) / np.sqrt(trials))
    final_loss.append(loss.mean())
    final_loss_se.append(loss.std(ddof=1) / np.sqrt(trials))
    numbers["runs"][f"B={B}"] = {
        "lr": lr, "steps": steps, "identity_max_relative_error": identity,
        "G_over_N_end": float(end.mean()), "G_over_N_end_se": final_se[-1],
        "R_end": float(rec["R"][:, -1].mean()), "loss": float(loss.mean()),
        "loss_se": final_loss_se[-1], "equilibrium_residual": float(resid),
        "equilibrium_residual_se": float(resid_se),
        "steps_recorded": rec["step"].tolist(), "G_over_N": ratio.mean(0).tolist()}
    print(f"B {B:5d} lr {lr:6.3g} steps {steps:5d}: identity error {identity:.1e}, "
          f"G/N at the end {end.mean():.3g} +- {final_se[-1]:.2g}, equilibrium residual "
          f"{resid:+.3f} +- {resid_se:.3f}, loss {loss.mean():.4f} +- {final_loss_se[-1]:.4f}")
    assert identity < 1e-9, f"B = {B}: the norm identity fails ({identity:.1e})"
    # Student's t for the few trials, Bonferroni over the batch sizes, 99% overall
    t = scipy.stats.t.ppf(1 - 0.01 / (2 * len(BATCHES)), trials - 1)
    assert abs(resid) <= t * resid_se + relax, f"B = {B}: not at eq. 14's equilibrium"
    axes[0].semilogy(rec["step"] / steps * epochs, ratio.mean(0), label=f"B = {B}, lr = {lr:g}")

final_ratio = np.array(final_ratio)
assert np.all(np.diff(final_ratio) > 0), f"G/N does not grow with B: {final_ratio}"
slope = np.polyfit(np.log(BATCHES), np.log(final_ratio), 1)[0]
numbers["log_log_slope_G_over_N_vs_B"] = float(slope)
cross = np.interp(np.log(2.0), np.log(final_ratio), np.log(BATCHES)) \
    if final_ratio[0] < 2 < final_ratio[-1] else None
numbers["predicted_critical_batch"] = None if cross is None else float(np.exp(cross))
print(f"log-log slope of G/N against B: {slope:.2f}; G/N = 2 at B = "
      f"{'outside the grid' if cross is None else f'{np.exp(cross):.0f}'}")

axes[0].axhline(2, color="k", ls=":", label="C^2 = 2")
axes[0].set_xlabel("epochs")
axes[0].set_ylabel("G_t / N_t (mean over trials)")
axes[0].set_title("along training (linear scaling rule)")
axes[0].legend(fontsize=8)
axes[1].errorbar(BATCHES, final_ratio, yerr=1.96 * np.array(final_se), fmt="o-")
axes[1].axhline(2, color="k", ls=":", label="C^2 = 2")
axes[1].set_xscale("log")
axes[1].set_yscale("log")
axes[1].set_xlabel("batch size B")
axes[1].set_ylabel("G / N over the last quarter")
axes[1].set_title(f"slope {slope:.2f}")
axes[1].legend()
axes[2].errorbar(BATCHES, final_loss, yerr=1.96 * np.array(final_loss_se), fmt="o-")
if cross is not None:
    axes[2].axvline(np.exp(cross), color="r", ls="--", label="G/N = 2")
    axes[2].legend()
axes[2].set_xscale("log")
axes[2].set_xlabel("batch size B")
axes[2].set_ylabel("training loss at the end")
axes[2].set_title(f"{epochs} epochs, lr = {LR0} B / {B0}, wd = {WD}")
fig.tight_layout()
save(args.outdir, "li_gn_ratio", fig, numbers)
