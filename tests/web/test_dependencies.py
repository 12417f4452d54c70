"""The web code's direct imports are direct dependencies in pyproject.toml.

A package that only arrives through another one (fastapi through apache-airflow-core)
can disappear with that package's next release, so what the code imports is declared.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WEB_DIR = PROJECT_ROOT / "plugins" / "techflow_ops" / "web"


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_level_modules(folder: Path) -> dict[str, str]:
    """Third-party top-level modules imported anywhere in `folder` (also inside functions), with a file using each."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("__future__", "techflow_ops"):
                    found.setdefault(top, str(path.relative_to(PROJECT_ROOT)))
    return found


def _declared_distributions() -> set[str]:
    """`dependencies` by name, plus what a declared meta-package (one shipping no module,
    like apache-airflow) pins, since declaring the meta-package is how one asks for those."""
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = {_normalized(Requirement(line).name) for line in pyproject["project"]["dependencies"]}
    for name in list(declared):
        distribution = importlib.metadata.distribution(name)
        ships_modules = any(str(f).endswith(".py") for f in distribution.files or ())
        if not ships_modules:
            for requirement in map(Requirement, distribution.requires or ()):
                if requirement.marker is None:
                    declared.add(_normalized(requirement.name))
    return declared


def test_every_module_the_web_code_imports_is_a_declared_dependency():
    providers = importlib.metadata.packages_distributions()
    declared = _declared_distributions()
    undeclared = {
        module: f"{where} (from {', '.join(providers.get(module, ['?']))})"
        for module, where in _imported_top_level_modules(WEB_DIR).items()
        if not declared & {_normalized(d) for d in providers.get(module, [])}
    }
    assert undeclared == {}, "imported by the web code but not in pyproject.toml dependencies"


def test_the_scan_sees_the_frameworks_the_app_is_built_on():
    assert {"fastapi", "starlette", "jinja2", "nh3", "markdown_it", "airflow"} <= set(_imported_top_level_modules(WEB_DIR))
