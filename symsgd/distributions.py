"""Data distributions: exact expectations over one data point, and sampling.

A distribution describes the law of one data point ``x`` (a tuple of data
symbols).  It computes exact expectations ``E[f(x)]`` of SymPy expressions and
draws samples for simulation.  Three kinds:

* :class:`StandardNormal` -- every data symbol an independent ``N(0, 1)``;
* :class:`RandomVariables` -- each data symbol a SymPy expression in
  independent ``sympy.stats`` random symbols (so the data may be correlated,
  e.g. ``y = 2 x + noise``);
* :class:`Dataset` -- uniform over a finite list of points.

>>> import sympy
>>> x = sympy.Symbol('x')
>>> StandardNormal().expect(x**4 + x, (x,))
3
>>> Dataset([0, 1, 3]).expect(x**2, (x,))
10/3
>>> from sympy.stats import Exponential
>>> X = Exponential('X', 1)
>>> RandomVariables({x: X - 1}).expect(x**2, (x,))
1
"""

from __future__ import annotations

import functools
import math
import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import sympy
import sympy.stats as sstats
from sympy.stats.rv import RandomSymbol, SinglePSpace

from ._sympify import exact, expression, finite, refuse_text
from .errors import InputTypeError, LandscapeError, MomentError, NonFiniteError, ShapeError

__all__ = ["Distribution", "StandardNormal", "RandomVariables", "Dataset", "as_distribution"]


def _monomials(expr, gens):
    """``expr`` as ``{exponents: coefficient}`` in ``gens``; MomentError if not polynomial."""
    try:
        poly = sympy.Poly(sympy.expand(expr), *gens)
    except sympy.PolynomialError as exc:
        raise MomentError(f"{expr} is not a polynomial in the data {gens}; exact expectations "
                          "need a polynomial in the data or a finite Dataset") from exc
    if any(c.has(*gens) for c in poly.coeffs()):
        raise MomentError(f"{expr} is not a polynomial in the data {gens}")
    return poly.as_dict()


class Distribution(ABC):
    """The law of one data point, with exact expectations and sampling."""

    @abstractmethod
    def expect(self, expr, data: tuple):
        """The exact expectation of ``expr`` over one data point ``data``."""

    @abstractmethod
    def sample(self, rng: np.random.Generator, shape: tuple, data: tuple) -> np.ndarray:
        """``shape + (len(data),)`` float64 samples of the data point."""

    def check(self, data: tuple) -> None:
        """Raise :class:`LandscapeError` if this law cannot describe ``data``.

        Raises:
            InputTypeError: ``data`` is not a sequence of SymPy Symbols.
            LandscapeError: the law cannot describe these data symbols.

        >>> import sympy
        >>> StandardNormal().check((sympy.Symbol('x'),))
        >>> StandardNormal().check("x")
        Traceback (most recent call last):
        ...
        symsgd.errors.InputTypeError: data is a string ('x'); symsgd never parses strings: build the value with SymPy instead, e.g. sympy.Symbol('H', positive=True), sympy.Rational(1, 2) or 2 * sympy.Symbol('x')
        """
        _data(data)


class _MomentDistribution(Distribution):
    """A law known through moments: polynomials in the data have exact expectations."""

    @abstractmethod
    def moment(self, exponents: tuple[int, ...], data: tuple):
        """``E[prod_i data_i ** exponents_i]``, exactly."""

    def expect(self, expr, data):
        self.check(data)
        expr = expression(expr, "expr")
        if not expr.has(*data):
            return expr
        return sympy.Add(*(c * self.moment(e, data) for e, c in _monomials(expr, data).items()))


