"""Safe conversion of user values to SymPy: never from strings.

``sympy.sympify`` of a string runs ``eval`` (so does every SymPy operation that
sympifies its operands without ``strict=True``: ``expr * "x"``,
``sympy.Matrix(["x"])``).  Every user value symsgd turns into SymPy goes
through these converters, which accept SymPy objects and Python/numpy numbers
only, and convert them with ``sympy.sympify(value, strict=True)``.

>>> import sympy
>>> expression(sympy.Rational(1, 2), "hessian")
1/2
>>> expression("1/2", "hessian")
Traceback (most recent call last):
...
symsgd.errors.InputTypeError: hessian is a string ('1/2'); symsgd never parses strings: build the value with SymPy instead, e.g. sympy.Symbol('H', positive=True), sympy.Rational(1, 2) or 2 * sympy.Symbol('x')
>>> exact(0.5, "init")
Traceback (most recent call last):
...
symsgd.errors.InputTypeError: init = 0.5 is a float; use exact numbers (int, fractions.Fraction, sympy.Rational)
"""

from __future__ import annotations

import numbers

import numpy as np
import sympy

from .errors import InputTypeError, NonFiniteError

__all__ = ["refuse_text", "no_text", "expression", "exact", "finite", "entries"]

_HOW = ("build the value with SymPy instead, e.g. sympy.Symbol('H', positive=True), "
        "sympy.Rational(1, 2) or 2 * sympy.Symbol('x')")


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def refuse_text(value, what: str) -> None:
    """Raise :class:`InputTypeError` if ``value`` is a string (``str``, ``bytes``, ``bytearray``).

    >>> refuse_text(b"x", "N")
    Traceback (most recent call last):
    ...
    symsgd.errors.InputTypeError: N is a string (b'x'); symsgd never parses strings: build the value with SymPy instead, e.g. sympy.Symbol('H', positive=True), sympy.Rational(1, 2) or 2 * sympy.Symbol('x')
    """
    if isinstance(value, (str, bytes, bytearray)):
        raise InputTypeError(f"{what} is a string ({_short(value)}); symsgd never parses "
                             f"strings: {_HOW}")


def no_text(value, what: str):
    """``value`` unchanged, after refusing strings anywhere in it (:class:`InputTypeError`).

    For numeric inputs (numbers, nested sequences, numpy arrays, backend
    tensors) handed to ``numpy.asarray(..., dtype=float)``, which would parse a
    string such as ``'1.5'``, or to SymPy, which would run it.  Lists, tuples
    and object arrays are walked; arrays of a string dtype are refused; other
    objects (numbers, SymPy objects, tensors) pass unchanged.

    >>> no_text([[1.0, 0.0], [0.0, 2.0]], "hessian")
    [[1.0, 0.0], [0.0, 2.0]]
    >>> no_text([[1.0, "0"]], "hessian")
    Traceback (most recent call last):
    ...
    symsgd.errors.InputTypeError: hessian[0][1] is a string ('0'); symsgd never parses strings: build the value with SymPy instead, e.g. sympy.Symbol('H', positive=True), sympy.Rational(1, 2) or 2 * sympy.Symbol('x')
    """
    def walk(v, name):
        refuse_text(v, name)
        if isinstance(v, np.ndarray):
            if v.dtype.kind in "USV":
                raise InputTypeError(f"{name} is an array of strings; {_HOW}")
            if v.dtype == object:
                for i, x in enumerate(v.tolist() if v.ndim else [v.item()]):
                    walk(x, f"{name}[{i}]")
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                walk(x, f"{name}[{i}]")

    walk(value, what)
    return value


def expression(value, what: str) -> sympy.Expr:
    """``value`` as a SymPy expression; only SymPy expressions and numbers are accepted.

    Args:
        value: a SymPy expression (``sympy.Expr``) or a Python/numpy number
            (``bool`` is refused: it is not a number here).
        what: the argument's name, for the error message.

    Returns:
        ``sympy.sympify(value, strict=True)``.

    Raises:
        InputTypeError: a string, or any other object that is neither a SymPy
            expression nor a number (lists, ``None``, ``sympy.true``, ...).

    >>> import sympy
    >>> expression(3, "noise"), expression(sympy.Symbol('S') ** 2, "noise")
    (3, S**2)
    >>> expression([1], "noise")
    Traceback (most recent call last):
    ...
    symsgd.errors.InputTypeError: noise must be a SymPy expression or a number, got list [1]
    """
    refuse_text(value, what)
    if isinstance(value, bool) or not isinstance(value, (numbers.Number, np.number,
                                                         sympy.Basic)):
        raise InputTypeError(f"{what} must be a SymPy expression or a number, got "
                             f"{type(value).__name__} {_short(value)}")
    try:
        out = sympy.sympify(value, strict=True)
    except sympy.SympifyError as error:
        raise InputTypeError(f"{what} = {_short(value)} cannot be converted to SymPy") from error
    if not isinstance(out, sympy.Expr):
        raise InputTypeError(f"{what} must be a SymPy expression or a number, got "
                             f"{type(out).__name__} {_short(out)}")
    return out


