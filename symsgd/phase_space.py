"""Kunin et al.'s phase-space picture of heavy-ball SGD, and its exact discrete counterpart.

Kunin et al. ("Rethinking the limiting dynamics of SGD") model heavy-ball SGD
with weight decay, ``v <- beta v - g - wd theta``, ``theta <- theta + lr v``,
near a quadratic minimum with gradient noise ``C = sigma2 H / S`` by the
Ornstein-Uhlenbeck process (their eqs. 5-6, time ``t = lr * steps``)::

    d z = -A z dt + sqrt(2 D / kappa) dW,  z = (theta, v),
    A = [[0, -I], [2 (H + wd) / (lr (1 + beta)), 2 (1 - beta) / (lr (1 + beta)) I]],
    D = [[0, 0], [0, 2 (1 - beta) / (lr (1 + beta)) sigma2 H]],  kappa = S (1 - beta^2).

:class:`PhaseSpaceOU` gives that model: the continuous Lyapunov solution, the
decomposition ``A = (D + Q) U`` (modified loss ``z^T U z / 2``, stationary
probability current ``-Q U z p``), the instantaneous speed (their eq. 16), the
global displacement and diffusion exponent (eq. 17) and equipartition.
:class:`DiscretePhaseSpace` computes the same quantities exactly from the
discrete recursion (heavy ball with ``m = -v``) with :mod:`symsgd.lyapunov`.
Time is counted in steps in both; the OU process is evaluated at ``t = lr * steps``.

>>> import numpy as np
>>> ou = PhaseSpaceOU(0.01, 0.9, 0.0, np.diag([1.0, 2.0]), sigma2=1.0, batch=10)
>>> ex = DiscretePhaseSpace(0.01, 0.9, 0.0, np.diag([1.0, 2.0]), sigma2=1.0, batch=10)
>>> round(ou.speed() / ex.speed(), 3)
0.996
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg

from .errors import ShapeError
from .lyapunov import stationary_covariance
from .optim import HeavyBall, _as_hessian, _scalar

__all__ = ["PhaseSpaceOU", "DiscretePhaseSpace", "diffusion_exponent"]


def _validate(obj):
    object.__setattr__(obj, "lr", _scalar(obj.lr, "lr", low=0, low_open=True, high=None))
    object.__setattr__(obj, "momentum", _scalar(obj.momentum, "momentum", low=0, high=1))
    object.__setattr__(obj, "weight_decay",
                       _scalar(obj.weight_decay, "weight_decay", low=0, high=None))
    object.__setattr__(obj, "sigma2", _scalar(obj.sigma2, "sigma2", low=0, high=None))
    object.__setattr__(obj, "batch", _scalar(obj.batch, "batch", low=0, low_open=True, high=None))
    h = _as_hessian(obj.hessian)
    if np.ndim(h) != 2:
        raise ShapeError("the Hessian must be a square matrix")
    if np.linalg.eigvalsh(h).min() <= 0:
        raise ValueError("the Hessian must be positive definite (restrict to its image)")
    h.setflags(write=False)
    object.__setattr__(obj, "hessian", h)


def diffusion_exponent(steps, displacement):
    """Local log-log slope ``d log E||Delta_t||^2 / d log t`` (the anomalous-diffusion exponent).

    Args:
        steps: increasing positive times.
        displacement: ``E||theta_t - theta_0||^2`` at those times.

    Returns:
        The slopes at the same times (``np.gradient`` in log-log coordinates).

    >>> t = np.array([1.0, 2.0, 4.0, 8.0])
    >>> diffusion_exponent(t, 3 * t ** 1.5)
    array([1.5, 1.5, 1.5, 1.5])
    """
    return np.gradient(np.log(np.asarray(displacement, dtype=float)),
                       np.log(np.asarray(steps, dtype=float)))


@dataclass(frozen=True, eq=False)
class PhaseSpaceOU:
    """Kunin et al.'s continuous phase-space OU model of heavy-ball SGD.

    Args:
        lr: learning rate ``eta``.
        momentum: ``beta`` in ``[0, 1)``.
        weight_decay: ``lambda`` (>= 0).
        hessian: ``H`` (symmetric positive definite numpy array).
        sigma2: noise scale ``sigma^2`` in ``C = sigma^2 H / S``.
        batch: ``S``.

    >>> ou = PhaseSpaceOU(0.1, 0.5, 0.0, np.eye(1), sigma2=1.0, batch=1)
    >>> ou.drift()
    array([[ 0.        , -1.        ],
           [13.33333333,  6.66666667]])
    """

    lr: Any
    momentum: Any
    weight_decay: Any
    hessian: Any
    sigma2: Any = 1.0
    batch: Any = 1

    def __post_init__(self):
        _validate(self)

    @property
    def n(self) -> int:
        """Number of parameters."""
        return self.hessian.shape[0]

    @property
    def kappa(self) -> float:
        """The temperature constant ``S (1 - beta^2)``."""
        return self.batch * (1 - self.momentum ** 2)

    def drift(self):
        """The drift matrix ``A`` (eq. 6)."""
        n, lr, b = self.n, self.lr, self.momentum
        eye = np.eye(n)
        return np.block([[np.zeros((n, n)), -eye],
                         [2 / (lr * (1 + b)) * (self.hessian + self.weight_decay * eye),
                          2 * (1 - b) / (lr * (1 + b)) * eye]])

    def diffusion(self):
        """The diffusion matrix ``D`` (eq. 6)."""
        n, lr, b = self.n, self.lr, self.momentum
        d = np.zeros((2 * n, 2 * n))
        d[n:, n:] = 2 * (1 - b) / (lr * (1 + b)) * self.sigma2 * self.hessian
        return d

    def stationary_covariance(self):
        """``Cov(z) = B / kappa`` where ``A B + B A^T = 2 D`` (solved numerically).

        >>> ou = PhaseSpaceOU(0.1, 0.5, 0.0, np.eye(1), sigma2=1.0, batch=1)
        >>> np.round(ou.stationary_covariance(), 6) + 0.0
        array([[0.1     , 0.      ],
               [0.      , 1.333333]])
        """
        b = scipy.linalg.solve_continuous_lyapunov(self.drift(), 2 * self.diffusion())
        return (b + b.T) / 2 / self.kappa

    def decomposition(self):
        """``(Q, U)`` with ``A = (D + Q) U``, ``Q`` skew, ``U = B^{-1}`` (Kwon et al.).

        ``U / 2`` is the modified loss ``Psi(z) = z^T U z / 2`` (up to ``kappa``)
        and ``-Q U z p_ss`` the stationary probability current.

        >>> ou = PhaseSpaceOU(0.1, 0.5, 0.1, np.diag([1.0, 3.0]), sigma2=2.0, batch=4)
        >>> q, u = ou.decomposition()
        >>> bool(np.allclose(q, -q.T)) and bool(np.allclose((ou.diffusion() + q) @ u, ou.drift()))
        True
        """
        b = self.stationary_covariance() * self.kappa
        u = np.linalg.inv(b)
        q = self.drift() @ b - self.diffusion()
        return (q - q.T) / 2, (u + u.T) / 2

    def modified_loss(self):
        """The matrix ``U / 2`` of the modified loss ``Psi(theta, v)``."""
        return self.decomposition()[1] / 2

    def current(self):
        """The matrix ``-Q U`` of the stationary probability current ``J = -Q U z p``."""
        q, u = self.decomposition()
        return -q @ u

    def speed(self) -> float:
        """Instantaneous speed ``E||theta_{k+1} - theta_k||^2 = lr^2 tr Var(v)`` (eq. 16)."""
        return float(self.lr ** 2 * np.trace(self.stationary_covariance()[self.n:, self.n:]))

    def global_displacement(self, steps):
        """``E||theta_t - theta_0||^2`` at stationarity, ``t = lr * steps`` (eq. 17).

        Uses the stationary cross-covariance ``Cov(z_t, z_0) = e^{-A t} Cov(z)``.

        >>> ou = PhaseSpaceOU(0.1, 0.5, 0.0, np.eye(1), sigma2=1.0, batch=1)
        >>> float(ou.global_displacement([0])[0])
        0.0
        """
        cov, a, n = self.stationary_covariance(), self.drift(), self.n
        out = []
        for s in np.atleast_1d(steps):
            lagged = scipy.linalg.expm(-a * self.lr * float(s)) @ cov
            out.append(2 * np.trace(cov[:n, :n]) - 2 * np.trace(lagged[:n, :n]))
        return np.array(out)

    def energies(self):
        """``(potential, kinetic)``: ``E[(theta^T (H + wd) theta) / 2]`` and ``lr (1+beta)/4 E||v||^2``.

        Kunin et al.'s equipartition says they are equal at stationarity.

        >>> pot, kin = PhaseSpaceOU(0.1, 0.5, 0.2, np.eye(2), 1.0, 3).energies()
        >>> bool(np.isclose(pot, kin))
        True
        """
        cov, n = self.stationary_covariance(), self.n
        h = self.hessian + self.weight_decay * np.eye(n)
        potential = np.trace(h @ cov[:n, :n]) / 2
        kinetic = self.lr * (1 + self.momentum) / 4 * np.trace(cov[n:, n:])
        return float(potential), float(kinetic)


@dataclass(frozen=True, eq=False)
class DiscretePhaseSpace:
    """The exact discrete counterpart of :class:`PhaseSpaceOU`.

    Heavy-ball SGD ``v <- beta v - g - wd theta``, ``theta <- theta + lr v`` is
    :class:`~symsgd.optim.HeavyBall` with ``m = -v``; its stationary state
    covariance solves the discrete Lyapunov equation exactly.

    Args: as :class:`PhaseSpaceOU`.

    >>> ex = DiscretePhaseSpace(0.1, 0.5, 0.0, np.eye(1), sigma2=1.0, batch=1)
    >>> round(ex.speed(), 6)
    0.013793
    """

    lr: Any
    momentum: Any
    weight_decay: Any
    hessian: Any
    sigma2: Any = 1.0
    batch: Any = 1

    def __post_init__(self):
        _validate(self)

    @property
    def n(self) -> int:
        """Number of parameters."""
        return self.hessian.shape[0]

    @property
    def optimizer(self) -> HeavyBall:
        """The :class:`~symsgd.optim.HeavyBall` optimizer that this update is."""
        return HeavyBall(self.lr, self.momentum, self.weight_decay)

    @property
    def noise(self):
        """The gradient-noise covariance ``sigma2 H / S``."""
        return self.sigma2 * self.hessian / self.batch

    def stationary_covariance(self):
        """Exact stationary covariance of ``(theta, v)`` (``v = -m``).

        >>> ex = DiscretePhaseSpace(0.1, 0.5, 0.0, np.eye(1), sigma2=1.0, batch=1)
        >>> np.round(ex.stationary_covariance(), 6)
        array([[0.103448, 0.068966],
               [0.068966, 1.37931 ]])
        """
        full = stationary_covariance(self.optimizer, self.hessian, self.noise, full_state=True)
        n = self.n
        flip = np.concatenate([np.ones(n), -np.ones(n)])
        return full * flip[:, None] * flip[None, :]

    def speed(self) -> float:
        """Exact ``E||theta_{k+1} - theta_k||^2 = lr^2 tr Var(v)``."""
        n = self.n
        return float(self.lr ** 2 * np.trace(self.stationary_covariance()[n:, n:]))

    def global_displacement(self, steps):
        """Exact ``E||theta_t - theta_0||^2`` at stationarity: ``2 tr S_ww - 2 tr [A^t S]_ww``.

        >>> ex = DiscretePhaseSpace(0.1, 0.5, 0.0, np.eye(1), sigma2=1.0, batch=1)
        >>> round(float(ex.global_displacement([1])[0]), 6) == round(ex.speed(), 6)
        True
        """
        opt, n = self.optimizer, self.n
        full = stationary_covariance(opt, self.hessian, self.noise, full_state=True)
        a = opt.state_space(self.hessian)[0]
        steps = np.atleast_1d(np.asarray(steps, dtype=int))
        order = np.argsort(steps)
        out = np.empty(len(steps))
        power, done = np.eye(2 * n), 0
        for idx in order:
            power = np.linalg.matrix_power(a, int(steps[idx]) - done) @ power
            done = int(steps[idx])
            out[idx] = 2 * np.trace(full[:n, :n]) - 2 * np.trace((power @ full)[:n, :n])
        return out

    def energies(self):
        """``(potential, kinetic)`` as in :meth:`PhaseSpaceOU.energies`, exactly.

        Equipartition (potential = kinetic) still holds exactly for the discrete
        recursion, but both energies exceed the continuous ones at finite ``lr``.

        >>> pot, kin = DiscretePhaseSpace(0.5, 0.5, 0.0, np.eye(1), 1.0, 1).energies()
        >>> round(pot, 6), round(kin, 6)
        (0.3, 0.3)
        """
        cov, n = self.stationary_covariance(), self.n
        h = self.hessian + self.weight_decay * np.eye(n)
        potential = np.trace(h @ cov[:n, :n]) / 2
        kinetic = self.lr * (1 + self.momentum) / 4 * np.trace(cov[n:, n:])
        return float(potential), float(kinetic)
