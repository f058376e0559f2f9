"""The array backends (numpy, torch): one table that every numeric module uses.

A :class:`Backend` is a frozen record of the few operations that differ between
array libraries; code that runs on arrays (compiled kernels in
:mod:`symsgd.codegen`, the Monte Carlo simulator, :meth:`Landscape.numeric
<symsgd.landscape.Landscape.numeric>`, the Lyapunov solvers) is written once
against it and against its namespace ``xp`` (``isfinite``, ``abs``, ``where``,
``sqrt``, ``stack``, ``broadcast_to``, ``linalg.eigh`` and ``linalg.eigvalsh``
are spelled alike in numpy and torch).  :func:`get_backend` builds a record on
first use and caches it per ``(name, device)``, so torch is imported only when
a torch backend is asked for: ``import symsgd`` never imports torch.

>>> be = get_backend('numpy')
>>> be.name, be.device
('numpy', None)
>>> be.to_numpy(be.eye(2) * 3).tolist()
[[3.0, 0.0], [0.0, 3.0]]
>>> get_backend('jax')
Traceback (most recent call last):
...
symsgd.errors.BackendError: unknown backend 'jax'; available: ['numpy', 'torch']
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import BackendError

__all__ = ["Backend", "BACKENDS", "get_backend"]


@dataclass(frozen=True)
class Backend:
    """What symsgd needs from an array library, on one device.

    Attributes:
        name: the key in :data:`BACKENDS` (``'numpy'`` or ``'torch'``).
        device: ``None`` (numpy; torch's default: new arrays on the CPU, tensors
            stay where they are) or a ``torch.device``.
        xp: the array namespace (the ``numpy`` or ``torch`` module).
        modules: the ``modules`` argument of :func:`sympy.lambdify` that
            generates elementwise code for this library.
        asarray: ``asarray(a, dtype='float64', device=None)``: ``a`` (number,
            nested list, numpy array or tensor) as an array of numpy dtype (or
            dtype name) ``dtype`` on ``device`` (``None``: the backend's device).
        to_numpy: array -> numpy array (on the CPU).
        isfinite_all: array -> ``bool``: no NaN and no infinity.
        eye: ``n`` -> float64 identity on the device.
        zeros: ``zeros(shape, like)``: zeros with the dtype and device of ``like``.
        block: nested lists of matrices -> one block matrix.
    """

    name: str
    device: Any
    xp: Any
    modules: str
    asarray: Callable
    to_numpy: Callable
    isfinite_all: Callable
    eye: Callable
    zeros: Callable
    block: Callable


def _numpy(device) -> Backend:
    if device not in (None, "cpu"):
        raise BackendError(f"the numpy backend runs on the CPU only, not on device {device!r}; "
                           "use backend='torch' for other devices")
    return Backend(
        name="numpy", device=None, xp=np, modules="numpy",
        asarray=lambda a, dtype="float64", device=None: np.asarray(a, dtype=dtype),
        to_numpy=np.asarray,
        isfinite_all=lambda a: bool(np.all(np.isfinite(a))),
        eye=lambda n: np.eye(n),
        zeros=lambda shape, like: np.zeros(shape, dtype=np.asarray(like).dtype),
        block=np.block,
    )


def _torch(device) -> Backend:
    try:
        import torch
    except ImportError as error:
        raise BackendError("the torch backend needs PyTorch, which is not installed "
                           "(pip install 'symsgd[torch]'); available without it: ['numpy']") \
            from error
    try:
        dev = None if device is None else torch.device(device)
        torch.empty(0, device=dev)
    except (RuntimeError, TypeError, AssertionError) as error:
        raise BackendError(f"torch cannot use device {device!r}: {error}") from error

    def asarray(a, dtype="float64", device=None):
        dt = getattr(torch, np.dtype(dtype).name)
        target = device if device is not None else dev
        if isinstance(a, torch.Tensor):
            return a.to(dtype=dt, device=target if target is not None else a.device)
        if isinstance(a, np.ndarray):
            a = np.array(a)  # a writable copy: torch does not wrap read-only arrays
        return torch.as_tensor(a, dtype=dt, device=target)

    return Backend(
        name="torch", device=dev, xp=torch, modules="torch",
        asarray=asarray,
        to_numpy=lambda a: a.detach().cpu().numpy() if isinstance(a, torch.Tensor)
        else np.asarray(a),
        isfinite_all=lambda a: bool(torch.isfinite(torch.as_tensor(a)).all()),
        eye=lambda n: torch.eye(n, dtype=torch.float64, device=dev),
        zeros=lambda shape, like: torch.zeros(shape, dtype=like.dtype, device=like.device),
        block=lambda rows: torch.cat([torch.cat(row, dim=1) for row in rows], dim=0),
    )


#: The array backends by name: a function ``device -> Backend`` (use :func:`get_backend`).
BACKENDS = {"numpy": _numpy, "torch": _torch}


@functools.cache
def _cached(name: str, device) -> Backend:
    return BACKENDS[name](device)


def get_backend(name, *, device=None) -> Backend:
    """The :class:`Backend` called ``name`` on ``device`` (built once, then cached).

    Args:
        name: a key of :data:`BACKENDS` (``'numpy'`` or ``'torch'``), or a
            :class:`Backend` (returned as it is when ``device`` is ``None``).
        device: ``None`` (the CPU for numpy; for torch, new arrays on the CPU
            and tensors where they are), ``'cpu'``, or a torch device such as
            ``'cuda'`` or ``'cuda:1'``.

    Raises:
        BackendError: an unknown name (the message lists :data:`BACKENDS`), a
            device the backend cannot use (numpy with ``'cuda'``, torch on a
            device that is not there), or torch not installed.

    >>> get_backend('numpy', device='cuda')
    Traceback (most recent call last):
    ...
    symsgd.errors.BackendError: the numpy backend runs on the CPU only, not on device 'cuda'; use backend='torch' for other devices
    """
    if isinstance(name, Backend) and device is None:
        return name
    if not isinstance(name, str) or name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; available: {sorted(BACKENDS)}")
    key = device if device is None or isinstance(device, str) else str(device)
    return _cached(name, key)
