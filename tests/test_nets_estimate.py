"""Matrix-free estimates of contraction atoms against independent oracles (issue 10).

* A tanh MLP small enough (P = 33, a population of 12) that every per-sample
  derivative tensor up to order 4 is formed densely by ``torch.func.jacfwd`` /
  ``hessian``; the dense joint cumulants are built here by Moebius inversion
  over explicit outer products and fed to the existing dense evaluation
  (:meth:`Contraction.evaluate`).  The exact mode must equal it to 1e-10
  (relative to the atom's scale), for every atom of the order-4 series of the
  test loss, the training loss and the weights, with and without an inverse
  metric.
* Zoo landscapes (GAUSS, HELIX, MEAN ESTIMATION, linear regression) on a finite
  population: the symbolic :class:`~symsgd.Landscape` with the
  :class:`~symsgd.Dataset` law gives exact rational statistics.
* The sampled mode: within a stated number of standard errors, and the 95%
  intervals' coverage over many seeds.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sympy

torch = pytest.importorskip("torch")

import symsgd  # noqa: E402
from symsgd.errors import (InputTypeError, NonFiniteError, RangeError,  # noqa: E402
                           ShapeError)
from symsgd.nets import NetLandscape, estimate  # noqa: E402
from symsgd.tensors import Contraction  # noqa: E402

from torch.func import grad, hessian, jacfwd, vmap  # noqa: E402

N, B = sympy.symbols("N B", integer=True, positive=True)
DT = torch.float64


# ----------------------------------------------------------------- the MLP oracle
def mlp_net(n=12, seed=0, *, small=False):
    """A tanh MLP: P = 33 (3-4-3-1), or P = 13 (2-3-1) where rank-6 cumulants are formed."""
    g = torch.Generator().manual_seed(seed)
    sizes = (2, 3, 1) if small else (3, 4, 3, 1)
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.Tanh()]
    model = torch.nn.Sequential(*layers[:-1]).to(DT)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=DT))
    x = torch.randn(n, sizes[0], generator=g, dtype=DT)
    y = torch.randn(n, 1, generator=g, dtype=DT)
    return NetLandscape(model, lambda out, t: ((out - t) ** 2).sum(-1) / 2, x, y)


def dense_derivatives(net, kmax):
    """Per-sample derivative tensors ``T[k]`` of shape ``(n,) + (P,) * k``, formed densely."""
    def f(theta, x, y):
        return net.sample_loss(theta, x, y)

    fns = [f, grad(f), hessian(f)]
    while len(fns) <= kmax:
        fns.append(jacfwd(fns[-1]))
    x, y = net.inputs, net.targets
    return [vmap(fns[k], in_dims=(None, 0, 0))(net.params, x, y) for k in range(kmax + 1)]


def dense_cumulant(T, key):
    """The joint cumulant of ``grad^{k_1} l_x, ..., grad^{k_m} l_x`` by explicit Moebius sums."""
    m = len(key)
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    slots = [[next(letters) for _ in range(k)] for k in key]
    out = "".join(s for sl in slots for s in sl)
    total = 0
    for parts in _set_partitions(list(range(m))):
        q = len(parts)
        factors, subs = [], []
        for part in parts:
            spec = ",".join("z" + "".join(slots[j]) for j in part)
            moment = torch.einsum(spec + "->" + "".join(s for j in part for s in slots[j]),
                                  *[T[key[j]] for j in part]) / T[0].shape[0]
            factors.append(moment)
            subs.append("".join(s for j in part for s in slots[j]))
        value = torch.einsum(",".join(subs) + "->" + out, *factors)
        total = total + (-1) ** (q - 1) * math.factorial(q - 1) * value
    return total


def _set_partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for p in _set_partitions(rest):
        for i in range(len(p)):
            yield p[:i] + [[first] + p[i]] + p[i + 1:]
        yield [[first]] + p


def dense_value(atom, T, metric=None):
    stats = {key: dense_cumulant(T, key).numpy() for key in set(atom.statistics())}
    m = None if metric is None else metric.numpy()
    return np.asarray(atom.evaluate(stats, metric=m), dtype=float)


def einsum_value(atom, T):
    """The atom as a sum of Moebius terms, each one einsum over per-sample dense tensors.

    No cumulant tensor is formed (order-4 training-loss atoms need rank-8 ones): each
    term sums over one sample index per part, and opt_einsum picks a cheap path.
    """
    import opt_einsum

    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    slots = [[] for _ in atom.degrees]
    for a, b in atom.edges:
        x = next(letters)
        slots[a].append(x)
        slots[b].append(x)
    out = ""
    for f in atom.free:
        x = next(letters)
        slots[f].append(x)
        out += x
    choices = []
    for block, moment in zip(atom.blocks, atom.kinds):
        parts_list = [[list(block)]] if moment else list(_set_partitions(list(block)))
        choices.append([(1 if moment else (-1) ** (len(p) - 1) * math.factorial(len(p) - 1), p)
                        for p in parts_list])
    n = T[0].shape[0]
    spare = "".join(letters)
    total = 0
    for combo in itertools.product(*choices):
        coefficient = math.prod(c for c, _ in combo)
        parts = [part for _, p in combo for part in p]
        specs, operands = [], []
        for s, part in zip(spare, parts):
            for v in part:
                specs.append(s + "".join(slots[v]))
                operands.append(T[atom.degrees[v]].numpy())
        value = opt_einsum.contract(",".join(specs) + "->" + out, *operands, optimize="greedy")
        total = total + coefficient * value / n ** len(parts)
    return np.asarray(total, dtype=float)


@pytest.fixture(scope="module")
def mlp():
    net = mlp_net()
    return net, dense_derivatives(net, 4)


@pytest.fixture(scope="module")
def small_mlp():
    net = mlp_net(small=True)
    return net, dense_derivatives(net, 4)


def _atoms(measure, order=4):
    if measure == "weights":
        return symsgd.expected_displacement(symsgd.sgd(N, batch=B), order - 1,
                                            method="direct").contractions()
    return symsgd.expected_loss(symsgd.sgd(N, batch=B), order, method="direct",
                                measure=measure).contractions()


def test_the_oracle_itself():
    """The dense path is right where it is obvious: C is the covariance of gradients."""
    net = mlp_net(n=5)
    T = dense_derivatives(net, 2)
    C = dense_cumulant(T, (1, 1))
    assert torch.allclose(C, torch.cov(T[1].T, correction=0), atol=1e-12)
    J = jacfwd(hessian(lambda th: net.loss(theta=th)))(net.params)
    assert torch.allclose(dense_cumulant(dense_derivatives(net, 3), (3,)), J, atol=1e-12)


@pytest.mark.parametrize("measure, order, net, oracle", [
    ("test", 4, "mlp", dense_value), ("weights", 4, "mlp", dense_value),
    ("train", 3, "small_mlp", dense_value), ("train", 4, "small_mlp", einsum_value),
    ("test", 4, "mlp", einsum_value)])
def test_exact_mode_equals_dense_tensors(measure, order, net, oracle, request):
    """Dense cumulants through the existing dense evaluation, or per-sample einsums where the
    cumulants would be too large (order-4 training-loss atoms need rank-8 ones)."""
    net, T = request.getfixturevalue(net)
    atoms = _atoms(measure, order)
    est = estimate(atoms, net, exact=True)
    assert est.exact and np.all(est.covariance == 0)
    for a in atoms:
        want = oracle(a, T)
        got = est.value(a)
        scale = max(1.0, float(np.max(np.abs(want))))
        assert np.max(np.abs(got - want)) <= 1e-10 * scale, (str(a), got, want)


@pytest.mark.parametrize("form", ["dense", "diagonal", "callable"])
def test_exact_mode_with_an_inverse_metric(mlp, form):
    net, T = mlp
    g = torch.Generator().manual_seed(3)
    A = torch.randn(net.dim, net.dim, generator=g, dtype=DT)
    M = A @ A.T / net.dim + torch.eye(net.dim, dtype=DT)
    if form == "diagonal":
        M = torch.diag(torch.rand(net.dim, generator=g, dtype=DT) + 0.5)
    metric = {"dense": M, "diagonal": torch.diagonal(M), "callable": lambda v: v @ M}[form]
    atoms = _atoms("test", 3) + _atoms("weights", 3)
    for group in (atoms[:-len(_atoms("weights", 3))], _atoms("weights", 3)):
        est = estimate(group, net, exact=True, metric=metric)
        for a in group:
            want = dense_value(a, T, M)
            scale = max(1.0, float(np.max(np.abs(want))))
            assert np.max(np.abs(est.value(a) - want)) <= 1e-10 * scale, str(a)


def test_traces_are_cut_into_probes(mlp):
    """A loop (tr H) and a cycle (H:H) are estimated through probe pairs, exactly in exact mode."""
    net, T = mlp
    trH = Contraction.from_graph([2], [[0]], [(0, 0)])
    HH = Contraction.from_graph([2, 2], [[0], [1]], [(0, 1), (0, 1)])
    trC = Contraction.from_graph([1, 1], [[0, 1]], [(0, 1)])
    JJ = Contraction.from_graph([3, 3], [[0], [1]], [(0, 1), (0, 1), (0, 1)])
    atoms = [trH, HH, trC, JJ]
    est = estimate(atoms, net, exact=True)
    for a in atoms:
        assert est.value(a) == pytest.approx(float(dense_value(a, T)), rel=1e-10, abs=1e-10)
    sampled = estimate([trH, HH], net, budget=4000, seed=0)
    for a in (trH, HH):
        assert abs(sampled.value(a) - float(dense_value(a, T))) < 4 * sampled.standard_error(a)


@pytest.mark.parametrize("means", ["sampled", "exact"])
def test_sampled_mode_within_standard_errors(mlp, means):
    """Both treatments of population means along drawn directions are unbiased."""
    net, T = mlp
    atoms = _atoms("test", 3)
    est = estimate(atoms, net, budget=3000, seed=5, means=means)
    for a in atoms:
        want, se = float(dense_value(a, T)), est.standard_error(a)
        # exactly computable atoms (no shared points) come out exact: zero error
        assert abs(est.value(a) - want) <= 4 * se + 1e-10 * max(1.0, abs(want)), str(a)


def test_joint_covariance_is_the_covariance_of_a_linear_combination(mlp):
    """Var(a1 + a2) over repeated seeds matches the propagated covariance (shared draws)."""
    net, _ = mlp
    C = Contraction.from_graph([1, 1], [[0, 1]], [(0, 1)])
    CH = Contraction.from_graph([1, 1, 2], [[0, 1], [2]], [(0, 2), (1, 2)])
    reps = [estimate([C, CH], net, budget=50, seed=s) for s in range(200)]
    sums = np.array([r.value(C) + r.value(CH) for r in reps])
    predicted = np.mean([r.covariance[0].sum() for r in reps])
    # the sample variance of 200 draws has relative standard error sqrt(2/199) ~ 0.10
    assert abs(sums.var(ddof=1) / predicted - 1) < 0.4


# ------------------------------------------------------------------ zoo oracles
def _population(landscape, n, seed):
    rng = np.random.default_rng(seed)
    d = len(landscape.data)
    return [[sympy.Rational(int(v), 4) for v in row]
            for row in rng.integers(-8, 9, size=(n, d))]


ZOO = {
    "gauss": lambda: symsgd.landscapes.gauss(),
    "helix": lambda: symsgd.landscapes.helix(),
    "mean_estimation": lambda: symsgd.landscapes.mean_estimation(init=1),
    "linear_regression": lambda: symsgd.landscapes.linear_regression(dim=2),
}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_statistics_equal_the_symbolic_landscape(name):
    base = ZOO[name]()
    points = _population(base, 6, seed=1)
    exact = NetLandscape.on_population(base, points)
    net = NetLandscape.from_landscape(base, points)
    atoms = _atoms("test", 3) + _atoms("train", 3)
    atoms = tuple(dict.fromkeys(atoms))
    est = estimate(atoms, net, exact=True)
    for a in atoms:
        want = float(a.evaluate(exact.cumulant))
        assert est.value(a) == pytest.approx(want, rel=1e-10, abs=1e-10), str(a)
    sampled = estimate(atoms, net, budget=2000, seed=2)
    for a in atoms:
        want = float(a.evaluate(exact.cumulant))
        assert abs(sampled.value(a) - want) <= 4 * sampled.standard_error(a) + 1e-10 * \
            max(1.0, abs(want)), str(a)


def test_intervals_cover_the_truth():
    """95% intervals over 400 seeds: coverage within 3 binomial standard errors of 0.95."""
    base = symsgd.landscapes.gauss()
    points = _population(base, 8, seed=3)
    exact = NetLandscape.on_population(base, points)
    net = NetLandscape.from_landscape(base, points)
    S = Contraction.from_graph([1, 1, 1, 3], [[0, 1, 2], [3]], [(0, 3), (1, 3), (2, 3)])
    CH = Contraction.from_graph([1, 1, 2], [[0, 1], [2]], [(0, 2), (1, 2)])
    truth = {a: float(a.evaluate(exact.cumulant)) for a in (S, CH)}
    seeds = 400
    hits = {a: 0 for a in truth}
    for s in range(seeds):
        est = estimate([S, CH], net, budget=200, seed=s)
        for a in truth:
            hits[a] += abs(est.value(a) - truth[a]) <= 1.96 * est.standard_error(a)
    tol = 3 * math.sqrt(0.95 * 0.05 / seeds)
    for a, h in hits.items():
        assert abs(h / seeds - 0.95) <= tol, (str(a), h / seeds)


# ------------------------------------------------------------------ bad input
def test_bad_input_is_refused_with_typed_errors(mlp):
    net, _ = mlp
    G2 = Contraction.from_graph([1, 1], [[0], [1]], [(0, 1)])
    with pytest.raises(InputTypeError, match="NetLandscape"):
        estimate(G2, "net")
    with pytest.raises(InputTypeError, match="Series, a Contraction"):
        estimate("G", net)
    with pytest.raises(RangeError, match="budget must be at least 2"):
        estimate(G2, net, budget=1)
    with pytest.raises(InputTypeError, match="budget"):
        estimate(G2, net, budget=10.0)
    from symsgd.errors import MethodError
    with pytest.raises(MethodError, match="means"):
        estimate(G2, net, means="all")
    with pytest.raises(ShapeError, match="metric must have shape"):
        estimate(G2, net, metric=torch.ones(3, dtype=DT))
    from symsgd.errors import MatrixError
    with pytest.raises(MatrixError, match="symmetric"):
        estimate(G2, net, metric=torch.triu(torch.ones(net.dim, net.dim, dtype=DT)))
    with pytest.raises(ShapeError, match="matrix-free"):
        estimate(Contraction.from_graph([2], [[0]], [], free=[0, 0]), net)
    with pytest.raises(ShapeError, match="different ranks"):
        estimate([G2, Contraction.from_graph([1], [[0]], [], free=[0])], net)
    with pytest.raises(RangeError, match="exact mode needs"):
        big = mlp_net(n=4000)
        estimate(Contraction.from_graph([1, 1, 1, 1], [[0, 1], [2, 3]], [(0, 2), (1, 3)]),
                 big, exact=True)


def test_landscape_bad_input():
    model = torch.nn.Linear(2, 1).to(DT)
    x, y = torch.zeros(4, 2, dtype=DT), torch.zeros(4, 1, dtype=DT)
    loss = lambda out, t: ((out - t) ** 2).sum(-1)  # noqa: E731
    with pytest.raises(InputTypeError, match="floating torch dtype"):
        NetLandscape(model, loss, x, y, dtype=torch.int64)
    with pytest.raises(ShapeError, match="different numbers of samples"):
        NetLandscape(model, loss, x, y[:3])
    with pytest.raises(ShapeError, match="empty"):
        NetLandscape(model, loss, x[:0], y[:0])
    with pytest.raises(NonFiniteError, match="inputs"):
        NetLandscape(model, loss, x + float("nan"), y)
    with pytest.raises(ShapeError, match="params has 2 entries"):
        NetLandscape(model, loss, x, y, params=torch.zeros(2, dtype=DT))
    with pytest.raises(InputTypeError, match="torch.Tensor"):
        NetLandscape(model, loss, [[0.0, 0.0]], y)
    with pytest.raises(InputTypeError, match="params"):
        NetLandscape(lambda th, x: x @ th, loss, x, y)
    from symsgd.errors import LandscapeError
    with pytest.raises(LandscapeError, match="one value per sample"):
        NetLandscape(model, lambda out, t: ((out - t) ** 2).sum(), x, y)
    with pytest.raises(NonFiniteError, match="not finite"):
        NetLandscape(model, lambda out, t: torch.log(out - out).sum(-1), x, y)


def test_piecewise_smooth_models_warn():
    from symsgd.errors import SmoothnessWarning
    from symsgd.nets.models import MLP
    x, y = torch.zeros(4, 2, dtype=DT), torch.zeros(4, 1, dtype=DT)
    loss = lambda out, t: ((out - t) ** 2).sum(-1)  # noqa: E731
    relu = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    with pytest.warns(SmoothnessWarning, match="ReLU"):
        NetLandscape(relu.to(DT), loss, x, y)
    with pytest.warns(SmoothnessWarning, match="activation 'relu'"):
        NetLandscape(MLP([2, 3, 1], activation="relu"), loss, x, y)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NetLandscape(MLP([2, 3, 1]), loss, x, y)


@pytest.mark.gpu
def test_the_same_estimates_on_cuda(mlp):
    """The same draws on a CUDA device give the CPU's estimates (float64 rounding apart)."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    net, _ = mlp
    gpu = NetLandscape(net.model, net.loss_fn, net.inputs, net.targets, device="cuda")
    atoms = _atoms("test", 3)
    for exact in (True, False):
        a = estimate(atoms, net, exact=exact, budget=64)
        b = estimate(atoms, gpu, exact=exact, budget=64)
        np.testing.assert_allclose(b.mean, a.mean, rtol=1e-9, atol=1e-12)


