"""The stationary covariance when the noise or the preconditioner depends on it."""

from __future__ import annotations

import numpy as np
import sympy

from .._validate import _as_hessian
from .._sympify import no_text
from ..errors import InputTypeError, StabilityError
from ._stationary import stationary_covariance

def self_consistent_covariance(build, hessian, *, initial=None, tol: float = 1e-13,
                               max_iter: int = 500):
    """Stationary covariance when the noise or the preconditioner depends on it.

    Solves ``Sigma = stationary_covariance(*build(Sigma), ...)`` where ``build``
    maps a weight covariance to ``(optimizer, noise)``: state-dependent noise
    such as ``C = c K Sigma K`` (Liu et al., section 4.7), or the natural
    gradient / Adam preconditioners built from ``Sigma``.

    Symbolic (a SymPy scalar ``hessian``): ``build`` receives a positive symbol
    and the positive roots of the resulting equation are returned as a list.
    Numeric: damped fixed-point iteration whose step is halved whenever the
    residual grows or the iterate leaves the stability region.

    Accuracy (numeric): the iteration stops when ``||F(S) - S|| <= tol ||F(S)||``;
    the distance to the fixed point is then at most ``||(I - J)^{-1}||`` times that
    step (``J`` the Jacobian of ``F`` there) plus the accuracy of the inner
    :func:`~symsgd.lyapunov.stationary_covariance`.

    Args:
        build: ``Sigma -> (optimizer, noise)``.
        hessian: ``K``: a SymPy scalar for the symbolic route, else a number,
            or numpy matrix (a SymPy matrix is refused
            with a :class:`TypeError`: apply the symbolic route per eigenvalue).
        initial: the starting covariance for the numeric route (default: ``I``
            scaled like the noise of ``build(I)``'s solution).
        tol: relative tolerance on ``||Sigma - F(Sigma)||``.
        max_iter: iteration limit.

    Raises:
        StabilityError: no convergence (e.g. the noise feedback is unstable).

    >>> import sympy
    >>> from symsgd.optim import SGD
    >>> lr, k, c, s = sympy.symbols('lr k c s', positive=True)
    >>> self_consistent_covariance(lambda S: (SGD(lr), 1 + c * k * S * k), k)
    [-lr/(k*(c*k*lr + k*lr - 2))]
    >>> import numpy as np
    >>> K = np.diag([1.0, 2.0])
    >>> S = self_consistent_covariance(lambda S: (SGD(0.1), 0.1 * K @ S @ K + np.eye(2)), K)
    >>> bool(np.allclose(S, stationary_covariance(SGD(0.1), K, 0.1 * K @ S @ K + np.eye(2))))
    True
    """
    no_text(hessian, "hessian"), no_text(initial, "initial")
    if not callable(build):
        raise InputTypeError(f"build must be a callable sigma -> (optimizer, noise), got "
                             f"{build!r}")
    if isinstance(hessian, sympy.MatrixBase):
        raise InputTypeError(
            "self_consistent_covariance takes a SymPy scalar (one eigen-direction, solved in "
            "closed form) or a numeric Hessian, not a SymPy matrix: apply it per eigenvalue, "
            "or pass a numpy array")
    if isinstance(hessian, sympy.Basic):
        s = sympy.Dummy("Sigma", positive=True)
        opt, noise = build(s)
        value = stationary_covariance(opt, hessian, noise)
        roots = sympy.solve(sympy.together(value - s).as_numer_denom()[0], s)
        return [sympy.factor(r) for r in roots
                if r != 0 and sympy.ask(sympy.Q.positive(r)) is not False]
    k = _as_hessian(hessian)
    n = 1 if np.ndim(k) == 0 else k.shape[0]

    def f(sigma):
        opt, noise = build(sigma if np.ndim(k) else float(sigma[0, 0]))
        return np.atleast_2d(stationary_covariance(opt, k, noise))

    sigma = np.eye(n) if initial is None else np.atleast_2d(np.asarray(initial, dtype=float))
    if initial is None:
        try:
            sigma = f(sigma)
        except StabilityError:
            pass
    step, best = 1.0, None
    for _ in range(max_iter):
        try:
            image = f(sigma)
            err = np.linalg.norm(image - sigma) / max(np.linalg.norm(image), 1e-300)
        except StabilityError:
            image, err = None, np.inf
        if best is not None and not err < best[1]:
            step /= 2
            if step < 1e-6:
                break
            sigma = best[0] + step * (best[2] - best[0])
            continue
        if err <= tol:
            return image if np.ndim(k) else float(image[0, 0])
        best = (sigma, err, image)
        sigma = sigma + step * (image - sigma)
        step = min(1.0, step * 1.5)
    raise StabilityError(
        "self-consistent covariance did not converge (the state-dependent noise or "
        "preconditioner may make the dynamics unstable)")

