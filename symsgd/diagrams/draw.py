"""Pictures of diagrams: TikZ code and matplotlib drawings.

Nodes run left to right, children before parents, the root rightmost: by
depth, or by time when an embedding is given (the root at time ``T``, rows
top to bottom, nodes that share a cell side by side within it, optionally
over the schedule's shaded space-time).  Nodes are coloured by block; every
block with several nodes is shown as a translucent outline (a thick rounded
band through its nodes, bent into an arc where a straight band would cover
a node outside the block).

The pictures read only the diagram's structure (its parents, blocks and node
names), so this module does not depend on :mod:`symsgd.diagrams.diagram`;
:class:`~symsgd.diagrams.Diagram`'s drawing methods call it.

>>> from symsgd.diagrams import Diagram
>>> print(to_tikz(Diagram('*(a, a)')))
\\begin{tikzpicture}[x=1cm, y=0.7cm]
  \\node[circle, fill=black, inner sep=2pt] (n0) at (1, 0.5) {};
  \\node[circle, fill=red!80!black, inner sep=2pt] (n1) at (0, 0) {};
  \\node[circle, fill=red!80!black, inner sep=2pt] (n2) at (0, 1) {};
  \\draw[red, opacity=0.25, line width=9pt, line cap=round, line join=round] (n1.center) -- (n2.center);
  \\draw[thick] (n1) -- (n0);
  \\draw[thick] (n2) -- (n0);
\\end{tikzpicture}
"""

from __future__ import annotations

import itertools
import numbers

from .._sympify import no_text
from ..errors import InputTypeError
from ._errors import DiagramError

__all__ = ["layout", "to_tikz", "draw"]

_TIKZ_COLORS = ("red", "blue", "green!60!black", "orange", "violet", "teal", "brown", "magenta")
_MPL_COLORS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:cyan",
               "tab:brown", "tab:pink")


#: What a picture reads from a diagram.
_STRUCTURE = ("order", "n_nodes", "parents", "children", "depths", "blocks", "labels",
              "node_name", "text")


def _check(D):
    if not all(hasattr(D, name) for name in _STRUCTURE):
        raise DiagramError(f"expected a Diagram, got {type(D).__name__}")
    return D


def layout(D, *, embedding=None) -> list[tuple[float, float]]:
    """Positions ``(x, y)`` of the nodes of ``D``.

    Without an embedding, ``x`` is the height above the deepest leaf (root
    rightmost) and ``y`` spreads the leaves in order, a parent at the mean of
    its children.  With an embedding (``embedding[v] = (n, t)``), ``x = t``,
    ``y = n`` and the root sits at ``x = T`` (given as ``embedding[0][1]``, or
    one more than the latest time) at the mean row of its children.  Nodes
    that share a cell are spread vertically within it (less than half a row
    from its centre), in node order, so that none hides another.

    >>> from symsgd.diagrams import Diagram
    >>> layout(Diagram('*(a(b))'))
    [(2, 0.0), (1, 0.0), (0, 0.0)]
    >>> layout(Diagram('*(a, a)'), embedding=[(None, 1), (0, 0), (0, 0)])
    [(1.0, 0.0), (0.0, -0.15), (0.0, 0.15)]

    Raises:
        DiagramError: ``D`` is not a diagram, or the embedding has the wrong length.
        InputTypeError: a string in the embedding, or a cell or unit length that is not a
            real number.
    """
    kids = _check(D).children
    if embedding is not None:
        embedding = list(no_text(embedding, "embedding"))
        if len(embedding) != D.n_nodes:
            raise DiagramError(f"the embedding needs {D.n_nodes} cells (root first)")
        try:
            pos = [(0.0, 0.0)] + [(_real(t, "t"), _real(n, "n")) for n, t in embedding[1:]]
        except (TypeError, ValueError) as error:
            if isinstance(error, InputTypeError):
                raise
            raise DiagramError("each cell of the embedding is a pair (n, t) of numbers") \
                from error
        sharing: dict = {}
        for v in range(1, D.n_nodes):
            sharing.setdefault(pos[v], []).append(v)
        for (t, n), nodes in sharing.items():
            step = min(0.3, 0.8 / len(nodes))
            for i, v in enumerate(nodes):
                pos[v] = (t, n + (i - (len(nodes) - 1) / 2) * step)
        root = embedding[0]
        T = root[1] if root is not None and root[1] is not None else \
            max((p[0] for p in pos[1:]), default=-1) + 1
        rows = [pos[c][1] for c in kids[0]]
        pos[0] = (float(T), sum(rows) / len(rows) if rows else 0.0)
        return pos
    depths = D.depths
    top = max(depths)
    y = [0.0] * D.n_nodes
    leaves = 0
    for v in _postorder(kids):
        if kids[v]:
            y[v] = sum(y[c] for c in kids[v]) / len(kids[v])
        else:
            y[v] = float(leaves)
            leaves += 1
    return [(top - depths[v], y[v]) for v in range(D.n_nodes)]


