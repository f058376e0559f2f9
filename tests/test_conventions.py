"""The front-door conventions of the public API, checked mechanically with ``inspect``.

The public API is ``symsgd.__all__`` and the ``__all__`` of every public
submodule (no path component starting with ``_``).  For every public function,
class constructor and public method (``__call__`` included):

* every parameter that has a default is keyword-only (the problem
  positionally, options by name);
* no parameter is named ``quantity`` (the word is ``measure``), ``resum`` (the
  resummed form is its own function) or ``learning_rate`` and its synonyms;
* ``eta`` is the symbolic learning rate: a parameter of that name defaults to a
  SymPy Symbol; numeric learning rates are ``lr``, which never defaults to a
  Symbol;
* ``order`` is only ever the power of ``eta``: a parameter, attribute or
  property of that name is documented as such (its description mentions
  ``eta``), so e.g. an optimizer's number of state blocks is not an ``order``;
* no public class has a ``quantity`` attribute.

Constructors of SymPy objects (``sympy.Basic`` subclasses such as
:class:`~symsgd.diagrams.Diagram`) are exempt from the keyword-only rule: SymPy
rebuilds every object as ``type(obj)(*obj.args)``, so their arguments are
positional by SymPy's protocol; so are the SymPy methods they override
(``sort_key(order=None)``).

A console-script entry point keeps argparse's convention ``main(argv=None)``
(:data:`ENTRY_POINTS`): its one argument is the command line, not an option.
"""

import importlib
import inspect
import re

import pytest
import sympy

import symsgd
from _public import public_modules

FORBIDDEN = {
    "quantity": "the word is `measure`",
    "resum": "the resummed form is its own function (resummed_loss)",
    "learning_rate": "numeric learning rates are `lr`, symbolic ones `eta`",
    "learning_rates": "numeric learning rates are `lr`, symbolic ones `eta`",
    "step_size": "numeric learning rates are `lr`, symbolic ones `eta`",
    "stepsize": "numeric learning rates are `lr`, symbolic ones `eta`",
    "lrs": "numeric learning rates are `lr`, symbolic ones `eta`",
}

#: Callables exempt from the keyword-only rule, with the reason.
ENTRY_POINTS = {"symsgd.cli.main": "argparse's main(argv=None): the command line itself"}


def _own(cls) -> list:
    """The classes of ``cls``'s MRO that symsgd defines (their methods are symsgd's API)."""
    return [c for c in cls.__mro__ if c.__module__.split(".")[0] == "symsgd"]


def _describes_eta(doc: str | None, name: str = "order") -> bool:
    """Whether a docstring describes ``name`` in terms of ``eta``: its ``name:`` entry (Args or
    Attributes) if it has one, else the whole docstring."""
    doc = inspect.cleandoc(doc or "")
    entry = re.search(rf"^\s*{name}(?: \([^)]*\))?:(.*(?:\n(?!\s*\w+(?: \([^)]*\))?:).*)*)",
                      doc, re.M)
    return "eta" in (entry.group(1) if entry else doc)


def check_signature(where: str, function, problems: list, doc: str | None = None) -> None:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    doc = inspect.getdoc(function) if doc is None else doc
    for p in signature.parameters.values():
        if p.name in ("self", "cls"):
            continue
        if p.default is not p.empty and p.kind is not p.KEYWORD_ONLY:
            problems.append(f"{where}: option {p.name!r} (default {p.default!r}) is not "
                            "keyword-only")
        if p.name in FORBIDDEN:
            problems.append(f"{where}: parameter {p.name!r}: {FORBIDDEN[p.name]}")
        if p.name == "eta" and not isinstance(p.default, sympy.Symbol):
            problems.append(f"{where}: parameter 'eta' is the learning-rate Symbol (default ETA);"
                            " a numeric learning rate is `lr`")
        if p.name == "lr" and isinstance(p.default, sympy.Symbol):
            problems.append(f"{where}: parameter 'lr' is numeric; the Symbol is `eta`")
        if p.name == "order" and not _describes_eta(doc):
            problems.append(f"{where}: parameter 'order' is not documented as a power of eta")


