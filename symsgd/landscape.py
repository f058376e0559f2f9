"""Loss landscapes written in SymPy, with exact statistics at the initialization.

A :class:`Landscape` is a per-sample loss ``l_x(theta)``, a data law for ``x``
and an initialization ``theta_0``.  It gives the test loss ``l = E_x l_x``, and
exact joint cumulants of derivative tensors at ``theta_0``:
``G = E grad l_x``, ``H = E grad^2 l_x``, ``J = E grad^3 l_x``,
``C = Cov(grad l_x)``, ``S`` the third cumulant of ``grad l_x``, and in general
``kappa(grad^{k1} l_x, ..., grad^{km} l_x)`` by Moebius inversion on the
lattice of set partitions.

>>> import sympy
>>> a, b, x = sympy.symbols('a b x')
>>> L = Landscape(a + (b - a * x)**2 - a**2, params=(a, b), data=x, init={a: 1, b: 1})
>>> L.test_loss
a + b**2
>>> L.G
[1, 2]
>>> L.C
[[12, 4], [4, 4]]
"""

from __future__ import annotations

import functools
import itertools
import numbers
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import sympy
from sympy.utilities.iterables import multiset_partitions

from ._backends import Backend, get_backend
from ._sympify import exact, expression, finite, refuse_text
from .distributions import Distribution, as_distribution
from .errors import InputTypeError, LandscapeError, NotPolynomialError, ShapeError
from .statistics import Named

__all__ = ["Landscape"]


def _symbols(value, what: str) -> tuple[sympy.Symbol, ...]:
    refuse_text(value, what)
    if isinstance(value, sympy.Basic):
        seq = (value,)
    elif isinstance(value, Iterable) and not isinstance(value, Mapping):
        seq = tuple(value)
    else:
        raise InputTypeError(f"{what} must be a SymPy Symbol or a sequence of them, got {value!r}")
    for s in seq:
        refuse_text(s, what)
        if not isinstance(s, sympy.Symbol):
            raise LandscapeError(f"{what} must be SymPy Symbols, got {s!r}")
    if len(set(seq)) != len(seq):
        raise LandscapeError(f"{what} repeat a symbol: {seq}")
    if not seq:
        raise LandscapeError(f"{what} must not be empty")
    return seq