def test_device_keyword_on_cpu(mlp):
    """device='cpu' is the CPU path of the same code (what CI can run)."""
    net, _ = mlp
    cpu = NetLandscape(net.model, net.loss_fn, net.inputs, net.targets, device="cpu")
    atoms = _atoms("test", 2)
    np.testing.assert_array_equal(estimate(atoms, cpu, budget=16).mean,
                                  estimate(atoms, net, budget=16).mean)


def test_third_derivative_against_finite_differences(mlp):
    """J[u, v, w] from nested jvp and one grad against central differences of H v (O(h^2))."""
    from symsgd.nets.estimate import _directional
    net, _ = mlp
    g = torch.Generator().manual_seed(7)
    u, v, w = (torch.randn(net.dim, generator=g, dtype=DT) for _ in range(3))

    def f(th):
        return net.loss(theta=th)

    J = float(_directional(f, net.params, (u, v, w), False))
    h = 1e-4
    hv = [(_directional(f, net.params + s * h * w, (u,), True) @ v) for s in (1, -1)]
    fd = float((hv[0] - hv[1]) / (2 * h))
    # truncation ~ h^2 |K| and rounding ~ eps |Hv| / h: both far below 1e-5 relative here
    assert J == pytest.approx(fd, rel=1e-5)


def test_per_sample_values_average_to_population_values(mlp):
    net, T = mlp
    from symsgd.nets.estimate import _directional
    u = torch.ones(net.dim, dtype=DT)
    per_sample = torch.stack([_directional(lambda th, i=i: net.sample_loss(th, *net.point(i)),
                                           net.params, (u,), True) for i in range(net.size)])
    population = _directional(lambda th: net.loss(theta=th), net.params, (u,), True)
    torch.testing.assert_close(per_sample.mean(0), population, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(T[2].mean(0) @ u, population, rtol=1e-10, atol=1e-12)


def test_a_population_of_one_point_has_no_noise():
    """Cumulant blocks of two or more nodes vanish exactly on a single point (no error)."""
    net = mlp_net(n=1)
    C = Contraction.from_graph([1, 1], [[0, 1]], [(0, 1)])
    CH = Contraction.from_graph([1, 1, 2], [[0, 1], [2]], [(0, 2), (1, 2)])
    for exact in (True, False):
        est = estimate([C, CH], net, exact=exact, budget=8)
        assert abs(est.value(C)) < 1e-12 and abs(est.value(CH)) < 1e-12


def _spd(P, seed):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(P, P, generator=g, dtype=DT)
    return A @ A.T / P + torch.eye(P, dtype=DT)


def test_probes_with_an_inverse_metric(mlp):
    """Cut edges carry (z, M z): traces, a cycle, a block with a cycle and a vector trace, with
    a dense metric, exactly and sampled."""
    net, T = mlp
    M = _spd(net.dim, 11)
    scalars = [Contraction.from_graph([2], [[0]], [(0, 0)]),
               Contraction.from_graph([2, 2], [[0], [1]], [(0, 1), (0, 1)]),
               Contraction.from_graph([2, 2], [[0, 1]], [(0, 1), (0, 1)])]
    vectors = [Contraction.from_graph([3], [[0]], [(0, 0)], free=[0]),
               Contraction.from_graph([2, 3], [[0], [1]], [(0, 1), (1, 1)], free=[0])]
    for group in (scalars, vectors):
        exact = estimate(group, net, exact=True, metric=M)
        sampled = estimate(group, net, budget=3000, seed=4, metric=M)
        for a in group:
            want = dense_value(a, T, M)
            scale = max(1.0, float(np.max(np.abs(want))))
            assert np.max(np.abs(exact.value(a) - want)) <= 1e-10 * scale, str(a)
            assert np.all(np.abs(sampled.value(a) - want) <= 4 * sampled.standard_error(a)
                          + 1e-10 * scale), str(a)


def test_sampled_vector_atoms_within_standard_errors(mlp):
    """The weights' atoms sampled: per-coordinate errors, and a sampled vector prediction."""
    net, T = mlp
    atoms = _atoms("weights", 3)
    est = estimate(atoms, net, budget=2000, seed=8)
    assert est.covariance.shape == (net.dim, len(atoms), len(atoms))
    for a in atoms:
        want = dense_value(a, T)
        scale = max(1.0, float(np.max(np.abs(want))))
        assert np.all(np.abs(est.value(a) - want) <= 4.5 * est.standard_error(a)
                      + 1e-10 * scale), str(a)
    series = symsgd.expected_displacement(symsgd.sgd(N, batch=B), 3, method="direct")
    from symsgd.nets import predict
    p = predict(series, net, budget=500, seed=2, N=4, B=2)
    q = predict(series, net, exact=True, N=4, B=2)
    assert p.coefficients.shape == q.coefficients.shape == (4, net.dim)
    se = p.standard_errors()
    assert np.all(np.abs(p.coefficients - q.coefficients) <= 4.5 * se + 1e-10)
