"""Tests of symsgd.optim: state-space forms against the update rules, validation, stability bounds."""

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from symsgd.errors import MatrixError, NonFiniteError, RangeError, ShapeError, StabilityError
from symsgd.optim import (QHM, SGD, HeavyBall, Nesterov, Preconditioned, adam_preconditioned,
                          damped_newton, natural_gradient)


def _step(opt, w, m, xi, K):
    """The textbook update, written independently of ``_blocks``."""
    g = K @ w + float(opt.weight_decay) * w + xi
    if isinstance(opt, SGD):
        return w - opt.lr * g, m
    if isinstance(opt, HeavyBall):
        m = opt.momentum * m + g
        return w - opt.lr * m, m
    if isinstance(opt, Nesterov):
        m = opt.momentum * m + g
        return w - opt.lr * (g + opt.momentum * m), m
    if isinstance(opt, QHM):
        m = opt.momentum * m + (1 - opt.momentum) * g
        return w - opt.lr * ((1 - opt.nu) * g + opt.nu * m), m
    lam = opt.lr_matrix * np.eye(len(w)) if opt.is_scalar else opt.lr_matrix
    if opt.momentum == 0:
        return w - lam @ g, m
    m = opt.momentum * m + g
    return w - lam @ m, m


ALL = [SGD(0.3, weight_decay=0.1), HeavyBall(0.2, 0.9, weight_decay=0.05), Nesterov(0.1, 0.8),
       Nesterov(0.1, 0.8, weight_decay=0.3), QHM(0.4, 0.7, 0.3, weight_decay=0.2),
       Preconditioned(np.array([[0.5, 0.1], [0.1, 0.3]]), momentum=0.6, weight_decay=0.1),
       Preconditioned(0.2)]


@pytest.mark.parametrize("opt", ALL, ids=lambda o: type(o).__name__)
def test_state_space_reproduces_update(opt):
    rng = np.random.default_rng(0)
    K = np.array([[1.0, 0.4], [0.4, 2.0]])
    a, b = opt.state_space(K)
    w, m, xi = rng.normal(size=2), rng.normal(size=2), rng.normal(size=2)
    z = np.concatenate([w, m])[: a.shape[0]]
    w2, m2 = _step(opt, w, m, xi, K)
    # both sides are sums of at most 2 d products of the same numbers: each within
    # 2 d eps (|A| |z| + |B| |xi|) of the exact value (Higham, section 3.5)
    d = a.shape[0]
    scale = np.abs(a) @ np.abs(z) + np.abs(b) @ np.abs(xi)
    assert np.all(np.abs(a @ z + b @ xi - np.concatenate([w2, m2])[:d]) <=
                  2 * 2 * d * np.finfo(float).eps * scale)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["sgd", "heavy", "nesterov", "qhm"]), mom=st.floats(0, 0.99),
       nu=st.floats(0, 1), frac=st.floats(0.01, 1.5))
def test_lr_bound_is_where_spectral_radius_reaches_one(kind, mom, nu, frac):
    make = {"sgd": lambda x: SGD(x), "heavy": lambda x: HeavyBall(x, mom),
            "nesterov": lambda x: Nesterov(x, mom), "qhm": lambda x: QHM(x, mom, nu)}[kind]
    bound = make(1.0).lr_bound()
    a, _ = make(frac * bound).state_space(1.0)
    radius = np.abs(np.linalg.eigvals(a)).max()
    if frac < 0.999:
        assert radius < 1
    elif frac > 1.001:
        assert radius > 1


def test_effective_lr_and_symbolic_blocks():
    lr, mu, nu = sympy.symbols("lr mu nu", positive=True)
    assert sympy.simplify(HeavyBall(lr, mu).effective_lr() - lr / (1 - mu)) == 0
    assert sympy.simplify(Nesterov(lr, mu).effective_lr() - lr / (1 - mu)) == 0
    assert sympy.simplify(QHM(lr, mu, nu).effective_lr() - lr) == 0
    k = sympy.Symbol("k")
    a, b = Nesterov(lr, mu).state_space(sympy.Matrix([[k]]))
    assert a.shape == (2, 2) and b.shape == (2, 1)


