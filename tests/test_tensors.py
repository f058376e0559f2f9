"""Tests of the canonical contraction atoms (symsgd.tensors)."""

import functools
import itertools
import pickle
import random
import re
from collections import defaultdict

import networkx as nx
import numpy as np
import pytest
import sympy
from hypothesis import given, settings, strategies as st

from symsgd.errors import MissingStatisticError, NonFiniteError, ShapeError
from symsgd.tensors import Contraction, collect_contractions, evaluate_expr, lookup_statistic


@st.composite
def graphs(draw, max_nodes=6, max_edges=7):
    n = draw(st.integers(1, max_nodes))
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                          max_size=max_edges))
    free = draw(st.lists(st.integers(0, n - 1), max_size=2))
    labels = draw(st.lists(st.integers(0, n - 1), min_size=n, max_size=n))
    blocks = {}
    for i, lab in enumerate(labels):
        blocks.setdefault(lab, []).append(i)
    degrees = [0] * n
    for a, b in edges:
        degrees[a] += 1
        degrees[b] += 1
    for f in free:
        degrees[f] += 1
    moments = draw(st.sets(st.integers(0, len(blocks) - 1), max_size=1))
    return degrees, list(blocks.values()), edges, free, sorted(moments)


def atom(graph):
    """The contraction of a graph tuple ``(degrees, blocks, edges[, free[, moments]])``."""
    degrees, blocks, edges, *rest = graph
    return Contraction.from_graph(degrees, blocks, edges, **dict(zip(("free", "moments"), rest)))


def relabel(graph, perm, block_order):
    degrees, blocks, edges, free, moments = graph
    inv = {old: new for new, old in enumerate(perm)}
    new_degrees = [degrees[perm[i]] for i in range(len(perm))]
    new_blocks = [[inv[i] for i in reversed(blocks[g])] for g in block_order]
    new_moments = [block_order.index(m) for m in moments]
    new_edges = [(inv[b], inv[a]) for a, b in reversed(edges)]
    return new_degrees, new_blocks, new_edges, [inv[f] for f in free], new_moments


def to_networkx(graph):
    degrees, blocks, edges, free, moments = graph
    g = nx.MultiGraph()
    for i, k in enumerate(degrees):
        g.add_node(("n", i), kind="node", degree=k,
                   free=tuple(p for p, f in enumerate(free) if f == i))
    for b, members in enumerate(blocks):
        g.add_node(("b", b), kind="block", moment=b in moments)
        for i in members:
            g.add_edge(("b", b), ("n", i), kind="member")
    for a, b in edges:
        g.add_edge(("n", a), ("n", b), kind="edge")
    return g


def isomorphic(g1, g2):
    return nx.is_isomorphic(to_networkx(g1), to_networkx(g2),
                            node_match=lambda a, b: a == b,
                            edge_match=lambda a, b: sorted(d["kind"] for d in a.values())
                            == sorted(d["kind"] for d in b.values()))


@settings(max_examples=300, deadline=None)
@given(graphs(), st.randoms(use_true_random=False))
def test_canonical_under_relabelling(graph, rnd):
    n = len(graph[0])
    perm = list(range(n))
    rnd.shuffle(perm)
    order = list(range(len(graph[1])))
    rnd.shuffle(order)
    a = atom(graph)
    b = atom(relabel(graph, perm, order))
    assert a == b and hash(a) == hash(b)
    assert a.degrees == b.degrees and a.blocks == b.blocks and a.edges == b.edges


@settings(max_examples=150, deadline=None)
@given(graphs(max_nodes=5, max_edges=5), graphs(max_nodes=5, max_edges=5))
def test_equality_is_isomorphism(g1, g2):
    """networkx's VF2 on a graph with explicit block vertices is the oracle."""
    assert (atom(g1) == atom(g2)) == isomorphic(g1, g2)


def test_equality_is_isomorphism_on_near_misses():
    """All 3-edge graphs on 4 degree-pattern nodes: many isomorphic pairs, many near misses."""
    rng = random.Random(3)
    found = []
    for _ in range(400):
        n = 4
        edges = [tuple(rng.randrange(n) for _ in range(2)) for _ in range(3)]
        labels = [rng.randrange(2) for _ in range(n)]
        blocks = {}
        for i, lab in enumerate(labels):
            blocks.setdefault(lab, []).append(i)
        degrees = [0] * n
        for a, b in edges:
            degrees[a] += 1
            degrees[b] += 1
        found.append((degrees, list(blocks.values()), edges, [], []))
    atoms = [atom(g) for g in found]
    same = 0
    for i, j in itertools.combinations(range(0, 400, 7), 2):
        iso = isomorphic(found[i], found[j])
        same += iso
        assert (atoms[i] == atoms[j]) == iso
    assert same > 5


