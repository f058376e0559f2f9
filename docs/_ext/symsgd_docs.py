"""Sphinx helpers of the symsgd API reference.

* Module-level data re-exported from a private module (``symsgd.codegen.BACKENDS`` comes from
  ``symsgd._backends``) keeps the ``#:`` comment written where it is defined: autodoc reads
  comments only in the module it documents, so it skips such data among ``:members:`` (the
  pages name it in an ``autodata`` directive) and would give it its type's docstring.
* ``.. symsgd-front-door::`` lists the names of ``symsgd.__all__``, one line each (the first
  line of its docstring), linked to the page that documents it.
"""

import functools
import importlib
import inspect
import pkgutil

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective

import symsgd


@functools.cache
def _modules():
    """Every module of the package, private ones included, by name."""
    names = ["symsgd"] + [info.name for info in pkgutil.walk_packages(symsgd.__path__, "symsgd.")
                          if not info.name.endswith(".__main__")]
    return {name: importlib.import_module(name) for name in names}


def _is_public(module_name):
    return not any(part.startswith("_") for part in module_name.split("."))


@functools.cache
def _comments(module_name):
    """The ``#:`` comments of a module's top-level names."""
    try:
        docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
    except Exception:  # no source
        return {}
    return {name: list(lines) for (namespace, name), lines in docs.items() if not namespace}


def _is_data(obj):
    return not (inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj))


def _comment_of(obj, name):
    """``(module, comment lines)`` of the module that defines data ``obj`` as ``name`` with a
    ``#:`` comment, or ``(None, None)``."""
    for module_name, module in _modules().items():
        if getattr(module, name, None) is obj and name in _comments(module_name):
            return module_name, _comments(module_name)[name]
    return None, None


def _process_docstring(app, what, name, obj, options, lines):
    # Without a comment, autodoc gives the data the docstring of its type (``dict``'s).
    if what == "data":
        module_name, _, short = name.rpartition(".")
        if short not in _comments(module_name):
            home, comment = _comment_of(obj, short)
            if comment:
                lines[:] = comment + [""]


def _home(name, obj):
    """The dotted name under which the reference documents ``symsgd.<name>``."""
    if inspect.ismodule(obj):
        return obj.__name__
    if (inspect.isclass(obj) or inspect.isfunction(obj)) and _is_public(obj.__module__):
        return f"{obj.__module__}.{obj.__qualname__}"
    exporting = [m for m, module in _modules().items()
                 if m != "symsgd" and _is_public(m) and name in getattr(module, "__all__", ())
                 and getattr(module, name) is obj]
    if not exporting:
        return f"symsgd.{name}"
    return f"{max(exporting, key=lambda m: m.count('.'))}.{name}"


def _summary(obj, home):
    if _is_data(obj):
        module_name, _, short = home.rpartition(".")
        lines = _comments(module_name).get(short) or _comment_of(obj, short)[1] or []
        text = " ".join(line.strip() for line in lines)
    else:
        text = (inspect.getdoc(obj) or "").split("\n\n")[0]
        text = " ".join(line.strip() for line in text.splitlines())
    return text


class FrontDoor(SphinxDirective):
    """A list of ``symsgd.__all__``: link and summary, one item a name."""

    def run(self):
        items = []
        for name in symsgd.__all__:
            obj = getattr(symsgd, name)
            home = _home(name, obj)
            role = "py:mod" if inspect.ismodule(obj) else "py:obj"
            summary = _summary(obj, home)
            link = f"* :{role}:`symsgd.{name} <{home}>`"
            items.append(f"{link}: {summary}" if summary else link)
        node = nodes.container()
        self.state.nested_parse(StringList(items, source="symsgd.__all__"), self.content_offset,
                                node)
        return node.children


def setup(app):
    app.connect("autodoc-process-docstring", _process_docstring)
    app.add_directive("symsgd-front-door", FrontDoor)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
