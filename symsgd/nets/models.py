"""The torch models of Tenka's experiments, with standard-normal parameters.

Tenka ("SGD at small learning rates", section C.2.1) ran a tanh convnet (two
stride-2 convolutions of kernel 5 and 10 channels, then dense layers of width
10) and logistic regression, with Gaussian Xavier initialization
*parameterized* "so that the Gaussian-Xavier initialization of the linear maps
in each layer differentially pulls back to standard normal initializations of
the parameters": every parameter tensor ``p`` is drawn i.i.d. standard normal
and the layer uses ``scale * p``, where, as in the paper's code,

    ``scale = sqrt(2 / (shape[0] + prod(shape[1:])))``

for a tensor of shape ``shape``: ``sqrt(2 / (fan_out + fan_in))`` for a dense
weight ``(out, in)``, ``sqrt(2 / (out + in * k * k))`` for a convolution
weight ``(out, in, k, k)`` and ``sqrt(2 / (out + 1))`` for a bias ``(out,)``.
The Euclidean metric on the parameters is then the one the paper's
expansions use, and an initialization is ``model.reset(seed)``.

The models are ordinary :class:`torch.nn.Module` objects whose forward pass has
no in-place operation and no data-dependent control flow, so they work under
:func:`torch.func.functional_call` and :func:`torch.func.vmap` (per-sample
gradients, Hessian-vector products, third derivatives).

>>> import torch
>>> net = ConvNet((1, 8, 8), 10, seed=0)
>>> sum(p.numel() for p in net.parameters())
2990
>>> net(torch.zeros(5, 1, 8, 8)).shape
torch.Size([5, 10])
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

try:
    import torch
    import torch.nn.functional as F
except ImportError as _error:
    raise ImportError("symsgd.nets needs PyTorch: pip install 'symsgd[nets]'") from _error

from .._backends import _torch
from ..errors import InputTypeError, MethodError, ShapeError
from ._checks import count as _count
from ._checks import float_dtype as _float_dtype
from ._checks import seed as _seed
from ._checks import tensor as _tensor

__all__ = ["StandardNormalModule", "ConvNet", "LogisticRegression", "MLP", "ACTIVATIONS"]

#: The activations an :class:`MLP` accepts, by name.  All but ``'relu'`` are
#: smooth; ``'relu'`` has zero second and third derivatives almost everywhere.
ACTIVATIONS = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
    "identity": lambda x: x,
    "relu": torch.relu,
}


def _sizes(value, what: str) -> tuple:
    """``value`` as a tuple of positive ints (a list or tuple, not a string)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InputTypeError(f"{what} must be a tuple of positive integers, got {value!r}")
    return tuple(_count(v, f"every entry of {what}") for v in value)


def _conv_out(size: int, kernel: int, padding: int) -> int:
    """The output length of a stride-2 convolution, 0 if the input is too small."""
    return max((size + 2 * padding - kernel) // 2 + 1, 0)


#: A stride-2 convolution on inputs of at most this many times ``kernel ** 2`` pixels is
#: computed as one dense matrix (:func:`_toeplitz_index`).
DENSE_CONV_PIXELS = 4


@functools.lru_cache(maxsize=64)
def _toeplitz_index(height: int, width: int, kernel: int, padding: int) -> torch.Tensor:
    """Where each kernel entry sits in the dense matrix of a stride-2 convolution.

    Entry ``[l, q]`` is the flat index ``i * kernel + j`` of the kernel entry that
    multiplies input pixel ``q`` in output pixel ``l`` (both flattened row-major),
    or ``kernel ** 2`` where pixel ``q`` lies outside that output's window.
    """
    rows, cols = _conv_out(height, kernel, padding), _conv_out(width, kernel, padding)
    i = torch.arange(height).view(1, 1, -1, 1) + padding - 2 * torch.arange(rows).view(-1, 1, 1, 1)
    j = torch.arange(width).view(1, 1, 1, -1) + padding - 2 * torch.arange(cols).view(1, -1, 1, 1)
    inside = (i >= 0) & (i < kernel) & (j >= 0) & (j < kernel)
    return torch.where(inside, i * kernel + j, kernel * kernel).reshape(rows * cols,
                                                                         height * width)


def _conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, padding: int, *,
          dense: bool) -> torch.Tensor:
    """A stride-2 convolution, directly or (``dense``) as one matrix product.

    The dense form builds the ``(out * L, in * H * W)`` matrix of the convolution
    from the kernel by one gather; under :func:`torch.func.vmap` over the weights
    it becomes a batched matrix product, where the direct form falls back to a
    slow grouped convolution on CPU.  Both give the same numbers to rounding.
    """
    if not dense:
        return F.conv2d(x, weight, bias, stride=2, padding=padding)
    n, channels, height, width = x.shape
    out, kernel = weight.shape[0], weight.shape[-1]
    index = _toeplitz_index(height, width, kernel, padding).to(x.device)
    padded = torch.cat([weight.flatten(2), weight.new_zeros(out, channels, 1)], dim=2)
    rows, cols = _conv_out(height, kernel, padding), _conv_out(width, kernel, padding)
    matrix = padded[:, :, index].transpose(1, 2).reshape(out * rows * cols, -1)
    y = F.linear(x.flatten(1), matrix, bias.repeat_interleave(rows * cols))
    return y.view(n, out, rows, cols)