def test_stars_are_fast_and_canonical():
    """A hub with many identical leaves: twin pruning keeps this linear."""
    k = 12
    edges = [(0, i) for i in range(1, k + 1)]
    c = Contraction.from_graph([k] + [1] * k, [[i] for i in range(k + 1)], edges)
    d = Contraction.from_graph([1] * k + [k], [[i] for i in range(k + 1)],
                               [(k, i) for i in range(k)])
    assert c == d


def test_like_terms_combine_and_pickle():
    GHG = Contraction.from_graph([1, 2, 1], [[0], [1], [2]], [(0, 1), (1, 2)])
    other = Contraction.from_graph([2, 1, 1], [[1], [2], [0]], [(0, 1), (2, 0)])
    assert sympy.expand(GHG + other - 2 * GHG) == 0
    assert pickle.loads(pickle.dumps(GHG)) == GHG
    assert sympy.srepr(GHG).startswith("Contraction(")
    N = sympy.Symbol("N")
    assert collect_contractions(N * GHG + other) == {GHG: N + 1}


def test_symmetries_of_cumulant_blocks():
    # kappa(grad l, grad^2 l) is symmetric in the order of its arguments
    a = Contraction.from_graph([1, 2, 1], [[0, 1], [2]], [(0, 1), (1, 2)])
    b = Contraction.from_graph([2, 1, 1], [[1, 0], [2]], [(1, 0), (0, 2)])
    assert a == b
    # but which node of the block carries the contraction matters
    c = Contraction.from_graph([1, 2, 1], [[0, 1], [2]], [(0, 2), (1, 1)])
    assert a != c
    # a cumulant block and a moment block differ
    m = Contraction.from_graph([1, 1], [[0, 1]], [(0, 1)], moments=[0])
    k = Contraction.from_graph([1, 1], [[0, 1]], [(0, 1)])
    assert m != k


def test_free_slot_order_matters():
    a = Contraction.from_graph([1, 2], [[0], [1]], [], free=[0, 1, 1])
    b = Contraction.from_graph([1, 2], [[0], [1]], [], free=[1, 0, 1])
    assert a != b and a.rank == 3


def test_bad_graphs():
    with pytest.raises(ValueError):
        Contraction.from_graph([2, 1], [[0], [1]], [(0, 1)])
    with pytest.raises(ValueError):
        Contraction.from_graph([1, 1], [[0]], [(0, 1)])
    with pytest.raises(ValueError):
        Contraction.from_graph([1, 1], [[0], [1]], [(0, 2)])
    with pytest.raises(TypeError):
        Contraction.from_graph([1.0, 1], [[0], [1]], [(0, 1)])


def test_printing():
    cases = [
        (([1, 2, 1], [[0], [1], [2]], [(0, 1), (1, 2)]), "[G H G]"),
        (([1, 1, 2], [[0, 1], [2]], [(0, 2), (1, 2)]), "C:H"),
        (([1, 1], [[0, 1]], [(0, 1)]), "[tr C]"),
        (([2], [[0]], [(0, 0)]), "[tr H]"),
        (([1, 2, 1], [[0, 1], [2]], [(0, 1), (1, 2)]), "[G (grad tr C)/2]"),
        (([2, 2, 2], [[0], [1], [2]], [(0, 1), (1, 2), (0, 2)]), "[tr(H H H)]"),
        (([1, 1, 3, 1], [[0, 1], [2], [3]], [(0, 2), (1, 2), (2, 3)]), "[G_a C_bc J_abc]"),
        (([1, 1, 1, 3], [[0, 1, 2], [3]], [(0, 3), (1, 3), (2, 3)]), "[S_abc J_abc]"),
        (([0], [[0]], []), "l"),
        (([1], [[0]], []), None),
    ]
    for args, text in cases:
        if text is None:
            with pytest.raises(ValueError):
                atom(args)
            continue
        assert str(atom(args)) == text
    k12 = Contraction.from_graph([1, 2, 1], [[0, 1], [2]], [(0, 2), (1, 1)])
    assert str(k12) == "[G_a kappa(grad l, grad^2 l)_a,bb]"
    assert sympy.latex(k12) == r"G_{a} {\kappa^{(1,2)}}_{a;b b}"
    vec = Contraction.from_graph([1, 2], [[0], [1]], [(0, 1)], free=[1])
    assert str(vec) == "[G_a H_a^b]" and sympy.latex(vec) == "G_{a} H_{a}^{b}"
    # the vector grad tr C / 2: its shorthand in text; in LaTeX indices per argument of the
    # cumulant, the name braced
    dC = Contraction.from_graph([1, 2], [[0, 1]], [(0, 1)], free=[1])
    assert str(dC) == "[(grad tr C)/2]"
    assert sympy.latex(dC) == r"{\kappa^{(1,2)}}_{a;a}^{;b}"
    # the same block with its slots left free has no shorthand
    kappa = Contraction.from_graph([1, 2], [[0, 1]], [], free=[0, 1, 1])
    assert str(kappa) == "[kappa(grad l, grad^2 l)^a,bc]"
    moment = Contraction.from_graph([1, 2, 0], [[0, 1, 2]], [], free=[1, 0, 1], moments=[0])
    assert sympy.latex(moment) == r"{\mathbb{E}^{(0,1,2)}}^{b;a c}"
    GHG = Contraction.from_graph([1, 2, 1], [[0], [1], [2]], [(0, 1), (1, 2)])
    assert sympy.latex(GHG**2) == r"\left(G_{a} G_{b} H_{a b}\right)^{2}"
    assert str(GHG**2) == "([G H G])**2"
    loss = Contraction.from_graph([0], [[0]], [])
    assert sympy.latex(loss**2) == "l^{2}" and str(3 * loss**2) == "3*l**2"


