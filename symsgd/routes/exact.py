"""The exact route (``method='exact'``): SGD run symbolically on a polynomial landscape.

This is the ground truth for every other route (docs/results.md, "How each
result was checked"), so it is written to be obviously correct rather than
clever:

1. write the loss as ``l(theta, x) = sum_alpha f_alpha(x) theta^alpha``; each
   data-dependent coefficient ``f_alpha`` of each training point ``x_n``
   becomes a polynomial generator ``phi[alpha, n]``;
2. run ``theta <- theta - eta * mean_{n in B_t} grad l(theta, x_n)`` in the
   polynomial ring over ``eta`` and the ``phi``, dropping powers of ``eta``
   above the requested order;
3. evaluate the measure at ``theta_T`` and take the expectation of
   every monomial: training points are independent, so the expectation of a
   monomial factorizes over points into exact expectations of products of
   coefficients of one point, computed by the landscape's data law;
4. average over the schedule's realizations (uniform reshuffling).

It needs a landscape (whose loss is polynomial in the parameters) and a
concrete schedule; its coefficients are exact numbers (or expressions in the
landscape's own symbols).

>>> import sympy
>>> from symsgd import Landscape, sgd
>>> from symsgd.routes import Request
>>> w, x = sympy.symbols('w x')
>>> ROUTE(Request(sgd(2), 2, landscape=Landscape((w - x)**2 / 2, w, x, init=[1])))
Series(1 - 2*eta + 4*eta**2 + O(eta**3))
"""

from __future__ import annotations

import functools
from collections import defaultdict
from fractions import Fraction

import sympy
from sympy.polys.domains import QQ
from sympy.polys.rings import ring
from tqdm.auto import tqdm

from .._progress import _quiet
from ..errors import ScheduleError
from ..landscape import Landscape
from ._common import Request, Route

__all__ = ["ROUTE"]


class _Model:
    """The loss of a landscape split into generators, for one schedule size ``N``."""

    def __init__(self, landscape: Landscape, N: int):
        self.landscape = landscape
        self.N = N
        poly = landscape._polynomial
        self.terms = []          # (alpha, coefficient expression)
        consts: dict = {}        # data-free irrational/symbolic values -> generator index
        feats: dict = {}         # data-dependent coefficient -> feature index
        for alpha, coeff in poly.terms():
            coeff = sympy.expand(coeff)
            if coeff.has(*landscape.data):
                feats.setdefault(coeff, len(feats))
            self.terms.append((alpha, coeff))
        self.features = list(feats)
        self._feature_index = feats
        test = sympy.Poly(landscape.test_loss, *landscape.params)
        self.test_terms = [(alpha, sympy.expand(c)) for alpha, c in test.terms()]
        for value in list(landscape.init) + [c for _, c in self.terms + self.test_terms]:
            if not value.has(*landscape.data) and not value.is_Rational:
                consts.setdefault(value, len(consts))
        self.constants = list(consts)
        names = ([f"c{i}" for i in range(len(consts))]
                 + [f"f{j}_{n}" for n in range(N) for j in range(len(feats))])
        self.ring, *gens = ring(names, QQ)
        self._consts = dict(zip(self.constants, gens[:len(consts)]))
        self._phi = gens[len(consts):]

    def phi(self, j: int, n: int):
        return self._phi[n * len(self.features) + j]

    def scalar(self, value, n: int | None = None):
        """A data-free value, or the coefficient ``value`` of point ``n``, as a ring element."""
        if value.has(*self.landscape.data):
            return self.phi(self._feature_index[value], n)
        if value.is_Rational:
            return self.ring(QQ(int(value.p), int(value.q)))
        return self._consts[value]


class _Graded:
    """A polynomial in ``eta`` truncated at ``eta**order``: ``parts[k]`` multiplies ``eta**k``.

    Each part is an element of the model's ring (no ``eta`` in it), so a
    product only forms the pairs of parts that survive the truncation.
    """

    __slots__ = ("parts",)

    def __init__(self, parts):
        self.parts = list(parts)

    @classmethod
    def constant(cls, value, order: int):
        return cls([value] + [value.ring.zero] * order)

    @property
    def order(self) -> int:
        return len(self.parts) - 1

    def __add__(self, other):
        return _Graded(a + b for a, b in zip(self.parts, other.parts))

    def __sub__(self, other):
        return _Graded(a - b for a, b in zip(self.parts, other.parts))

    def scale(self, factor):
        """Multiply by an element of the ring (no ``eta``)."""
        return _Graded(factor * a for a in self.parts)

    def times_eta(self):
        """Multiply by ``eta``, dropping the top part."""
        return _Graded([self.parts[0].ring.zero] + self.parts[:-1])

    def __mul__(self, other):
        n = len(self.parts)
        zero = self.parts[0].ring.zero
        out = [zero] * n
        for i, a in enumerate(self.parts):
            if a:
                for j in range(n - i):
                    if other.parts[j]:
                        out[i + j] += a * other.parts[j]
        return _Graded(out)


