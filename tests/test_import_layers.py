"""The import graph of ``dss_provider``, read from the source (AST, nothing imported): no cycles, and the
layers point one way (protocol <- hooks <- handles / operators / sensors / triggers)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "dss_provider"
#: The hook methods that return the seed's handles, documented in the README: the only places where
#: the hook may import the handles (lazily, inside the method).
HANDLE_WRAPPERS = {"get_scenario", "list_scenarios", "create_scenario", "get_testing_status", "fire_scenario"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in ROOT.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _our_module(target: str, importer: str) -> str | None:
    """The module of ours (other than ``importer``) that importing ``target`` loads, if any."""
    for candidate in (target, target.rpartition(".")[0]):
        if candidate in MODULES and candidate != importer:
            return candidate
    return None


def _from_base(node: ast.ImportFrom, package: str) -> str:
    """The absolute module a ``from ... import`` reads from (relative imports resolved in ``package``)."""
    base = node.module or ""
    if node.level:
        anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    return base


def _targets(node: ast.AST, package: str) -> list[str]:
    """What an ``import`` or ``from ... import`` statement names, as absolute dotted names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = _from_base(node, package)
        return [f"{base}.{alias.name}" for alias in node.names]
    return []


def _imports(name: str, *, lazy: bool) -> dict[str, list[str]]:
    """Our modules ``name`` imports at run time -> the functions importing them ("" = module level).
    ``if TYPE_CHECKING:`` blocks are not run time; ``lazy`` adds imports inside functions."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, list[str]] = {}

    def add(target: str, where: str) -> None:
        module = _our_module(target, name)
        if module is not None:
            found.setdefault(module, []).append(where)

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other, where)
                continue
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if lazy:
                    visit(child, child.name)
                continue
            for target in _targets(child, package):
                add(target, where)
            visit(child, where)

    visit(ast.parse(path.read_text(encoding="utf-8")), "")
    return found


def _cycles(lazy: bool) -> list[list[str]]:
    graph = {name: set(_imports(name, lazy=lazy)) for name in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            strong(name)
    return found


def test_the_graph_is_read() -> None:
    """The reader sees the imports it should (else the tests below would pass on an empty graph)."""
    assert "dss_provider.hooks.dss" in _imports("dss_provider.operators._base", lazy=False)
    assert "dss_provider.protocol.endpoints" in _imports("dss_provider.hooks.dss", lazy=False)
    assert "dss_provider.scenario" in _imports("dss_provider.hooks.dss", lazy=True)


@pytest.mark.parametrize("lazy", [False, True], ids=["module level", "with imports inside functions"])
def test_no_module_imports_one_that_imports_it_back(lazy: bool) -> None:
    assert _cycles(lazy) == []


def test_the_protocol_layer_imports_no_io_layer() -> None:
    """``dss_provider.protocol`` (sans-IO) imports only itself, the checks and the exceptions."""
    allowed = ("dss_provider.protocol", "dss_provider.checks", "dss_provider.exceptions")
    for name in MODULES:
        if name.startswith("dss_provider.protocol"):
            bad = [m for m in _imports(name, lazy=True) if not m.startswith(allowed)]
            assert bad == [], f"{name} imports {bad}"


def test_hooks_never_import_the_handles_but_in_the_documented_wrappers() -> None:
    facade = ("dss_provider.handles", "dss_provider.scenario")
    for name in MODULES:
        if not name.startswith("dss_provider.hooks"):
            continue
        for target, where in _imports(name, lazy=True).items():
            if target.startswith(facade):
                assert set(where) <= HANDLE_WRAPPERS, f"{name} imports {target} in {where}"
