"""The interface every simulated optimizer implements, and the shared update rule.

A :class:`Dynamics` says how one trial moves on its training set of ``N``
points: the random draws it needs (batch orders, Gaussian noise, ...), drawn
for each trial from that trial's own generator; the stochastic *direction*
``d`` it computes at each step; and the linear update rule
``z' = A z + B d`` of a :mod:`symsgd.optim` optimizer (the weights, then a
momentum buffer if there is one), so that the dynamics simulated here are the
ones whose exact covariances :mod:`symsgd.lyapunov` computes.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import torch

from ... import optim
from ...errors import InputTypeError, RangeError

__all__ = ["Dynamics", "take", "mean_gradient", "real"]


def take(rows, index):
    """The rows ``index`` (shape ``(G, b)``) of each trial's data (tensors ``(G, N, ...)``)."""
    trials = torch.arange(index.shape[0], device=index.device)[:, None]
    return tuple(r[trials, index] for r in rows)


def mean_gradient(problem, theta, rows):
    """The mean of the per-sample gradients over ``rows``: shape ``(G, P)``."""
    return problem.gradients(theta, rows).mean(1)


def real(value, what: str, *, low: float = 0.0) -> float:
    """``value`` as a finite float ``>= low`` (typed errors; strings refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise InputTypeError(f"{what} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < low:
        raise RangeError(f"{what} must be a finite number of at least {low}, got {value!r}")
    return value


class Dynamics(ABC):
    """A simulated optimizer: its draws, its direction, its update rule.

    Subclasses are frozen dataclasses with fields ``N`` (the training set size) and
    the number of nominal steps; they define :attr:`T`, :meth:`draws` and
    :meth:`direction`, and may override :attr:`substeps` (internal steps per
    nominal one) and :meth:`optimizer`.
    """

    @property
    @abstractmethod
    def T(self) -> int:
        """The number of nominal steps (SGD steps of learning rate ``lr``)."""

    @property
    def per_step(self) -> int:
        """How many per-sample gradients one step of one trial takes (sizes the groups)."""
        return self.N

    @property
    def substeps(self) -> int:
        """Internal steps per nominal step (the SDE's refinement, SVAG's ``l``)."""
        return 1

    @abstractmethod
    def draws(self, rng: np.random.Generator, trials: int) -> tuple:
        """The random draws of ``trials`` trials: numpy arrays of shape
        ``(trials, internal steps, ...)``."""

    @abstractmethod
    def direction(self, problem, theta, rows, draws, lr: float):
        """The direction ``d`` of one internal step for every trial: shape ``(G, P)``.

        Args:
            problem: the :class:`~symsgd.nets._problem.Problem`.
            theta: the weights, shape ``(G, P)``.
            rows: each trial's training set as tensors ``(G, N, ...)``.
            draws: this step's draws, one tensor per array of :meth:`draws`, ``(G, ...)``.
            lr: the (nominal) learning rate.
        """

    def optimizer(self, lr: float) -> optim.Optimizer:
        """The linear update rule at learning rate ``lr``: plain steps of ``lr / substeps``."""
        return optim.SGD(lr / self.substeps)