class StandardNormalModule(torch.nn.Module):
    """A torch module whose parameters are standard normal, scaled in the forward pass.

    The base of the models here.  A subclass registers each parameter with
    ``self._parameter(name, shape)``, which records its Xavier factor
    ``sqrt(2 / (shape[0] + prod(shape[1:])))`` in :attr:`scales`, uses
    ``self._scaled(name)`` (the factor times the parameter) in its forward
    pass, and ends its constructor with ``self.reset(seed)``.

    Args:
        dtype: the floating dtype of the parameters.
        device: the torch device of the parameters.

    Attributes:
        scales: the Xavier factor of every parameter, by name.

    Raises:
        InputTypeError: a dtype that is not a floating torch dtype.
        BackendError: a device that torch cannot use.

    >>> StandardNormalModule(dtype=torch.int64)
    Traceback (most recent call last):
    ...
    symsgd.errors.InputTypeError: dtype must be a floating torch dtype ..., got torch.int64
    """

    def __init__(self, *, dtype=torch.float64, device=None):
        super().__init__()
        self._factory = {"dtype": _float_dtype(dtype), "device": _torch(device).device}
        self.scales = {}

    def _parameter(self, name: str, shape: tuple) -> None:
        self.register_parameter(name, torch.nn.Parameter(torch.empty(shape, **self._factory)))
        self.scales[name] = math.sqrt(2.0 / (shape[0] + math.prod(shape[1:])))

    def _scaled(self, name: str) -> torch.Tensor:
        return self.scales[name] * getattr(self, name)

    def reset(self, seed):
        """Draw every parameter i.i.d. standard normal from a generator seeded with ``seed``.

        The draws are one float64 vector on the CPU, split over the parameters in
        registration order (each layer's weight, then its bias) and rounded to
        the model's dtype, so a seed gives the same initialization on every
        device and dtype.

        Args:
            seed: a non-negative integer below ``2**64``.

        Returns:
            the model itself.

        Raises:
            InputTypeError: a seed that is not an integer.
            RangeError: a negative seed, or one of ``2**64`` or more.

        >>> net = MLP([3, 2])
        >>> torch.equal(net.reset(7).weight0, MLP([3, 2]).reset(7).weight0)
        True
        """
        generator = torch.Generator().manual_seed(_seed(seed))
        params = list(self.parameters())
        draws = torch.randn(sum(p.numel() for p in params), generator=generator,
                            dtype=torch.float64)
        with torch.no_grad():
            for p, draw in zip(params, draws.split([p.numel() for p in params])):
                p.copy_(draw.view(p.shape))
        return self


