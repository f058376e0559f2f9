"""Regenerate docs/api/*.rst, one page per public module, grouped by topic.

Run from the repository root after adding or removing a public module or a package-level
name: ``python docs/gen_api.py``.  ``tests/test_docs.py`` fails when a public module has no
page or a public name is missing from the built reference.
"""
import importlib, inspect, pathlib, sys
sys.path.insert(0, "tests")
sys.path.insert(0, "docs/_ext")
from test_docs import public_modules
from symsgd_docs import _comment_of, _comments, _is_data

SECTIONS = [
    ("Front door and results", ["symsgd", "symsgd.expansion", "symsgd.approximations", "symsgd.series", "symsgd.measures", "symsgd.errors"]),
    ("Problems: landscapes, data and schedules", ["symsgd.landscape", "symsgd.landscapes", "symsgd.statistics", "symsgd.distributions", "symsgd.schedule", "symsgd.tensors"]),
    ("Routes", ["symsgd.routes", "symsgd.routes.exact", "symsgd.routes.direct", "symsgd.routes.diagrams"]),
    ("Diagrams", None),
    ("Numerics", ["symsgd.codegen", "symsgd.simulate"]),
    ("Optimizers and Lyapunov covariances", None),
    ("Real networks", ["symsgd.nets", "symsgd.nets.landscape", "symsgd.nets.estimate", "symsgd.nets.predict", "symsgd.nets.spectrum", "symsgd.nets.restrict", "symsgd.nets.montecarlo", "symsgd.nets.campaign", "symsgd.nets.dynamics", "symsgd.nets.dynamics.sgd", "symsgd.nets.dynamics.gdc", "symsgd.nets.dynamics.sde", "symsgd.nets.dynamics.svag", "symsgd.nets.models", "symsgd.nets.data"]),
    ("Command line", ["symsgd.cli"]),
]
mods = public_modules()
out = pathlib.Path("docs/api"); out.mkdir(exist_ok=True)
for p in out.glob("*.rst"): p.unlink()
placed = set()
groups = []
for title, names in SECTIONS:
    if names is None:
        key = "symsgd.diagrams" if title == "Diagrams" else None
        names = [m for m in mods if key and (m == key or m.startswith(key + "."))] if key else \
            [m for m in mods if m.split(".")[1:2] and m.split(".")[1] in ("optim", "lyapunov", "phase_space")]
    names = [m for m in names if m in mods]
    placed |= set(names)
    groups.append((title, names))
rest = [m for m in mods if m not in placed]
if rest: groups.append(("Other modules", rest))
for title, names in groups:
    for m in names:
        mod = importlib.import_module(m)
        head = f"``{m}``"
        subs = [s for s in mods if s.startswith(m + ".")]
        body = f".. automodule:: {m}\n"
        # Data re-exported without a #: comment here: autodoc documents it only when asked by
        # name (docs/_ext/symsgd_docs.py brings the comment from where it is defined).
        borrowed = [n for n in getattr(mod, "__all__", ()) if _is_data(getattr(mod, n))
                    and n not in _comments(m) and _comment_of(getattr(mod, n), n)[1]]
        if not (hasattr(mod, "__path__") and subs):
            body += "   :members:\n"
        if hasattr(mod, "__path__") and subs:
            # Names that a public submodule exports are documented there; the package's page
            # documents the others (defined in the package or in its private modules).
            def exported_below(n, o):
                return any(n in getattr(importlib.import_module(s), "__all__", ())
                           and getattr(importlib.import_module(s), n) is o for s in subs)
            own = [n for n in getattr(mod, "__all__", ()) if not inspect.ismodule(getattr(mod, n))
                   and not exported_below(n, getattr(mod, n)) and n not in borrowed]
            body += f"   :members: {', '.join(own)}\n" if own else ""
            if m == "symsgd":
                body += ("\nThe front door: ``import symsgd`` gives these names, each linked to "
                         "the page that documents it.\n\n.. symsgd-front-door::\n")
            body += "\nThe submodules: " + \
                ", ".join(f":doc:`{s}`" for s in subs if s.count(".") == m.count(".") + 1) + ".\n"
        body += "".join(f"\n.. autodata:: {m}.{n}\n" for n in borrowed
                        if not (hasattr(mod, "__path__") and subs and exported_below(n, getattr(mod, n))))
        (out / f"{m}.rst").write_text(f"{head}\n{'=' * len(head)}\n\n{body}")
idx = ["API reference", "=============", "",
       "Every public module, with its docstrings. The top level re-exports the front door.", ""]
for title, names in groups:
    if not names: continue
    idx += [title, "-" * len(title), "", ".. toctree::", "   :maxdepth: 1", ""]
    idx += [f"   {m}" for m in names] + [""]
(out / "index.rst").write_text("\n".join(idx))
print(groups)
