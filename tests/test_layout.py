"""The package's shape: no import cycles (lazy imports included), no long functions outside the kernels.

A function's length is its body's, docstring included, from its first line to its last; the
parameter list does not count (a command's typer options, formatted one per line, are declarations,
not logic). The import graph is read from the source (every ``import`` statement anywhere in a module: at the
top, inside functions, under ``TYPE_CHECKING``), so a cycle hidden behind a lazy import fails here
too. A package's ``__init__`` importing its own children is an edge like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import initlab

ROOT = Path(initlab.__file__).parent
MAX_FUNCTION_LINES = 80
COMPILED = {"initlab.kernels"}  # numba kernels: one function per loop nest, kept whole for speed


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _target(name: str, modules: dict[str, Path]) -> str:
    while name not in modules:
        name = name.rsplit(".", 1)[0]
    return name


def import_graph() -> dict[str, set[str]]:
    """Module -> the initlab modules it imports anywhere in its source."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                names = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
            graph[module].update(_target(n, modules) for n in names if n == "initlab" or n.startswith("initlab."))
        graph[module].discard(module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def function_lengths(source: str) -> dict[str, int]:
    """Name -> body length in lines (docstring included, parameter list not) of every function in ``source``."""
    out = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[node.name] = node.end_lineno - node.body[0].lineno + 1
    return out


def long_functions() -> list[tuple[str, str, int]]:
    out = []
    for module, path in _modules().items():
        if module not in COMPILED:
            out += [(module, f, n) for f, n in function_lengths(path.read_text()).items() if n > MAX_FUNCTION_LINES]
    return out


def test_the_checker_sees_a_cycle_and_a_lazy_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = import_graph()
    assert "initlab.network" in graph["initlab.training"]  # a top-level import is seen
    assert "initlab.kernels" in graph["initlab.training"]  # and a lazy one, inside a function


def test_a_long_function_is_seen():
    body = "    x = 1\n" * MAX_FUNCTION_LINES
    source = "def ok(\n    a,\n    b,\n):\n" + body + '\n\ndef long():\n    "doc"\n' + body
    assert function_lengths(source) == {"ok": MAX_FUNCTION_LINES, "long": MAX_FUNCTION_LINES + 1}


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_no_long_functions():
    assert long_functions() == [], f"functions over {MAX_FUNCTION_LINES} lines"