def _random_stats(dim, rng, exact):
    """Symmetric random statistics for degrees up to 3, keyed by degree tuples."""
    def sym(shape_groups):
        rank = sum(shape_groups)
        arr = rng.integers(-3, 4, size=(dim,) * rank).astype(object if exact else float)
        # symmetrize within each argument group
        out = np.zeros_like(arr)
        start = 0
        perms = []
        for k in shape_groups:
            perms.append([tuple(start + p for p in q) for q in itertools.permutations(range(k))])
            start += k
        count = 0
        for combo in itertools.product(*perms):
            axes = [a for group in combo for a in group]
            out = out + np.transpose(arr, axes)
            count += 1
        return out / count if not exact else out
    keys = [(1,), (2,), (3,), (1, 1), (1, 2), (1, 1, 1)]
    stats = {k: sym(k) for k in keys}
    # a cumulant is symmetric under exchanging arguments of equal degree
    stats[(1, 1)] = (stats[(1, 1)] + stats[(1, 1)].T)
    s = stats[(1, 1, 1)]
    stats[(1, 1, 1)] = sum(np.transpose(s, p) for p in itertools.permutations(range(3)))
    stats[(2, 1)] = np.transpose(stats[(1, 2)], (1, 2, 0))
    return stats


def test_evaluate_exact_numeric_and_metric():
    rng = np.random.default_rng(0)
    stats = _random_stats(3, rng, exact=True)
    sym = {k: sympy.ImmutableDenseNDimArray(v.tolist()) for k, v in stats.items()}
    num = {k: v.astype(float) for k, v in stats.items()}
    c = Contraction.from_graph([1, 1, 3, 1], [[0, 1], [2], [3]], [(0, 2), (1, 2), (2, 3)])
    by_hand = sum(stats[(1, 1)][a, b] * stats[(3,)][a, b, d] * stats[(1,)][d]
                  for a in range(3) for b in range(3) for d in range(3))
    assert c.evaluate(sym) == by_hand
    assert float(c.evaluate(num)) == pytest.approx(float(by_hand), rel=1e-12)
    metric = np.diag([1.0, 2.0, 0.5])
    with_metric = sum(stats[(1, 1)][a, b] * stats[(3,)][a2, b2, d] * stats[(1,)][d2]
                      * metric[a, a2] * metric[b, b2] * metric[d, d2]
                      for a, b, d, a2, b2, d2 in itertools.product(range(3), repeat=6))
    assert float(c.evaluate(num, metric=metric)) == pytest.approx(float(with_metric), rel=1e-12)
    vec = Contraction.from_graph([1, 2], [[0], [1]], [(0, 1)], free=[1])
    np.testing.assert_allclose(vec.evaluate(num, metric=metric), metric @ stats[(2,)].astype(float)
                               @ metric @ stats[(1,)].astype(float))


