"""Predictions of a derived series on a torch model, with error bars.

:func:`predict` substitutes the sizes of a symbolic :class:`~symsgd.Series`
(``N``, ``B``, ...), estimates its contraction atoms on a
:class:`~symsgd.nets.NetLandscape` (:func:`~symsgd.nets.estimate`) and returns
a :class:`Prediction`: each coefficient with its standard error, and the loss
curve ``sum_k c_k lr^k`` over learning rates with a band.  Errors are propagated
with the joint covariance of the atoms' estimates (the coefficients are linear
in the atoms, so this is exact; products of atoms are linearized), never by
adding absolute errors.

>>> import sympy, symsgd
>>> from symsgd.landscapes import mean_estimation
>>> N = sympy.Symbol('N', integer=True, positive=True)
>>> net = NetLandscape.from_landscape(mean_estimation(init=1), [[-1], [0], [1]])
>>> p = predict(symsgd.expected_loss(symsgd.sgd(N), 2, method='direct'), net, exact=True, N=3)
>>> p.coefficients.round(6).tolist()     # the exact engine: 1/2 - 3 eta + 17/2 eta^2
[0.5, -3.0, 8.5]
>>> [round(float(v), 6) for v in p([0.0, 0.1])]
[0.5, 0.285]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy

from .._sympify import no_text
from ..errors import (InputTypeError, NonFiniteError, OrderError, ShapeError, SymbolError,
                      check_order)
from ..series import Series
from .estimate import Estimates, estimate
from .landscape import NetLandscape

__all__ = ["Prediction", "predict"]

_Z = {0.9: 1.6448536269514722, 0.95: 1.959963984540054, 0.99: 2.5758293035489004}


@dataclass(frozen=True, eq=False)
class Prediction:
    """A series with measured coefficients: ``sum_k c_k lr^k`` with standard errors.

    Attributes:
        series: the series after substituting the sizes (coefficients in atoms).
        estimates: the :class:`~symsgd.nets.Estimates` of its atoms.
        coefficients: shape ``(order + 1,)``, or ``(order + 1, P)`` for the weights.
        covariance: shape ``(D, order + 1, order + 1)``: per coordinate (``D = 1``
            for scalar series), the joint covariance of the coefficients.
    """

    series: Series
    estimates: Estimates
    coefficients: np.ndarray
    covariance: np.ndarray

    def __post_init__(self):
        if not isinstance(self.series, Series):
            raise InputTypeError(f"series must be a Series, got {type(self.series).__name__}")
        if not isinstance(self.estimates, Estimates):
            raise InputTypeError(f"estimates must be Estimates, got "
                                 f"{type(self.estimates).__name__}")
        arrays = []
        for name in ("coefficients", "covariance"):
            value = np.array(no_text(getattr(self, name), name), dtype=np.float64)
            if not np.all(np.isfinite(value)):
                raise NonFiniteError(f"{name} contain NaN or infinity")
            value.setflags(write=False)
            object.__setattr__(self, name, value)
            arrays.append(value)
        c, cov = arrays
        K, D = self.series.order + 1, self.estimates.mean.shape[1]
        want = (K,) if self.estimates.rank == 0 else (K, D)
        if c.shape != want or cov.shape != (D, K, K):
            raise ShapeError(f"coefficients must have shape {want} and covariance {(D, K, K)}, "
                             f"got {c.shape} and {cov.shape}")

    @property
    def order(self) -> int:
        """The highest power of ``eta`` (the learning rate) in the series."""
        return self.series.order

    def truncate(self, order: int) -> "Prediction":
        """The same measurement truncated at ``eta**order`` (leading blocks of the covariance).

        >>> import symsgd
        >>> from symsgd.landscapes import mean_estimation
        >>> net = NetLandscape.from_landscape(mean_estimation(init=1), [[-1], [1]])
        >>> p = predict(symsgd.expected_loss(symsgd.sgd(2), 2, method='direct'), net, exact=True)
        >>> p.truncate(1).coefficients.tolist()
        [0.5, -2.0]
        """
        order = check_order(order)
        if order > self.order:
            raise OrderError(f"order {order} is beyond the prediction's order {self.order}")
        return Prediction(self.series.truncate(order), self.estimates,
                          self.coefficients[:order + 1],
                          self.covariance[:, :order + 1, :order + 1])

    def standard_errors(self) -> np.ndarray:
        """The standard error of each coefficient (shape of :attr:`coefficients`)."""
        se = np.sqrt(np.maximum(np.diagonal(self.covariance, axis1=1, axis2=2), 0.0)).T
        return se[:, 0] if self.coefficients.ndim == 1 else se

    def _powers(self, lr) -> np.ndarray:
        rates = np.asarray(no_text(lr, "lr"), dtype=np.float64)
        if not np.all(np.isfinite(rates)):
            raise NonFiniteError(f"learning rates must be finite, got {lr!r}")
        return rates[..., None] ** np.arange(self.order + 1)

    def __call__(self, lr) -> np.ndarray:
        """The predicted value at learning rates ``lr`` (shape ``lr.shape``, plus ``(P,)``)."""
        v = self._powers(lr)
        return np.tensordot(v, self.coefficients, axes=([-1], [0]))

    def standard_error(self, lr) -> np.ndarray:
        """The standard error of the prediction at ``lr`` (joint covariance propagated)."""
        v = self._powers(lr)
        var = np.einsum("...k,dkl,...l->...d", v, self.covariance, v)
        se = np.sqrt(np.maximum(var, 0.0))
        return se[..., 0] if self.coefficients.ndim == 1 else se

    def band(self, lr, *, level: float = 0.95):
        """``(low, high)``: the normal interval of the estimate at ``lr``.

        This is the sampling error of the measured statistics only: the
        truncation of the series is a separate error (compare orders).
        """
        if level not in _Z:
            raise InputTypeError(f"level must be one of {sorted(_Z)}, got {level!r}")
        mid, se = self(lr), self.standard_error(lr)
        return mid - _Z[level] * se, mid + _Z[level] * se

    def text(self) -> str:
        """One line per coefficient: ``c_k = value +- standard error``.

        >>> import symsgd
        >>> from symsgd.landscapes import mean_estimation
        >>> net = NetLandscape.from_landscape(mean_estimation(init=1), [[-1], [1]])
        >>> s = symsgd.expected_loss(symsgd.sgd(2), 1, method='direct')
        >>> print(predict(s, net, exact=True).text())
        c_0 = 0.5 +- 0
        c_1 = -2 +- 0
        """
        if self.coefficients.ndim != 1:
            return "\n".join(f"c_{k} = vector of {self.coefficients.shape[1]} entries, largest "
                             f"|entry| {np.abs(c).max():.6g}" for k, c in
                             enumerate(self.coefficients))
        return "\n".join(f"c_{k} = {c:.6g} +- {s:.2g}" for k, (c, s) in
                         enumerate(zip(self.coefficients, self.standard_errors())))

    def plot(self, lr, *, ax=None, level: float = 0.95, label: str | None = None):
        """Draw the predicted curve over ``lr`` with its band; returns the axes."""
        import matplotlib.pyplot as plt

        if self.coefficients.ndim != 1:
            raise InputTypeError("plot draws scalar predictions; index the weights first")
        rates = np.asarray(no_text(lr, "lr"), dtype=np.float64).reshape(-1)
        ax = ax or plt.figure().gca()
        low, high = self.band(rates, level=level)
        line, = ax.plot(rates, self(rates), label=label or f"order {self.order}")
        ax.fill_between(rates, low, high, color=line.get_color(), alpha=0.25)
        ax.set_xlabel("learning rate")
        ax.set_ylabel(self.series.label or "prediction")
        return ax


@functools.lru_cache(maxsize=64)
def _jacobian(coefficients: tuple, atoms: tuple):
    """Per coefficient, ``(value function, gradient functions)`` in the atoms."""
    syms = sympy.symbols(f"_a0:{len(atoms)}")
    sub = dict(zip(atoms, syms))
    out = []
    for c in coefficients:  # compiled once per series (cached): repeated seeds reuse it
        expr = sympy.expand(sympy.sympify(c, strict=True).xreplace(sub))
        extra = expr.free_symbols - set(syms)
        if extra:
            raise SymbolError(f"the coefficients still contain {sorted(map(str, extra))}: give "
                              f"their values as sizes (e.g. N=100)")
        out.append((sympy.lambdify([syms], expr, "numpy"),
                    [sympy.lambdify([syms], sympy.diff(expr, s), "numpy") for s in syms]))
    return out


def predict(series, net: NetLandscape, *, exact: bool = False, budget: int = 1024,
            seed: int = 0, means: str = "sampled", metric=None, progress: bool | None = None,
            **sizes) -> Prediction:
    """A series' coefficients measured on a torch model, with standard errors.

    Args:
        series: a :class:`~symsgd.Series` in contraction atoms (a general
            expansion, e.g. ``expected_loss(sgd(N, batch=B), 3, method='direct')``).
        net: the :class:`~symsgd.nets.NetLandscape` (the population is the data law).
        exact, budget, seed, means, metric, progress: see :func:`~symsgd.nets.estimate`.
        sizes: values of the series' size symbols by name (``N=100, B=10``),
            checked against the schedule's rules as :meth:`Series.subs` does.

    Raises:
        InputTypeError: not a Series, or arguments of the wrong type.
        SymbolError: a size left symbolic or unknown.
        ScheduleError, RangeError: sizes the schedule refuses.

    >>> import symsgd
    >>> from symsgd.landscapes import mean_estimation
    >>> net = NetLandscape.from_landscape(mean_estimation(init=1), [[-1], [1]])
    >>> s = symsgd.expected_loss(symsgd.sgd(2), 2, method='direct')
    >>> p = predict(s, net, budget=64, seed=0)
    >>> bool(abs(p.coefficients[2] - 4.0) <= 4 * p.standard_errors()[2])  # exact engine: 4
    True
    """
    if not isinstance(series, Series):
        raise InputTypeError(f"predict takes a symsgd Series, got {type(series).__name__}")
    if sizes:
        series = series.subs(**sizes)
    _jacobian(tuple(series.coefficients), tuple(series.contractions()))   # sizes, before work
    est = estimate(series, net, exact=exact, budget=budget, seed=seed, means=means,
                   metric=metric, progress=progress)
    fns = _jacobian(tuple(series.coefficients), est.atoms)
    D = est.mean.shape[1]
    K = len(fns)
    coefficients = np.empty((K, D))
    jac = np.empty((D, K, len(est.atoms)))
    for d in range(D):
        a = est.mean[:, d]
        for k, (f, grads) in enumerate(fns):
            coefficients[k, d] = f(a)
            jac[d, k] = [g(a) for g in grads]
    covariance = np.einsum("dka,dab,dlb->dkl", jac, est.covariance, jac)
    return Prediction(series, est, coefficients[:, 0] if est.rank == 0 else coefficients,
                      covariance)
