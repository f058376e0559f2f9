"""Tests of symsgd.lyapunov: exact covariances against independent derivations.

Oracles: SymPy solving the second-moment equations derived here from the
update rules written out by hand (not from ``optim``'s ``A, B``); iterating the
covariance recursion of the hand-written update to convergence; the same
Lyapunov equation solved in 50-digit arithmetic (mpmath) from the exact values
of the float inputs; Monte Carlo simulation of the optimizers (vectorized numpy,
fixed seeds) with confidence intervals.
"""

import mpmath
import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from symsgd.errors import (BackendError, MatrixError, NonFiniteError, RangeError, ShapeError,
                           StabilityError)
from symsgd.lyapunov import (bayes_kl, bayes_lr_equation, continuous_covariance, covariance_at,
                             discrete_lyapunov, escape_efficiency,
                             escape_efficiency_continuous, kernel, kramers_rate,
                             kramers_rate_continuous, lyapunov_residual, optimal_bayes_lr,
                             optimal_bayes_lr_continuous, self_consistent_covariance,
                             stationary_covariance, training_error,
                             training_error_continuous)
from _accuracy import EPS, agreement_bound, inv_sep, rel, residual, residual_bound
from symsgd.lyapunov._eigenbasis import ZERO_EIGENVALUE_RTOL
from symsgd.optim import (QHM, SGD, HeavyBall, Nesterov, Preconditioned, adam_preconditioned,
                          damped_newton, natural_gradient)

lr, mu, nu, k, c = sympy.symbols("lr mu nu k c", positive=True)


# ----------------------------------------------------------------------------
# independent oracles


def _hand_step(name, w, m, xi, p):
    """One step of each optimizer, written from its textbook definition (scalar)."""
    g = p["k"] * w + xi
    if name == "sgd":
        return w - p["lr"] * g, m
    if name == "heavy":
        m2 = p["mu"] * m + g
        return w - p["lr"] * m2, m2
    if name == "nesterov":
        m2 = p["mu"] * m + g
        return w - p["lr"] * (g + p["mu"] * m2), m2
    if name == "qhm":
        m2 = p["mu"] * m + (1 - p["mu"]) * g
        return w - p["lr"] * ((1 - p["nu"]) * g + p["nu"] * m2), m2
    if name == "precond":
        m2 = p["mu"] * m + g
        return w - p["lam"] * m2, m2
    raise ValueError(name)


def _moment_oracle(name, p):
    """Stationary E[w^2] from the moment equations of the hand-written update (SymPy)."""
    w, m, xi = sympy.symbols("w m xi")
    sww, swm, smm = sympy.symbols("sww swm smm")
    w2, m2 = _hand_step(name, w, m, xi, p)

    def expect(expr):
        poly = sympy.Poly(sympy.expand(expr), w, m, xi)
        table = {(2, 0, 0): sww, (1, 1, 0): swm, (0, 2, 0): smm, (0, 0, 2): p["c"]}
        return sum(coef * table.get(mon, 0) for mon, coef in poly.terms())

    eqs = [expect(w2 * w2) - sww, expect(w2 * m2) - swm, expect(m2 * m2) - smm]
    if name == "sgd":
        eqs = [eqs[0].subs({swm: 0, smm: 0})]
        return sympy.solve(eqs, [sww], dict=True)[0][sww]
    sol = sympy.solve(eqs, [sww, swm, smm], dict=True)[0]
    return sol[sww]


def _textbook_step(opt, w, m, xi, K, num=float):
    """One step of the optimizer's textbook update on vectors (numpy float or object arrays).

    Hyperparameters are converted by ``num`` (``float``, or ``mpmath.mpf`` for
    exact arithmetic on the float inputs); written from the definitions, not
    from ``optim``'s state-space blocks.
    """
    hp = {name: num(float(getattr(opt, name))) for name in ("momentum", "nu", "weight_decay")
          if hasattr(opt, name)}
    g = K @ w + hp["weight_decay"] * w + xi
    if isinstance(opt, Preconditioned):
        lam = opt.lr_matrix * np.eye(len(w)) if opt.is_scalar else opt.lr_matrix
        lam = np.vectorize(num, otypes=[object if num is not float else float])(lam)
        if opt.momentum == 0:
            return w - lam @ g, m
        m = hp["momentum"] * m + g
        return w - lam @ m, m
    lr = num(float(opt.lr))
    if isinstance(opt, SGD):
        return w - lr * g, m
    if isinstance(opt, HeavyBall):
        m = hp["momentum"] * m + g
        return w - lr * m, m
    if isinstance(opt, Nesterov):
        m = hp["momentum"] * m + g
        return w - lr * (g + hp["momentum"] * m), m
    m = hp["momentum"] * m + (1 - hp["momentum"]) * g
    return w - lr * ((1 - hp["nu"]) * g + hp["nu"] * m), m


def _textbook_state_space(opt, K, num=float):
    """``(A, B)`` of the textbook update, column by column (float or mpmath object arrays)."""
    n = K.shape[0]
    d = n * opt.state_blocks
    conv = np.vectorize(num, otypes=[float if num is float else object])
    K, eye, zero = conv(K), conv(np.eye(d)), conv(np.zeros(d))

    def image(z, xi):
        w2, m2 = _textbook_step(opt, z[:n], z[n:] if d > n else 0 * z, xi, K, num)
        return np.concatenate([w2, m2])[:d]

    a = np.stack([image(eye[:, i], zero[:n]) for i in range(d)], axis=1)
    b = np.stack([image(zero, eye[:n, i]) for i in range(n)], axis=1)
    return a, b


def _mp_lyapunov(a, q):
    """Solve ``X = A X A^T + Q`` (object arrays of mpf) by a dense LU on the symmetric unknowns."""
    d = a.shape[0]
    pairs = [(i, j) for i in range(d) for j in range(i, d)]
    system = mpmath.matrix(len(pairs), len(pairs))
    for col, (i, j) in enumerate(pairs):
        image = np.outer(a[:, i], a[:, j])
        image = image + image.T if i != j else image
        for row, (r, c) in enumerate(pairs):
            system[row, col] = int((r, c) == (i, j)) - image[r, c]
    solution = mpmath.lu_solve(system, mpmath.matrix([q[r, c] for r, c in pairs]))
    x = np.empty((d, d), dtype=object)
    for value, (i, j) in zip(solution, pairs):
        x[i, j] = x[j, i] = value
    return x


def _mp_stationary(opt, K, C):
    """The stationary state covariance of ``opt`` computed in 50 digits from the float inputs."""
    with mpmath.workdps(50):
        a, b = _textbook_state_space(opt, K, mpmath.mpf)
        c = np.vectorize(mpmath.mpf, otypes=[object])(C)
        return _mp_lyapunov(a, b @ c @ b.T)


def _blockwise_error(got, ref, n):
    """Largest error of each ``n x n`` block relative to that block's largest entry."""
    d = got.shape[0]
    worst = 0.0
    for i in range(0, d, n):
        for j in range(0, d, n):
            block = ref[i:i + n, j:j + n]
            scale = max(abs(x) for x in block.ravel())
            err = max(abs(mpmath.mpf(float(g)) - r) for g, r in
                      zip(got[i:i + n, j:j + n].ravel(), block.ravel()))
            worst = max(worst, float(err / scale))
    return worst


def _iterate(a, q, tol=1e-15, max_steps=2_000_000):
    """Iterate X <- A X A^T + Q to convergence (the slow, obviously correct route)."""
    x = np.zeros_like(q)
    for _ in range(max_steps):
        new = a @ x @ a.T + q
        if np.abs(new - x).max() <= tol * np.abs(new).max():
            return new
        x = new
    raise AssertionError("no convergence")


# ----------------------------------------------------------------------------
# tolerances derived from the conditioning: see tests/_accuracy.py


