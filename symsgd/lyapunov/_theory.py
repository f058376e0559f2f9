"""Quantities built on the exact covariances (Liu, Ziyin and Ueda, sections 4-6).

Each has a discrete (exact) version computed by the general machinery of
:mod:`symsgd.lyapunov` and a continuous-time (Mandt et al. / Zhu et al. /
Xie et al.) counterpart for comparison.  Re-exported by :mod:`symsgd.lyapunov`.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
import scipy.special
import sympy

from .._sympify import no_text
from .._validate import _scalar
from ..errors import RangeError, StabilityError
from ..optim import SGD, HeavyBall, Optimizer
from ._continuous import _continuous_modes, _from_modes, continuous_covariance
from ._finite_time import covariance_at
from ._inputs import _route_symbolic, _sympy_hessian, _sympy_scalar, _user_inputs
from ._stationary import stationary_covariance

__all__ = [
    "training_error",
    "training_error_continuous",
    "escape_efficiency",
    "escape_efficiency_continuous",
    "bayes_kl",
    "bayes_lr_equation",
    "optimal_bayes_lr",
    "optimal_bayes_lr_continuous",
    "kramers_rate",
    "kramers_rate_continuous",
]


def _half_trace(hessian, sigma):
    """``Tr[K Sigma] / 2`` for scalars, eigenvalue vectors, numpy or SymPy matrices."""
    if isinstance(sigma, sympy.MatrixBase):
        return sympy.factor((_sympy_hessian(hessian) * sigma).trace() / 2)
    if isinstance(sigma, sympy.Basic):
        return sympy.factor(hessian * sigma / 2)
    k = np.asarray(hessian, dtype=float)
    if k.ndim <= 1:
        return float(np.sum(k * sigma) / 2)
    return float(np.trace(k @ sigma) / 2)


def training_error(optimizer: Optimizer, hessian, noise):
    """Expected training loss ``E[w^T K w / 2] = Tr[K Sigma] / 2`` at stationarity (Theorem 5).

    Args:
        optimizer, hessian, noise: as in :func:`symsgd.lyapunov.stationary_covariance`
            (``K`` here is the loss Hessian, without weight decay).

    >>> import sympy
    >>> from symsgd.optim import SGD
    >>> lr, k, c = sympy.symbols('lr k c', positive=True)
    >>> training_error(SGD(lr), k, c)
    -c*lr/(2*(k*lr - 2))
    """
    return _half_trace(hessian, stationary_covariance(optimizer, hessian, noise))


def training_error_continuous(optimizer: Optimizer, hessian, noise):
    """Continuous-time counterpart of :func:`training_error` (Mandt et al.).

    >>> import sympy
    >>> from symsgd.optim import SGD
    >>> lr, k, c = sympy.symbols('lr k c', positive=True)
    >>> training_error_continuous(SGD(lr), k, c)
    c*lr/4
    """
    return _half_trace(hessian, continuous_covariance(optimizer, hessian, noise))


def escape_efficiency(optimizer: Optimizer, hessian, noise, steps):
    """Escaping efficiency ``E_d(t) = E[L(w_t)] - L(w_0)`` from the minimum (Theorem 7).

    Computed exactly from the finite-time covariance started at ``w_0 = 0``.

    Args:
        optimizer, hessian, noise: as in :func:`symsgd.lyapunov.covariance_at`.
        steps: number of steps ``t`` (integer or SymPy symbol).

    >>> from symsgd.optim import SGD
    >>> escape_efficiency(SGD(0.5), 1.0, 1.0, 1)
    0.125
    """
    return _half_trace(hessian, covariance_at(optimizer, hessian, noise, steps))


def escape_efficiency_continuous(optimizer: Optimizer, hessian, noise, time):
    """Continuous-time escaping efficiency ``E_c(t)`` (Zhu et al.), time in steps.

    The OU process ``dw = -L K w dt + L C^{1/2} dW`` from ``w = 0`` (``L`` the
    effective learning rate, scalar or matrix) has covariance
    ``Sigma(t) = Sigma_inf - exp(-L K t) Sigma_inf exp(-L K t)^T``; in the
    eigenbasis of ``K`` (scalar ``L``) ``Sigma_ij(t) = L C_ij (1 - exp(-L (k_i +
    k_j) t)) / (k_i + k_j)``, evaluated without cancellation for small ``t``.

    Args:
        optimizer: an optimizer of :mod:`symsgd.optim`.
        hessian, noise: as in :func:`symsgd.lyapunov.stationary_covariance`
            (SymPy matrices included).
        time: ``t >= 0`` (number or SymPy expression).

    >>> import sympy
    >>> from symsgd.optim import SGD
    >>> lr, k, c, t = sympy.symbols('lr k c t', positive=True)
    >>> escape_efficiency_continuous(SGD(lr), k, c, t)
    c*lr*(1 - exp(-2*k*lr*t))/4
    >>> escape_efficiency_continuous(SGD(lr), sympy.diag(k, 2 * k), sympy.eye(2), t)
    lr*(2 - exp(-2*k*lr*t) - exp(-4*k*lr*t))/4
    """
    _user_inputs(optimizer, hessian=hessian, noise=noise, time=time)
    if _route_symbolic(optimizer, hessian, noise, time):
        t = _sympy_scalar(time, "time")
        k = _sympy_hessian(hessian)
        inf = continuous_covariance(optimizer, k, noise)
        lam = optimizer.effective_lr()
        if isinstance(k, sympy.MatrixBase):
            lam = sympy.Matrix(lam) if optimizer.has_matrix_lr else lam
            decay = (-lam * optimizer.effective_hessian(k) * t).exp()
            value = (k * (inf - decay * inf * decay.T)).trace() / 2
        else:
            value = k * inf * (1 - sympy.exp(-2 * lam * optimizer.effective_hessian(k) * t)) / 2
        return sympy.factor_terms(sympy.expand(value))
    time = float(_scalar(time, "time", low=0))
    s, v, vecs, c_hat = _continuous_modes(optimizer, hessian, noise)

    def decayed(pair):
        x = pair * time
        with np.errstate(divide="ignore", invalid="ignore"):
            return time * np.where(x == 0, 1.0, -np.expm1(-x) / np.where(x == 0, 1.0, x))

    return _half_trace(hessian, _from_modes(s, v, vecs, c_hat, decayed))


def bayes_kl(optimizer: Optimizer, hessian, noise, n_data):
    """``KL(q || p)`` between SGD's stationary Gaussian ``q`` and the posterior ``p``.

    The posterior is ``N(0, (N K)^{-1})`` (Liu et al., eq. 15):
    ``KL = (N Tr[K Sigma] - ln det(N K Sigma) - D) / 2``.

    Args:
        optimizer, hessian, noise: as in :func:`symsgd.lyapunov.stationary_covariance`.
        n_data: ``N``, the number of data points.

    >>> from symsgd.optim import SGD
    >>> round(bayes_kl(SGD(0.1), 1.0, 10.0, 100), 6)
    23.834131
    """
    _user_inputs(optimizer, hessian=hessian, noise=noise, n_data=n_data)
    sigma = stationary_covariance(optimizer, hessian, noise)
    if isinstance(sigma, sympy.MatrixBase):
        m = n_data * _sympy_hessian(hessian) * sigma
        return (m.trace() - sympy.log(m.det()) - m.rows) / 2
    if isinstance(sigma, sympy.Basic):
        m = n_data * hessian * sigma
        return (m - sympy.log(m) - 1) / 2
    k = np.asarray(hessian, dtype=float)
    if k.ndim <= 1:
        m = n_data * np.atleast_1d(k) * np.atleast_1d(sigma)
        return float(np.sum(m - np.log(m) - 1) / 2)
    m = n_data * k @ sigma
    _, logdet = np.linalg.slogdet(m)
    return float((np.trace(m) - logdet - len(k)) / 2)


def _minibatch_kl_terms(lr, k, n_data, batch, momentum, continuous=False):
    """Per-eigenvalue KL term with minibatch noise ``C = (N - S)/(N S) K`` (SymPy)."""
    opt = SGD(lr) if momentum == 0 else HeavyBall(lr, momentum)
    c = (n_data - batch) / (n_data * batch) * k
    sigma = (continuous_covariance if continuous else stationary_covariance)(opt, k, c)
    m = n_data * k * sigma
    return (m - sympy.log(m) - 1) / 2


def bayes_lr_equation(eigenvalues, n_data, batch, lr, *, momentum=0):
    """``d KL / d lr`` for minibatch noise ``C = (N - S)/(N S) K`` (Theorem 6), as SymPy.

    The optimal Bayesian learning rate is a root of this expression; it is
    derived from the exact stationary covariance, not typed in.

    Args:
        eigenvalues: the Hessian eigenvalues (SymPy symbols or numbers).
        n_data, batch: ``N`` and ``S``.
        lr: the learning-rate symbol.
        momentum: heavy-ball momentum (default 0: SGD).

    >>> import sympy
    >>> lr, k, N, S = sympy.symbols('lr k N S', positive=True)
    >>> sympy.factor(bayes_lr_equation([k], N, S, lr))
    (N*k*lr - 2*S)/(S*lr*(k*lr - 2)**2)
    """
    for name, value in (("eigenvalues", eigenvalues), ("n_data", n_data), ("batch", batch),
                        ("lr", lr), ("momentum", momentum)):
        no_text(value, name)
    return sum(sympy.diff(_minibatch_kl_terms(lr, k, n_data, batch, momentum), lr)
               for k in eigenvalues)


def _solve_lr(eigenvalues, n_data, batch, momentum, continuous):
    for name, value in (("eigenvalues", eigenvalues), ("n_data", n_data), ("batch", batch),
                        ("momentum", momentum)):
        no_text(value, name)
    ks = np.asarray(eigenvalues, dtype=float)
    if ks.size == 0 or ks.min() <= 0:
        raise RangeError("the Hessian eigenvalues must be positive")
    n_data = _scalar(n_data, "n_data", low=0, low_open=True, high=None)
    batch = _scalar(batch, "batch", low=0, low_open=True, high=None)
    if not batch < n_data:
        raise RangeError(f"need 0 < batch < n_data, got batch={batch}, n_data={n_data}")
    lr = sympy.Symbol("lr", positive=True)
    k = sympy.Symbol("k", positive=True)
    term = sympy.diff(_minibatch_kl_terms(lr, k, n_data, batch, momentum, continuous), lr)
    f = sympy.lambdify((lr, k), term, "numpy")
    upper = 2 * (1 + momentum) / ks.max() * (1 - 1e-12)
    if continuous:
        upper = 1e6 / ks.min()

    def g(x):
        return float(np.sum(f(x, ks)))

    low = upper * 1e-12
    if not g(low) < 0 < g(upper):
        raise StabilityError("no optimal learning rate inside the stability region")
    return scipy.optimize.brentq(g, low, upper, xtol=1e-15, rtol=1e-13)


def optimal_bayes_lr(eigenvalues, n_data, batch, *, momentum=0) -> float:
    """The learning rate minimizing ``KL(q || posterior)`` (Theorem 6), solved numerically.

    Args:
        eigenvalues: the Hessian eigenvalues (positive).
        n_data, batch: ``N`` and ``S`` (``0 < S < N``).
        momentum: heavy-ball momentum (default 0).

    >>> round(optimal_bayes_lr([1.0], 1000, 10), 6)
    0.02
    """
    return _solve_lr(eigenvalues, n_data, batch, momentum, continuous=False)


def optimal_bayes_lr_continuous(eigenvalues, n_data, batch, *, momentum=0) -> float:
    """Continuous-time counterpart of :func:`optimal_bayes_lr` (Mandt et al.).

    Equals ``2 S (1 - mu) D / ((N - S) Tr K)``; Mandt et al.'s ``2 S D / (N Tr K)``
    is its ``S << N`` form.

    >>> round(optimal_bayes_lr_continuous([1.0], 1000, 10), 6)
    0.020202
    """
    return _solve_lr(eigenvalues, n_data, batch, momentum, continuous=True)


def _kramers(lr, k_a, k_b, delta_loss, batch, l, discrete):
    """Shared Kramers-rate formula (see :func:`kramers_rate`), with its arguments checked."""
    lr = _scalar(lr, "lr", low=0, low_open=True)
    k_a = _scalar(k_a, "k_a", low=0, low_open=True)
    k_b = _scalar(k_b, "k_b (the curvature at the barrier top)", high=0)
    delta_loss = _scalar(delta_loss, "delta_loss", low=0, low_open=True)
    batch = _scalar(batch, "batch", low=0, low_open=True)
    l = _scalar(l, "l", low=0, high=1, high_open=False)
    x = lr * k_a
    if discrete and not getattr(x, "free_symbols", None) and not bool(x < 2):
        raise StabilityError(f"lr * k_a = {float(x):.6g} must be < 2 "
                             "(no stationary state in the well)")
    sym = any(isinstance(x, sympy.Basic) for x in (lr, k_a, k_b, delta_loss, batch, l))
    lib_exp, lib_sqrt, lib_erf, pi = ((sympy.exp, sympy.sqrt, sympy.erf, sympy.pi) if sym else
                                      (np.exp, np.sqrt, scipy.special.erf, np.pi))
    kb = abs(k_b)
    factor = (1 - lr * k_a / 2) if discrete else 1
    exponent = -2 * batch * delta_loss / lr * (l * factor / k_a + (1 - l) / kb)
    rate = kb / (2 * pi) * lib_exp(exponent)
    if discrete:
        z = lib_sqrt(batch * (2 - lr * k_a) * delta_loss / (2 * lr * k_a))
        rate = rate * lib_sqrt((2 - lr * k_a) / 2) / lib_erf(z)
    return rate if sym else float(rate)


def kramers_rate(lr, k_a, k_b, delta_loss, batch, *, l=0.5):
    """Approximate Kramers escape rate of discrete SGD from a minimum (Theorem 9, corrected).

    Follows Liu et al.'s derivation with minibatch noise ``C = k_a / S``: the
    probability of the well is the exact integral of the discrete stationary
    Gaussian (variance ``lr / (S (2 - lr k_a))``) over ``|w| < sqrt(dL / k_a)``,
    the temperature at the minimum is raised to
    ``T_a = lr k_a / (2 S (1 - lr k_a / 2))``, and the rate is the current over
    the barrier divided by the well's probability::

        gamma = |k_b| / (2 pi) sqrt((2 - lr k_a) / 2) / erf(z)
                * exp(-2 S dL / lr (l (1 - lr k_a / 2) / k_a + (1 - l) / |k_b|)),
        z = sqrt(S (2 - lr k_a) dL / (2 lr k_a)).

    This is a heuristic (an Arrhenius-type approximation), accurate at best up
    to a constant factor.  The printed eq. (23) differs from its own derivation
    in the prefactor (it has ``sqrt(2 / (2 - lr k_a)) erf(z')`` with
    ``z'^2 = 2 z^2``).  As ``lr -> 0`` this rate tends to ``exp(S l dL)`` times
    :func:`kramers_rate_continuous`, not to it: the raised temperature shifts the
    exponent by ``S l dL`` (true of eq. 23 as well).

    Args:
        lr: learning rate; k_a: curvature at the minimum; k_b: curvature at the
        barrier top (negative); delta_loss: barrier height; batch: ``S``;
        l: fraction of the path with curvature ``k_a``.

    Raises:
        StabilityError: ``lr * k_a >= 2`` (no stationary distribution in the well).
        RangeError: ``lr, k_a, delta_loss, batch <= 0``, ``k_b >= 0`` or ``l``
            outside ``[0, 1]`` (numbers only: symbols are taken as they are).

    >>> round(kramers_rate(1.0, 1.0, -1.0, 0.5, 1), 6)
    0.102132
    >>> kramers_rate(2.5, 1.0, -1.0, 0.5, 1)
    Traceback (most recent call last):
    ...
    symsgd.errors.StabilityError: lr * k_a = 2.5 must be < 2 (no stationary state in the well)
    """
    return _kramers(lr, k_a, k_b, delta_loss, batch, l, discrete=True)


def kramers_rate_continuous(lr, k_a, k_b, delta_loss, batch, *, l=0.5):
    """Continuous-time Kramers rate (Xie et al., Liu et al. eq. 24).

    ``gamma_c = |k_b| / (2 pi) exp(-2 S dL / lr (l / k_a + (1 - l) / |k_b|))``.

    >>> round(kramers_rate_continuous(1.0, 1.0, -1.0, 0.5, 1), 6)
    0.05855
    """
    return _kramers(lr, k_a, k_b, delta_loss, batch, l, discrete=False)
