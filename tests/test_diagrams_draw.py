"""Drawing: text, LaTeX, TikZ and matplotlib pictures contain the expected elements."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import sympy  # noqa: E402

from symsgd.diagrams import (Diagram, DiagramError, draw, enumerate_diagrams,  # noqa: E402
                             iter_embeddings, to_tikz)
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
    pos = layout(D, embedding=f)
    assert pos[0][0] == 8 and all(pos[v][0] == f[v][1] and abs(pos[v][1] - f[v][0]) < 0.5
                                  for v in range(1, D.n_nodes))
    ax = D.draw(embedding=f)
    assert ax.get_xlabel() == "t" and len(by_gid(ax, "diagram-nodes")[0].get_offsets()) == 5
    plt.close("all")
    with pytest.raises(DiagramError):
        layout(D, embedding=f[:3])


@pytest.mark.parametrize("schedule", [sgd(2, epochs=2), sgd(4, batch=2, epochs=2)], ids=str)
def test_embedded_nodes_stay_in_their_cells_and_never_coincide(schedule):
    """Nodes that share a cell (allowed, and common: both ends of C in one step) are spread
    within it, so none hides another and every outline has a visible length."""
    for D in enumerate_diagrams(3):
        for f in iter_embeddings(D, schedule):
            pos = layout(D, embedding=f)
            assert len(set(pos)) == D.n_nodes
            assert all(pos[v][0] == f[v][1] and abs(pos[v][1] - f[v][0]) < 0.5
                       for v in range(1, D.n_nodes))


def _distance_to_path(point, path):
    px, py = point
    best = float("inf")
    for (x0, y0), (x1, y1) in zip(path, path[1:]):
        dx, dy = x1 - x0, y1 - y0
        s = max(0.0, min(1.0, ((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy or 1)))
        best = min(best, ((px - x0 - s * dx) ** 2 + (py - y0 - s * dy) ** 2) ** 0.5)
    return best


@pytest.mark.parametrize("d", [3, 4])
def test_outlines_pass_over_no_other_node(d):
    """A tie's band joins its own nodes and keeps clear of the others (it bends around a node
    between two of its members, as in *(a(b(a))))."""
    for D in enumerate_diagrams(d):
        fig, ax = plt.subplots()
        draw(D, ax=ax)
        pos = layout(D)
        bands = by_gid(ax, "diagram-block")
        for band, block in zip(bands, [b for b in D.blocks if len(b) > 1]):
            path = [tuple(p) for p in band.get_xydata()]
            assert all(_distance_to_path(pos[v], path) < 1e-9 for v in block)
            assert all(_distance_to_path(pos[v], path) > 0.15
                       for v in range(D.n_nodes) if v not in block), D
        plt.close(fig)
    assert "bend left" in Diagram("*(a(b(a)))").to_tikz()
    assert "bend left" not in Diagram("*(a(a(b)))").to_tikz()


def test_space_time_shaded_under_an_embedding():
    D = Diagram("*(a(a))")
    schedule = sgd(3, epochs=2)
    f = next(iter_embeddings(D, schedule))
    fig, ax = plt.subplots()
    draw(D, ax=ax, embedding=f, schedule=schedule)
    cells = by_gid(ax, "space-time")
    assert sorted((round(r.get_y() + 0.45), round(r.get_x() + 0.45)) for r in cells) \
        == sorted(schedule.cells)
    assert len(by_gid(ax, "diagram-block")) == 1
    plt.close(fig)
    with pytest.raises(DiagramError):
        draw(D, schedule=schedule)


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


def test_notebook_picture_is_a_png_of_the_drawing():
    import io

    import matplotlib.image

    open_before = plt.get_fignums()
    data = Diagram("*(a(b), a)")._repr_png_()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(io.BytesIO(data))[..., :3]
    assert (pixels < 0.5).any()                    # something is drawn on the white page
    assert plt.get_fignums() == open_before        # and no pyplot figure is left behind


def test_pictures_refuse_what_is_not_a_diagram():
    """The drawing module reads a diagram's structure only (it does not import the Diagram
    class, which calls it): anything without that structure is a DiagramError."""
    for picture in (layout, draw, to_tikz):
        with pytest.raises(DiagramError, match="expected a Diagram, got str"):
            picture("*(a, a)")
    assert Diagram("*(a, a)").to_tikz(x=2) == to_tikz(Diagram("*(a, a)"), x=2)