def _inv_sep_commuting(opt, K):
    """``||L^{-1}||_2`` when ``A`` is a polynomial in ``K`` (every optimizer but a matrix rate).

    In the eigenbasis of ``K`` (an orthogonal change of basis, which keeps singular values),
    ``L`` is block diagonal with one block ``I - A(k_i) (x) A(k_j)`` per pair of eigenvalues.
    """
    blocks = np.stack([_textbook_state_space(opt, np.array([[x]]))[0]
                       for x in np.linalg.eigvalsh(K)])
    s = blocks.shape[1]
    pairs = np.eye(s * s) - np.einsum("iab,jcd->ijacbd", blocks, blocks).reshape(
        len(blocks) ** 2, s * s, s * s)
    return 1 / np.linalg.svd(pairs, compute_uv=False).min()


def _kernel_rounding_bound(opt, k):
    """The kernel's stated accuracy per entry for eigenvalues ``k`` given exactly.

    Its stable form (``kbar, h``, ``1 - momentum``, factored coefficients) has no cancelling
    sum but the distance to the stability edge, whose relative error is
    ``eps lr k / (bound - lr k)``; each of its ``count_ops`` operations rounds once.
    """
    from symsgd.lyapunov._kernel import _canonical, _derive_kernel
    kern = _derive_kernel(type(_canonical(opt)))
    ops = max(sympy.count_ops(form) for form in kern.stable)
    bound = float(opt.lr_bound())
    return ops * EPS * (1 + 2 * bound / (bound - float(opt.lr) * np.max(k)))


def _dense_kernel_bound(opt, K, C, got):
    """Blockwise accuracy of the eigenbasis solve of a dense ``K`` (see symsgd.lyapunov._eigenbasis).

    ``eigh`` is backward stable: the solve is exact for some ``K + dK`` with
    ``||dK|| <= n eps ||K||``, which moves each block ``V (C_hat o Y) V^T`` by at most
    ``||dK|| ||C||_F max |grad Y|`` (the divided differences of ``Y`` in the Daleckii-Krein
    formula are derivatives at points between the eigenvalues: sampled on a grid).
    """
    from symsgd.lyapunov._kernel import _K1, _K2, _canonical, _derive_kernel
    canon = _canonical(opt)
    kern = _derive_kernel(type(canon))
    values = {x: getattr(canon, name) for name, x in zip(kern.names, kern.syms)}
    ev = np.linalg.eigvalsh(K) + float(opt.weight_decay)
    k1, k2 = np.meshgrid(*[np.union1d(ev, np.linspace(ev.min(), ev.max(), 41))] * 2)
    n, s = K.shape[0], kern.entries.rows
    worst = 0.0
    for e in range(s * s):
        y = kern.entries[e].subs(values)
        grad = sympy.lambdify((_K1, _K2), [sympy.diff(y, _K1), sympy.diff(y, _K2)], "numpy")
        slope = np.max(np.abs(grad(k1, k2)[0]) + np.abs(grad(k1, k2)[1]))
        i, j = divmod(e, s)
        block = np.abs(got[i * n:(i + 1) * n, j * n:(j + 1) * n]).max()
        worst = max(worst, slope * np.linalg.norm(K, 2) * np.linalg.norm(C) / block)
    return n * EPS * worst + _kernel_rounding_bound(opt, ev)


def _random_spd(rng, n, scale=1.0):
    m = rng.normal(size=(n, n))
    return scale * (m @ m.T / n + 0.05 * np.eye(n))


def _zero(expr):
    return sympy.simplify(sympy.together(expr)) == 0


# ----------------------------------------------------------------------------
# symbolic: Liu et al.'s Table 1 from the general machinery


@pytest.mark.parametrize("name,opt,params", [
    ("sgd", SGD(lr), {}),
    ("heavy", HeavyBall(lr, mu), {}),
    ("nesterov", Nesterov(lr, mu), {}),
    ("qhm", QHM(lr, mu, nu), {}),
])
def test_scalar_covariance_matches_moment_equations(name, opt, params):
    got = stationary_covariance(opt, k, c)
    expected = _moment_oracle(name, {"lr": lr, "mu": mu, "nu": nu, "k": k, "c": c})
    assert _zero(got - expected)


def test_table1_sgd_and_momentum():
    # Table 1 / Corollary 1: lr [K/(1+mu) (2 - lr K/(1+mu))]^{-1} C / (1 - mu^2)
    sgd = stationary_covariance(SGD(lr), k, c)
    assert _zero(sgd - lr * c / (k * (2 - lr * k)))
    hb = stationary_covariance(HeavyBall(lr, mu), k, c)
    printed = lr / (k / (1 + mu) * (2 - lr * k / (1 + mu))) * c / (1 - mu ** 2)
    assert _zero(hb - printed)
    assert _zero(hb - _moment_oracle("heavy", {"lr": lr, "mu": mu, "k": k, "c": c}))


def test_table1_damped_newton():
    # Lambda = lr K^{-1}: (1+mu)/(1-mu) lr/(2(1+mu) - lr) K^{-2} C
    got = stationary_covariance(damped_newton(lr, k, momentum=mu), k, c)
    oracle = _moment_oracle("precond", {"lam": lr / k, "mu": mu, "k": k, "c": c})
    assert _zero(got - oracle)
    assert _zero(got - (1 + mu) / (1 - mu) * lr / (2 * (1 + mu) - lr) * c / k ** 2)


def test_table1_natural_gradient_self_consistent():
    # Lambda = lr (K Sigma K)^{-1}: Theorem 13 / Corollary 9 (commuting, scalar)
    roots = self_consistent_covariance(
        lambda s: (natural_gradient(lr, k * s * k, momentum=mu), c), k)
    sample = {lr: sympy.Rational(1, 3), mu: sympy.Rational(1, 2), k: 2, c: sympy.Rational(1, 5)}
    positive = [r for r in roots if r.subs(sample) > 0]
    assert len(roots) == 2 and len(positive) == 1
    sigma = positive[0]
    q = sympy.sqrt(lr ** 2 / (4 * (1 + mu) ** 2) + 2 * lr / (1 - mu) * c / k)
    printed = (q + lr / (2 * (1 + mu))) / (2 * k)
    diff = sympy.lambdify((lr, mu, k, c), sigma - printed, "mpmath")
    scale = sympy.lambdify((lr, mu, k, c), printed, "mpmath")
    rng = np.random.default_rng(0)
    with mpmath.workdps(50):
        for _ in range(20):
            point = (mpmath.mpf(rng.uniform(0.01, 5)), mpmath.mpf(rng.uniform(0, 0.99)),
                     mpmath.mpf(rng.uniform(0.01, 5)), mpmath.mpf(rng.uniform(0.01, 5)))
            # an identically zero expression evaluates to rounding, 1e-50 relative per
            # operation at 50 digits; 1e-40 leaves 10 digits for cancellation, while a
            # wrong formula is off by O(1)
            assert abs(diff(*point)) < 1e-40 * abs(scale(*point))
    # independent: Sigma solves the moment equations with Lambda = lr / (k Sigma k)
    lam = sympy.Symbol("lam", positive=True)
    oracle = _moment_oracle("precond", {"lam": lam, "mu": mu, "k": k, "c": c})
    fixed = sympy.lambdify((lr, mu, k, c), oracle.subs(lam, lr / (k * sigma * k)) - sigma,
                           "mpmath")
    with mpmath.workdps(50):
        for _ in range(20):
            point = (mpmath.mpf(rng.uniform(0.01, 5)), mpmath.mpf(rng.uniform(0, 0.99)),
                     mpmath.mpf(rng.uniform(0.01, 5)), mpmath.mpf(rng.uniform(0.01, 5)))
            assert abs(fixed(*point)) < 1e-40 * abs(scale(*point))


def test_table1_natural_gradient_minibatch_noise():
    # Corollary 6: C = a K Sigma K gives lr ((1+mu) a + 1 - mu) / (2 (1 - mu^2)) K^{-1}
    a = sympy.Symbol("a", positive=True)
    roots = self_consistent_covariance(
        lambda s: (natural_gradient(lr, k * s * k, momentum=mu), a * k * s * k), k)
    assert len(roots) == 1
    assert _zero(roots[0] - lr * ((1 + mu) * a + 1 - mu) / (2 * (1 - mu ** 2)) / k)