def exact(value, what: str) -> sympy.Expr:
    """``value`` as an exact SymPy expression: no floats (Python, numpy or ``sympy.Float``).

    Args:
        value: an integer, a ``fractions.Fraction``, or a SymPy expression free of floats.
        what: the argument's name, for the error message.

    Raises:
        InputTypeError: a string, a float, an expression holding floats, or
            another type (see :func:`expression`).

    >>> from fractions import Fraction
    >>> exact(Fraction(1, 3), "init")
    1/3
    >>> import sympy
    >>> exact(sympy.Float(0.5) * sympy.Symbol('x'), "loss")
    Traceback (most recent call last):
    ...
    symsgd.errors.InputTypeError: loss contains floats (0.5*x); use exact numbers (sympy.Rational)
    """
    refuse_text(value, what)
    if isinstance(value, (float, np.floating, complex, np.complexfloating)):
        raise InputTypeError(f"{what} = {value!r} is a float; use exact numbers "
                             "(int, fractions.Fraction, sympy.Rational)")
    if isinstance(value, numbers.Rational) and not isinstance(value, (bool, sympy.Basic)):
        value = sympy.Rational(int(value.numerator), int(value.denominator))
    elif isinstance(value, numbers.Number) and not isinstance(value, (bool, sympy.Basic)):
        raise InputTypeError(f"{what} = {_short(value)} is not an exact number; use int, "
                             "fractions.Fraction or sympy.Rational")
    out = expression(value, what)
    if out.has(sympy.Float):
        raise InputTypeError(f"{what} contains floats ({_short(out)}); use exact numbers "
                             "(sympy.Rational)")
    return out


def finite(value: sympy.Expr, what: str) -> sympy.Expr:
    """``value`` unless it is (provably) NaN or infinite, else :class:`NonFiniteError`.

    >>> import sympy
    >>> finite(sympy.oo, "point 0")
    Traceback (most recent call last):
    ...
    symsgd.errors.NonFiniteError: point 0 is not finite: oo
    """
    if value.has(sympy.nan, sympy.oo, -sympy.oo, sympy.zoo) or value.is_finite is False:
        raise NonFiniteError(f"{what} is not finite: {value}")
    return value


def entries(value, what: str) -> list:
    """The entries of a number, sequence or array as a flat list, refusing strings anywhere.

    For nested sequences such as matrix rows, before handing them to a SymPy
    constructor that would sympify (and so parse) string entries.

    >>> entries([[1, 2], [3, 4]], "hessian")
    [1, 2, 3, 4]
    >>> entries([[1, "x"]], "hessian")
    Traceback (most recent call last):
    ...
    symsgd.errors.InputTypeError: hessian[0][1] is a string ('x'); symsgd never parses strings: build the value with SymPy instead, e.g. sympy.Symbol('H', positive=True), sympy.Rational(1, 2) or 2 * sympy.Symbol('x')
    """
    out = []

    def walk(v, name):
        refuse_text(v, name)
        if isinstance(v, (sympy.MatrixBase, sympy.NDimArray)):
            out.extend(expression(x, name) for x in v)
        elif isinstance(v, np.ndarray):
            if v.dtype.kind in "USO" and v.dtype != object:
                raise InputTypeError(f"{name} is an array of strings; {_HOW}")
            for i, x in enumerate(v.tolist() if v.ndim else [v.item()]):
                walk(x, f"{name}[{i}]")
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                walk(x, f"{name}[{i}]")
        else:
            out.append(v if isinstance(v, (numbers.Number, np.number)) and not
                       isinstance(v, bool) else expression(v, name))

    walk(value, what)
    return out

