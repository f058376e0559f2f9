"""Exact discrete Lyapunov covariances of SGD and its variants, and what follows from them.

For an optimizer in state-space form ``z' = A z + B xi`` (:mod:`symsgd.optim`)
driven by gradient noise of covariance ``C``, the state covariance obeys

    Sigma_{t+1} = A Sigma_t A^T + B C B^T,

and the stationary covariance solves the discrete Lyapunov equation
``Sigma = A Sigma A^T + B C B^T`` exactly, at any learning rate inside the
stability region (Liu, Ziyin and Ueda; their Theorems 1-3 are special cases).

One file per job, their public names re-exported here:

* ``_kernel``: the per-eigenvalue-pair kernel ``Y(k1, k2)`` derived by SymPy
  from the optimizer's ``(A, B)``, in a numerically stable form (:func:`kernel`);
* ``_inputs``: validation and the choice of the symbolic or numeric route;
* ``_eigenbasis``: the numeric solve in the Hessian's eigenbasis, on numpy or
  torch through :mod:`symsgd._backends`;
* ``_symbolic``: exact closed forms and linear solves;
* ``_stationary``: :func:`stationary_covariance`, the front door of both;
* ``_continuous``: :func:`continuous_covariance` (the SDE limit);
* ``_finite_time``: :func:`covariance_at` after ``t`` steps;
* ``_self_consistent``: :func:`self_consistent_covariance` (state-dependent noise);
* ``_dense``: :func:`discrete_lyapunov`, a Schur / Bartels-Stewart solver for
  any stable ``A``, and :func:`lyapunov_residual`;
* ``_theory``: training error, escape efficiency, Bayesian learning rate,
  Kramers rate (Liu, Ziyin and Ueda, sections 4-6).

>>> import sympy
>>> from symsgd.optim import HeavyBall
>>> lr, mu, k, c = sympy.symbols('lr mu k c', positive=True)
>>> stationary_covariance(HeavyBall(lr, mu), k, c)
c*lr*(mu + 1)/(k*(mu - 1)*(k*lr - 2*mu - 2))
"""

from ._continuous import continuous_covariance
from ._dense import discrete_lyapunov, lyapunov_residual
from ._finite_time import covariance_at
from ._kernel import kernel
from ._self_consistent import self_consistent_covariance
from ._stationary import stationary_covariance
from ._theory import (bayes_kl, bayes_lr_equation, escape_efficiency,
                      escape_efficiency_continuous, kramers_rate, kramers_rate_continuous,
                      optimal_bayes_lr, optimal_bayes_lr_continuous, training_error,
                      training_error_continuous)

__all__ = [
    "stationary_covariance", "continuous_covariance", "covariance_at",
    "self_consistent_covariance", "discrete_lyapunov", "lyapunov_residual", "kernel",
    "training_error", "training_error_continuous", "escape_efficiency",
    "escape_efficiency_continuous", "bayes_kl", "bayes_lr_equation", "optimal_bayes_lr",
    "optimal_bayes_lr_continuous", "kramers_rate", "kramers_rate_continuous",
]