def _postorder(kids):
    out = []
    stack = [(0, False)]
    while stack:
        v, done = stack.pop()
        if done:
            out.append(v)
            continue
        stack.append((v, True))
        stack.extend((c, False) for c in reversed(kids[v]))
    return out


def _outline_steps(pos, block) -> list[tuple[int, int, bool]]:
    """The outline of a block: its nodes in layout order, each consecutive pair ``(u, w)``
    with whether a straight band between them would pass over another node."""
    members = sorted(block, key=lambda v: pos[v])
    others = [pos[v] for v in range(len(pos)) if v not in block]
    steps = []
    for u, w in itertools.pairwise(members):
        (x0, y0), (x1, y1) = pos[u], pos[w]
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy
        covered = length2 > 0 and any(
            0 < ((px - x0) * dx + (py - y0) * dy) / length2 < 1
            and abs((px - x0) * dy - (py - y0) * dx) ** 2 < 0.04 * length2
            for px, py in others)
        steps.append((u, w, covered))
    return steps


def _arc(p, q, height: float = 0.4, samples: int = 16) -> list[tuple[float, float]]:
    """Points after ``p`` up to ``q`` of a parabolic arc rising ``height`` to the left of p -> q."""
    (x0, y0), (x1, y1) = p, q
    length = ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
    nx, ny = -(y1 - y0) / length, (x1 - x0) / length
    return [(x0 + s * (x1 - x0) + 4 * height * s * (1 - s) * nx,
             y0 + s * (y1 - y0) + 4 * height * s * (1 - s) * ny)
            for s in (i / samples for i in range(1, samples + 1))]


def _fmt(x: float) -> str:
    return f"{x:g}"


