"""The package's import graph, read with `ast` (nothing is imported): no cycles, the escalation
core free of SQLAlchemy outside its store, and no module loaded by name at runtime."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "plugins" / "techflow_ops"
PACKAGE = "techflow_ops"


def _module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(PACKAGE_DIR).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    _module_name(path): path
    for path in sorted(PACKAGE_DIR.rglob("*.py"))
    if "migrations" not in path.relative_to(PACKAGE_DIR).parts
}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _imports(module: str) -> set[str]:
    """Every module of the package that `module` imports anywhere in its file (lazy imports
    inside functions included: a cycle behind a function call is still a cycle to a reader)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if _is_package(module) else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            submodules = {f"{target}.{alias.name}" for alias in node.names} & MODULES.keys()
            found.update(submodules)
            # `from pkg import name` runs pkg/__init__ for a name defined there; for submodules
            # only, the package is their parent, already imported with any of its modules.
            if len(submodules) < len(node.names):
                found.add(target)
    return {name for name in found if name in MODULES and name != module}


def _cycles() -> list[list[str]]:
    graph = {module: sorted(_imports(module)) for module in MODULES}
    cycles, state, stack = [], {}, []

    def visit(module: str) -> None:
        state[module] = "active"
        stack.append(module)
        for target in graph[module]:
            if state.get(target) == "active":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module)
    return cycles


def test_the_walker_sees_relative_and_absolute_imports():
    # If resolution broke, every other test here would pass on an empty graph.
    assert f"{PACKAGE}.escalation.store" in _imports(f"{PACKAGE}.escalation.orchestrator")
    assert f"{PACKAGE}.opsdb.schema" in _imports(f"{PACKAGE}.escalation.store")
    assert f"{PACKAGE}.escalation" in _imports(f"{PACKAGE}.web.views")
    assert f"{PACKAGE}.registry" in _imports(f"{PACKAGE}.oncall.config")


def test_no_import_cycle_inside_the_package():
    assert _cycles() == []


def _third_party_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_store_talks_sqlalchemy_in_the_escalation_core():
    talking = sorted(
        path.name for path in (PACKAGE_DIR / "escalation").glob("*.py") if "sqlalchemy" in _third_party_imports(path)
    )
    assert talking == ["store.py"]


def test_no_module_is_loaded_by_name():
    offenders = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name in ("import_module", "__import__"):
                    offenders.append(f"{module}:{node.lineno}")
    assert offenders == []