@dataclass(frozen=True)
class StandardNormal(_MomentDistribution):
    """Every data symbol an independent standard normal (the default law).

    >>> import sympy
    >>> x, y = sympy.symbols('x y')
    >>> StandardNormal().moment((2, 4), (x, y))
    3
    """

    def moment(self, exponents, data):
        self.check(data)
        return sympy.Mul(*(_normal_moment(k) for k in _exponents(exponents, data)))

    def sample(self, rng, shape, data):
        self.check(data)
        shape = _shape(rng, shape)
        return rng.standard_normal(shape + (len(data),))


def _data(data) -> tuple:
    """``data`` as a tuple of SymPy Symbols, else :class:`InputTypeError`."""
    refuse_text(data, "data")
    if not isinstance(data, (tuple, list)):
        raise InputTypeError(f"data must be a tuple of SymPy Symbols, got {type(data).__name__}")
    for s in data:
        refuse_text(s, "a data symbol")
        if not isinstance(s, sympy.Symbol):
            raise InputTypeError(f"data must be a tuple of SymPy Symbols, got {s!r}")
    return tuple(data)


def _exponents(exponents, data) -> tuple[int, ...]:
    """Moment exponents: one non-negative int per data symbol."""
    refuse_text(exponents, "exponents")
    if not isinstance(exponents, (tuple, list)) or len(exponents) != len(data):
        raise ShapeError(f"exponents must be a tuple of {len(data)} non-negative integers, "
                         f"got {exponents!r}")
    for k in exponents:
        refuse_text(k, "an exponent")
        if isinstance(k, bool) or not isinstance(k, (numbers.Integral, sympy.Integer)) or k < 0:
            raise ShapeError(f"exponents must be non-negative integers, got {exponents!r}")
    return tuple(int(k) for k in exponents)


def _shape(rng, shape) -> tuple[int, ...]:
    """A sample shape: a tuple of non-negative ints (and a numpy Generator to draw with)."""
    if not isinstance(rng, np.random.Generator):
        raise InputTypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    refuse_text(shape, "shape")
    if not isinstance(shape, (tuple, list)):
        raise InputTypeError(f"shape must be a tuple of non-negative integers, got {shape!r}")
    for n in shape:
        refuse_text(n, "a sample shape entry")
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ShapeError(f"shape must be a tuple of non-negative integers, got {shape!r}")
    return tuple(int(n) for n in shape)


def _normal_moment(k: int):
    return sympy.S.Zero if k % 2 else sympy.factorial2(k - 1)


@functools.lru_cache(maxsize=None)
def _rv_moment(rv: RandomSymbol, k: int):
    """``E[rv ** k]`` for a single random symbol, or MomentError if it is not finite."""
    if k == 0:
        return sympy.S.One
    try:
        value = sstats.E(rv**k)
    except NotImplementedError:
        z = sympy.Dummy("z", real=True)
        support = rv.pspace.domain.set
        value = sympy.integrate(z**k * sstats.density(rv)(z), (z, support.inf, support.sup))
    value = sympy.simplify(value)
    if value.has(sympy.Integral, sympy.oo, -sympy.oo, sympy.zoo, sympy.nan) or value.is_finite is False:
        raise MomentError(f"{rv} has no finite moment of order {k} (E[{rv}**{k}] = {value})")
    return value


