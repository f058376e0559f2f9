"""SGD's approximations expanded exactly in ``eta``: SDE, second-order SDE, noisy GD, SVAG(l).

Li, Malladi and Arora (eq. 2) model SGD with learning rate ``eta`` and batch ``B``,
run for ``T`` steps on fresh samples, by the Ito SDE

    ``dX = -grad l(X) dt + sqrt(eta C(X) / B) dW``,  ``X_0 = theta_0``, run to ``t = eta T``,

where ``l`` is the test (population) loss and ``C(theta)`` the covariance of one
sample's gradient at ``theta``, a function of ``theta`` (computed exactly by the
landscape's data law, not only at the initialization).  Its generator is

    ``L g = -grad l . grad g + (eta / (2 B)) C : grad grad g = L0 g + eta L1 g``,

and ``E g(X_t) = sum_k t^k L^k g / k!``.  With ``t = eta T`` the ``k``-th term is
``O(eta^k)``, so the series truncates exactly in ``eta``: the coefficient of
``eta^m`` needs only ``k <= m``.  This is a formal Taylor expansion in ``eta`` at
fixed ``T``, exact (rationals, symbolic ``T`` and ``B`` allowed), for the same
``E[s(theta_T)]`` that :func:`symsgd.expected_loss` expands for SGD.

The **second-order SDE** (``kind='sde2'``; Li, Malladi and Arora, Theorem 6.3,
eq. 16, after Li, Tai and E) adds ``-(eta / 4) grad |grad l|^2 = -(eta / 2) H grad l``
to the drift.  Eq. 16 as printed reads ``-eta grad(l + (eta/4)|grad l|^2) dt +
sqrt(eta) C^(1/2) dW``, whose drift and noise use different clocks; we read it
on the clock of eq. 2 (time ``eta`` per step):

    ``dX = -grad(l + (eta / 4) |grad l|^2) dt + sqrt(eta C / B) dW``,  to ``t = eta T``.

(the drift of their Appendix D, eq. 26).  This reading is a second-order weak
approximation: it agrees with single-epoch SGD (``sgd(T * B, batch=B)``, every step
a fresh batch) through ``eta^2`` at every ``T``, where the SDE agrees through
``eta^1`` only.  Read literally, eq. 16 misses even the ``eta^1`` coefficient: on
the clock of eq. 2 its drift is ``eta`` times too small, on the clock of one unit
per step its noise is ``1/eta`` times too large.

>>> import sympy
>>> from symsgd.landscapes import mean_estimation
>>> T = sympy.Symbol('T', integer=True, positive=True)
>>> sde_expected_loss(mean_estimation(init=1), 2, steps=T)
Series(1/2 - T*eta + (T**2 + T/2)*eta**2 + O(eta**3))
>>> sde_expected_loss(mean_estimation(init=1), 2, steps=T, kind='sde2').coeff(2)
T**2

**Noisy GD and SVAG(l)**, the discrete processes of Li, Malladi and Arora, and
single-epoch SGD itself, come from SGD's general series (the direct route, symbolic
``N = T B`` and ``B``) by rules on its contractions, which hold because one step's
transition depends only on the conditional cumulants of the batch gradient at the
current point, and a data block of ``m`` nodes is an ``m``-th cumulant of one sample's
derivative tensors (its ``theta``-derivatives included):

* **noisy GD** (eq. 5 online: ``theta' = theta - eta (grad l(theta) + xi)``, ``xi ~ N(0,
  C(theta)/B)`` fresh each step): the Gaussian noise has the same first two conditional
  cumulants and no others, so its series is SGD's without every contraction that has a
  data block of three or more nodes (``S``, ``kappa_4``, ...);
* **SVAG(l)** (eq. 3: ``l T`` steps of learning rate ``eta / l`` on ``c1 g1 + c2 g2``, two
  independent batches, ``c1,2 = (1 +- sqrt(2l - 1))/2``): SGD on the paired loss
  ``c1 l_x + c2 l_y``, whose ``m``-th joint cumulants are ``p_m = c1^m + c2^m`` times
  one sample's (``p_1 = 1, p_2 = l, p_3 = (3l - 1)/2``, by Newton's identities from
  ``c1 + c2 = 1, c1 c2 = (1 - l)/2``): SGD's series with ``T -> l T``, ``eta -> eta/l``
  and each contraction times ``prod_blocks p_|block|`` (the measured test loss is a mean,
  ``p_1 = 1``);
* **the SDE** in contractions: noisy GD's series with, in each contraction, only its
  top power ``T^b`` kept, ``b`` the number of its data blocks: each application of the
  generator adds one block (a mean for ``-grad l . grad``, a ``C`` for the diffusion)
  and one factor ``t = eta T``.  Checked against the generator on landscapes (tests),
  not proved in general.

:func:`approximation_loss` and :func:`approximation_displacement` give any of these,
in contractions (no landscape) or on a landscape; differences are Series
subtraction.  SVAG(l) minus the SDE is ``O(1/l)``:

>>> l = sympy.Symbol('l', integer=True, positive=True)
>>> svag = approximation_loss('svag', 2, steps=T, l=l)
>>> (svag - approximation_loss('sde', 2, steps=T)).coeff(2)
-T*[G H G]/(2*l)
>>> svag.subs(l, 1) == approximation_loss('sgd', 2, steps=T)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from ._sympify import refuse_text
from .errors import (InputTypeError, LandscapeError, MeasureError, MethodError,
                     NotPolynomialError, RangeError, check_order)
from .landscape import Landscape
from .measures import root_products
from .routes import METHODS, Request
from .schedule import _size, sgd
from .series import ETA, Series
from .tensors import Contraction

__all__ = ["KINDS", "PROCESSES", "SVAG_L", "sde_expected_loss", "sde_expected_displacement",
           "approximation_loss", "approximation_displacement", "svag_weight"]

#: The processes: ``{kind: description}``.
KINDS = {
    "sde": "the SDE dX = -grad l dt + sqrt(eta C(X)/B) dW (Li et al. eq. 2), to time eta*T",
    "sde2": "the second-order SDE dX = -grad(l + (eta/4)|grad l|^2) dt + sqrt(eta C(X)/B) dW "
            "(Li et al. Theorem 6.3, eq. 16, on the clock of eq. 2), to time eta*T",
}

_LABELS = {"sde": "SDE", "sde2": "second-order SDE"}


# ----------------------------------------------------------------- functions
class _Polynomials:
    """Polynomials in the parameters (``sympy.Poly``), for polynomial landscapes."""

    def __init__(self, params):
        self.params = params

    def __call__(self, expr):
        return sympy.Poly(sympy.expand(expr), *self.params)

    @staticmethod
    def diff(f, x):
        return f.diff(x)

    @staticmethod
    def tidy(f):
        return f

    def value(self, f, point: dict):
        return sympy.expand(f.as_expr().xreplace(point))


class _Expressions:
    """SymPy expressions, for landscapes that are not polynomial in the parameters."""

    def __init__(self, params):
        self.params = params

    def __call__(self, expr):
        return sympy.expand(expr)

    @staticmethod
    def diff(f, x):
        return sympy.diff(f, x)

    @staticmethod
    def tidy(f):
        return sympy.expand(f)

    def value(self, f, point: dict):
        return sympy.simplify(sympy.expand(f.xreplace(point)))


@dataclass
class _Generator:
    """``L = L0 + eta L1`` of one process on one landscape, acting on functions of ``theta``.

    ``L0 g = -grad l . grad g``; ``L1 g = drift2 . grad g + (1/(2B)) C : grad grad g`` with
    ``drift2 = -(1/2) H grad l`` for the second-order SDE and ``0`` for the SDE.
    """

    algebra: object
    params: tuple
    grad: list                   # grad l, one function per parameter
    drift2: list | None          # the O(eta) drift, or None
    diffusion: dict              # {(a, b): C_ab / (2B) (a < b doubled)}

    def apply0(self, g):
        d = self.algebra.diff
        out = None
        for a, x in enumerate(self.params):
            term = self.grad[a] * d(g, x)
            out = term if out is None else out + term
        return self.algebra.tidy(-out)

    def apply1(self, g):
        d = self.algebra.diff
        first = [d(g, x) for x in self.params]
        out = None
        for (a, b), c in self.diffusion.items():
            term = c * d(first[a], self.params[b])
            out = term if out is None else out + term
        if self.drift2 is not None:
            for a in range(len(self.params)):
                term = self.drift2[a] * first[a]
                out = term if out is None else out + term
        return self.algebra.tidy(out) if out is not None else self.algebra(0)


def _covariance(landscape: Landscape, grad_test: list) -> list:
    """``C(theta)``: the covariance of one sample's gradient, exactly, as expressions in theta."""
    g = landscape.derivative(1)
    P = landscape.dim
    C = [[None] * P for _ in range(P)]
    for a in range(P):
        for b in range(a, P):
            second = landscape.expect(sympy.expand(g[a] * g[b]))
            C[a][b] = C[b][a] = sympy.expand(second - grad_test[a] * grad_test[b])
    return C


