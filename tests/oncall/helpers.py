"""Helpers for on-call tests: edit a temp config copy's rotation YAML, set the ops DB's state, reload."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import yaml

from techflow_ops.oncall import load_schedule_service, store
from techflow_ops.oncall.model import Override
from techflow_ops.oncall.service import publish_schedule
from techflow_ops.opsdb import get_engine
from techflow_ops.registry import clear_registry_cache


def edit_oncall(config_dir: Path, change) -> None:
    path = config_dir / "oncall.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def write_overrides_yaml(config_dir: Path, overrides: list[dict]) -> None:
    """The legacy overrides file (still checked by `config check`, imported once into the ops DB)."""
    (config_dir / "oncall_overrides.yaml").write_text(yaml.safe_dump({"overrides": overrides}, sort_keys=False))


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def set_overrides(config_dir: Path, overrides: list[dict]) -> None:
    """Make these the rotation's active overrides in the test's ops DB (as a hand-edited file
    used to be: written as given, checked when the service loads them)."""
    svc = service(config_dir)  # runs the first-use import, so it cannot bring the YAML back later
    rotation, now = svc.rotation.id, datetime.now(timezone.utc)
    with get_engine().begin() as connection:
        for old in store.load_overrides(connection, rotation):
            store.remove_override(connection, rotation, old.id, removed_by="test", at=now)
        for o in overrides:
            store.add_override(connection, rotation, Override(o["id"], o["person"], o["role"], _utc(o["start"]), _utc(o["end"]),
                                                              o["reason"]), created_by="test", at=now)


def publish_at(config_dir: Path, at: datetime):
    """`oncall publish --at`: into the test's ops DB."""
    clear_registry_cache()
    return publish_schedule(config_dir, at)


def service(config_dir: Path, now=None):
    clear_registry_cache()
    return load_schedule_service(config_dir, now=now)
