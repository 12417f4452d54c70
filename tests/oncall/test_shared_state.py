"""Two processes, one ops DB: an override made in one process (the CLI, or the Python API the web
app calls) is seen by a long-running process's `get_schedule_service()` and by its escalation
engine (`read_oncall`) on their next call, and by `oncall now` in a third process. On SQLite and
PostgreSQL, with real processes (the cache under test is per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from techflow_ops.oncall.model import Override
from techflow_ops.oncall.published import read_published
from techflow_ops.oncall.service import add_override, remove_override

from .test_state import with_shipped_history

CLI = str(Path(sys.executable).parent / "techflow-ops")
AT = datetime(2027, 1, 13, 18, 0, tzinfo=timezone.utc)  # a Wednesday, 13:00 New York, inside the shipped horizon
MEMBERS = ("priya", "marcus", "sofia", "jonas")

# The long-running process: warms its schedule cache and its escalation engine, then answers
# "who is primary at AT" for both on every line read from stdin.
READER = """
import json, sys
from datetime import datetime
from techflow_ops.escalation.orchestrator import Escalation
from techflow_ops.escalation.policy import read_oncall
from techflow_ops.oncall import get_schedule_service

config_dir, at = sys.argv[1], datetime.fromisoformat(sys.argv[2])
escalation = Escalation(config_dir=config_dir)
for _ in sys.stdin:
    now = get_schedule_service(config_dir).now(at)
    print(json.dumps({"service": now.primary, "source": now.sources.get("primary"),
                      "engine": read_oncall(escalation.schedule, at).primary}), flush=True)
"""


class Reader:
    def __init__(self, config_dir: Path, env: dict):
        self.process = subprocess.Popen([sys.executable, "-c", READER, str(config_dir), AT.isoformat()], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def ask(self) -> dict:
        self.process.stdin.write("?\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the reader process died (exit {self.process.poll()})"
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def holder(shifts, role: str, at: datetime) -> str:
    return next(s.person for s in shifts if s.role == role and s.start <= at < s.end)


def check_two_processes_share_the_state(config_copy: Path, url: str, monkeypatch) -> None:
    shipped = read_published(with_shipped_history(config_copy))
    scheduled = holder(shipped.shifts, "primary", AT)
    stand_in = next(p for p in MEMBERS if p not in (scheduled, holder(shipped.shifts, "secondary", AT)))
    monkeypatch.setenv("TECHFLOW_OPS_DB_URL", url)
    env = os.environ | {"TECHFLOW_OPS_DB_URL": url}
    reader = Reader(config_copy, env)
    try:
        assert reader.ask() == {"service": scheduled, "source": "schedule", "engine": scheduled}
        # Another process (the CLI) adds an override: the reader's next call sees it.
        subprocess.run([CLI, "oncall", "override", "add", "--config-dir", str(config_copy), "--person", stand_in,
                        "--role", "primary", "--start", "2027-01-13T14:00:00Z", "--end", "2027-01-13T22:00:00Z",
                        "--reason", "doctor", "--id", "cli"], env=env, check=True, capture_output=True)
        assert reader.ask() == {"service": stand_in, "source": "override", "engine": stand_in}
        now = subprocess.run([CLI, "oncall", "now", "--config-dir", str(config_copy), "--at", "2027-01-13T18:00:00Z",
                              "--format", "json"], env=env, capture_output=True, text=True)
        assert json.loads(now.stdout)["primary"] == stand_in
        # The Python API (what the web app calls), from this test process: remove it, then add another.
        assert remove_override(config_copy, "cli", by="web:alice")
        assert reader.ask() == {"service": scheduled, "source": "schedule", "engine": scheduled}
        add_override(config_copy, Override("web", stand_in, "primary", datetime(2027, 1, 13, 17, tzinfo=timezone.utc),
                                           datetime(2027, 1, 13, 19, tzinfo=timezone.utc), "swap from the UI"), by="web:alice")
        assert reader.ask() == {"service": stand_in, "source": "override", "engine": stand_in}
    finally:
        reader.close()


def test_two_processes_share_one_sqlite_ops_db(config_copy, oncall_ops_db, monkeypatch):
    check_two_processes_share_the_state(config_copy, oncall_ops_db, monkeypatch)


@pytest.mark.postgres
def test_two_processes_share_one_postgresql_ops_db(config_copy, monkeypatch):
    from tests.pipelines.conftest import throwaway_postgres_databases

    from techflow_ops.opsdb import dispose_engines

    with throwaway_postgres_databases("techflow_oncall_test") as make_database:
        try:
            check_two_processes_share_the_state(config_copy, make_database(), monkeypatch)
        finally:
            dispose_engines()