def _generator(landscape: Landscape, kind: str, batch) -> _Generator:
    params = landscape.params
    try:
        landscape.polynomial_degree()
        algebra = _Polynomials(params)
    except NotPolynomialError:
        algebra = _Expressions(params)
    loss = landscape.test_loss
    grad_expr = [sympy.expand(sympy.diff(loss, x)) for x in params]
    C = _covariance(landscape, grad_expr)
    half = sympy.Rational(1, 2) / batch
    diffusion = {}
    for a in range(len(params)):
        for b in range(a, len(params)):
            if C[a][b] != 0:
                diffusion[(a, b)] = algebra(C[a][b] * half * (1 if a == b else 2))
    drift2 = None
    if kind == "sde2":
        drift2 = [algebra(-sum(sympy.diff(grad_expr[a], y) * grad_expr[b]
                               for b, y in enumerate(params)) / 2)
                  for a in range(len(params))]
    return _Generator(algebra, params, [algebra(e) for e in grad_expr], drift2, diffusion)


def _expand(landscape: Landscape, functions: list, order: int, steps, kind: str, batch) -> list:
    """``[[coefficient of eta^m in E f(X_{eta T}) for m <= order] for f in functions]``.

    ``E f(X_t) = sum_k t^k / k! L^k f`` with ``t = eta T`` and ``L = L0 + eta L1``:
    ``parts[j]`` of ``L^k f`` multiplies ``eta^j``, and only ``k + j <= order`` is kept.
    """
    gen = _generator(landscape, kind, batch)
    algebra, point = gen.algebra, landscape.init_map
    out = []
    for f in functions:
        coeffs = [sympy.S.Zero] * (order + 1)
        parts = [algebra(f)]                       # L^0 f: eta^0 only
        for k in range(order + 1):
            weight = steps**k / sympy.factorial(k)
            for j, part in enumerate(parts):
                if k + j <= order:
                    coeffs[k + j] += weight * algebra.value(part, point)
            if k == order:
                break
            top = order - k - 1                    # the highest eta power L^(k+1) f needs
            new = []
            for j in range(top + 1):
                value = gen.apply0(parts[j]) if j < len(parts) else None
                if j >= 1 and j - 1 < len(parts):
                    extra = gen.apply1(parts[j - 1])
                    value = extra if value is None else value + extra
                new.append(value if value is not None else algebra(0))
            parts = new
        out.append([sympy.expand(c) for c in coeffs])
    return out


