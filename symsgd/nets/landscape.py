"""A loss landscape made of a torch model and a finite population of data.

Following Tenka (section C.2.2), the finite data set *is* the true
distribution: test and training points are drawn from it uniformly and
independently, so the statistics ``G, H, C, S, ...`` that a derived series
needs are population averages.  A :class:`NetLandscape` holds what defines
them: a model (an ``nn.Module`` or a function of a flat parameter vector), a
per-sample loss, the population ``(inputs, targets)`` and the point
``theta_0`` where the statistics are taken.

Parameters are one flat vector of length :attr:`NetLandscape.dim`; an
``nn.Module`` is called through :func:`torch.func.functional_call` with its
parameters unflattened in the order of ``named_parameters()``.

>>> import torch, sympy
>>> from symsgd.landscapes import mean_estimation
>>> net = NetLandscape.from_landscape(mean_estimation(init=1), [[-1], [0], [1]])
>>> net.dim, net.size
(1, 3)
>>> float(net.loss())      # E [theta^2 / 2 + x theta] at theta = 1 over x in {-1, 0, 1}
0.5
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Callable

import sympy
import torch
from torch.func import functional_call

from ..distributions import Dataset
from ..errors import (InputTypeError, LandscapeError, NonFiniteError, ShapeError,
                      SmoothnessWarning)
from ..landscape import Landscape
from ._checks import count, float_dtype, tensor

__all__ = ["NetLandscape"]


def _on(value, what: str, dtype, device) -> torch.Tensor:
    """The tensor ``value`` on ``device``, in ``dtype`` if it holds floating values."""
    value = tensor(value, what)
    return value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)


#: Module types whose output is only piecewise smooth in their input.
_PIECEWISE = (torch.nn.ReLU, torch.nn.ReLU6, torch.nn.LeakyReLU, torch.nn.PReLU, torch.nn.RReLU,
              torch.nn.Hardtanh, torch.nn.Hardsigmoid, torch.nn.Hardswish, torch.nn.Hardshrink,
              torch.nn.Softshrink, torch.nn.MaxPool1d, torch.nn.MaxPool2d, torch.nn.MaxPool3d,
              torch.nn.AdaptiveMaxPool1d, torch.nn.AdaptiveMaxPool2d, torch.nn.AdaptiveMaxPool3d)


def _kinks(model) -> str:
    """The piecewise-smooth parts of a module, named ('' when there is none)."""
    names = sorted({type(m).__name__ for m in model.modules() if isinstance(m, _PIECEWISE)})
    names += sorted({f"activation {m.activation!r}" for m in model.modules()
                     if getattr(m, "activation", None) == "relu"})
    return ", ".join(names)


@functools.lru_cache(maxsize=128)
def torch_function(landscape: Landscape, which: str):
    """A SymPy landscape's ``loss(*params, *data)`` (``which='loss'``) or
    ``test_loss(*params)`` (``'test'``), compiled for torch by :func:`sympy.lambdify`.

    Compiled once per landscape and kept: SymPy registers each generated function's
    source in :mod:`linecache` until it is garbage collected, and collecting one while
    ``linecache.checkcache`` runs (as ``pdb`` and doctest do) raises ``KeyError`` in
    Python 3.11.
    """
    params, data = list(landscape.params), list(landscape.data)
    if which == "loss":
        return sympy.lambdify(params + data, landscape.loss, modules="torch")
    return sympy.lambdify(params, landscape.test_loss, modules="torch")


@dataclass(frozen=True, eq=False)
class NetLandscape:
    """A per-sample loss of a torch model on a finite population, and the point ``theta_0``.

    Args:
        model: an ``nn.Module`` mapping a batch of inputs to outputs, or a
            callable ``model(theta, inputs)`` of a flat parameter vector.
        loss_fn: ``loss_fn(outputs, targets)`` -> per-sample losses of shape
            ``(batch,)`` (e.g. ``torch.nn.functional.cross_entropy(...,
            reduction='none')``); with ``targets=None`` it is called as
            ``loss_fn(outputs)``.
        inputs: the population's inputs, a tensor of shape ``(n, ...)``.
        targets: the population's targets, shape ``(n, ...)``, or ``None``
            (then ``loss_fn`` takes the outputs alone).
        params: ``theta_0``, a flat tensor of length ``dim`` (default: the
            module's current parameters; required for a callable model).
        dtype: the floating type of parameters and floating data
            (``torch.float64`` by default; integer targets stay integers).
        device: where everything lives (default: where ``params`` is, else the CPU).
        chunk: the most per-sample evaluations done in one vectorized call; it
            bounds the memory of every estimate (default: ``2**20 // P``, at least
            16, so that a call holds about ``2**20`` floats per stored vector).
        name: a label for printing.

    Raises:
        InputTypeError: arguments of the wrong type (strings, non-tensors, an
            integer dtype, a model that is not callable).
        ShapeError: inputs and targets of different lengths, an empty
            population, or ``params`` of the wrong length.
        NonFiniteError: non-finite data or parameters, or a non-finite loss at ``theta_0``.
        LandscapeError: a loss that does not give one value per sample.

    Warns:
        SmoothnessWarning: a module with ReLU-like activations or max pooling (the
            loss is only piecewise smooth; see :class:`~symsgd.errors.SmoothnessWarning`).

    >>> import torch
    >>> model = torch.nn.Linear(2, 1, dtype=torch.float64)
    >>> x, y = torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)
    >>> net = NetLandscape(model, lambda out, t: ((out - t) ** 2).sum(-1) / 2, x, y)
    >>> net.dim, net.size, net.loss().shape
    (3, 8, torch.Size([]))
    """

    model: Any
    loss_fn: Callable
    inputs: torch.Tensor
    targets: Any
    _: KW_ONLY
    params: Any = None
    dtype: Any = torch.float64
    device: Any = None
    chunk: int | None = None
    name: str = field(default="net", compare=False)

    def __post_init__(self):
        set_ = object.__setattr__
        dtype = float_dtype(self.dtype)
        if not callable(self.model):
            raise InputTypeError(f"model must be an nn.Module or a callable (theta, inputs), "
                                 f"got {self.model!r}")
        if not callable(self.loss_fn):
            raise InputTypeError(f"loss must be a callable (outputs, targets) -> per-sample "
                                 f"losses, got {self.loss_fn!r}")
        if not isinstance(self.name, str):
            raise InputTypeError(f"name must be a string, got {self.name!r}")
        chunk = None if self.chunk is None else count(self.chunk, "chunk")
        module = isinstance(self.model, torch.nn.Module)
        kinks = _kinks(self.model) if module else ""
        if kinks:
            warnings.warn(f"{kinks} make the loss only piecewise smooth: the "
                          "measured derivatives hold at theta_0, but a series in eta describes "
                          "training only until a sample crosses a kink (see "
                          "symsgd.errors.SmoothnessWarning)", SmoothnessWarning, stacklevel=3)
        params = self.params
        if params is None:
            if not module:
                raise InputTypeError("params (theta_0) is required for a callable model")
            params = torch.cat([p.detach().reshape(-1) for p in self.model.parameters()])
        params = tensor(params, "params").to(dtype=dtype)
        device = torch.device(self.device) if self.device is not None else params.device
        params = params.detach().to(device).reshape(-1).clone()
        if not bool(torch.isfinite(params).all()):
            raise NonFiniteError("params (theta_0) contain NaN or infinity")
        inputs = _on(self.inputs, "inputs", dtype, device)
        targets = self.targets
        if targets is not None:
            targets = _on(targets, "targets", dtype, device)
            if targets.shape[:1] != inputs.shape[:1]:
                raise ShapeError(f"inputs and targets hold different numbers of samples: "
                                 f"{inputs.shape[0]} and {targets.shape[0]}")
        if inputs.ndim == 0 or inputs.shape[0] == 0:
            raise ShapeError("the population is empty: inputs need shape (n, ...) with n >= 1")
        for what, t in (("inputs", inputs), ("targets", targets)):
            if t is not None and t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise NonFiniteError(f"{what} contain NaN or infinity")
        shapes = None
        if module:
            named = list(self.model.named_parameters())
            shapes = tuple((n, p.shape) for n, p in named)
            total = sum(p.numel() for _, p in named)
            if params.numel() != total:
                raise ShapeError(f"params has {params.numel()} entries; the model has {total}")
            buffers = {n: b.to(device) for n, b in self.model.named_buffers()}
        else:
            buffers = {}
        for name, value in (("params", params), ("inputs", inputs), ("targets", targets),
                            ("device", device), ("dtype", dtype), ("_shapes", shapes),
                            ("_buffers", buffers),
                            ("chunk", chunk or max(16, (1 << 20) // params.numel()))):
            set_(self, name, value)
        value = self.losses(params, inputs[:1], None if targets is None else targets[:1])
        if value.shape != (1,):
            raise LandscapeError(f"loss must return one value per sample, got shape "
                                 f"{tuple(value.shape)} for a batch of 1")
        total = self.loss()
        if not bool(torch.isfinite(total)):
            raise NonFiniteError(f"the loss at theta_0 is not finite: {float(total)}")

    # ----------------------------------------------------------------- sizes
    @property
    def dim(self) -> int:
        """The number of parameters ``P``."""
        return self.params.numel()

    @property
    def size(self) -> int:
        """The number of points ``n`` in the population."""
        return self.inputs.shape[0]

    # ------------------------------------------------------------ evaluation
    def _unflatten(self, theta) -> dict:
        out, start = dict(self._buffers), 0
        for name, shape in self._shapes:
            n = shape.numel()
            out[name] = theta[start:start + n].reshape(shape)
            start += n
        return out

    def outputs(self, theta, inputs):
        """The model's outputs at flat parameters ``theta`` on a batch of ``inputs``."""
        if self._shapes is None:
            return self.model(theta, inputs)
        return functional_call(self.model, self._unflatten(theta), (inputs,))

    def losses(self, theta, inputs, targets):
        """Per-sample losses, shape ``(batch,)``."""
        out = self.outputs(theta, inputs)
        return self.loss_fn(out) if targets is None else self.loss_fn(out, targets)

    def sample_loss(self, theta, x, y):
        """The loss of one sample ``(x, y)`` (no batch axis): a scalar, for ``vmap``."""
        return self.losses(theta, x.unsqueeze(0), None if y is None else y.unsqueeze(0))[0]

    def loss(self, *, theta=None):
        """The population (test) loss ``l(theta) = mean_x l_x(theta)`` (default ``theta_0``)."""
        theta = self.params if theta is None else theta
        total = 0
        for start in range(0, self.size, self.chunk):
            stop = min(start + self.chunk, self.size)
            y = None if self.targets is None else self.targets[start:stop]
            total = total + self.losses(theta, self.inputs[start:stop], y).sum()
        return total / self.size

    def point(self, index):
        """The data ``(x, y)`` of population points ``index`` (an int or an index tensor)."""
        return self.inputs[index], None if self.targets is None else self.targets[index]

    # -------------------------------------------------------------- oracles
    @classmethod
    def from_landscape(cls, landscape: Landscape, points, *, dtype=torch.float64, device=None):
        """The torch form of a SymPy landscape on a finite population of data points.

        The per-sample loss is generated by :func:`sympy.lambdify` for torch, so
        the result is an independent oracle: its statistics must equal those of
        ``landscape`` with the law :class:`~symsgd.distributions.Dataset` ``(points)``
        (see :meth:`on_population`).

        Args:
            landscape: a :class:`~symsgd.Landscape` with numeric ``init``.
            points: the population, one data point per row (numbers; one
                column per data symbol).

        Raises:
            InputTypeError: not a Landscape, or a symbolic initialization.
        """
        if not isinstance(landscape, Landscape):
            raise InputTypeError(f"from_landscape needs a symsgd Landscape, got "
                                 f"{type(landscape).__name__}")
        data = Dataset(points)
        init = [sympy.nsimplify(v) for v in landscape.init]
        if any(not v.is_number for v in init):
            raise InputTypeError(f"from_landscape needs a numeric init, got {landscape.init}")
        theta0 = torch.tensor([float(v) for v in init], dtype=float_dtype(dtype))
        xs = torch.tensor([[float(c) for c in p] for p in data.points], dtype=dtype)
        f = torch_function(landscape, "loss")
        p = len(landscape.params)

        def model(theta, x):
            return torch.stack(torch.broadcast_tensors(
                *[theta[i] + 0 * x[:, 0] for i in range(p)]), -1), x

        def loss(outputs):
            th, x = outputs
            value = f(*[th[:, i] for i in range(p)], *[x[:, j] for j in range(x.shape[1])])
            return value + 0 * x[:, 0]

        return cls(model, loss, xs, None, params=theta0, dtype=dtype, device=device,
                   name=landscape.name)

    @staticmethod
    def on_population(landscape: Landscape, points) -> Landscape:
        """``landscape`` with the finite population ``points`` as its data law (exact statistics).

        >>> from symsgd.landscapes import mean_estimation
        >>> NetLandscape.on_population(mean_estimation(), [[-1], [1]]).C
        [[1]]
        """
        if not isinstance(landscape, Landscape):
            raise InputTypeError(f"on_population needs a symsgd Landscape, got "
                                 f"{type(landscape).__name__}")
        return Landscape(landscape.loss, landscape.params, landscape.data, landscape.init,
                         distribution=Dataset(points), name=landscape.name)

    def __repr__(self) -> str:
        return f"NetLandscape({self.name!r}, dim={self.dim}, size={self.size}, " \
               f"dtype={self.dtype}, device={self.device})"