def test_evaluate_errors():
    c = Contraction.from_graph([1, 2, 1], [[0], [1], [2]], [(0, 1), (1, 2)])
    with pytest.raises(ShapeError):
        c.evaluate({(1,): np.ones(2), (2,): np.ones((3, 3))})
    with pytest.raises(ShapeError):
        c.evaluate({(1,): np.ones(2), (2,): np.ones(2)})
    with pytest.raises(NonFiniteError):
        c.evaluate({(1,): np.array([1.0, np.nan]), (2,): np.ones((2, 2))})


def test_moments_to_cumulants_on_a_landscape():
    from symsgd.landscape import Landscape
    a, b, x, y = sympy.symbols("a b x y")
    L = Landscape(a * x + b**2 * y + a * b * x * y**2 + a**3 * x**2, (a, b), (x, y),
                  init=[1, sympy.Rational(1, 2)])
    # E[grad l_x (x) grad^2 l_x] contracted: moment block vs its cumulant expansion
    m = Contraction.from_graph([1, 2, 1], [[0, 1], [2]], [(0, 1), (1, 2)], moments=[0])
    mom = L.moment(1, 2)
    G = L.G
    direct = sum(mom[i, i, j] * G[j] for i in range(2) for j in range(2))
    assert sympy.expand(m.evaluate(L.cumulant) - direct) == 0
    assert sympy.expand(evaluate_expr(m.to_cumulants(), L.cumulant) - direct) == 0


# ------------------------------------------------------------------ LaTeX
MEANS = {"l": 0, "G": 1, "H": 2, "J": 3, "K": 4}
NAMED_CUMULANTS = {"C": (1, 1), "S": (1, 1, 1)}
FACTOR = re.compile(
    r"(?P<name>[lGHJKCS]|\(\\nabla\^\{(?P<deg>\d+)\} l\)"
    r"|\{\\(?P<kind>kappa|mathbb\{E\})\^\{\((?P<key>\d+(?:,\d+)*)\)\}\})"
    r"(?:_\{(?P<sub>[a-z ;]+)\})?(?:\^\{(?P<sup>[a-z ;]+)\})?")


def read_latex(text):
    """The graph ``(degrees, blocks, edges, free, moments)`` that a contraction's LaTeX writes.

    A hand-written reader of the notation: lower indices pair up into edges,
    upper ones are the free slots in alphabetical order; a general cumulant or
    moment lists its indices per argument of positive degree.
    """
    degrees, blocks, moments = [], [], []
    low, up = defaultdict(list), defaultdict(list)
    pos = 0
    for m in FACTOR.finditer(text):
        assert m.start() == pos, (text, pos)
        pos = m.end() + 1
        start = len(degrees)
        if m["kind"]:
            key = [int(k) for k in m["key"].split(",")]
            slotted = [start + i for i, k in enumerate(key) if k]
            for level, store in (("sub", low), ("sup", up)):
                if m[level]:
                    groups = m[level].split(";")
                    assert len(groups) == len(slotted), text
                    for node, group in zip(slotted, groups):
                        store[node] += group.split()
            if m["kind"] != "kappa":
                moments.append(len(blocks))
        else:
            name = m["name"]
            key = [MEANS[name]] if name in MEANS else [int(m["deg"])] if m["deg"] \
                else list(NAMED_CUMULANTS[name])
            letters = [(x, low) for x in (m["sub"] or "").split()] \
                + [(x, up) for x in (m["sup"] or "").split()]
            if len(key) == 1:
                for x, store in letters:
                    store[start].append(x)
            else:  # C, S: symmetric in their degree-1 arguments, one index each
                assert len(letters) == len(key), text
                for node, (x, store) in zip(range(start, start + len(key)), letters):
                    store[node].append(x)
        degrees += key
        blocks.append(list(range(start, start + len(key))))
    assert pos == len(text) + 1, text
    ends = defaultdict(list)
    for node, xs in low.items():
        for x in xs:
            ends[x].append(node)
    assert all(len(e) == 2 for e in ends.values()), text
    free = [node for _, node in sorted((x, node) for node, xs in up.items() for x in xs)]
    return degrees, blocks, list(ends.values()), free, moments


@functools.lru_cache(maxsize=None)
def _mathtext():
    from matplotlib.mathtext import MathTextParser
    return MathTextParser("path")


def assert_valid_latex(text):
    """matplotlib's mathtext (a TeX subset: double superscripts are errors) accepts ``text``."""
    _mathtext().parse(f"${text}$")


def check_latex(c):
    """The LaTeX of ``c`` is valid, reads back as ``c``, and stays valid as the base of a power."""
    text = sympy.latex(c)
    assert_valid_latex(text)
    assert atom(read_latex(text)) == c, text
    assert_valid_latex(sympy.latex(c**2))