@dataclass(frozen=True)
class RandomVariables(_MomentDistribution):
    """Data symbols as expressions in independent ``sympy.stats`` random symbols.

    Args:
        mapping: ``{data_symbol: expression}``; each expression is built from
            random symbols of single-variable ``sympy.stats`` distributions
            (``Normal``, ``Exponential``, ``Bernoulli``, ...), which are
            independent of each other.  Moments of the expressions must be finite.

    Raises:
        InputTypeError: not a mapping, or a law that is a string or not a SymPy
            expression or number.
        LandscapeError: a key that is not a Symbol, or a random symbol of a
            joint (multivariate) distribution.
        MomentError: (from :meth:`moment`) a law without the finite moment needed.

    >>> import sympy
    >>> from sympy.stats import Normal, Bernoulli
    >>> x, y = sympy.symbols('x y')
    >>> X, E = Normal('X', 0, 1), Bernoulli('E', sympy.Rational(1, 2))
    >>> law = RandomVariables({x: X, y: 3 * X + E})
    >>> law.moment((1, 1), (x, y))
    3
    """

    mapping: Mapping

    def __post_init__(self):
        if not isinstance(self.mapping, Mapping):
            raise InputTypeError("RandomVariables takes a mapping {data symbol: random "
                                 f"expression}}, got {type(self.mapping).__name__}")
        items = []
        for sym, value in self.mapping.items():
            refuse_text(sym, "a data symbol")
            if not isinstance(sym, sympy.Symbol):
                raise LandscapeError(f"{sym!r} is not a SymPy Symbol")
            value = exact(value, f"the law of {sym}")
            for rv in sstats.random_symbols(value):
                if not isinstance(rv.pspace, SinglePSpace):
                    raise LandscapeError(f"{rv} is not a single-variable random symbol")
            items.append((sym, value))
        object.__setattr__(self, "mapping", dict(items))

    def __hash__(self):
        return hash(tuple(self.mapping.items()))

    def check(self, data):
        super().check(data)
        missing = [s for s in data if s not in self.mapping]
        if missing:
            raise LandscapeError(f"the distribution gives no law for the data symbols {missing}")

    def moment(self, exponents, data):
        self.check(data)
        expr = sympy.Mul(*(self.mapping[s]**k for s, k in zip(data, _exponents(exponents, data))))
        rvs = sorted(sstats.random_symbols(expr), key=sympy.default_sort_key)
        if not rvs:
            return sympy.expand(expr)
        total = sympy.S.Zero
        for powers, coeff in _monomials(expr, rvs).items():
            term = coeff
            for rv, k in zip(rvs, powers):
                term *= _rv_moment(rv, int(k))
            total += term
        return sympy.simplify(total)

    def sample(self, rng, shape, data):
        self.check(data)
        shape = _shape(rng, shape)
        exprs = [self.mapping[s] for s in data]
        rvs = sorted(set().union(*(sstats.random_symbols(e) for e in exprs)), key=sympy.default_sort_key)
        size = tuple(shape) if shape else (1,)
        draws = [np.asarray(sstats.sample(rv, size=size, seed=rng), dtype=np.float64) for rv in rvs]
        fn = sympy.lambdify(rvs, exprs, modules="numpy")
        cols = [np.broadcast_to(np.asarray(c, dtype=np.float64), size) for c in fn(*draws)]
        return np.stack(cols, axis=-1).reshape(tuple(shape) + (len(data),))


def _coordinate(value, what: str):
    """One coordinate of a data point: a finite number (or SymPy expression), exactly."""
    refuse_text(value, what)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise NonFiniteError(f"{what} is not finite: {value}")
        return sympy.nsimplify(float(value), rational=True)
    return finite(expression(value, what), what)


