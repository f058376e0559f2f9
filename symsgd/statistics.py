"""Numeric statistics: what a landscape given only by float64 cumulants provides.

A symbolic :class:`~symsgd.Landscape` has exact statistics.  Some landscapes are
known only numerically, for instance a network restricted to the span of its
top Hessian eigenvectors (:func:`symsgd.nets.restrict`).  They subclass
:class:`NumericStatistics`, and the numeric evaluations accept them: the resummed
form called on learning rates, compiled kernels and :meth:`Series.evaluate
<symsgd.Series.evaluate>` (through :meth:`~NumericStatistics.cumulant`), and the
Lyapunov solvers (``H`` and ``C``).

>>> import numpy as np
>>> class Quadratic(NumericStatistics):
...     dim = 1
...     def cumulant(self, *orders):
...         return np.array([[2.0]]) if orders == (2,) else np.zeros((1,) * sum(orders))
>>> Quadratic().H
array([[2.]])
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

__all__ = ["NumericStatistics", "Named"]


class Named:
    """The named statistics as properties of :meth:`cumulant` (symbolic or numeric)."""

    @property
    def G(self):
        """Mean gradient ``E grad l_x`` at the initialization."""
        return self.cumulant(1)

    @property
    def H(self):
        """Mean Hessian ``E grad^2 l_x``."""
        return self.cumulant(2)

    @property
    def J(self):
        """Mean third derivative ``E grad^3 l_x``."""
        return self.cumulant(3)

    @property
    def C(self):
        """Gradient covariance ``Cov(grad l_x)``."""
        return self.cumulant(1, 1)

    @property
    def S(self):
        """Third cumulant of the gradient."""
        return self.cumulant(1, 1, 1)


class NumericStatistics(Named, ABC):
    """Float64 statistics at the initialization: ``dim`` and the joint cumulants.

    Subclasses define :attr:`dim` and :meth:`cumulant`; ``G``, ``H``, ``J``,
    ``C`` and ``S`` follow.
    """

    dim: int

    @abstractmethod
    def cumulant(self, *orders: int) -> np.ndarray:
        """The joint cumulant ``kappa(grad^{k1} l_x, ..., grad^{km} l_x)``, axes grouped by
        argument, as a float64 array of shape ``(dim,) * (k1 + ... + km)``."""
