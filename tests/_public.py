"""The public modules of symsgd, walked once for the tests that check every one of them."""

import importlib.util
import pkgutil

import symsgd

#: torch is an optional extra; without it :mod:`symsgd.nets` is not importable and not walked.
HAS_TORCH = importlib.util.find_spec("torch") is not None


def public_modules() -> list:
    """``symsgd`` and every submodule whose dotted name has no part starting with ``_``, sorted
    (``symsgd.nets`` and its submodules only where torch is installed)."""
    names = ["symsgd"]
    for info in pkgutil.walk_packages(symsgd.__path__, "symsgd."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        if HAS_TORCH or not info.name.startswith("symsgd.nets"):
            names.append(info.name)
    return sorted(names)
