"""Lineage never costs a task: a broken or misconfigured listener, transport, transformer or
facet builder leaves every task's outcome as it was. And DAG parsing never loads any of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import DAY, PROJECT_ROOT, openlineage_env, read_events, run_dags


def test_an_unwritable_transport_and_a_missing_transformer_fail_no_task(lineage_runs, tmp_path):
    """The transformer class does not exist and the file's folder is a file: every emit fails."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = openlineage_env(blocker / "events.jsonl")
    transport = json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])
    transport["transformer_class"] = "techflow_ops.lineage.no_such_module.Transformer"
    env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(transport)
    env["AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD"] = "False"  # the provider's default: a fork per event
    runs = run_dags([f"profit:{DAY}"], env)
    assert runs[0]["state"] == "success", runs


def test_a_facet_builder_that_raises_fails_no_task(lineage_runs, tmp_path):
    """The ops DB URL the lineage reads is broken only for lineage (an import hook of the child
    makes `task_lineage` raise): the run succeeds and still emits events, without our facets."""
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(
        "import techflow_ops.lineage.facets as facets\n"
        "def broken(*args, **kwargs):\n"
        "    raise RuntimeError('lineage is broken')\n"
        "facets.task_lineage = broken\n"
        "facets.job_facets = broken\n"
    )
    events_file = tmp_path / "events.jsonl"
    env = openlineage_env(events_file, PYTHONPATH=str(hook_dir))
    runs = run_dags([f"profit:{DAY}"], env)
    assert runs[0]["state"] == "success", runs
    events = read_events(events_file)
    assert events, "the provider still emits its own events"
    assert not any("techflowOperations" in e["job"].get("facets", {}) for e in events)


def test_the_transformer_returns_the_event_unchanged_when_it_cannot_enrich(monkeypatch):
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

    from techflow_ops.lineage import facets, transformer

    event = RunEvent(eventType=RunState.START, eventTime="2026-11-04T00:00:00+00:00",
                     run=Run(runId="01a22eb4-9226-7e1b-9f5a-64fd3924998b"), job=Job(namespace="techflow", name="profit.ingest"),
                     producer="https://example.com")
    monkeypatch.setattr(facets, "job_facets", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("broken")))
    assert transformer.TechflowEventTransformer({}).transform(event) is event
    other = RunEvent(eventType=RunState.START, eventTime="2026-11-04T00:00:00+00:00",
                     run=Run(runId="01a22eb4-9226-7e1b-9f5a-64fd3924998b"), job=Job(namespace="techflow", name="not_ours.task"),
                     producer="https://example.com")
    assert transformer.TechflowEventTransformer({}).transform(other).job.facets == {}


def test_parsing_the_dag_files_loads_no_lineage_module():
    code = (
        "import sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(PROJECT_ROOT / 'dags')!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(sorted(m for m in sys.modules if m.startswith(('techflow_ops.lineage', 'openlineage'))))\n"
    )
    env = {k: v for k, v in openlineage_env(Path("/nonexistent/events.jsonl")).items()
           if not k.startswith("AIRFLOW__OPENLINEAGE__")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout[-500:]
