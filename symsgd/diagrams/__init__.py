"""Tenka's diagrams: enumeration, symmetry, embeddings into space-time, values, drawing.

The machinery of the diagram route (Tenka, sections 2.2-2.4, A and B.3); the
route itself, the sum over diagrams, is :mod:`symsgd.routes.diagrams`, and
the resummed (linkless) form is :func:`symsgd.resummed_loss`.

>>> from symsgd.diagrams import Diagram, enumerate_diagrams, weight
>>> from symsgd.schedule import sgd
>>> [str(D) for D in enumerate_diagrams(2, linkless=True, schedule=sgd(3))]
["Diagram('*(a, a)')", "Diagram('*(a, b)')"]
>>> weight(Diagram('*(a, b)'), sgd(3))
9/2
"""

from ._canon import set_partitions
from ._errors import DiagramError
from .diagram import Diagram
from .draw import draw, layout, to_tikz
from .embeddings import count_embeddings, embedding_automorphisms, iter_embeddings, weight
from .enumerate import enumerate_diagrams, rooted_trees
from .resum import PROPAGATORS, Resummed, RTerm, rvalue_terms
from .values import Contribution, contributions_of, decorated_values, uvalue

__all__ = [
    "Diagram", "DiagramError", "enumerate_diagrams", "rooted_trees", "set_partitions",
    "count_embeddings", "iter_embeddings", "embedding_automorphisms", "weight",
    "draw", "layout", "to_tikz",
    "Resummed", "rvalue_terms", "RTerm", "PROPAGATORS",
    "uvalue", "decorated_values", "Contribution", "contributions_of",
]