def test_named_preconditioners():
    # inverses through eigh (backward stable): relative error n eps cond(K) per inverse
    # (Higham, section 14.1), one more n eps per matrix product, a factor 2 for the root
    K = np.array([[2.0, 0.5], [0.5, 1.0]])
    n, eps = 2, np.finfo(float).eps
    tol = 4 * n * eps * np.linalg.cond(K)
    assert np.abs(damped_newton(0.5, K).lr_matrix @ K - 0.5 * np.eye(2)).max() <= 0.5 * tol
    inverse = np.linalg.inv(K)
    assert np.abs(natural_gradient(1.0, K).lr_matrix - inverse).max() <= \
        tol * np.abs(inverse).max()
    root = adam_preconditioned(0.1, K).lr_matrix / 0.1
    assert np.abs(root @ root @ K - np.eye(2)).max() <= 2 * tol
    assert adam_preconditioned(sympy.Symbol("l"), sympy.Integer(4)).lr_matrix == sympy.Symbol("l") / 2
    Ks = sympy.Matrix([[2, 1], [1, 2]])
    assert damped_newton(sympy.Rational(1, 2), Ks).lr_matrix * Ks == sympy.eye(2) / 2
    for make in (damped_newton, natural_gradient, adam_preconditioned):
        with pytest.raises(MatrixError, match="positive definite"):
            make(0.1, np.diag([1.0, 0.0]))
        with pytest.raises(MatrixError, match="symmetric"):
            make(0.1, np.array([[1.0, 0.5], [0.0, 1.0]]))
        with pytest.raises(RangeError):
            make(0.1, -1.0)
    assert damped_newton(0.5, K).has_matrix_lr and not damped_newton(0.5, 2.0).has_matrix_lr
    assert not any(opt.has_matrix_lr for opt in ALL[:5])


def test_validation_errors():
    with pytest.raises(RangeError, match="lr must be > 0"):
        SGD(0.0)
    with pytest.raises(RangeError, match="momentum must be < 1"):
        HeavyBall(0.1, 1.0)
    with pytest.raises(RangeError, match="momentum must be < 1"):
        HeavyBall(0.1, sympy.Integer(1))
    with pytest.raises(RangeError, match="momentum must be >= 0"):
        Nesterov(0.1, -0.1)
    with pytest.raises(RangeError, match="momentum"):
        QHM(0.1, 1.0, 0.5)
    with pytest.raises(RangeError, match="nu must be <= 1"):
        QHM(0.1, 0.5, 1.5)
    with pytest.raises(RangeError, match="nu must be >= 0"):
        QHM(0.1, 0.5, sympy.Rational(-1, 2))
    with pytest.raises(RangeError, match="weight_decay"):
        SGD(0.1, weight_decay=-1)
    with pytest.raises(RangeError, match="momentum"):
        Preconditioned(0.1, momentum=1.5)
    with pytest.raises(NonFiniteError):
        SGD(float("nan"))
    with pytest.raises(NonFiniteError):
        SGD(sympy.oo)
    with pytest.raises(TypeError):
        SGD("0.1")
    with pytest.raises(TypeError):
        SGD(sympy.eye(2))
    with pytest.raises(MatrixError, match="positive definite"):
        Preconditioned(np.diag([1.0, -1.0]))
    with pytest.raises(MatrixError, match="positive definite"):
        Preconditioned(sympy.diag(1, -1))
    with pytest.raises(MatrixError, match="symmetric"):
        Preconditioned(np.array([[1.0, 0.2], [0.0, 1.0]]))
    with pytest.raises(ShapeError):
        Preconditioned(np.eye(2)).state_space(np.eye(3))
    with pytest.raises(MatrixError, match="the Hessian must be symmetric"):
        SGD(0.1).state_space(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(MatrixError, match="the Hessian must be symmetric"):
        SGD(0.1).state_space(sympy.Matrix([[1, 2], [0, 1]]))
    for err in (RangeError, MatrixError):
        assert issubclass(err, ValueError)
    with pytest.raises(StabilityError) as info:
        HeavyBall(1.0, 0.0).check_stable([2.3])
    assert str(info.value) == ("unstable: lr * k_max = 2.3 is not below the stability bound "
                               "2 (1 + momentum) = 2 (HeavyBall needs lr < 2 / k_max = 0.869565)")
    with pytest.raises(StabilityError) as info:
        Nesterov(1.0, 0.5).check_stable([1.0, 2.0])
    assert str(info.value) == (
        "unstable: lr * k_max = 2 is not below the stability bound "
        "2 (1 + momentum) / (1 + 2 momentum) = 1.5 (Nesterov needs lr < 1.5 / k_max = 0.75)")
    with pytest.raises(StabilityError, match="weight_decay"):
        SGD(1.0, weight_decay=1.5).check_stable([1.0])


def test_frozen_and_hashable():
    opt = HeavyBall(0.1, 0.5)
    with pytest.raises(AttributeError):
        opt.lr = 0.2
    assert hash(opt) == hash(HeavyBall(0.1, 0.5)) and opt == HeavyBall(0.1, 0.5)
    p = Preconditioned(np.eye(2))
    assert p == Preconditioned(np.eye(2)) and hash(p) == hash(Preconditioned(np.eye(2)))