def check_class(where: str, cls, problems: list) -> None:
    own = _own(cls)
    if not own:
        return
    if not issubclass(cls, sympy.Basic):
        for c in own:
            init = vars(c).get("__init__") or vars(c).get("__new__")
            if init is not None:
                check_signature(f"{where}()", cls, problems, doc=inspect.getdoc(cls))
                break
    seen = set()
    for c in own:
        for name, member in vars(c).items():
            if name in seen or (name.startswith("_") and name != "__call__"):
                continue
            if issubclass(cls, sympy.Basic) and hasattr(sympy.Expr, name):
                continue                  # SymPy's own protocol (sort_key(order=None), ...)
            seen.add(name)
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if inspect.isfunction(member):
                check_signature(f"{where}.{name}", member, problems)
    if hasattr(cls, "quantity"):
        problems.append(f"{where}.quantity: the word is `measure` (or a free-text `label`)")
    if hasattr(cls, "order"):
        static = inspect.getattr_static(cls, "order")
        if isinstance(static, property):
            docs = [inspect.getattr_static(c, "order").__doc__ for c in cls.__mro__
                    if "order" in vars(c)]
            doc = next((d for d in docs if d), "")
            ok = "eta" in doc
        else:
            ok = _describes_eta(inspect.getdoc(cls))
        if not ok:
            problems.append(f"{where}.order is not documented as a power of eta (the word is "
                            "reserved for it)")


def violations(module_name: str) -> list:
    module = importlib.import_module(module_name)
    problems = []
    if not hasattr(module, "__all__"):
        return [f"{module_name} has no __all__"]
    for name in module.__all__:
        obj = getattr(module, name)
        where = f"{module_name}.{name}"
        if inspect.ismodule(obj):
            continue                      # checked as a module of its own
        if inspect.isclass(obj):
            check_class(where, obj, problems)
        elif callable(obj) and where not in ENTRY_POINTS:
            check_signature(where, obj, problems)
    return problems


@pytest.mark.parametrize("module_name", public_modules())
def test_public_api_follows_the_conventions(module_name):
    problems = violations(module_name)
    assert not problems, "\n".join(problems)


def test_the_checker_flags_each_kind_of_violation():
    """The checks above on a made-up API: every rule fires, and a conforming API passes."""
    import dataclasses

    def bad(schedule, order, landscape=None, *, quantity="test", learning_rate=0.1, eta=0.1):
        """No mention of the learning-rate symbol."""

    def good(schedule, order, *, landscape=None, measure="test", eta=symsgd.ETA, lr=0.1):
        """Args:
            order: the highest power of ``eta``.
        """

    @dataclasses.dataclass(frozen=True)
    class Optimizer:
        """An optimizer."""

        lr: float = 0.1

        @property
        def order(self) -> int:
            """The number of state blocks."""
            return 1

        def step(self, weights, scale=1.0):
            """One step."""

    Optimizer.__module__ = "symsgd.fake"
    problems = []
    check_signature("bad", bad, problems)
    check_class("Optimizer", Optimizer, problems)
    text = "\n".join(problems)
    for expected in ["bad: option 'landscape'", "bad: parameter 'quantity'",
                     "bad: parameter 'learning_rate'", "bad: parameter 'eta'",
                     "bad: parameter 'order'", "Optimizer(): option 'lr'",
                     "Optimizer.step: option 'scale'", "Optimizer.order"]:
        assert expected in text, (expected, text)
    assert len(problems) == 8, text
    problems = []
    check_signature("good", good, problems)
    assert problems == []


def test_every_public_module_is_walked():
    names = public_modules()
    assert {"symsgd", "symsgd.routes", "symsgd.routes.direct", "symsgd.diagrams",
            "symsgd.diagrams.resum", "symsgd.expansion"} <= set(names)
    assert not any("._" in name for name in names)
