"""Data Docs on disk, the stored per-run summary, `latest_results()` and `dq report`."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from tests.quality.test_faults import FAULT_TABLE

from techflow_ops.cli import main as cli_main
from techflow_ops.quality import results


def test_data_docs_page_and_summary_show_the_failed_check_with_its_observed_value(runner_for, capsys):
    runner = runner_for("faulty", tuple(spec for spec, *_ in FAULT_TABLE))  # shared with test_faults
    result = runner.validate("stg_click_events", date(2026, 11, 3), "docs_run")
    duplicates = next(o for o in result.failed if o.check == "event_unique")
    copies = duplicates.observed["observed_value"]
    assert copies >= 1 and duplicates.observed["sample"][0]["copies"] == 2

    page = results.data_docs_dir() / result.data_docs_path
    assert page.is_file() and (results.data_docs_dir() / "index.html").is_file()
    assert not Path(result.data_docs_path).is_absolute()  # inside the persistent site, not a GX temp dir
    html = page.read_text(encoding="utf-8")
    assert "event_unique" in html and "Failed" in html

    stored = [r for r in results.latest_results("engagement") if r["dataset"] == "stg_click_events"]
    assert stored and stored[0]["run_id"] == "docs_run" and stored[0]["status"] == "failed"
    failed = {f["check"]: f for f in stored[0]["failed"]}
    assert failed["event_unique"]["observed"]["observed_value"] == copies
    assert stored[0]["data_docs_url"] == page.as_uri()
    assert "event_unique" in result.summary() and f'"observed_value": {copies}' in result.summary()

    assert cli_main(["dq", "report", "--pipeline", "engagement", "--format", "json"]) == 0
    report = {r["dataset"]: r for r in json.loads(capsys.readouterr().out)}
    assert {r["pipeline_id"] for r in report.values()} == {"engagement"}
    assert report["stg_click_events"]["failed"][0]["check"] == "event_unique"
    assert cli_main(["dq", "report", "--pipeline", "engagement"]) == 0
    text = capsys.readouterr().out
    assert "stg_click_events" in text and "failed" in text and "event_unique" in text


def test_row_count_history_bounds_come_from_previous_runs(runner_for):
    runner = runner_for("clean")
    for day in (date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)):
        runner.validate("stg_click_events", day, "history_run")
    history = results.row_count_history("stg_click_events", "2026-11-05")
    assert len(history) == 3
    low, high = results.row_count_bounds(history, 0.2, 5.0)
    parameters = runner.parameters(runner_suite("stg_click_events"), _partition(date(2026, 11, 5)))
    assert (parameters["rows_min"], parameters["rows_max"]) == (low, high) and 0 < low < min(history)


def runner_suite(dataset):
    from techflow_ops.quality.suites import SUITES

    return SUITES[dataset]


def _partition(day):
    from techflow_ops.quality.checks import Grain, Partition

    return Partition.covering(day, Grain.daily)


def test_a_check_that_cannot_run_fails_and_says_why(runner_for):
    from techflow_ops.quality.checks import Category, Check, DatasetSuite, Grain, Kind, Severity

    broken = DatasetSuite("stg_click_events", "engagement", "partition_date", Grain.daily, (
        Check("broken_query", Kind.rows_query, Category.domain, Severity.critical, "refers to a missing column",
              query="SELECT no_such_column FROM {rows} AS b"),))
    result = runner_for("clean").validate(broken, date(2026, 11, 2), "broken_run", record=False)
    assert result.status == "failed"
    assert "no_such_column" in result.failed_critical[0].observed["error"]


def test_dq_validate_exits_non_zero_on_a_critical_failure(capsys):
    from techflow_ops.pipelines import ingest, synthetic, warehouse

    day = date(2026, 12, 10)
    synthetic.generate(synthetic.GeneratorConfig(date(2026, 12, 9), day, accounts=8, events_per_day=300,
                                                 faults=(synthetic.FaultSpec.parse(f"click_events:{day}:null_keys"),)))
    ingest.load_partition(warehouse.get_engine(), "click_events", day, "cli_load")
    assert cli_main(["dq", "validate", "--dataset", "stg_click_events", "--date", day.isoformat()]) == 1
    out = capsys.readouterr().out
    # One null user id in ~300 events breaches the 99.9 % valid-events target: the share fails the
    # run, and the rejected line itself is listed with its reason.
    assert "[critical] valid_share" in out and "[warning] no_rejected_lines" in out
    assert "missing required field user_id" in out
    assert cli_main(["dq", "validate", "--dataset", "stg_click_events", "--date", "2026-12-09"]) == 1  # never loaded