@dataclass(frozen=True)
class Landscape(Named):
    """A per-sample loss with a data law and an initialization.

    Args:
        loss: SymPy expression in the parameters and the data symbols (never a
            string: build it with SymPy).
        params: the parameter symbols (a Symbol or a sequence of them).
        data: the data symbol(s) of one sample; each must appear in ``loss``.
        init: the initial parameters, a mapping ``{param: value}`` or a
            sequence in the order of ``params``; exact numbers or symbols.
        distribution: the law of one data point: ``None`` for i.i.d. standard
            normal coordinates, a ``sympy.stats`` random expression, a mapping
            ``{data symbol: random expression}`` or a
            :class:`~symsgd.distributions.Distribution` such as
            :class:`~symsgd.distributions.Dataset`.
        name: a label for printing (keyword-only, like ``distribution``).

    Raises:
        InputTypeError: a string (strings are never parsed), a float (use
            exact numbers: ``sympy.Rational``) or another type that is not a
            SymPy expression, Symbol or number where one is needed.
        LandscapeError: parameters and data that do not fit together (repeated,
            shared, unused data symbols, missing or extra initial values), or
            a distribution that cannot describe the data symbols.
        NonFiniteError, MomentError: see :mod:`symsgd.distributions`.

    >>> import sympy
    >>> w, x = sympy.symbols('w x')
    >>> L = Landscape((w - x)**2 / 2, w, x, init=[0])
    >>> L.H, L.C
    ([[1]], [[1]])
    >>> L.cumulant(1, 1, 1)
    [[[0]]]
    """

    loss: sympy.Expr
    params: tuple
    data: tuple
    init: tuple
    distribution: Distribution = field(default=None, kw_only=True)
    name: str = field(default="landscape", compare=False, kw_only=True)

    def __post_init__(self):
        loss = finite(exact(self.loss, "loss"), "loss")
        if loss.is_number:
            raise InputTypeError(f"loss must be a SymPy expression in the parameters and data, "
                                 f"got the number {loss}")
        if not isinstance(self.name, str):
            raise InputTypeError(f"name must be a string, got {self.name!r}")
        params = _symbols(self.params, "params")
        data = _symbols(self.data, "data symbols")
        if set(params) & set(data):
            raise LandscapeError(f"symbols both parameter and data: {set(params) & set(data)}")
        unused = [d for d in data if not loss.has(d)]
        if unused:
            raise LandscapeError(f"data symbols {unused} do not appear in the loss")
        init = self.init
        refuse_text(init, "init")
        if isinstance(init, Mapping):
            missing = [p for p in params if p not in init]
            if missing:
                raise LandscapeError(f"init gives no value for the parameters {missing}")
            extra = [k for k in init if k not in params]
            if extra:
                raise LandscapeError(f"init names symbols that are not parameters: {extra}")
            init = [init[p] for p in params]
        else:
            scalar = isinstance(init, (sympy.Basic, numbers.Number)) or not isinstance(init,
                                                                                      Iterable)
            init = [init] if scalar else list(init)
            if len(init) != len(params):
                raise LandscapeError(f"init has {len(init)} values for {len(params)} parameters")
        init = tuple(finite(exact(v, f"init[{p}]"), f"init[{p}]") for p, v in zip(params, init))
        dist = as_distribution(self.distribution, data)
        dist.check(data)
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "init", init)
        object.__setattr__(self, "distribution", dist)

    # ----------------------------------------------------------------- basics
    @property
    def dim(self) -> int:
        """The number of parameters."""
        return len(self.params)

    @property
    def init_map(self) -> dict:
        """``{param: initial value}``."""
        return dict(zip(self.params, self.init))

    def expect(self, expr):
        """The exact expectation of ``expr`` over one data point.

        Args:
            expr: a SymPy expression in the parameters and data symbols.

        Raises:
            InputTypeError: ``expr`` is a string or not a SymPy expression or number.
            MomentError: the data law lacks a moment that ``expr`` needs.

        >>> import sympy
        >>> w, x = sympy.symbols('w x')
        >>> Landscape((w - x)**2 / 2, w, x, init=[0]).expect(x**2 + w)
        w + 1
        """
        return self._expect(expression(expr, "expr"))

    @functools.cached_property
    def _expect(self):
        return functools.lru_cache(maxsize=None)(
            lambda e: self.distribution.expect(e, self.data))

    @functools.cached_property
    def test_loss(self) -> sympy.Expr:
        """``l(theta) = E_x l_x(theta)`` as an expression in the parameters."""
        return sympy.expand(self.expect(self.loss))

    def derivative(self, k: int):
        """``grad^k l_x`` (rank-``k`` array; the loss itself for ``k = 0``) in params and data.

        Raises:
            InputTypeError: ``k`` is a string.
            ShapeError: ``k`` is not a non-negative integer.

        >>> import sympy
        >>> w, x = sympy.symbols('w x')
        >>> Landscape((w - x)**2 / 2, w, x, init=[0]).derivative(1)
        [w - x]
        """
        refuse_text(k, "k")
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
            raise ShapeError(f"the derivative order must be a non-negative integer, got {k!r}")
        k = int(k)
        return self.loss if k == 0 else self._derivative(k)

    @functools.lru_cache(maxsize=None)
    def _derivative(self, k: int):
        return sympy.ImmutableDenseNDimArray(sympy.derive_by_array(
            self.loss if k == 1 else self._derivative(k - 1), self.params))

    @functools.lru_cache(maxsize=None)
    def _at_init(self, k: int) -> dict:
        """Entries of ``grad^k l_x`` at ``theta_0``: ``{index tuple: expression in the data}``."""
        sub = self.init_map
        if k == 0:
            return {(): self.loss.xreplace(sub)}
        arr = self._derivative(k)
        return {idx: sympy.expand(arr[idx].xreplace(sub))
                for idx in itertools.product(range(self.dim), repeat=k)}

    # ------------------------------------------------------------- statistics
    def moment(self, *orders: int) -> sympy.ImmutableDenseNDimArray:
        """``E[grad^{k1} l_x (x) ... (x) grad^{km} l_x]`` at the initialization."""
        return self._tensor(orders, self._moment_entry)

    def cumulant(self, *orders: int) -> sympy.ImmutableDenseNDimArray:
        """The joint cumulant ``kappa(grad^{k1} l_x, ..., grad^{km} l_x)`` at the initialization.

        The result has rank ``k1 + ... + km``; its axes are grouped by argument
        in the order given.  It is the contraction of :meth:`cumulant_factors`.

        >>> import sympy
        >>> w, x = sympy.symbols('w x')
        >>> Landscape((w - x)**4 / 4, w, x, init=[0]).cumulant(1, 1)     # Var(x^3)
        [[15]]
        """
        kappa, coefficients = self.cumulant_factors(*orders)
        m, rank = len(orders), sum(orders)
        operands, start = [kappa, list(range(m))], m
        for i, (k, C) in enumerate(zip(orders, coefficients)):
            operands += [C, [i] + list(range(start, start + k))]
            start += k
        total = np.einsum(*operands, list(range(m, m + rank)))
        entries = [sympy.sympify(x) if not isinstance(x, sympy.Basic) else
                   x if x.is_Number else sympy.expand(x)
                   for x in np.asarray(total, dtype=object).reshape(-1)]
        return sympy.ImmutableDenseNDimArray(entries, (self.dim,) * rank)

    def cumulant_factors(self, *orders: int) -> tuple:
        """The joint cumulant of :meth:`cumulant` in factored form ``(kappa, coefficients)``.

        Each derivative at the initialization is a sum over its *features* ``phi`` (the
        factors that depend on the data, ``1`` for the rest) of a coefficient tensor times
        ``phi(x)``: ``grad^k l_x = sum_phi C_k[phi] phi(x)``.  Cumulants are multilinear, so

            ``kappa(grad^{k1} l_x, ...) = sum kappa(phi_1(x), ...) C_k1[phi_1] (x) ...``

        with scalar cumulants of the features (Moebius inversion over set partitions of
        the arguments, ``sum_pi (-1)^(|pi|-1) (|pi|-1)! prod_B E[prod_B phi]``).  For
        ``m >= 2`` arguments constant features drop out.

        Returns:
            ``kappa``: an object array of shape ``(F_1, ..., F_m)``, the scalar cumulants;
            ``coefficients``: for each argument an object array of shape
            ``(F_i,) + (P,) * k_i`` (exact SymPy entries).

        >>> import sympy
        >>> w, x = sympy.symbols('w x')
        >>> kappa, (C,) = Landscape((w - x)**2 / 2, w, x, init=[1]).cumulant_factors(1)
        >>> kappa.tolist(), C.tolist()      # grad = 1 - x: features 1 and x, E[1] = 1, E[x] = 0
        ([1, 0], [[1], [-1]])
        """
        orders = _orders(orders)
        tables = [self._features(k) for k in orders]
        if len(orders) > 1:
            tables = [{phi: C for phi, C in t.items() if phi != sympy.S.One} for t in tables]
        features = [list(t) for t in tables]
        kappa = np.empty(tuple(len(f) for f in features), dtype=object)
        for index in itertools.product(*(range(len(f)) for f in features)):
            chosen = sorted((f[i] for f, i in zip(features, index)), key=sympy.default_sort_key)
            kappa[index] = self._feature_cumulant(tuple(chosen))
        coefficients = [np.stack(list(t.values())) if t else
                        np.empty((0,) + (self.dim,) * k, dtype=object)
                        for t, k in zip(tables, orders)]
        return kappa, coefficients

    def statistics(self, keys) -> dict:
        """Float64 arrays of the cumulants named by ``keys`` (degree tuples such as ``(1, 1)``).

        This is what a compiled kernel (``Series.lambdify``) takes: pass its
        ``statistics`` attribute.

        >>> import sympy
        >>> w, x = sympy.symbols('w x')
        >>> L = Landscape((w - x)**2 / 2, w, x, init=[1])
        >>> L.statistics([(0,), (1,), (1, 1)])
        {(0,): array(1.), (1,): array([1.]), (1, 1): array([[1.]])}

        Raises:
            LandscapeError: a statistic that is not a number (a symbolic landscape).
        """
        out = {}
        for key in keys:
            value = self.cumulant(*key)
            entries = value.tolist() if value.shape else value[()]
            try:
                out[tuple(key)] = np.array(np.array(entries, dtype=object), dtype=np.float64)
            except TypeError as error:
                raise LandscapeError(f"the statistic {tuple(key)} is not numeric: {value}") \
                    from error
        return out

    def _tensor(self, orders, entry):
        orders = _orders(orders)
        rank = sum(orders)
        splits = np.cumsum((0,) + orders)
        values = []
        for idx in itertools.product(range(self.dim), repeat=rank):
            parts = tuple(idx[splits[i]:splits[i + 1]] for i in range(len(orders)))
            values.append(entry(tuple(zip(orders, parts))))
        return sympy.ImmutableDenseNDimArray(values, (self.dim,) * rank)

    def _moment_entry(self, args):
        return self.expect(sympy.Mul(*(self._at_init(k)[part] for k, part in args)))

    @functools.lru_cache(maxsize=None)
    def _features(self, k: int) -> dict:
        """``grad^k l_x`` at the initialization as ``{feature: coefficient array}``: a
        feature is a data-dependent factor of a term (``1`` for the terms free of the
        data), its coefficients an object array of shape ``(P,) * k``."""
        out: dict = {}
        for idx, value in self._at_init(k).items():
            for term in sympy.Add.make_args(value):
                if term == 0:
                    continue
                coeff, feature = term.as_independent(*self.data, as_Add=False)
                table = out.setdefault(feature, np.full((self.dim,) * k, sympy.S.Zero,
                                                        dtype=object))
                table[idx] = table[idx] + coeff
        return out

    @functools.lru_cache(maxsize=None)
    def _feature_cumulant(self, features: tuple):
        """The scalar joint cumulant of the features (sorted), by Moebius inversion."""
        total = sympy.S.Zero
        for blocks in multiset_partitions(list(range(len(features)))):
            n = len(blocks)
            term = sympy.Integer((-1)**(n - 1)) * sympy.factorial(n - 1)
            for block in blocks:
                term *= self.expect(sympy.Mul(*(features[i] for i in block)))
            total += term
        return sympy.expand(total)

    # ------------------------------------------------------------ polynomials
    def polynomial_degree(self) -> int:
        """The total degree of the loss in the parameters; NotPolynomialError if not polynomial."""
        return self._polynomial.total_degree()

    @functools.cached_property
    def _polynomial(self) -> sympy.Poly:
        try:
            poly = sympy.Poly(self.loss, *self.params)
        except sympy.PolynomialError as exc:
            raise NotPolynomialError(self._not_polynomial()) from exc
        if any(c.has(*self.params) for c in poly.coeffs()):
            raise NotPolynomialError(self._not_polynomial())
        return poly

    def _not_polynomial(self) -> str:
        return (f"the loss of {self.name} is not polynomial in the parameters {self.params}; "
                "the exact engine needs a polynomial loss: use method='direct' or "
                "method='diagrams', which work from the statistics at the initialization")

    # --------------------------------------------------------------- numerics
    def numeric(self, *, backend: str = "numpy", device=None):
        """Vectorized numeric functions of this landscape (see :class:`NumericLandscape`).

        Args:
            backend: a name of :data:`symsgd._backends.BACKENDS` (``'numpy'``, ``'torch'``).
            device: the torch device of arrays the functions create (``None``: the CPU,
                or the device of their tensor arguments).

        Raises:
            BackendError: an unknown backend, a device it cannot use, or torch missing.

        >>> import numpy as np, sympy
        >>> w, x = sympy.symbols('w x')
        >>> num = Landscape((w - x)**2 / 2, w, x, init=[0]).numeric()
        >>> num.loss(np.array([[1.0], [2.0]]), np.array([[0.0]])).tolist()
        [0.5, 2.0]
        """
        return _numeric(self, get_backend(backend, device=device))

    def __str__(self) -> str:
        return f"{self.name}: l_x = {self.loss}, x = {self.data}, theta_0 = {self.init}"


