"""Load landing partitions into the staging tables: typed, idempotent, nothing dropped.

Each landed line becomes either a staging row or a `rejects` row (unparsable JSON, a
wrong type, a missing required field — with the source, the reason, the raw line and the
run id). Re-loading a partition replaces exactly what the previous load of it wrote
(staging rows, rejects and the `landing_partitions` record) in one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine

from ..failures import KafkaOutage
from . import warehouse as wh
from .synthetic import LATE_AFTER, MONTHLY_SOURCES, Source, landing_dir


class _Reject(Exception):
    pass


def _text(value, name):
    if not isinstance(value, str):
        raise _Reject(f"wrong type for {name}: expected text, got {type(value).__name__} {value!r}")
    return value


def _int(value, name):
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Reject(f"wrong type for {name}: expected an integer, got {type(value).__name__} {value!r}")
    return value


def _float(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (float("inf"), float("-inf")):
        raise _Reject(f"wrong type for {name}: expected a number, got {type(value).__name__} {value!r}")
    return float(value)


def _date(value, name):
    try:
        return date.fromisoformat(_text(value, name))
    except ValueError:
        raise _Reject(f"wrong type for {name}: expected a date YYYY-MM-DD, got {value!r}") from None


def _datetime(value, name):
    try:
        parsed = datetime.fromisoformat(_text(value, name))
    except ValueError:
        raise _Reject(f"wrong type for {name}: expected an ISO 8601 timestamp, got {value!r}") from None
    if parsed.tzinfo is not None:  # stored as naive UTC
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def _json_list(value, name):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Reject(f"wrong type for {name}: expected a list of text, got {value!r}")
    return json.dumps(value)


@dataclass(frozen=True)
class FieldSpec:
    path: str  # dotted path in the landed record
    column: str
    convert: Callable
    required: bool = True


def _f(path, convert, required=True, column=None) -> FieldSpec:
    return FieldSpec(path, column or path.rsplit(".", 1)[-1], convert, required)


SCHEMAS: dict[Source, tuple[FieldSpec, ...]] = {
    Source.revenue: (
        _f("account_id", _text), _f("subscription_tier", _text), _f("monthly_license_revenue", _float),
        _f("user_licenses", _int), _f("additional_features", _json_list), _f("feature_revenue", _float),
        _f("total_monthly_revenue", _float), _f("billing_date", _date), _f("payment_status", _text),
    ),
    Source.ledger: (
        _f("entry_id", _text), _f("account_id", _text), _f("ledger_month", _date), _f("recognized_revenue", _float),
    ),
    Source.expenses: (
        _f("expense_id", _text), _f("account_id", _text, False), _f("cost_centre", _text, False),
        _f("expense_category", _text), _f("monthly_cost", _float), _f("breakdown.cloud_services", _float),
        _f("breakdown.database_hosting", _float), _f("breakdown.monitoring_tools", _float), _f("expense_date", _date),
    ),
    Source.salaries: (
        _f("team_id", _text), _f("team_name", _text), _f("monthly_salary_total", _float), _f("headcount", _int),
        _f("cost_per_engineer", _float), _f("salary_month", _date),
    ),
    Source.account_status_changes: (
        _f("account_id", _text), _f("previous_status", _text, False), _f("new_status", _text),
        _f("change_date", _date), _f("change_reason", _text), _f("sales_rep", _text, False),
        _f("contract_value", _float),
    ),
    Source.license_changes: (
        _f("account_id", _text), _f("previous_licenses", _int), _f("new_licenses", _int), _f("change_date", _date),
        _f("change_type", _text), _f("additional_revenue", _float), _f("effective_date", _date),
    ),
    Source.renewals: (
        _f("account_id", _text), _f("renewal_date", _date), _f("previous_contract_value", _float),
        _f("new_contract_value", _float), _f("renewal_type", _text),
        _f("contract_duration", _int, column="contract_duration_months"),
    ),
    Source.click_events: (
        _f("event_id", _text), _f("user_id", _text), _f("account_id", _text), _f("event_type", _text),
        _f("feature_name", _text, False), _f("timestamp", _datetime, column="event_ts"),
        _f("session_id", _text, False), _f("page_url", _text, False), _f("user_agent", _text, False),
        _f("ip_address", _text, False),
    ),
    Source.usage_sessions: (
        _f("session_id", _text), _f("user_id", _text), _f("account_id", _text), _f("session_start", _datetime),
        _f("session_end", _datetime), _f("total_active_time_minutes", _float), _f("features_used", _json_list),
        _f("device_type", _text),
    ),
    Source.team_activity: (
        _f("account_id", _text), _f("activity_date", _date), _f("active_users", _int),
        _f("total_session_hours", _float), _f("features_accessed", _int), _f("api_calls", _int),
        _f("reports_generated", _int),
    ),
}

#: The newest-record column per source, recorded in `landing_partitions.newest_record`.
NEWEST: dict[Source, str] = {
    Source.revenue: "billing_date", Source.ledger: "ledger_month", Source.expenses: "expense_date",
    Source.salaries: "salary_month", Source.account_status_changes: "change_date",
    Source.license_changes: "change_date", Source.renewals: "renewal_date", Source.click_events: "event_ts",
    Source.usage_sessions: "session_end", Source.team_activity: "activity_date",
}


def _expenses_need_owner(row: dict) -> None:
    if row["account_id"] is None and row["cost_centre"] is None:
        raise _Reject("missing required field account_id (or cost_centre)")


def _typed(source: Source, record) -> dict:
    if not isinstance(record, dict):
        raise _Reject(f"wrong type: expected a JSON object, got {type(record).__name__}")
    row = {}
    for spec in SCHEMAS[source]:
        value = record
        for part in spec.path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            if spec.required:
                raise _Reject(f"missing required field {spec.path}")
            row[spec.column] = None
            continue
        row[spec.column] = spec.convert(value, spec.path)
    if source is Source.expenses:
        _expenses_need_owner(row)
    return row


@dataclass
class LoadResult:
    source: str
    partition_date: date
    partitions_present: list[str] = field(default_factory=list)
    partitions_missing: list[str] = field(default_factory=list)
    rows_loaded: int = 0
    rows_rejected: int = 0
    late_rows: int = 0

    def as_dict(self) -> dict:
        return {
            "source": self.source, "partition_date": self.partition_date.isoformat(),
            "partitions_present": self.partitions_present, "partitions_missing": self.partitions_missing,
            "rows_loaded": self.rows_loaded, "rows_rejected": self.rows_rejected, "late_rows": self.late_rows,
        }


def partition_of(source: Source, day: date) -> date:
    return day.replace(day=1) if source in MONTHLY_SOURCES else day


def _partition_files(source: Source, partition: date, landing: Path) -> list[tuple[str, Path]]:
    if source in MONTHLY_SOURCES:
        return [("", landing / source.value / f"month={partition:%Y-%m}" / "part-000.jsonl")]
    folder = landing / source.value / f"dt={partition.isoformat()}"
    if source is Source.click_events:
        return [(f"{hour:02d}", folder / f"hour={hour:02d}.jsonl") for hour in range(24)]
    return [("", folder / "part-000.jsonl")]


def _read_file(source: Source, path: Path, partition: date, key: str, run_id: str, now: datetime, result: LoadResult):
    """Parse one landing file into staging rows and rejects; return them with the newest record."""
    rows, rejected, newest = [], [], None
    extra = {"partition_date": partition, "run_id": run_id}
    arrival = None
    if source is Source.click_events:
        extra["partition_hour"] = int(key)
        arrival = datetime(partition.year, partition.month, partition.day) + timedelta(hours=int(key) + 1)
    newest_column = NEWEST[source]
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            raw = line.rstrip("\n")
            if not raw.strip():
                continue
            try:
                try:
                    record = json.loads(raw)
                except ValueError as exc:
                    raise _Reject(f"unparsable JSON: {exc}") from None
                row = _typed(source, record)
            except _Reject as exc:
                rejected.append({"source": source.value, "partition_date": partition,
                                 "location": f"{path}:{line_number}", "reason": str(exc), "raw": raw,
                                 "run_id": run_id, "rejected_at": now})
                continue
            row.update(extra)
            if arrival is not None:
                row["event_date"] = row["event_ts"].date()
                row["is_late"] = arrival - row["event_ts"] > LATE_AFTER
                result.late_rows += row["is_late"]
            value = row[newest_column]
            if value is not None and (newest is None or value > newest):
                newest = value
            rows.append(row)
    if newest is not None and not isinstance(newest, datetime):
        newest = datetime(newest.year, newest.month, newest.day)
    return rows, rejected, newest


def load_partition(engine: Engine, source: Source | str, day: date, run_id: str,
                   data_dir: Path | None = None) -> LoadResult:
    """Load the partition of `source` covering `day` (its month for monthly sources).

    One transaction replaces the partition; files are parsed and inserted one at a time, so
    memory stays at one landing file (an hour of click events) whatever the day's size.
    """
    source = Source(source)
    partition = partition_of(source, day)
    table = wh.STAGING[source.value]
    landing = landing_dir(data_dir)
    result = LoadResult(source.value, partition)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    partition_records: list[dict] = []
    with engine.begin() as conn:
        conn.execute(delete(table).where(table.c.partition_date == partition))
        conn.execute(delete(wh.rejects).where(wh.rejects.c.source == source.value,
                                              wh.rejects.c.partition_date == partition))
        conn.execute(delete(wh.landing_partitions).where(wh.landing_partitions.c.source == source.value,
                                                         wh.landing_partitions.c.partition_date == partition))
        for key, path in _partition_files(source, partition, landing):
            label = f"{source.value}/{partition.isoformat()}" + (f"/hour={key}" if key else "")
            record = {"source": source.value, "partition_date": partition, "partition_key": key, "present": False,
                      "rows_loaded": 0, "rows_rejected": 0, "newest_record": None, "loaded_at": now, "run_id": run_id}
            if not path.is_file():
                result.partitions_missing.append(label)
                partition_records.append(record)
                continue
            result.partitions_present.append(label)
            rows, rejected, newest = _read_file(source, path, partition, key, run_id, now, result)
            if rows:
                conn.execute(insert(table), rows)
            if rejected:
                conn.execute(insert(wh.rejects), rejected)
            result.rows_loaded += len(rows)
            result.rows_rejected += len(rejected)
            partition_records.append({**record, "present": True, "rows_loaded": len(rows),
                                      "rows_rejected": len(rejected), "newest_record": newest})
        conn.execute(insert(wh.landing_partitions), partition_records)
    if source is Source.click_events and result.rows_loaded == 0:
        raise KafkaOutage(
            f"no click events landed for {partition} ({len(result.partitions_missing)} of 24 hourly partitions "
            f"missing, {result.rows_rejected} rejected lines): the Kafka sink delivered nothing",
            details=result.as_dict(),
        )
    return result