# -------------------------------------------------------------- the checks
def _check(landscape, order, steps, batch, kind, eta):
    if not isinstance(landscape, Landscape):
        raise InputTypeError(f"landscape must be a symsgd.Landscape (see symsgd.landscapes), "
                             f"got {type(landscape).__name__}")
    refuse_text(order, "order")
    order = check_order(order)
    steps = _size(steps, "steps")
    batch = _size(batch, "batch")
    if not isinstance(kind, str) or kind not in KINDS:
        raise MethodError(f"unknown kind {kind!r}; expected one of {sorted(KINDS)}")
    if not isinstance(eta, sympy.Symbol):
        raise InputTypeError(f"eta must be a SymPy Symbol, got {type(eta).__name__}")
    return order, sympy.sympify(steps), sympy.sympify(batch)


def _notes(kind, steps, batch) -> tuple:
    return (f"{KINDS[kind]}; T = {steps}, B = {batch}",)


# -------------------------------------------------------------- front door
def sde_expected_loss(landscape, order, *, steps, batch=1, kind="sde", measure="test",
                      moment=1, eta=ETA) -> Series:
    """The Taylor expansion of ``E[l(X_{eta T})]`` in ``eta`` for the SDE (or second-order SDE).

    The process stands for SGD of batch ``batch`` run for ``steps`` steps on fresh
    samples (single-epoch, online SGD: :func:`~symsgd.sgd` ``(steps * batch,
    batch=batch)``); ``l`` is the test loss.  See the module's docstring for the
    processes (:data:`KINDS`) and the generator expansion.

    Args:
        landscape: a :class:`~symsgd.Landscape`; polynomial landscapes are fast, others
            work when the data law gives ``l(theta)`` and ``C(theta)`` in closed form.
        order: the highest power of ``eta`` (a non-negative integer).
        steps: the number of SGD steps ``T`` it stands for (the SDE runs to time
            ``eta T``): a positive integer or a SymPy expression such as
            ``Symbol('T', integer=True, positive=True)``.
        batch: the batch size ``B`` (the diffusion is ``eta C / B``): a positive
            integer or a SymPy expression.
        kind: ``'sde'`` (Li et al. eq. 2) or ``'sde2'`` (the second-order SDE, eq. 16).
        measure: ``'test'``, the only loss these processes have (they see no training
            set: ``'train'`` and ``'gap'`` are refused; the weights are
            :func:`sde_expected_displacement`).
        moment: 1 for ``E[l(X)]``, 2 for ``E[l(X)^2]`` (the generator applied to ``l^2``).
        eta: the learning-rate symbol of the result.

    Returns:
        a :class:`~symsgd.Series` with exact coefficients (polynomials in ``T``,
        ``1/B`` and the landscape's own symbols).

    Raises:
        InputTypeError: a landscape or ``eta`` of the wrong type, a string or a
            float for ``order``, ``steps`` or ``batch``.
        OrderError: an order that is not a non-negative integer.
        ScheduleError: ``steps`` or ``batch`` not a positive integer.
        MethodError: an unknown ``kind``.
        MeasureError: a measure other than ``'test'``, a moment other than 1 or 2.
        MomentError: a data law without the moments ``C(theta)`` needs.

    SGD (3 steps of batch 1) differs from the SDE at ``eta^2`` and from the
    second-order SDE only at ``eta^3``:

    >>> from symsgd import expected_loss, sgd
    >>> from symsgd.landscapes import shifting_valleys
    >>> expected_loss(sgd(3), 2, landscape=shifting_valleys())
    Series(2 - 15*eta + 72*eta**2 + O(eta**3))
    >>> sde_expected_loss(shifting_valleys(), 2, steps=3)
    Series(2 - 15*eta + 84*eta**2 + O(eta**3))
    >>> sde_expected_loss(shifting_valleys(), 2, steps=3, kind='sde2')
    Series(2 - 15*eta + 72*eta**2 + O(eta**3))
    """
    order, steps, batch = _check(landscape, order, steps, batch, kind, eta)
    if measure in ("train", "gap"):
        raise MeasureError(f"measure {measure!r} has no meaning for the {_LABELS[kind]}: it "
                           "stands for SGD on fresh samples and has no training set; use "
                           "measure='test'")
    if measure == "weights":
        raise MeasureError("the weights are sde_expected_displacement's")
    if measure != "test":
        raise MeasureError(f"unknown measure {measure!r} for the {_LABELS[kind]}; expected "
                           "'test'")
    root_products("test", moment=moment)
    coeffs = _expand(landscape, [landscape.test_loss**moment], order, steps, kind, batch)[0]
    return Series(tuple(coeffs), eta=eta, measure="test", moment=moment,
                  label=f"{_what('test', moment)} of the {_LABELS[kind]}", method="generator",
                  notes=_notes(kind, steps, batch))