def test_table1_adam():
    # Theorem 10: Lambda = lr E[g g^T]^{-1/2}, C = c K Sigma K  =>  Sigma = lr^2 (1 + c) / 4
    roots = self_consistent_covariance(
        lambda s: (adam_preconditioned(lr, k * s * k + c * k * s * k), c * k * s * k), k)
    assert len(roots) == 1
    assert _zero(roots[0] - lr ** 2 * (1 + c) / 4)


def test_training_error_theorem5():
    got = training_error(HeavyBall(lr, mu), k, c)
    assert _zero(got - lr / (4 * (1 - mu)) * c / (1 - lr * k / (2 * (1 + mu))))
    assert _zero(training_error_continuous(HeavyBall(lr, mu), k, c) - lr * c / (4 * (1 - mu)))


def test_symbolic_matrix_general_solve_matches_diagonal_form():
    k1, k2 = sympy.symbols("k1 k2", positive=True)
    K = sympy.diag(k1, k2)
    C = sympy.Matrix([[c, 0], [0, 2 * c]])
    got = stationary_covariance(SGD(sympy.Rational(1, 3)), K, C)
    assert _zero(got[0, 0] - stationary_covariance(SGD(sympy.Rational(1, 3)), k1, c))
    # non-commuting exact rationals: check the Lyapunov equation exactly
    K = sympy.Matrix([[2, 1], [1, 2]]) / 3
    C = sympy.Matrix([[1, 0], [0, 3]])
    opt = HeavyBall(sympy.Rational(1, 2), sympy.Rational(1, 4))
    full = stationary_covariance(opt, K, C, full_state=True)
    a, b = opt.state_space(K)
    assert sympy.simplify(full - a * full * a.T - b * C * b.T) == sympy.zeros(4, 4)
    assert full[:2, :2] == stationary_covariance(opt, K, C)


# ----------------------------------------------------------------------------
# numeric: Theorems 1-3 for non-commuting K, C


def _theorem(terms, constant, s):
    """``sum coef L S R + constant`` and its bound at the computed ``S``.

    The expression is linear in ``S`` and vanishes at the exact one, so at the computed ``S``
    it is at most ``sum |coef| ||L|| ||R|| ||S - S_exact||`` plus the rounding of its own
    evaluation (``2 n eps |coef| ||L|| ||S|| ||R||`` per term, ``eps ||constant||``).
    """
    n = s.shape[0]
    value = sum(coef * left @ s @ right for coef, left, right in terms) + constant
    gain = sum(abs(coef) * np.linalg.norm(left, 2) * np.linalg.norm(right, 2)
               for coef, left, right in terms)
    rounding = 2 * n * EPS * gain * np.linalg.norm(s) + EPS * np.linalg.norm(constant)
    return value, gain, rounding


def test_theorems_1_2_3_non_commuting():
    # Liu, Ziyin and Ueda, Theorems 1-3, evaluated at the computed covariance; each bound is the
    # expression's gain times the solver's forward-error bound (conditioning x residual bound)
    rng = np.random.default_rng(1)
    n = 6
    K, C, L = _random_spd(rng, n), _random_spd(rng, n), _random_spd(rng, n)
    eye = np.eye(n)
    kmax = np.linalg.eigvalsh(K).max()
    eta, m = 1.3 / kmax, 0.6
    lam = L * 2.5 / np.linalg.eigvals(L @ K).real.max()
    cases = [
        (SGD(eta), lambda s: ([(1, eye, K), (1, K, eye), (-eta, K, K)], -eta * C)),
        (HeavyBall(eta, m), lambda s: (
            [(-(1 + m ** 2) / (1 - m ** 2) * eta ** 2, K, K),
             (m / (1 - m ** 2) * eta ** 2, K @ K, eye), (m / (1 - m ** 2) * eta ** 2, eye, K @ K),
             ((1 - m) * eta, K, eye), ((1 - m) * eta, eye, K)], -eta ** 2 * C)),
        (Preconditioned(lam, momentum=m), lambda s: (
            [(-(1 + m ** 2) / (1 - m ** 2), lam @ K, K @ lam),
             (m / (1 - m ** 2), lam @ K @ lam @ K, eye), (m / (1 - m ** 2), eye, K @ lam @ K @ lam),
             (1 - m, lam @ K, eye), (1 - m, eye, K @ lam)], -lam @ C @ lam)),
    ]
    for opt, theorem in cases:
        full = stationary_covariance(opt, K, C, full_state=True)
        a, b = opt.state_space(K)
        q = b @ C @ b.T
        assert residual(a, full, q) <= residual_bound(a, opt)
        s = full[:n, :n]
        value, gain, rounding = _theorem(*theorem(s), s)
        error = inv_sep(a) * residual_bound(a, opt) * np.linalg.norm(full)
        assert np.linalg.norm(value) <= gain * error + rounding, type(opt).__name__


# ----------------------------------------------------------------------------
# numeric against iteration


OPTIMIZERS = [
    SGD(0.7), SGD(0.5, weight_decay=0.2), HeavyBall(0.5, 0.7), HeavyBall(0.3, 0.5, weight_decay=0.1),
    Nesterov(0.4, 0.6), Nesterov(0.35, 0.6, weight_decay=0.15), QHM(0.6, 0.8, 0.7),
    QHM(0.5, 0.5, 0.0), QHM(0.5, 0.8, 0.7, weight_decay=0.2), Preconditioned(0.4),
    Preconditioned(0.3, momentum=0.4, weight_decay=0.1),
]


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=repr)
def test_numeric_matches_iteration(opt):
    # the oracle iterates the covariance recursion of the textbook update (weight decay included)
    rng = np.random.default_rng(2)
    n = 4
    K, C = _random_spd(rng, n), _random_spd(rng, n)
    K = K / np.linalg.eigvalsh(K).max() * 1.2
    # both are within ||L^{-1}|| x (their residual) of the exact solution (agreement_bound)
    a, b = _textbook_state_space(opt, K)
    q = b @ C @ b.T
    expected = _iterate(a, q)
    got = stationary_covariance(opt, K, C, full_state=True)
    assert residual(a, got, q) <= residual_bound(a)
    assert rel(got, expected) <= agreement_bound(a, q, inv_sep(a), got, expected)
    eig = np.linalg.eigvalsh(K)
    per = stationary_covariance(opt, eig, np.full(n, 0.7), full_state=True)
    for i, x in enumerate(eig):
        a1, b1 = _textbook_state_space(opt, np.array([[x]]))
        q1 = 0.7 * b1 @ b1.T
        ref = _iterate(a1, q1)
        assert rel(per[i], ref) <= agreement_bound(a1, q1, inv_sep(a1), per[i], ref)


def test_matrix_preconditioner_matches_iteration():
    rng = np.random.default_rng(3)
    n = 4
    K, C, L = _random_spd(rng, n), _random_spd(rng, n), _random_spd(rng, n)
    for m in (0.0, 0.5):
        lam = L * 1.5 * (1 + m) / np.linalg.eigvals(L @ K).real.max()
        opt = Preconditioned(lam, momentum=m, weight_decay=0.05)
        a, b = _textbook_state_space(opt, K)
        q = b @ C @ b.T
        expected = _iterate(a, q)
        got = stationary_covariance(opt, K, C, full_state=True)
        assert residual(a, got, q) <= residual_bound(a, opt)
        assert rel(got, expected) <= agreement_bound(a, q, inv_sep(a), got, expected, opt=opt)


def test_finite_time_matches_recursion_and_symbolic_steps():
    rng = np.random.default_rng(4)
    K, C = _random_spd(rng, 3), _random_spd(rng, 3)
    opt = Nesterov(0.3, 0.5)
    a, b = opt.state_space(K)
    x = np.zeros_like(a)
    x[:3, :3] = np.eye(3)
    # each of the t steps of the recursion, and each of the 2 log2(t) products of binary
    # powering, adds a rounding error of at most residual_bound(a) ||Sigma||, carried forward
    # by at most max_s ||A^s||^2 (A is not normal)
    q = b @ C @ b.T
    powers = [np.linalg.norm(np.linalg.matrix_power(a, s), 2) ** 2 for s in range(41)]
    for t in range(1, 41):
        x = a @ x @ a.T + q
        if t in (1, 7, 40):
            got = covariance_at(opt, K, C, t, initial=np.eye(3), full_state=True)
            steps = t + 2 * np.log2(t) + 2
            assert rel(got, x) <= steps * residual_bound(a) * max(powers[:t + 1])
    t = sympy.Symbol("t", integer=True, nonnegative=True)
    sym = covariance_at(SGD(lr), k, c, t)
    for steps in range(4):
        direct = sum((1 - lr * k) ** (2 * s) * lr ** 2 * c for s in range(steps))
        assert _zero(sym.subs(t, steps) - direct)