class ConvNet(StandardNormalModule):
    """Tenka's tanh convnet: two stride-2 convolutions and two dense layers.

    ``x -> tanh(conv) -> tanh(conv) -> flatten -> tanh(dense) -> dense``, each
    layer with a bias; every parameter is standard normal and scaled by its
    Xavier factor in the forward pass (see :mod:`symsgd.nets.models`).  With
    kernel 5 and no padding this is the paper's network: on 28x28
    Fashion-MNIST it has 4,490 parameters, on 32x32x3 CIFAR-10 5,890.
    A convolution whose input has at most :data:`DENSE_CONV_PIXELS` times
    ``kernel ** 2`` pixels (both on the 8x8 digits) is computed as one dense
    matrix product, which :func:`torch.func.vmap` over many trials' weights
    batches far faster on CPU than a grouped convolution; the numbers are the
    same to rounding.

    Args:
        in_shape: the shape ``(channels, height, width)`` of one input.
        classes: the number of logits.
        channels: the channels of both convolutions.
        hidden: the width of the hidden dense layer.
        kernel: the side of the square convolution kernels.
        padding: the zero padding of both convolutions; ``None`` takes the
            smallest one from 0 to ``kernel // 2`` for which both convolutions
            have an output: 0 (the paper's network) on 28x28 and 32x32
            images, 1 on scikit-learn's 8x8 digits.
        seed: the seed of the initialization (:meth:`~StandardNormalModule.reset`).
        dtype: the floating dtype of the parameters.
        device: the torch device of the parameters.

    Attributes:
        padding: the padding used.
        scales: the Xavier factor of every parameter, by name.

    Raises:
        InputTypeError: sizes that are not integers, a non-floating dtype.
        RangeError: sizes below 1, a negative padding.
        ShapeError: an ``in_shape`` that is not three sizes, or one too small
            for the convolutions with the given padding.

    >>> net = ConvNet((1, 28, 28), 10)
    >>> sum(p.numel() for p in net.parameters()), net.padding
    (4490, 0)
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_shape, classes, *, channels=10, hidden=10, kernel=5, padding=None,
                 seed=0, dtype=torch.float64, device=None):
        super().__init__(dtype=dtype, device=device)
        in_shape = _sizes(in_shape, "in_shape")
        if len(in_shape) != 3:
            raise ShapeError(f"in_shape must be (channels, height, width), got {in_shape}")
        classes, channels = _count(classes, "classes"), _count(channels, "channels")
        hidden, kernel = _count(hidden, "hidden"), _count(kernel, "kernel")
        candidates = range(kernel // 2 + 1) if padding is None else \
            [_count(padding, "padding", low=0)]

        def spatial(p):
            sides = [_conv_out(_conv_out(s, kernel, p), kernel, p) for s in in_shape[1:]]
            return sides if min(sides) > 0 else None

        padding = next((p for p in candidates if spatial(p)), None)
        if padding is None:
            raise ShapeError(f"inputs of shape {in_shape} are too small for two stride-2 "
                             f"convolutions of kernel {kernel} with padding {candidates[0]}")
        height, width = spatial(padding)
        self.in_shape, self.padding = in_shape, padding
        sides = [in_shape[1:], [_conv_out(s, kernel, padding) for s in in_shape[1:]]]
        self._dense = tuple(math.prod(hw) <= DENSE_CONV_PIXELS * kernel ** 2 for hw in sides)
        self._parameter("weight0", (channels, in_shape[0], kernel, kernel))
        self._parameter("bias0", (channels,))
        self._parameter("weight1", (channels, channels, kernel, kernel))
        self._parameter("bias1", (channels,))
        self._parameter("weight2", (hidden, channels * height * width))
        self._parameter("bias2", (hidden,))
        self._parameter("weight3", (classes, hidden))
        self._parameter("bias3", (classes,))
        self.reset(seed)

    def forward(self, x):
        """The logits ``(n, classes)`` of a batch ``x`` of shape ``(n, *in_shape)``."""
        if tuple(_tensor(x, "the input").shape[1:]) != self.in_shape:
            raise ShapeError(f"ConvNet takes a batch of shape (n, *{self.in_shape}), "
                             f"got {tuple(x.shape)}")
        x = x.to(self.weight0.dtype)
        for layer, dense in zip("01", self._dense, strict=True):
            x = torch.tanh(_conv(x, self._scaled("weight" + layer), self._scaled("bias" + layer),
                                 self.padding, dense=dense))
        x = torch.tanh(F.linear(x.flatten(1), self._scaled("weight2"), self._scaled("bias2")))
        return F.linear(x, self._scaled("weight3"), self._scaled("bias3"))


class MLP(StandardNormalModule):
    """A dense network with an activation between consecutive layers.

    Layer ``i`` maps ``sizes[i]`` features to ``sizes[i + 1]`` with the
    parameters ``weight{i}`` ``(sizes[i + 1], sizes[i])`` and ``bias{i}``,
    standard normal and scaled by their Xavier factors in the forward pass (see
    :mod:`symsgd.nets.models`); the activation follows every layer but the last.

    Args:
        sizes: the widths, inputs first and logits last (at least two).
        activation: a name in :data:`ACTIVATIONS`: ``'tanh'``, ``'sigmoid'``,
            ``'softplus'``, ``'identity'`` or ``'relu'`` (the one non-smooth
            choice: its higher derivatives vanish almost everywhere).
        seed: the seed of the initialization (:meth:`~StandardNormalModule.reset`).
        dtype: the floating dtype of the parameters.
        device: the torch device of the parameters.

    Attributes:
        scales: the Xavier factor of every parameter, by name.

    Raises:
        InputTypeError: sizes that are not integers, a non-floating dtype.
        RangeError: sizes below 1.
        ShapeError: fewer than two sizes.
        MethodError: an unknown activation.

    >>> net = MLP([64, 32, 10], activation="softplus")
    >>> sum(p.numel() for p in net.parameters())
    2410
    >>> net(torch.zeros(3, 1, 8, 8)).shape
    torch.Size([3, 10])
    """

    def __init__(self, sizes, *, activation="tanh", seed=0, dtype=torch.float64, device=None):
        super().__init__(dtype=dtype, device=device)
        sizes = _sizes(sizes, "sizes")
        if len(sizes) < 2:
            raise ShapeError(f"sizes must hold at least the input and output widths, got {sizes}")
        if not isinstance(activation, str):
            raise InputTypeError(f"activation must be a name, one of {sorted(ACTIVATIONS)}, "
                                 f"got {activation!r}")
        if activation not in ACTIVATIONS:
            raise MethodError(f"unknown activation {activation!r}; choose one of "
                              f"{sorted(ACTIVATIONS)}")
        self.sizes, self.activation = sizes, activation
        for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
            self._parameter(f"weight{i}", (fan_out, fan_in))
            self._parameter(f"bias{i}", (fan_out,))
        self.reset(seed)

    def forward(self, x):
        """The outputs ``(n, sizes[-1])`` of a batch ``x`` of shape ``(n, sizes[0])`` (further
        dimensions are flattened: ``(n, 1, 8, 8)`` is ``(n, 64)``)."""
        if _tensor(x, "the input").dim() < 2 or math.prod(x.shape[1:]) != self.sizes[0]:
            raise ShapeError(f"{type(self).__name__} takes a batch of shape (n, {self.sizes[0]}), "
                             f"got {tuple(x.shape)}")
        x = x.flatten(1).to(self.weight0.dtype)
        act = ACTIVATIONS[self.activation]
        layers = len(self.sizes) - 1
        for i in range(layers):
            x = F.linear(x, self._scaled(f"weight{i}"), self._scaled(f"bias{i}"))
            if i < layers - 1:
                x = act(x)
        return x


class LogisticRegression(MLP):
    """Multinomial logistic regression: one dense layer, logits ``W x + b``.

    The parameters ``weight0`` ``(classes, in_features)`` and ``bias0``
    ``(classes,)`` are standard normal and scaled by their Xavier factors in the
    forward pass, as in Tenka's linear model (whose runs started from the
    parameters 0: ``torch.nn.init.zeros_`` on each).  Inputs ``(n, in_features)``
    or ``(n, ...)`` with ``in_features`` entries per point.

    Args:
        in_features: the number of input features.
        classes: the number of logits.
        seed: the seed of the initialization (:meth:`~StandardNormalModule.reset`).
        dtype: the floating dtype of the parameters.
        device: the torch device of the parameters.

    Raises:
        InputTypeError: sizes that are not integers, a non-floating dtype.
        RangeError: sizes below 1.

    >>> net = LogisticRegression(784, 10)
    >>> sum(p.numel() for p in net.parameters())
    7850
    >>> net(torch.zeros(4, 1, 28, 28)).shape
    torch.Size([4, 10])
    """

    def __init__(self, in_features, classes, *, seed=0, dtype=torch.float64, device=None):
        super().__init__([_count(in_features, "in_features"), _count(classes, "classes")],
                         activation="identity", seed=seed, dtype=dtype, device=device)
