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
