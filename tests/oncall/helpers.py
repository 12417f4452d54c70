"""Helpers for on-call tests: edit a temp config copy's rotation YAML and reload."""

from __future__ import annotations

from pathlib import Path

import yaml

from techflow_ops.oncall import load_schedule_service
from techflow_ops.registry import clear_registry_cache


def edit_oncall(config_dir: Path, change) -> None:
    path = config_dir / "oncall.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def write_overrides(config_dir: Path, overrides: list[dict]) -> None:
    (config_dir / "oncall_overrides.yaml").write_text(yaml.safe_dump({"overrides": overrides}, sort_keys=False))


def service(config_dir: Path, now=None):
    clear_registry_cache()
    return load_schedule_service(config_dir, now=now)
