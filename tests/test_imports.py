"""The import structure of symsgd: no cycles, and a light ``import symsgd``.

The graph is read from the source with :mod:`ast`, not from a running
interpreter, so it sees every import: at module level, inside functions (a
lazy import is still a dependency) and relative ones, resolved against the
importing module.  Importing ``a.b.c`` from outside the package ``a.b`` also
runs ``a/b/__init__.py``, so such an import depends on that package as well
(this is how ``series -> diagrams -> resum -> series`` closed a cycle although
``series`` only imported ``symsgd.diagrams.values``).
"""

import ast
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "symsgd"


def _modules(package: pathlib.Path = PACKAGE) -> dict:
    """``{dotted name: (path, is_package)}`` for every module of the package."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        out[name] = (path, is_package)
    return out


def _ancestors(name: str) -> list:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imported_names(name: str, is_package: bool, tree: ast.AST):
    """Every absolute module name (or ``module.attribute``) that the module's imports reach."""
    here = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            yield module
            for alias in node.names:
                yield f"{module}.{alias.name}"


def import_graph(package: pathlib.Path = PACKAGE) -> dict:
    """``{module: set of modules it depends on}`` within the package."""
    modules = _modules(package)
    graph = {}
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        deps = set()
        for target in _imported_names(name, is_package, tree):
            if target not in modules:            # ``from pkg import function``: the module
                target = target.rpartition(".")[0]
            if target not in modules:
                continue
            mine = set(_ancestors(name)) | ({name} if is_package else set())
            deps |= {t for t in _ancestors(target) + [target]
                     if t in modules and t not in mine and t != name}
        graph[name] = deps
    return graph


def find_cycle(graph: dict):
    """A list ``[m0, m1, ..., m0]`` of modules importing each other in a circle, or ``None``."""
    state = dict.fromkeys(graph, 0)        # 0 new, 1 on the stack, 2 done
    stack = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state[nxt] == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state[nxt] == 0:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state[node] == 0:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_relative_lazy_and_package_imports(tmp_path):
    """The walker itself, on a small package with one cycle of each kind it must catch."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import f\n")
    (pkg / "a.py").write_text("def f():\n    from .sub.c import g\n    return g\n")
    (pkg / "b.py").write_text("import pkg.a\n")
    (pkg / "sub" / "__init__.py").write_text("from . import d\n")
    (pkg / "sub" / "c.py").write_text("from .d import h\n")
    (pkg / "sub" / "d.py").write_text("from ..b import x\n")
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub", "pkg.sub.c"}          # lazy, relative, package init
    assert graph["pkg.sub"] == {"pkg.sub.d"}
    assert graph["pkg.sub.c"] == {"pkg.sub.d"}                 # its own package is not a dependency
    assert graph["pkg.sub.d"] == {"pkg.b"}
    assert graph["pkg.b"] == {"pkg.a"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub", "pkg.sub.d", "pkg.b", "pkg.a"]
    (pkg / "b.py").write_text("x = 1\n")
    assert find_cycle(import_graph(pkg)) is None


def test_symsgd_has_no_import_cycle():
    graph = import_graph()
    assert {"symsgd", "symsgd.series", "symsgd.diagrams.diagram"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_import_symsgd_loads_neither_torch_nor_matplotlib():
    code = ("import sys, symsgd\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'matplotlib'))\n"
            "print(heavy)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
