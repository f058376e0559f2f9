"""enumerate_diagrams: counts, symmetry factors, filters, Table 1."""

import itertools
import time

import pytest
import sympy

from symsgd.diagrams import Diagram, enumerate_diagrams, rooted_trees, set_partitions
from symsgd.errors import OrderError
from symsgd.schedule import sgd


def brute_diagrams(d):
    """Every labelled tree (parent of v among 0..v-1 up to relabelling: all parent maps
    that are trees) with every partition, canonicalized and deduplicated."""
    out = set()
    for parents in itertools.product(range(d + 1), repeat=d):
        full = [None] + list(parents)
        if any(p == v + 1 for v, p in enumerate(parents)):
            continue
        try:
            for labels in itertools.product(range(d), repeat=d):
                blocks = {}
                for v, b in enumerate(labels, start=1):
                    blocks.setdefault(b, []).append(v)
                out.add(Diagram.from_parents(full, blocks=list(blocks.values())))
        except ValueError:  # not a tree
            continue
    return out


def test_counts_small():
    assert [sum(1 for _ in enumerate_diagrams(d)) for d in range(4)] == [1, 1, 4, 17]


@pytest.mark.parametrize("d", range(0, 5))
def test_enumeration_matches_brute_force(d):
    if d == 4:  # 4^4 parent maps x 4^4 labellings: keep it to the first labelling of each partition
        listed = list(enumerate_diagrams(d))
        assert len(listed) == len(set(listed)) == 101
        brute = set()
        for parents in itertools.product(range(d + 1), repeat=d):
            full = [None] + list(parents)
            try:
                for rgs in set_partitions(d):
                    blocks = {}
                    for v, b in enumerate(rgs, start=1):
                        blocks.setdefault(b, []).append(v)
                    brute.add(Diagram.from_parents(full, blocks=list(blocks.values())))
            except ValueError:
                continue
        assert brute == set(listed)
        return
    listed = list(enumerate_diagrams(d))
    assert len(listed) == len(set(listed))
    assert set(listed) == brute_diagrams(d)


@pytest.mark.parametrize("d", range(0, 7))
def test_sum_of_inverse_automorphisms(d):
    total = sum(sympy.Rational(1, D.n_automorphisms) for D in enumerate_diagrams(d))
    assert total == sympy.Integer(d + 1) ** (d - 1) * sympy.bell(d) / sympy.factorial(d)


def test_enumerated_automorphisms_match_recomputed():
    for D in enumerate_diagrams(5):
        fresh = Diagram(*D.args)
        assert fresh == D and fresh.n_automorphisms == D.n_automorphisms


def test_rooted_trees_and_partitions():
    assert [len(rooted_trees(d)) for d in range(9)] == [1, 1, 2, 4, 9, 20, 48, 115, 286]
    assert [len(set_partitions(n)) for n in range(8)] == [sympy.bell(n) for n in range(8)]


def test_seven_edges_fast():
    start = time.perf_counter()
    diagrams = list(enumerate_diagrams(7))
    elapsed = time.perf_counter() - start
    assert len(diagrams) == 55818
    total = sum(sympy.Rational(1, D.n_automorphisms) for D in diagrams)
    assert total == sympy.Integer(8) ** 6 * sympy.bell(7) / sympy.factorial(7)
    assert elapsed < 10


def ancestors(D, v):
    out = set()
    while D.parents[v] is not None:
        v = D.parents[v]
        out.add(v)
    return out


def test_filters_against_brute_force():
    for d in range(1, 6):
        everything = list(enumerate_diagrams(d))
        linkless = [D for D in everything
                    if not any(D.n_children[v] == 1 and len(D.blocks[D.labels[v - 1]]) == 1
                               for v in range(1, d + 1))]
        assert list(enumerate_diagrams(d, linkless=True)) == linkless
        for stat in [(0,), (0, 0), (1,), (0, 0, 0), (0, 1)]:
            expected = [D for D in everything
                        if any(sorted(D.n_children[v] for v in b) == list(stat) for b in D.blocks)]
            assert list(enumerate_diagrams(d, statistic=stat)) == expected
            assert list(enumerate_diagrams(d, linkless=True, statistic=stat)) == \
                [D for D in expected if D in linkless]


def test_table_1():
    """Linkless diagrams with 3 edges embeddable in batch-1 single-epoch SGD."""
    N = sympy.Symbol("N", positive=True, integer=True)
    symbolic = list(enumerate_diagrams(3, linkless=True, schedule=sgd(N)))
    concrete = list(enumerate_diagrams(3, linkless=True, schedule=sgd(5)))
    brute = [D for D in enumerate_diagrams(3) if D.is_linkless
             and not any(ancestors(D, v) & set(D.blocks[D.labels[v - 1]]) for v in range(1, 4))]
    assert symbolic == concrete == brute
    assert sorted(D.text() for D in symbolic) == sorted([
        "*(a, b, c)", "*(a(b, c))",              # three blocks: ODE behaviour
        "*(a, a, b)", "*(a, a(b))", "*(a(b, b))",  # two blocks: one noise correlation C
        "*(a, a, a)",                           # one block: the skewness S
    ])
    assert sorted(len(D.blocks) for D in symbolic) == [1, 2, 2, 2, 3, 3]


def test_bad_order():
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(OrderError):
            list(enumerate_diagrams(bad))
