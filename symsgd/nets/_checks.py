"""Argument checks shared by the modules of :mod:`symsgd.nets` (typed errors, no parsing)."""

from __future__ import annotations

import numbers

import torch

from ..errors import InputTypeError, RangeError

__all__ = ["count", "seed", "float_dtype", "tensor"]


def count(value, what: str, *, low: int = 1) -> int:
    """``value`` as an ``int`` >= ``low``: :class:`InputTypeError` if not an integer (a bool, a
    string), :class:`RangeError` if too small.

    >>> count(0, "budget", low=2)
    Traceback (most recent call last):
    ...
    symsgd.errors.RangeError: budget must be at least 2, got 0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{what} must be an integer, got {value!r}")
    if value < low:
        raise RangeError(f"{what} must be at least {low}, got {value!r}")
    return int(value)


def seed(value) -> int:
    """``value`` as an ``int`` in ``[0, 2**64)``, the seeds a :class:`torch.Generator` takes."""
    value = count(value, "seed", low=0)
    if value >= 2 ** 64:
        raise RangeError(f"seed must be < 2**64, got {value}")
    return value


def float_dtype(dtype) -> torch.dtype:
    """``dtype`` if it is a floating torch dtype, else :class:`InputTypeError`."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InputTypeError(f"dtype must be a floating torch dtype such as torch.float64, "
                             f"got {dtype!r}")
    return dtype


def tensor(value, what: str) -> torch.Tensor:
    """``value`` if it is a torch tensor, else :class:`InputTypeError` (strings included)."""
    if not isinstance(value, torch.Tensor):
        raise InputTypeError(f"{what} must be a torch.Tensor, got {type(value).__name__}")
    return value