# ----------------------------------------------------------------------------
# the stability edge


@pytest.mark.parametrize("opt_at_edge", [
    lambda kmax: SGD(1.9999 / kmax),
    lambda kmax: HeavyBall(1.9999 * 1.9 / kmax, 0.9),
    lambda kmax: HeavyBall(1.9999 * 1.5 / kmax, 0.5),
    lambda kmax: Nesterov(0.99995 * Nesterov(1, 0.5).lr_bound() / kmax, 0.5),
    lambda kmax: QHM(0.99995 * QHM(1, 0.9, 0.7).lr_bound() / kmax, 0.9, 0.7),
])
def test_residual_at_stability_edge(opt_at_edge):
    # both solvers are backward stable however close lr k_max is to the bound; they agree to
    # the conditioning of the problem (||L^{-1}|| is 1e4 to 1e5 here)
    rng = np.random.default_rng(5)
    n = 40
    K, C = _random_spd(rng, n), _random_spd(rng, n)
    opt = opt_at_edge(np.linalg.eigvalsh(K).max())
    a, b = opt.state_space(K)
    q = b @ C @ b.T
    x = stationary_covariance(opt, K, C, full_state=True)
    assert lyapunov_residual(a, x, q) <= residual_bound(a)
    y = discrete_lyapunov(a, q)
    assert lyapunov_residual(a, y, q) <= residual_bound(a)
    assert rel(x, y) <= agreement_bound(a, q, _inv_sep_commuting(opt, K), x, y)


def test_kernel_backward_stable_at_the_edge_where_scipy_bilinear_is_not():
    # What holds on every CPU and BLAS: the eigenbasis kernel and the Schur solver have the
    # residual of a backward-stable solver, 2 (d + 1) eps (1 + ||A||^2), at lr k_max = 1.99999;
    # scipy's bilinear transform forms (A + I)^{-1} (A - I), with cond(A + I) = 2e5 here,
    # and its residual is orders of magnitude above that bound.  The forward errors of all
    # three are within ||L^{-1}|| times their residual, which is all that the conditioning
    # allows: a forward-error ranking between them is not a property of the algorithms (the
    # kernel's forward error is 1.7e-14 with OpenBLAS's Haswell kernels and 4.4e-11 with its
    # Prescott ones, scipy's 6e-11 to 9e-11, against the conditioning bound 4e-10).
    #
    # 1-D: X = (1 - x)^2 X + 1 has X = 1 / (x (2 - x)); SGD(lr = x) on k = c = 1 has lr^2 X.
    # The kernel evaluates lr / (kbar (2 - lr kbar)) with 2 - x exact (Sterbenz): at most
    # 4 roundings.  The general solver computes 1 - a^2 with a = 1 - x (exact, Sterbenz) and
    # loses what the conditioning ||L^{-1}|| = 1 / (1 - a^2) = 5e6 says.
    x = 1.9999999
    with mpmath.workdps(50):
        exact_1d = 1 / (mpmath.mpf(x) * (2 - mpmath.mpf(x)))
        sgd_1d = float(mpmath.mpf(x) ** 2 * exact_1d)
        exact_1d = float(exact_1d)
    assert abs(stationary_covariance(SGD(x), 1.0, 1.0) - sgd_1d) <= 4 * EPS * sgd_1d
    a1, q1 = np.array([[1 - x]]), np.array([[1.0]])
    assert abs(discrete_lyapunov(a1, q1)[0, 0] - exact_1d) <= \
        inv_sep(a1) * residual_bound(a1) * exact_1d
    # dense, lr k_max = 1.99999, against 50 digits: K = H diag(k) H^T is exact in floats
    # (Hadamard H / 4 is orthogonal with entries +-1/4, the k_i have 20 bits)
    rng = np.random.default_rng(12)
    n = 16
    h = scipy.linalg.hadamard(n) / 4.0
    kv = rng.integers(1, 2 ** 20, n) / 2.0 ** 20
    kv[0] = 1.0
    K, C = h @ np.diag(kv) @ h.T, _random_spd(rng, n)
    eta = 1.99999
    with mpmath.workdps(50):
        hm, lm = mpmath.matrix(h.tolist()), mpmath.mpf(eta)
        c_hat = hm.T * mpmath.matrix(C.tolist()) * hm
        y = mpmath.matrix(n, n)
        for i in range(n):
            for j in range(n):
                y[i, j] = c_hat[i, j] * lm ** 2 / (1 - (1 - lm * kv[i]) * (1 - lm * kv[j]))
        exact = np.array((hm * y * hm.T).tolist(), dtype=float)
    a, b = SGD(eta).state_space(K)
    q = b @ C @ b.T
    sep = _inv_sep_commuting(SGD(eta), K)
    ours = stationary_covariance(SGD(eta), K, C)
    schur = discrete_lyapunov(a, q)
    theirs = scipy.linalg.solve_discrete_lyapunov(a, q, method="bilinear")
    for sol in (ours, schur):
        assert residual(a, sol, q) <= residual_bound(a)
    assert residual(a, theirs, q) > 100 * residual_bound(a)
    for sol in (ours, schur, theirs):
        assert rel(sol, exact) <= sep * (residual(a, sol, q) + residual_bound(a))
    # and the residual, 60-dimensional, non-commuting
    K, C = _random_spd(rng, 60), _random_spd(rng, 60)
    opt = SGD(1.99999 / np.linalg.eigvalsh(K).max())
    a, b = opt.state_space(K)
    q = b @ C @ b.T
    assert lyapunov_residual(a, stationary_covariance(opt, K, C), q) <= residual_bound(a)
    theirs = scipy.linalg.solve_discrete_lyapunov(a, q)
    assert lyapunov_residual(a, theirs, q) > 100 * residual_bound(a)


# ----------------------------------------------------------------------------
# high momentum: forward error against 50 digits


HIGH_MOMENTUM = [(kind, mom, frac) for kind in ("heavy", "nesterov", "qhm")
                 for mom in (0.99, 0.999, 0.9999) for frac in (0.01, 0.5, 0.99995)]


def _make(kind, mom):
    return {"heavy": lambda x: HeavyBall(x, mom), "nesterov": lambda x: Nesterov(x, mom),
            "qhm": lambda x: QHM(x, mom, 0.7)}[kind]


@pytest.mark.parametrize("kind,mom,frac", HIGH_MOMENTUM)
def test_high_momentum_per_eigenvalue_against_50_digits(kind, mom, frac):
    # the kernels used to lose (1 - mu)^-2 digits: 9e-9 at mu = 0.9999, 4e-6 at mu = 0.999
    # on the edge; the reference solves the 2 x 2 Lyapunov equation of the textbook update
    make = _make(kind, mom)
    opt = make(frac * make(1.0).lr_bound())
    eig = np.array([1.0, 1.0 - 1e-9, 0.37, 1e-3, 1e-7])
    got = stationary_covariance(opt, eig, 0.8, full_state=True)
    for i, x in enumerate(eig):
        ref = _mp_stationary(opt, np.array([[x]]), np.array([[0.8]]))
        assert _blockwise_error(got[i], ref, 1) <= _kernel_rounding_bound(opt, x)