class _Powers:
    """Truncated monomials ``theta^beta`` at one weight vector, computed on demand."""

    def __init__(self, theta):
        self.theta = theta
        self.cache = {}

    def __call__(self, beta: tuple) -> _Graded:
        if beta in self.cache:
            return self.cache[beta]
        nonzero = [i for i, b in enumerate(beta) if b]
        if not nonzero:
            value = _Graded.constant(self.theta[0].parts[0].ring.one, self.theta[0].order)
        else:
            i = nonzero[-1]
            lower = beta[:i] + (beta[i] - 1,) + beta[i + 1:]
            value = self(lower) * self.theta[i]
        self.cache[beta] = value
        return value


def _step(model: _Model, theta, batch):
    """One SGD step on ``batch`` (truncation is carried by the graded weights)."""
    powers = _Powers(theta)
    scale = model.ring(QQ(1, len(batch)))
    new = []
    for i in range(len(theta)):
        grad = None
        for alpha, coeff in model.terms:
            if alpha[i] == 0:
                continue
            lower = alpha[:i] + (alpha[i] - 1,) + alpha[i + 1:]
            weight = sum((model.scalar(coeff, n) for n in batch), model.ring.zero) * alpha[i]
            term = powers(lower).scale(weight * scale)
            grad = term if grad is None else grad + term
        new.append(theta[i] if grad is None else theta[i] - grad.times_eta())
    return new


def _derivatives(model: _Model, powers: _Powers, n: int, dim: int):
    """Point ``n``'s gradient ``g[i]`` and Hessian ``h[i][j]`` at the graded weights."""
    zero = _Graded.constant(model.ring.zero, powers.theta[0].order)
    g = [zero] * dim
    h = [[zero] * dim for _ in range(dim)]
    for alpha, coeff in model.terms:
        f = model.scalar(coeff, n)
        for i in range(dim):
            if alpha[i] == 0:
                continue
            lower = alpha[:i] + (alpha[i] - 1,) + alpha[i + 1:]
            g[i] = g[i] + powers(lower).scale(f * alpha[i])
            for j in range(dim):
                if lower[j]:
                    second = lower[:j] + (lower[j] - 1,) + lower[j + 1:]
                    h[i][j] = h[i][j] + powers(second).scale(f * alpha[i] * lower[j])
    return g, h


def _gdc_step(model: _Model, theta, coefficient):
    """One GDC step: GD on ``mean_n l_n + c eta tr C_hat`` over all ``N`` points.

    ``tr C_hat = sum_n |g_n - g_bar|^2 / (N - 1)``, so its gradient is
    ``2/(N - 1) (sum_n H_n g_n - N H_bar g_bar)``.
    """
    dim, N = len(theta), model.N
    powers = _Powers(theta)
    per_point = [_derivatives(model, powers, n, dim) for n in range(N)]
    zero = _Graded.constant(model.ring.zero, theta[0].order)
    mean_g = [sum((g[i] for g, _ in per_point), zero).scale(model.ring(QQ(1, N)))
              for i in range(dim)]
    mean_h = [[sum((h[i][j] for _, h in per_point), zero).scale(model.ring(QQ(1, N)))
               for j in range(dim)] for i in range(dim)]
    if coefficient == 0:                   # GD itself (B = N)
        return [t - g.times_eta() for t, g in zip(theta, mean_g, strict=True)]
    scale = model.ring(QQ(2 * coefficient.numerator, (N - 1) * coefficient.denominator))
    new = []
    for i in range(dim):
        pairs = zero
        for g, h in per_point:
            for j in range(dim):
                pairs = pairs + h[i][j] * g[j]
        for j in range(dim):
            pairs = pairs - (mean_h[i][j] * mean_g[j]).scale(model.ring(N))
        new.append(theta[i] - (mean_g[i] + pairs.scale(scale).times_eta()).times_eta())
    return new


