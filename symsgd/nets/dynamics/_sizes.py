"""The fields shared by the dynamics on a whole training set (GDC, SDE, noisy GD, SVAG)."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from ...errors import RangeError
from .._checks import count
from ... import optim
from ._base import Dynamics, real

__all__ = ["Sized"]


@dataclass(frozen=True)
class Sized(Dynamics):
    """A dynamics on ``N`` training points for ``steps`` nominal steps, with the batch size
    ``B`` of the SGD it stands for (``1 <= B <= N``) and an optional ``weight_decay`` added
    to every gradient as ``weight_decay * theta``; typed errors otherwise."""

    N: int
    _: KW_ONLY
    steps: int
    batch: int = 1
    weight_decay: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "weight_decay", real(self.weight_decay, "weight_decay"))
        object.__setattr__(self, "N", count(self.N, "N"))
        object.__setattr__(self, "steps", count(self.steps, "steps"))
        object.__setattr__(self, "batch", count(self.batch, "batch"))
        if self.batch > self.N:
            raise RangeError(f"batch must be at most N = {self.N}, got {self.batch}")

    @property
    def T(self) -> int:
        return self.steps

    def optimizer(self, lr):
        return optim.SGD(lr / self.substeps, weight_decay=self.weight_decay)