@pytest.mark.parametrize("kind,mom,frac", [
    ("heavy", 0.99, 0.99995), ("heavy", 0.999, 0.99995), ("heavy", 0.9999, 0.99995),
    ("heavy", 0.9999, 0.005), ("nesterov", 0.999, 0.99995), ("qhm", 0.999, 0.99995),
    ("qhm", 0.999, 0.01),
])
def test_high_momentum_dense_against_50_digits(kind, mom, frac):
    rng = np.random.default_rng(13)
    n = 4
    K, C = _random_spd(rng, n), _random_spd(rng, n)
    make = _make(kind, mom)
    opt = make(frac * make(1.0).lr_bound() / np.linalg.eigvalsh(K).max())
    got = stationary_covariance(opt, K, C, full_state=True)
    assert _blockwise_error(got, _mp_stationary(opt, K, C), n) <= _dense_kernel_bound(opt, K, C, got)


@pytest.mark.parametrize("mom,frac", [(0.99, 0.9995), (0.999, 0.5), (0.9999, 0.01)])
def test_high_momentum_residual_relative_to_noise(mom, frac):
    # n = 200: backward stable, the relative residual of residual_bound (the kernels that
    # lost (1 - mu)^-2 digits had residuals 2e-10 ||Q|| and 6e-9 ||Q|| in the first and last
    # case, with ||X|| / ||Q|| = 1e3 to 3e3: 1e4 to 1e6 times this bound)
    rng = np.random.default_rng(5)
    n = 200
    K, C = _random_spd(rng, n), _random_spd(rng, n)
    opt = HeavyBall(frac * 2 * (1 + mom) / np.linalg.eigvalsh(K).max(), mom)
    a, b = opt.state_space(K)
    q = b @ C @ b.T
    x = stationary_covariance(opt, K, C, full_state=True)
    assert lyapunov_residual(a, x, q) <= residual_bound(a)


# ----------------------------------------------------------------------------
# properties


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 4), seed=st.integers(0, 2 ** 32 - 1),
       frac=st.floats(0.05, 0.95), mom=st.floats(0.0, 0.95),
       kind=st.sampled_from(["sgd", "heavy", "nesterov", "qhm"]))
def test_properties_symmetric_psd_fixed_point(n, seed, frac, mom, kind):
    rng = np.random.default_rng(seed)
    K, C = _random_spd(rng, n), _random_spd(rng, n)
    make = {"sgd": lambda x: SGD(x), "heavy": lambda x: HeavyBall(x, mom),
            "nesterov": lambda x: Nesterov(x, mom), "qhm": lambda x: QHM(x, mom, 0.5)}[kind]
    opt = make(frac * make(1.0).lr_bound() / np.linalg.eigvalsh(K).max())
    full = stationary_covariance(opt, K, C, full_state=True)
    a, b = opt.state_space(K)
    q = b @ C @ b.T
    assert np.array_equal(full, full.T)
    # PSD up to its forward error; backward stable; and Sigma_t = Sigma - A^t Sigma A^tT up to
    # the forward error of Sigma carried by (1 + ||A^t||^2) and the rounding of covariance_at
    forward = agreement_bound(a, q, inv_sep(a), full)
    assert np.linalg.eigvalsh(full).min() >= -forward * np.linalg.norm(full)
    assert lyapunov_residual(a, full, q) <= residual_bound(a)
    steps = 200
    near = covariance_at(opt, K, C, steps, full_state=True)
    power = np.linalg.matrix_power(a, steps)
    growth = max(np.linalg.norm(np.linalg.matrix_power(a, t), 2) ** 2 for t in range(steps + 1))
    bound = (1 + np.linalg.norm(power, 2) ** 2) * forward + \
        (2 * np.log2(steps) + 2) * residual_bound(a) * growth
    assert rel(near, full - power @ full @ power.T) <= bound * np.linalg.norm(full) / \
        np.linalg.norm(full - power @ full @ power.T)


# ----------------------------------------------------------------------------
# Monte Carlo


def _simulate(opt, K, C, steps, chains, rng):
    """Run the optimizer's textbook update on the quadratic (vectorized: one chain per column)."""
    n = K.shape[0]
    chol = np.linalg.cholesky(C)
    w = np.zeros((n, chains))
    m = np.zeros((n, chains))
    for _ in range(steps):
        xi = (rng.standard_normal((chains, n)) @ chol.T).T
        w, m = _textbook_step(opt, w, m, xi, K)
    return w.T


MC_CASES = [
    SGD(1.6), SGD(1.2, weight_decay=0.1), HeavyBall(0.8, 0.6), Nesterov(0.6, 0.5),
    QHM(1.0, 0.8, 0.7), Preconditioned(np.array([[0.8, 0.2], [0.2, 0.5]]), momentum=0.3),
]


@pytest.mark.parametrize("opt", MC_CASES, ids=lambda o: type(o).__name__)
def test_monte_carlo_covariance_within_confidence_interval(opt):
    rng = np.random.default_rng(20240611)
    K = np.array([[1.0, 0.3], [0.3, 0.5]])
    C = np.array([[1.0, -0.4], [-0.4, 0.6]])
    steps, chains = 150, 20000
    w = _simulate(opt, K, C, steps, chains, rng)
    sigma = covariance_at(opt, K, C, steps)
    stationary = stationary_covariance(opt, K, C)
    # from 0, Sigma_t = Sigma - A^t Sigma A^tT: at most ||A^t||^2 ||Sigma|| from stationary
    # (plus the two solvers' forward errors, far smaller here)
    a, b = opt.state_space(K)
    full = stationary_covariance(opt, K, C, full_state=True)
    decay = np.linalg.norm(np.linalg.matrix_power(a, steps), 2) ** 2
    assert rel(sigma, stationary) <= (decay + agreement_bound(
        a, b @ C @ b.T, inv_sep(a), full, opt=opt)) * np.linalg.norm(full) / \
        np.linalg.norm(stationary)
    # Gaussian chains: Var(w_i w_j) = S_ii S_jj + S_ij^2; Bonferroni over 3 entries (95% joint)
    z = 2.39
    for i, j in ((0, 0), (0, 1), (1, 1)):
        est = np.mean(w[:, i] * w[:, j])
        se = np.sqrt((sigma[i, i] * sigma[j, j] + sigma[i, j] ** 2) / chains)
        assert abs(est - sigma[i, j]) < z * se, (i, j, est, sigma[i, j], se)
    # the continuous theory is outside the interval at these learning rates
    cont = continuous_covariance(opt, K, C)
    se = np.sqrt(2 * sigma[0, 0] ** 2 / chains)
    assert abs(cont[0, 0] - sigma[0, 0]) > 3 * se


# ----------------------------------------------------------------------------
# self-consistent noise, numeric


def test_self_consistent_numeric_linear_noise_matches_direct_solve():
    rng = np.random.default_rng(6)
    K, C0 = _random_spd(rng, 3), _random_spd(rng, 3)
    opt = HeavyBall(0.3, 0.5)
    s = self_consistent_covariance(lambda S: (opt, C0 + 0.2 * K @ S @ K), K)
    # direct: vec(Sigma_z) solves a linear system that includes the multiplicative noise
    a, b = opt.state_space(K)
    d, n = a.shape[0], 3
    eye = np.eye(d * d)
    sel = np.zeros((d * d, n * n))
    for i in range(n):
        for j in range(n):
            sel[i * d + j, i * n + j] = 1
    noise_op = np.kron(b @ K, b @ K) * 0.2
    lhs = eye - np.kron(a, a) - noise_op @ sel.T
    vec = np.linalg.solve(lhs, (b @ C0 @ b.T).ravel())
    direct = vec.reshape(d, d)[:n, :n]
    # the map F(S) = stationary_covariance(opt, K, C0 + 0.2 K S K) is affine, F(S) = F(0) +
    # G S with G = sel^T (I - A (x) A)^{-1} noise_op, so s - S* = (I - G)^{-1} (s - F(s)):
    # s is within ||(I - G)^{-1}|| ||F(s) - s|| of the fixed point; the direct solve within
    # cond(lhs) d^2 eps of it
    gain = sel.T @ np.linalg.solve(eye - np.kron(a, a), noise_op)
    step = np.linalg.norm(stationary_covariance(opt, K, C0 + 0.2 * K @ s @ K) - s)
    bound = np.linalg.norm(np.linalg.inv(np.eye(n * n) - gain), 2) * step + \
        np.linalg.cond(lhs) * d * d * EPS * np.linalg.norm(direct)
    assert np.linalg.norm(s - direct) <= bound


