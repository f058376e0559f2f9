"""The readers of symsgd.nets.data on small files written here by hand, and on the bundled digits."""

import gzip
import io
import os
import pathlib
import pickle
import shlex
import struct
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from symsgd.errors import (BackendError, DataError, InputTypeError, MethodError,  # noqa: E402
                           RangeError)
from symsgd.nets.data import cifar10, digits, fashion_mnist  # noqa: E402


# ---------------------------------------------------------------- digits

def test_digits_match_the_bundled_csv():
    sklearn = pytest.importorskip("sklearn")
    path = pathlib.Path(sklearn.__file__).parent / "datasets" / "data" / "digits.csv.gz"
    table = np.loadtxt(path, delimiter=",")
    x, y = digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float64
    assert y.shape == (1797,) and y.dtype == torch.int64
    assert torch.equal(x.reshape(1797, 64), torch.from_numpy(table[:, :64] / 16))
    assert y.tolist() == table[:, 64].astype(int).tolist()
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    counts = torch.bincount(y).tolist()
    assert len(counts) == 10 and sum(counts) == 1797
    assert all(170 <= c <= 190 for c in counts), counts


def test_digits_options():
    pytest.importorskip("sklearn")
    x, y = digits()
    x3, y3 = digits(classes=3, flatten=True, dtype=torch.float32)
    keep = y < 3
    assert x3.shape == (int(keep.sum()), 64) and x3.dtype == torch.float32
    assert torch.equal(y3, y[keep])
    assert torch.equal(x3, x[keep].reshape(-1, 64).float())
    for bad, error in [(0, RangeError), (11, RangeError), (2.0, InputTypeError)]:
        with pytest.raises(error):
            digits(classes=bad)
    with pytest.raises(InputTypeError):
        digits(dtype=torch.int32)


def test_digits_without_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(BackendError, match=r"pip install 'symsgd\[nets\]'"):
        digits()


# ---------------------------------------------------------------- Fashion-MNIST (IDX)

def idx_bytes(magic, dims, payload):
    """An IDX file by hand: big-endian uint32 magic and sizes, then the bytes."""
    return struct.pack(f">{1 + len(dims)}I", magic, *dims) + bytes(payload)


def write_fashion(root, prefix="train", n=5, gz=(False, False), seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    for kind, magic, dims, arr, zipped in [("images-idx3", 2051, (n, 28, 28), images, gz[0]),
                                           ("labels-idx1", 1 + 2048, (n,), labels, gz[1])]:
        data = idx_bytes(magic, dims, arr.tobytes())
        name = f"{prefix}-{kind}-ubyte"
        if zipped:
            (root / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)
    return images, labels


@pytest.mark.parametrize("gz", [(False, False), (True, True), (True, False)])
def test_fashion_mnist_reads_idx_files(tmp_path, gz):
    images, labels = write_fashion(tmp_path, gz=gz)
    x, y = fashion_mnist(tmp_path)
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float64
    assert torch.equal((x * 255).round().to(torch.uint8), torch.from_numpy(images)[:, None])
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert y.dtype == torch.int64 and y.tolist() == labels.tolist()


def test_fashion_mnist_split_limit_dtype(tmp_path):
    images, labels = write_fashion(tmp_path, prefix="t10k", n=4, seed=1)
    x, y = fashion_mnist(str(tmp_path), split="test", limit=3, dtype=torch.float32)
    assert x.shape == (3, 1, 28, 28) and x.dtype == torch.float32
    assert y.tolist() == labels[:3].tolist()
    assert torch.equal(x[2, 0], torch.from_numpy(images[2] / 255.0).float())
    assert fashion_mnist(tmp_path, split="test", limit=10)[0].shape[0] == 4
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        fashion_mnist(tmp_path)                       # only the test files are there


def test_fashion_mnist_missing_folder_or_file(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as info:
        fashion_mnist(missing)
    message = str(info.value)
    assert str(missing) in message and "does not exist" in message
    assert "train-labels-idx1-ubyte" in message and "fashion-mnist" in message
    write_fashion(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="has no train-labels-idx1-ubyte"):
        fashion_mnist(tmp_path)


def corrupt(root, kind, data):
    (root / f"train-{kind}-ubyte").write_bytes(data)


@pytest.mark.parametrize("kind, data, words", [
    ("images-idx3", idx_bytes(2049, (5, 28, 28), bytes(5 * 784)), "magic number"),
    ("images-idx3", idx_bytes(2051, (5, 28, 27), bytes(5 * 756)), "shape"),
    ("images-idx3", idx_bytes(2051, (5, 28, 28), bytes(5 * 784 - 1)), "truncated"),
    ("images-idx3", idx_bytes(2051, (5, 28, 28), bytes(5 * 784 + 1)), "announces"),
    ("images-idx3", b"\x00\x00\x08", "shorter than its header"),
    ("images-idx3", idx_bytes(2051, (4, 28, 28), bytes(4 * 784)), "4 images but"),
    ("labels-idx1", idx_bytes(2051, (5,), bytes(5)), "magic number"),
    ("labels-idx1", idx_bytes(2049, (5,), bytes([0, 1, 2, 3, 10])), "label 10"),
])
def test_fashion_mnist_corrupt_files(tmp_path, kind, data, words):
    write_fashion(tmp_path)
    corrupt(tmp_path, kind, data)
    with pytest.raises(DataError, match=words):
        fashion_mnist(tmp_path)


def test_fashion_mnist_corrupt_gzip(tmp_path):
    write_fashion(tmp_path, gz=(True, False))
    packed = (tmp_path / "train-images-idx3-ubyte.gz").read_bytes()
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match="cannot read"):
        fashion_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="cannot read"):
        fashion_mnist(tmp_path)


