"""The data contracts: the exact record shape each TechFlow source exports, declared once.

One pydantic TypedDict per source, taken field for field from the brief's export table
(`shared/brief/techflow-details.md`); the ingest, `techflow-ops data check-records`, the
generator's tests, the README and the runbooks' Data section all read these.

What a contract does with a landed JSON line:
- validates it strictly (a number is not text, `12.0` is not an integer, a date is
  `YYYY-MM-DD`, a timestamp ISO 8601);
- parses the two text formats the brief gives: `salary_month` "YYYY-MM" (a month, stored
  as its first day) and `contract_duration` "N months" (stored as the number of months);
- keeps fields it does not know in `raw` (JSON), so an export that grows a field loads
  as it is and nothing it sent is lost;
- derives the identity a source has no id for: click events are the same event when
  (user, session, timestamp, event type, feature, page) repeat (`event_key`), a usage
  session is (user, session start) (`session_key`).

A rejection is a `RecordRejected` naming the field and the value, so a reject row and the
CLI can say which line, which field and what was there. Bump `CONTRACT_VERSION` when a
shape changes: staging tables are rebuilt from landing when their columns no longer match.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Callable

from pydantic import ConfigDict, Field, PlainValidator, TypeAdapter, ValidationError, WithJsonSchema, with_config
from typing_extensions import NotRequired, TypedDict

from .sources import Source

CONTRACT_VERSION = 2

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_MONTHS = re.compile(r"^\s*(\d+)\s+months?\s*$", re.IGNORECASE)


def _month(value: Any) -> date:
    match = _MONTH.match(value) if isinstance(value, str) else None
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError('expected a month "YYYY-MM"')
    return date(int(match.group(1)), int(match.group(2)), 1)


def _duration_months(value: Any) -> int:
    match = _MONTHS.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError('expected a duration "N months"')
    return int(match.group(1))


Month = Annotated[date, PlainValidator(_month), WithJsonSchema({"type": "string", "pattern": r"^\d{4}-\d{2}$"})]
DurationMonths = Annotated[
    int, PlainValidator(_duration_months),
    WithJsonSchema({"type": "string", "pattern": r"^\s*\d+\s+[Mm][Oo][Nn][Tt][Hh][Ss]?\s*$"}),
]
Text = Annotated[str, Field(min_length=1)]
Money = Annotated[float, Field(allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]
Names = list[str]

_CONFIG = ConfigDict(extra="allow", strict=True)


@with_config(_CONFIG)
class RevenueRecord(TypedDict):
    account_id: Text
    subscription_tier: Text
    monthly_revenue: Money
    user_licenses: Count
    additional_features: Names
    feature_revenue: Money
    total_monthly_revenue: Money
    billing_date: date
    payment_status: Text


@with_config(_CONFIG)
class LedgerRecord(TypedDict):
    """The accounting filings revenue is reconciled with (not in the brief's export table)."""

    entry_id: Text
    account_id: Text
    ledger_month: date
    recognized_revenue: Money


@with_config(_CONFIG)
class ExpenseRecord(TypedDict):
    account_id: Text
    expense_category: Text
    monthly_cost: Money
    cost_breakdown: dict[str, Money]
    expense_date: date


@with_config(_CONFIG)
class SalaryRecord(TypedDict):
    team_id: Text
    team_name: Text
    monthly_salary_total: Money
    headcount: Count
    cost_per_engineer: Money
    salary_month: Month


@with_config(_CONFIG)
class AccountStatusChangeRecord(TypedDict):
    account_id: Text
    previous_status: NotRequired[str | None]  # none for a brand-new account
    new_status: Text
    change_date: date
    change_reason: Text
    sales_rep: NotRequired[str | None]
    contract_value: Money


@with_config(_CONFIG)
class LicenseChangeRecord(TypedDict):
    account_id: Text
    previous_licenses: Count
    new_licenses: Count
    change_date: date
    change_type: Text
    additional_revenue: Money
    effective_date: date


@with_config(_CONFIG)
class RenewalRecord(TypedDict):
    account_id: Text
    renewal_date: date
    previous_contract_value: Money
    new_contract_value: Money
    renewal_type: Text
    contract_duration: DurationMonths


@with_config(_CONFIG)
class ClickEventRecord(TypedDict):
    user_id: Text
    account_id: Text
    event_type: Text
    feature_name: NotRequired[str | None]
    timestamp: datetime
    session_id: NotRequired[str | None]
    page_url: NotRequired[str | None]
    user_agent: NotRequired[str | None]
    ip_address: NotRequired[str | None]


@with_config(_CONFIG)
class PlatformUsageRecord(TypedDict):
    user_id: Text
    account_id: Text
    session_start: datetime
    session_end: datetime
    total_active_time_minutes: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    features_used: Names
    device_type: Text


@with_config(_CONFIG)
class TeamActivityRecord(TypedDict):
    account_id: Text
    team_id: Text
    date: date
    active_users: Count
    total_session_time_hours: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    features_accessed: Names
    api_calls: Count
    reports_generated: Count


def _utc_naive(value: datetime, field: str) -> datetime:
    """Timestamps are stored as naive UTC: both backends then compare them the same way."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        raise RecordRejected("invalid value", field, value.isoformat(), "outside the years 1-9999 in UTC") from None


def _event_key(row: dict) -> str:
    identity = "\x1f".join((
        row["user_id"], row.get("session_id") or "", row["event_ts"].isoformat(), row["event_type"],
        row.get("feature_name") or "", row.get("page_url") or "",
    ))
    return hashlib.blake2b(identity.encode(), digest_size=12).hexdigest()


def _click_event(row: dict) -> None:
    row["event_ts"] = _utc_naive(row["event_ts"], "timestamp")
    row["event_key"] = _event_key(row)


def _usage_session(row: dict) -> None:
    row["session_start"] = _utc_naive(row["session_start"], "session_start")
    row["session_end"] = _utc_naive(row["session_end"], "session_end")
    if row["session_end"] < row["session_start"]:
        raise RecordRejected("invalid value", "session_end", row["session_end"].isoformat(),
                             "session_end is before session_start")
    row["session_key"] = f"{row['user_id']}@{row['session_start']:%Y-%m-%dT%H:%M:%S}"


@dataclass(frozen=True)
class Contract:
    source: Source
    record: type
    #: record field -> staging column, where the column's name says more than the field's
    columns: dict[str, str]
    #: staging columns that identify a record: the same values twice are one record landed twice
    identity: tuple[str, ...]
    derive: Callable[[dict], None] | None = None
    description: str = ""
    #: the derived column that stands for `identity` when the export carries no id
    key_column: str | None = None

    @property
    def table(self) -> str:
        """The staging table the records load into."""
        return f"stg_{self.source.value}"

    @property
    def adapter(self) -> TypeAdapter:
        return _ADAPTERS[self.source]

    def fields(self) -> dict[str, dict]:
        """Each declared field: its JSON Schema, whether it is required, its staging column."""
        schema = self.json_schema()
        required = set(schema.get("required", ()))
        return {
            name: {"schema": spec, "required": name in required, "column": self.columns.get(name, name)}
            for name, spec in schema["properties"].items()
        }

    def json_schema(self) -> dict:
        schema = self.adapter.json_schema()
        schema["title"] = f"{self.source.value} (contract v{CONTRACT_VERSION})"
        schema["additionalProperties"] = True
        return schema

    def staging_row(self, line: str | bytes) -> dict:
        """The staging columns of one landed JSON line; `RecordRejected` when it breaks the contract."""
        try:
            record = self.adapter.validate_json(line)
        except ValidationError as exc:
            raise RecordRejected.from_validation(exc) from None
        if (b"\\u0000" if isinstance(line, bytes) else "\\u0000") in line:
            # PostgreSQL text and JSONB cannot hold a NUL character; SQLite would, and the two must agree.
            raise RecordRejected("invalid value", _field_holding(record, "\x00"), "\\u0000",
                                 "a NUL character cannot be stored")
        known = self.record.__annotations__
        extra = {name: record.pop(name) for name in [n for n in record if n not in known]}
        for name, value in extra.items():
            if not _json_storable(value):
                raise RecordRejected("invalid value", name, value, "NaN or infinity cannot be stored as JSON")
        row = {self.columns.get(name, name): record.get(name) for name in known}
        row["raw"] = extra or None
        if self.derive is not None:
            self.derive(row)
        return row


def _json_storable(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_json_storable(v) for v in value.values())
    if isinstance(value, list):
        return all(_json_storable(v) for v in value)
    return True


def _holds(value, text: str) -> bool:
    if isinstance(value, str):
        return text in value
    if isinstance(value, dict):
        return any(_holds(k, text) or _holds(v, text) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds(v, text) for v in value)
    return False


def _field_holding(record: dict, text: str) -> str | None:
    """The first field whose text (or nested text) contains `text`."""
    return next((name for name, value in record.items() if _holds(name, text) or _holds(value, text)), None)


class RecordRejected(Exception):
    """A landed line that breaks its source's contract: why, which field and what value."""

    def __init__(self, kind: str, field: str | None, value: Any, detail: str = ""):
        self.kind, self.field, self.value, self.detail = kind, field, value, detail
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        if self.kind == "missing required field":
            return f"missing required field {self.field}" + (" (null)" if self.detail == "null" else "")
        if self.kind == "unparsable JSON":
            return f"unparsable JSON: {self.detail}"
        where = f" for {self.field}" if self.field else ""
        return f"{self.kind}{where}: {self.detail}, got {self.value!r}"

    def as_dict(self) -> dict:
        value = self.value
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)  # JSON has no NaN or infinity
        return {"reason": self.kind, "field": self.field, "value": value, "message": self.reason}

    @classmethod
    def from_validation(cls, exc: ValidationError) -> "RecordRejected":
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in error["loc"]) or None
        value = error.get("input")
        kind = error["type"]
        if kind == "json_invalid":
            return cls("unparsable JSON", None, None, error.get("ctx", {}).get("error", error["msg"]))
        if kind == "missing":
            return cls("missing required field", field, None)
        if value is None and field is not None and "." not in field:
            return cls("missing required field", field, None, "null")
        if kind in ("model_type", "dict_type") and field is None:
            return cls("wrong type", None, value, "expected a JSON object")
        if kind == "value_error" or kind.endswith(("_parsing", "_too_short", "_greater_than_equal", "finite_number")):
            message = error["msg"].removeprefix("Value error, ")
            return cls("invalid value" if not kind.endswith("_parsing") else "wrong type", field, value, message)
        return cls("wrong type", field, value, error["msg"])


