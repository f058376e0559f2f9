"""The result type of every expansion: a truncated power series in ``eta``.

A :class:`Series` holds the exact coefficients ``c_0, ..., c_d`` of
``E[s(theta_T)] = c_0 + c_1 eta + ... + c_d eta^d + O(eta^(d+1))``.  Scalar
quantities have SymPy expressions as coefficients; vector quantities have SymPy
arrays (the exact route) or contractions with a free index (the symbolic routes).

It prints as ``c_0 + c_1*eta + c_2*eta**2 + ...`` by increasing power of
``eta``, a coefficient with several terms in parentheses:

>>> import sympy
>>> from symsgd.series import Series, ETA
>>> s = Series((sympy.Integer(2), sympy.Rational(-1, 3)))
>>> s
Series(2 - eta/3 + O(eta**2))
>>> s.coeff(1)
-1/3
>>> sympy.latex(s)
'2 - \\\\frac{\\\\eta}{3} + O\\\\left(\\\\eta^{2}\\\\right)'
>>> s(sympy.Rational(3, 10))
19/10
>>> N = sympy.Symbol('N')
>>> print(Series((N, 1 - N, N**2), notes=('an assumption',)))
N + (1 - N)*eta + N**2*eta**2 + O(eta**3)
# an assumption
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, replace

import sympy
from sympy.tensor.array import NDimArray

from .errors import OrderError, RangeError, ShapeError, SymbolError
from .tensors import contractions_in, evaluate_expr

__all__ = ["Series", "ETA"]

#: The learning-rate symbol used by default.
ETA = sympy.Symbol("eta", positive=True)


def _as_sympy(c):
    if isinstance(c, (NDimArray, sympy.MatrixBase, list, tuple)):
        return sympy.ImmutableDenseNDimArray(c)
    if isinstance(c, float):
        raise TypeError("series coefficients must be exact; got a float")
    if isinstance(c, (numbers.Integral, sympy.Basic)):
        return sympy.sympify(c)
    raise TypeError(f"a series coefficient must be a SymPy object, got {type(c).__name__}")


def _shape(c) -> tuple:
    return tuple(int(n) for n in c.shape) if isinstance(c, NDimArray) else ()


def _is_zero(c) -> bool:
    return all(e == 0 for e in c) if isinstance(c, NDimArray) else c == 0


def _size_value(symbol: sympy.Symbol, value):
    """``value`` for ``symbol`` as an exact SymPy number that meets the symbol's assumptions."""
    if isinstance(value, (bool, float, str)) or not isinstance(value, (numbers.Rational,
                                                                       sympy.Basic)):
        raise TypeError(f"{symbol} = {value!r}: give an exact number (int, Fraction, "
                        "sympy.Rational) or a SymPy expression")
    value = sympy.Rational(value.numerator, value.denominator) \
        if isinstance(value, numbers.Rational) and not isinstance(value, sympy.Basic) else value
    if value.has(sympy.Float):
        raise TypeError(f"{symbol} = {value}: floats are not exact")
    for assumption in ("integer", "positive", "nonnegative"):
        if getattr(symbol, f"is_{assumption}") and getattr(value, f"is_{assumption}") is False:
            raise RangeError(f"{symbol} is {assumption}, got {value}")
    return value