def _real(x, what: str) -> float:
    """``x`` as a float if it is a real number (never parsed from a string)."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise InputTypeError(f"{what} must be a real number, got {x!r}")
    return float(x)


def to_tikz(D, *, embedding=None, x: float = 1.0, y: float = 0.7) -> str:
    """TikZ code (a ``tikzpicture``) drawing ``D``, optionally at an embedding's cells.

    Args:
        D: the diagram.
        embedding: optional cells ``embedding[v] = (n, t)`` (see :func:`layout`).
        x, y: the unit lengths in cm.

    Raises:
        DiagramError: ``D`` is not a diagram, or the embedding has the wrong length.
        InputTypeError: a string in the embedding, or a cell or unit length that is not a
            real number.

    >>> from symsgd.diagrams import Diagram
    >>> 'x=2cm' in to_tikz(Diagram('*(a)'), x=2)
    True
    """
    x, y = _real(x, "x"), _real(y, "y")
    pos = layout(D, embedding=embedding)
    labels = D.labels
    lines = [f"\\begin{{tikzpicture}}[x={_fmt(x)}cm, y={_fmt(y)}cm]"]
    for v, (px, py) in enumerate(pos):
        fill = "black" if v == 0 else _TIKZ_COLORS[labels[v - 1] % len(_TIKZ_COLORS)] + "!80!black"
        lines.append(f"  \\node[circle, fill={fill}, inner sep=2pt] (n{v}) at "
                     f"({_fmt(px)}, {_fmt(py)}) {{}};")
    for b, block in enumerate(D.blocks):
        if len(block) > 1:
            steps = _outline_steps(pos, block)
            path = f"(n{steps[0][0]}.center)" + "".join(
                f" {'to[bend left=40]' if covered else '--'} (n{w}.center)"
                for _, w, covered in steps)
            lines.append(f"  \\draw[{_TIKZ_COLORS[b % len(_TIKZ_COLORS)]}, opacity=0.25, "
                         f"line width=9pt, line cap=round, line join=round] {path};")
    for v, p in enumerate(D.parents):
        if p is not None:
            lines.append(f"  \\draw[thick] (n{v}) -- (n{p});")
    lines.append("\\end{tikzpicture}")
    return "\n".join(lines)


def draw(D, *, ax=None, embedding=None, labels: bool = True, node_size: float = 80,
         schedule=None):
    """Draw ``D`` with matplotlib and return the axes.

    Args:
        D: the diagram.
        ax: the axes to draw on (a new figure's if ``None``).
        embedding: optional cells ``embedding[v] = (n, t)``: nodes are placed
            at their times (x) and rows (y, top to bottom).
        labels: write each node's block letter (the root as ``*``).
        node_size: marker area of the nodes.
        schedule: with an embedding, a concrete deterministic schedule whose
            space-time cells ``(n, t)`` are shaded behind the nodes.

    Artists carry ``gid`` s: ``'diagram-edges'`` (one segment per edge),
    ``'diagram-nodes'`` (one point per node), ``'diagram-block'`` (one
    outline per block with several nodes) and ``'space-time'`` (one square
    per cell of ``schedule``).

    Raises:
        DiagramError: ``D`` is not a diagram, or a schedule without an embedding.

    >>> import matplotlib
    >>> matplotlib.use('Agg')
    >>> from symsgd.diagrams import Diagram
    >>> ax = draw(Diagram('*(a, a(b))'))
    >>> len(ax.collections[0].get_segments()), len(ax.collections[1].get_offsets())
    (3, 4)
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import MaxNLocator

    if schedule is not None and embedding is None:
        raise DiagramError("a schedule's space-time is drawn under an embedding; give one")
    pos = layout(D, embedding=embedding)
    cells = sorted(schedule.cells) if schedule is not None else []
    outlines = []
    for b, block in enumerate(D.blocks):
        if len(block) > 1:
            steps = _outline_steps(pos, block)
            pts = [pos[steps[0][0]]]
            for u, w, covered in steps:
                pts += _arc(pos[u], pos[w]) if covered else [pos[w]]
            outlines.append((b, pts))
    drawn = pos + [p for _, pts in outlines for p in pts]
    xs = [p[0] for p in drawn] + [t for _, t in cells]
    ys = [p[1] for p in drawn] + [n for n, _ in cells]
    if ax is None:
        size = ((1.2 + 0.8 * D.order, 1.2 + 0.5 * D.order) if embedding is None else
                (1.6 + 0.45 * (max(xs) - min(xs)), 1.4 + 0.45 * (max(ys) - min(ys))))
        _, ax = plt.subplots(figsize=size)
    for n, t in cells:
        ax.add_patch(Rectangle((t - 0.45, n - 0.45), 0.9, 0.9, color="0.88", zorder=0,
                               gid="space-time"))
    segments = [(pos[v], pos[p]) for v, p in enumerate(D.parents) if p is not None]
    ax.add_collection(LineCollection(segments, colors="black", linewidths=1.5, zorder=2,
                                     gid="diagram-edges"))
    colors = ["black"] + [_MPL_COLORS[b % len(_MPL_COLORS)] for b in D.labels]
    ax.scatter([p[0] for p in pos], [p[1] for p in pos], s=node_size, c=colors, zorder=3,
               gid="diagram-nodes")
    for b, pts in outlines:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=_MPL_COLORS[b % len(_MPL_COLORS)],
                alpha=0.25, linewidth=16, solid_capstyle="round", solid_joinstyle="round",
                zorder=1, gid="diagram-block")
    if labels:
        for v, (px, py) in enumerate(pos):
            ax.annotate(D.node_name(v), (px, py), textcoords="offset points", xytext=(5, 5), fontsize=9)
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    if embedding is not None:
        ax.invert_yaxis()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("t")
        ax.set_ylabel("n")
        ax.grid(True, alpha=0.3)
    else:
        ax.set_axis_off()
    ax.set_title(D.text(), fontsize=10)
    return ax
