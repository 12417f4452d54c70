"""Runbook tests work on temp copies of the config and runbooks, never on the shipped files."""

from __future__ import annotations

from pathlib import Path

import pytest

from techflow_ops.registry import load_registry


@pytest.fixture
def project_copy(config_copy: Path) -> Path:
    """A temp project root holding include/config and include/runbooks copies."""
    return config_copy.parent


@pytest.fixture
def copy_registry(project_copy: Path):
    return load_registry(project_copy / "config", project_root=project_copy)

