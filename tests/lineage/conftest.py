"""The five pipeline DAGs run once, for real (`dag.test()`), in a process started with the
embedded default's OpenLineage configuration (file transport through TechFlow's transformer),
plus a Kafka outage run that fails and pages. Tests read the events the file transport wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).resolve().parent / "run_pipeline_dags.py"
DAY = date(2026, 11, 4)
OUTAGE_DAY = date(2026, 11, 5)
PIPELINES = ("profit", "growth", "engagement", "executive_investor", "experiment_team")
TRANSFORMER = "techflow_ops.lineage.transformer.TechflowEventTransformer"


def openlineage_env(events_file: Path, **extra: str) -> dict[str, str]:
    """The environment `scripts/start.sh` gives Airflow for lineage, writing to `events_file`."""
    transport = {"type": "transform", "transformer_class": TRANSFORMER,
                 "transport": {"type": "file", "log_file_path": str(events_file), "append": True}}
    return {**os.environ, "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "techflow", "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
            "TECHFLOW_DEADLINE_ALERTS": "off", **extra}


def run_dags(specs: list[str], env: dict[str, str], timeout: int = 600) -> list[dict]:
    result = subprocess.run([sys.executable, str(RUNNER), *specs], env=env, capture_output=True, text=True,
                            timeout=timeout, cwd=PROJECT_ROOT)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RUNS_JSON: ")]
    assert result.returncode == 0 and lines, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return json.loads(lines[-1].removeprefix("RUNS_JSON: "))


def read_events(events_file: Path) -> list[dict]:
    if not events_file.exists():
        return []
    return [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]


@dataclass
class LineageRuns:
    runs: list[dict]
    events: list[dict]
    by_run: dict[str, list[dict]] = field(default_factory=dict)

    def run(self, pipeline_id: str, day: date) -> dict:
        return next(r for r in self.runs if r["pipeline"] == pipeline_id and r["date"] == day.isoformat())

    def events_of(self, pipeline_id: str, day: date = DAY) -> list[dict]:
        """The events of one DAG run: its own and its tasks' (whose parent facet names the run)."""
        dag_run_id = self.run(pipeline_id, day)["run_id"]
        found = []
        for event in self.events:
            facets = event["run"].get("facets", {})
            own = facets.get("airflowDagRun", {}).get("dagRun", {}).get("run_id")
            task = facets.get("airflow", {}).get("dagRun", {}).get("run_id")
            if dag_run_id in (own, task) and event["job"]["name"].partition(".")[0] == pipeline_id:
                found.append(event)
        return found


@pytest.fixture(scope="session")
def lineage_runs(airflow_db, tmp_path_factory) -> LineageRuns:
    from techflow_ops.pipelines.synthetic import FaultSpec, GeneratorConfig, generate

    generate(GeneratorConfig(start=date(2026, 11, 2), end=OUTAGE_DAY, accounts=12, events_per_day=400,
                             faults=(FaultSpec.parse(f"click_events:{OUTAGE_DAY}:stale"),)))
    events_file = tmp_path_factory.mktemp("openlineage") / "events.jsonl"
    specs = [f"{p}:{DAY}" for p in PIPELINES] + [f"engagement:{OUTAGE_DAY}"]
    runs = run_dags(specs, openlineage_env(events_file))
    return LineageRuns(runs=runs, events=read_events(events_file))
