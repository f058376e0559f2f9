"""Tenka's diagrams: enumeration, symmetry, embeddings into space-time, weights, drawing.

>>> from symsgd.diagrams import Diagram, enumerate_diagrams, weight
>>> from symsgd.schedule import sgd
>>> [str(D) for D in enumerate_diagrams(2, linkless=True, schedule=sgd(3))]
["Diagram('*(a, a)')", "Diagram('*(a, b)')"]
>>> weight(Diagram('*(a, b)'), sgd(3))
9/2
"""

from .diagram import Diagram, DiagramError
from .draw import draw, layout, to_tikz
from .embeddings import count_embeddings, embedding_automorphisms, iter_embeddings, weight
from .enumerate import enumerate_diagrams, rooted_trees, set_partitions
from .resum import PROPAGATORS, Resummed, RTerm, resummed_displacement, resummed_loss, rvalue_terms
from .values import Contribution, contributions, decorated_values, diagram_expansion, uvalue

__all__ = [
    "Diagram", "DiagramError", "enumerate_diagrams", "rooted_trees", "set_partitions",
    "count_embeddings", "iter_embeddings", "embedding_automorphisms", "weight",
    "draw", "layout", "to_tikz",
    "Resummed", "resummed_loss", "resummed_displacement", "rvalue_terms", "RTerm", "PROPAGATORS",
    "uvalue", "decorated_values", "contributions", "Contribution", "diagram_expansion",
]
