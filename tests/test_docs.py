"""The API reference builds with warnings as errors and documents every public name."""

import importlib
import inspect
import pathlib
import subprocess
import sys

import pytest

from _public import public_modules

sphinx = pytest.importorskip("sphinx", reason="the docs extra (pip install -e '.[docs]')")
from sphinx.util.inventory import InventoryFile  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def public_objects():
    """``(module, name, object)`` for every name in a public module's ``__all__``."""
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            yield module_name, name, getattr(module, name)


def documented_names(obj, name):
    """The names under which the reference may document ``obj``.

    Where it is defined (classes and functions), or under any public module that exports it.
    """
    names = {f"{m}.{n}" for m, n, o in public_objects() if n == name and o is obj}
    if inspect.isclass(obj) or inspect.isfunction(obj):
        names.add(f"{obj.__module__}.{obj.__qualname__}")
    return names


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
                           "html", "-d", str(out / ".doctrees"), str(ROOT / "docs"), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-5000:]
    with open(out / "objects.inv", "rb") as f:
        inv = InventoryFile.load(f, "", lambda base, uri: uri)
    return {name for entries in inv.values() for name in entries}


def test_every_public_module_has_an_api_page():
    pages = (ROOT / "docs" / "api").glob("*.rst")
    text = "\n".join(p.read_text() for p in pages)
    missing = [m for m in public_modules() if f"automodule:: {m}\n" not in text]
    assert not missing, f"no API page for {missing}"


def test_every_public_name_is_documented(inventory):
    missing = sorted(f"{m}.{name}" for m, name, obj in public_objects()
                     if not inspect.ismodule(obj)
                     and not documented_names(obj, name) & inventory)
    assert not missing, f"public names missing from the API reference: {missing}"
