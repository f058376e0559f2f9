"""Linear optimizers on a quadratic basin, as linear state-space systems.

Near a minimum the loss is ``w^T K w / 2`` and a stochastic gradient is
``g = K w + xi`` with noise ``xi`` of covariance ``C``.  Every optimizer here is
then a linear recursion on its state ``z`` (the weights ``w``, followed by the
momentum buffer ``m`` when there is one)::

    z' = A z + B xi

:meth:`Optimizer.state_space` returns ``(A, B)`` for a Hessian ``K`` given as a
number, a SymPy scalar, a numpy array or a SymPy matrix.  Weight decay ``wd``
adds ``wd * w`` to the gradient, i.e. replaces ``K`` by ``K + wd I`` in the
dynamics (the noise is unchanged).  :mod:`symsgd.lyapunov` turns ``(A, B)``
into covariances.

Conventions (all with ``g = K w + wd w + xi``):

* :class:`SGD`: ``w <- w - lr g``.
* :class:`HeavyBall` (Liu et al.; also torch's ``SGD(momentum=mu)``):
  ``m <- mu m + g``, ``w <- w - lr m``.
* :class:`Nesterov` (torch's ``nesterov=True``): ``m <- mu m + g``,
  ``w <- w - lr (g + mu m)``.
* :class:`QHM` (Ma and Yarats): ``m <- beta m + (1 - beta) g``,
  ``w <- w - lr ((1 - nu) g + nu m)``.
* :class:`Preconditioned`: heavy ball with a symmetric positive definite
  learning-rate matrix ``Lambda``: ``m <- mu m + g``, ``w <- w - Lambda m``.
  :func:`damped_newton`, :func:`natural_gradient` and :func:`adam_preconditioned`
  build the usual cases.

>>> import sympy
>>> lr, k = sympy.symbols('lr k', positive=True)
>>> A, B = HeavyBall(lr, sympy.Rational(1, 2)).state_space(k)
>>> A
Matrix([
[-k*lr + 1, -lr/2],
[        k,   1/2]])
>>> B.T
Matrix([[-lr, 1]])
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from dataclasses import KW_ONLY, dataclass, fields
from typing import Any

import numpy as np
import sympy

from ._sympify import no_text
from ._validate import _as_hessian, _scalar, _symmetric, _symmetric_sympy
from .errors import MatrixError, ShapeError, StabilityError

__all__ = [
    "Optimizer",
    "SGD",
    "HeavyBall",
    "Nesterov",
    "QHM",
    "Preconditioned",
    "damped_newton",
    "natural_gradient",
    "adam_preconditioned",
]


# ----------------------------------------------------------------------------
# helpers


def _fmt(x) -> str:
    """Short human form of a number for error messages."""
    return f"{float(x):.6g}"


def _bound(text: str, value: float) -> str:
    """The stability bound as its formula and its value (``'2 (1 + momentum) = 3.8'``, ``'2'``)."""
    return text if text == _fmt(value) else f"{text} = {_fmt(value)}"


def _matmul(a, b):
    """Matrix product of two matrices, ordinary product otherwise."""
    if getattr(a, "ndim", 0) == 2 or isinstance(a, sympy.MatrixBase):
        if getattr(b, "ndim", 0) == 2 or isinstance(b, sympy.MatrixBase):
            return a @ b
    return a * b


def _identity_like(k):
    """The identity of the same kind as ``k`` (1 for scalars)."""
    if isinstance(k, sympy.MatrixBase):
        return sympy.eye(k.rows)
    if isinstance(k, np.ndarray) and k.ndim == 2:
        return np.eye(k.shape[0])
    return sympy.Integer(1) if isinstance(k, sympy.Basic) else 1.0


def _assemble(blocks):
    """Assemble a block matrix from nested lists of scalars or matrices."""
    first = blocks[0][0]
    if isinstance(first, np.ndarray) and first.ndim == 2:
        return np.block(blocks)
    if isinstance(first, sympy.MatrixBase):
        return sympy.Matrix(sympy.BlockMatrix(blocks).as_explicit())
    if any(isinstance(x, sympy.Basic) for row in blocks for x in row):
        return sympy.Matrix(blocks)
    return np.array(blocks, dtype=float)


# ----------------------------------------------------------------------------
# base class


@dataclass(frozen=True)
class Optimizer(ABC):
    """A linear optimizer: base class of :class:`SGD`, :class:`HeavyBall`, ...

    Subclasses define :meth:`_blocks` (the state-space blocks as functions of the
    effective Hessian ``K + weight_decay I``) and :meth:`lr_bound` (the stability
    bound on ``lr * k`` for an eigenvalue ``k`` of the effective Hessian).

    >>> SGD(0.1).state_space(2.0)[0]
    array([[0.8]])
    """

    @property
    def state_blocks(self) -> int:
        """Number of state blocks: 1 for the weights alone, 2 with a momentum buffer.

        The state ``z`` has ``state_blocks * n`` coordinates for ``n`` weights.

        >>> SGD(0.1).state_blocks, HeavyBall(0.1, 0.9).state_blocks
        (1, 2)
        """
        return 1

    @property
    def has_matrix_lr(self) -> bool:
        """True for a matrix learning rate (a :class:`Preconditioned` with a matrix ``lr_matrix``).

        >>> SGD(0.1).has_matrix_lr, Preconditioned([[1.0, 0.0], [0.0, 0.5]]).has_matrix_lr
        (False, True)
        """
        return False

    @abstractmethod
    def _blocks(self, k, one):
        """``(A_blocks, B_blocks)`` as nested lists for effective Hessian ``k``."""

    @abstractmethod
    def lr_bound(self):
        """Largest ``lr * k`` (``k`` an eigenvalue of ``K + weight_decay``) that is stable.

        >>> HeavyBall(0.1, 0.5).lr_bound()
        3.0
        """

    @abstractmethod
    def _bound_text(self) -> str:
        """The bound as a formula in the hyperparameter names, for error messages."""

    def hyperparameters(self) -> dict:
        """The fields of the optimizer other than ``weight_decay``, in order.

        >>> QHM(0.1, 0.9, 0.7).hyperparameters()
        {'lr': 0.1, 'momentum': 0.9, 'nu': 0.7}
        """
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "weight_decay"}

    def effective_hessian(self, hessian):
        """``K + weight_decay * I`` for a validated Hessian ``K``.

        >>> SGD(0.1, weight_decay=0.5).effective_hessian(2.0)
        2.5
        """
        k = _as_hessian(hessian)
        if self.weight_decay == 0:
            return k
        return k + self.weight_decay * _identity_like(k)

    def state_space(self, hessian):
        """The matrices ``(A, B)`` of ``z' = A z + B xi`` for Hessian ``hessian``.

        Args:
            hessian: a number, SymPy scalar, square numpy array or square SymPy matrix.

        Returns:
            ``A`` of shape ``(s*n, s*n)`` and ``B`` of shape ``(s*n, n)`` (``s`` =
            :attr:`state_blocks`)
            (``n = 1`` for a scalar Hessian), numpy or SymPy like the input.

        >>> A, B = SGD(0.5).state_space(1.0)
        >>> float(A[0, 0]), float(B[0, 0])
        (0.5, -0.5)
        """
        k = self.effective_hessian(hessian)
        a_blocks, b_blocks = self._blocks(k, _identity_like(k))
        return _assemble(a_blocks), _assemble(b_blocks)

    def effective_lr(self):
        """The steady-state (zero-frequency) gain from gradient to step.

        A constant gradient ``g`` on a flat landscape makes the weights move by
        ``-effective_lr * g`` per step once the momentum buffer has settled;
        this is the learning rate of the continuous-time (SDE) limit.  Computed
        from the state-space blocks at ``K = 0``:
        ``-(B_w + A_wm (I - A_mm)^{-1} B_m)``.

        >>> import sympy
        >>> lr, mu = sympy.symbols('lr mu')
        >>> sympy.simplify(Nesterov(lr, mu).effective_lr())
        -lr/(mu - 1)
        """
        one = sympy.Integer(1) if any(isinstance(v, sympy.Basic)
                                      for v in self.hyperparameters().values()) else 1.0
        a, b = self._blocks(0 * one, one)
        gain = b[0][0]
        if self.state_blocks == 2:
            gain = gain + _matmul(a[0][1], b[1][0]) / (one - a[1][1])
        gain = -gain
        return sympy.simplify(gain) if isinstance(gain, sympy.Basic) else float(gain)

    def check_stable(self, eigenvalues) -> None:
        """Raise :class:`StabilityError` unless every ``lr * k`` lies in ``[0, lr_bound())``.

        Args:
            eigenvalues: eigenvalues of the Hessian ``K`` (weight decay is added here).

        >>> SGD(1.0).check_stable([1.0, 2.5])
        Traceback (most recent call last):
        ...
        symsgd.errors.StabilityError: unstable: lr * k_max = 2.5 is not below the stability bound 2 (SGD needs lr < 2 / k_max = 0.8)
        """
        k = np.asarray(no_text(eigenvalues, "eigenvalues"), dtype=float) + float(self.weight_decay)
        if k.size == 0:
            return
        lr = float(self.lr)
        wd = " (k_max includes weight_decay)" if self.weight_decay else ""
        if k.min() < -1e-12 * max(1.0, abs(k).max()):
            raise StabilityError(
                f"the Hessian has a negative eigenvalue {_fmt(k.min())}: no stationary "
                f"distribution (the minimum is a saddle){wd}")
        x = lr * k.max()
        bound = float(self.lr_bound())
        if not x < bound:
            raise StabilityError(
                f"unstable: lr * k_max = {_fmt(x)} is not below the stability bound "
                f"{_bound(self._bound_text(), bound)} ({type(self).__name__} needs "
                f"lr < {_fmt(bound)} / k_max = {_fmt(bound / k.max())}){wd}")


def _validate_common(opt):
    object.__setattr__(opt, "lr", _scalar(opt.lr, "lr", low=0, low_open=True, high=None))
    object.__setattr__(opt, "weight_decay",
                       _scalar(opt.weight_decay, "weight_decay", low=0, high=None))


def _validate_momentum(value, name="momentum"):
    return _scalar(value, name, low=0, high=1, high_open=True)


# ----------------------------------------------------------------------------
# the optimizers


@dataclass(frozen=True)
class SGD(Optimizer):
    """Plain SGD, ``w <- w - lr (K w + weight_decay w + xi)``.

    Args:
        lr: learning rate (> 0, or a SymPy expression).
        weight_decay: L2 coefficient added to the gradient (>= 0).

    >>> SGD(0.1).lr_bound()
    2.0
    """

    lr: Any
    _: KW_ONLY
    weight_decay: Any = 0

    def __post_init__(self):
        _validate_common(self)

    def _blocks(self, k, one):
        return [[one - self.lr * k]], [[-self.lr * one]]

    def lr_bound(self):
        return sympy.Integer(2) if isinstance(self.lr, sympy.Basic) else 2.0

    def _bound_text(self):
        return "2"


@dataclass(frozen=True)
class _Momentum(Optimizer):
    """A momentum method with a learning rate, a momentum and weight decay (two state blocks)."""

    lr: Any
    momentum: Any
    _: KW_ONLY
    weight_decay: Any = 0

    def __post_init__(self):
        _validate_common(self)
        object.__setattr__(self, "momentum", _validate_momentum(self.momentum))

    @property
    def state_blocks(self):
        return 2


@dataclass(frozen=True)
class HeavyBall(_Momentum):
    """Heavy-ball momentum: ``m <- momentum m + g``, ``w <- w - lr m``.

    Args:
        lr: learning rate (> 0).
        momentum: ``mu`` in ``[0, 1)``.
        weight_decay: L2 coefficient added to the gradient (>= 0).

    Stable iff ``0 <= lr k < 2 (1 + momentum)`` for every eigenvalue ``k``.

    >>> round(HeavyBall(0.1, 0.9).effective_lr(), 12)
    1.0
    """

    def _blocks(self, k, one):
        lr, mu = self.lr, self.momentum
        return ([[one - lr * k, -lr * mu * one], [k, mu * one]],
                [[-lr * one], [one]])

    def lr_bound(self):
        mu = self.momentum
        return 2 * (1 + mu) if isinstance(mu, sympy.Basic) else 2.0 * (1 + float(mu))

    def _bound_text(self):
        return "2 (1 + momentum)"


@dataclass(frozen=True)
class Nesterov(_Momentum):
    """Nesterov momentum in torch's convention.

    ``m <- momentum m + g``, ``w <- w - lr (g + momentum m)``.

    Args:
        lr: learning rate (> 0).
        momentum: ``mu`` in ``[0, 1)``.
        weight_decay: L2 coefficient added to the gradient (>= 0).

    Stable iff ``0 <= lr k < 2 (1 + mu) / (1 + 2 mu)``.

    >>> Nesterov(0.1, 0.5).lr_bound()
    1.5
    """

    def _blocks(self, k, one):
        lr, mu = self.lr, self.momentum
        return ([[one - lr * (1 + mu) * k, -lr * mu * mu * one], [k, mu * one]],
                [[-lr * (1 + mu) * one], [one]])

    def lr_bound(self):
        mu = self.momentum
        if isinstance(mu, sympy.Basic):
            return 2 * (1 + mu) / (1 + 2 * mu)
        return 2.0 * (1 + float(mu)) / (1 + 2 * float(mu))

    def _bound_text(self):
        return "2 (1 + momentum) / (1 + 2 momentum)"


@dataclass(frozen=True)
class QHM(Optimizer):
    """Quasi-hyperbolic momentum (Ma and Yarats).

    ``m <- momentum m + (1 - momentum) g``, ``w <- w - lr ((1 - nu) g + nu m)``.

    Args:
        lr: learning rate (> 0).
        momentum: ``beta`` in ``[0, 1)``.
        nu: interpolation in ``[0, 1]`` (0: plain SGD, 1: normalized heavy ball).
        weight_decay: L2 coefficient added to the gradient (>= 0).

    Stable iff ``0 <= lr k < 2 (1 + beta) / (1 + beta - 2 nu beta)``.

    >>> QHM(0.1, 0.9, 0.7).effective_lr()
    0.1
    """

    lr: Any
    momentum: Any
    nu: Any
    _: KW_ONLY
    weight_decay: Any = 0

    def __post_init__(self):
        _validate_common(self)
        object.__setattr__(self, "momentum", _validate_momentum(self.momentum))
        object.__setattr__(self, "nu", _scalar(self.nu, "nu", low=0, high=1, high_open=False))

    @property
    def state_blocks(self):
        return 2

    def _blocks(self, k, one):
        lr, beta, nu = self.lr, self.momentum, self.nu
        a = 1 - nu * beta
        return ([[one - lr * a * k, -lr * nu * beta * one], [(1 - beta) * k, beta * one]],
                [[-lr * a * one], [(1 - beta) * one]])

    def lr_bound(self):
        beta, nu = self.momentum, self.nu
        if isinstance(beta, sympy.Basic) or isinstance(nu, sympy.Basic):
            return 2 * (1 + beta) / (1 + beta - 2 * nu * beta)
        beta, nu = float(beta), float(nu)
        return 2.0 * (1 + beta) / (1 + beta - 2 * nu * beta)

    def _bound_text(self):
        return "2 (1 + momentum) / (1 + momentum - 2 nu momentum)"


def _as_lr_matrix(value):
    """Validate a learning-rate matrix: a positive scalar or a symmetric PD matrix."""
    if isinstance(value, (numbers.Real, sympy.Basic)) and not isinstance(value, sympy.MatrixBase):
        return _scalar(value, "lr_matrix", low=0, low_open=True, high=None)
    if isinstance(value, sympy.MatrixBase):
        value = _symmetric_sympy(value, "lr_matrix")
        if not value.free_symbols and not value.is_positive_definite:
            raise MatrixError("lr_matrix must be positive definite")
        return sympy.ImmutableMatrix(value)
    arr = _symmetric(np.asarray(no_text(value, "lr_matrix"), dtype=float), "lr_matrix")
    if not arr.size or np.linalg.eigvalsh(arr).min() <= 0:
        raise MatrixError("lr_matrix must be positive definite (and not empty)")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Preconditioned(Optimizer):
    """Heavy ball with a matrix learning rate: ``m <- mu m + g``, ``w <- w - Lambda m``.

    Args:
        lr_matrix: ``Lambda``, a positive scalar or a symmetric positive definite
            matrix (numpy or SymPy).  A scalar is the commuting (per-eigenvalue)
            case, e.g. ``lr / k`` for damped Newton on an eigenvalue ``k``.
        momentum: ``mu`` in ``[0, 1)`` (default 0: no momentum buffer).
        weight_decay: L2 coefficient added to the gradient (>= 0).

    Stable iff every eigenvalue of ``Lambda (K + weight_decay)`` is in ``[0, 2 (1 + mu))``.

    >>> import numpy as np
    >>> opt = Preconditioned(np.diag([1.0, 0.5]))
    >>> opt.state_space(np.diag([1.0, 2.0]))[0]
    array([[0., 0.],
           [0., 0.]])
    """

    lr_matrix: Any
    _: KW_ONLY
    momentum: Any = 0
    weight_decay: Any = 0

    def __post_init__(self):
        object.__setattr__(self, "lr_matrix", _as_lr_matrix(self.lr_matrix))
        object.__setattr__(self, "momentum", _validate_momentum(self.momentum))
        object.__setattr__(self, "weight_decay",
                           _scalar(self.weight_decay, "weight_decay", low=0, high=None))

    def __eq__(self, other):
        if type(other) is not Preconditioned:
            return NotImplemented
        same = np.array_equal if isinstance(self.lr_matrix, np.ndarray) else (lambda a, b: a == b)
        try:
            lr_same = bool(same(self.lr_matrix, other.lr_matrix))
        except (TypeError, ValueError):
            lr_same = False
        return lr_same and self.momentum == other.momentum and \
            self.weight_decay == other.weight_decay

    def __hash__(self):
        lr = self.lr_matrix.tobytes() if isinstance(self.lr_matrix, np.ndarray) else self.lr_matrix
        return hash((lr, self.momentum, self.weight_decay))

    @property
    def lr(self):
        """The learning-rate matrix (alias of ``lr_matrix``)."""
        return self.lr_matrix

    @property
    def is_scalar(self) -> bool:
        """True when ``lr_matrix`` is a scalar (the commuting case)."""
        return not isinstance(self.lr_matrix, (np.ndarray, sympy.MatrixBase))

    @property
    def has_matrix_lr(self) -> bool:
        """True when ``lr_matrix`` is a matrix (not the commuting case)."""
        return not self.is_scalar

    @property
    def state_blocks(self):
        return 1 if self.momentum == 0 else 2

    def hyperparameters(self):
        return {"lr_matrix": self.lr_matrix, "momentum": self.momentum}

    def state_space(self, hessian):
        k = self.effective_hessian(hessian)
        if not self.is_scalar:
            n = self.lr_matrix.shape[0]
            shape = k.shape if hasattr(k, "shape") else ()
            if shape != (n, n):
                raise ShapeError(f"lr_matrix has shape {(n, n)} but the Hessian has shape {shape}")
        return super().state_space(hessian)

    def _blocks(self, k, one):
        lam, mu = self.lr_matrix, self.momentum
        if isinstance(lam, np.ndarray) and not isinstance(one, np.ndarray):
            one = np.eye(lam.shape[0])
            k = k * one
        elif isinstance(lam, sympy.MatrixBase) and not isinstance(one, sympy.MatrixBase):
            one = sympy.eye(lam.rows)
            k = k * one
        lam_k = _matmul(lam, k)
        if self.state_blocks == 1:
            return [[one - lam_k]], [[-lam * one if self.is_scalar else -lam]]
        neg_lam = -lam * one if self.is_scalar else -lam
        return ([[one - lam_k, mu * neg_lam], [k, mu * one]], [[neg_lam], [one]])

    def effective_lr(self):
        """``Lambda / (1 - mu)``: the steady-state gain from gradient to step.

        >>> Preconditioned(0.5, momentum=0.5).effective_lr()
        1.0
        """
        lam = self.lr_matrix
        gain = lam / (1 - self.momentum) if self.is_scalar else lam * (1 / (1 - self.momentum))
        if isinstance(gain, sympy.Basic) and not isinstance(gain, sympy.MatrixBase):
            return sympy.simplify(gain)
        return float(gain) if self.is_scalar else gain

    def lr_bound(self):
        mu = self.momentum
        return 2 * (1 + mu) if isinstance(mu, sympy.Basic) else 2.0 * (1 + float(mu))

    def _bound_text(self):
        return "2 (1 + momentum)"

    def check_stable(self, eigenvalues) -> None:
        """Raise :class:`StabilityError` unless ``eig(Lambda (K + wd))`` lies in ``[0, 2 (1 + mu))``.

        Args:
            eigenvalues: eigenvalues of ``Lambda K`` (already including the matrix
                learning rate; weight decay must be included by the caller when
                ``lr_matrix`` is a matrix).

        >>> Preconditioned(1.0, momentum=0.5).check_stable([3.5])
        Traceback (most recent call last):
        ...
        symsgd.errors.StabilityError: unstable: max eig(Lambda K) = 3.5 is not below the stability bound 2 (1 + momentum) = 3
        """
        x = np.asarray(no_text(eigenvalues, "eigenvalues"), dtype=float)
        if self.is_scalar:
            x = float(self.lr_matrix) * (x + float(self.weight_decay))
        if x.size == 0:
            return
        if x.min() < -1e-12 * max(1.0, abs(x).max()):
            raise StabilityError(
                f"Lambda K has a negative eigenvalue {_fmt(x.min())}: no stationary distribution")
        bound = float(self.lr_bound())
        if not x.max() < bound:
            raise StabilityError(
                f"unstable: max eig(Lambda K) = {_fmt(x.max())} is not below the stability "
                f"bound {_bound(self._bound_text(), bound)}")


# ----------------------------------------------------------------------------
# named preconditioners


def _inverse(m, what: str, root: bool = False):
    """``m^{-1}`` (``m^{-1/2}`` with ``root``) of a positive definite scalar or symmetric matrix.

    >>> _inverse(np.diag([4.0, 1.0]), "fisher", root=True)
    array([[0.5, 0. ],
           [0. , 1. ]])
    """
    if isinstance(m, sympy.MatrixBase):
        inv = _symmetric_sympy(m, what).inv()
        return inv ** sympy.Rational(1, 2) if root else inv
    if isinstance(m, (numbers.Real, sympy.Basic)):
        m = _scalar(m, what, low=0, low_open=True)
        if isinstance(m, sympy.Basic):
            return 1 / sympy.sqrt(m) if root else 1 / m
        return 1 / math.sqrt(m) if root else 1 / m
    vals, vecs = np.linalg.eigh(_symmetric(np.asarray(no_text(m, what), dtype=float), what))
    if not vals.size or vals.min() <= 0:
        raise MatrixError(f"{what} must be positive definite")
    return (vecs * vals ** (-0.5 if root else -1.0)) @ vecs.T


def damped_newton(lr, hessian, *, momentum=0, weight_decay=0) -> Preconditioned:
    """Damped Newton's method: :class:`Preconditioned` with ``Lambda = lr K^{-1}``.

    Args:
        lr: the damping ``lambda`` (> 0).
        hessian: ``K`` (positive definite): scalar, numpy or SymPy matrix.
        momentum, weight_decay: as in :class:`Preconditioned`.

    >>> damped_newton(0.5, 2.0).lr_matrix
    0.25
    """
    lr = _scalar(lr, "lr", low=0, low_open=True)
    return Preconditioned(lr * _inverse(hessian, "the Hessian"), momentum=momentum,
                          weight_decay=weight_decay)


def natural_gradient(lr, fisher, *, momentum=0, weight_decay=0) -> Preconditioned:
    """Natural gradient descent: :class:`Preconditioned` with ``Lambda = lr F^{-1}``.

    Near a minimum Liu et al. take the Fisher matrix ``F = K Sigma K``, which
    depends on the stationary covariance; solve it with
    :func:`symsgd.lyapunov.self_consistent_covariance`.

    Args:
        lr: learning rate (> 0).
        fisher: ``F`` (positive definite): scalar, numpy or SymPy matrix.
        momentum, weight_decay: as in :class:`Preconditioned`.

    >>> natural_gradient(1.0, 4.0).lr_matrix
    0.25
    """
    lr = _scalar(lr, "lr", low=0, low_open=True)
    return Preconditioned(lr * _inverse(fisher, "fisher"), momentum=momentum,
                          weight_decay=weight_decay)


def adam_preconditioned(lr, grad_second_moment, *, momentum=0, weight_decay=0) -> Preconditioned:
    """Adam near a minimum as preconditioned SGD (Liu et al., Theorem 10).

    Adam's denominator ``sqrt(E[g^2])`` is approximated by the non-diagonal
    ``E[g g^T]^{1/2}``, so ``Lambda = lr E[g g^T]^{-1/2}``; near a minimum
    ``E[g g^T] = K Sigma K + C`` depends on the stationary covariance (solve it
    with :func:`symsgd.lyapunov.self_consistent_covariance`).

    Args:
        lr: learning rate (> 0).
        grad_second_moment: ``E[g g^T]`` (positive definite): scalar, numpy or SymPy.
        momentum, weight_decay: as in :class:`Preconditioned`.

    >>> adam_preconditioned(0.1, 4.0).lr_matrix
    0.05
    """
    lr = _scalar(lr, "lr", low=0, low_open=True)
    root_inv = _inverse(grad_second_moment, "grad_second_moment", root=True)
    return Preconditioned(lr * root_inv, momentum=momentum, weight_decay=weight_decay)
