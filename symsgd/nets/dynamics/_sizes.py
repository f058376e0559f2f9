"""Sizes shared by the full-batch dynamics (GDC, SDE, noisy GD, SVAG)."""

from __future__ import annotations

from ...errors import RangeError
from .._checks import count

__all__ = ["sizes"]


def sizes(N, steps, batch) -> tuple:
    """``(N, steps, batch)`` as integers with ``1 <= batch <= N`` (typed errors)."""
    N, steps, batch = count(N, "N"), count(steps, "steps"), count(batch, "batch")
    if batch > N:
        raise RangeError(f"batch must be at most N = {N}, got {batch}")
    return N, steps, batch
