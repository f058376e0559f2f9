"""Monte Carlo ground truth: many independent SGD runs at once.

:func:`simulate` draws a fresh training set and (for reshuffled schedules)
fresh batch orders for every trial, runs SGD on all trials and learning rates
together, and returns means and standard errors of the test loss, training
loss and weights.

>>> from symsgd import sgd
>>> from symsgd.landscapes import mean_estimation
>>> sim = simulate(sgd(4), landscape=mean_estimation(init=1), lr=[0.1, 0.2], trials=2000,
...                seed=0)
>>> sim.test_loss.shape, sim.weights.shape
((2, 5), (2, 5, 1))
>>> bool(abs(sim.weights[0, -1, 0] - 0.9**4) < 4 * sim.weights_sem[0, -1, 0])
True
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ._backends import get_backend
from ._progress import _quiet
from ._sympify import no_text
from .errors import InputTypeError, MeasureError, NonFiniteError, RangeError, ShapeError
from .landscape import Landscape
from .schedule import BaseSchedule

__all__ = ["simulate", "Simulation"]


@dataclass(frozen=True)
class Simulation:
    """Means and standard errors over trials, for each learning rate and recorded step.

    Attributes:
        lr: the learning rates, shape ``(L,)``.
        steps: the recorded step numbers, shape ``(K,)`` (always includes 0 and ``T``).
        trials: the number of independent runs per learning rate.
        test_loss, test_loss_sem: shape ``(L, K)``.
        train_loss, train_loss_sem: shape ``(L, K)``.
        weights, weights_sem: shape ``(L, K, P)``.
    """

    lr: np.ndarray
    steps: np.ndarray
    trials: int
    test_loss: np.ndarray
    test_loss_sem: np.ndarray
    train_loss: np.ndarray
    train_loss_sem: np.ndarray
    weights: np.ndarray
    weights_sem: np.ndarray

    def __post_init__(self):
        for name in ("lr", "steps", "test_loss", "test_loss_sem", "train_loss",
                     "train_loss_sem", "weights", "weights_sem"):
            value = np.asarray(no_text(getattr(self, name), name))
            if value.dtype.kind not in "iuf":
                raise InputTypeError(f"{name} must be a numeric array, got {value.dtype}")
            object.__setattr__(self, name, value)
        if isinstance(self.trials, bool) or not isinstance(self.trials, numbers.Integral) or \
                self.trials < 1:
            raise InputTypeError(f"trials must be a positive integer, got {self.trials!r}")
        L, K = len(self.lr), len(self.steps)
        for name in ("test_loss", "test_loss_sem", "train_loss", "train_loss_sem"):
            if getattr(self, name).shape != (L, K):
                raise ShapeError(f"{name} must have shape {(L, K)}")
        if self.weights.ndim != 3 or self.weights.shape[:2] != (L, K) \
                or self.weights_sem.shape != self.weights.shape:
            raise ShapeError(f"weights and weights_sem must have one shape {(L, K)} + (P,)")

    @property
    def gap(self) -> np.ndarray:
        """Mean test minus training loss (the generalization gap), shape ``(L, K)``."""
        return self.test_loss - self.train_loss

    def plot(self, *, measure: str = "test", ax=None, prediction=None):
        """Plot the final ``measure`` against the learning rate with 95% error bars.

        Args:
            measure: ``'test'`` (the test loss) or ``'train'`` (the training loss).
            ax: matplotlib axes to draw on (default: a new figure).
            prediction: an optional callable of the learning rate (e.g. a
                :class:`~symsgd.series.Series`) drawn as a line.

        Returns:
            the axes.

        Raises:
            MeasureError: another measure.
            InputTypeError: a ``prediction`` that is not callable.
        """
        import matplotlib.pyplot as plt

        if prediction is not None and not callable(prediction):
            raise InputTypeError(f"prediction must be a callable of the learning rate, got "
                                 f"{prediction!r}")
        if measure not in ("test", "train"):
            raise MeasureError(f"Simulation.plot draws measure 'test' or 'train', not {measure!r}")
        ax = ax or plt.figure().gca()
        mean = getattr(self, f"{measure}_loss")[:, -1]
        sem = getattr(self, f"{measure}_loss_sem")[:, -1]
        ax.errorbar(self.lr, mean, yerr=1.96 * sem, fmt="o", capsize=3, label="simulation (95%)")
        if prediction is not None:
            grid = np.linspace(0, self.lr.max(), 100)
            ax.plot(grid, [float(prediction(g)) for g in grid], label="prediction")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(f"{measure} loss")
        ax.legend()
        return ax


def _learning_rates(lr) -> np.ndarray:
    message = ("lr must be a real number or a 1-d sequence of real numbers "
               f"(substitute values for any symbols), got {lr!r}")
    if isinstance(lr, (str, bytes)):
        raise InputTypeError(message)
    try:
        rates = np.atleast_1d(np.asarray(lr, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise InputTypeError(message) from exc
    if rates.ndim != 1 or rates.size == 0:
        raise ShapeError("lr must be a number or a 1-d sequence of numbers")
    if not np.all(np.isfinite(rates)) or np.any(rates < 0):
        raise NonFiniteError(f"learning rates must be finite and non-negative, got {rates}")
    return rates


def simulate(schedule: BaseSchedule, *, landscape: Landscape, lr, trials: int, seed=None,
             every: int | None = None, backend: str = "numpy", device=None,
             progress: bool | None = None) -> Simulation:
    """Run SGD ``trials`` times on fresh training sets, for each learning rate.

    Args:
        schedule: a concrete schedule; random reshuffling draws new orders per trial.
        landscape: the landscape (any differentiable loss; the test loss must
            have a closed form, as it does for polynomial data or a Dataset).
        lr: one learning rate or a sequence of them (numbers, >= 0).
        trials: the number of independent runs per learning rate (an integer >= 2).
        seed: seed of the random generator (data, shuffles).
        every: record every ``every`` steps (an integer >= 1).  By default the
            records are spaced so that measuring the training loss (a pass over
            all ``N`` points) costs at most about 20 times the training itself.
        backend: ``'numpy'`` or ``'torch'`` (float64; see :data:`symsgd._backends.BACKENDS`).
        device: the torch device to run on (``'cuda'``, ...); ``None``: the CPU.
        progress: show a progress bar (True, False, or None: automatic).

    Returns:
        a :class:`Simulation` of means and standard errors.

    Raises:
        RangeError: ``trials`` below 2 or not an integer, ``every`` below 1 or
            not an integer.
        BackendError: an unknown backend, a device it cannot use, or torch missing.
        TypeError: a landscape or schedule of the wrong type, a symbolic ``lr``.
        NonFiniteError: a non-finite or negative learning rate, or SGD diverging.
        ShapeError: ``lr`` not a number or a 1-d sequence.

    >>> from symsgd import gd
    >>> from symsgd.landscapes import mean_estimation
    >>> simulate(gd(2), landscape=mean_estimation(), lr=0.1, trials=1)
    Traceback (most recent call last):
    ...
    symsgd.errors.RangeError: trials must be an integer of at least 2, got 1
    """
    if not isinstance(landscape, Landscape):
        raise InputTypeError(f"landscape must be a symsgd Landscape, got {type(landscape).__name__}")
    if not isinstance(schedule, BaseSchedule):
        raise InputTypeError(f"schedule must be a symsgd schedule, got {type(schedule).__name__}")
    if isinstance(trials, bool) or not isinstance(trials, numbers.Integral) or trials < 2:
        raise RangeError(f"trials must be an integer of at least 2, got {trials!r}")
    if every is not None and (isinstance(every, bool) or not isinstance(every, numbers.Integral)
                              or every < 1):
        raise RangeError(f"every must be an integer of at least 1, got {every!r}")
    bk = get_backend(backend, device=device)
    schedule._require_concrete("simulation")
    rates = _learning_rates(lr)
    T = schedule.T
    if every is None:
        records = max(2, min(200, 20 * T * schedule.batch // schedule.N))
        every = max(1, T // records)
    every = int(every)
    record = sorted(set(range(0, T + 1, every)) | {T})
    rng = np.random.default_rng(seed)
    data = landscape.distribution.sample(rng, (trials, schedule.N), landscape.data)
    batches = schedule.sample_batches(rng, trials)
    num = landscape.numeric(backend=bk.name, device=device)
    data, batches = bk.asarray(data), bk.asarray(np.ascontiguousarray(batches), "int64")
    theta = bk.asarray(np.broadcast_to(np.array([float(v) for v in landscape.init]),
                                       (len(rates), trials, landscape.dim)).copy())
    steps_lr = bk.asarray(rates)[:, None, None]
    rows = bk.asarray(np.arange(trials), "int64")[:, None]
    out = {k: [] for k in ("test", "train", "weights")}

    def snapshot():
        test = bk.to_numpy(num.test_loss(theta))
        train = bk.to_numpy(num.loss(theta[:, :, None, :], data[None]).mean(-1))
        w = bk.to_numpy(theta)
        if not (np.all(np.isfinite(test)) and np.all(np.isfinite(w))):
            raise NonFiniteError("SGD diverged (non-finite loss or weights); lower the learning rate")
        for key, value in (("test", test), ("train", train), ("weights", w)):
            out[key].append((value.mean(1), value.std(1, ddof=1) / math.sqrt(trials)))

    snapshot()
    for t in tqdm(range(T), desc="simulating SGD", leave=False,
                  disable=_quiet(progress, T * trials < 10**6)):
        xb = data[rows, batches[:, t, :]]
        grad = num.grad(theta[:, :, None, :], xb[None]).mean(-2)
        theta = theta - steps_lr * grad
        if t + 1 in record:
            snapshot()

    def stack(key, i):
        return np.stack([r[i] for r in out[key]], axis=1)

    return Simulation(rates, np.array(record), trials, stack("test", 0), stack("test", 1),
                      stack("train", 0), stack("train", 1), stack("weights", 0), stack("weights", 1))