def _orders(orders) -> tuple:
    """Derivative orders as a non-empty tuple of non-negative ints, else ShapeError."""
    orders = tuple(orders)
    if not orders or any(isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0
                         for k in orders):
        raise ShapeError(f"derivative orders must be non-negative integers, got {orders}")
    return tuple(int(k) for k in orders)


@dataclass(frozen=True)
class NumericLandscape:
    """Compiled, vectorized ``loss(theta, x)``, ``grad(theta, x)`` and ``test_loss(theta)``.

    ``theta`` has shape ``(..., P)`` and ``x`` shape ``(..., D)``; leading axes
    broadcast.  Built by :meth:`Landscape.numeric` for one
    :class:`~symsgd._backends.Backend`; arrays in and out are of that backend.
    """

    backend: Backend
    _loss: object
    _grad: object
    _test: object

    def loss(self, theta, x):
        """The per-sample loss, shape ``broadcast(theta[..., 0], x[..., 0])``."""
        return self._call(self._loss, theta, x, scalar=True)

    def grad(self, theta, x):
        """The per-sample gradient, shape ``broadcast(...) + (P,)``."""
        return self._call(self._grad, theta, x, scalar=False)

    def test_loss(self, theta):
        """The exact test loss at ``theta`` (shape ``theta[..., 0]``)."""
        cols = [theta[..., i] for i in range(theta.shape[-1])]
        return self._broadcast(self._test(*cols), cols[0])

    def _call(self, fn, theta, x, scalar):
        args = [theta[..., i] for i in range(theta.shape[-1])] + \
            [x[..., j] for j in range(x.shape[-1])]
        ref = args[0] * 0 + args[-1] * 0
        out = fn(*args)
        if scalar:
            return self._broadcast(out, ref)
        return self.backend.xp.stack([self._broadcast(o, ref) for o in out], -1)

    def _broadcast(self, value, ref):
        """``value`` (a number or an array) broadcast to the shape of ``ref``, as a new array."""
        return value + self.backend.zeros(tuple(ref.shape), ref)


@functools.lru_cache(maxsize=64)
def _numeric(landscape: Landscape, backend: Backend) -> NumericLandscape:
    args = list(landscape.params) + list(landscape.data)
    grad = [sympy.diff(landscape.loss, p) for p in landscape.params]
    modules = backend.modules
    return NumericLandscape(
        backend,
        sympy.lambdify(args, landscape.loss, modules=modules),
        sympy.lambdify(args, grad, modules=modules),
        sympy.lambdify(list(landscape.params), landscape.test_loss, modules=modules),
    )
