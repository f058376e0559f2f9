"""Drawing: text, LaTeX, TikZ and matplotlib pictures contain the expected elements."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import sympy  # noqa: E402

from symsgd.diagrams import Diagram, DiagramError, draw, enumerate_diagrams, iter_embeddings  # noqa: E402
from symsgd.diagrams.draw import layout  # noqa: E402
from symsgd.schedule import sgd  # noqa: E402


def by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


@pytest.mark.parametrize("D", list(enumerate_diagrams(3)) + [Diagram("*")], ids=str)
def test_matplotlib_elements(D):
    fig, ax = plt.subplots()
    assert draw(D, ax=ax) is ax
    (edges,) = by_gid(ax, "diagram-edges")
    (nodes,) = by_gid(ax, "diagram-nodes")
    assert len(edges.get_segments()) == D.order
    assert len(nodes.get_offsets()) == D.n_nodes
    assert len(by_gid(ax, "diagram-block")) == sum(len(b) > 1 for b in D.blocks)
    assert sorted(t.get_text() for t in ax.texts) == sorted(D.node_name(v) for v in range(D.n_nodes))
    plt.close(fig)


def test_children_left_of_parents_and_embedding_positions():
    D = Diagram("*(a(b, b), a)")
    pos = layout(D)
    assert all(pos[v][0] < pos[D.parents[v]][0] for v in range(1, D.n_nodes))
    f = next(iter_embeddings(D, sgd(4, epochs=2)))
    pos = layout(D, f)
    assert pos[0][0] == 8 and all(pos[v] == (f[v][1], f[v][0]) for v in range(1, D.n_nodes))
    ax = D.draw(embedding=f)
    assert ax.get_xlabel() == "t" and len(by_gid(ax, "diagram-nodes")[0].get_offsets()) == 5
    plt.close("all")
    with pytest.raises(DiagramError):
        layout(D, f[:3])


def test_tikz_elements():
    for D in enumerate_diagrams(4):
        tikz = D.to_tikz()
        assert tikz.startswith("\\begin{tikzpicture}") and tikz.endswith("\\end{tikzpicture}")
        assert tikz.count("\\node[") == D.n_nodes
        assert tikz.count("\\draw[thick]") == D.order
        assert tikz.count("opacity=0.25") == sum(len(b) > 1 for b in D.blocks)
    f = next(iter_embeddings(Diagram("*(a, a)"), sgd(2, epochs=2)))
    assert "(n0) at (4, " in Diagram("*(a, a)").to_tikz(embedding=f)


def test_text_and_latex_forms():
    for D in enumerate_diagrams(4):
        assert Diagram(D.text()) == D
        assert sympy.latex(D).startswith(r"\mathcal{D}\left[\ast{}")
        assert D._repr_latex_() == "$" + sympy.latex(D) + "$"
    assert sympy.latex(2 * Diagram("*(a, a)")) == r"2 \mathcal{D}\left[\ast{}(a,\,a)\right]"
