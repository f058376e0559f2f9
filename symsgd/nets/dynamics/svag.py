"""SVAG (Li, Malladi and Arora, eq. 3): the stochastic variance amplified gradient."""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass

import numpy as np

from ._base import mean_gradient, take
from ._sizes import Sized
from .._checks import count

__all__ = ["SVAG"]


def _distinct(rng, shape, N, B):
    """Uniform draws of ``B`` distinct indices out of ``N``, for every cell of ``shape``.

    With ``B^2 <= N`` by rejection (redraw the rows that repeat an index; the accepted rows
    are uniform among rows of distinct indices), otherwise by sorting ``N`` random keys.
    """
    if B * B > N:
        return np.argsort(rng.random(shape + (N,)), axis=-1)[..., :B]
    out = rng.integers(N, size=shape + (B,))
    flat = out.reshape(-1, B)
    while True:
        ordered = np.sort(flat, axis=1)
        bad = np.nonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))[0]
        if bad.size == 0:
            return out
        flat[bad] = rng.integers(N, size=(bad.size, B))


@dataclass(frozen=True)
class SVAG(Sized):
    """SVAG(l): ``l`` times the steps at ``lr / l``, each on two independent batches
    combined with weights ``r_(1,2) = (1 +- sqrt(2 l - 1)) / 2``.

    The combination has the mean gradient and ``l`` times one batch's noise
    covariance, so the dynamics keep SGD's drift and diffusion per unit time
    ``lr T`` and converge to the SDE as ``l`` grows (at rate ``1 / l``).  Each batch
    is ``B`` points drawn without replacement, the two independently.  ``l = 1`` is
    SGD with a fresh random batch at every step.

    Args:
        N: the training set size.
        steps: the number of nominal steps ``T``.
        batch: the batch size ``B``.
        l: the amplification, an integer ``>= 1``.

    >>> SVAG(10, steps=5, l=4).weights
    (1.8228756555322954, -0.8228756555322954)
    """

    _: KW_ONLY
    l: int = 1

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "l", count(self.l, "l"))

    @property
    def substeps(self) -> int:
        return self.l

    @property
    def per_step(self) -> int:
        return 2 * self.batch

    @property
    def weights(self) -> tuple:
        """``(r_1, r_2)``: ``r_1 + r_2 = 1`` and ``r_1^2 + r_2^2 = l``."""
        root = math.sqrt(2 * self.l - 1)
        return (1 + root) / 2, (1 - root) / 2

    def draws(self, rng, trials):
        shape = (trials, self.steps * self.l, 2)
        return (_distinct(rng, shape, self.N, self.batch),)

    def direction(self, problem, theta, rows, draws, lr):
        r1, r2 = self.weights
        first = mean_gradient(problem, theta, take(rows, draws[0][:, 0]))
        second = mean_gradient(problem, theta, take(rows, draws[0][:, 1]))
        return r1 * first + r2 * second