CONTRACTS: dict[Source, Contract] = {
    contract.source: contract
    for contract in (
        Contract(Source.revenue, RevenueRecord, {}, ("account_id", "billing_date"),
                 description="monthly billing per account (billing system)"),
        Contract(Source.ledger, LedgerRecord, {}, ("entry_id",),
                 description="recognized revenue per account and month (accounting filings)"),
        Contract(Source.expenses, ExpenseRecord, {}, ("account_id", "expense_category", "expense_date"),
                 description="monthly cost per account and category, with its breakdown"),
        Contract(Source.salaries, SalaryRecord, {}, ("team_id", "salary_month"),
                 description="monthly salary totals per internal team (HR)"),
        Contract(Source.account_status_changes, AccountStatusChangeRecord, {},
                 ("account_id", "change_date", "new_status"), description="account lifecycle steps (CRM)"),
        Contract(Source.license_changes, LicenseChangeRecord, {}, ("account_id", "change_date"),
                 description="license upgrades and downgrades (account system)"),
        Contract(Source.renewals, RenewalRecord, {"contract_duration": "contract_duration_months"},
                 ("account_id", "renewal_date"), description="subscription renewals (CRM)"),
        Contract(Source.click_events, ClickEventRecord, {"timestamp": "event_ts"},
                 ("user_id", "session_id", "event_ts", "event_type", "feature_name", "page_url"), _click_event,
                 description="click events from the Kafka topic, one file per hour", key_column="event_key"),
        Contract(Source.usage_sessions, PlatformUsageRecord, {}, ("user_id", "session_start"), _usage_session,
                 description="platform usage sessions", key_column="session_key"),
        Contract(Source.team_activity, TeamActivityRecord, {"date": "activity_date"},
                 ("account_id", "team_id", "activity_date"), description="daily activity per customer team"),
    )
}