@pytest.mark.parametrize("call, error", [
    (lambda root: fashion_mnist(5), InputTypeError),
    (lambda root: fashion_mnist(root, split="val"), MethodError),
    (lambda root: fashion_mnist(root, split=0), InputTypeError),
    (lambda root: fashion_mnist(root, limit=0), RangeError),
    (lambda root: fashion_mnist(root, limit=2.5), InputTypeError),
    (lambda root: fashion_mnist(root, dtype=torch.uint8), InputTypeError),
    (lambda root: cifar10(None), InputTypeError),
    (lambda root: cifar10(root, split="valid"), MethodError),
    (lambda root: cifar10(root, limit=-1), RangeError),
    (lambda root: cifar10(root, dtype=torch.int64), InputTypeError),
])
def test_bad_arguments_raise_typed_errors(tmp_path, call, error):
    with pytest.raises(error):
        call(tmp_path)


# ---------------------------------------------------------------- CIFAR-10 (restricted pickle)

class Py2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle wrote the CIFAR-10 batches: strings as BINSTRING opcodes
    (read back as bytes with ``encoding='bytes'``) and numpy under ``numpy.core.multiarray``."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_string(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_string
    dispatch[bytes] = save_py2_string


def py2_pickle(obj):
    out = io.BytesIO()
    Py2Pickler(out, protocol=2).dump(obj)
    return out.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def batch(n, seed):
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"a batch", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, n).tolist(),
            b"filenames": [f"img{i}.png".encode() for i in range(n)]}


def test_py2_pickles_are_what_the_helper_claims():
    text = py2_pickle(batch(2, 0))
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in text and b"T\x04\x00\x00\x00data" in text
    assert b"numpy._core" not in text and b"_codecs" not in text


@pytest.mark.parametrize("dump", [py2_pickle, lambda b: pickle.dumps(b, protocol=4)],
                         ids=["python2-style", "protocol-4"])