def test_self_consistent_adam_matrix():
    rng = np.random.default_rng(7)
    K = _random_spd(rng, 3)
    eta, cc = 0.1, 0.5

    def build(S):
        from symsgd.optim import adam_preconditioned
        m = K @ S @ K
        return adam_preconditioned(eta, (1 + cc) * (m + m.T) / 2), cc * K @ S @ K

    s = self_consistent_covariance(build, K, initial=0.01 * np.eye(3))
    exact = eta ** 2 * (1 + cc) / 4 * np.eye(3)
    # s - S* = (I - J)^{-1} (s - F(s)) to first order, J the Jacobian of F(S) =
    # stationary_covariance(*build(S)) at the fixed point (by central differences on the six
    # symmetric directions, steps 1e-6 ||S||; second order is 1e-12 smaller); F(s) itself is evaluated to the forward error
    # of the inner solve (agreement_bound)
    def f(sigma):
        opt, noise = build(sigma)
        return stationary_covariance(opt, K, noise)

    basis = [np.outer(e1, e2) + np.outer(e2, e1) for i, e1 in enumerate(np.eye(3))
             for e2 in np.eye(3)[i:]]
    basis = [e / np.linalg.norm(e) for e in basis]  # orthonormal: coordinates keep norms
    step = 1e-6 * np.linalg.norm(exact)
    jac = np.stack([((f(exact + step * e) - f(exact - step * e)) / (2 * step)).ravel()
                    for e in basis], axis=1)
    coords = np.linalg.lstsq(np.stack([e.ravel() for e in basis], axis=1), jac, rcond=None)[0]
    amplification = np.linalg.norm(np.linalg.inv(np.eye(6) - coords), 2)
    opt, noise = build(s)
    a, b = opt.state_space(K)
    full = stationary_covariance(opt, K, noise, full_state=True)
    inner = agreement_bound(a, b @ noise @ b.T, inv_sep(a), full, opt=opt) * \
        np.linalg.norm(full) / np.linalg.norm(s)
    fixed_point = rel(f(s), s) + inner
    assert rel(s, exact) <= amplification * fixed_point


def test_self_consistent_diverges_cleanly():
    with pytest.raises(StabilityError):
        self_consistent_covariance(lambda S: (SGD(1.0), 1.0 + 2.0 * S), 1.0, max_iter=50)


# ----------------------------------------------------------------------------
# derived quantities


def test_escape_efficiency_theorem7_and_corollary4():
    t = sympy.Symbol("t", integer=True, nonnegative=True)
    got = escape_efficiency(SGD(lr), k, c, t)
    printed = lr / 4 / (1 - lr * k / 2) * (1 - (1 - lr * k) ** (2 * t)) * c
    for steps in range(4):
        assert _zero((got - printed).subs(t, steps))
    cont = escape_efficiency_continuous(SGD(lr), k, c, t)
    assert _zero(cont - lr / 4 * (1 - sympy.exp(-2 * lr * k * t)) * c)
    rng = np.random.default_rng(8)
    K, C = _random_spd(rng, 4), _random_spd(rng, 4)
    kmax = np.linalg.eigvalsh(K).max()
    for x in (0.3, 1.0, 1.5, 1.99):
        for steps in (0, 1, 2, 5, 50):
            ed = escape_efficiency(SGD(x / kmax), K, C, steps)
            ec = escape_efficiency_continuous(SGD(x / kmax), K, C, steps)
            # Theorem 7 vs Corollary 4 up to the rounding of both: n eps times the
            # discrete kernel's sensitivity 1 + 2 / (2 - lr k) (see _kernel_rounding_bound)
            slack = 4 * EPS * (1 + 2 / (2 - x)) * (abs(ed) + abs(ec))
            assert ed >= ec - slack


def test_bayes_lr_equation_and_solver():
    N, S = sympy.symbols("N S", positive=True)
    k1, k2 = sympy.symbols("k1 k2", positive=True)
    eq = bayes_lr_equation([k1, k2], N, S, lr)
    printed = ((N - 2 * S) / S * sum(kk / (2 - lr * kk) for kk in (k1, k2))
               + (N - S) / S * lr * sum(kk ** 2 / (2 - lr * kk) ** 2 for kk in (k1, k2)) - 2 / lr)
    assert _zero(2 * eq - printed)
    eigs, n_data, batch = np.array([0.5, 1.0, 3.0]), 1000, 50
    best = optimal_bayes_lr(eigs, n_data, batch)
    grid = np.linspace(best * 0.9, best * 1.1, 201)
    cvals = (n_data - batch) / (n_data * batch) * eigs
    kl = [bayes_kl(SGD(x), eigs, cvals, n_data) for x in grid]
    assert abs(grid[int(np.argmin(kl))] - best) <= grid[1] - grid[0]
    cont = optimal_bayes_lr_continuous(eigs, n_data, batch)
    # brentq's guarantee (xtol=1e-15, rtol=1e-13 in _solve_lr), plus the rounding of the
    # closed form (4 operations)
    closed = 2 * batch * 3 / ((n_data - batch) * eigs.sum())
    assert abs(cont - closed) <= 1e-15 + 1e-13 * closed + 4 * EPS * closed


def test_kramers_rate_limits_and_well_probability():
    S, dl, ka, kb, el = sympy.symbols("S dL k_a k_b l", positive=True)
    disc = kramers_rate(lr, ka, -kb, dl, S, l=el)
    cont = kramers_rate_continuous(lr, ka, -kb, dl, S, l=el)
    # as lr -> 0 the ratio tends to exp(S l dL), not 1: the raised temperature
    # T_a = lr k_a / (2 S (1 - lr k_a / 2)) shifts the Arrhenius exponent by S l dL
    ratio = sympy.simplify(disc / cont)
    small = ratio.subs({S: 2, dl: 1, ka: 1, kb: 1, el: sympy.Rational(1, 2)})
    # here ratio = e sqrt(1 - lr / 2) / erf(sqrt(2 / lr - 1)): ratio / e - 1 = -lr / 4 -
    # lr^2 / 32 + ... (the erf is 1 to far below eps), plus a few roundings
    x = 1e-6
    deviation = float(small.subs(lr, sympy.Rational(1, 10 ** 6))) / np.exp(1.0) - 1
    assert abs(deviation + x / 4) <= x ** 2 / 16 + 4 * EPS
    # the erf factor is the exact well probability of the discrete stationary Gaussian
    w = sympy.Symbol("w", real=True)
    var = stationary_covariance(SGD(lr), ka, ka / S)
    half = sympy.sqrt(dl / ka)
    mass = sympy.integrate(sympy.exp(-w ** 2 / (2 * var)), (w, -half, half)) / sympy.sqrt(
        2 * sympy.pi * var)
    z = sympy.sqrt(S * (2 - lr * ka) * dl / (2 * lr * ka))
    vals = {lr: sympy.Rational(1, 2), ka: 1, dl: sympy.Rational(3, 10), S: 4}
    # two exact numbers, each rounded once to float by evalf: at most 2 eps apart (relative)
    assert abs(float(mass.subs(vals)) - float(sympy.erf(z).subs(vals))) <= \
        2 * EPS * float(sympy.erf(z).subs(vals))


# ----------------------------------------------------------------------------
# zero eigenvalues, torch, errors


