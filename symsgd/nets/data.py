"""Image classification populations as tensors, read offline from local files.

Following Tenka (section C.2.2), a finite data set is the population: the true
distribution is its sum of Dirac masses.  Each reader returns ``(inputs,
targets)``: floating inputs scaled to ``[0, 1]`` of shape ``(n, channels,
height, width)`` and int64 class labels of shape ``(n,)``.

Nothing is ever downloaded: :func:`digits` reads the copy bundled with
scikit-learn; :func:`fashion_mnist` and :func:`cifar10` read the files of a
folder the user names, and raise :class:`~symsgd.errors.DataError` naming the
files expected and where to get them when they are missing or corrupt.

>>> x, y = digits()
>>> x.shape, x.dtype, y.shape
(torch.Size([1797, 1, 8, 8]), torch.float64, torch.Size([1797]))
"""

from __future__ import annotations

import gzip
import io
import os
import pathlib
import pickle

import numpy as np

try:
    import torch
except ImportError as _error:
    raise ImportError("symsgd.nets needs PyTorch: pip install 'symsgd[nets]'") from _error

from .._backends import _torch
from ..errors import BackendError, DataError, InputTypeError, MethodError, RangeError
from ._checks import count as _count
from ._checks import float_dtype as _float_dtype

__all__ = ["digits", "fashion_mnist", "cifar10"]

_FASHION = ("https://github.com/zalandoresearch/fashion-mnist (the four .gz files of its "
            "data/fashion folder; torchvision's FashionMNIST(download=True) puts them in "
            "<root>/FashionMNIST/raw)")
_CIFAR = ("https://www.cs.toronto.edu/~kriz/cifar.html: the folder cifar-10-batches-py "
          "extracted from cifar-10-python.tar.gz")


def _options(dtype, device) -> dict:
    """The checked ``dtype`` and ``device`` of the tensors to return."""
    return {"dtype": _float_dtype(dtype), "device": _torch(device).device}


def _tensors(inputs: np.ndarray, targets: np.ndarray, scale: float, options: dict):
    """``(inputs / scale, targets)`` as torch tensors: floating ones, int64 ones."""
    x = torch.from_numpy(inputs.astype(np.float64) / scale).to(**options)
    return x, torch.from_numpy(targets.astype(np.int64)).to(device=options["device"])


def _limit(limit):
    return None if limit is None else _count(limit, "limit")


def _split(split, choices: dict):
    if not isinstance(split, str):
        raise InputTypeError(f"split must be one of {sorted(choices)}, got {split!r}")
    if split not in choices:
        raise MethodError(f"unknown split {split!r}; choose one of {sorted(choices)}")
    return choices[split]


def _folder(root) -> pathlib.Path:
    if not isinstance(root, (str, os.PathLike)):
        raise InputTypeError(f"root must be a folder's path (a str or a pathlib.Path), "
                             f"got {root!r}")
    return pathlib.Path(root)


def _missing(root: pathlib.Path, name: str, expected: list, source: str) -> DataError:
    where = "does not exist" if not root.is_dir() else f"has no {name}"
    return DataError(f"the folder {str(root)!r} {where}: it must hold the files "
                     f"{', '.join(expected)}; symsgd never downloads, get them from {source}")


def digits(*, classes=10, flatten=False, dtype=torch.float64, device=None):
    """scikit-learn's 8x8 handwritten digits: 1,797 images, about 180 per class.

    Read from the copy bundled with scikit-learn (no download).  Pixels, 0 to 16
    in the file, are divided by 16.

    Args:
        classes: keep the images of the digits ``0 .. classes - 1`` (1 to 10).
        flatten: inputs of shape ``(n, 64)`` instead of ``(n, 1, 8, 8)``.
        dtype: the floating dtype of the inputs.
        device: the torch device of both tensors.

    Returns:
        ``(inputs, targets)``: inputs in ``[0, 1]`` of shape ``(n, 1, 8, 8)``
        (or ``(n, 64)``), int64 targets of shape ``(n,)``.

    Raises:
        BackendError: scikit-learn is not installed (``pip install 'symsgd[nets]'``).
        InputTypeError: a non-integer ``classes`` or a non-floating dtype.
        RangeError: ``classes`` outside 1 to 10.

    >>> x, y = digits(classes=2, flatten=True)
    >>> x.shape, sorted(set(y.tolist())), float(x.min()), float(x.max())
    (torch.Size([360, 64]), [0, 1], 0.0, 1.0)
    """
    classes, options = _count(classes, "classes"), _options(dtype, device)
    if classes > 10:
        raise RangeError(f"classes must be <= 10 (the digits 0 to 9), got {classes}")
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise BackendError("digits() reads the copy of the data bundled with scikit-learn, "
                           "which is not installed: pip install 'symsgd[nets]'") from error
    bunch = load_digits()
    keep = bunch.target < classes
    inputs = bunch.data[keep].reshape(-1, *((64,) if flatten else (1, 8, 8)))
    return _tensors(inputs, bunch.target[keep], 16.0, options)