def sde_expected_displacement(landscape, order, *, steps, batch=1, kind="sde",
                              eta=ETA) -> Series:
    """The Taylor expansion of ``E[X_{eta T}] - theta_0`` in ``eta`` for the SDE (or ``'sde2'``).

    Arguments and errors as for :func:`sde_expected_loss`; the coefficients are
    SymPy arrays of shape ``(P,)``, comparable with
    :func:`symsgd.expected_displacement` on the same landscape.

    >>> from symsgd.landscapes import mean_estimation
    >>> sde_expected_displacement(mean_estimation(init=1), 2, steps=2, kind='sde2')
    Series([-2]*eta + [1]*eta**2 + O(eta**3))
    """
    order, steps, batch = _check(landscape, order, steps, batch, kind, eta)
    rows = _expand(landscape, list(landscape.params), order, steps, kind, batch)
    coeffs = []
    for m in range(order + 1):
        entries = [row[m] - (v if m == 0 else 0) for row, v in zip(rows, landscape.init)]
        coeffs.append(sympy.ImmutableDenseNDimArray([sympy.expand(e) for e in entries]))
    return Series(tuple(coeffs), eta=eta, measure="weights",
                  label=f"weight displacement of the {_LABELS[kind]}", method="generator",
                  notes=_notes(kind, steps, batch))


