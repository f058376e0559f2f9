"""The error of the diagram machinery, in a module of its own so that every part can raise it.

>>> from symsgd.diagrams import Diagram, DiagramError
>>> issubclass(DiagramError, ValueError)
True
"""

from ..errors import SymsgdError

__all__ = ["DiagramError"]


class DiagramError(SymsgdError, ValueError):
    """An invalid diagram: not a tree, a partition that does not cover the nodes, ...

    >>> from symsgd.diagrams import Diagram
    >>> Diagram([0, 0], ['x'])
    Traceback (most recent call last):
    ...
    symsgd.diagrams._errors.DiagramError: 2 non-root nodes but 1 labels
    """