def test_latex_reader_recognises_a_wrong_reading():
    """The reader is a real check: a swapped argument order reads back as another contraction."""
    c = Contraction.from_graph([1, 2, 1], [[0, 1], [2]], [(0, 2), (1, 1)])
    swapped = sympy.latex(c).replace("_{a;b b}", "_{b b;a}")
    with pytest.raises(ValueError):
        atom(read_latex(swapped))
    assert atom(read_latex(sympy.latex(c))) == c


@settings(max_examples=120, deadline=None)
@given(graphs())
def test_latex_of_random_contractions_is_valid_and_faithful(graph):
    c = atom(graph)
    check_latex(c)
    assert_valid_latex(sympy.latex(sympy.Rational(-3, 4) * sympy.Symbol("N") * c))


def test_latex_of_direct_route_contractions_is_valid_and_faithful():
    """Every contraction, coefficient and series of the direct route to order 4 (scalar, vector)."""
    from symsgd import expected_displacement, expected_loss
    from symsgd.schedule import gd, sgd
    N, B = sympy.symbols("N B", integer=True, positive=True)
    series = [
        expected_loss(sgd(N), 4, method="direct"),
        expected_loss(sgd(N, batch=B), 3, method="direct", measure="gap"),
        expected_loss(gd(N, steps=2), 4, method="direct"),
        expected_loss(sgd(N), 3, method="direct", moment=2),
        expected_displacement(sgd(N), 4, method="direct"),
        expected_displacement(gd(N, steps=3), 4, method="direct"),
        expected_displacement(gd(N, steps=N), 2, method="direct")
        - expected_displacement(sgd(N), 2, method="direct"),
    ]
    atoms = set().union(*(s.contractions() for s in series))
    assert any(c.rank for c in atoms) and any(not c.rank for c in atoms)
    assert any(c.rank and max(map(len, c.blocks)) > 1 for c in atoms)  # e.g. grad tr C / 2
    for c in atoms:
        check_latex(c)
    for s in series:
        for k in range(len(s)):
            assert_valid_latex(sympy.latex(s.coeff(k)))
    for s in series[-3:]:
        assert_valid_latex(s.latex())


# ------------------------------------------------------------------ statistics and vectors
def test_missing_statistics_are_named():
    c = Contraction.from_graph([1, 1, 2], [[0, 1], [2]], [(0, 2), (1, 2)])
    with pytest.raises(MissingStatisticError, match=r"\(1, 1\) \(C\)") as info:
        c.evaluate({(2,): np.eye(2)})
    assert isinstance(info.value, KeyError)
    with pytest.raises(MissingStatisticError, match=r"kappa\(grad l, grad\^2 l\)"):
        lookup_statistic({}, (1, 2))
    assert lookup_statistic(lambda *key: key, (1, 2)) == (1, 2)


def test_evaluate_expr_of_vector_expressions():
    """Free-index contractions evaluate to arrays, against numpy by hand."""
    rng = np.random.default_rng(1)
    stats = _random_stats(3, rng, exact=True)
    sym = {k: sympy.ImmutableDenseNDimArray(v.tolist()) for k, v in stats.items()}
    N = sympy.Symbol("N")
    HG = Contraction.from_graph([1, 2], [[0], [1]], [(0, 1)], free=[1])
    dC = Contraction.from_graph([1, 2], [[0, 1]], [(0, 1)], free=[1])
    GG = Contraction.from_graph([1, 1], [[0], [1]], [(0, 1)])
    got = evaluate_expr(N * HG / 2 + GG * dC, sym)
    g, h, k12 = stats[(1,)], stats[(2,)], stats[(1, 2)]
    want = [N * sum(g[a] * h[a, b] for a in range(3)) / 2
            + sum(g[a] ** 2 for a in range(3)) * sum(k12[a, a, b] for a in range(3))
            for b in range(3)]
    assert [sympy.expand(x - y) for x, y in zip(got, want)] == [0, 0, 0]
    numeric = evaluate_expr(2 * HG, {k: v.astype(float) for k, v in stats.items()})
    np.testing.assert_allclose(np.array(numeric.tolist(), dtype=float), 2 * g.astype(float)
                               @ h.astype(float), rtol=1e-14)
    for bad in (HG + GG, HG * dC, HG**2, HG + 1):
        with pytest.raises(ShapeError):
            evaluate_expr(bad, sym)
    with pytest.raises(ShapeError):
        evaluate_expr(HG + Contraction.from_graph([2], [[0]], [], free=[0, 0]), sym)