# ------------------------------------------- the discrete processes, by rules on SGD's
#: The processes of :func:`approximation_loss`: ``{name: description}``.
PROCESSES = {
    "sgd": "single-epoch online SGD: T steps of batch B, each a fresh batch (sgd(T*B, batch=B))",
    "noisy_gd": "noisy GD (Li et al. eq. 5, online): theta' = theta - eta (grad l(theta) + xi), "
                "xi ~ N(0, C(theta)/B) fresh each step",
    "svag": "SVAG(l) (Li et al. eq. 3): l*T steps of learning rate eta/l on c1 g1 + c2 g2, two "
            "independent batches of B, c1,2 = (1 +- sqrt(2l - 1))/2",
    "sde": KINDS["sde"],
    "sde2": KINDS["sde2"],
}

_NAMES = {"sgd": "SGD", "noisy_gd": "noisy GD", "svag": "SVAG(l)", "sde": "SDE",
          "sde2": "second-order SDE"}

#: SVAG's variance-amplification factor ``l`` when none is given: a positive integer symbol.
SVAG_L = sympy.Symbol("l", integer=True, positive=True)

# the sizes of SGD's general series, replaced by the caller's at the end
_N, _B, _T = sympy.symbols("_N _B _T", integer=True, positive=True)


def svag_weight(m, *, l=SVAG_L):
    """``p_m = c1^m + c2^m`` with ``c1,2 = (1 +- sqrt(2l - 1))/2``, a polynomial in ``l``.

    The ``m``-th joint cumulant of SVAG's combined sample ``c1 l_x + c2 l_y`` (``x, y``
    independent) is ``p_m`` times one sample's.  Newton's identities with ``c1 + c2 = 1``
    and ``c1 c2 = (1 - l)/2``: ``p_0 = 2``, ``p_1 = 1``, ``p_m = p_(m-1) - (1 - l)/2
    p_(m-2)``.

    Args:
        m: the cumulant's order, a non-negative integer.
        l: SVAG's factor (a SymPy expression, or a positive integer).

    Raises:
        InputTypeError, RangeError: see :func:`approximation_loss` (``l``); ``m`` not a
            non-negative integer (RangeError).

    >>> [svag_weight(m) for m in range(1, 5)]
    [1, l, 3*l/2 - 1/2, l**2/2 + l - 1/2]
    >>> svag_weight(3, l=5) == 2**3 + (-1)**3
    True
    """
    refuse_text(m, "m")
    if isinstance(m, bool) or not isinstance(m, (int, sympy.Integer)) or m < 0:
        raise RangeError(f"m must be a non-negative integer, got {m!r}")
    l = _check_l(l)
    e2 = (1 - l) / 2
    p = [sympy.Integer(2), sympy.Integer(1)]
    for _ in range(2, int(m) + 1):
        p.append(sympy.expand(p[-1] - e2 * p[-2]))
    return p[int(m)]


