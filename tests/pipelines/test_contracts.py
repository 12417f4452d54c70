"""The data contracts accept exactly what TechFlow's systems export, and say why a line is not.

`brief_records/<source>.jsonl` holds the brief's example record of each of the nine sources,
pasted as it is. Each is landed where the Kafka sink or the export would put it and loaded
by the real ingest, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select, text
from tests.conftest import VENV_BIN
from tests.pipelines.conftest import throwaway_postgres_databases

from techflow_ops.pipelines import warehouse as wh
from techflow_ops.pipelines.contracts import CONTRACTS, RecordRejected, contract_for
from techflow_ops.pipelines.ingest import load_partition
from techflow_ops.pipelines.sources import Source
from techflow_ops.pipelines.synthetic import GeneratorConfig, generate

BRIEF_DIR = Path(__file__).parent / "brief_records"
BRIEF_SOURCES = sorted(p.stem for p in BRIEF_DIR.glob("*.jsonl"))
#: Where each brief record lands: (partition day, landing path under landing/<source>/).
LANDING = {
    "revenue": (date(2024, 1, 1), "month=2024-01/part-000.jsonl"),
    "expenses": (date(2024, 1, 1), "month=2024-01/part-000.jsonl"),
    "salaries": (date(2024, 1, 1), "month=2024-01/part-000.jsonl"),
    "account_status_changes": (date(2024, 1, 20), "dt=2024-01-20/part-000.jsonl"),
    "license_changes": (date(2024, 1, 25), "dt=2024-01-25/part-000.jsonl"),
    "renewals": (date(2024, 2, 1), "dt=2024-02-01/part-000.jsonl"),
    "click_events": (date(2024, 1, 15), "dt=2024-01-15/hour=10.jsonl"),
    "usage_sessions": (date(2024, 1, 15), "dt=2024-01-15/part-000.jsonl"),
    "team_activity": (date(2024, 1, 15), "dt=2024-01-15/part-000.jsonl"),
}


def brief_record(source: str) -> dict:
    return json.loads((BRIEF_DIR / f"{source}.jsonl").read_text(encoding="utf-8"))


def test_the_brief_gives_nine_sources_and_each_has_a_contract():
    assert len(BRIEF_SOURCES) == 9
    assert set(BRIEF_SOURCES) == {s.value for s in Source} - {"ledger"}
    for source in BRIEF_SOURCES:
        declared = set(contract_for(source).fields())
        assert declared == set(brief_record(source)), f"{source}: the contract's fields are not the brief's"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def brief_warehouse(request, tmp_path_factory):
    """A warehouse of its own: the brief's accounts must not join another test's world."""
    data_dir = tmp_path_factory.mktemp("brief")
    for source, (_, relative) in LANDING.items():
        target = data_dir / "landing" / source / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(BRIEF_DIR / f"{source}.jsonl", target)

    def load(url: str):
        engine = wh.get_engine(url)
        return engine, {source: load_partition(engine, source, day, "brief", data_dir)
                        for source, (day, _) in LANDING.items()}

    if request.param == "sqlite":
        yield load(f"sqlite:///{data_dir / 'warehouse.db'}")
        return
    with throwaway_postgres_databases("techflow_wh_brief") as make:
        yield load(make())


@pytest.mark.parametrize("source", BRIEF_SOURCES)
def test_each_brief_record_loads_with_no_rejects(brief_warehouse, source):
    engine, loads = brief_warehouse
    assert (loads[source].rows_loaded, loads[source].rows_rejected) == (1, 0)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(wh.rejects).where(wh.rejects.c.source == source)).scalar_one() == 0


def test_the_brief_formats_are_parsed_into_queryable_columns(brief_warehouse):
    engine, _ = brief_warehouse
    with engine.connect() as conn:
        salary = conn.execute(select(wh.stg_salaries)).mappings().one()
        renewal = conn.execute(select(wh.stg_renewals)).mappings().one()
        cloud = conn.execute(select(func.sum(wh.stg_expenses.c.cost_breakdown["cloud_services"].as_float()))).scalar_one()
        features = conn.execute(select(wh.stg_team_activity.c.features_accessed)).scalar_one()
        click = conn.execute(select(wh.stg_click_events)).mappings().one()
        usage = conn.execute(select(wh.stg_usage_sessions)).mappings().one()
    assert salary["salary_month"] == date(2024, 1, 1)
    assert renewal["contract_duration_months"] == 12
    assert cloud == pytest.approx(5000.0)
    assert features == ["Dashboard", "Reports", "Analytics", "API"]
    assert click["event_key"] and click["raw"] is None and str(click["event_ts"]) == "2024-01-15 10:30:00"
    assert usage["session_key"] == "USER_123@2024-01-15T09:00:00"


def test_fields_beyond_the_contract_are_kept_in_raw(tmp_path):
    record = {**brief_record("revenue"), "currency": "USD", "invoice": {"number": "INV-7"}}
    target = tmp_path / "landing" / "revenue" / "month=2024-01" / "part-000.jsonl"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(record) + "\n", encoding="utf-8")
    engine = wh.get_engine(f"sqlite:///{tmp_path / 'wh.db'}")
    assert load_partition(engine, "revenue", date(2024, 1, 1), "extra", tmp_path).rows_loaded == 1
    with engine.connect() as conn:
        raw = conn.execute(select(wh.stg_revenue.c.raw)).scalar_one()
        currency = conn.execute(select(wh.stg_revenue.c.raw["currency"].as_string())).scalar_one()
    assert raw == {"currency": "USD", "invoice": {"number": "INV-7"}}
    assert currency == "USD"


def _wrong_value(value):
    """A value of another JSON type than `value`."""
    if isinstance(value, str):
        return 12345
    if isinstance(value, (list, dict)):
        return "not a collection"
    return "not a number"


BROKEN = [
    pytest.param(source, name, how, id=f"{source}-{name}-{how}")
    for source in BRIEF_SOURCES
    for name, spec in contract_for(source).fields().items()
    for how in (("missing", "wrong type") if spec["required"] else ("wrong type",))
]


@pytest.mark.parametrize(("source", "name", "how"), BROKEN)
def test_one_broken_field_rejects_the_record_naming_the_field(source, name, how):
    record = brief_record(source)
    if how == "missing":
        del record[name]
    else:
        record[name] = _wrong_value(record[name])
    with pytest.raises(RecordRejected) as caught:
        contract_for(source).staging_row(json.dumps(record))
    assert caught.value.field == name
    assert name in caught.value.reason
    if how == "missing":
        assert caught.value.reason == f"missing required field {name}"
    else:
        assert repr(record[name]) in caught.value.reason


@pytest.mark.parametrize(("source", "name", "value"), [
    ("salaries", "salary_month", "2024-01-15"), ("salaries", "salary_month", "2024-13"),
    ("renewals", "contract_duration", 12), ("renewals", "contract_duration", "a year"),
    ("revenue", "user_licenses", 150.5), ("revenue", "billing_date", "15/01/2024"),
    ("click_events", "timestamp", "2024-01-15 morning"), ("expenses", "cost_breakdown", ["cloud"]),
    ("team_activity", "active_users", -1),
])
def test_values_out_of_the_brief_format_are_rejected(source, name, value):
    record = {**brief_record(source), name: value}
    with pytest.raises(RecordRejected) as caught:
        contract_for(source).staging_row(json.dumps(record))
    assert caught.value.field.split(".")[0] == name and caught.value.value is not None


def test_a_click_event_is_identified_without_an_event_id():
    contract = contract_for("click_events")
    event = brief_record("click_events")
    key = contract.staging_row(json.dumps(event))["event_key"]
    assert contract.staging_row(json.dumps({**event, "timestamp": "2024-01-15T10:30:00+00:00"}))["event_key"] == key
    assert contract.staging_row(json.dumps({**event, "ip_address": "10.0.0.9"}))["event_key"] == key
    for name, other in (("user_id", "USER_124"), ("session_id", "SESS_457"), ("timestamp", "2024-01-15T10:30:01Z"),
                        ("event_type", "page_view"), ("feature_name", "Reports"), ("page_url", "/reports")):
        assert contract.staging_row(json.dumps({**event, name: other}))["event_key"] != key, name


def test_a_session_ending_before_it_starts_is_rejected():
    session = {**brief_record("usage_sessions"), "session_end": "2024-01-15T08:00:00Z"}
    with pytest.raises(RecordRejected, match="session_end"):
        contract_for("usage_sessions").staging_row(json.dumps(session))


def test_the_generator_emits_exactly_the_contract_shapes(tmp_path):
    start = date(2026, 10, 20)  # three weeks over a month end: every source has records
    landing = generate(GeneratorConfig(start, start + timedelta(days=20), accounts=120, events_per_day=400),
                       tmp_path).landing_dir
    seen = set()
    for source, contract in CONTRACTS.items():
        declared = set(contract.fields())
        for path in sorted((landing / source.value).rglob("*.jsonl")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                record = json.loads(line)
                assert set(record) == declared, f"{path}:{number}: {sorted(set(record) ^ declared)}"
                contract.staging_row(line)
                seen.add(source)
    assert seen == set(CONTRACTS)


def test_an_older_warehouse_is_brought_up_to_the_contracts(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_engine(url)
    with old.begin() as conn:
        conn.execute(text("CREATE TABLE stg_click_events (partition_date DATE NOT NULL, event_id VARCHAR(64) NOT NULL)"))
        conn.execute(text("INSERT INTO stg_click_events VALUES ('2026-11-01', 'E1')"))
        conn.execute(text("CREATE TABLE landing_partitions (source VARCHAR(64) NOT NULL, partition_date DATE NOT NULL, "
                          "partition_key VARCHAR(32) NOT NULL, present BOOLEAN NOT NULL, rows_loaded INTEGER NOT NULL, "
                          "rows_rejected INTEGER NOT NULL, newest_record DATETIME, loaded_at DATETIME NOT NULL, "
                          "run_id VARCHAR(250) NOT NULL)"))
        conn.execute(text("INSERT INTO landing_partitions VALUES ('revenue', '2026-11-01', '', 1, 3, 0, NULL, "
                          "'2026-11-02 00:00:00', 'r1')"))
    old.dispose()
    engine = wh.get_engine(url)
    columns = {c["name"] for c in inspect(engine).get_columns("stg_click_events")}
    assert "event_key" in columns and "event_id" not in columns
    with engine.connect() as conn:
        kept = conn.execute(select(wh.landing_partitions.c.rows_loaded, wh.landing_partitions.c.written_at)).one()
    assert tuple(kept) == (3, None)  # bookkeeping kept, the new column added empty


def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "techflow-ops"), "data", *argv], capture_output=True, text=True,
                          timeout=120, env=os.environ.copy())


def test_check_records_reports_each_rejected_line_field_and_value(tmp_path):
    event = brief_record("click_events")
    lines = [json.dumps(event), json.dumps({**event, "user_id": None}), '{"user_id": "USER_1", ',
             json.dumps({**event, "timestamp": "2024-13-01T00:00:00Z"}), "", json.dumps({**event, "page_url": "/x"})]
    path = tmp_path / "clicks.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _cli("check-records", "click_events", str(path), "--format", "json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["loaded"], report["rejected"]) == (2, 3)
    assert report["rejected_by_reason"] == {"missing required field (user_id)": 1, "unparsable JSON": 1,
                                            "wrong type (timestamp)": 1}
    by_line = {r["line"]: r for r in report["rejects"]}
    assert set(by_line) == {2, 3, 4}
    assert (by_line[2]["field"], by_line[4]["field"], by_line[4]["value"]) == ("user_id", "timestamp", "2024-13-01T00:00:00Z")
    table = _cli("check-records", "click_events", str(path))
    assert table.returncode == 1 and "line 4: wrong type for timestamp" in table.stdout


def test_check_records_exits_0_on_a_clean_export_and_2_on_a_missing_file(tmp_path):
    clean = _cli("check-records", "renewals", str(BRIEF_DIR / "renewals.jsonl"))
    assert clean.returncode == 0 and "1 loaded, 0 rejected" in clean.stdout
    missing = _cli("check-records", "renewals", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "nope.jsonl" in missing.stderr
    folder = _cli("check-records", "renewals", str(tmp_path))
    assert folder.returncode == 2 and "is a directory" in folder.stderr


def _click_line(**changes) -> bytes:
    return json.dumps({**brief_record("click_events"), **changes}).encode()


@pytest.mark.parametrize(("line", "field", "reason"), [
    (_click_line(user_agent="Mozilla").replace(b"Mozilla", b"Mozi\xe9lla"), None, "unparsable JSON"),
    (_click_line(page_url="/a\u0000b"), "page_url", "invalid value"),
    (_click_line()[:-1] + b', "score": NaN}', "score", "invalid value"),
    (_click_line(timestamp="0001-01-01T00:00:00+01:00"), "timestamp", "invalid value"),
    (_click_line(user_id=None), "user_id", "missing required field"),
], ids=["not-utf8", "nul", "nan-extra", "overflowing-offset", "null"])
def test_what_a_backend_cannot_store_is_the_lines_reject_not_the_partitions(line, field, reason):
    with pytest.raises(RecordRejected) as caught:
        contract_for("click_events").staging_row(line)
    assert (caught.value.kind, caught.value.field) == (reason, field)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_one_bad_line_never_fails_the_whole_partition(tmp_path, backend):
    """Long text, a byte that is not UTF-8, a NUL, a NaN and a BOM: each line on its own."""
    lines = [b"\xef\xbb\xbf" + _click_line(),                                     # BOM: loads
             _click_line(user_agent="Mozilla/5.0 " + "x" * 5000, page_url="/p" * 300),  # loads, long text
             _click_line(session_id="S2").replace(b"Mozilla", b"Mozi\xe9lla"),        # not UTF-8
             _click_line(session_id="S3", page_url="/a\u0000b"),                     # NUL
             _click_line(session_id="S4")[:-1] + b', "score": NaN}',                # NaN in an extra field
             _click_line(session_id="S5", channel="email")]                         # extra field: kept, loads
    target = tmp_path / "landing" / "click_events" / "dt=2024-01-15" / "hour=10.jsonl"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"\n".join(lines) + b"\n")
    with throwaway_postgres_databases("techflow_wh_bad_lines") if backend == "postgres" else _sqlite(tmp_path) as make:
        engine = wh.get_engine(make())
        result = load_partition(engine, "click_events", date(2024, 1, 15), "bad", tmp_path)
        with engine.connect() as conn:
            rejects = conn.execute(select(wh.rejects.c.location, wh.rejects.c.raw)).all()
            raws = conn.execute(select(wh.stg_click_events.c.raw).order_by(wh.stg_click_events.c.session_id)).scalars().all()
            no_extra = conn.execute(select(func.count()).select_from(wh.stg_click_events)
                                    .where(wh.stg_click_events.c.raw.is_(None))).scalar_one()
    assert (result.rows_loaded, result.rows_rejected) == (3, 3)
    assert sorted(location.rsplit(":", 1)[1] for location, _ in rejects) == ["3", "4", "5"]
    assert {"channel": "email"} in raws and no_extra == 2  # no extra fields is SQL NULL, not JSON null


class _sqlite:
    def __init__(self, tmp_path):
        self.url = f"sqlite:///{tmp_path / 'wh.db'}"

    def __enter__(self):
        return lambda: self.url

    def __exit__(self, *exc):
        return False


def test_data_contracts_prints_each_source_s_json_schema():
    result = _cli("contracts", "renewals", "--format", "json")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)["sources"]["renewals"]
    assert set(schema["required"]) == set(brief_record("renewals"))
    assert schema["properties"]["contract_duration"]["type"] == "string"  # "12 months", as exported
    assert schema["additionalProperties"] is True  # extra fields load, kept in raw
    table = _cli("contracts", "salaries")
    assert table.returncode == 0 and "salary_month" in table.stdout and "identity: (team_id, salary_month)" in table.stdout
