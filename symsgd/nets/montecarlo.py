"""Monte Carlo ground truth on torch models and landscapes: many trials in one vectorized step.

:func:`simulate` runs a :mod:`~symsgd.nets.dynamics` (SGD, GD, GDC, SDE, noisy GD,
SVAG) on a problem (a :class:`~symsgd.nets.NetLandscape`, whose finite population
is the data law, or a :class:`~symsgd.Landscape`) for many independent trials.

* **Trials are batched**: the weights of a group of trials are one ``(G, P)``
  tensor, and per-sample gradients come from ``vmap`` over trials of ``vmap``
  over samples of :func:`torch.func.grad`.
* **Each trial's draws are fixed by its index**: trials come in blocks of
  :data:`BLOCK`; block ``b`` draws its training sets from a generator seeded
  ``(seed, b, 0)`` and the optimizer's draws (batch orders, noise) from one seeded
  ``(seed, b, 1)``.  So a trial's path does not depend on how trials are
  grouped, and two optimizers run with the same ``seed`` see the same training
  set in every trial: their comparisons are *paired* (:meth:`Runs.paired`), as in
  Tenka's section C.3.2.  Every learning rate reuses the same draws.
* The result keeps every trial's test loss, training loss, displacement norm
  ``|theta_k - theta_0|`` and speed ``|theta_k - theta_{k-1}|^2`` (Kunin et al.'s
  ``|delta_k|^2``) at the recorded steps, and the mean weights with their standard
  errors.

>>> from symsgd import sgd
>>> from symsgd.landscapes import mean_estimation
>>> from symsgd.nets.dynamics import SGD, GD
>>> L = mean_estimation(init=1)
>>> runs = simulate(L, SGD(sgd(4)), lr=[0.1, 0.2], trials=2000, seed=0)
>>> runs.test.shape                       # (learning rates, trials, recorded steps)
(2, 2000, 2)
>>> bool(abs(runs.weights[0, -1, 0] - 0.9**4) < 4 * runs.weights_sem[0, -1, 0])
True
>>> runs.mean(measure="speed")[:, 0]    # |theta_k - theta_{k-1}|^2: no step before k = 0
array([0., 0.])
>>> gd_runs = simulate(L, GD(4, steps=4), lr=[0.1, 0.2], trials=2000, seed=0)
>>> diff, se = runs.paired(gd_runs)       # SGD minus GD, trial by trial
>>> diff.shape
(2, 2)
"""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .._progress import _quiet
from .._sympify import no_text
from ..errors import (InputTypeError, LandscapeError, MeasureError, MethodError,
                      NonFiniteError, RangeError, ShapeError, StabilityError)
from ._checks import count, seed as _seed
from ._problem import problem as _problem
from .dynamics import Dynamics

__all__ = ["Runs", "simulate"]

#: Trials per block of draws (see the module's docstring).
BLOCK = 256

#: The per-trial measures a :class:`Runs` keeps.
MEASURES = ("test", "train", "gap", "displacement", "speed")


