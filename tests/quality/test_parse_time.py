"""Parsing the DAG folder imports neither Great Expectations nor pandas/scipy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"dags": sorted(bag.dag_ids), "errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "heavy": sorted(m for m in ("great_expectations", "pandas", "scipy") if m in sys.modules)}))
"""


def test_parsing_the_dag_folder_does_not_import_great_expectations():
    done = subprocess.run([sys.executable, "-c", PROBE, str(PROJECT_ROOT / "dags")], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=300, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert {"profit", "executive_investor", "experiment_team"} <= set(report["dags"])
    assert report["heavy"] == []