def _measure(model: _Model, theta, measure: str):
    """The measure at ``theta`` as graded elements (one per component)."""
    if measure == "weights":
        return list(theta)
    powers = _Powers(theta)
    zero = _Graded.constant(model.ring.zero, theta[0].order)
    test = sum((powers(a).scale(model.scalar(c)) for a, c in model.test_terms), zero)
    if measure == "test":
        return [test]
    train = sum((powers(a).scale(model.scalar(c, n)) for a, c in model.terms for n in range(model.N)),
                zero).scale(model.ring(QQ(1, model.N)))
    return [train] if measure == "train" else [test - train]


class _Expectation:
    """Exact expectation of ring elements over i.i.d. training points."""

    def __init__(self, model: _Model):
        self.model = model
        self.n_const = len(model.constants)
        self.n_feat = len(model.features)

    @functools.lru_cache(maxsize=None)
    def point(self, exps: tuple) -> sympy.Expr:
        """``E[prod_j f_j(x)^exps_j]`` for one data point."""
        expr = sympy.Mul(*(f**e for f, e in zip(self.model.features, exps)))
        return self.model.landscape.expect(expr)

    def __call__(self, graded: _Graded) -> list:
        return [self._part(p) for p in graded.parts]

    def _part(self, p) -> sympy.Expr:
        bucket = defaultdict(lambda: sympy.S.Zero)
        for monom, c in p.items():
            consts, phis = monom[:self.n_const], monom[self.n_const:]
            value = sympy.Rational(int(c.numerator), int(c.denominator))
            for n in range(self.model.N):
                exps = phis[n * self.n_feat:(n + 1) * self.n_feat]
                if any(exps):
                    value *= self.point(tuple(exps))
            bucket[consts] += value
        return sympy.Add(*(v * sympy.Mul(*(g**e for g, e in zip(self.model.constants, key)))
                           for key, v in bucket.items()))


def _gdc_coefficient(schedule) -> Fraction:
    """GDC's ``c = (N - B)/(4 N B)`` for the SGD schedule it stands for."""
    N, B = int(schedule.N), int(schedule.batch)
    if N < 2:
        raise ScheduleError("GDC needs N >= 2 training points to estimate tr C")
    return Fraction(N - B, 4 * N * B)


def _runs(request: Request) -> list:
    """``[(probability, steps)]``: each step a function ``(model, theta) -> theta``.

    SGD: one run per realization of the schedule, a step per batch.  GDC: one run of
    ``T`` full-batch steps on the regularized loss (the schedule's order is irrelevant)."""
    schedule = request.schedule
    if request.process == "gdc":
        step = functools.partial(_gdc_step, coefficient=_gdc_coefficient(schedule))
        return [(sympy.S.One, [step] * int(schedule.T))]
    return [(weight, [functools.partial(_step, batch=b) for b in explicit.batches])
            for weight, explicit in schedule.realizations()]


def _coefficients(request: Request, progress: bool | None) -> list:
    """Exact Taylor coefficients of ``E[s(theta_T)^moment]`` in ``eta`` up to the order.

    Returns a list of ``order + 1`` coefficients: SymPy expressions, or lists
    of them (one per parameter) for ``'weights'``.
    """
    landscape, schedule, order = request.landscape, request.schedule, request.order
    landscape.polynomial_degree()
    schedule._require_concrete("the exact engine")
    model = _Model(landscape, schedule.N)
    expect = _Expectation(model)
    width = landscape.dim if request.vector else 1
    total = [[sympy.S.Zero] * width for _ in range(order + 1)]
    runs = _runs(request)
    steps = sum(len(moves) for _, moves in runs)
    bar = tqdm(total=steps, desc="exact SGD", disable=_quiet(progress, steps < 200), leave=False)
    for weight, moves in runs:
        theta = [_Graded.constant(model.scalar(v), order) for v in landscape.init]
        for move in moves:
            theta = move(model, theta)
            bar.update()
        values = _measure(model, theta, request.measure)
        if request.moment == 2:
            values = [v * v for v in values]
        for i, v in enumerate(values):
            for k, c in enumerate(expect(v)):
                total[k][i] += weight * c
    bar.close()
    if request.vector:
        return [[sympy.expand(c) for c in row] for row in total]
    return [sympy.expand(row[0]) for row in total]


#: The exact route: brute-force symbolic SGD on the request's landscape.
ROUTE = Route("exact", _coefficients, symbolic=False,
              summary="SGD run symbolically on a polynomial landscape (the ground truth)",
              processes=("sgd", "gdc"))
