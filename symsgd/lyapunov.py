"""Exact discrete Lyapunov covariances of SGD and its variants, and what follows from them.

The solvers live in :mod:`symsgd._lyapunov_core` (stationary, finite-time,
self-consistent and continuous-time covariances; a dense Schur solver; a torch
backend) and the derived quantities in :mod:`symsgd._lyapunov_theory`
(training error, escape efficiency, Bayesian learning rate, Kramers rate);
this module is their public face.

>>> import sympy
>>> from symsgd.optim import HeavyBall
>>> lr, mu, k, c = sympy.symbols('lr mu k c', positive=True)
>>> stationary_covariance(HeavyBall(lr, mu), k, c)
c*lr*(mu + 1)/(k*(mu - 1)*(k*lr - 2*mu - 2))
"""

from ._lyapunov_core import (continuous_covariance, covariance_at, discrete_lyapunov, kernel,
                             lyapunov_residual, self_consistent_covariance,
                             stationary_covariance, stationary_covariance_torch)
from ._lyapunov_theory import (bayes_kl, bayes_lr_equation, escape_efficiency,
                               escape_efficiency_continuous, kramers_rate,
                               kramers_rate_continuous, optimal_bayes_lr,
                               optimal_bayes_lr_continuous, training_error,
                               training_error_continuous)

__all__ = [
    "stationary_covariance", "continuous_covariance", "covariance_at",
    "self_consistent_covariance", "discrete_lyapunov", "lyapunov_residual", "kernel",
    "stationary_covariance_torch",
    "training_error", "training_error_continuous", "escape_efficiency",
    "escape_efficiency_continuous", "bayes_kl", "bayes_lr_equation", "optimal_bayes_lr",
    "optimal_bayes_lr_continuous", "kramers_rate", "kramers_rate_continuous",
]
