"""Diagram: canonical forms, automorphisms, links, constructors, printing."""

import itertools
import random

import networkx as nx
import pytest
import sympy
from hypothesis import given, settings, strategies as st

from symsgd.diagrams import Diagram, DiagramError, enumerate_diagrams


def random_labelled(rng, d):
    """A random labelled diagram: parents (root somewhere) and blocks, with a random labelling."""
    parents = [-1] + [rng.randrange(v) for v in range(1, d + 1)]
    labels = [rng.randrange(d) for _ in range(d)]
    perm = list(range(d + 1))
    rng.shuffle(perm)
    new_parents = [None] * (d + 1)
    for v in range(d + 1):
        new_parents[perm[v]] = None if v == 0 else perm[parents[v]]
    blocks = {}
    for v in range(1, d + 1):
        blocks.setdefault(labels[v - 1], []).append(perm[v])
    return new_parents, list(blocks.values())


def as_graph(parents, blocks):
    g = nx.DiGraph()
    for v, p in enumerate(parents):
        g.add_node(v, kind="root" if p is None else "node")
    for v, p in enumerate(parents):
        if p is not None:
            g.add_edge(v, p, kind="tree")
    for i, b in enumerate(blocks):
        g.add_node(("block", i), kind="block")
        for v in b:
            g.add_edge(("block", i), v, kind="tie")
    return g


def brute_automorphisms(D):
    """Count permutations of the non-root nodes preserving parents and the partition."""
    parents, blocks = D.parents, {frozenset(b) for b in D.blocks}
    d = D.order
    count = 0
    for perm in itertools.permutations(range(1, d + 1)):
        g = (0,) + perm
        if all(g[parents[v]] == parents[g[v]] for v in range(1, d + 1)) and \
                {frozenset(g[v] for v in b) for b in blocks} == blocks:
            count += 1
    return count


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 7), st.randoms(use_true_random=False))
def test_canonical_form_invariant_under_relabelling(d, rnd):
    rng = random.Random(rnd.random())
    parents, blocks = random_labelled(rng, d)
    D = Diagram.from_parents(parents, blocks=blocks)
    perm = list(range(d + 1))
    rng.shuffle(perm)
    moved = [None] * (d + 1)
    for v, p in enumerate(parents):
        moved[perm[v]] = None if p is None else perm[p]
    E = Diagram.from_parents(moved, blocks=[[perm[v] for v in b] for b in blocks])
    assert E == D and hash(E) == hash(D) and E.args == D.args
    assert E.n_automorphisms == D.n_automorphisms
    assert D.func(*D.args) == D
    assert Diagram(D.text()) == D


def test_canonical_form_agrees_with_networkx_isomorphism():
    rng = random.Random(4)
    for d in (3, 4, 5):
        samples = [random_labelled(rng, d) for _ in range(45)]
        diagrams = [Diagram.from_parents(p, blocks=b) for p, b in samples]
        graphs = [as_graph(p, b) for p, b in samples]
        equal_pairs = 0
        for i, j in itertools.combinations(range(len(samples)), 2):
            iso = nx.is_isomorphic(graphs[i], graphs[j],
                                   node_match=lambda a, b: a["kind"] == b["kind"],
                                   edge_match=lambda a, b: a["kind"] == b["kind"])
            assert iso == (diagrams[i] == diagrams[j])
            equal_pairs += iso
        assert equal_pairs > 0


def test_automorphisms_against_brute_force():
    for d in range(5):
        for D in enumerate_diagrams(d):
            assert D.n_automorphisms == brute_automorphisms(D), D
    rng = random.Random(7)
    for _ in range(30):
        parents, blocks = random_labelled(rng, 6)
        D = Diagram.from_parents(parents, blocks=blocks)
        assert D.n_automorphisms == brute_automorphisms(D), D


