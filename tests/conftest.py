"""Shared fixtures. Each test area may add its own conftest in a sub-folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = PROJECT_ROOT / "include" / "config"


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped config folder, with runbooks resolvable from it."""
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    runbooks = tmp_path / "include" / "runbooks"
    shutil.copytree(PROJECT_ROOT / "include" / "runbooks", runbooks)
    return target
