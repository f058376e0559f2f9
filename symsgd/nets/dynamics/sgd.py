"""SGD with any schedule of :mod:`symsgd.schedule` (GD included), plain or with momentum."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

import numpy as np

from ... import optim
from ...errors import InputTypeError
from ...schedule import BaseSchedule, gd
from ._base import Dynamics, mean_gradient, real, take

__all__ = ["SGD", "GD"]


@dataclass(frozen=True)
class SGD(Dynamics):
    """SGD on a schedule: at step ``t`` the mean gradient over the batch the schedule names.

    Each trial draws its own batch orders when the schedule reshuffles at random.
    With ``momentum`` the update is :class:`symsgd.optim.HeavyBall` (torch's
    ``SGD(momentum=mu)``), :class:`symsgd.optim.Nesterov` or, with ``nu``,
    :class:`symsgd.optim.QHM`; ``weight_decay`` adds ``weight_decay * theta`` to every
    gradient.  These are the update rules whose exact covariances
    :mod:`symsgd.lyapunov` computes.

    Args:
        schedule: a concrete schedule (:func:`~symsgd.sgd`, :func:`~symsgd.gd`, ...).
        momentum: the momentum ``mu`` in ``[0, 1)`` (QHM's ``beta``).
        nesterov: Nesterov's form of momentum.
        nu: quasi-hyperbolic momentum's ``nu`` in ``[0, 1]`` (``None``: not QHM).
        weight_decay: the coefficient of ``theta`` added to the gradient (>= 0).

    >>> from symsgd import sgd
    >>> SGD(sgd(4, batch=2)).T
    2
    """

    schedule: BaseSchedule
    _: KW_ONLY
    momentum: float = 0.0
    nesterov: bool = False
    nu: float | None = None
    weight_decay: float = 0.0

    def __post_init__(self):
        if not isinstance(self.schedule, BaseSchedule):
            raise InputTypeError(f"schedule must be a symsgd schedule, got "
                                 f"{type(self.schedule).__name__}")
        self.schedule._require_concrete("simulation")
        object.__setattr__(self, "momentum", real(self.momentum, "momentum"))
        object.__setattr__(self, "weight_decay", real(self.weight_decay, "weight_decay"))
        if not isinstance(self.nesterov, bool):
            raise InputTypeError(f"nesterov must be True or False, got {self.nesterov!r}")
        if self.nu is not None:
            object.__setattr__(self, "nu", real(self.nu, "nu"))
            if self.nesterov:
                raise InputTypeError("nu (quasi-hyperbolic momentum) and nesterov exclude "
                                     "each other")
        self.optimizer(1.0)                        # the optimizer checks momentum < 1

    @property
    def N(self) -> int:
        """The training set size."""
        return int(self.schedule.N)

    @property
    def T(self) -> int:
        return int(self.schedule.T)

    @property
    def per_step(self) -> int:
        return int(self.schedule.batch)

    def draws(self, rng, trials):
        return (np.ascontiguousarray(self.schedule.sample_batches(rng, trials)),)

    def direction(self, problem, theta, rows, draws, lr):
        return mean_gradient(problem, theta, take(rows, draws[0]))

    def optimizer(self, lr):
        wd = self.weight_decay
        if self.nu is not None:
            return optim.QHM(lr, self.momentum, self.nu, weight_decay=wd)
        if self.momentum == 0 and not self.nesterov:
            return optim.SGD(lr, weight_decay=wd)
        kind = optim.Nesterov if self.nesterov else optim.HeavyBall
        return kind(lr, self.momentum, weight_decay=wd)


def GD(N: int, *, steps: int, momentum: float = 0.0, nesterov: bool = False,
       nu: float | None = None, weight_decay: float = 0.0) -> SGD:
    """Full-batch gradient descent on ``N`` training points for ``steps`` steps (options as
    for :class:`SGD`).

    >>> print(GD(10, steps=3).schedule)
    gd(N=10, steps=3)
    """
    return SGD(gd(N, steps=steps), momentum=momentum, nesterov=nesterov, nu=nu,
               weight_decay=weight_decay)