def test_structure_accessors():
    D = Diagram("*(a(b, b), a, c)")
    assert D.text() == "*(a, b, a(c, c))"
    assert D.order == 5 and D.n_nodes == 6
    assert D.parents == (None, 0, 0, 0, 3, 3)
    assert D.children == ((1, 2, 3), (), (), (4, 5), (), ())
    assert D.n_children == (3, 0, 0, 2, 0, 0)
    assert D.degrees == (3, 1, 1, 3, 1, 1)
    assert D.depths == (0, 1, 1, 1, 2, 2)
    assert D.blocks == ((1, 3), (2,), (4, 5))
    assert D.labels == (0, 1, 0, 2, 2)
    assert D.n_blocks == 3
    assert D.statistics == ((0,), (0, 0), (0, 2))
    assert D.contains((2, 0)) and D.contains((0, 0)) and not D.contains((1,))
    assert all(D.parents[v] < v for v in range(1, D.n_nodes))
    # swapping the two b-leaves or nothing else: the a-leaf and a-parent are distinct
    assert D.n_automorphisms == 2


def test_links_and_linkless():
    chain = Diagram("*(a(b(c(d))))")
    assert chain.links == (1, 2, 3)
    assert chain.linkless() == Diagram("*(a)")
    tied = Diagram("*(a(b(a)))")
    assert tied.links == (2,)
    assert tied.linkless() == Diagram("*(a(a))")
    assert Diagram("*(a(b, c(d)))").linkless() == Diagram("*(a(b, d))")
    assert Diagram("*(a, a)").linkless() == Diagram("*(a, a)")
    for d in range(1, 6):
        for D in enumerate_diagrams(d):
            L = D.linkless()
            assert L.is_linkless
            assert L.order == D.order - len(D.links)
            assert sorted(L.statistics) == sorted(s for s in D.statistics if s != (1,)) + \
                [(1,)] * (sum(1 for s in D.statistics if s == (1,)) - len(D.links))


def test_constructors_and_errors():
    assert Diagram([0, 0], [1, 1]) == Diagram.from_parents([None, 0, 0], blocks=[[1, 2]])
    assert Diagram.from_parents([1, None, 1]) == Diagram("*(a, b)")
    assert Diagram([], []) == Diagram("*") and Diagram("*").order == 0
    with pytest.raises(DiagramError):
        Diagram.from_parents([None, 2, 1])  # cycle
    with pytest.raises(DiagramError):
        Diagram.from_parents([None, None])
    with pytest.raises(DiagramError):
        Diagram.from_parents([None, 0, 0], blocks=[[1]])
    with pytest.raises(DiagramError):
        Diagram.from_parents([None, 0, 0], blocks=[[1, 2], [2]])
    with pytest.raises(DiagramError):
        Diagram.from_parents([None, 0], blocks=[[0, 1]])
    with pytest.raises(DiagramError):
        Diagram([0, 5], [0, 0])
    with pytest.raises(DiagramError):
        Diagram([0, 1], [0])
    for bad in ["a(b)", "*(a", "*(a,)", "*(*)", "*(a) b", "*(A)", ""]:
        with pytest.raises(DiagramError):
            Diagram(bad)
    with pytest.raises(ValueError):
        Diagram(b"*")


def test_printing():
    D = Diagram("*(a(b), a)")
    assert str(D) == "Diagram('*(a, a(b))')"
    assert sympy.latex(D) == r"\mathcal{D}\left[\ast{}(a,\,a(b))\right]"
    assert sympy.srepr(D).startswith("Diagram(Tuple(")
    big = Diagram.from_parents([None] + [0] * 30)
    assert Diagram(big.text()) == big and "a1" in big.text()


def test_diagrams_are_sympy_atoms_of_expressions():
    D, E = Diagram("*(a, a)"), Diagram("*(a(b))")
    x = sympy.Symbol("x")
    expr = 2 * x * D + E
    assert expr.has(D) and expr.subs(D, 1) == 2 * x + E
    assert {D: 1}[Diagram.from_parents([None, 0, 0], blocks=[[2, 1]])] == 1
    assert (D + E).xreplace({sympy.Integer(0): 7}) == D + E
    assert (x * D).subs(sympy.Integer(0), 3) == x * D