def _check_l(l):
    """SVAG's ``l``: a positive integer or a SymPy expression that may be one."""
    refuse_text(l, "l")
    if isinstance(l, bool) or isinstance(l, (float, sympy.Float)) \
            or not isinstance(l, (int, sympy.Expr)):
        raise InputTypeError(f"l must be a positive integer or a SymPy expression, got "
                             f"{type(l).__name__} {l!r}")
    l = sympy.sympify(l)
    if l.is_number and not l.is_Integer:
        raise RangeError(f"l must be an integer (SVAG runs l*T steps), got {l}")
    if l.is_integer is False or (l.is_number and l < 1) or l.is_positive is False:
        raise RangeError(f"l must be a positive integer, got {l}")
    return l


def _sgd_general(order: int, measure: str, moment: int) -> list:
    """SGD's general coefficients (direct route) at ``N = T B``, in the dummies ``_T, _B``."""
    series = METHODS["direct"](Request(sgd(_N, batch=_B), order, measure=measure,
                                       moment=moment))
    return [sympy.expand(c.xreplace({_N: _T * _B})) for c in series.coefficients]


def _data_blocks(atoms: tuple, roots: int) -> list:
    """The sizes of the data blocks of a product of contractions, less ``roots`` measured means.

    The measured test loss (``roots`` factors of it: the moment; none for the weights) is a
    mean, a block of one node in each factor's contraction; the other blocks are the data.
    """
    sizes = []
    for atom in atoms:
        if any(atom.kinds):
            raise MethodError(f"{atom} has a moment block; the rules need cumulant blocks")
        sizes.extend(len(b) for b in atom.blocks)
    for _ in range(roots):
        sizes.remove(1)
    return sizes


def _map_atoms(coeff, rule):
    """``coeff`` with each product of contractions ``p`` (coefficient ``c``) replaced by
    ``rule(factors, c, p)``, ``factors`` the contractions of ``p`` with multiplicity."""
    total = sympy.S.Zero
    for term in sympy.Add.make_args(sympy.expand(coeff)):
        factors = []
        for f in sympy.Mul.make_args(term):
            base, power = f.as_base_exp()
            if isinstance(base, Contraction):
                factors.extend([base] * int(power))
        if not factors:
            total += term
            continue
        product = sympy.Mul(*factors)
        total += rule(tuple(factors), sympy.expand(term / product), product)
    return sympy.expand(total)


def _gaussian(coeffs: list, roots: int) -> list:
    """Noisy GD: every product with a data block of three or more nodes dropped."""
    def rule(factors, c, product):
        return 0 if max(_data_blocks(factors, roots), default=0) > 2 else c * product
    return [_map_atoms(c, rule) for c in coeffs]


def _continuous(coeffs: list, roots: int) -> list:
    """The SDE: noisy GD with, per product of contractions, only ``T^(data blocks)`` kept."""
    def rule(factors, c, product):
        top = len(_data_blocks(factors, roots))
        poly = sympy.Poly(c, _T)
        if poly.degree() > top:
            raise ArithmeticError(f"{product}: degree {poly.degree()} in T above {top}")
        return poly.coeff_monomial(_T**top) * _T**top * product
    return [_map_atoms(c, rule) for c in _gaussian(coeffs, roots)]