@dataclass(frozen=True)
class Series:
    """A truncated power series in the learning rate with exact coefficients.

    Args:
        coefficients: ``coefficients[k]`` is the coefficient of ``eta**k``;
            all of the same shape (scalars, or SymPy arrays of one shape).
        eta: the learning-rate symbol.
        quantity: what the series expands, e.g. ``'test loss'``.
        schedule: the schedule it was derived for (informational).
        method: how it was derived (``'exact'``, ``'direct'``, ``'diagrams'``).
        notes: assumptions worth reporting (e.g. the reshuffling rule); ``str``
            (so ``print``) shows them as trailing ``#`` lines; ``repr``, LaTeX
            and f-strings (one line) do not.
        measure: the measured function as a key of
            :data:`symsgd.measures.ROOT_PRODUCTS` (``'test'``, ``'train'``,
            ``'gap'``, ``'weights'``), when known; with ``schedule`` it lets
            :func:`symsgd.diagrams.contributions_of` list the contributing diagrams.
        moment: 1 for the mean, 2 for the second moment.
    """

    coefficients: tuple
    eta: sympy.Symbol = ETA
    quantity: str = "test loss"
    schedule: object = field(default=None, compare=False)
    method: str = field(default="", compare=False)
    notes: tuple[str, ...] = field(default=(), compare=False)
    measure: str | None = field(default=None, compare=False)
    moment: int = field(default=1, compare=False)

    def __post_init__(self):
        coeffs = tuple(_as_sympy(c) for c in self.coefficients)
        if not coeffs:
            raise OrderError("a series needs at least its zeroth coefficient")
        shapes = {_shape(c) for c in coeffs}
        if len(shapes) > 1:
            raise ShapeError(f"coefficients of different shapes: {sorted(shapes)}")
        if not isinstance(self.eta, sympy.Symbol):
            raise TypeError("eta must be a SymPy Symbol")
        object.__setattr__(self, "coefficients", coeffs)
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def order(self) -> int:
        """The highest power of ``eta`` whose coefficient is known."""
        return len(self.coefficients) - 1

    @property
    def shape(self) -> tuple:
        """``()`` for a scalar quantity, the array shape otherwise."""
        return _shape(self.coefficients[0])

    def coeff(self, k: int):
        """The exact coefficient of ``eta**k``."""
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise OrderError(f"the power must be an integer, got {k!r}")
        if not 0 <= k <= self.order:
            raise OrderError(f"this series knows powers 0..{self.order} of {self.eta}, not {k}")
        return self.coefficients[k]

    def __iter__(self):
        return iter(self.coefficients)

    def __len__(self) -> int:
        return len(self.coefficients)

    def truncate(self, order: int) -> "Series":
        """The same series keeping powers up to ``order``."""
        self.coeff(order)
        return replace(self, coefficients=self.coefficients[:order + 1])

    def as_expr(self):
        """The polynomial ``sum_k c_k eta^k`` (without the order term)."""
        return sum((c * self.eta**k for k, c in enumerate(self.coefficients)),
                   sympy.ImmutableDenseNDimArray.zeros(*self.shape) if self.shape else sympy.S.Zero)

    def __call__(self, eta):
        """The truncated polynomial at the learning rate ``eta`` (exact for exact input)."""
        return self.as_expr().subs(self.eta, eta) if not self.shape else \
            self.as_expr().applyfunc(lambda c: c.subs(self.eta, eta))

    def map(self, func) -> "Series":
        """Apply ``func`` to every coefficient (e.g. ``sympy.factor``)."""
        return replace(self, coefficients=tuple(
            c.applyfunc(func) if isinstance(c, NDimArray) else func(c) for c in self.coefficients))

    def subs(self, *args, **kwargs) -> "Series":
        """Substitute in every coefficient, as ``sympy.Basic.subs``."""
        return self.map(lambda c: c.subs(*args, **kwargs))

    def simplify(self) -> "Series":
        """Expand and collect every coefficient."""
        return self.map(lambda c: sympy.factor_terms(sympy.expand(c)))

    def _ranks(self) -> set:
        return {c.rank for c in self.contractions()}

    def _merge(self, other: "Series", coeffs, quantity: str) -> "Series":
        return Series(coeffs, self.eta, quantity,
                      self.schedule if self.schedule == other.schedule else None,
                      self.method if self.method == other.method else "",
                      tuple(dict.fromkeys(self.notes + other.notes)))

    def _check_compatible(self, other: "Series") -> None:
        if other.eta != self.eta:
            raise SymbolError(f"series in different variables: {self.eta} and {other.eta}")
        if other.shape != self.shape:
            raise ShapeError(f"cannot combine series of shapes {self.shape} and {other.shape}")
        ranks = (self._ranks(), other._ranks())
        if all(ranks) and ranks[0] != ranks[1]:
            raise ShapeError(f"cannot combine series of contractions of ranks "
                             f"{sorted(ranks[0])} and {sorted(ranks[1])}")

    def _combine(self, other, sign: int) -> "Series":
        if not isinstance(other, Series):
            return NotImplemented
        self._check_compatible(other)
        n = min(self.order, other.order) + 1
        coeffs = tuple(a + sign * b for a, b in zip(self.coefficients[:n], other.coefficients[:n]))
        quantity = self.quantity if self.quantity == other.quantity else \
            f"({self.quantity}) {'+' if sign > 0 else '-'} ({other.quantity})"
        return self._merge(other, coeffs, quantity)

    def __add__(self, other):
        return self._combine(other, 1)

    def __sub__(self, other):
        return self._combine(other, -1)

    def __neg__(self) -> "Series":
        return self.map(lambda c: -c)

    def __mul__(self, factor) -> "Series":
        """The series times an exact number or a SymPy expression (not a string, not a float).

        >>> import sympy
        >>> 2 * Series((sympy.Integer(1), sympy.Rational(1, 2)))
        Series(2 + eta + O(eta**2))
        >>> Series((sympy.Integer(1),)) * '2'
        Traceback (most recent call last):
        ...
        TypeError: a Series multiplies by an integer, a fraction or a SymPy expression, not str
        """
        if isinstance(factor, Series):
            raise TypeError("multiply two series with .times() (it truncates at the lower order)")
        if isinstance(factor, float):
            raise TypeError("a Series is exact: multiply by a sympy.Rational, not a float")
        if isinstance(factor, bool) or not isinstance(factor, (numbers.Rational, sympy.Expr)):
            raise TypeError("a Series multiplies by an integer, a fraction or a SymPy expression, "
                            f"not {type(factor).__name__}")
        factor = sympy.sympify(factor)
        return self.map(lambda c: c * factor)

    __rmul__ = __mul__

    # -- symbolic statistics (contractions); the heavy code lives in tensors/codegen --
    def contractions(self, k: int | None = None) -> tuple:
        """The distinct :class:`~symsgd.tensors.Contraction` atoms in coefficient ``k`` (or all).

        >>> from symsgd import expected_loss, sgd
        >>> expected_loss(sgd(2), 2, method='direct').contractions(2)
        ([G H G], C:H)
        """
        coeffs = self.coefficients if k is None else (self.coeff(k),)
        atoms = set().union(*(contractions_in(c) for c in coeffs))
        return tuple(sorted(atoms, key=lambda c: c.sort_key()))

    def evaluate(self, landscape, metric=None, **symbols) -> "Series":
        """Substitute a landscape's exact statistics (and sizes by name) into every coefficient.

        Args:
            landscape: a :class:`~symsgd.Landscape` (its exact cumulants are
                used) or any ``stats`` accepted by
                :meth:`~symsgd.tensors.Contraction.evaluate`.
            metric: an optional inverse metric on every edge.
            symbols: values of the other symbols by name, e.g. ``N=10``.

        Contractions with a free index (vector quantities) evaluate to arrays.

        Raises:
            SymbolError: a name in ``symbols`` that the series does not have.

        >>> import sympy
        >>> from symsgd.landscape import Landscape
        >>> from symsgd import expected_displacement, expected_loss, gd, sgd
        >>> N = sympy.Symbol('N', integer=True, positive=True)
        >>> w, x = sympy.symbols('w x')
        >>> L = Landscape((w - x)**2 / 2, w, x, init=[1])
        >>> expected_loss(sgd(N), 2, method='direct').evaluate(L, N=2)
        Series(1 - 2*eta + 4*eta**2 + O(eta**3))
        >>> expected_displacement(gd(N, steps=2), 2, method='direct').evaluate(L, N=2)
        Series([-2]*eta + [1]*eta**2 + O(eta**3))
        """
        stats = getattr(landscape, "cumulant", landscape)
        names = {s.name: s for c in self.coefficients for s in c.free_symbols}
        unknown = [n for n in symbols if n not in names]
        if unknown:
            raise SymbolError(f"the series has no symbols {unknown}; it has {sorted(names)}")
        sub = {names[n]: _size_value(names[n], v) for n, v in symbols.items()}

        def value(c):
            return evaluate_expr(c.xreplace(sub), stats, metric)

        values = [c.applyfunc(value) if isinstance(c, NDimArray) else value(c)
                  for c in self.coefficients]
        shapes = {_shape(v) for v in values} - {()}
        if shapes and not self.shape:
            zero = sympy.ImmutableDenseNDimArray.zeros(*shapes.pop())
            values = [zero if not isinstance(v, NDimArray) and v == 0 else v for v in values]
        return replace(self, coefficients=tuple(values))

    def lambdify(self, backend: str = "numpy", dtype="float64"):
        """A compiled numeric :class:`~symsgd.codegen.Kernel` (cached): ``f(eta, stats, **sizes)``.

        Args:
            backend: ``'numpy'`` or ``'torch'`` (see :data:`symsgd.codegen.BACKENDS`).
            dtype: ``'float64'`` (default) or ``'float32'`` (names, numpy or torch dtypes).

        >>> import numpy as np
        >>> from symsgd import expected_loss, gd
        >>> series = expected_loss(gd(4, steps=3), 1, method='direct')
        >>> f = series.lambdify()
        >>> float(f(0.5, {(0,): np.array(2.0), (1,): np.array([1.0, 1.0])}))
        -1.0
        >>> series.lambdify(dtype='float32')(0.5, {(0,): 2.0, (1,): [1.0, 1.0]}).dtype
        dtype('float32')
        """
        from .codegen import compile_series
        return compile_series(self, backend, dtype)

    def times(self, other: "Series") -> "Series":
        """The product of two series, truncated at the lower order (e.g. a squared mean).

        >>> import sympy
        >>> a = Series((sympy.Integer(1), sympy.Integer(2)))
        >>> a.times(a)
        Series(1 + 4*eta + O(eta**2))
        """
        if not isinstance(other, Series):
            raise TypeError("times() multiplies two Series")
        self._check_compatible(other)
        if self.shape or self._ranks() - {0} or other._ranks() - {0}:
            raise ShapeError("times() multiplies scalar series")
        n = min(self.order, other.order) + 1
        coeffs = tuple(sympy.expand(sum(self.coefficients[i] * other.coefficients[k - i]
                                        for i in range(k + 1))) for k in range(n))
        return self._merge(other, coeffs, f"({self.quantity}) * ({other.quantity})")

    # -- printing --
    def _sympystr(self, printer) -> str:
        return self._print_with(printer)

    def _latex(self, printer) -> str:
        return self._print_with(printer)

    def _print_with(self, printer) -> str:
        """``c_0 + c_1 eta + c_2 eta^2 + ... + O(eta^(d+1))``, zero terms left out."""
        terms = [self._print_term(printer, k, c) for k, c in enumerate(self.coefficients)]
        terms = [t for t in terms if t] + [printer._print(sympy.O(self.eta**(self.order + 1)))]
        text = terms[0]
        for term in terms[1:]:
            text += f" - {term[1:].lstrip()}" if term.startswith("-") else f" + {term}"
        return text

    def _print_term(self, printer, k: int, c) -> str:
        latex = printer.printmethod == "_latex"
        c = c.applyfunc(sympy.expand) if isinstance(c, NDimArray) else sympy.expand(c)
        if _is_zero(c):
            return ""
        if k == 0:
            return printer._print(c)
        if not isinstance(c, NDimArray) and not c.is_Add:
            return printer._print(c * self.eta**k)
        group = printer._print(c)
        if not isinstance(c, NDimArray):
            group = rf"\left({group}\right)" if latex else f"({group})"
        return f"{group}{' ' if latex else '*'}{printer._print(self.eta**k)}"

    def latex(self) -> str:
        """LaTeX for the whole series (same as ``sympy.latex(series)``)."""
        return sympy.latex(self)

    def __str__(self) -> str:
        """The series, then each note on a ``# ...`` line."""
        return sympy.sstr(self) + "".join(f"\n# {note}" for note in self.notes)

    def __format__(self, spec: str) -> str:
        """The one-line series without notes, for f-strings (``str`` adds the notes)."""
        return format(sympy.sstr(self), spec)

    def __repr__(self) -> str:
        return f"Series({sympy.sstr(self)})"

    def _repr_latex_(self) -> str:
        """The LaTeX form in ``$...$``, for notebooks."""
        return f"${self.latex()}$"