@dataclass(frozen=True)
class Dataset(Distribution):
    """Uniform over a finite list of data points.

    Args:
        points: a non-empty sequence of points; each point is a number (one
            data symbol) or a sequence of numbers (one per data symbol).  Exact
            numbers (ints, ``Fraction``, SymPy Rationals) keep expectations
            exact; floats are replaced by nearby rationals
            (``sympy.nsimplify(rational=True)``).

    Raises:
        InputTypeError: ``points`` or a coordinate that is a string or not a number.
        NonFiniteError: a coordinate that is NaN or infinite.
        LandscapeError: no points, an empty point, or points with different
            numbers of coordinates.

    >>> import sympy
    >>> x, y = sympy.symbols('x y')
    >>> Dataset([(0, 1), (2, 3)]).expect(x * y + sympy.exp(x), (x, y))
    7/2 + exp(2)/2
    >>> Dataset([float('nan'), 1])
    Traceback (most recent call last):
    ...
    symsgd.errors.NonFiniteError: point 0 is not finite: nan
    """

    points: tuple

    def __post_init__(self):
        points = self.points
        refuse_text(points, "points")
        if isinstance(points, np.ndarray):
            points = points.tolist() if points.ndim else [points.item()]
        if isinstance(points, (Mapping, sympy.Basic)) or not isinstance(points, Iterable):
            raise InputTypeError(f"points must be a sequence of data points, got "
                                 f"{type(points).__name__}")
        pts = []
        for i, p in enumerate(points):
            refuse_text(p, f"point {i}")
            if isinstance(p, np.ndarray):
                p = p.tolist() if p.ndim else p.item()
            if isinstance(p, (list, tuple)):
                if not p:
                    raise LandscapeError(f"point {i} has no coordinates")
                pts.append(tuple(_coordinate(v, f"point {i}[{j}]") for j, v in enumerate(p)))
            else:
                pts.append((_coordinate(p, f"point {i}"),))
        if not pts:
            raise LandscapeError("a Dataset needs at least one point")
        dims = sorted({len(p) for p in pts})
        if len(dims) > 1:
            raise LandscapeError(f"the points have different numbers of coordinates: {dims}")
        object.__setattr__(self, "points", tuple(pts))

    @property
    def dim(self) -> int:
        """The number of coordinates of each point."""
        return len(self.points[0])

    def check(self, data):
        super().check(data)
        if len(data) != self.dim:
            raise LandscapeError(f"the dataset's points have {self.dim} coordinates "
                                 f"but the landscape has {len(data)} data symbols")

    def expect(self, expr, data):
        self.check(data)
        expr = expression(expr, "expr")
        if not expr.has(*data):
            return expr
        total = sympy.Add(*(expr.xreplace(dict(zip(data, p))) for p in self.points))
        return sympy.simplify(total / len(self.points))

    def sample(self, rng, shape, data):
        self.check(data)
        if any(not v.is_number for p in self.points for v in p):
            raise LandscapeError("sampling a Dataset needs numeric points; these are symbolic")
        table = np.array([[float(v) for v in p] for p in self.points], dtype=np.float64)
        return table[rng.integers(len(self.points), size=_shape(rng, shape))]


def as_distribution(value, data: tuple) -> Distribution:
    """Turn the ``distribution=`` argument of a landscape into a :class:`Distribution`.

    Accepts ``None`` (standard normal), a :class:`Distribution`, a single
    ``sympy.stats`` random expression (for a single data symbol) or a mapping
    ``{data_symbol: random expression}``.

    Raises:
        InputTypeError: a string or another value that describes no law.
        LandscapeError: a single random expression for several data symbols.

    >>> import sympy
    >>> from sympy.stats import Normal
    >>> as_distribution(None, (sympy.Symbol('x'),))
    StandardNormal()
    >>> as_distribution("Normal('X', 0, 1)", (sympy.Symbol('x'),))
    Traceback (most recent call last):
    ...
    symsgd.errors.InputTypeError: distribution is a string ("Normal('X', 0, 1)"); symsgd never parses strings: build the value with SymPy instead, e.g. sympy.Symbol('H', positive=True), sympy.Rational(1, 2) or 2 * sympy.Symbol('x')
    """
    refuse_text(value, "distribution")
    if value is None:
        return StandardNormal()
    if isinstance(value, Distribution):
        return value
    if isinstance(value, Mapping):
        return RandomVariables(value)
    if isinstance(value, sympy.Basic) and sstats.random_symbols(value):
        if len(data) != 1:
            raise LandscapeError("a single random variable can only describe one data symbol; "
                                 "pass a mapping {data symbol: random expression}")
        return RandomVariables({data[0]: value})
    raise InputTypeError(f"cannot use {value!r} as a data distribution: pass None, a "
                         "Distribution, a sympy.stats random expression or a mapping "
                         "{data symbol: random expression}")
