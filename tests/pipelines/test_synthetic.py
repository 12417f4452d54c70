"""The synthetic data generator: deterministic, realistic dynamics, every fault visible where it says."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from techflow_ops.pipelines import warehouse as wh
from techflow_ops.pipelines.ingest import load_partition
from techflow_ops.pipelines.steps import pipeline_order, run_pipeline
from techflow_ops.pipelines.synthetic import (
    FAULTS,
    MONTHLY_SOURCES,
    STATUS_TRANSITIONS,
    Fault,
    FaultSpec,
    GeneratorConfig,
    Source,
    generate,
)
from techflow_ops.pipelines.transforms import latest_status_query

START, END = date(2026, 10, 1), date(2026, 10, 21)
FAULT_DAY = date(2026, 10, 20)  # a Tuesday


def _digest(folder) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.jsonl")):
        h.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    config = GeneratorConfig(START, date(2026, 10, 5), accounts=10, events_per_day=300)
    first = generate(config, tmp_path / "a").landing_dir
    again = generate(config, tmp_path / "b").landing_dir
    other = generate(GeneratorConfig(START, date(2026, 10, 5), accounts=10, events_per_day=300, seed=8), tmp_path / "c").landing_dir
    assert _digest(first) == _digest(again)
    assert _digest(first) != _digest(other)


@pytest.fixture(scope="module")
def clean_month(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("clean")
    result = generate(GeneratorConfig(START, END, accounts=40, events_per_day=1500, warmup_days=0), data_dir)
    engine = wh.get_engine(f"sqlite:///{data_dir / 'warehouse.db'}")
    day = START
    while day <= END:
        for pipeline_id in ("growth", "engagement"):
            run_pipeline(engine, pipeline_id, day, "clean", data_dir)
        day = day.fromordinal(day.toordinal() + 1)
    return engine, result


def test_sizes_follow_the_configuration(clean_month):
    _, result = clean_month
    days = (END - START).days + 1
    assert result.records["click_events"] == 1500 * days
    assert result.records["salaries"] == 5  # five teams, one month
    assert 0 < result.records["revenue"] <= 40


def test_trials_convert_and_accounts_change(clean_month):
    engine, _ = clean_month
    sc, lc = wh.stg_account_status_changes, wh.stg_license_changes
    with engine.connect() as conn:
        transitions = set(conn.execute(select(sc.c.previous_status, sc.c.new_status).distinct()).all())
        statuses = dict(conn.execute(select(latest_status_query(END).subquery().c.status, func.count())
                                     .group_by("status")).all())
        change_types = set(conn.execute(select(lc.c.change_type).distinct()).scalars())
    assert transitions <= STATUS_TRANSITIONS
    assert {(None, "Trial"), ("Trial", "Active")} <= transitions
    assert statuses.get("Active", 0) > 0 and statuses.get("Trial", 0) > 0
    assert change_types == {"Upgrade", "Downgrade"}


def test_weekdays_are_busier_than_weekends(clean_month):
    engine, _ = clean_month
    ed = wh.engagement_daily
    with engine.connect() as conn:
        dau = dict(conn.execute(select(ed.c.date, func.sum(ed.c.daily_active_users)).group_by(ed.c.date)).all())
    weekday = [v for d, v in dau.items() if d.weekday() < 5 and d > date(2026, 10, 7)]
    weekend = [v for d, v in dau.items() if d.weekday() >= 5 and d > date(2026, 10, 7)]
    assert sum(weekend) / len(weekend) < 0.6 * sum(weekday) / len(weekday)


def _source_for(fault: Fault) -> Source:
    preferred = (Source.click_events, Source.revenue, Source.account_status_changes)
    return next((s for s in preferred if s in FAULTS[fault].sources), min(FAULTS[fault].sources))


def _visible(engine, fault: Fault, source: Source, partition: date) -> bool:
    table = wh.STAGING[source.value]
    lp, rj = wh.landing_partitions, wh.rejects
    with engine.connect() as conn:
        def scalar(query):
            return conn.execute(query).scalar_one()

        if fault is Fault.missing_partition:
            return scalar(select(func.count()).where(lp.c.source == source.value, lp.c.partition_date == partition,
                                                     lp.c.present.is_(False))) > 0
        if fault is Fault.stale:
            return scalar(select(func.sum(lp.c.rows_loaded)).where(lp.c.source == source.value,
                                                                   lp.c.partition_date == partition)) == 0
        if fault is Fault.duplicate_events:
            return scalar(select(func.count() - func.count(func.distinct(table.c.event_key)))
                          .where(table.c.partition_date == partition)) > 0
        if fault is Fault.late_events:
            return scalar(select(func.count()).where(table.c.partition_date == partition, table.c.is_late.is_(True))) > 0
        if fault is Fault.null_keys:
            return scalar(select(func.count()).where(rj.c.source == source.value, rj.c.partition_date == partition,
                                                     rj.c.reason.like("missing required field user_id%"))) > 0
        if fault is Fault.malformed_rows:
            reasons = set(conn.execute(select(rj.c.reason).where(rj.c.source == source.value,
                                                                 rj.c.partition_date == partition)).scalars())
            return {r.split(" ")[0] for r in reasons} >= {"unparsable", "wrong", "missing"}
        if fault is Fault.revenue_ledger_mismatch:
            billed = scalar(select(func.sum(table.c.total_monthly_revenue)).where(table.c.partition_date == partition))
            ledger = scalar(select(func.sum(wh.stg_ledger.c.recognized_revenue))
                            .where(wh.stg_ledger.c.partition_date == partition))
            return abs(billed - ledger) / ledger > 0.01
        if fault is Fault.zero_subscribers:
            return scalar(select(func.count()).where(table.c.partition_date == partition, table.c.user_licenses == 0)) > 0
        if fault is Fault.skipped_status_step:
            sc = table
            rows = conn.execute(select(sc.c.account_id, sc.c.previous_status, sc.c.new_status, sc.c.change_date)
                                .order_by(sc.c.account_id, sc.c.change_date)).all()
            last: dict[str, str | None] = {}
            for account, previous, new, _ in rows:
                if last.get(account) != previous:
                    return True
                last[account] = new
            return False
        if fault is Fault.invalid_events:
            return scalar(select(func.count()).where(rj.c.source == source.value, rj.c.partition_date == partition)) > 0
        if fault is Fault.consumer_lag:
            closed = datetime(partition.year, partition.month, partition.day) + timedelta(days=1)
            committed = scalar(select(lp.c.written_at).where(lp.c.source == source.value, lp.c.partition_date == partition,
                                                             lp.c.partition_key == "23"))
            return committed - closed > timedelta(minutes=5)
        if fault is Fault.expense_spike:
            # Clean costs per billed license stay under ~16 (tiny accounts pay a fixed monitoring fee).
            r = wh.stg_revenue
            return scalar(select(func.count()).select_from(table.join(r, r.c.account_id == table.c.account_id))
                          .where(table.c.partition_date == partition, r.c.partition_date == partition,
                                 r.c.user_licenses > 0, table.c.monthly_cost > 25 * r.c.user_licenses)) > 0
        if fault is Fault.license_mismatch:
            rows = conn.execute(select(table.c.account_id, table.c.previous_licenses, table.c.new_licenses,
                                       table.c.change_type).order_by(table.c.account_id, table.c.change_date)).all()
            last: dict[str, int] = {}
            for account, previous, new, change_type in rows:
                if last.get(account, previous) != previous or (new > previous) != (change_type == "Upgrade"):
                    return True
                last[account] = new
            return False
        if fault is Fault.churn_spike:
            # Three Active accounts on the day before; one churn a day is already rare.
            return scalar(select(func.count()).where(table.c.partition_date == partition,
                                                     table.c.new_status == "Churned")) >= 3
        if fault is Fault.missing_status:
            known = select(table.c.account_id)
            r = wh.stg_revenue
            return scalar(select(func.count()).where(r.c.account_id.not_in(known))) > 0
    raise AssertionError(f"no visibility check for {fault}")


FAULT_START = date(2026, 10, 14)


def _load(engine, sources, fault, data_dir, first: date) -> None:
    day = first
    while day <= FAULT_DAY:
        for each in sources:
            try:
                load_partition(engine, each, day, "fault", data_dir)
            except Exception as exc:  # noqa: BLE001 - a stale click-event day is a Kafka outage, raised after recording the load
                assert fault is Fault.stale and type(exc).__name__ == "KafkaOutage"
        day = day.fromordinal(day.toordinal() + 1)


@pytest.fixture(scope="module")
def clean_data(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("clean_faults")
    generate(GeneratorConfig(FAULT_START, FAULT_DAY, accounts=30, events_per_day=1000, warmup_days=0), data_dir)
    return data_dir


@pytest.mark.parametrize("fault", list(Fault))
def test_every_fault_is_injected_and_visible(tmp_path, clean_data, fault):
    source = _source_for(fault)
    partition = FAULT_DAY.replace(day=1) if source in MONTHLY_SOURCES else FAULT_DAY
    sources = [source] + ([Source.ledger] if fault is Fault.revenue_ledger_mismatch else [])
    # Faults seen against the accounts' billing: their revenue is loaded too.
    sources += [Source.revenue] if fault in (Fault.expense_spike, Fault.missing_status) else []
    # A skipped status step shows against the account's history, so load every day for it.
    first = FAULT_START if fault in (Fault.skipped_status_step, Fault.license_mismatch, Fault.missing_status) else FAULT_DAY

    # Without warm-up every account's history is landed, so a missing status step is visible.
    generate(GeneratorConfig(FAULT_START, FAULT_DAY, accounts=30, events_per_day=1000, warmup_days=0,
                             faults=(FaultSpec(source, FAULT_DAY, fault),)), tmp_path)
    engine = wh.get_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    _load(engine, sources, fault, tmp_path, first)
    assert _visible(engine, fault, source, partition), FAULTS[fault].visible_in

    clean_engine = wh.get_engine(f"sqlite:///{tmp_path / 'clean.db'}")
    _load(clean_engine, sources, None, clean_data, first)
    assert not _visible(clean_engine, fault, source, partition)


def test_fault_specs_are_validated():
    with pytest.raises(ValueError, match="unknown fault 'kafka_down'"):
        FaultSpec.parse("click_events:2026-10-20:kafka_down")
    with pytest.raises(ValueError, match="late_events does not apply to revenue"):
        FaultSpec.parse("revenue:2026-10-20:late_events")
    with pytest.raises(ValueError, match="date '2026-13-01' is not YYYY-MM-DD"):
        FaultSpec.parse("revenue:2026-13-01:stale")
    with pytest.raises(ValueError, match="outside the generated range"):
        GeneratorConfig(START, END, faults=(FaultSpec.parse("revenue:2026-12-01:stale"),))


def test_demo_cli_prints_the_summary_table(tmp_path, capsys, monkeypatch):
    from techflow_ops.cli import main

    monkeypatch.setenv("TECHFLOW_DATA_DIR", str(tmp_path))  # restored afterwards; the demo points it at --data-dir

    assert main(["demo", "--start", "2026-10-05", "--end", "2026-10-06", "--accounts", "8",
                 "--events-per-day", "200", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for pipeline_id in pipeline_order():
        line = next(ln for ln in out.splitlines() if ln.startswith(pipeline_id + " "))
        runs, rows_written = line.split()[1:3]
        assert runs == "2" and int(rows_written) > 0




def test_demo_data_dir_holds_the_landing_files_and_the_default_warehouse(tmp_path, monkeypatch, capsys):
    from techflow_ops.cli import main

    monkeypatch.delenv("AIRFLOW_CONN_TECHFLOW_WAREHOUSE", raising=False)
    monkeypatch.delenv("TECHFLOW_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("TECHFLOW_DATA_DIR", str(tmp_path / "elsewhere"))
    assert main(["demo", "--start", "2026-10-05", "--end", "2026-10-05", "--accounts", "5",
                 "--events-per-day", "50", "--data-dir", str(tmp_path / "mine"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)  # --json: nothing but the document on stdout
    assert summary["warehouse"] == f"sqlite:///{tmp_path / 'mine' / 'warehouse.db'}"
    assert (tmp_path / "mine" / "landing" / "_generated.json").is_file()
    assert not (tmp_path / "elsewhere").exists()