def _svag(coeffs: list, roots: int, l) -> list:
    """SVAG(l): ``T -> l T``, ``eta -> eta / l``, each product times ``prod p_|block|``."""
    def rule(factors, c, product):
        weight = sympy.Mul(*(svag_weight(m, l=l) for m in _data_blocks(factors, roots)))
        return c.xreplace({_T: l * _T}) * weight * product
    return [_map_atoms(c, rule) / l**m for m, c in enumerate(coeffs)]


def _general(process: str, order: int, measure: str, moment: int, l) -> list:
    coeffs = _sgd_general(order, measure, moment)
    roots = 0 if measure == "weights" else moment
    if process == "noisy_gd":
        return _gaussian(coeffs, roots)
    if process == "sde":
        return _continuous(coeffs, roots)
    if process == "svag":
        return _svag(coeffs, roots, l)
    return coeffs


def _check_process(process, order, landscape, steps, batch, l, eta):
    if not isinstance(process, str) or process not in PROCESSES:
        raise MethodError(f"unknown process {process!r}; expected one of {sorted(PROCESSES)}")
    if landscape is not None and not isinstance(landscape, Landscape):
        raise InputTypeError(f"landscape must be a symsgd.Landscape or None, got "
                             f"{type(landscape).__name__}")
    refuse_text(order, "order")
    order = check_order(order)
    steps = sympy.sympify(_size(steps, "steps"))
    batch = sympy.sympify(_size(batch, "batch"))
    if process == "svag":
        l = _check_l(SVAG_L if l is None else l)
    elif l is not None:
        refuse_text(l, "l")
        raise MethodError(f"l is SVAG's factor; the {_NAMES[process]} has none")
    if not isinstance(eta, sympy.Symbol):
        raise InputTypeError(f"eta must be a SymPy Symbol, got {type(eta).__name__}")
    if landscape is None and process == "sde2":
        raise LandscapeError("the second-order SDE is expanded on a landscape (its generator); "
                             "pass landscape=")
    return order, steps, batch, l


def _what(measure: str, moment: int) -> str:
    if measure == "weights":
        return "weight displacement"
    return "test loss" if moment == 1 else "second moment of the test loss"


def _approximation(process, order, landscape, steps, batch, l, eta, measure: str,
                   moment: int = 1) -> Series:
    order, steps, batch, l = _check_process(process, order, landscape, steps, batch, l, eta)
    label = _NAMES[process].replace("(l)", f"({l})") if process == "svag" else _NAMES[process]
    what = _what(measure, moment)
    notes = (f"{PROCESSES[process]}; T = {steps}, B = {batch}"
             + (f", l = {l}" if process == "svag" else ""),)
    if process in KINDS and landscape is not None:
        if measure == "weights":
            series = sde_expected_displacement(landscape, order, steps=steps, batch=batch,
                                               kind=process, eta=eta)
        else:
            series = sde_expected_loss(landscape, order, steps=steps, batch=batch,
                                       kind=process, moment=moment, eta=eta)
        return Series(series.coefficients, eta=eta, measure=series.measure,
                      moment=series.moment, label=f"{what} of the {label}", method="generator",
                      notes=notes)
    coeffs = [sympy.expand(c.xreplace({_T: steps, _B: batch}))
              for c in _general(process, order, measure, moment, l)]
    series = Series(tuple(coeffs), eta=eta, measure=measure, moment=moment,
                    label=f"{what} of {label}", method="direct", notes=notes)
    if landscape is None:
        return series
    value = series.evaluate(landscape)
    return Series(tuple(sympy.expand(c) if measure != "weights" else c
                        for c in value.coefficients),
                  eta=eta, measure=measure, moment=moment, label=series.label, method="direct",
                  notes=notes)


