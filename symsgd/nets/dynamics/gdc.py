"""GDC: gradient descent on ``l + l_C``, Tenka's Corollary 1 regularizer (section C.4)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch.func import grad, vmap

from ...errors import RangeError
from ._base import mean_gradient
from ._sizes import Sized

__all__ = ["GDC"]


@dataclass(frozen=True)
class GDC(Sized):
    """Gradient descent on the training loss plus ``c * lr * tr C_hat(theta)``.

    ``tr C_hat = sum_i |g_i - g_bar|^2 / (N - 1)`` over the training set is the
    unbiased estimator of ``tr C`` (the mean of Tenka's ``|g_x - g_y|^2 / 2``
    over all pairs), and ``c = (N - B) / (4 N B)``: with it GD matches the
    expected test loss and weights of SGD with batch ``B`` to order ``eta^2``
    (Corollary 1, with the coefficient corrected in ``docs/results.md``).  Its
    gradient is taken by differentiating through the per-sample gradients.

    Args:
        N: the training set size (at least 2).
        steps: the number of GD steps.
        batch: the batch size ``B`` of the SGD it emulates.

    >>> GDC(10, steps=10).coefficient
    0.225
    """

    def __post_init__(self):
        super().__post_init__()
        if self.N < 2:
            raise RangeError("GDC needs N >= 2 points to estimate the gradient covariance")

    @property
    def coefficient(self) -> float:
        """``c = (N - B) / (4 N B)``."""
        return (self.N - self.batch) / (4 * self.N * self.batch)

    def draws(self, rng, trials):
        return (np.zeros((trials, self.steps, 0)),)

    def direction(self, problem, theta, rows, draws, lr):
        per_sample = grad(problem.sample_loss)
        in_rows = (0,) * len(rows)
        N = self.N

        def trace(th, *rs):
            g = vmap(per_sample, in_dims=(None,) + in_rows)(th, *rs)
            return ((g - g.mean(0)) ** 2).sum() / (N - 1)

        regularizer = vmap(grad(trace), in_dims=(0,) + in_rows)(theta, *rows)
        return mean_gradient(problem, theta, rows) + self.coefficient * lr * regularizer