def test_zero_eigenvalues():
    # diagonal K: eigh is exact, so dense and per-eigenvalue kernels agree to the kernel's bound
    K = np.diag([0.0, 1.0, 2.0])
    opt = HeavyBall(0.5, 0.5)
    got = stationary_covariance(opt, K, 0.3 * K)
    expected = np.diag([0.0] + [float(stationary_covariance(opt, x, 0.3 * x)) for x in (1.0, 2.0)])
    assert np.all(np.abs(got - expected) <= 2 * _kernel_rounding_bound(opt, 2.0) * expected.max())
    # rotated: X = f(K) with f(k) = 0.3 lr / (2 - lr k) (= 0.15 / (1 - k / 4)); eigh is exact
    # for K + dK, ||dK|| <= n eps ||K||, and a zero eigenvalue moves by less than the snapping
    # threshold ZERO_EIGENVALUE_RTOL n ||K||: |dX| <= that times max |f'| = 0.15 / 4 / (1/2)^2
    rot = np.linalg.qr(np.random.default_rng(9).normal(size=(3, 3)))[0]
    got = stationary_covariance(SGD(0.5), rot @ K @ rot.T, 0.3 * rot @ K @ rot.T)
    slope = 0.15 / 4 / 0.5 ** 2
    assert np.abs(got - rot @ np.diag([0.0, 0.1, 0.15]) @ rot.T).max() <= \
        (ZERO_EIGENVALUE_RTOL + EPS) * 3 * np.linalg.norm(K, 2) * slope + 3 * EPS * 0.15
    assert stationary_covariance(SGD(0.5), np.array([0.0, 1.0]), np.array([0.0, 1.0]))[0] == 0
    with pytest.raises(StabilityError, match="zero eigenvalue"):
        stationary_covariance(SGD(0.5), K, np.eye(3))


def test_torch_matches_numpy_on_cpu():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    K, C, L = _random_spd(rng, 5), _random_spd(rng, 5), _random_spd(rng, 5)
    for opt in (SGD(0.5), HeavyBall(0.4, 0.8), QHM(0.5, 0.9, 0.7),
                Preconditioned(L / np.linalg.eigvals(L @ K).real.max(), momentum=0.5)):
        ref = stationary_covariance(opt, K, C, full_state=True)
        got = stationary_covariance(opt, torch.tensor(K), torch.tensor(C), full_state=True,
                                    backend="torch", device="cpu")
        assert got.dtype == torch.float64
        # two backward-stable solves (torch's and numpy's LAPACK): within their agreement bound
        a, b = opt.state_space(K)
        assert residual(a, got.numpy(), b @ C @ b.T) <= residual_bound(a, opt)
        assert rel(got.numpy(), ref) <= agreement_bound(a, b @ C @ b.T, inv_sep(a),
                                                          got.numpy(), ref, opt=opt)
    eig = np.linalg.eigvalsh(K)
    opt = Nesterov(0.3, 0.5)
    got = stationary_covariance(opt, torch.tensor(eig), 0.5, backend="torch")
    ref = stationary_covariance(opt, eig, 0.5)
    assert np.all(np.abs(got.numpy() - ref) <= 2 * _kernel_rounding_bound(opt, eig) * ref)


