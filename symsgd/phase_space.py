"""Kunin et al.'s phase-space picture of heavy-ball SGD, and its exact discrete counterpart.

Kunin et al. ("Rethinking the limiting dynamics of SGD") model heavy-ball SGD
with weight decay, ``v <- beta v - g - wd theta``, ``theta <- theta + lr v``,
near a quadratic minimum with Hessian ``H`` and per-sample gradient-noise
covariance ``Sigma`` (their Assumption 3: ``Sigma = sigma2 H``), batch ``S``,
by the Ornstein-Uhlenbeck process (their eqs. 5-6, time ``t = lr * steps``)::

    d z = -A z dt + sqrt(2 D / kappa) dW,  z = (theta, v),
    A = [[0, -I], [2 (H + wd) / (lr (1 + beta)), 2 (1 - beta) / (lr (1 + beta)) I]],
    D = [[0, 0], [0, 2 (1 - beta) / (lr (1 + beta)) Sigma]],  kappa = S (1 - beta^2).

:class:`PhaseSpaceOU` gives that model and :class:`DiscretePhaseSpace` the
same quantities computed exactly from the discrete recursion
``z_{t+1} = M z_t + noise`` (heavy ball with ``m = -v``, solved by
:mod:`symsgd.lyapunov`).  Both share one vocabulary, with ``B = kappa Cov(z)``:

* :meth:`~_PhaseSpace.drift` ``A`` and :meth:`~_PhaseSpace.diffusion` ``D``.
  Discretely ``A = (I - M) / lr``, so that ``E[z_{t+1} - z_t | z_t] = -lr A z_t``,
  and ``D = kappa (N / lr + lr A Cov(z) A^T) / 2`` (``N``: the noise covariance
  of one step); the discrete Lyapunov equation is then ``A B + B A^T = 2 D``
  exactly, as in continuous time.
* :meth:`~_PhaseSpace.decomposition` ``A = (D + Q) U`` (Kwon et al.) with
  ``U = B^{-1}`` (the modified loss ``z^T U z / 2``: the stationary density is
  ``exp(-kappa z^T U z / 2)``, exactly for Gaussian noise) and the skew part
  ``Q = (A B - B A^T) / 2``.  Discretely ``Q = -kappa (Cov(z_{t+1}, z_t) -
  Cov(z_t, z_{t+1})) / (2 lr)``: the antisymmetric lag-1 cross-covariance, the
  stationary probability flux, zero iff the chain is in detailed balance.
* :meth:`~_PhaseSpace.speed` (their eq. 16), :meth:`~_PhaseSpace.global_displacement`
  (eq. 17, from :meth:`~_PhaseSpace.lag_covariance`) and
  :meth:`~_PhaseSpace.energies` (equipartition).

Where the two agree: as ``lr -> 0`` at fixed momentum the stationary
covariance, the modified loss (in the coordinates ``(theta / sqrt(lr), v)``,
error ``O(sqrt(lr))``), the speed and the displacement converge to Kunin's.  The
velocity, though, stays a fast variable (it forgets in about
``(1 + beta) / (1 - beta)`` steps): the drift's velocity row is ``(1 + beta) / 2``
times Kunin's at every ``lr``, and so is the current ``Q`` when
``Sigma = sigma2 H``.  All of ``A, D, Q, U`` converge, at rate ``sqrt(lr)``, only
in the joint limit ``lr -> 0`` with ``1 - beta`` proportional to ``sqrt(lr)``
(fixed damping ratio), where the velocity is slow too.  Near the stability
edge the two differ arbitrarily.

>>> import numpy as np
>>> ou = PhaseSpaceOU(0.01, 0.9, 0.0, np.diag([1.0, 2.0]), sigma2=1.0, batch=10)
>>> ex = DiscretePhaseSpace(0.01, 0.9, 0.0, np.diag([1.0, 2.0]), sigma2=1.0, batch=10)
>>> round(ou.speed() / ex.speed(), 3)
0.996
>>> q, u = ex.decomposition()
>>> round(float(q[0, 2] / ou.decomposition()[0][0, 2]), 3)   # the current: (1 + beta) / 2
0.95
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import KW_ONLY, dataclass
from typing import Any

import numpy as np
import scipy.linalg

from ._sympify import no_text
from ._validate import _scalar, _symmetric
from .errors import InputTypeError, MatrixError, NonFiniteError, RangeError, ShapeError
from .lyapunov import stationary_covariance
from .optim import HeavyBall

__all__ = ["PhaseSpaceOU", "DiscretePhaseSpace", "diffusion_exponent"]


def _check_steps(steps, integer: bool) -> np.ndarray:
    """``steps`` as a 1-D float array of non-negative (integer, if asked) step counts."""
    try:
        arr = np.asarray(steps)
    except ValueError:
        raise ShapeError(f"steps must be a number or a 1-D sequence, got {steps!r}") from None
    if arr.dtype.kind not in "iuf":
        raise RangeError(f"steps must be numbers of steps, got {steps!r}")
    arr = arr.astype(float)
    if arr.ndim > 1:
        raise ShapeError(f"steps must be a number or a 1-D sequence, got shape {arr.shape}")
    arr = np.atleast_1d(arr)
    if not np.all(np.isfinite(arr)):
        raise NonFiniteError("steps contain NaN or infinity")
    if np.any(arr < 0):
        raise RangeError(f"steps must be >= 0, got {arr[arr < 0][0]:g}")
    if integer and np.any(arr != np.round(arr)):
        bad = arr[arr != np.round(arr)][0]
        raise RangeError(f"the discrete recursion needs whole numbers of steps, got {bad:g}")
    return arr


def _covariance(value, n: int, what: str) -> np.ndarray:
    """A symmetric PSD ``(n, n)`` float array (a number ``c`` means ``c I``), read-only."""
    c = np.asarray(no_text(value, what), dtype=float)
    c = c * np.eye(n) if c.ndim == 0 else c
    if c.shape != (n, n):
        raise ShapeError(f"{what} has shape {c.shape}, expected {(n, n)}")
    c = _symmetric(c, what)
    if n and np.linalg.eigvalsh(c).min() < -1e-10 * max(np.abs(c).max(), np.finfo(float).tiny):
        raise MatrixError(f"{what} must be positive semi-definite")
    c.setflags(write=False)
    return c


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
    return np.gradient(np.log(np.asarray(no_text(displacement, "displacement"), dtype=float)),
                       np.log(np.asarray(no_text(steps, "steps"), dtype=float)))


@dataclass(frozen=True, eq=False)
class _PhaseSpace(ABC):
    """What the continuous model and the exact recursion share: inputs and derived quantities.

    Args:
        lr: learning rate ``eta`` (> 0).
        momentum: ``beta`` in ``[0, 1)``.
        weight_decay: ``lambda`` (>= 0).
        hessian: ``H`` (symmetric positive definite numpy array).
        sigma2: ``sigma^2`` in Kunin's ``Sigma = sigma^2 H`` (default 1).
        batch: ``S`` (> 0); the minibatch gradient noise is ``Sigma / S``.
        sample_noise: ``Sigma`` itself, the covariance of one sample's gradient
            (symmetric PSD), instead of ``sigma2``.
    """

    lr: Any
    momentum: Any
    weight_decay: Any
    hessian: Any
    _: KW_ONLY
    sigma2: Any = None
    batch: Any = 1
    sample_noise: Any = None

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "lr", float(_scalar(self.lr, "lr", low=0, low_open=True, high=None)))
        set_(self, "momentum", float(_scalar(self.momentum, "momentum", low=0, high=1)))
        set_(self, "weight_decay",
             float(_scalar(self.weight_decay, "weight_decay", low=0, high=None)))
        set_(self, "batch", float(_scalar(self.batch, "batch", low=0, low_open=True, high=None)))
        h = _symmetric(np.asarray(no_text(self.hessian, "hessian"), dtype=float), "the Hessian")
        if np.linalg.eigvalsh(h).min() <= 0:
            raise MatrixError("the Hessian must be positive definite (restrict to its image)")
        h.setflags(write=False)
        set_(self, "hessian", h)
        if self.sample_noise is None:
            sigma2 = 1.0 if self.sigma2 is None else self.sigma2
            set_(self, "sigma2", float(_scalar(sigma2, "sigma2", low=0, high=None)))
            set_(self, "sample_noise", _covariance(self.sigma2 * h, self.n, "the noise"))
        elif self.sigma2 is not None:
            raise InputTypeError("give sigma2 (Sigma = sigma2 H) or sample_noise (Sigma), not both")
        else:
            set_(self, "sample_noise",
                 _covariance(self.sample_noise, self.n, "the sample gradient noise"))

    @property
    def n(self) -> int:
        """Number of parameters."""
        return self.hessian.shape[0]

    @property
    def kappa(self) -> float:
        """The temperature constant ``S (1 - beta^2)``.

        >>> PhaseSpaceOU(0.1, 0.5, 0.0, np.eye(2), batch=4).kappa
        3.0
        """
        return self.batch * (1 - self.momentum ** 2)

    @property
    def gradient_noise(self):
        """The minibatch gradient-noise covariance ``C = Sigma / S``.

        >>> DiscretePhaseSpace(0.1, 0.5, 0.0, np.diag([1.0, 2.0]), sigma2=3.0, batch=2).gradient_noise
        array([[1.5, 0. ],
               [0. , 3. ]])
        """
        return self.sample_noise / self.batch

    @abstractmethod
    def drift(self):
        """The drift matrix ``A`` (the mean phase-space velocity is ``-A z``)."""

    @abstractmethod
    def diffusion(self):
        """The diffusion matrix ``D``."""

    @abstractmethod
    def stationary_covariance(self):
        """The stationary covariance of ``z = (theta, v)``."""

    @abstractmethod
    def lag_covariance(self, steps):
        """``Cov(z_{t+s}, z_t) = E[z_{t+s} z_t^T]`` at stationarity, one ``(2n, 2n)`` per ``s``."""

    def decomposition(self):
        """``(Q, U)`` with ``A = (D + Q) U``, ``Q = (A B - B A^T) / 2`` skew, ``U = B^{-1}``.

        ``B = kappa Cov(z)``; ``U / 2`` is the modified loss ``Psi(z) = z^T U z / 2``
        and ``-Q U z p_ss`` the stationary probability current.

        >>> ou = PhaseSpaceOU(0.1, 0.5, 0.1, np.diag([1.0, 3.0]), sigma2=2.0, batch=4)
        >>> q, u = ou.decomposition()
        >>> bool(np.allclose(q, -q.T)) and bool(np.allclose((ou.diffusion() + q) @ u, ou.drift()))
        True
        >>> ex = DiscretePhaseSpace(0.1, 0.5, 0.1, np.diag([1.0, 3.0]), sigma2=2.0, batch=4)
        >>> q, u = ex.decomposition()
        >>> bool(np.allclose((ex.diffusion() + q) @ u, ex.drift()))
        True
        """
        b = self.kappa * self.stationary_covariance()
        a = self.drift()
        q = (a @ b - b @ a.T) / 2
        u = np.linalg.inv(b)
        return q, (u + u.T) / 2

    def modified_loss(self):
        """The matrix ``U / 2`` of the modified loss ``Psi(theta, v) = z^T (U / 2) z``.

        >>> ex = DiscretePhaseSpace(0.1, 0.5, 0.0, np.eye(1), sigma2=1.0, batch=1)
        >>> bool(np.allclose(ex.modified_loss(),
        ...                  np.linalg.inv(ex.kappa * ex.stationary_covariance()) / 2))
        True
        """
        return self.decomposition()[1] / 2

    def current(self):
        """The matrix ``-Q U`` of the stationary probability current ``J = -Q U z p``.

        It is the part of the drift ``-A z`` tangent to the level sets of the
        modified loss (``U Q U`` is skew).

        >>> j = PhaseSpaceOU(0.1, 0.5, 0.0, np.eye(1), sigma2=1.0, batch=1).current()
        >>> np.round(j, 6) + 0.0
        array([[  0.      ,   1.      ],
               [-13.333333,   0.      ]])
        """
        q, u = self.decomposition()
        return -q @ u

    def speed(self) -> float:
        """Instantaneous speed ``E||theta_{k+1} - theta_k||^2 = lr^2 tr Var(v)`` (eq. 16).

        >>> round(PhaseSpaceOU(0.1, 0.5, 0.0, np.eye(1), sigma2=1.0, batch=1).speed(), 6)
        0.013333
        """
        n = self.n
        return float(self.lr ** 2 * np.trace(self.stationary_covariance()[n:, n:]))

    def global_displacement(self, steps):
        """``E||theta_{t+s} - theta_t||^2`` at stationarity (eq. 17): ``2 tr Cov - 2 tr Cov_s``.

        Args:
            steps: lags ``s`` (a number or a 1-D sequence), in steps: whole
                numbers for :class:`DiscretePhaseSpace`, any ``s >= 0`` (time
                ``lr * s``) for :class:`PhaseSpaceOU`.

        Raises:
            RangeError: a negative lag, or a fractional one for the recursion.
            ShapeError, NonFiniteError: ``steps`` not 1-D, or not finite.

        >>> ex = DiscretePhaseSpace(0.1, 0.5, 0.0, np.eye(1), sigma2=1.0, batch=1)
        >>> bool(np.isclose(ex.global_displacement([1])[0], ex.speed()))
        True
        >>> float(PhaseSpaceOU(0.1, 0.5, 0.0, np.eye(1)).global_displacement(0)[0])
        0.0
        >>> ex.global_displacement([2.5])
        Traceback (most recent call last):
        ...
        symsgd.errors.RangeError: the discrete recursion needs whole numbers of steps, got 2.5
        """
        n = self.n
        cov = self.stationary_covariance()
        lagged = self.lag_covariance(steps)
        return 2 * np.trace(cov[:n, :n]) - 2 * np.trace(lagged[:, :n, :n], axis1=1, axis2=2)

    def energies(self):
        """``(potential, kinetic)``: ``E[theta^T (H + wd) theta] / 2``, ``lr (1+beta)/4 E||v||^2``.

        Kunin et al.'s equipartition says they are equal at stationarity; it
        holds exactly for the discrete recursion too, where both energies
        exceed the continuous ones at finite ``lr``.

        >>> pot, kin = PhaseSpaceOU(0.1, 0.5, 0.2, np.eye(2), sigma2=1.0, batch=3).energies()
        >>> bool(np.isclose(pot, kin))
        True
        >>> pot, kin = DiscretePhaseSpace(0.5, 0.5, 0.0, np.eye(1), sigma2=1.0, batch=1).energies()
        >>> round(pot, 6), round(kin, 6)
        (0.3, 0.3)
        """
        cov, n = self.stationary_covariance(), self.n
        h = self.hessian + self.weight_decay * np.eye(n)
        potential = np.trace(h @ cov[:n, :n]) / 2
        kinetic = self.lr * (1 + self.momentum) / 4 * np.trace(cov[n:, n:])
        return float(potential), float(kinetic)


@dataclass(frozen=True, eq=False)
class PhaseSpaceOU(_PhaseSpace):
    """Kunin et al.'s continuous phase-space OU model of heavy-ball SGD.

    Args:
        lr: learning rate ``eta``.
        momentum: ``beta`` in ``[0, 1)``.
        weight_decay: ``lambda`` (>= 0).
        hessian: ``H`` (symmetric positive definite numpy array).
        sigma2: noise scale ``sigma^2`` in ``Sigma = sigma^2 H`` (default 1).
        batch: ``S``.
        sample_noise: a general per-sample gradient-noise covariance ``Sigma``
            instead of ``sigma2 H``.

    >>> ou = PhaseSpaceOU(0.1, 0.5, 0.0, np.eye(1), sigma2=1.0, batch=1)
    >>> ou.drift()
    array([[ 0.        , -1.        ],
           [13.33333333,  6.66666667]])
    """

    def drift(self):
        """The drift matrix ``A`` (eq. 6)."""
        n, lr, b = self.n, self.lr, self.momentum
        eye = np.eye(n)
        return np.block([[np.zeros((n, n)), -eye],
                         [2 / (lr * (1 + b)) * (self.hessian + self.weight_decay * eye),
                          2 * (1 - b) / (lr * (1 + b)) * eye]])

    def diffusion(self):
        """The diffusion matrix ``D`` (eq. 6).

        >>> float(PhaseSpaceOU(0.1, 0.5, 0.0, np.eye(1), sigma2=3.0).diffusion()[1, 1])
        20.0
        """
        n, lr, b = self.n, self.lr, self.momentum
        d = np.zeros((2 * n, 2 * n))
        d[n:, n:] = 2 * (1 - b) / (lr * (1 + b)) * self.sample_noise
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

    def lag_covariance(self, steps):
        """``Cov(z_{t+s}, z_t) = e^{-A lr s} Cov(z)``; ``s >= 0`` need not be whole.

        >>> ou = PhaseSpaceOU(0.1, 0.5, 0.0, np.eye(1))
        >>> bool(np.allclose(ou.lag_covariance(0)[0], ou.stationary_covariance()))
        True
        """
        cov, a = self.stationary_covariance(), self.drift()
        return np.stack([scipy.linalg.expm(-a * self.lr * s) @ cov
                         for s in _check_steps(steps, integer=False)])


@dataclass(frozen=True, eq=False)
class DiscretePhaseSpace(_PhaseSpace):
    """The exact discrete counterpart of :class:`PhaseSpaceOU`.

    Heavy-ball SGD ``v <- beta v - g - wd theta``, ``theta <- theta + lr v`` is
    :class:`~symsgd.optim.HeavyBall` with ``m = -v``: the recursion
    ``z_{t+1} = M z_t + noise`` in ``z = (theta, v)`` with exact second
    moments from the discrete Lyapunov equation (any noise law with the given
    covariance; the modified loss is the stationary density's exponent when the
    noise is Gaussian).

    Args: as :class:`PhaseSpaceOU`.

    >>> ex = DiscretePhaseSpace(0.1, 0.5, 0.0, np.eye(1), sigma2=1.0, batch=1)
    >>> round(ex.speed(), 6)
    0.013793
    """

    @property
    def optimizer(self) -> HeavyBall:
        """The :class:`~symsgd.optim.HeavyBall` optimizer that this update is."""
        return HeavyBall(self.lr, self.momentum, weight_decay=self.weight_decay)

    def _flip(self):
        """``diag(I, -I)``: the change of coordinates between ``(w, m)`` and ``(theta, v)``."""
        return np.concatenate([np.ones(self.n), -np.ones(self.n)])

    def transition(self):
        """``(M, N)``: ``z_{t+1} = M z_t + noise`` in ``z = (theta, v)``, ``Cov(noise) = N``.

        >>> m, noise = DiscretePhaseSpace(0.1, 0.5, 0.0, np.eye(1)).transition()
        >>> m
        array([[ 0.9 ,  0.05],
               [-1.  ,  0.5 ]])
        >>> noise
        array([[0.01, 0.1 ],
               [0.1 , 1.  ]])
        """
        a, b = self.optimizer.state_space(self.hessian)
        f = self._flip()
        m = a * f[:, None] * f[None, :]
        fb = b * f[:, None]
        return m, fb @ self.gradient_noise @ fb.T

    def drift(self):
        """``A = (I - M) / lr``: ``E[z_{t+1} - z_t | z_t] = -lr A z_t`` (time ``lr * steps``).

        Written out, ``A = [[K, -beta I], [K / lr, (1 - beta) / lr I]]`` with
        ``K = H + wd``: Kunin's ``A`` has ``(0, -I)`` in the first row and the
        second row larger by ``2 / (1 + beta)``.

        >>> DiscretePhaseSpace(0.1, 0.5, 0.0, np.eye(1)).drift()
        array([[ 1. , -0.5],
               [10. ,  5. ]])
        """
        n, lr, b = self.n, self.lr, self.momentum
        k = self.hessian + self.weight_decay * np.eye(n)
        eye = np.eye(n)
        return np.block([[k, -b * eye], [k / lr, (1 - b) / lr * eye]])

    def diffusion(self):
        """``D = kappa (N / lr + lr A Cov(z) A^T) / 2``: injected noise plus discretization.

        With it, ``A B + B A^T = 2 D`` (``B = kappa Cov(z)``) is the discrete
        Lyapunov equation ``Cov = M Cov M^T + N`` rewritten.

        >>> ex = DiscretePhaseSpace(0.1, 0.5, 0.0, np.eye(1))
        >>> a, b = ex.drift(), ex.kappa * ex.stationary_covariance()
        >>> bool(np.allclose(a @ b + b @ a.T, 2 * ex.diffusion()))
        True
        """
        a, cov = self.drift(), self.stationary_covariance()
        d = self.kappa * (self.transition()[1] / self.lr + self.lr * a @ cov @ a.T) / 2
        return (d + d.T) / 2

    def stationary_covariance(self):
        """Exact stationary covariance of ``(theta, v)`` (``v = -m``).

        >>> ex = DiscretePhaseSpace(0.1, 0.5, 0.0, np.eye(1), sigma2=1.0, batch=1)
        >>> np.round(ex.stationary_covariance(), 6)
        array([[0.103448, 0.068966],
               [0.068966, 1.37931 ]])
        """
        full = stationary_covariance(self.optimizer, self.hessian, self.gradient_noise,
                                     full_state=True)
        f = self._flip()
        return full * f[:, None] * f[None, :]

    def lag_covariance(self, steps):
        """``Cov(z_{t+s}, z_t) = M^s Cov(z)`` exactly, for whole ``s >= 0``.

        >>> ex = DiscretePhaseSpace(0.1, 0.5, 0.0, np.eye(1))
        >>> m, cov = ex.transition()[0], ex.stationary_covariance()
        >>> bool(np.allclose(ex.lag_covariance([1])[0], m @ cov))
        True
        """
        s = _check_steps(steps, integer=True).astype(np.int64)
        m, cov = self.transition()[0], self.stationary_covariance()
        out = np.empty((len(s), 2 * self.n, 2 * self.n))
        power, done = np.eye(2 * self.n), 0
        for idx in np.argsort(s, kind="stable"):
            power = np.linalg.matrix_power(m, int(s[idx]) - done) @ power
            done = int(s[idx])
            out[idx] = power @ cov
        return out
