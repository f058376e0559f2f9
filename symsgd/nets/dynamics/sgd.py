"""SGD with any schedule of :mod:`symsgd.schedule` (GD included), plain or with momentum, and
SGD on batches drawn afresh with replacement at every step."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

import numpy as np

from ... import optim
from ...errors import InputTypeError
from ...schedule import BaseSchedule, gd
from ._base import Dynamics, mean_gradient, real, take
from ._sizes import Sized

__all__ = ["SGD", "GD", "FreshBatchSGD"]


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
        object.__setattr__(self, "weight_decay", real(self.weight_decay, "weight_decay"))
        _check_momentum(self)

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
        return _update_rule(self, lr)


def _check_momentum(dynamics) -> None:
    """Validate (and normalize) the momentum options of a frozen dynamics; typed errors."""
    object.__setattr__(dynamics, "momentum", real(dynamics.momentum, "momentum"))
    if not isinstance(dynamics.nesterov, bool):
        raise InputTypeError(f"nesterov must be True or False, got {dynamics.nesterov!r}")
    if dynamics.nu is not None:
        object.__setattr__(dynamics, "nu", real(dynamics.nu, "nu"))
        if dynamics.nesterov:
            raise InputTypeError("nu (quasi-hyperbolic momentum) and nesterov exclude "
                                 "each other")
    dynamics.optimizer(1.0)                        # the optimizer checks momentum < 1


def _update_rule(dynamics, lr):
    """The :mod:`symsgd.optim` rule of a dynamics' momentum options."""
    wd = dynamics.weight_decay
    if dynamics.nu is not None:
        return optim.QHM(lr, dynamics.momentum, dynamics.nu, weight_decay=wd)
    if dynamics.momentum == 0 and not dynamics.nesterov:
        return optim.SGD(lr, weight_decay=wd)
    kind = optim.Nesterov if dynamics.nesterov else optim.HeavyBall
    return kind(lr, dynamics.momentum, weight_decay=wd)


@dataclass(frozen=True)
class FreshBatchSGD(Sized):
    """SGD whose every step averages the gradients of ``batch`` points drawn uniformly
    *with replacement* from the ``N`` training points, independently of the other steps:
    the i.i.d. gradient noise (covariance ``C/B``) of the stationary pictures of
    :mod:`symsgd.lyapunov` and :mod:`symsgd.phase_space` (Kunin et al.).  Momentum options
    as for :class:`SGD`.

    Args:
        N: the training set size.
        steps: the number of steps.
        batch: the points per step (drawn with replacement; ``1 <= batch <= N``).
        momentum, nesterov, nu, weight_decay: as for :class:`SGD`.

    >>> FreshBatchSGD(100, steps=5, batch=4, momentum=0.9).optimizer(0.1)
    HeavyBall(lr=0.1, momentum=0.9, weight_decay=0.0)
    """

    _: KW_ONLY
    momentum: float = 0.0
    nesterov: bool = False
    nu: float | None = None

    def __post_init__(self):
        super().__post_init__()
        _check_momentum(self)

    @property
    def per_step(self) -> int:
        return self.batch

    def draws(self, rng, trials):
        return (rng.integers(self.N, size=(trials, self.steps, self.batch), dtype=np.int32),)

    def direction(self, problem, theta, rows, draws, lr):
        return mean_gradient(problem, theta, take(rows, draws[0]))

    def optimizer(self, lr):
        return _update_rule(self, lr)


def GD(N: int, *, steps: int, momentum: float = 0.0, nesterov: bool = False,
       nu: float | None = None, weight_decay: float = 0.0) -> SGD:
    """Full-batch gradient descent on ``N`` training points for ``steps`` steps (options as
    for :class:`SGD`).

    >>> print(GD(10, steps=3).schedule)
    gd(N=10, steps=3)
    """
    return SGD(gd(N, steps=steps), momentum=momentum, nesterov=nesterov, nu=nu,
               weight_decay=weight_decay)