def test_cifar10_reads_batches(tmp_path, dump):
    sizes = [2, 3, 1, 2, 2]
    batches = [batch(n, seed) for seed, n in enumerate(sizes)]
    for i, b in enumerate(batches, start=1):
        (tmp_path / f"data_batch_{i}").write_bytes(dump(b))
    x, y = cifar10(tmp_path)
    assert x.shape == (10, 3, 32, 32) and x.dtype == torch.float64 and y.dtype == torch.int64
    assert y.tolist() == sum((b[b"labels"] for b in batches), [])
    rows = np.concatenate([b[b"data"] for b in batches])
    rng = np.random.default_rng(9)
    for _ in range(50):                       # pixel (r, c) of channel k is byte k*1024 + r*32 + c
        i, k, r, c = (int(rng.integers(m)) for m in (10, 3, 32, 32))
        assert float(x[i, k, r, c]) == rows[i, k * 1024 + r * 32 + c] / 255
    assert float(x.min()) >= 0 and float(x.max()) <= 1


def test_cifar10_test_split_and_limit_reads_only_needed_batches(tmp_path):
    (tmp_path / "test_batch").write_bytes(py2_pickle(batch(4, 7)))
    x, y = cifar10(tmp_path, split="test", limit=3, dtype=torch.float32)
    assert x.shape == (3, 3, 32, 32) and x.dtype == torch.float32
    assert y.tolist() == batch(4, 7)[b"labels"][:3]
    for i, n in enumerate([2, 3], start=1):
        (tmp_path / f"data_batch_{i}").write_bytes(py2_pickle(batch(n, i)))
    for i in (3, 4, 5):
        (tmp_path / f"data_batch_{i}").write_bytes(b"corrupt")
    assert cifar10(tmp_path, limit=5)[0].shape == (5, 3, 32, 32)
    with pytest.raises(DataError, match="data_batch_3"):
        cifar10(tmp_path, limit=6)


def test_cifar10_missing_files(tmp_path):
    with pytest.raises(DataError) as info:
        cifar10(tmp_path / "cifar")
    message = str(info.value)
    assert str(tmp_path / "cifar") in message and "data_batch_5" in message
    assert "cifar-10-batches-py" in message
    for i in range(1, 5):
        (tmp_path / f"data_batch_{i}").write_bytes(py2_pickle(batch(1, i)))
    with pytest.raises(DataError, match="has no data_batch_5"):
        cifar10(tmp_path)


class Shell:
    """An object whose unpickling runs a shell command."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class Exec:
    """An object whose unpickling runs Python code."""

    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return exec, (self.code,)


@pytest.mark.parametrize("make, name", [
    (lambda marker: Shell(f"touch {shlex.quote(str(marker))}"), "system"),
    (lambda marker: Exec(f"open({str(marker)!r}, 'w').close()"), "builtins.exec"),
], ids=["os.system", "exec"])
def test_cifar10_refuses_malicious_pickles(tmp_path, make, name):
    marker = tmp_path / "pwned"
    evil = {b"data": make(marker), b"labels": [0]}
    payload = pickle.dumps(evil, protocol=4)
    (tmp_path / "test_batch").write_bytes(payload)
    with pytest.raises(DataError, match=f"refused.*{name}"):
        cifar10(tmp_path, split="test")
    assert not marker.exists()
    pickle.loads(payload)                     # the file is truly malicious: plain pickle runs it
    assert marker.exists()


@pytest.mark.parametrize("content, words", [
    ([1, 2, 3], "b'data'"),
    ({b"labels": [0]}, "b'data'"),
    ({b"data": np.zeros((1, 3072)), b"labels": [0]}, "uint8"),
    ({b"data": np.zeros((1, 3071), np.uint8), b"labels": [0]}, "3072"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "list of 2"),
    ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, "0 to 9"),
    ({b"data": np.zeros((1, 3072), np.uint8), b"labels": (0,)}, "list"),
    ({b"data": np.zeros((1, 3072), np.uint8)}, "b'labels'"),
])
def test_cifar10_refuses_other_structures(tmp_path, content, words):
    (tmp_path / "test_batch").write_bytes(pickle.dumps(content, protocol=4))
    with pytest.raises(DataError, match=words):
        cifar10(tmp_path, split="test")


def test_cifar10_truncated_pickle(tmp_path):
    (tmp_path / "test_batch").write_bytes(py2_pickle(batch(2, 0))[:-100])
    with pytest.raises(DataError, match="truncated"):
        cifar10(tmp_path, split="test")