def approximation_loss(process, order, *, landscape=None, steps, batch=1, l=None,
                       measure="test", moment=1, eta=ETA) -> Series:
    """The Taylor expansion of ``E[l(theta_T)]`` in ``eta`` for SGD or one of its approximations.

    Every process stands for single-epoch online SGD of batch ``batch`` run for
    ``steps`` steps (:func:`~symsgd.sgd` ``(steps * batch, batch=batch)``, every step a
    fresh batch); ``l`` is the test loss.  See the module's docstring and
    :data:`PROCESSES`.  Differences are Series subtraction: ``approximation_loss('sgd',
    ...) - approximation_loss('noisy_gd', ...)`` is the non-Gaussian gap.

    Args:
        process: ``'sgd'``, ``'noisy_gd'``, ``'svag'``, ``'sde'`` or ``'sde2'``.
        order: the highest power of ``eta`` (a non-negative integer).
        landscape: ``None`` for the general series in contractions (``[G H G]``, ``C:H``,
            ``[S_abc J_abc]``, ...), or a :class:`~symsgd.Landscape` for its values
            there (the SDEs on a landscape: by their generator, exactly).
        steps: the number of SGD steps ``T`` (SVAG runs ``l T``, the SDEs to time
            ``eta T``): a positive integer or a SymPy expression.
        batch: the batch size ``B``: a positive integer or a SymPy expression.
        l: SVAG's factor only: a positive integer or a SymPy expression (default
            :data:`SVAG_L`, the symbol ``l``); ``l = 1`` is SGD.
        measure: ``'test'``, the only loss all of these have (no training set).
        moment: 1 for ``E[l(theta_T)]``, 2 for ``E[l(theta_T)^2]`` (its series are
            polynomials in contractions, and the rules act on each product).
        eta: the learning-rate symbol of the result.

    Returns:
        a :class:`~symsgd.Series`, exact (polynomials in ``T``, ``1/B``, ``l``, ``1/l``
        and contractions or the landscape's numbers).

    Raises:
        MethodError: an unknown process, or ``l`` for a process other than SVAG.
        InputTypeError: a string anywhere, a float for ``steps``, ``batch`` or ``l``, a
            landscape or ``eta`` of the wrong type.
        OrderError: an order that is not a non-negative integer.
        ScheduleError: ``steps`` or ``batch`` not a positive integer.
        RangeError: ``l`` below 1 or not an integer.
        MeasureError: a measure other than ``'test'``, a moment other than 1 or 2.
        LandscapeError: the second-order SDE without a landscape.

    The non-Gaussian gap starts at ``eta^3``, with the skewness ``S``:

    >>> import sympy
    >>> T, B = sympy.symbols('T B', integer=True, positive=True)
    >>> gap = (approximation_loss('sgd', 3, steps=T, batch=B)
    ...        - approximation_loss('noisy_gd', 3, steps=T, batch=B))
    >>> gap.coefficients[:3], gap.coeff(3)
    ((0, 0, 0), -T*[S_abc J_abc]/(6*B**2))
    """
    if measure in ("train", "gap"):
        raise MeasureError(f"measure {measure!r}: these processes stand for SGD on fresh "
                           "samples and have no training set; use measure='test'")
    if measure == "weights":
        raise MeasureError("the weights are approximation_displacement's")
    if measure != "test":
        raise MeasureError(f"unknown measure {measure!r}; expected 'test'")
    root_products("test", moment=moment)
    return _approximation(process, order, landscape, steps, batch, l, eta, "test", moment)


def approximation_displacement(process, order, *, landscape=None, steps, batch=1, l=None,
                               eta=ETA) -> Series:
    """The Taylor expansion of ``E[theta_T] - theta_0`` in ``eta`` for SGD or an approximation.

    Arguments and errors as for :func:`approximation_loss`; in contractions the
    coefficients have a free index (``[G_a H_a^b]``), on a landscape they are arrays of
    shape ``(P,)``.

    >>> import sympy
    >>> T = sympy.Symbol('T', integer=True, positive=True)
    >>> approximation_displacement('noisy_gd', 2, steps=T).coeff(2)
    T**2*[G_a H_a^b]/2 - T*[G_a H_a^b]/2
    """
    return _approximation(process, order, landscape, steps, batch, l, eta, "weights")