@dataclass(frozen=True, eq=False)
class Runs:
    """Every trial's measures at the recorded steps, for each learning rate.

    Attributes:
        lr: the learning rates, shape ``(L,)``.
        steps: the recorded nominal steps, shape ``(K,)``.
        seed: the seed the trials were drawn from (paired comparisons need equal seeds).
        test: the test loss (the loss under the data law), shape ``(L, trials, K)``.
        train: the training loss (mean over the trial's ``N`` points), same shape.
        displacement: ``|theta_k - theta_0|``, same shape.
        weights, weights_sem: the mean of ``theta`` over trials and its standard
            error, shape ``(L, K, P)``.
        complete: which ``(learning rate, trial)`` pairs ran to the end, shape ``(L, trials)``
            (all, unless the run stopped on a non-finite value; the rest are NaN).
        speed: ``|theta_k - theta_{k-1}|^2``, the squared length of the last nominal step
            before each recorded step ``k`` (all of its substeps), shape ``(L, trials, K)``;
            0 at ``k = 0``, where no step has been taken.  ``None`` in runs built without
            it (then :meth:`values` refuses ``'speed'``).
    """

    lr: np.ndarray
    steps: np.ndarray
    seed: int
    test: np.ndarray
    train: np.ndarray
    displacement: np.ndarray
    weights: np.ndarray
    weights_sem: np.ndarray
    complete: np.ndarray
    _: KW_ONLY
    speed: np.ndarray | None = None

    def __post_init__(self):
        for name in ("lr", "steps", "test", "train", "displacement", "weights", "weights_sem",
                     "complete") + (() if self.speed is None else ("speed",)):
            value = np.array(no_text(getattr(self, name), name))
            if value.dtype.kind not in "biuf":
                raise InputTypeError(f"{name} must be a numeric array, got {value.dtype}")
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        L, K = len(self.lr), len(self.steps)
        if self.test.ndim != 3 or self.test.shape[0] != L or self.test.shape[2] != K:
            raise ShapeError(f"test must have shape ({L}, trials, {K}), got {self.test.shape}")
        for name in ("train", "displacement") + (() if self.speed is None else ("speed",)):
            if getattr(self, name).shape != self.test.shape:
                raise ShapeError(f"{name} must have shape {self.test.shape}")
        if self.complete.shape != self.test.shape[:2]:
            raise ShapeError(f"complete must have shape {self.test.shape[:2]}")
        if self.weights.ndim != 3 or self.weights.shape[:2] != (L, K) or \
                self.weights_sem.shape != self.weights.shape:
            raise ShapeError(f"weights and weights_sem must have one shape ({L}, {K}, P)")

    @property
    def trials(self) -> int:
        """The number of trials per learning rate."""
        return self.test.shape[1]

    def values(self, *, measure: str = "test") -> np.ndarray:
        """Every trial's ``measure`` (``'test'``, ``'train'``, ``'gap'`` = test minus train,
        ``'displacement'`` = ``|theta_k - theta_0|``, ``'speed'`` = ``|theta_k -
        theta_{k-1}|^2``), shape ``(L, trials, K)``."""
        if measure not in MEASURES:
            raise MeasureError(f"measure must be one of {MEASURES}, got {measure!r}")
        if measure == "speed" and self.speed is None:
            raise MeasureError("these runs were built without the speed")
        if measure == "gap":
            return self.test - self.train
        return getattr(self, measure)

    def mean(self, *, measure: str = "test") -> np.ndarray:
        """The mean over the complete trials, shape ``(L, K)``."""
        return np.nanmean(self.values(measure=measure), axis=1)

    def sem(self, *, measure: str = "test") -> np.ndarray:
        """The standard error of :meth:`mean`, shape ``(L, K)``."""
        v = self.values(measure=measure)
        n = np.sum(np.isfinite(v), axis=1)
        return np.nanstd(v, axis=1, ddof=1) / np.sqrt(n)

    def _check_pair(self, other: "Runs"):
        if not isinstance(other, Runs):
            raise InputTypeError(f"other must be Runs, got {type(other).__name__}")
        if other.seed != self.seed or other.test.shape != self.test.shape or \
                not np.array_equal(other.lr, self.lr) or not np.array_equal(other.steps,
                                                                            self.steps):
            raise ShapeError("paired comparisons need runs with the same seed, learning rates, "
                             "trials and recorded steps")

    def paired(self, other: "Runs", *, measure: str = "test") -> tuple:
        """``self - other`` trial by trial: the mean difference and its standard error,
        each of shape ``(L, K)``.  Both runs must share seed, rates, trials and steps."""
        self._check_pair(other)
        d = self.values(measure=measure) - other.values(measure=measure)
        n = np.sum(np.isfinite(d), axis=1)
        return np.nanmean(d, axis=1), np.nanstd(d, axis=1, ddof=1) / np.sqrt(n)

    def covariance(self, other: "Runs", *, measure: str = "test") -> np.ndarray:
        """The covariance over trials of the paired values, shape ``(L, K)``."""
        self._check_pair(other)
        a, b = self.values(measure=measure), other.values(measure=measure)
        ok = np.isfinite(a) & np.isfinite(b)
        a = np.where(ok, a - np.nanmean(np.where(ok, a, np.nan), axis=1, keepdims=True), 0)
        b = np.where(ok, b - np.nanmean(np.where(ok, b, np.nan), axis=1, keepdims=True), 0)
        return (a * b).sum(1) / (ok.sum(1) - 1)

    def plot(self, *, measure: str = "test", ax=None, label=None):
        """The final ``measure`` against the learning rate with 95% error bars.

        Returns:
            the matplotlib axes.
        """
        import matplotlib.pyplot as plt

        ax = ax or plt.figure().gca()
        ax.errorbar(self.lr, self.mean(measure=measure)[:, -1],
                    yerr=1.96 * self.sem(measure=measure)[:, -1], fmt="o", capsize=3,
                    label=label or "simulation (95%)")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(measure)
        return ax


