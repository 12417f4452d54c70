"""Machine-readable output stays clean: under `--json` / `--format json` stdout carries nothing
but the JSON document, for every command, while a notification provider fails and the provider
logs about it; logs go to stderr. Real `techflow-ops` processes, real loopback receivers."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from tests.conftest import VENV_BIN
from tests.escalation.receivers import HttpReceiver, SmtpReceiver

T0 = datetime(2026, 11, 10, 3, 0, tzinfo=timezone.utc)  # a Tuesday at 3 a.m. UTC, outside the investor period
# engagement (medium, not in the investor period): step 1 at T0, step 2 at T0+5m at the latest, then
# step 3 (business owner team + infrastructure, PagerDuty for a Kafka outage) 10 minutes later.
INFRASTRUCTURE_DUE = T0 + timedelta(minutes=16)


@pytest.fixture
def failing_pagerduty_env(tmp_path, config_copy, monkeypatch):
    """Environment for `techflow-ops` subprocesses: healthy SMTP and Slack receivers, a PagerDuty
    receiver that answers every event with HTTP 500, a fresh ops DB and a copied config folder."""
    smtp, slack, pagerduty = SmtpReceiver().start(), HttpReceiver().start(), HttpReceiver().start()
    pagerduty.fail_next = 10**6
    env = {**smtp.connection_env("smtp_default"), **pagerduty.pagerduty_env("pagerduty_infra"),
           "TECHFLOW_OPS_DB_URL": f"sqlite:///{tmp_path / 'ops.db'}", "TECHFLOW_CONFIG_DIR": str(config_copy),
           "TECHFLOW_DATA_DIR": str(tmp_path / "data"), "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    for conn_id in ("slack_data_eng", "slack_finance", "slack_default"):
        env.update(slack.slack_env(conn_id))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "TECHFLOW_WAREHOUSE_URL"):
        monkeypatch.delenv(var, raising=False)
    from techflow_ops.escalation import reset_service

    reset_service()
    yield pagerduty
    reset_service()
    smtp.stop()
    slack.stop()
    pagerduty.stop()


def techflow_ops(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "techflow-ops"), *argv], capture_output=True, text=True, timeout=180,
                          env=os.environ.copy())


def json_document(result: subprocess.CompletedProcess, argv: tuple[str, ...]):
    """The whole of stdout as one JSON document (json.loads refuses anything before or after it)."""
    assert result.stdout.strip(), f"{' '.join(argv)}: nothing on stdout (exit {result.returncode}): {result.stderr[-2000:]}"
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"`techflow-ops {' '.join(argv)}` stdout is not only JSON ({exc}):\n{result.stdout[:2000]}") from None


def test_every_json_command_prints_only_json_while_pagerduty_fails(failing_pagerduty_env, tmp_path):
    from techflow_ops.escalation import report_failure
    from techflow_ops.failures import KafkaOutage

    pagerduty = failing_pagerduty_env
    incident_id = report_failure(pipeline_id="engagement", run_id="r1", task_id="ingest",
                                 exception=KafkaOutage("no events"), deliver=False, at=T0)

    # The engine pages infrastructure through PagerDuty, which answers 500: the HTTP provider logs
    # a warning, which belongs on stderr.
    argv = ("escalation", "tick", "--at", INFRASTRUCTURE_DUE.isoformat())
    tick = techflow_ops(*argv)
    report = json_document(tick, argv)
    assert report["delivery_failures"] >= 1 and pagerduty.fail_next < 10**6, report  # the provider really failed
    assert "/v2/enqueue" in tick.stderr, tick.stderr  # the provider's warning is kept, on stderr

    # Human-readable output still goes to stdout (the retry fails again and logs again).
    deliver = techflow_ops("escalation", "deliver", "--at", (INFRASTRUCTURE_DUE + timedelta(minutes=15)).isoformat())
    assert deliver.stdout.startswith("delivered ") and deliver.stdout.count("\n") == 1, deliver.stdout
    assert "failed 0 " not in deliver.stdout and "/v2/enqueue" in deliver.stderr, (deliver.stdout, deliver.stderr)

    week = ("--from", "2026-11-09", "--weeks", "1")
    commands = [
        ("incidents", "list", "--json"),
        ("incidents", "show", str(incident_id), "--json"),
        ("incidents", "ack", str(incident_id), "--user", "kai", "--json"),
        ("incidents", "resolve", str(incident_id), "--user", "kai", "--json"),
        ("oncall", "now", "--at", "2026-11-10T03:00:00Z", "--pipeline", "engagement", "--format", "json"),
        ("oncall", "schedule", *week, "--format", "json"),
        ("oncall", "publish", "--at", "2026-11-10T03:00:00Z", "--weeks", "2", "--format", "json"),
        ("oncall", "fairness", *week, "--format", "json"),
        ("oncall", "gaps", *week, "--format", "json"),
        ("oncall", "override", "add", "--person", "dana", "--role", "primary", "--start", "2026-12-02T14:00:00Z",
         "--end", "2026-12-03T02:00:00Z", "--reason", "offsite", "--id", "json-test", "--format", "json"),
        ("oncall", "override", "list", "--format", "json"),
        ("oncall", "override", "remove", "json-test", "--format", "json"),
        ("oncall", "import", "--format", "json"),  # the first-use import ran already: says what is there
        ("oncall", "export", "--file", str(tmp_path / "export" / "published.yaml"), "--overrides-file",
         str(tmp_path / "export" / "overrides.yaml"), "--format", "json"),
        ("dq", "report", "--format", "json"),
        ("data", "faults", "--json"),
        ("demo", "--start", "2026-11-01", "--end", "2026-11-01", "--accounts", "5", "--events-per-day", "200", "--json"),
        ("reports", "status", "--at", "2026-11-02", "--format", "json"),  # after the demo froze the week ending 1 Nov
        *(("ownership", "export", "--format", fmt, "--at", "2026-12-02T12:00:00Z") for fmt in ("json", "datahub", "openmetadata")),
    ]
    problems = []
    for argv in commands:
        try:
            json_document(techflow_ops(*argv), argv)
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, "\n\n".join(problems)


@pytest.mark.integration
def test_drill_json_is_only_json_while_pagerduty_fails(airflow_db, failing_pagerduty_env, tmp_path):
    """`drill --json` runs a real DAG (Airflow logs a lot) and opens a Kafka-outage incident."""
    argv = ("drill", "kafka-outage", "--day", "2026-11-04", "--workspace", str(tmp_path / "drill"), "--json")
    result = json_document(techflow_ops(*argv), argv)
    assert result["incident"]["failure_class"] == "kafka_outage", result
