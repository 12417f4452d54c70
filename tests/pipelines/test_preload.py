"""`plugins/airflow_local_settings.py` preloads DAG parsing in the processes that fork parsers.

Each probe is a fresh interpreter started the way Airflow starts a component (its argv is
what the local settings look at); it imports Airflow, which imports the local settings,
then parses a pipeline DAG file in a forked child, as the dag-processor does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

PROBE = r"""
import json, os, sys, time
command, edit = sys.argv[1], sys.argv[2:]
sys.argv = ["airflow", *command.split()]
import airflow  # noqa: F401  imports airflow_local_settings
from airflow.dag_processing.dagbag import DagBag
preloaded = "techflow_ops.pipelines.dag_factory" in sys.modules
if edit:  # change a file on disk after the parent loaded it, as an operator would
    path, old, new = edit
    text = open(path).read()
    assert old in text, old
    time.sleep(0.01)
    open(path, "w").write(text.replace(old, new, 1))
read_end, write_end = os.pipe()
if os.fork() == 0:
    bag = DagBag(dag_folder=os.path.join(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], "profit.py"))
    dag = bag.dags.get("profit")
    os.write(write_end, json.dumps({
        "errors": [str(e) for e in bag.import_errors.values()],
        "owner": dag.default_args["techflow_ownership"]["primary_owner"]["name"] if dag else None,
        "doc_md": dag.doc_md if dag else None,
    }).encode())
    os._exit(0)
os.close(write_end)
child = json.loads(os.read(read_end, 1 << 20))
os.wait()
print(json.dumps({"preloaded": preloaded, **child}))
"""


def _probe(command: str, config_dir, *edit: str, **env: str) -> dict:
    run_env = {**os.environ, "TECHFLOW_CONFIG_DIR": str(config_dir), **env}
    run_env.pop("TECHFLOW_PRELOAD", None)
    run_env.update(env)
    out = subprocess.run([sys.executable, "-c", PROBE, command, *edit], capture_output=True, text=True,
                         env=run_env, cwd=PROJECT_ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1]) | {"stderr": out.stderr}


def test_the_dag_processor_preloads_and_its_forked_parse_sees_an_edit_made_after(config_copy):
    people = config_copy / "people.yaml"
    result = _probe("dag-processor", config_copy, str(people), "name: Priya Raman", "name: Priya Raman-Okafor")
    assert result["preloaded"] is True
    assert result["errors"] == []
    assert result["owner"] == "Priya Raman-Okafor"


def test_a_runbook_edit_after_the_preload_reaches_the_dag_doc(config_copy):
    runbook = config_copy.parent / "include" / "runbooks" / "profit.md"
    first_heading = next(line for line in runbook.read_text().splitlines() if line.startswith("# "))
    result = _probe("scheduler", config_copy, str(runbook), first_heading, "# Profit runbook, revised",
                    TECHFLOW_RUNBOOKS_DIR=str(runbook.parent))
    assert result["preloaded"] is True
    assert "[Profit runbook, revised]" in result["doc_md"]


def test_a_config_broken_after_the_preload_is_an_import_error_naming_file_field_and_value(config_copy):
    result = _probe("celery worker", config_copy, str(config_copy / "pipelines.yaml"),
                    "criticality: high", "criticality: catastrophic")
    assert result["preloaded"] is True
    (error,) = result["errors"]
    assert "pipelines.yaml" in error and "criticality" in error and "'catastrophic'" in error


def test_a_config_broken_before_start_leaves_airflow_running_and_the_parse_reports_it(config_copy):
    pipelines = config_copy / "pipelines.yaml"
    pipelines.write_text(pipelines.read_text().replace("criticality: high", "criticality: catastrophic", 1))
    result = _probe("dag-processor", config_copy)
    assert result["preloaded"] is True  # the factory module is imported; the registry is not
    assert "DAG parsing not preloaded" in result["stderr"]
    (error,) = result["errors"]
    assert "pipelines.yaml" in error and "'catastrophic'" in error


def test_other_processes_and_preload_off_are_left_alone(config_copy):
    assert _probe("api-server", config_copy)["preloaded"] is False
    assert _probe("dag-processor", config_copy, TECHFLOW_PRELOAD="off")["preloaded"] is False


# --- task processes: what a worker's forked task process starts with ------------------------

TASK_PROBE = r"""
import json, os, sys
sys.argv = ["airflow", *sys.argv[1].split()]
import airflow  # noqa: F401  imports airflow_local_settings
import gc
parent_pid = os.getpid()
parent_engines = sorted((str(o.url), o.pool.checkedin() + o.pool.checkedout(), id(o.pool)) for o in gc.get_objects()
                        if type(o).__name__ == "Engine" and "airflow.db" not in str(o.url))