def _rates(lr) -> np.ndarray:
    if isinstance(lr, (str, bytes)) or lr is None:
        raise InputTypeError(f"lr must be a positive number or a 1-d sequence of them, got {lr!r}")
    try:
        rates = np.atleast_1d(np.asarray(lr, dtype=np.float64))
    except (TypeError, ValueError) as error:
        raise InputTypeError(f"lr must be a positive number or a 1-d sequence of them, "
                             f"got {lr!r}") from error
    if rates.ndim != 1 or rates.size == 0:
        raise ShapeError("lr must be a number or a non-empty 1-d sequence of numbers")
    if not np.all(np.isfinite(rates)):
        raise NonFiniteError(f"learning rates must be finite, got {rates}")
    if np.any(rates <= 0):
        raise RangeError(f"learning rates must be positive, got {rates}")
    return rates


def _record(record, T: int) -> np.ndarray:
    if record is None:
        return np.array([0, T])
    if isinstance(record, (str, bytes)):
        raise InputTypeError(f"record must be a sequence of steps, got {record!r}")
    steps = sorted({count(s, "a recorded step", low=0) for s in record})
    if not steps or steps[-1] > T:
        raise RangeError(f"recorded steps must lie in 0..{T}, got {list(record)}")
    return np.array(steps)


def _check_stable(prob, dynamics: Dynamics, rates) -> None:
    """Raise StabilityError, naming the bound, where the bound is exact (constant Hessians)."""
    if not prob.constant:
        return
    eigs = np.linalg.eigvalsh(prob.hessian())
    for lr in rates:
        try:
            dynamics.optimizer(lr).check_stable(eigs)
        except StabilityError as error:
            raise StabilityError(f"lr = {lr:g}: {error}") from None


def _bound_text(prob, dynamics: Dynamics) -> str:
    """The stability bound at ``theta_0`` for an error message ('' where the Hessian is not
    known); computed only when a trajectory has failed."""
    hessian = prob.hessian()
    if hessian is None:
        return ""
    top = np.linalg.eigvalsh(hessian).max()
    opt = dynamics.optimizer(1.0)
    bound = float(opt.lr_bound()) / (top + opt.weight_decay) * dynamics.substeps \
        if top + opt.weight_decay > 0 else math.inf
    return f"; the stability bound at theta_0 is lr < {bound:.6g}"


def _update(opt):
    """``(A0, B)`` of ``z' = A0 z + B d`` as float blocks: the update with the gradient ``d``."""
    a, b = opt.state_space(0.0)
    s = opt.state_blocks
    return np.asarray(a, dtype=np.float64).reshape(s, s), np.asarray(b, dtype=np.float64)[:, 0]


