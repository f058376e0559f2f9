"""The measures of the final weights (``measure=``), shared by every route.

A measure is a signed sum of products of *root factors*: ``'test'``
(the test loss), ``'train'`` (the training loss), ``'weights'`` (a loose end:
the weights themselves).  The generalization gap is ``test - train``, a second
moment the square of such a sum.

>>> root_products("gap", moment=2)
((1, ('test', 'test')), (-2, ('test', 'train')), (1, ('train', 'train')))
>>> root_products("weights", moment=2)
Traceback (most recent call last):
...
symsgd.errors.MeasureError: moment=2 is not available for measure 'weights'
"""

from __future__ import annotations

from .errors import MeasureError

__all__ = ["NAMES", "ROOT_PRODUCTS", "root_products"]

#: Readable names of the measures (``'weights'``: the expected displacement).
NAMES = {"test": "test loss", "train": "training loss", "gap": "generalization gap",
         "weights": "weight displacement"}

#: ``ROOT_PRODUCTS[measure][moment]``: ``(sign, root factors)`` pairs.
ROOT_PRODUCTS = {
    "test": {1: ((1, ("test",)),), 2: ((1, ("test", "test")),)},
    "train": {1: ((1, ("train",)),), 2: ((1, ("train", "train")),)},
    "gap": {1: ((1, ("test",)), (-1, ("train",))),
            2: ((1, ("test", "test")), (-2, ("test", "train")), (1, ("train", "train")))},
    "weights": {1: ((1, ("weights",)),)},
}


def root_products(measure: str, *, moment: int = 1) -> tuple:
    """The ``(sign, root factors)`` pairs of ``E[s^moment]`` for a measure.

    Args:
        measure: ``'test'``, ``'train'``, ``'gap'`` or ``'weights'``.
        moment: 1 for the mean, 2 for the second moment (scalar measures).

    Raises:
        MeasureError: for an unknown measure or an unavailable moment.

    >>> root_products("train")
    ((1, ('train',)),)
    """
    if not isinstance(measure, str) or measure not in ROOT_PRODUCTS:
        raise MeasureError(f"unknown measure {measure!r}; expected one of {sorted(ROOT_PRODUCTS)}")
    if type(moment) is not int or moment not in ROOT_PRODUCTS[measure]:
        raise MeasureError(f"moment={moment!r} is not available for measure {measure!r}")
    return ROOT_PRODUCTS[measure][moment]
