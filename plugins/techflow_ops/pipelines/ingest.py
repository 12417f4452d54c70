"""Load landing partitions into the staging tables: typed, idempotent, nothing dropped.

Each landed line is typed by its source's contract (`contracts`) and becomes either a
staging row or a `rejects` row (unparsable JSON, a wrong type, a missing required field —
with the source, the reason naming the field and value, the raw line and the run id). Re-loading a partition replaces exactly what the previous load of it wrote
(staging rows, rejects and the `landing_partitions` record) in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine

from ..failures import KafkaOutage
from . import warehouse as wh
from .contracts import RecordRejected, contract_for, landed_line
from .synthetic import LATE_AFTER, MONTHLY_SOURCES, Source, landing_dir

#: The newest-record column per source, recorded in `landing_partitions.newest_record`.
NEWEST: dict[Source, str] = {
    Source.revenue: "billing_date", Source.ledger: "ledger_month", Source.expenses: "expense_date",
    Source.salaries: "salary_month", Source.account_status_changes: "change_date",
    Source.license_changes: "change_date", Source.renewals: "renewal_date", Source.click_events: "event_ts",
    Source.usage_sessions: "session_end", Source.team_activity: "activity_date",
}


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


def consumer_lag_seconds(partition: date, hour: int, written_at: datetime, newest_event: datetime | None) -> float:
    """The Kafka consumer's lag when it committed an hourly file: its commit time (`written_at`)
    against the newest event it had read by then. The sink rolls an hour's file only once it has
    read past the hour, so that is the later of the newest event in the file and the hour's
    close: a quiet hour (a few events at night, or none) is not lag, while an event stamped
    after the close (a producer's clock ahead) counts from itself."""
    closed = datetime(partition.year, partition.month, partition.day) + timedelta(hours=hour + 1)
    read_up_to = max(closed, newest_event) if newest_event is not None else closed
    return (written_at - read_up_to).total_seconds()


def _read_file(source: Source, path: Path, partition: date, key: str, run_id: str, now: datetime, result: LoadResult):
    """Parse one landing file into staging rows and rejects; return them with the newest record."""
    rows, rejected, newest = [], [], None
    extra = {"partition_date": partition, "run_id": run_id}
    arrival = None
    if source is Source.click_events:
        extra["partition_hour"] = int(key)
        arrival = datetime(partition.year, partition.month, partition.day) + timedelta(hours=int(key) + 1)
    newest_column = NEWEST[source]
    contract = contract_for(source)
    # Bytes, line by line: one line that is not UTF-8 is that line's reject, not the file's.
    with path.open("rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            raw = landed_line(line, line_number)
            if not raw.strip():
                continue
            try:
                row = contract.staging_row(raw)
            except RecordRejected as exc:
                text = raw.decode("utf-8", errors="replace").replace("\x00", "\\u0000")  # PostgreSQL text holds no NUL
                rejected.append({"source": source.value, "partition_date": partition,
                                 "location": f"{path}:{line_number}", "reason": exc.reason, "raw": text,
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
                      "rows_loaded": 0, "rows_rejected": 0, "newest_record": None, "written_at": None,
                      "consumer_lag_seconds": None, "loaded_at": now, "run_id": run_id}
            if not path.is_file():
                result.partitions_missing.append(label)
                partition_records.append(record)
                continue
            result.partitions_present.append(label)
            written_at = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).replace(tzinfo=None)
            rows, rejected, newest = _read_file(source, path, partition, key, run_id, now, result)
            if rows:
                conn.execute(insert(table), rows)
            if rejected:
                conn.execute(insert(wh.rejects), rejected)
            result.rows_loaded += len(rows)
            result.rows_rejected += len(rejected)
            lag = consumer_lag_seconds(partition, int(key), written_at, newest) if source is Source.click_events else None
            partition_records.append({**record, "present": True, "rows_loaded": len(rows),
                                      "rows_rejected": len(rejected), "newest_record": newest,
                                      "written_at": written_at, "consumer_lag_seconds": lag})
        conn.execute(insert(wh.landing_partitions), partition_records)
    if source is Source.click_events and result.rows_loaded == 0:
        raise KafkaOutage(
            f"no click events landed for {partition} ({len(result.partitions_missing)} of 24 hourly partitions "
            f"missing, {result.rows_rejected} rejected lines): the Kafka sink delivered nothing",
            details=result.as_dict(),
        )
    return result

