"""The backend table (symsgd._backends): one record per array library, used by every numeric module."""

import ast
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import symsgd
from symsgd._backends import BACKENDS, Backend, get_backend
from symsgd.errors import BackendError

PACKAGE = pathlib.Path(symsgd.__file__).parent

NAMES = ["numpy", pytest.param("torch", marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec("torch") is None, reason="torch not installed"))]


def test_table_names_and_cache():
    assert sorted(BACKENDS) == ["numpy", "torch"]
    be = get_backend("numpy")
    assert isinstance(be, Backend) and be.name == "numpy" and be.device is None and be.xp is np
    assert get_backend("numpy") is be and get_backend(be) is be
    with pytest.raises(AttributeError):
        be.name = "torch"  # frozen


@pytest.mark.parametrize("name", NAMES)
def test_record_operations(name):
    be = get_backend(name)
    a = be.asarray([[1, 2], [3, 4]])
    assert str(a.dtype).endswith("float64")
    assert be.to_numpy(a).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert str(be.asarray(np.arange(3), "int64").dtype).endswith("int64")
    assert str(be.asarray(1.5, "float32").dtype).endswith("float32")
    assert be.isfinite_all(a) and not be.isfinite_all(be.asarray([1.0, np.nan]))
    assert not be.isfinite_all(be.asarray([np.inf]))
    np.testing.assert_array_equal(be.to_numpy(be.eye(2)), np.eye(2))
    z = be.zeros((2, 3), a)
    assert tuple(z.shape) == (2, 3) and str(z.dtype).endswith("float64")
    np.testing.assert_array_equal(be.to_numpy(be.block([[a, a], [a, a]])),
                                  np.block([[be.to_numpy(a)] * 2] * 2))
    read_only = np.ones(2)
    read_only.setflags(write=False)
    assert be.to_numpy(be.asarray(read_only)).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("name,device,message", [
    ("jax", None, r"unknown backend 'jax'; available: \['numpy', 'torch'\]"),
    (3, None, r"unknown backend 3; available: \['numpy', 'torch'\]"),
    ("numpy", "cuda", "numpy backend runs on the CPU only, not on device 'cuda'"),
])
def test_bad_names_and_devices(name, device, message):
    with pytest.raises(BackendError, match=message):
        get_backend(name, device=device)


def test_torch_device_it_cannot_use():
    torch = pytest.importorskip("torch")
    with pytest.raises(BackendError, match="torch cannot use device 'no-such-device'"):
        get_backend("torch", device="no-such-device")
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="torch cannot use device 'cuda'"):
            get_backend("torch", device="cuda")
    cpu = get_backend("torch", device="cpu")
    assert cpu.device == torch.device("cpu") and cpu.asarray([1.0]).device.type == "cpu"


WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None
import symsgd
from symsgd._backends import get_backend
from symsgd.errors import BackendError
try:
    get_backend("torch")
except BackendError as error:
    print(error)
"""


def test_torch_missing_is_a_backend_error():
    done = subprocess.run([sys.executable, "-c", WITHOUT_TORCH], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "the torch backend needs PyTorch, which is not installed" in done.stdout


def test_import_symsgd_does_not_import_torch():
    done = subprocess.run(
        [sys.executable, "-c", "import sys, symsgd, symsgd.lyapunov, symsgd.simulate, "
         "symsgd.codegen; print('torch' in sys.modules)"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "False"


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def test_one_backend_table():
    """Only symsgd/_backends.py imports torch or defines a backend class: no duplicated tables.

    The exception is :mod:`symsgd.nets`, whose subject is torch models (its landscapes are
    ``nn.Module``s and its derivatives ``torch.func`` transforms); it is imported only on
    request, and defines no backend either."""
    nets = PACKAGE / "nets"
    for path in PACKAGE.rglob("*.py"):
        if path.name == "_backends.py":
            continue
        if nets not in path.parents:
            assert not any(m == "torch" or m.startswith("torch.") for m in _imports(path)), path
        classes = [n.name for n in ast.walk(ast.parse(path.read_text()))
                   if isinstance(n, ast.ClassDef)]
        assert not any("backend" in c.lower() and not c.endswith("Error") for c in classes), \
            (path, classes)


@pytest.mark.parametrize("name", NAMES)
def test_every_numeric_module_runs_on_every_backend(name):
    """codegen, Landscape.numeric, simulate and lyapunov take the same names and agree."""
    import sympy

    from symsgd import expected_loss, sgd, simulate
    from symsgd.landscapes import mean_estimation
    from symsgd.lyapunov import stationary_covariance
    from symsgd.optim import HeavyBall

    be = get_backend(name)
    L = mean_estimation(init=1)
    N = sympy.Symbol("N", integer=True, positive=True)
    kernel = expected_loss(sgd(N), 2, method="direct").lambdify(backend=name)
    value = kernel(0.1, L.statistics(kernel.statistics), N=3)
    assert abs(float(be.to_numpy(value)) - float(kernel(0.1, L.statistics(kernel.statistics),
                                                        N=3))) == 0
    num = L.numeric(backend=name)
    theta = be.asarray([[0.5], [2.0]])
    assert be.to_numpy(num.loss(theta, be.asarray([[0.0]]))).shape == (2,)
    sim = simulate(sgd(3), landscape=L, lr=0.1, trials=10, seed=0, backend=name)
    ref = simulate(sgd(3), landscape=L, lr=0.1, trials=10, seed=0)
    np.testing.assert_allclose(sim.test_loss, ref.test_loss, rtol=1e-13)
    x = stationary_covariance(HeavyBall(0.5, 0.5), be.asarray(np.diag([1.0, 2.0])), 1.0,
                              backend=name)
    assert type(x) is type(be.eye(1))
    np.testing.assert_allclose(be.to_numpy(x), stationary_covariance(
        HeavyBall(0.5, 0.5), np.diag([1.0, 2.0]), 1.0), rtol=1e-14)