read_end, write_end = os.pipe()
if os.fork() == 0:  # as supervise_task does, in the LocalExecutor worker / Celery pool child forked from this one
    modules = {name: name in sys.modules for name in (
        "great_expectations", "techflow_ops.quality.validation", "techflow_ops.escalation.orchestrator",
        "techflow_ops.escalation.outbox", "airflow.providers.smtp.notifications.smtp", "holidays")}
    runners = []
    if modules["techflow_ops.quality.validation"]:
        from techflow_ops.pipelines import warehouse
        from techflow_ops.quality import validation
        runners = [{"built_in_parent": r._pid == parent_pid, "has_context": r.context is not None,
                    "url": r.warehouse_url, "configured": r.warehouse_url == warehouse.warehouse_url(),
                    "same_as_get_runner": validation.get_runner() is r}
                   for r in validation._runners.values()]
    from techflow_ops.oncall import service  # light; what the preload loaded is in its cache
    from techflow_ops.opsdb import engine as opsdb_engine
    ops_engine = {}
    if opsdb_engine.verified_by_parent():
        engine = opsdb_engine.get_engine()
        ops_engine = {"url": str(engine.url), "pool_renewed": id(engine.pool) not in {e[2] for e in parent_engines},
                      "compiled_statements": len(engine._compiled_cache)}
    os.write(write_end, json.dumps({"modules": modules, "runners": runners,
                                    "schedule_loaded": bool(service._cache._entries),
                                    "ops_db_verified": opsdb_engine.verified_by_parent(),
                                    "ops_engine": ops_engine}).encode())
    os._exit(0)
os.close(write_end)
child = json.loads(os.read(read_end, 1 << 20))
os.wait()
print(json.dumps({**child, "parent_engines": parent_engines}))
"""


def _task_probe(command: str, **env: str) -> dict:
    run_env = {**os.environ}
    run_env.pop("TECHFLOW_PRELOAD", None)
    run_env.update(env)
    out = subprocess.run([sys.executable, "-c", TASK_PROBE, command], capture_output=True, text=True,
                         env=run_env, cwd=PROJECT_ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_task_process_forked_from_a_local_executor_scheduler_starts_with_gx_and_escalation_loaded():
    result = _task_probe("scheduler", AIRFLOW__CORE__EXECUTOR="LocalExecutor")
    assert all(result["modules"].values()), result["modules"]
    (runner,) = result["runners"]
    # The GX context and data source were built once, in the parent, for the configured warehouse,
    # and the task's get_runner() hands out that same runner.
    assert runner == {"built_in_parent": True, "has_context": True, "url": runner["url"], "configured": True,
                      "same_as_get_runner": True}
    assert result["schedule_loaded"] is True
    assert result["ops_db_verified"] is True  # the parent brought the ops DB to head: the task skips that check
    # No connection crosses the fork: every engine alive in the parent has an empty pool (a
    # warehouse engine GX tested its connection with may still await garbage collection,
    # disposed). The parent handed its one ops DB engine down; the task process adopts it with
    # a new pool and the failure report's statements already compiled (the parent rehearsed one
    # per pipeline, rolled back).
    engines = result["parent_engines"]
    assert all(pooled == 0 for _, pooled, _ in engines), engines
    [(url, _, _)] = [engine for engine in engines if engine[0] == os.environ["TECHFLOW_OPS_DB_URL"]]
    assert result["ops_engine"]["url"] == url and result["ops_engine"]["pool_renewed"] is True
    assert result["ops_engine"]["compiled_statements"] >= 5


def test_a_celery_worker_preloads_the_task_runtime_too():
    result = _task_probe("celery worker", AIRFLOW__CORE__EXECUTOR="CeleryExecutor")
    assert result["modules"]["great_expectations"] and result["modules"]["techflow_ops.escalation.orchestrator"]
    assert [r["built_in_parent"] for r in result["runners"]] == [True]


def test_preload_off_or_parsing_only_leaves_gx_and_escalation_to_the_task():
    for env in ({"TECHFLOW_PRELOAD": "off"}, {"TECHFLOW_PRELOAD": "parsing"}):
        result = _task_probe("scheduler", AIRFLOW__CORE__EXECUTOR="LocalExecutor", **env)
        assert not result["modules"]["great_expectations"], env
        assert not result["modules"]["techflow_ops.escalation.orchestrator"], env
        assert result["runners"] == []
        assert result["schedule_loaded"] is False
        assert result["ops_db_verified"] is False


def test_processes_that_fork_no_task_get_no_task_runtime():
    # A scheduler that hands tasks to Celery, and the dag-processor: DAG parsing only.
    for command, executor in (("scheduler", "CeleryExecutor"), ("dag-processor", "LocalExecutor")):
        result = _task_probe(command, AIRFLOW__CORE__EXECUTOR=executor)
        assert not result["modules"]["great_expectations"], command
        assert not result["modules"]["techflow_ops.escalation.outbox"], command