def test_bad_inputs():
    K = np.diag([1.0, 2.0])
    with pytest.raises(StabilityError) as info:
        stationary_covariance(HeavyBall(1.2, 0.0), K, np.eye(2))
    assert str(info.value) == ("unstable: lr * k_max = 2.4 is not below the stability bound "
                               "2 (1 + momentum) = 2 (HeavyBall needs lr < 2 / k_max = 1)")
    with pytest.raises(StabilityError) as info:
        stationary_covariance(SGD(1.0), np.array([2.0]), 1.0)
    assert str(info.value) == ("unstable: lr * k_max = 2 is not below the stability bound 2 "
                               "(SGD needs lr < 2 / k_max = 1)")
    with pytest.raises(StabilityError) as info:
        stationary_covariance(SGD(1.0, weight_decay=0.5), np.array([1.5]), 1.0)
    assert str(info.value) == ("unstable: lr * k_max = 2 is not below the stability bound 2 "
                               "(SGD needs lr < 2 / k_max = 1) (k_max includes weight_decay)")
    with pytest.raises(BackendError, match=r"unknown backend 'jax'; available: \['numpy'"):
        stationary_covariance(SGD(0.1), K, 1.0, backend="jax")
    with pytest.raises(BackendError, match="CPU only"):
        stationary_covariance(SGD(0.1), K, 1.0, device="cuda")
    with pytest.raises(MatrixError, match="symmetric"):
        stationary_covariance(SGD(0.1), K, np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(MatrixError, match="positive semi-definite"):
        stationary_covariance(SGD(0.1), K, np.diag([1.0, -1.0]))
    with pytest.raises(MatrixError, match=">= 0"):
        stationary_covariance(SGD(0.1), K, -1.0)
    with pytest.raises(ShapeError):
        stationary_covariance(SGD(0.1), K, np.eye(3))
    with pytest.raises(ShapeError):
        stationary_covariance(SGD(0.1), np.ones((2, 3)), 1.0)
    with pytest.raises(NonFiniteError):
        stationary_covariance(SGD(0.1), K, np.array([[np.nan, 0], [0, 1.0]]))
    with pytest.raises(StabilityError, match="negative eigenvalue"):
        stationary_covariance(SGD(0.1), np.diag([-1.0, 1.0]), 1.0)
    with pytest.raises(StabilityError, match="negative eigenvalue"):
        continuous_covariance(SGD(0.1), np.diag([-1.0, 1.0]), 1.0)
    with pytest.raises(StabilityError, match="spectral radius"):
        discrete_lyapunov(np.array([[1.0]]), np.array([[1.0]]))
    for steps in (-1, 2.5, float("nan")):
        with pytest.raises(RangeError):
            covariance_at(SGD(0.1), K, 1.0, steps)
    for err in (StabilityError, ShapeError, NonFiniteError, MatrixError, RangeError):
        assert issubclass(err, ValueError)


BAD_NUMERIC = [
    (SGD(0.1), np.eye(2), np.array([[1.0, 0.5], [0.0, 1.0]]), MatrixError),
    (SGD(0.1), np.eye(2), np.diag([1.0, -1.0]), MatrixError),
    (SGD(0.1), np.array([[1.0, 0.5], [0.0, 1.0]]), 1.0, MatrixError),
    (SGD(0.1), np.eye(2), np.eye(3), ShapeError),
    (SGD(0.1), np.eye(2), np.array([[np.inf, 0.0], [0.0, 1.0]]), NonFiniteError),
    (SGD(1.5), 2 * np.eye(2), 1.0, StabilityError),
    (HeavyBall(1.0, 0.5), np.diag([3.5, 1.0]), np.eye(2), StabilityError),
    (SGD(0.1), np.diag([0.0, 1.0]), np.eye(2), StabilityError),
    (SGD(0.1), np.array([1.0, 2.0]), np.array([1.0, -1.0]), MatrixError),
    (SGD(0.1), np.array([1.0, np.nan]), 1.0, NonFiniteError),
    (Preconditioned(np.eye(2)), np.array([1.0, 2.0]), 1.0, ShapeError),
    (Preconditioned(np.eye(3)), np.eye(2), 1.0, ShapeError),
    (Preconditioned(np.diag([1.0, 2.0]), momentum=0.5), np.diag([1.0, 2.0]), 1.0, StabilityError),
]


@pytest.mark.parametrize("opt,hessian,noise,error", BAD_NUMERIC)
def test_torch_validates_like_numpy(opt, hessian, noise, error):
    torch = pytest.importorskip("torch")
    with pytest.raises(error) as from_numpy:
        stationary_covariance(opt, hessian, noise)
    with pytest.raises(error) as from_torch:
        stationary_covariance(opt, torch.tensor(hessian),
                              torch.tensor(noise) if np.ndim(noise) else noise, backend="torch")
    assert str(from_torch.value) == str(from_numpy.value)


def test_numeric_sympy_inputs_are_checked_exactly():
    one, half = sympy.Integer(1), sympy.Rational(1, 2)
    with pytest.raises(StabilityError, match=r"lr \* k_max = 3 is not below the stability bound 2 "):
        stationary_covariance(SGD(sympy.Integer(3)), one, 1)
    with pytest.raises(StabilityError, match=r"lr \* k_max = 3 is not below the stability bound 2"):
        stationary_covariance(SGD(sympy.Integer(3)), 1, 1)
    with pytest.raises(StabilityError, match=r"2 \(1 \+ momentum\)"):
        stationary_covariance(HeavyBall(3 * half, half), sympy.Matrix([[2, 1], [1, 2]]), 1)
    # exactly on the edge (lr k_max = 3 = 2 (1 + 1/2)) and just inside it
    with pytest.raises(StabilityError):
        stationary_covariance(HeavyBall(one, half), sympy.diag(3, 1), 1)
    inside = stationary_covariance(HeavyBall(one - sympy.Rational(1, 10 ** 30), half),
                                   sympy.diag(3, 1), 1)
    assert all(inside[i, i] > 0 for i in range(2))
    with pytest.raises(StabilityError, match="negative eigenvalue"):
        stationary_covariance(SGD(half), sympy.Matrix([[1, 2], [2, 1]]), 1)
    with pytest.raises(StabilityError, match="Lambda K"):
        stationary_covariance(Preconditioned(sympy.diag(1, 2), momentum=half),
                              sympy.diag(1, 2), 1)
    with pytest.raises(MatrixError, match="positive semi-definite"):
        stationary_covariance(SGD(sympy.Rational(1, 3)), sympy.diag(1, 2), sympy.diag(1, -1))
    with pytest.raises(MatrixError, match="positive semi-definite"):
        stationary_covariance(SGD(lr), sympy.diag(k, k), sympy.Matrix([[c, 0], [0, -c]]))
    with pytest.raises(MatrixError, match=">= 0"):
        stationary_covariance(SGD(lr), k, -c)
    with pytest.raises(MatrixError, match="symmetric"):
        stationary_covariance(SGD(lr), sympy.Matrix([[1, 1], [0, 1]]), 1)
    with pytest.raises(MatrixError, match="symmetric"):
        stationary_covariance(SGD(lr), sympy.eye(2), sympy.Matrix([[1, 1], [0, 1]]))
    # with free symbols nothing can be decided: the closed form comes back
    assert _zero(stationary_covariance(SGD(lr), k, c) - lr * c / (k * (2 - lr * k)))


def test_symbolic_and_numeric_arrays_do_not_mix():
    for call in (lambda: stationary_covariance(SGD(lr), np.eye(2), np.eye(2)),
                 lambda: stationary_covariance(SGD(0.1), sympy.eye(2), np.eye(2)),
                 lambda: covariance_at(SGD(lr), np.eye(2), 1, 3),
                 lambda: continuous_covariance(HeavyBall(lr, mu), np.eye(2), 1),
                 lambda: escape_efficiency_continuous(SGD(lr), np.eye(2), 1, 2),
                 lambda: stationary_covariance(SGD(lr), "k", 1),
                 lambda: stationary_covariance(SGD(lr), np.eye(2), 1.0, backend="torch"),
                 lambda: stationary_covariance(SGD(lr), k, c, backend="torch"),
                 lambda: self_consistent_covariance(lambda s: (SGD(lr), c), sympy.diag(k, k))):
        with pytest.raises(TypeError):
            call()


def test_empty_eigenvalue_arrays():
    empty = np.array([])
    assert covariance_at(SGD(0.1), empty, empty, 3).shape == (0,)
    assert covariance_at(HeavyBall(0.1, 0.9), empty, 1.0, 3, full_state=True).shape == (0, 2, 2)
    assert stationary_covariance(HeavyBall(0.1, 0.9), empty, empty, full_state=True).shape == (0, 2, 2)
    assert stationary_covariance(SGD(0.1), np.zeros((0, 0)), np.zeros((0, 0))).shape == (0, 0)
    assert covariance_at(SGD(0.1), np.zeros((0, 0)), 1.0, 2).shape == (0, 0)
    with pytest.raises(ShapeError):
        covariance_at(SGD(0.1), empty, np.ones(2), 3)


def test_escape_efficiency_continuous_with_sympy_matrices():
    # non-commuting exact K, C: the symbolic result at t = 3 against quadrature of
    # Sigma(t) = int_0^t exp(-M s) L C L exp(-M^T s) ds, M = L K (independent of both routes)
    t = sympy.Symbol("t", positive=True)
    K = sympy.Matrix([[2, 1], [1, 2]]) / 3
    C = sympy.Matrix([[1, sympy.Rational(1, 4)], [sympy.Rational(1, 4), 2]])
    Kf, Cf = np.array(K, dtype=float), np.array(C, dtype=float)
    for opt, lam in ((HeavyBall(sympy.Rational(1, 5), sympy.Rational(1, 2)), 0.4 * np.eye(2)),
                     (Preconditioned(sympy.diag(sympy.Rational(1, 5), sympy.Rational(1, 10))),
                      np.diag([0.2, 0.1]))):
        sym = escape_efficiency_continuous(opt, K, C, t)
        m = lam @ Kf
        sigma, quad_error = scipy.integrate.quad_vec(
            lambda s, m=m, lam=lam: scipy.linalg.expm(-m * s) @ lam @ Cf @ lam
            @ scipy.linalg.expm(-m.T * s),
            0, 3, epsabs=1e-14, epsrel=1e-13)
        expected = np.trace(Kf @ sigma) / 2
        # quad_vec's error estimate (2-norm over the entries), traced against K / 2; expm
        # is accurate to a few eps (its condition is ||M s|| <= 2 here): 10 n eps relative
        tolerance = quad_error * np.linalg.norm(Kf) / 2 + 10 * 2 * EPS * expected
        assert abs(float(sym.subs(t, 3)) - expected) <= tolerance
        numeric_opt = HeavyBall(0.2, 0.5) if isinstance(opt, HeavyBall) else \
            Preconditioned(np.diag([0.2, 0.1]))
        numeric = escape_efficiency_continuous(numeric_opt, Kf, Cf, 3.0)
        assert abs(numeric - expected) <= tolerance


def test_kramers_rate_checks_its_arguments():
    with pytest.raises(StabilityError, match=r"lr \* k_a = 2.5 must be < 2"):
        kramers_rate(2.5, 1.0, -1.0, 0.5, 1)
    with pytest.raises(StabilityError, match=r"lr \* k_a = 2 must be < 2"):
        kramers_rate(sympy.Integer(2), 1, -1, 1, 1)
    assert kramers_rate_continuous(2.5, 1.0, -1.0, 0.5, 1) > 0
    bad = [{"lr": 0.0}, {"k_a": -1.0}, {"k_b": 1.0}, {"delta_loss": 0.0}, {"batch": 0},
           {"l": 1.5}, {"lr": float("nan")}]
    for change in bad:
        args = {"lr": 0.5, "k_a": 1.0, "k_b": -1.0, "delta_loss": 0.5, "batch": 1, "l": 0.5} | change
        for rate in (kramers_rate, kramers_rate_continuous):
            with pytest.raises(ValueError) as info:
                rate(**args)
            assert isinstance(info.value, (RangeError, NonFiniteError))


@pytest.mark.parametrize("cls", [SGD, HeavyBall, Nesterov, QHM], ids=lambda c: c.__name__)
def test_stable_kernel_form_is_the_same_rational_function(cls):
    # the compiled form (kbar, h, 1 - momentum, ...) equals the solved kernel exactly
    from symsgd.lyapunov._kernel import _derive_kernel
    kern = _derive_kernel(cls)
    k1, k2 = sympy.symbols("k1 k2", real=True)
    rng = np.random.default_rng(14)
    for _ in range(3):
        point = {k1: sympy.Rational(int(rng.integers(1, 99)), 97),
                 k2: sympy.Rational(int(rng.integers(1, 99)), 89)}
        values = {x: sympy.Rational(int(rng.integers(1, 50)), 53) for x in kern.syms}
        args = [(point[k1] + point[k2]) / 2, (point[k1] - point[k2]) / 2] + [
            1 - values[x] if str(a).startswith("one_minus_") else values[x]
            for x, a in zip(kern.syms, kern.args[2:])]
        for entry, form in zip(kern.entries, kern.stable):
            assert entry.subs({**point, **values}) == form.subs(dict(zip(kern.args, args)))


def test_kernel_is_derived_from_state_space():
    y = kernel(HeavyBall(lr, mu))
    a1, b1 = HeavyBall(lr, mu).state_space(sympy.Symbol("k1", real=True))
    a2, b2 = HeavyBall(lr, mu).state_space(sympy.Symbol("k2", real=True))
    assert sympy.simplify(y - a1 * y * a2.T - b1 * b2.T) == sympy.zeros(2, 2)
