"""The result type of every expansion: a truncated power series in ``eta``.

A :class:`Series` holds the exact coefficients ``c_0, ..., c_d`` of
``E[s(theta_T)] = c_0 + c_1 eta + ... + c_d eta^d + O(eta^(d+1))``.  Scalar
quantities have SymPy expressions as coefficients; vector quantities have SymPy
arrays (the exact route) or contractions with a free index (the symbolic routes).

It prints as ``c_0 + c_1*eta + c_2*eta**2 + ...`` by increasing power of
``eta``, each coefficient in the form it was given (a coefficient with several
terms in parentheses):

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

A series is a SymPy citizen: ``sympy.sympify(s)`` is the expression with its
order term, so SymPy's functions apply, and its own methods (``subs``,
``diff``, ``expand``, ``factor``, ``simplify``, ``collect``, arithmetic with
scalars) return series.  Equality is mathematical: two series are equal when
their coefficients agree after ``sympy.expand``, whatever their form or
metadata.

>>> sympy.sympify(s)
2 - eta/3 + O(eta**2)
>>> s.diff(ETA)
Series(-1/3 + O(eta))
>>> s + 1 == Series((3, sympy.Rational(-1, 3)))
True

``Series`` is a frozen dataclass, not a SymPy ``Basic``: it carries non-symbolic
metadata (the schedule, the derivation method, notes) that ``Basic``'s
canonical arguments would have to hold as symbols.
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import KW_ONLY, dataclass, replace

import sympy
from sympy.tensor.array import NDimArray

from ._sizes import schedule_symbols, size_value, statistics_source, substitute_schedule
from ._sympify import expression, refuse_text
from .errors import InputTypeError, MeasureError, OrderError, ShapeError, SymbolError
from .measures import NAMES, root_products
from .schedule import BaseSchedule
from .tensors import Contraction, contractions_in, evaluate_expr

__all__ = ["Series", "ETA"]

#: The learning-rate symbol used by default.
ETA = sympy.Symbol("eta", positive=True)


def _apply(c, func):
    """``func`` of a scalar coefficient, or of each entry of an array coefficient."""
    return c.applyfunc(func) if isinstance(c, NDimArray) else func(c)


def _scalar(value, what: str, *, floats: bool = False):
    """``value`` as a SymPy scalar: ints, fractions and SymPy expressions (floats if allowed)."""
    if isinstance(value, (str, bytes)):
        raise InputTypeError(f"{what}: got the string {value!r}; symsgd never parses strings, "
                             "build the expression with SymPy")
    if isinstance(value, float) and not floats:
        raise InputTypeError(f"{what}: a Series is exact; use a sympy.Rational, not a float")
    if isinstance(value, float):
        return sympy.Float(value)
    if isinstance(value, bool) or isinstance(value, (sympy.MatrixBase, NDimArray)) or \
            not isinstance(value, (numbers.Rational, sympy.Expr)):
        raise InputTypeError(f"{what}: an integer, a fraction or a SymPy expression, "
                        f"not {type(value).__name__}")
    if not isinstance(value, sympy.Basic):
        return sympy.Rational(value.numerator, value.denominator)
    return value


def _no_text_options(options: dict, what: str) -> None:
    """Refuse an option of a SymPy function given as a string (:class:`InputTypeError`)."""
    for name, value in options.items():
        refuse_text(value, f"{what}({name}=...)")


def _coefficient(c):
    """A coefficient as a SymPy scalar or an immutable SymPy array."""
    if isinstance(c, (NDimArray, sympy.MatrixBase)):
        return sympy.ImmutableDenseNDimArray(c)
    if isinstance(c, (list, tuple)):
        return sympy.ImmutableDenseNDimArray(_nested(c))
    return _scalar(c, "a series coefficient")


def _nested(entries):
    return [_nested(e) if isinstance(e, (list, tuple)) else _scalar(e, "an array entry")
            for e in entries]


def _shape(c) -> tuple:
    return tuple(int(n) for n in c.shape) if isinstance(c, NDimArray) else ()


def _is_zero(c) -> bool:
    return c == c.zeros(*c.shape) if isinstance(c, NDimArray) else c == 0


def _free_symbols(c) -> set:
    return c.free_symbols


def _check_names(symbols) -> None:
    """Refuse same-named symbols with different assumptions."""
    by_name: dict = {}
    for s in symbols:
        if not isinstance(s, sympy.Dummy):
            by_name.setdefault(s.name, set()).add(s)
    clashes = {n: v for n, v in by_name.items() if len(v) > 1}
    if clashes:
        listed = "; ".join(" and ".join(sorted(sympy.srepr(s) for s in v)) for v in clashes.values())
        raise SymbolError(f"same-named symbols with different assumptions: {listed}; "
                          "build every symbol of one name with the same assumptions")


def _label(op: str, a, b):
    if a is None or b is None:
        return None
    return a if a == b and op in "+-" else f"({a}) {op} ({b})"


@dataclass(frozen=True, eq=False)
class Series:
    """A truncated power series in the learning rate with exact coefficients.

    Args:
        coefficients: ``coefficients[k]`` is the coefficient of ``eta**k``;
            all of the same shape (scalars, or SymPy arrays of one shape), all
            free of ``eta``.  Ints, fractions and SymPy expressions; no floats
            and no strings.
        eta: the learning-rate symbol.
        measure: the measured function as a key of
            :data:`symsgd.measures.ROOT_PRODUCTS` (``'test'``, ``'train'``,
            ``'gap'``, ``'weights'``), when known (``None`` for a series built
            by hand or combined from others).
        moment: 1 for the mean, 2 for the second moment.
        label: a free-text name (``'test loss'``, ``'(test loss) -
            (training loss)'``); by default derived from ``measure`` and
            ``moment`` (``'second moment of the test loss'``), ``None`` without
            a measure.
        schedule: the schedule it was derived for: :meth:`evaluate`,
            :meth:`subs` and the compiled kernels check sizes against its rules.
        method: how it was derived (``'exact'``, ``'direct'``, ``'diagrams'``).
        notes: assumptions worth reporting (e.g. the reshuffling rule); ``str``
            (so ``print``) shows them as trailing ``#`` lines; ``repr``, LaTeX
            and f-strings (one line) do not.

    Raises:
        OrderError: no coefficient.
        ShapeError: coefficients of different shapes.
        SymbolError: a coefficient that contains ``eta``, or same-named symbols
            with different assumptions (in the coefficients, ``eta`` and the
            schedule), e.g. ``Symbol('N')`` and ``Symbol('N', integer=True)``.
        MeasureError: an unknown measure or moment.
        InputTypeError: a string coefficient, a float or another wrong type.

    Equality and hashing are mathematical: coefficients compared after
    ``sympy.expand``, and ``eta``; the metadata (``measure``, ``label``,
    ``schedule``, ``method``, ``notes``) does not count.

    >>> import sympy
    >>> N = sympy.Symbol('N', integer=True, positive=True)
    >>> s = Series((1, (N - 1) * (N + 1)), measure='train')
    >>> s.label, s == Series((1, N**2 - 1))
    ('training loss', True)
    >>> Series((1, N + sympy.Symbol('N')))
    Traceback (most recent call last):
    ...
    symsgd.errors.SymbolError: same-named symbols with different assumptions: Symbol('N') and Symbol('N', integer=True, positive=True); build every symbol of one name with the same assumptions
    """

    coefficients: tuple
    _: KW_ONLY
    eta: sympy.Symbol = ETA
    measure: str | None = None
    moment: int = 1
    label: str | None = None
    schedule: object = None
    method: str = ""
    notes: tuple[str, ...] = ()

    #: Above SymPy's (10): ``N + s`` and ``2 * s`` call the series' reflected operators.
    _op_priority = 20.0

    def __post_init__(self):
        if isinstance(self.coefficients, (str, bytes, sympy.Basic, NDimArray)) \
                or not hasattr(self.coefficients, "__iter__"):
            raise InputTypeError("coefficients must be a sequence (one coefficient per power "
                                 "of eta)")
        coeffs = tuple(_coefficient(c) for c in self.coefficients)
        if not coeffs:
            raise OrderError("a series needs at least its zeroth coefficient")
        shapes = {_shape(c) for c in coeffs}
        if len(shapes) > 1:
            raise ShapeError(f"coefficients of different shapes: {sorted(shapes)}")
        if not isinstance(self.eta, sympy.Symbol):
            raise InputTypeError("eta must be a SymPy Symbol")
        symbols = set().union(*(_free_symbols(c) for c in coeffs))
        if self.eta in symbols:
            raise SymbolError(f"series coefficients must be free of {self.eta}; got "
                              f"{[c for c in coeffs if self.eta in _free_symbols(c)][0]}")
        if self.schedule is not None and not isinstance(self.schedule, BaseSchedule):
            raise InputTypeError(f"schedule must be a symsgd schedule, got "
                                 f"{type(self.schedule).__name__}")
        _check_names(symbols | {self.eta} | schedule_symbols(self.schedule))
        if self.measure is not None:
            root_products(self.measure, moment=self.moment)
        elif isinstance(self.moment, bool) or self.moment not in (1, 2):
            raise MeasureError(f"moment must be 1 or 2, got {self.moment!r}")
        label = self.label
        if label is None and self.measure is not None:
            label = NAMES[self.measure] if self.moment == 1 else \
                f"second moment of the {NAMES[self.measure]}"
        if label is not None and not isinstance(label, str):
            raise InputTypeError(f"label must be a string, got {type(label).__name__}")
        if not isinstance(self.method, str):
            raise InputTypeError(f"method must be a string, got {type(self.method).__name__}")
        if isinstance(self.notes, str) or not all(isinstance(n, str) for n in self.notes):
            raise InputTypeError("notes must be a sequence of strings")
        object.__setattr__(self, "coefficients", coeffs)
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "moment", int(self.moment))
        object.__setattr__(self, "notes", tuple(self.notes))

    # -- structure --
    @property
    def order(self) -> int:
        """The highest power of ``eta`` whose coefficient is known."""
        return len(self.coefficients) - 1

    @property
    def shape(self) -> tuple:
        """``()`` for a scalar quantity, the array shape otherwise."""
        return _shape(self.coefficients[0])

    def coeff(self, k: int):
        """The exact coefficient of ``eta**k``, in the form it is held.

        Raises:
            OrderError: ``k`` is not an integer in ``0..order``.
        """
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise OrderError(f"the power must be an integer, got {k!r}")
        if not 0 <= k <= self.order:
            raise OrderError(f"this series knows powers 0..{self.order} of {self.eta}, not {k}")
        return self.coefficients[k]

    def __iter__(self):
        return iter(self.coefficients)

    def __len__(self) -> int:
        return len(self.coefficients)

    @property
    def free_symbols(self) -> set:
        """The symbols of ``sympy.sympify(series)``: those of the coefficients and ``eta``.

        As in SymPy, where ``(1 + x + O(x**2)).free_symbols`` is ``{x}``.

        >>> import sympy
        >>> N = sympy.Symbol('N')
        >>> sorted(Series((N, 1)).free_symbols, key=str)
        [N, eta]
        """
        return set().union(*(_free_symbols(c) for c in self.coefficients)) | {self.eta}

    def truncate(self, order: int) -> "Series":
        """The same series keeping powers up to ``order``.

        Raises:
            OrderError: ``order`` is not in ``0..self.order``.

        >>> Series((1, 2, 3)).truncate(1)
        Series(1 + 2*eta + O(eta**2))
        """
        self.coeff(order)
        return replace(self, coefficients=self.coefficients[:order + 1])

    # -- equality --
    @functools.cached_property
    def _canonical(self) -> tuple:
        """The coefficients after ``sympy.expand`` (cached: equality and hashing use it)."""
        return tuple(_apply(c, sympy.expand) for c in self.coefficients)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Series):
            return NotImplemented
        return self.eta == other.eta and self._canonical == other._canonical

    def __hash__(self) -> int:
        return hash((self.eta, self._canonical))

    # -- as a SymPy expression --
    def removeO(self):
        """The polynomial ``sum_k c_k eta^k`` without the order term (a SymPy array for arrays).

        >>> Series((1, 2)).removeO()
        2*eta + 1
        """
        terms = [c * self.eta**k for k, c in enumerate(self.coefficients)]
        return sum(terms[1:], terms[0]) if self.shape else sympy.Add(*terms)

    def _sympy_(self):
        """``c_0 + c_1 eta + ... + O(eta^(d+1))``: the protocol behind ``sympy.sympify(series)``.

        A series of arrays gives an ``ImmutableDenseNDimArray`` whose entries
        are such expressions, one per component (an array has no order term of
        its own).  SymPy functions that accept arrays (``sympy.diff``,
        ``sympy.simplify``, ``sympy.pretty``) then apply; the others
        (``sympy.expand``) do not, as for any array: use the series' methods.

        >>> import sympy
        >>> N = sympy.Symbol('N')
        >>> sympy.sympify(Series((1, N - 1)))
        1 + eta*(N - 1) + O(eta**2)
        >>> sympy.sympify(Series(([1, 0], [0, N])))
        [1 + O(eta**2), N*eta + O(eta**2)]
        """
        order = sympy.O(self.eta**(self.order + 1))
        if not self.shape:
            return sympy.Add(*(c * self.eta**k for k, c in enumerate(self.coefficients)), order)
        return self.removeO().applyfunc(lambda entry: entry + order)

    def __call__(self, lr):
        """The truncated polynomial at the learning rate ``lr`` (exact for exact input).

        Args:
            lr: the value of ``eta``: a number (floats give floats) or a SymPy expression.

        Raises:
            InputTypeError: a string.

        >>> import sympy
        >>> Series((1, 2))(sympy.Rational(1, 4))
        3/2
        """
        value = _scalar(lr, "the learning rate", floats=True)
        if self.shape:
            return self.removeO().applyfunc(lambda c: c.subs(self.eta, value))
        return self.removeO().subs(self.eta, value)

    # -- coefficientwise operations --
    def map(self, func) -> "Series":
        """Apply ``func`` to every coefficient (each entry of an array); metadata is kept.

        Raises:
            InputTypeError: ``func`` is not callable, or returns what is not a
                coefficient (a string, a float).

        >>> import sympy
        >>> N = sympy.Symbol('N')
        >>> Series((N**2 - 1,)).map(sympy.factor)
        Series((N - 1)*(N + 1) + O(eta))
        """
        if not callable(func):
            raise InputTypeError(f"map needs a callable of one coefficient, got {func!r}")
        return replace(self, coefficients=tuple(_apply(c, func) for c in self.coefficients))

    def expand(self, **hints) -> "Series":
        """Every coefficient through ``sympy.expand(c, **hints)``.

        Raises:
            InputTypeError: a hint given as a string (hints are flags and numbers).

        >>> import sympy
        >>> N = sympy.Symbol('N')
        >>> Series((N * (N + 1),)).expand()
        Series(N**2 + N + O(eta))
        """
        _no_text_options(hints, "expand")
        return self.map(lambda c: sympy.expand(c, **hints))

    def factor(self, *gens, **args) -> "Series":
        """Every coefficient through ``sympy.factor(c, *gens, **args)``.

        Raises:
            InputTypeError: a generator that is not a SymPy expression (a string),
                or an option given as a string.

        >>> import sympy
        >>> N = sympy.Symbol('N')
        >>> Series((0, N**2 / 2 - sympy.S.Half)).factor()
        Series(eta*(N - 1)*(N + 1)/2 + O(eta**2))
        """
        gens = tuple(expression(g, "a generator of factor") for g in gens)
        _no_text_options(args, "factor")
        return self.map(lambda c: sympy.factor(c, *gens, **args))

    def simplify(self, **kwargs) -> "Series":
        """Every coefficient through ``sympy.simplify(c, **kwargs)``.

        Raises:
            InputTypeError: an option given as a string (SymPy's options are
                flags, numbers and callables).

        >>> import sympy
        >>> x, y, N = sympy.symbols('x y N')
        >>> Series((0, N * x / 2 + N * y / 2)).simplify()
        Series(N*eta*(x + y)/2 + O(eta**2))
        """
        _no_text_options(kwargs, "simplify")
        return self.map(lambda c: sympy.simplify(c, **kwargs))

    def collect(self, *syms, func=sympy.factor) -> "Series":
        """Every coefficient grouped by contraction monomial, each group's factor through ``func``.

        The form a theorist reads: ``((N - 1)/2) [G H G] + (N/2) C:H``.  The
        printer keeps it.  With ``syms``, coefficients are grouped by those
        instead, through ``sympy.collect(c, syms, func=func)``.

        Args:
            syms: what to group by (default: the contractions, and their
                products for second moments).
            func: applied to the factor of each group (default ``sympy.factor``).

        >>> import sympy, symsgd
        >>> N, B = sympy.symbols('N B', integer=True, positive=True)
        >>> s = symsgd.expected_loss(symsgd.sgd(N, batch=B), 2, method='direct')
        >>> s.collect().coeff(2)
        -N*(B - 2*N)*[G H G]/(2*B**2) + N*C:H/(2*B**2)
        """
        syms = tuple(expression(x, "collect's symbols") for x in syms)

        def group(c):
            c = sympy.expand(c)
            if syms:
                return sympy.collect(c, syms, func=func)
            atoms = sorted(c.atoms(Contraction), key=lambda a: a.sort_key())
            if not atoms:
                return func(c)
            poly = sympy.Poly(c, *atoms)
            return sympy.Add(*(func(k) * sympy.Mul(*(a**e for a, e in zip(atoms, m)))
                               for m, k in poly.terms()))

        return self.map(group)

    # -- substitution --
    def _symbols_by_name(self) -> dict:
        symbols = self.free_symbols | schedule_symbols(self.schedule)
        return {s.name: s for s in symbols if not isinstance(s, sympy.Dummy)}

    def _key(self, key, what: str):
        """A substitution or derivative key: a symbol of the series (matched by name) or an
        expression (for ``subs``); a name that is not a symbol of the series raises."""
        if isinstance(key, (str, sympy.Symbol)):
            name = key if isinstance(key, str) else key.name
            names = self._symbols_by_name()
            if name not in names or (isinstance(key, sympy.Dummy) and key not in names.values()):
                raise SymbolError(f"{what}: the series has no symbol {name!r}; it has "
                                  f"{sorted(names)}")
            return names[name]
        if isinstance(key, bytes) or not isinstance(key, sympy.Basic):
            raise InputTypeError(f"{what}: a key must be a symbol, its name or a SymPy "
                                 f"expression, not {type(key).__name__}")
        return key

    def _rule(self, args, names, what: str) -> dict:
        if len(args) == 2:
            pairs = [tuple(args)]
        elif len(args) == 1 and isinstance(args[0], dict):
            pairs = list(args[0].items())
        elif len(args) == 1 and hasattr(args[0], "__iter__") and not isinstance(args[0], str):
            pairs = [tuple(p) for p in args[0]]
        elif not args:
            pairs = []
        else:
            raise InputTypeError(f"{what}: give (old, new), a dict, pairs, or names as keywords")
        rule = {}
        for old, new in pairs + list(names.items()):
            key = self._key(old, what)
            if key == self.eta:
                rule[key] = new if isinstance(new, sympy.Symbol) else \
                    _scalar(new, f"{what}: {key}", floats=True)
            elif isinstance(key, sympy.Symbol):
                rule[key] = size_value(key, new)
            else:
                rule[key] = _scalar(new, f"{what}: {key}")
        return rule

    def _substitute(self, rule: dict, method: str):
        eta = rule.pop(self.eta, None)
        series = self
        if rule:
            series = replace(self, coefficients=tuple(
                _apply(c, lambda e: getattr(e, method)(rule)) for c in self.coefficients),
                schedule=substitute_schedule(self.schedule, rule, method))
        if eta is None:
            return series
        if isinstance(eta, sympy.Symbol):
            return replace(series, eta=eta)
        return series(eta)

    def subs(self, *args, **names):
        """Substitute in every coefficient, as ``sympy.Basic.subs``, and in the schedule.

        Keys are symbols of the series, matched by name (``Symbol('N')`` finds
        ``Symbol('N', integer=True, positive=True)``), their names as strings or
        keywords (``s.subs(N=10)``), or other SymPy expressions (a contraction,
        a product) substituted as SymPy does.  Values of symbols must meet
        their assumptions, and the schedule's sizes are substituted and
        rechecked (``batch`` must still divide ``N``).

        Substituting ``eta``: by a symbol renames the variable (a Series);
        by a value or another expression gives the truncated polynomial's
        value there (a SymPy expression, or array), since an order term at a
        point means nothing.

        Args:
            args: ``(old, new)``, a dict or an iterable of pairs.
            names: values by symbol name.

        Raises:
            SymbolError: a symbol or name the series does not have.
            RangeError: a value breaking a symbol's assumptions.
            ScheduleError: sizes the schedule refuses.
            InputTypeError: a string value (never parsed).

        >>> import sympy, symsgd
        >>> N = sympy.Symbol('N', integer=True, positive=True)
        >>> s = symsgd.expected_loss(symsgd.gd(N, steps=2), 1, method='direct')
        >>> s.subs(N=3).schedule
        GDSchedule(N=3, steps=2)
        >>> s.subs('eta', sympy.Rational(1, 10))
        l - [G G]/5
        >>> s.subs('M', 3)
        Traceback (most recent call last):
        ...
        symsgd.errors.SymbolError: subs: the series has no symbol 'M'; it has ['N', 'eta']
        """
        return self._substitute(self._rule(args, names, "subs"), "subs")

    def xreplace(self, rule):
        """Replace exactly, as ``sympy.Basic.xreplace``, in every coefficient and the schedule.

        Keys and values as for :meth:`subs` (symbols matched by name; ``eta``
        by a value gives the polynomial's value).

        >>> import sympy
        >>> x, y = sympy.symbols('x y')
        >>> Series((x, x * y)).xreplace({x: 2})
        Series(2 + 2*eta*y + O(eta**2))
        """
        if not isinstance(rule, dict):
            raise InputTypeError("xreplace takes a dict")
        return self._substitute(self._rule((rule,), {}, "xreplace"), "xreplace")

    def diff(self, *symbols) -> "Series":
        """The derivative: by ``eta`` the derivative series (one order lower), by another
        symbol coefficientwise.

        Symbols as in ``sympy.diff``: ``diff(eta)``, ``diff(eta, 2)``,
        ``diff(N, eta)``, ``diff((eta, 2))``; names as strings too.

        Raises:
            SymbolError: a symbol the series does not have.
            OrderError: no coefficient left (differentiating a series of order 0
                by ``eta``).

        >>> import sympy
        >>> N = sympy.Symbol('N')
        >>> s = Series((1, N, N**2))
        >>> s.diff(ETA)
        Series(N + 2*N**2*eta + O(eta**2))
        >>> s.diff('N')
        Series(eta + 2*N*eta**2 + O(eta**3))
        """
        if not symbols:
            raise InputTypeError("diff needs the symbols to differentiate by")
        variables, items = [], list(symbols)
        while items:
            item = items.pop(0)
            count = 1
            if isinstance(item, tuple):
                item, count = item
            elif items and isinstance(items[0], numbers.Integral) and not isinstance(items[0], bool):
                count = items.pop(0)
            if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
                raise InputTypeError(f"diff: a count must be a non-negative integer, got "
                                     f"{count!r}")
            variables += [self._key(item, "diff")] * int(count)
        series = self
        for v in variables:
            if not isinstance(v, sympy.Symbol):
                raise InputTypeError(f"diff: differentiate by a symbol, not {v}")
            series = series._derivative(v)
        return series

    def _derivative(self, symbol) -> "Series":
        label = None if self.label is None else f"d/d{symbol} ({self.label})"
        if symbol == self.eta:
            if self.order == 0:
                raise OrderError(f"d/d{self.eta} of a series known to order 0 knows no coefficient")
            coeffs = tuple(k * c for k, c in enumerate(self.coefficients) if k)
        else:
            coeffs = tuple(_apply(c, lambda e: sympy.diff(e, symbol)) for c in self.coefficients)
        return self._derived(coeffs, label)

    # -- arithmetic --
    def _derived(self, coeffs, label) -> "Series":
        """A new quantity from this one: same variable, schedule, method, notes; no measure."""
        return Series(coeffs, eta=self.eta, label=label, schedule=self.schedule,
                      method=self.method, notes=self.notes)

    def _ranks(self) -> set:
        return {c.rank for c in self.contractions()}

    def _merge(self, other: "Series", coeffs, label) -> "Series":
        return Series(coeffs, eta=self.eta, label=label,
                      schedule=self.schedule if self.schedule == other.schedule else None,
                      method=self.method if self.method == other.method else "",
                      notes=tuple(dict.fromkeys(self.notes + other.notes)))

    def _check_compatible(self, other: "Series") -> None:
        if other.eta != self.eta:
            raise SymbolError(f"series in different variables: {self.eta} and {other.eta}")
        if other.shape != self.shape:
            raise ShapeError(f"cannot combine series of shapes {self.shape} and {other.shape}")
        ranks = (self._ranks(), other._ranks())
        if all(ranks) and ranks[0] != ranks[1]:
            raise ShapeError(f"cannot combine series of contractions of ranks "
                             f"{sorted(ranks[0])} and {sorted(ranks[1])}")

    def _scalar_factor(self, value, what: str):
        value = _scalar(value, what)
        if value.has(self.eta):
            raise SymbolError(f"{what}: {value} contains {self.eta}; a Series combines with "
                              f"expressions free of {self.eta}")
        return value

    def _as_series(self, value) -> "Series":
        """A scalar (free of eta) as the series ``value + 0 eta + ...`` of the same order."""
        value = self._scalar_factor(value, "adding to a Series")
        if value != 0:
            if self.shape:
                raise ShapeError(f"cannot add the scalar {value} to a series of shape {self.shape}")
            ranks = {c.rank for c in contractions_in(value)} - {0}
            if ranks != self._ranks() - {0}:
                raise ShapeError(f"cannot add {value} (contractions of ranks {sorted(ranks)}) "
                                 f"to a series of ranks {sorted(self._ranks() - {0})}")
        return Series((value,) + (0,) * self.order, eta=self.eta, label=sympy.sstr(value),
                      schedule=self.schedule, method=self.method)

    def _combine(self, other: "Series", sign: int) -> "Series":
        self._check_compatible(other)
        n = min(self.order, other.order) + 1
        coeffs = tuple(a + sign * b for a, b in zip(self.coefficients[:n], other.coefficients[:n]))
        return self._merge(other, coeffs, _label("+" if sign > 0 else "-", self.label, other.label))

    def __add__(self, other) -> "Series":
        """The sum with a series (truncated at the lower order) or a scalar free of ``eta``
        (added to the zeroth coefficient).

        Raises:
            SymbolError: different variables, or a scalar containing ``eta``.
            ShapeError: a scalar added to a vector quantity, or different shapes.
            InputTypeError: a float, a string or another non-exact value.

        >>> import sympy
        >>> N = sympy.Symbol('N')
        >>> Series((1, 2)) + N, 1 - Series((1, 2))
        (Series(N + 1 + 2*eta + O(eta**2)), Series(-2*eta + O(eta**2)))
        """
        return self._combine(other if isinstance(other, Series) else self._as_series(other), 1)

    def __radd__(self, other) -> "Series":
        return self._as_series(other)._combine(self, 1)

    def __sub__(self, other) -> "Series":
        return self._combine(other if isinstance(other, Series) else self._as_series(other), -1)

    def __rsub__(self, other) -> "Series":
        return self._as_series(other)._combine(self, -1)

    def __neg__(self) -> "Series":
        return self._derived(tuple(-c for c in self.coefficients),
                             None if self.label is None else f"-({self.label})")

    def __mul__(self, factor) -> "Series":
        """The series times an exact number or a SymPy expression free of ``eta``.

        >>> import sympy
        >>> 2 * Series((sympy.Integer(1), sympy.Rational(1, 2)))
        Series(2 + eta + O(eta**2))
        >>> Series((sympy.Integer(1),)) * '2'
        Traceback (most recent call last):
        ...
        symsgd.errors.InputTypeError: multiplying a Series: got the string '2'; symsgd never parses strings, build the expression with SymPy
        """
        if isinstance(factor, Series):
            raise InputTypeError("multiply two series with .times() (it truncates at the "
                                 "lower order)")
        factor = self._scalar_factor(factor, "multiplying a Series")
        return self._derived(tuple(c * factor for c in self.coefficients),
                             None if self.label is None else f"{factor}*({self.label})")

    __rmul__ = __mul__

    def __truediv__(self, divisor) -> "Series":
        """The series divided by an exact nonzero number or a SymPy expression free of ``eta``.

        Raises:
            ZeroDivisionError: a divisor that is zero.
            InputTypeError: a float (a Series is exact), a string, a series, or another
                type.

        >>> Series((1, 3)) / 2
        Series(1/2 + 3*eta/2 + O(eta**2))
        """
        if isinstance(divisor, Series):
            raise InputTypeError("a Series divides by an exact scalar, not by a series")
        divisor = self._scalar_factor(divisor, "dividing a Series")
        if divisor.is_zero:
            raise ZeroDivisionError(f"division of a Series by {divisor}")
        return self._derived(tuple(c / divisor for c in self.coefficients),
                             None if self.label is None else f"({self.label})/{divisor}")

    def __rtruediv__(self, other):
        raise InputTypeError("a Series is not invertible here: divide a series by a scalar "
                             "only")

    def times(self, other: "Series") -> "Series":
        """The product of two series, truncated at the lower order (e.g. a squared mean).

        >>> import sympy
        >>> a = Series((sympy.Integer(1), sympy.Integer(2)))
        >>> a.times(a)
        Series(1 + 4*eta + O(eta**2))
        """
        if not isinstance(other, Series):
            raise InputTypeError("times() multiplies two Series")
        self._check_compatible(other)
        if self.shape or self._ranks() - {0} or other._ranks() - {0}:
            raise ShapeError("times() multiplies scalar series")
        n = min(self.order, other.order) + 1
        coeffs = tuple(sympy.expand(sum(self.coefficients[i] * other.coefficients[k - i]
                                        for i in range(k + 1))) for k in range(n))
        return self._merge(other, coeffs, _label("*", self.label, other.label))

    # -- symbolic statistics (contractions); the heavy code lives in tensors/codegen --
    def contractions(self, *powers: int) -> tuple:
        """The distinct :class:`~symsgd.tensors.Contraction` atoms in the coefficients of ``eta**k``
        for ``k`` in ``powers`` (all coefficients when none is given).

        Raises:
            OrderError: a power the series does not know.

        >>> import symsgd
        >>> s = symsgd.expected_loss(symsgd.sgd(2), 2, method='direct')
        >>> s.contractions(2)
        ([G H G], C:H)
        >>> s.contractions(0, 1, 2) == s.contractions()
        True
        """
        coeffs = tuple(self.coeff(k) for k in powers) if powers else self.coefficients
        atoms = set().union(*(contractions_in(c) for c in coeffs))
        return tuple(sorted(atoms, key=lambda c: c.sort_key()))

    def evaluate(self, landscape, *, metric=None, **sizes) -> "Series":
        """Substitute a landscape's exact statistics (and sizes by name) into every coefficient.

        Args:
            landscape: a :class:`~symsgd.Landscape` (its exact cumulants are
                used) or any ``stats`` accepted by
                :meth:`~symsgd.tensors.Contraction.evaluate`.
            metric: an optional inverse metric on every edge.
            sizes: exact values of the size symbols by name, e.g. ``N=10``;
                checked against the symbols' assumptions and, when the series
                records its schedule, against the schedule's rules.

        Contractions with a free index (vector quantities) evaluate to arrays.

        Raises:
            SymbolError: a name that is not a symbol of the series or its schedule.
            RangeError: a size breaking its symbol's assumptions (``N=-10``).
            ScheduleError: sizes the schedule refuses (``B`` not dividing ``N``).
            LandscapeError: no landscape (``None``).
            InputTypeError: a string size, or statistics of a wrong type.

        >>> import sympy, symsgd
        >>> N, B = sympy.symbols('N B', integer=True, positive=True)
        >>> w, x = sympy.symbols('w x')
        >>> L = symsgd.Landscape((w - x)**2 / 2, w, x, init=[1])
        >>> symsgd.expected_loss(symsgd.sgd(N), 2, method='direct').evaluate(L, N=2)
        Series(1 - 2*eta + 4*eta**2 + O(eta**3))
        >>> symsgd.expected_displacement(symsgd.gd(N, steps=2), 2,
        ...                              method='direct').evaluate(L, N=2)
        Series([-2]*eta + [1]*eta**2 + O(eta**3))
        >>> symsgd.expected_loss(symsgd.sgd(N, batch=B), 2, method='direct').evaluate(L, N=4, B=3)
        Traceback (most recent call last):
        ...
        symsgd.errors.ScheduleError: N = 4, B = 3 do not fit the schedule sgd(N=N, batch=B, epochs=1, reshuffle='fixed'): batch = 3 does not divide N = 4
        """
        stats = statistics_source(landscape, "Series.evaluate")
        names = self._symbols_by_name()
        names.pop(self.eta.name, None)
        unknown = [n for n in sizes if n not in names]
        if unknown:
            hint = f" (the series' variable: use series({self.eta.name}_value))" \
                if self.eta.name in unknown else ""
            raise SymbolError(f"the series has no symbols {unknown}{hint}; it has {sorted(names)}")
        sub = {names[n]: size_value(names[n], v) for n, v in sizes.items()}
        schedule = substitute_schedule(self.schedule, sub)

        def value(c):
            return evaluate_expr(c.xreplace(sub), stats, metric=metric)

        values = [c.applyfunc(value) if isinstance(c, NDimArray) else value(c)
                  for c in self.coefficients]
        shapes = {_shape(v) for v in values} - {()}
        if shapes and not self.shape:
            zero = sympy.ImmutableDenseNDimArray.zeros(*shapes.pop())
            values = [zero if not isinstance(v, NDimArray) and v == 0 else v for v in values]
        return replace(self, coefficients=tuple(values), schedule=schedule)

    def lambdify(self, *, backend: str = "numpy", dtype="float64"):
        """A compiled numeric :class:`~symsgd.codegen.Kernel` (cached): ``f(eta, stats, **sizes)``.

        Args:
            backend: ``'numpy'`` or ``'torch'`` (see :data:`symsgd.codegen.BACKENDS`).
            dtype: ``'float64'`` (default) or ``'float32'`` (names, numpy or torch dtypes).

        >>> import numpy as np, symsgd
        >>> series = symsgd.expected_loss(symsgd.gd(4, steps=3), 1, method='direct')
        >>> f = series.lambdify()
        >>> float(f(0.5, {(0,): np.array(2.0), (1,): np.array([1.0, 1.0])}))
        -1.0
        >>> series.lambdify(dtype='float32')(0.5, {(0,): 2.0, (1,): [1.0, 1.0]}).dtype
        dtype('float32')
        """
        from .codegen import compile_series
        return compile_series(self, backend=backend, dtype=dtype)

    # -- printing --
    def _sympystr(self, printer) -> str:
        return self._print_with(printer)

    def _latex(self, printer) -> str:
        return self._print_with(printer)

    def _pretty(self, printer):
        """``sympy.pretty(series)``: increasing powers of ``eta``, coefficients as held."""
        if self.shape:
            return printer._print(self._sympy_())
        terms = [c * self.eta**k for k, c in enumerate(self.coefficients)
                 if not _is_zero(self._canonical[k])]
        order = sympy.O(self.eta**(self.order + 1))
        if not terms:
            return printer._print(order)
        return printer._print_Add(sympy.Add(*terms, order, evaluate=False), order="none")

    def _print_with(self, printer) -> str:
        """``c_0 + c_1 eta + c_2 eta^2 + ... + O(eta^(d+1))``, zero terms left out."""
        terms = [self._print_term(printer, k, c) for k, c in enumerate(self.coefficients)]
        terms = [t for t in terms if t] + [printer._print(sympy.O(self.eta**(self.order + 1)))]
        text = terms[0]
        for term in terms[1:]:
            text += f" - {term[1:].lstrip()}" if term.startswith("-") else f" + {term}"
        return text

    def _print_term(self, printer, k: int, c) -> str:
        """One power's term, its coefficient in the form held (only zeros are dropped)."""
        latex = printer.printmethod == "_latex"
        if _is_zero(self._canonical[k]):
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
