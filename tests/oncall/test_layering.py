"""The time and scheduling core stays free of the YAML/pydantic parsing layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import techflow_ops

ONCALL = Path(techflow_ops.__file__).parent / "oncall"
PACKAGE = "techflow_ops.oncall"
FORBIDDEN = ("pydantic", "techflow_ops.oncall.config")


def imported_modules(source: str, package: str = PACKAGE) -> set[str]:
    """Absolute names of every module `source` imports, at any depth, relative imports resolved."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from . import config`
    return names


def forbidden(names: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == bad or n.startswith(bad + ".") for bad in FORBIDDEN))


@pytest.mark.parametrize("module", ["timeline.py", "scheduler.py"])
def test_core_modules_import_neither_pydantic_nor_the_config_layer(module):
    # Also follow the on-call modules they import (model.py, timeline.py): no way round via a neighbour.
    seen, todo, bad = set(), [ONCALL / module], []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        names = imported_modules(path.read_text(encoding="utf-8"))
        bad += [f"{path.name}: {name}" for name in forbidden(names)]
        todo += [ONCALL / f"{n.split('.')[2]}.py" for n in names
                 if n.startswith(PACKAGE + ".") and (ONCALL / f"{n.split('.')[2]}.py").exists()]
    assert not bad, bad


@pytest.mark.parametrize("source", ["from .config import Rotation", "from . import config",
                                    "from ..oncall.config import Rotation", "import techflow_ops.oncall.config",
                                    "from techflow_ops.oncall import config", "import pydantic",
                                    "from pydantic.dataclasses import dataclass"])
def test_every_spelling_of_a_forbidden_import_is_caught(source):
    assert forbidden(imported_modules(source)), source
