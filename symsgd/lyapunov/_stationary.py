"""The front door of the stationary covariance: symbolic or numeric, on a backend."""

from __future__ import annotations

from .._backends import get_backend
from ..errors import InputTypeError
from ..optim import Optimizer
from ._eigenbasis import _numeric
from ._inputs import _route_symbolic, _user_inputs
from ._symbolic import _symbolic


def stationary_covariance(optimizer: Optimizer, hessian, noise, *, full_state: bool = False,
                          backend: str = "numpy", device=None):
    """The exact stationary covariance of ``optimizer`` on the quadratic basin ``hessian``.

    Solves ``Sigma = A Sigma A^T + B C B^T`` for the optimizer's state space
    ``z' = A z + B xi`` at any learning rate inside the stability region (Liu,
    Ziyin and Ueda, Theorems 1-3 and Table 1 are special cases).  SymPy input
    gives exact closed forms; numeric input is solved in the Hessian's
    eigenbasis in ``O(n^3)`` on numpy or torch (float64).

    Accuracy (numeric route): relative residual ``||X - A X A^T - Q|| / ||X||``
    of order ``n eps`` however close to the stability edge; forward error at most
    ``n eps kappa``, ``kappa`` the sensitivity of the answer to the rounding of
    ``K`` (for SGD ``2 |lr k - 1| / (2 - lr k)``; see :mod:`symsgd.lyapunov._eigenbasis`).
    For a 1-D ``hessian`` of eigenvalues given exactly, a few ulps per entry.

    Args:
        optimizer: an optimizer from :mod:`symsgd.optim`.
        hessian: ``K``: a number or SymPy scalar (one eigen-direction), a 1-D
            array of eigenvalues (commuting fast path), a symmetric numpy array
            or tensor, or a SymPy matrix.
        noise: ``C``: the gradient-noise covariance, of the same kind (a scalar
            is ``c I``; with a 1-D ``hessian``, the noise eigenvalues in the same
            eigenbasis).
        full_state: return the covariance of the whole state ``(w, m)`` instead
            of the weights alone (for a 1-D ``hessian``: an array ``(n, s, s)``).
        backend: ``'numpy'`` or ``'torch'`` for numeric input (see
            :data:`symsgd._backends.BACKENDS`); the result is an array of that backend.
        device: the device of a torch result (``'cuda'``, ...); ``None``: the CPU.

    Returns:
        backend arrays for numeric inputs, SymPy (factored closed forms per
        eigenvalue when ``K`` and ``C`` are scalars or diagonal) otherwise.

    Raises:
        StabilityError: a learning rate outside the stability region (the
            message names the bound; decided exactly for numeric SymPy input),
            or noise along a flat direction.
        ShapeError, NonFiniteError, MatrixError: bad shapes, NaNs, non-symmetric
            Hessian or noise, noise that is not positive semi-definite.
        BackendError: an unknown backend or a device it cannot use.
        InputTypeError: symbolic hyperparameters with numeric arrays, symbolic
            input with a backend other than numpy, an ``optimizer`` that is not an
            :class:`~symsgd.optim.Optimizer`, or a string anywhere in ``hessian`` or
            ``noise`` (never parsed, not even ``'1.5'``).

    >>> import numpy as np
    >>> from symsgd.optim import HeavyBall, SGD
    >>> float(stationary_covariance(HeavyBall(1.0, 0.5), 1.0, 1.0))
    1.5
    >>> stationary_covariance(HeavyBall(1.0, 0.5), np.array([1.0, 2.0]), 1.0)
    array([1.5, 1.5])
    >>> import sympy
    >>> stationary_covariance(SGD(sympy.Rational(1, 2)), sympy.Integer(1), 1)
    1/3
    >>> stationary_covariance(SGD(sympy.Integer(3)), sympy.Integer(1), 1)
    Traceback (most recent call last):
    ...
    symsgd.errors.StabilityError: unstable: lr * k_max = 3 is not below the stability bound 2 (SGD needs lr < 2 / k_max = 2)
    """
    _user_inputs(optimizer, hessian=hessian, noise=noise)
    be = get_backend(backend, device=device)
    if _route_symbolic(optimizer, hessian, noise):
        if be.name != "numpy" or device is not None:
            raise InputTypeError(f"symbolic input is solved exactly by SymPy; backend={backend!r} "
                            "needs numeric hyperparameters and arrays")
        return _symbolic(optimizer, hessian, noise, full_state)
    return _numeric(optimizer, hessian, noise, full_state, be)
