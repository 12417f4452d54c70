"""`techflow-ops kpi` end to end: a real ops DB (SQLite in tmp) whose incident was opened, paged,
acknowledged and resolved by the escalation engine itself, a DQ result recorded by the quality
code, published days in a real warehouse file and DAG runs in a real Airflow metadata DB
(`airflow db migrate`); JSON and table output; bad flags exit 2 naming the flag."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, insert, text
from tests.escalation.conftest import (  # noqa: F401 - fixtures
    _no_proxy,
    connections,
    escalation,
    http_receiver,
    schedule,
    smtp_server,
)

from techflow_ops.cli import main

UTC = timezone.utc
T0 = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)  # Tue 03:00Z = Mon 19:00 in Los Angeles (sofia: off hours)
# The on-call rotation's time zone is America/New_York: 2026-11-09 .. 11-11 is [11-09 05:00Z, 11-12 05:00Z).
WINDOW_ARGS = ("--from", "2026-11-09", "--to", "2026-11-11", "--at", "2026-11-12T12:00:00Z")


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def sources(airflow_db, escalation, tmp_path, monkeypatch):  # noqa: F811 - the imported fixture
    """Everything the KPIs read, written by the code that writes it in production."""
    from techflow_ops.pipelines import warehouse as wh
    from techflow_ops.quality.results import CheckOutcome, QualityResult, record
    from techflow_ops.watchdog.probes import metadata_db_url

    monkeypatch.setenv("TECHFLOW_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.db'}")
    metadata = create_engine(metadata_db_url())
    with metadata.begin() as connection:
        connection.execute(text("DELETE FROM dag_run WHERE run_id LIKE 'kpi_%'"))
        for dag_id, run_id, state, queued in (("profit", "kpi_r1", "failed", datetime(2026, 11, 10)),
                                              ("profit", "kpi_r2", "success", datetime(2026, 11, 11)),
                                              ("growth", "kpi_g1", "success", datetime(2026, 11, 10))):
            # Airflow keeps naive UTC text in SQLite; these are the columns without a default
            connection.execute(text(
                "INSERT INTO dag_run (dag_id, run_id, run_type, run_after, queued_at, start_date, end_date, state, "
                "clear_number, span_status) VALUES (:dag_id, :run_id, 'scheduled', :queued, :queued, :queued, "
                ":ended, :state, 0, 'ended')"),
                {"dag_id": dag_id, "run_id": run_id, "queued": queued, "ended": queued + timedelta(minutes=30),
                 "state": state})
    metadata.dispose()
    with wh.get_engine().begin() as connection:
        for day, finished in ((date(2026, 11, 8), datetime(2026, 11, 9, 1)), (date(2026, 11, 9), datetime(2026, 11, 10, 2)),
                              (date(2026, 11, 10), datetime(2026, 11, 11, 2))):
            connection.execute(insert(wh.pipeline_runs).values(
                pipeline_id="profit", date=day, run_id=f"kpi_{day}", status="published", rows_written=10,
                rows_rejected=0, summary="{}", finished_at=finished))
    record(QualityResult("profit", "profit_daily_account", "2026-11-10", "kpi_r2", datetime(2026, 11, 11, 1, tzinfo=UTC),
                         (CheckOutcome("rows", "critical", "volume", "rows present", True, {}),
                          CheckOutcome("dupes", "warning", "uniqueness", "no duplicates", True, {}))))
    incident_id = escalation.report_failure(pipeline_id="profit", run_id="kpi_r1", task_id="load_revenue",
                                            exception=RuntimeError("boom"), at=T0)  # pages sofia (the fake primary)
    escalation.acknowledge(incident_id, "sofia", at=T0 + timedelta(minutes=10))
    escalation.resolve(incident_id, "sofia", at=T0 + timedelta(hours=2))
    yield escalation.get_incident(incident_id)
    metadata = create_engine(metadata_db_url())
    with metadata.begin() as connection:  # the session's Airflow DB is shared with other tests
        connection.execute(text("DELETE FROM dag_run WHERE run_id LIKE 'kpi_%'"))
    metadata.dispose()


def test_json_from_the_real_sources(sources, capsys):
    code, out, err = run(capsys, "kpi", *WINDOW_ARGS, "--format", "json")
    assert code == 0, err
    kpis = json.loads(out)
    assert (kpis["from"], kpis["to"]) == ("2026-11-09", "2026-11-11")
    profit = kpis["pipelines"]["profit"]
    assert profit["runs"] == 2 and profit["run_success_rate"] == 0.5  # kpi_r1 failed, kpi_r2 succeeded
    # UTC days 11-09 .. 11-12 overlap the window; newest 11-08 would go stale 11-11 00:00Z, but 11-09 was
    # published 11-10 02:00Z (stale from 11-12 00:00Z) and 11-10 at 11-11 02:00Z (stale from 11-13): 4 of 4.
    assert profit["freshness_sla_attainment"] == 1.0
    assert profit["incidents"] == 1
    assert profit["incidents_by_severity"] == {sources.severity: 1}
    assert profit["mtta_seconds"] == {"mean": 600, "median": 600, "p90": 600, "p95": 600}
    assert profit["mttr_seconds"] == {"mean": 7200, "median": 7200, "p90": 7200, "p95": 7200}
    # kpi_r1 queued 11-10 00:00Z + 24 h SLA: due 11-11 00:00Z, after the opening: downtime = 2 h to resolve
    assert profit["data_downtime_hours"] == 2
    assert profit["dq_pass_rate"] == {"validations": 1.0, "checks": 1.0}
    assert profit["open_incidents"] == 0
    assert profit["uptime"] == (1 - 2 / 72 if sources.severity == "critical" else 1.0)
    assert profit["health"] == {"state": "healthy", "reasons": []}
    assert kpis["pipelines"]["growth"]["runs"] == 1
    sofia = kpis["people"]["sofia"]
    # one page whatever the number of contact methods (email and Slack rows of one message)
    assert sofia["pages"] == 1
    assert sofia["interruptions"] == {"business": 0, "off_hours": 1, "sleep": 0}  # Mon 19:00 PST
    assert sofia["acks"] == 1 and sofia["mtta_seconds"]["mean"] == 600
    assert kpis["totals"]["runs"] == 3
    assert set(kpis["totals"]["targets"]) == {"uptime", "sla_compliance", "critical_resolved_within_48h",
                                             "investor_completeness"}


def test_filters_and_table(sources, capsys):
    code, out, _ = run(capsys, "kpi", *WINDOW_ARGS, "--pipeline", "profit", "--person", "sofia", "--format", "json")
    kpis = json.loads(out)
    assert code == 0 and list(kpis["pipelines"]) == ["profit"] and list(kpis["people"]) == ["sofia"]
    assert kpis["totals"]["runs"] == 2
    code, out, _ = run(capsys, "kpi", *WINDOW_ARGS, "--pipeline", "profit")
    assert code == 0
    [profit_line] = [line for line in out.splitlines() if line.startswith("profit ")]
    assert profit_line.split()[:4] == ["profit", "healthy", "2", "50.0%"]
    assert "sofia" in out and "targets:" in out


@pytest.mark.parametrize(("argv", "message"), [
    (("--pipeline", "nope"), "--pipeline 'nope': unknown pipeline"),
    (("--person", "nobody"), "--person 'nobody': unknown person"),
    (("--from", "2026-11-12", "--to", "2026-11-11"), "--from 2026-11-12 is after --to 2026-11-11"),
])
def test_bad_flags_exit_2_naming_the_flag(argv, message, capsys):
    code, out, err = run(capsys, "kpi", *argv)
    assert code == 2 and out == "" and message in err


def test_a_malformed_date_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["kpi", "--from", "11/09/2026"])
    assert exit_info.value.code == 2
    assert "--from: invalid date value: '11/09/2026'" in capsys.readouterr().err