class _Draws:
    """Each trial's training set and optimizer draws, generated block by block."""

    def __init__(self, prob, dynamics, seed, training):
        self.prob, self.dynamics, self.seed, self.training = prob, dynamics, seed, training
        self.blocks = {}

    def block(self, b: int):
        if b not in self.blocks:
            self.blocks = {}                     # groups move forward: keep one block
            if self.training == "population":
                data = np.broadcast_to(self.prob.population,
                                       (BLOCK,) + self.prob.population.shape)
            else:
                rng = np.random.default_rng([self.seed, b, 0])
                data = self.prob.sample(rng, self.dynamics.N * BLOCK)
                data = data.reshape((BLOCK, self.dynamics.N) + data.shape[1:])
            draws = self.dynamics.draws(np.random.default_rng([self.seed, b, 1]), BLOCK)
            self.blocks[b] = (data, draws)
        return self.blocks[b]

    def __call__(self, ids: range):
        parts = []
        for b in range(ids.start // BLOCK, (ids.stop - 1) // BLOCK + 1):
            lo = max(ids.start, b * BLOCK) - b * BLOCK
            hi = min(ids.stop, (b + 1) * BLOCK) - b * BLOCK
            data, draws = self.block(b)
            parts.append((data[lo:hi], [d[lo:hi] for d in draws]))
        # C order: the population broadcast over trials would concatenate trial-minor,
        # and the per-sample losses over such rows are about 15 times slower
        data = np.ascontiguousarray(np.concatenate([p[0] for p in parts]))
        draws = [np.concatenate([p[1][j] for p in parts]) for j in range(len(parts[0][1]))]
        return data, draws


def _trajectory(prob, dynamics, rate, rows, draws, steps, theta0, ids, test_loss, bar):
    """One group of trials at one learning rate: ``[(test, train, theta - theta_0, speed)]``
    per recorded step, as numpy arrays (or NonFiniteError naming the first trial that failed);
    the speed is ``|theta_k - theta_{k-1}|^2`` (0 at step 0)."""
    a, b = _update(dynamics.optimizer(rate))
    G, R = len(ids), dynamics.substeps
    state = [theta0.expand(G, -1).clone()] + [torch.zeros_like(theta0.expand(G, -1))
                                              for _ in range(len(a) - 1)]

    def fail(bad, step):
        i = ids[int(torch.nonzero(bad)[0, 0])]
        raise NonFiniteError(f"trial {i} at lr = {rate:g} became non-finite at step {step} "
                             f"(of {dynamics.T}){_bound_text(prob, dynamics)}")

    def snapshot(step):
        theta = state[0]
        if step == 0:                       # every trial starts at theta_0: one evaluation
            test = test_loss(theta0[None]).detach().expand(G)
        else:
            test = test_loss(theta).detach()
        train = prob.losses(theta, rows).mean(1).detach()
        bad = ~(torch.isfinite(test) & torch.isfinite(train))
        if bad.any():
            fail(bad, step)
        speed = ((theta - previous) ** 2).sum(1) if step > 0 else theta.new_zeros(G)
        return (test.cpu().numpy(), train.cpu().numpy(),
                (theta.detach() - theta0).cpu().numpy(), speed.detach().cpu().numpy())

    records = [snapshot(0)] if steps[0] == 0 else []
    previous = state[0]                     # theta at the nominal step before a recorded one
    for t in range(dynamics.T * R):
        d = dynamics.direction(prob, state[0], rows, [s[t] for s in draws], rate)
        state = [sum(a[i, j] * state[j] for j in range(len(a)) if a[i, j] != 0) + b[i] * d
                 for i in range(len(a))]
        bad = ~torch.isfinite(state[0]).all(1)
        if bad.any():
            fail(bad, -(-(t + 1) // R))
        bar.update(G)
        if (t + 1) % R == 0 and (t + 1) // R in steps:
            records.append(snapshot((t + 1) // R))
        if (t + 1) % R == 0 and (t + 1) // R + 1 in steps:
            previous = state[0]             # each step builds new tensors: no copy needed
    return records


def simulate(problem, dynamics: Dynamics, *, lr, trials: int, seed: int = 0, record=None,
             training: str = "sampled", group: int | None = None, first: int = 0,
             dtype=torch.float64, device=None, progress: bool | None = None) -> Runs:
    """Run ``dynamics`` on ``problem`` for ``trials`` independent trials at each learning rate.

    Args:
        problem: a :class:`~symsgd.nets.NetLandscape` (training sets are ``N`` points
            drawn with replacement from its population, the test loss is the
            population loss) or a :class:`~symsgd.Landscape` with a numeric
            initialization (training sets from its distribution, the closed-form
            test loss).
        dynamics: a :class:`~symsgd.nets.dynamics.Dynamics` (``SGD``, ``GD``, ``GDC``,
            ``SDE``, ``NoisyGD``, ``SVAG``).
        lr: a positive learning rate or a 1-d sequence of them.
        trials: the number of trials per learning rate (at least 2).
        seed: the seed of every trial's generators (paired runs share it).
        record: the nominal steps to record (default ``(0, T)``).
        training: ``'sampled'`` (each trial draws its ``N`` training points from the law)
            or ``'population'`` (every trial trains on the whole finite population, in
            order, as when a fixed data set is the training set; ``N`` must be its size;
            the trials then differ only in the optimizer's draws).
        group: how many trials advance together (default: about ``2**22`` floats of
            per-sample gradients per step); results do not depend on it.
        first: the index of the first trial: the run holds trials ``first, ...,
            first + trials - 1`` (each trial's draws depend only on its index and the seed,
            so runs of consecutive ranges concatenate to one run; :mod:`symsgd.nets.campaign`
            checkpoints and distributes them this way).
        dtype, device: of a landscape's tensors (a NetLandscape keeps its own).
        progress: show a progress bar (True, False, or None: automatic).

    Returns:
        :class:`Runs`.

    Raises:
        InputTypeError: a problem, dynamics or option of the wrong type.
        RangeError: ``trials < 2``, recorded steps outside ``0..T``, a bad ``group``.
        StabilityError: a learning rate beyond the bound where it is exact (every
            sample's Hessian the same constant), named with the bound.
        NonFiniteError: a trajectory that became NaN or infinite: names the trial,
            the learning rate and the step; its ``partial`` attribute holds the
            :class:`Runs` computed so far (unfinished trials NaN).
    """
    if not isinstance(dynamics, Dynamics):
        raise InputTypeError(f"dynamics must be a symsgd.nets.dynamics object (SGD, GD, GDC, "
                             f"SDE, NoisyGD, SVAG), got {type(dynamics).__name__}")
    prob = _problem(problem, dtype=dtype, device=device)
    rates = _rates(lr)
    trials = count(trials, "trials", low=2)
    seed = _seed(seed)
    first = count(first, "first", low=0)
    steps = _record(record, dynamics.T)
    if training not in ("sampled", "population"):
        raise MethodError(f"training must be 'sampled' or 'population', got {training!r}")
    if training == "population":
        if prob.population is None:
            raise LandscapeError("training='population' needs a finite population (a "
                                 "NetLandscape or a Landscape with a Dataset law)")
        if len(prob.population) != dynamics.N:
            raise ShapeError(f"training='population' trains on all {len(prob.population)} "
                             f"points: the dynamics' N is {dynamics.N}")
    N, P, R = dynamics.N, prob.dim, dynamics.substeps
    if group is None:
        group = max(1, min(trials, (1 << 22) // (P * dynamics.per_step)))
    group = count(group, "group")
    _check_stable(prob, dynamics, rates)
    L, K = len(rates), len(steps)
    shape = (L, trials, K)
    out = {k: np.full(shape, np.nan) for k in ("test", "train", "displacement", "speed")}
    w_sum, w_sq = np.zeros((L, K, P)), np.zeros((L, K, P))
    complete = np.zeros((L, trials), dtype=bool)
    theta0 = prob.theta0.detach()

    def result():
        n = complete.sum(1)[:, None, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = w_sum / n
            var = (w_sq - n * mean ** 2) / (n - 1)
        return Runs(rates, steps, seed, out["test"], out["train"], out["displacement"],
                    mean + theta0.cpu().numpy(), np.sqrt(np.maximum(var, 0) / n), complete,
                    speed=out["speed"])

    test_loss = torch.func.vmap(prob.test_loss)
    source = _Draws(prob, dynamics, seed, training)
    bar = tqdm(total=L * trials * dynamics.T * R, desc=f"simulating {type(dynamics).__name__}",
               leave=False, disable=_quiet(progress, L * trials * dynamics.T * R * P * N < 10**8))
    try:
        for start in range(0, trials, group):
            ids = range(first + start, first + min(start + group, trials))
            data, draws = source(ids)
            rows_out = slice(start, min(start + group, trials))
            rows = prob.rows(data)
            stacked = [torch.as_tensor(np.ascontiguousarray(np.swapaxes(d, 0, 1)),
                                       device=theta0.device) for d in draws]
            for li, rate in enumerate(rates):
                records = _trajectory(prob, dynamics, rate, rows, stacked, steps, theta0,
                                      ids, test_loss, bar)
                for k, (test, train, d, speed) in enumerate(records):
                    out["test"][li, rows_out, k] = test
                    out["train"][li, rows_out, k] = train
                    out["displacement"][li, rows_out, k] = np.linalg.norm(d, axis=1)
                    out["speed"][li, rows_out, k] = speed
                    w_sum[li, k] += d.sum(0)
                    w_sq[li, k] += (d ** 2).sum(0)
                complete[li, rows_out] = True
    except NonFiniteError as error:
        error.partial = result()
        raise
    finally:
        bar.close()
    return result()
