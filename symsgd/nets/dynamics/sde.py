"""The SDE of SGD by Euler-Maruyama, and noisy GD (its one-substep form)."""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass, field

import torch

from ._sizes import Sized
from .._checks import count

__all__ = ["SDE", "NoisyGD"]


@dataclass(frozen=True)
class SDE(Sized):
    """Euler-Maruyama for ``d theta = -grad l_N dt + sqrt(lr Sigma) dW``, ``refine`` substeps
    per step.

    ``Sigma(theta)`` is the covariance of one SGD batch gradient at the current
    point: ``(N - B) / (B (N - 1))`` times the training set's covariance of
    per-sample gradients (a batch of ``B`` drawn without replacement).  Time
    ``lr`` per nominal step: each substep moves by ``-(lr / R) grad l_N +
    (lr / sqrt(R)) xi`` with ``xi ~ N(0, Sigma)``, drawn matrix-free as
    ``sqrt((N - B) / (B (N - 1) N)) sum_i z_i (g_i - g_bar)``.  As ``R`` grows it
    converges to the SDE at Euler-Maruyama's rate (weak order 1); Tenka (C.4)
    refines by 16.  With ``R = 1`` it is :class:`NoisyGD`.

    Args:
        N: the training set size.
        steps: the number of nominal steps ``T`` (the SDE runs for time ``lr T``).
        batch: the batch size ``B`` of the SGD whose noise it carries.
        refine: substeps per step, a positive integer.

    >>> SDE(10, steps=5, refine=16).substeps
    16
    """

    _: KW_ONLY
    refine: int = 16

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "refine", count(self.refine, "refine"))

    @property
    def substeps(self) -> int:
        return self.refine

    def draws(self, rng, trials):
        return (rng.standard_normal((trials, self.steps * self.refine, self.N)),)

    def direction(self, problem, theta, rows, draws, lr):
        g = problem.gradients(theta, rows)
        mean = g.mean(1)
        N, B = self.N, self.batch
        if B == N:
            return mean
        scale = math.sqrt((N - B) / (B * (N - 1) * N))
        noise = scale * torch.einsum("gn,gnp->gp", draws[0].to(g.dtype), g - mean[:, None])
        return mean - math.sqrt(self.refine) * noise


@dataclass(frozen=True)
class NoisyGD(SDE):
    """Noisy GD (Li, Malladi and Arora, eq. 5): GD plus Gaussian noise of SGD's covariance.

    ``theta' = theta - lr grad l_N + lr xi`` with ``xi ~ N(0, Sigma(theta))``, as in
    :class:`SDE` with one substep: it differs from SGD only in that its noise is
    Gaussian.

    >>> NoisyGD(10, steps=5).refine
    1
    """

    refine: int = field(default=1, init=False)
