"""`techflow-ops` reads Airflow's configuration (the metadata DB of `kpi`, the watchdog) where
`make start` runs Airflow: the project's `.airflow`, not Airflow's own default ~/airflow."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = """
import os
os.environ.pop("AIRFLOW_HOME", None)
from techflow_ops import cli, settings
cli.main(["oncall", "now", "--format", "json"])
print("AIRFLOW_HOME=" + os.environ["AIRFLOW_HOME"])
print("EXPECTED=" + str(settings.airflow_home()))
"""


def test_without_airflow_home_the_cli_uses_the_projects_airflow_folder():
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_HOME"}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split("=", 1) for line in out.stdout.splitlines() if line.startswith(("AIRFLOW_HOME=", "EXPECTED=")))
    assert lines["AIRFLOW_HOME"] == lines["EXPECTED"]
    assert lines["AIRFLOW_HOME"].endswith(".airflow")
