"""On-call fixtures: each test gets its own ops DB (the schedule state lives there), copied from
one migrated template per session so a test pays a file copy, not the migrations."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def _migrated_ops_db(tmp_path_factory) -> Path:
    from techflow_ops.opsdb import upgrade_to_head

    path = tmp_path_factory.mktemp("oncall-template") / "ops.db"
    upgrade_to_head(f"sqlite:///{path}")  # short-lived engine, disposed: the file is checkpointed
    return path


@pytest.fixture(autouse=True)
def oncall_ops_db(_migrated_ops_db, tmp_path, monkeypatch) -> str:
    """A fresh ops DB for this test (TECHFLOW_OPS_DB_URL), the schedule cache cleared around it."""
    from techflow_ops.oncall import clear_schedule_cache

    path = tmp_path / "oncall-ops.db"
    shutil.copyfile(_migrated_ops_db, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("TECHFLOW_OPS_DB_URL", url)
    clear_schedule_cache()
    yield url
    clear_schedule_cache()