_ADAPTERS: dict[Source, TypeAdapter] = {source: TypeAdapter(c.record) for source, c in CONTRACTS.items()}


def contract_for(source: Source | str) -> Contract:
    return CONTRACTS[Source(source)]



@dataclass
class FileCheck:
    """What loading a JSON-lines file would do, without loading it."""

    source: str
    path: str
    loaded: int = 0
    rejects: list[dict] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    def by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for reject in self.rejects:
            key = reject["reason"] + (f" ({reject['field']})" if reject["field"] else "")
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def as_dict(self) -> dict:
        return {"source": self.source, "file": self.path, "contract_version": CONTRACT_VERSION, "loaded": self.loaded,
                "rejected": self.rejected, "rejected_by_reason": self.by_reason(), "rejects": self.rejects}


def landed_line(line: bytes, line_number: int) -> bytes:
    """One line of a landing file as the contract reads it: without its newline and, on the
    first line, without a UTF-8 byte-order mark (spreadsheet exports write one)."""
    line = line.rstrip(b"\r\n")
    return line.removeprefix(b"\xef\xbb\xbf") if line_number == 1 else line


def check_file(source: Source | str, path: Path) -> FileCheck:
    """Type every line of `path` against `source`'s contract, as the ingest would."""
    contract = contract_for(source)
    result = FileCheck(contract.source.value, str(path))
    with path.open("rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            line = landed_line(line, line_number)
            if not line.strip():
                continue
            try:
                contract.staging_row(line)
            except RecordRejected as exc:
                result.rejects.append({"line": line_number, **exc.as_dict()})
                continue
            result.loaded += 1
    return result