def _read(path: pathlib.Path) -> bytes:
    """The bytes of ``path``, decompressed if its name ends in ``.gz``."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read {str(path)!r}: {error}") from error


def _idx(path: pathlib.Path, magic: int, shape: tuple) -> np.ndarray:
    """The unsigned-byte array of an IDX file with the given magic number and item shape.

    IDX: a big-endian uint32 magic number ``0x0000080d`` (``0x08``: unsigned
    bytes, ``d``: the number of dimensions), ``d`` big-endian uint32 sizes,
    then the bytes of the array in row-major order, nothing after.
    """
    raw = _read(path)
    ndim = 1 + len(shape)
    header = 4 * (1 + ndim)
    if len(raw) < header:
        raise DataError(f"{str(path)!r} is not an IDX file: {len(raw)} bytes, "
                        f"shorter than its header")
    found, *dims = np.frombuffer(raw, dtype=">u4", count=1 + ndim).tolist()
    if found != magic:
        raise DataError(f"{str(path)!r} has the magic number {found:#010x}, not {magic:#010x}: "
                        "not an IDX file of this kind")
    if tuple(dims[1:]) != shape:
        raise DataError(f"{str(path)!r} holds items of shape {tuple(dims[1:])}, not {shape}")
    size = int(np.prod(dims, dtype=np.int64))
    if len(raw) != header + size:
        raise DataError(f"{str(path)!r} has {len(raw) - header} bytes of data, but its header "
                        f"announces {size} (a truncated or corrupt file)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def fashion_mnist(root, *, split="train", limit=None, dtype=torch.float64, device=None):
    """Fashion-MNIST (Xiao et al. 2017): 28x28 grey images of 10 kinds of clothing.

    Reads the IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``
    (``split='train'``, 60,000 images) or ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte`` (``split='test'``, 10,000 images) from the
    folder ``root``, each uncompressed or gzipped (``.gz``).  The headers are
    checked (magic numbers, sizes, file lengths) and so are the labels.

    Args:
        root: the folder holding the files.
        split: ``'train'`` or ``'test'``.
        limit: keep at most this many images, the first ones; ``None`` keeps all.
        dtype: the floating dtype of the inputs.
        device: the torch device of both tensors.

    Returns:
        ``(inputs, targets)``: inputs in ``[0, 1]`` (bytes divided by 255) of
        shape ``(n, 1, 28, 28)``, int64 targets of shape ``(n,)``.

    Raises:
        DataError: a missing folder or file, or a corrupt one (bad magic number
            or sizes, a truncated file, labels outside 0 to 9, counts of images
            and labels that differ).
        InputTypeError, MethodError, RangeError: a bad ``root``, ``split`` or ``limit``.

    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     root = pathlib.Path(folder)
    ...     _ = (root / "t10k-images-idx3-ubyte").write_bytes(
    ...         np.array([2051, 2, 28, 28], ">u4").tobytes() + bytes(range(256)) * 6 + bytes(32))
    ...     _ = (root / "t10k-labels-idx1-ubyte").write_bytes(
    ...         np.array([2049, 2], ">u4").tobytes() + bytes([3, 7]))
    ...     x, y = fashion_mnist(root, split="test")
    >>> x.shape, y.tolist(), (255 * x[0, 0, 0, :3]).round().tolist()
    (torch.Size([2, 1, 28, 28]), [3, 7], [0.0, 1.0, 2.0])
    """
    root, prefix = _folder(root), _split(split, {"train": "train", "test": "t10k"})
    limit, options = _limit(limit), _options(dtype, device)
    names = [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]
    expected = [f"{n}[.gz]" for n in names]
    paths = []
    for name in names:
        path = next((p for p in (root / name, root / f"{name}.gz") if p.is_file()), None)
        if path is None:
            raise _missing(root, name, expected, _FASHION)
        paths.append(path)
    images = _idx(paths[0], 0x803, (28, 28))
    labels = _idx(paths[1], 0x801, ())
    if len(images) != len(labels):
        raise DataError(f"{str(paths[0])!r} holds {len(images)} images but {str(paths[1])!r} "
                        f"{len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise DataError(f"{str(paths[1])!r} holds the label {labels.max()}; Fashion-MNIST's "
                        "are 0 to 9")
    images, labels = images[:limit], labels[:limit]
    return _tensors(images.reshape(-1, 1, 28, 28), labels, 255.0, options)


def _numpy_globals() -> dict:
    """The only globals a CIFAR-10 batch may name: numpy's array reconstruction."""
    try:
        from numpy._core import multiarray
    except ImportError:
        from numpy.core import multiarray
    out = {}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[module, "_reconstruct"] = multiarray._reconstruct
    out["numpy", "ndarray"] = np.ndarray
    out["numpy", "dtype"] = np.dtype
    return out


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds only numpy arrays and Python's plain containers.

    A pickle can call any importable function while it is read (``os.system``
    with a command of its choosing): unpickling an untrusted file runs its
    author's code.  ``find_class`` is how an unpickler reaches any function or
    class; this one hands out only numpy's array reconstruction (``_reconstruct``,
    ``ndarray``, ``dtype``) and refuses every other name with
    :class:`~symsgd.errors.DataError` before anything runs.
    """

    ALLOWED = _numpy_globals()

    def __init__(self, path: pathlib.Path):
        super().__init__(io.BytesIO(_read(path)), encoding="bytes")
        self.path = str(path)

    def find_class(self, module, name):
        try:
            return self.ALLOWED[module, name]
        except KeyError:
            raise DataError(f"refused to read {self.path!r}: it names {module}.{name}, but a "
                            "CIFAR-10 batch holds only numpy arrays, lists and byte strings "
                            "(symsgd never unpickles anything else)") from None


def _cifar_batch(path: pathlib.Path):
    """The ``(data, labels)`` arrays of one CIFAR-10 python batch, read with
    :class:`_ArrayUnpickler` and checked: a dict with ``b'data'``, a uint8 array
    ``(n, 3072)``, and ``b'labels'``, a list of ``n`` integers from 0 to 9."""
    try:
        batch = _ArrayUnpickler(path).load()
    except DataError:
        raise
    except Exception as error:
        raise DataError(f"{str(path)!r} is not a CIFAR-10 batch (a truncated or corrupt "
                        f"file?): {type(error).__name__}: {error}") from error
    data = batch.get(b"data") if isinstance(batch, dict) else None
    labels = batch.get(b"labels") if isinstance(batch, dict) else None
    if type(data) is not np.ndarray or data.dtype != np.uint8 or data.ndim != 2 or \
            data.shape[1] != 3072:
        raise DataError(f"{str(path)!r} is not a CIFAR-10 batch: it must be a dict whose "
                        "b'data' is a uint8 array of shape (n, 3072)")
    if not isinstance(labels, list) or len(labels) != len(data) or \
            not all(type(v) is int and 0 <= v <= 9 for v in labels):
        raise DataError(f"{str(path)!r} is not a CIFAR-10 batch: its b'labels' must be a list "
                        f"of {len(data)} integers from 0 to 9")
    return data, np.array(labels, dtype=np.int64)


def cifar10(root, *, split="train", limit=None, dtype=torch.float64, device=None):
    """CIFAR-10 (Krizhevsky 2009): 32x32 colour images of 10 classes.

    Reads the "python version" batches ``data_batch_1`` to ``data_batch_5``
    (``split='train'``, 50,000 images) or ``test_batch`` (``split='test'``,
    10,000) from the folder ``root`` (``cifar-10-batches-py``).  These files
    are Python pickles, and unpickling runs whatever functions a file names:
    symsgd never unpickles an untrusted file, so they are read by an unpickler
    that can build nothing but numpy arrays (any other name in the file is
    refused before it runs), and the result must have the batches' exact
    structure: a dict whose ``b'data'`` is a uint8 array ``(n, 3072)`` (red,
    green then blue planes of 32x32 pixels) and ``b'labels'`` a list of ``n``
    integers from 0 to 9.

    Args:
        root: the folder holding the batches.
        split: ``'train'`` or ``'test'``.
        limit: keep at most this many images, the first ones (only the batches
            needed are read); ``None`` keeps all.
        dtype: the floating dtype of the inputs.
        device: the torch device of both tensors.

    Returns:
        ``(inputs, targets)``: inputs in ``[0, 1]`` (bytes divided by 255) of
        shape ``(n, 3, 32, 32)``, int64 targets of shape ``(n,)``.

    Raises:
        DataError: a missing folder or file, a file naming anything but numpy's
            array reconstruction, or one without the batches' structure.
        InputTypeError, MethodError, RangeError: a bad ``root``, ``split`` or ``limit``.

    >>> import pathlib, pickle, tempfile
    >>> batch = {b"data": np.full((2, 3072), 255, np.uint8), b"labels": [4, 2]}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = (pathlib.Path(folder) / "test_batch").write_bytes(pickle.dumps(batch, protocol=4))
    ...     x, y = cifar10(folder, split="test")
    >>> x.shape, y.tolist(), float(x.min())
    (torch.Size([2, 3, 32, 32]), [4, 2], 1.0)
    """
    names = _split(split, {"train": [f"data_batch_{i}" for i in range(1, 6)],
                           "test": ["test_batch"]})
    root, limit, options = _folder(root), _limit(limit), _options(dtype, device)
    for name in names:
        if not (root / name).is_file():
            raise _missing(root, name, names, _CIFAR)
    data, labels, n = [], [], 0
    for name in names:
        if limit is not None and n >= limit:
            break
        d, t = _cifar_batch(root / name)
        data.append(d)
        labels.append(t)
        n += len(d)
    inputs = np.concatenate(data)[:limit].reshape(-1, 3, 32, 32)
    return _tensors(inputs, np.concatenate(labels)[:limit], 255.0, options)
