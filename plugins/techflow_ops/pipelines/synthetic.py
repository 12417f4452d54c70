"""Deterministic synthetic TechFlow data, landed as JSONL files the way the real sources land.

One seeded simulation of accounts over the date range (sign-ups as trials, trials converting
or expiring, license upgrades and downgrades, renewals, churn, weekday/weekend usage) is
written to `<data_dir>/landing/<source>/...`:

- daily sources:   `<source>/dt=YYYY-MM-DD/part-000.jsonl`
- click events:    `click_events/dt=YYYY-MM-DD/hour=HH.jsonl` (like a Kafka sink, one file per hour)
- monthly sources: `<source>/month=YYYY-MM/part-000.jsonl` (revenue, ledger, expenses, salaries)

The same arguments always produce byte-identical files. Faults are injected per source and
date (`FaultSpec`); `FAULTS` describes every fault, the sources it applies to and where the
warehouse makes it visible, so quality checks and drills can iterate over all of them.
"""

from __future__ import annotations

import calendar
import json
import os
import random
import shutil
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from pathlib import Path

from .. import settings
from .sources import MONTHLY_SOURCES, Source

#: The field that identifies what a record is about; `null_keys` blanks it.
KEY_FIELDS: dict[Source, str] = {
    Source.revenue: "account_id",
    Source.ledger: "account_id",
    Source.expenses: "account_id",
    Source.salaries: "team_id",
    Source.account_status_changes: "account_id",
    Source.license_changes: "account_id",
    Source.renewals: "account_id",
    Source.click_events: "user_id",
    Source.usage_sessions: "user_id",
    Source.team_activity: "account_id",
}


class Fault(str, Enum):
    missing_partition = "missing_partition"
    duplicate_events = "duplicate_events"
    late_events = "late_events"
    null_keys = "null_keys"
    stale = "stale"
    revenue_ledger_mismatch = "revenue_ledger_mismatch"
    skipped_status_step = "skipped_status_step"
    zero_subscribers = "zero_subscribers"
    malformed_rows = "malformed_rows"
    invalid_events = "invalid_events"
    consumer_lag = "consumer_lag"
    expense_spike = "expense_spike"
    license_mismatch = "license_mismatch"
    churn_spike = "churn_spike"
    missing_status = "missing_status"


#: Share of the day's click events `invalid_events` makes invalid unless its spec names one
#: (`click_events:DAY:invalid_events=0.0005`): twice the 0.1 % the brief tolerates.
INVALID_EVENTS_SHARE = 0.002
#: Faults whose spec may name the share of records they affect.
SHARED_FAULTS = frozenset({Fault.invalid_events, Fault.duplicate_events})
#: The Kafka sink commits an hour's file this many seconds after the hour closed (a healthy consumer) ...
COMMIT_DELAY_SECONDS = (30, 90)
#: ... and, under `consumer_lag`, this many seconds late for the day's last LAGGING_HOURS hours.
LAGGING_DELAY_SECONDS = (20 * 60, 40 * 60)
LAGGING_HOURS = 3


@dataclass(frozen=True)
class FaultInfo:
    fault: Fault
    description: str
    sources: frozenset[Source]
    visible_in: str  # where the warehouse shows it, for checks and runbooks


_ALL = frozenset(Source)
FAULTS: dict[Fault, FaultInfo] = {
    info.fault: info
    for info in (
        FaultInfo(Fault.missing_partition,
                  "the partition is not landed at all (click events: hour 13 of the day is missing)",
                  _ALL, "landing_partitions.present = false for the source and date"),
        FaultInfo(Fault.duplicate_events,
                  "about 2 % of the partition's records (at least one) are landed twice, the same record again "
                  "(click events: `duplicate_events=SHARE` lands that share of the day's events twice, in hour 14)",
                  _ALL, "duplicate keys in the staging table (event_key; account+month; team+salary_month; ...)"),
        FaultInfo(Fault.late_events,
                  "about 1 % extra click events (at least one) that happened 72 h before the partition",
                  frozenset({Source.click_events}), "stg_click_events.is_late = true"),
        FaultInfo(Fault.null_keys,
                  "about 2 % of records (at least one) have their key field set to null",
                  _ALL, "rejects rows with reason 'missing required field <key>'"),
        FaultInfo(Fault.stale,
                  "the partition is landed but holds no new data (empty files)",
                  _ALL, "landing_partitions.present = true and rows_loaded = 0"),
        FaultInfo(Fault.revenue_ledger_mismatch,
                  "billed revenue is 5 % above the accounting ledger for every account of the month",
                  frozenset({Source.revenue}), "profit_monthly.revenue_vs_ledger ~ 0.05"),
        FaultInfo(Fault.skipped_status_step,
                  "an account still in Trial is reported Active -> Churned: its Trial -> Active step is missing",
                  frozenset({Source.account_status_changes}),
                  "a stg_account_status_changes row whose previous_status differs from the account's last landed "
                  "new_status (the fault picks a trial whose sign-up was landed when there is one)"),
        FaultInfo(Fault.zero_subscribers,
                  "one account of the month is billed with user_licenses = 0",
                  frozenset({Source.revenue}), "stg_revenue.user_licenses = 0; profit_daily_account.zero_subscribers"),
        FaultInfo(Fault.malformed_rows,
                  "three bad lines: unparsable JSON, a wrong type, a missing required field",
                  _ALL, "rejects rows with reasons 'unparsable JSON', 'wrong type', 'missing required field'"),
        FaultInfo(Fault.invalid_events,
                  f"a share of the day's click events (default {INVALID_EVENTS_SHARE:.1%}, at least one; "
                  "`invalid_events=SHARE` picks another) carry a null user_id or an unparsable timestamp",
                  frozenset({Source.click_events}),
                  "rejects rows for click_events: 'missing required field user_id' and wrong-type timestamps"),
        FaultInfo(Fault.consumer_lag,
                  f"the Kafka sink commits the day's last {LAGGING_HOURS} hourly files 20-40 minutes after "
                  "their hour closed (a healthy sink: 30-90 s)",
                  frozenset({Source.click_events}),
                  "landing_partitions.written_at - the hour's close > 5 minutes for the day's last hours"),
        FaultInfo(Fault.expense_spike,
                  "one account's monthly cost (and its breakdown) is 10x its usual amount; row count unchanged",
                  frozenset({Source.expenses}),
                  "stg_expenses.monthly_cost of the account against its previous month (the account billed "
                  "longest, so there is a previous month whenever the range has one)"),
        FaultInfo(Fault.license_mismatch,
                  "a license change reports previous_licenses 5 above the account's real count "
                  "(a change is forced on the day when none happened)",
                  frozenset({Source.license_changes}),
                  "a stg_license_changes row whose previous_licenses differs from the account's last known count "
                  "(its last landed change, else its billed user_licenses of the previous month)"),
        FaultInfo(Fault.churn_spike,
                  "half the Active accounts (at least six) churn on the day",
                  frozenset({Source.account_status_changes}),
                  "growth_weekly.churned - converted of the week (net accounts lost)"),
        FaultInfo(Fault.missing_status,
                  "an account signs up on the day but the account system never exports any of its status "
                  "changes; it is billed all the same",
                  frozenset({Source.account_status_changes}),
                  "a stg_revenue account with no stg_account_status_changes row (growth_monthly check)"),
    )
}


@dataclass(frozen=True)
class FaultSpec:
    source: Source
    date: date
    fault: Fault
    share: float | None = None  # faults that take one: the share of records affected

    @classmethod
    def parse(cls, text: str) -> "FaultSpec":
        """`SOURCE:YYYY-MM-DD:FAULT[=SHARE]`, e.g. `click_events:2026-11-20:late_events`,
        `click_events:2026-11-20:invalid_events=0.0005`."""
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"fault {text!r}: expected SOURCE:YYYY-MM-DD:FAULT")
        source_text, date_text, fault_text = parts
        share = None
        if "=" in fault_text:
            fault_text, share_text = fault_text.split("=", 1)
            try:
                share = float(share_text)
            except ValueError:
                share = None
            if share is None or not 0 < share <= 1:
                raise ValueError(f"fault {text!r}: share {share_text!r} is not a number in (0, 1]")
        try:
            source = Source(source_text)
        except ValueError:
            raise ValueError(f"fault {text!r}: unknown source {source_text!r} (one of {', '.join(s.value for s in Source)})") from None
        try:
            day = date.fromisoformat(date_text)
        except ValueError:
            raise ValueError(f"fault {text!r}: date {date_text!r} is not YYYY-MM-DD") from None
        try:
            fault = Fault(fault_text)
        except ValueError:
            raise ValueError(f"fault {text!r}: unknown fault {fault_text!r} (one of {', '.join(f.value for f in Fault)})") from None
        if source not in FAULTS[fault].sources:
            allowed = ", ".join(sorted(s.value for s in FAULTS[fault].sources))
            raise ValueError(f"fault {text!r}: {fault.value} does not apply to {source.value} (applies to {allowed})")
        if share is not None and fault not in SHARED_FAULTS:
            raise ValueError(f"fault {text!r}: {fault.value} takes no share (only {', '.join(f.value for f in SHARED_FAULTS)})")
        return cls(source, day, fault, share)

    def __str__(self) -> str:
        share = f"={self.share:g}" if self.share is not None else ""
        return f"{self.source.value}:{self.date.isoformat()}:{self.fault.value}{share}"


@dataclass(frozen=True)
class GeneratorConfig:
    start: date
    end: date
    accounts: int = 40
    events_per_day: int = 5000
    seed: int = 7
    faults: tuple[FaultSpec, ...] = ()
    #: Days simulated before `start` and not landed, so the range opens on an established
    #: customer base (converted accounts, billed revenue) instead of a company born that day.
    warmup_days: int = 30

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if self.accounts < 1:
            raise ValueError(f"accounts must be at least 1, got {self.accounts}")
        if self.warmup_days < 0:
            raise ValueError(f"warmup_days must not be negative, got {self.warmup_days}")
        if self.events_per_day < 0:
            raise ValueError(f"events_per_day must not be negative, got {self.events_per_day}")
        for spec in self.faults:
            if not self.start <= spec.date <= self.end:
                raise ValueError(f"fault {spec}: date outside the generated range {self.start}..{self.end}")

    def faults_for(self, source: Source, day: date) -> set[Fault]:
        """Faults for a source's partition; a monthly source's partition covers its whole month."""
        if source in MONTHLY_SOURCES:
            return {f.fault for f in self.faults if f.source is source and f.date.replace(day=1) == day.replace(day=1)}
        return {f.fault for f in self.faults if f.source is source and f.date == day}

    def share_of(self, source: Source, day: date, fault: Fault, default: float) -> float:
        return next((f.share for f in self.faults if f.source is source and f.date == day and f.fault is fault
                     and f.share is not None), default)


# --- the business ---------------------------------------------------------------------------

PRICE_PER_LICENSE = {"Trial": 0.0, "Starter": 25.0, "Professional": 60.0, "Enterprise": 120.0}
FEATURE_PRICES = {"Advanced Analytics": 400.0, "API Access": 250.0, "Priority Support": 300.0}
FEATURES = ("Dashboard", "Contacts", "Deals", "Reports", "Advanced Analytics", "API Access", "Email Campaigns", "Forecasting")
#: Event types as the frontend's Kafka producer names them; those with a feature name.
EVENT_TYPES = ("page_view", "feature_click", "button_click", "api_call", "report_export")
FEATURE_EVENTS = frozenset({"feature_click", "api_call", "report_export"})
DEVICES = ("Desktop", "Desktop", "Desktop", "Mobile", "Tablet")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
)
SALES_REPS = ("John Smith", "Maria Garcia", "Wei Chen", "Amara Okafor")
#: Users of a customer account work in teams of this size (team activity is per team).
TEAM_SIZE = 10
#: (team_id, team_name, headcount per 400 accounts, monthly cost per person)
SALARY_TEAMS = (
    ("ENG_001", "Data Engineering", 4, 11000.0),
    ("ENG_002", "Software Frontend", 6, 10000.0),
    ("ENG_003", "Platform Backend", 8, 10500.0),
    ("SAL_001", "Accounts & Sales", 5, 8000.0),
    ("SUP_001", "Customer Support", 4, 6000.0),
)
#: Allowed account status transitions; anything else means a step is missing.
STATUS_TRANSITIONS = frozenset({(None, "Trial"), ("Trial", "Active"), ("Trial", "Expired"), ("Active", "Churned")})
LATE_AFTER = timedelta(hours=48)


@dataclass
class _Account:
    id: str
    signup: date
    licenses: int
    users: list[str]
    status: str = "Trial"
    tier: str = "Trial"
    trial_days: int = 14
    contract_value: float = 0.0
    features: tuple[str, ...] = ()
    history: list[tuple[date, str, int]] = field(default_factory=list)  # (day, status, licenses) at day end


def _user_ids(account_id: str, first: int, last: int) -> list[str]:
    number = int(account_id.removeprefix("ACC_"))
    return [f"USER_{number:03d}{n:03d}" for n in range(first, last + 1)]


def _tier_for(licenses: int) -> str:
    return "Starter" if licenses < 10 else "Professional" if licenses < 40 else "Enterprise"


def _days(start: date, end: date):
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def _month_starts(start: date, end: date) -> list[date]:
    months, cursor = [], start.replace(day=1)
    while cursor <= end:
        months.append(cursor)
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    return months


def _month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class GenerationResult:
    landing_dir: Path
    files: int = 0
    records: dict[str, int] = field(default_factory=dict)

    def add(self, source: Source, count: int) -> None:
        self.records[source.value] = self.records.get(source.value, 0) + count


def _spiked(expense: dict, factor: float) -> dict:
    """The expense with its amounts (total and breakdown) multiplied, as a unit or feed error would."""
    breakdown = expense.get("cost_breakdown")
    return {**expense, "monthly_cost": round(expense["monthly_cost"] * factor, 2),
            **({"cost_breakdown": {k: round(v * factor, 2) for k, v in breakdown.items()}}
               if isinstance(breakdown, dict) else {})}


def _invalidate_events(config: GeneratorConfig, day: date, events_by_hour: dict[int, list[dict]]) -> None:
    """Replace a share of the day's events (at least one) by invalid ones, alternately a null
    user_id and an unparsable timestamp, so the landed lines stay as many as without the fault."""
    share = config.share_of(Source.click_events, day, Fault.invalid_events, INVALID_EVENTS_SHARE)
    slots = [(hour, index) for hour in range(24) for index in range(len(events_by_hour[hour]))]
    if not slots:
        return
    rng = random.Random(f"{config.seed}:invalid:{day}")
    count = min(len(slots), max(1, int(share * len(slots) + 0.5)))
    for n, (hour, index) in enumerate(sorted(rng.sample(slots, count))):
        event = events_by_hour[hour][index]
        events_by_hour[hour][index] = {**event, "user_id": None} if n % 2 == 0 else {**event, "timestamp": "2026-13-45T25:61:00Z"}


class _Writer:
    def __init__(self, config: GeneratorConfig, landing: Path, result: GenerationResult):
        self.config, self.landing, self.result = config, landing, result

    def partition_path(self, source: Source, day: date, hour: int | None = None) -> Path:
        if source in MONTHLY_SOURCES:
            return self.landing / source.value / f"month={day:%Y-%m}" / "part-000.jsonl"
        folder = self.landing / source.value / f"dt={day.isoformat()}"
        return folder / (f"hour={hour:02d}.jsonl" if hour is not None else "part-000.jsonl")

    def commit_time(self, day: date, hour: int, lagging: bool) -> float:
        """When the Kafka sink committed an hour's file (its mtime, which the ingest records as
        `written_at`): shortly after the hour closed, or 20+ minutes late for a lagging consumer."""
        rng = random.Random(f"{self.config.seed}:commit:{day}:{hour}")
        closed = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(hours=hour + 1)
        delay = LAGGING_DELAY_SECONDS if lagging and hour >= 24 - LAGGING_HOURS else COMMIT_DELAY_SECONDS
        return (closed + timedelta(seconds=rng.uniform(*delay))).timestamp()

    def write(self, source: Source, day: date, records: list[dict], hour: int | None = None,
              rng: random.Random | None = None) -> None:
        """Apply the partition's faults, then land the records as JSON lines."""
        faults = self.config.faults_for(source, day)
        rng = rng or random.Random(f"{self.config.seed}:{source.value}:{day}:{hour}:faults")
        if Fault.missing_partition in faults and (hour is None or hour == 13):
            return
        if Fault.stale in faults:
            records = []
        key = KEY_FIELDS[source]
        if Fault.null_keys in faults and records and (hour is None or hour == 9):
            for index in rng.sample(range(len(records)), max(1, len(records) // 50)):
                records[index] = {**records[index], key: None}
        if Fault.duplicate_events in faults and records:
            share = self.config.share_of(source, day, Fault.duplicate_events, None) if hour is not None else None
            if share is None:
                copies = [records[i] for i in rng.sample(range(len(records)), max(1, len(records) // 50))]
            else:  # a chosen share of the day: the copies all land in one busy hour's file
                copies = records[: round(share * self.config.events_per_day)] if hour == 14 else []
            records = records + copies
        if Fault.expense_spike in faults and records:
            records = [*records]
            records[0] = _spiked(records[0], 10.0)
        lines = [json.dumps(r, separators=(",", ":")) for r in records]
        if Fault.malformed_rows in faults and records and (hour is None or hour == 10):
            wrong_type = dict(records[0])
            numeric = next((k for k, v in wrong_type.items() if isinstance(v, (int, float)) and not isinstance(v, bool)), None)
            if numeric is not None:
                wrong_type[numeric] = "not-a-number"
            else:
                wrong_type["timestamp"] = "yesterday-ish"
            missing = {k: v for k, v in records[0].items() if k != key}
            lines += ['{"account_id": "ACC0001", "truncated', json.dumps(wrong_type), json.dumps(missing)]
        path = self.partition_path(source, day, hour)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        if hour is not None:
            committed = self.commit_time(day, hour, Fault.consumer_lag in faults)
            os.utime(path, (committed, committed))
        self.result.files += 1
        self.result.add(source, len(lines))


class _Simulation:
    def __init__(self, config: GeneratorConfig):
        self.config = config
        self.rng = random.Random(config.seed)
        self.accounts: list[_Account] = []
        self.next_account = 1
        # Half the accounts sign up on the first simulated day, the rest spread over warm-up and range.
        self.first_day = config.start - timedelta(days=config.warmup_days)
        days = (config.end - self.first_day).days + 1
        first = max(1, config.accounts // 2)
        self.signups: dict[date, int] = {self.first_day: first}
        for _ in range(config.accounts - first):
            day = self.first_day + timedelta(days=self.rng.randrange(days))
            self.signups[day] = self.signups.get(day, 0) + 1
        # `missing_status`: one more account signs up that day, and none of its status changes is exported.
        self.unexported: set[str] = set()
        for spec in config.faults:
            if spec.fault is Fault.missing_status:
                self.signups[spec.date] = self.signups.get(spec.date, 0) + 1

    def _new_account(self, day: date) -> _Account:
        rng = self.rng
        licenses = rng.choice([2, 3, 5, 8, 12, 15, 20, 30, 45, 60])
        account_id = f"ACC_{self.next_account:03d}"
        self.next_account += 1
        users = _user_ids(account_id, 1, licenses)
        account = _Account(account_id, day, licenses, users, trial_days=rng.randint(5, 14))
        self.accounts.append(account)
        return account

    def day(self, day: date) -> tuple[list[dict], list[dict], list[dict]]:
        """Advance one day; return the day's status changes, license changes and renewals."""
        rng, status_changes, license_changes, renewals = self.rng, [], [], []

        def status_change(account: _Account, new: str, reason: str, previous: str | None) -> None:
            status_changes.append({
                "account_id": account.id, "previous_status": previous, "new_status": new,
                "change_date": day.isoformat(), "change_reason": reason,
                "sales_rep": SALES_REPS[int(account.id.removeprefix("ACC_")) % len(SALES_REPS)],
                "contract_value": round(account.contract_value, 2),
            })
            account.status = new

        for _ in range(self.signups.get(day, 0)):
            status_change(self._new_account(day), "Trial", "Trial Signup", None)
        faults = self.config.faults_for(Source.account_status_changes, day)
        if Fault.missing_status in faults:
            self.unexported.add(self.accounts[-1].id)
        churners: set[str] = set()
        if Fault.churn_spike in faults:
            active = [a for a in self.accounts if a.status == "Active"]
            count = min(len(active), max(6, len(active) // 2))
            churners = {a.id for a in random.Random(f"{self.config.seed}:churn:{day}").sample(active, count)}

        skipper = None
        if Fault.skipped_status_step in self.config.faults_for(Source.account_status_changes, day):
            # A trial whose sign-up was landed, so the gap shows against its landed history.
            trials = [a for a in self.accounts if a.status == "Trial" and a.signup < day]
            skipper = next((a for a in trials if a.signup >= self.config.start), trials[0] if trials else None)
        for account in self.accounts:
            if account.signup == day:
                continue
            if account is skipper:
                # The Trial -> Active record never arrived; only the later churn is reported.
                status_change(account, "Churned", "Budget Cut", "Active")
            elif account.id in churners:
                status_change(account, "Churned", "Competitor Switch", "Active")
            elif account.status == "Trial" and (day - account.signup).days >= account.trial_days:
                if rng.random() < 0.7:
                    account.tier = _tier_for(account.licenses)
                    account.contract_value = account.licenses * PRICE_PER_LICENSE[account.tier] * 12
                    if account.tier != "Starter":
                        account.features = tuple(sorted(rng.sample(sorted(FEATURE_PRICES), rng.randint(0, 2))))
                    status_change(account, "Active", "Trial Conversion", "Trial")
                else:
                    status_change(account, "Expired", "Trial Expired", "Trial")
            elif account.status == "Active":
                roll = rng.random()
                if roll < 0.004:
                    status_change(account, "Churned", rng.choice(["Competitor Switch", "Budget Cut"]), "Active")
                elif roll < 0.034:
                    upgrade = roll < 0.024
                    delta = rng.randint(1, 10) if upgrade else -min(account.licenses - 1, rng.randint(1, 3))
                    if delta:
                        previous = account.licenses
                        account.licenses += delta
                        if upgrade:
                            account.users += _user_ids(account.id, previous + 1, account.licenses)
                        else:
                            account.users = account.users[: account.licenses]
                        license_changes.append({
                            "account_id": account.id, "previous_licenses": previous, "new_licenses": account.licenses,
                            "change_date": day.isoformat(), "change_type": "Upgrade" if upgrade else "Downgrade",
                            "additional_revenue": round(delta * PRICE_PER_LICENSE[account.tier], 2),
                            "effective_date": (day + timedelta(days=1)).isoformat(),
                        })
                elif roll < 0.040:
                    previous_value = account.contract_value
                    kind = rng.choice(["Expansion", "Expansion", "Flat", "Contraction"])
                    factor = {"Expansion": 1.15, "Flat": 1.0, "Contraction": 0.9}[kind]
                    account.contract_value = round(previous_value * factor, 2)
                    renewals.append({
                        "account_id": account.id, "renewal_date": day.isoformat(),
                        "previous_contract_value": round(previous_value, 2),
                        "new_contract_value": account.contract_value, "renewal_type": kind,
                        "contract_duration": f"{rng.choice([12, 12, 24])} months",
                    })
        if Fault.license_mismatch in self.config.faults_for(Source.license_changes, day):
            license_changes = self._mismatched_licenses(day, license_changes)
        for account in self.accounts:
            account.history.append((day, account.status, account.licenses))
        status_changes = [c for c in status_changes if c["account_id"] not in self.unexported]
        return status_changes, license_changes, renewals

    def _mismatched_licenses(self, day: date, changes: list[dict]) -> list[dict]:
        """`license_mismatch`: the change of the longest-standing account claims 5 more previous
        licenses than it had; with no change that day, that account upgrades by one license."""
        signup = {a.id: a.signup for a in self.accounts}
        if not changes:
            active = sorted((a for a in self.accounts if a.status == "Active" and a.signup < day), key=lambda a: a.signup)
            if not active:
                return changes
            account = active[0]
            previous, account.licenses = account.licenses, account.licenses + 1
            account.users += _user_ids(account.id, previous + 1, account.licenses)
            changes = [{
                "account_id": account.id, "previous_licenses": previous, "new_licenses": account.licenses,
                "change_date": day.isoformat(), "change_type": "Upgrade",
                "additional_revenue": round(PRICE_PER_LICENSE[account.tier], 2),
                "effective_date": (day + timedelta(days=1)).isoformat(),
            }]
        target = min(range(len(changes)), key=lambda i: signup[changes[i]["account_id"]])
        changes = [*changes]
        changes[target] = {**changes[target], "previous_licenses": changes[target]["previous_licenses"] + 5}
        return changes

    def using(self, day: date) -> list[_Account]:
        return [a for a in self.accounts if a.status in ("Trial", "Active") and a.signup <= day]


def _usage(config: GeneratorConfig, day: date, accounts: list[_Account]):
    """Sessions, click events (by hour) and team activity of one day."""
    rng = random.Random(f"{config.seed}:usage:{day}")
    weekend = day.weekday() >= 5
    p_active = 0.25 if weekend else 0.7
    sessions = []
    for account in accounts:
        for position, user in enumerate(account.users):
            if rng.random() >= p_active:
                continue
            starts: set[datetime] = set()
            for n in range(rng.choice([1, 1, 2, 3])):
                hour = min(23, max(0, int(rng.gauss(14, 3.5))))
                start = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60))
                while start in starts:  # a session is (user, start): the export has no session id
                    start += timedelta(seconds=1)
                starts.add(start)
                minutes = rng.randint(3, 90)
                end = min(start + timedelta(minutes=minutes), datetime(day.year, day.month, day.day, 23, 59, 59))
                sessions.append({"session_id": f"SESS_{user.removeprefix('USER_')}{day:%m%d}{n}", "user_id": user,
                                 "account_id": account.id, "team_id": f"TEAM_{position // TEAM_SIZE + 1:03d}",
                                 "start": start, "end": end, "device": rng.choice(DEVICES), "features": set(),
                                 "seconds": set()})
    events_by_hour: dict[int, list[dict]] = {h: [] for h in range(24)}
    if sessions and config.events_per_day:
        weights = [max(1.0, (s["end"] - s["start"]).total_seconds()) for s in sessions]
        picks = rng.choices(range(len(sessions)), weights=weights, k=config.events_per_day)
        for index in sorted(picks):
            session = sessions[index]
            span = max(1, int((session["end"] - session["start"]).total_seconds()))
            offset = rng.randrange(span)
            # One event per session and second: with no event id in the export, two events
            # alike to the second would be one event landed twice.
            while offset in session["seconds"]:
                offset += 1
            session["seconds"].add(offset)
            ts = session["start"] + timedelta(seconds=offset)
            event_type = rng.choice(EVENT_TYPES)
            feature = rng.choice(FEATURES) if event_type in FEATURE_EVENTS else None
            if feature:
                session["features"].add(feature)
            events_by_hour[min(23, ts.hour) if ts.date() == day else 23].append({
                "user_id": session["user_id"], "account_id": session["account_id"], "event_type": event_type,
                "feature_name": feature, "timestamp": _ts(ts), "session_id": session["session_id"],
                "page_url": f"/{(feature or 'home').lower().replace(' ', '-')}/dashboard",
                "user_agent": USER_AGENTS[index % len(USER_AGENTS)],
                "ip_address": f"192.168.{index % 250}.{index // 250 % 250 + 1}",
            })
    session_rows = [{
        "user_id": s["user_id"], "account_id": s["account_id"],
        "session_start": _ts(s["start"]), "session_end": _ts(s["end"]),
        "total_active_time_minutes": round((s["end"] - s["start"]).total_seconds() / 60 * 0.8, 2),
        "features_used": sorted(s["features"]), "device_type": s["device"],
    } for s in sessions]
    activity = []
    by_team: dict[tuple[str, str], list[dict]] = {}
    for session in sessions:
        by_team.setdefault((session["account_id"], session["team_id"]), []).append(session)
    features_of = {account.id: account.features for account in accounts}
    for (account_id, team_id), mine in sorted(by_team.items()):
        activity.append({
            "account_id": account_id, "team_id": team_id, "date": day.isoformat(),
            "active_users": len({s["user_id"] for s in mine}),
            "total_session_time_hours": round(sum((s["end"] - s["start"]).total_seconds() for s in mine) / 3600, 2),
            "features_accessed": sorted(set().union(*(s["features"] for s in mine))),
            "api_calls": rng.randint(0, 40 * len(mine)) if "API Access" in features_of[account_id] else 0,
            "reports_generated": rng.randint(0, 3 * len(mine)),
        })
    return session_rows, events_by_hour, activity


def _late_events(config: GeneratorConfig, day: date, accounts: list[_Account], on_time: int) -> list[dict]:
    rng = random.Random(f"{config.seed}:late:{day}")
    users = [(a.id, u) for a in accounts for u in a.users]
    if not users:
        return []
    late = []
    for serial in range(max(1, on_time // 100)):
        account_id, user = rng.choice(users)
        ts = datetime(day.year, day.month, day.day, rng.randrange(24), rng.randrange(60)) - timedelta(hours=72)
        late.append({
            "user_id": user, "account_id": account_id, "event_type": "button_click", "feature_name": None,
            "timestamp": _ts(ts), "session_id": f"SESS_{user.removeprefix('USER_')}L{serial:04d}",
            "page_url": "/home/dashboard", "user_agent": USER_AGENTS[0], "ip_address": "192.168.1.100",
        })
    return late


def _monthly_finance(config: GeneratorConfig, month: date, sim: _Simulation, writer: _Writer) -> None:
    rng = random.Random(f"{config.seed}:finance:{month}")
    last_day = min(_month_end(month), config.end)
    revenue, ledger, expenses = [], [], []
    zero_done = False
    mismatch = Fault.revenue_ledger_mismatch in config.faults_for(Source.revenue, month)
    zero_subscribers = Fault.zero_subscribers in config.faults_for(Source.revenue, month)
    for account in sim.accounts:
        states = [(d, s, lic) for d, s, lic in account.history if month <= d <= last_day]
        billable = [st for st in states if st[1] in ("Trial", "Active")]
        if not billable:
            continue
        _, status, licenses = billable[-1]
        tier = account.tier if status == "Active" else "Trial"
        license_revenue = licenses * PRICE_PER_LICENSE[tier]
        features = list(account.features) if tier != "Trial" else []
        feature_revenue = sum(FEATURE_PRICES[f] for f in features)
        total = license_revenue + feature_revenue
        ledger.append({"entry_id": f"GL-{month:%Y%m}-{account.id}", "account_id": account.id,
                       "ledger_month": month.isoformat(), "recognized_revenue": round(total, 2)})
        if mismatch:
            license_revenue, feature_revenue, total = license_revenue * 1.05, feature_revenue * 1.05, total * 1.05
        billed_licenses = licenses
        if zero_subscribers and not zero_done and tier != "Trial":
            billed_licenses, zero_done = 0, True
        revenue.append({
            "account_id": account.id, "subscription_tier": tier,
            "monthly_revenue": round(license_revenue, 2), "user_licenses": billed_licenses,
            "additional_features": features, "feature_revenue": round(feature_revenue, 2),
            "total_monthly_revenue": round(total, 2), "billing_date": month.isoformat(),
            "payment_status": "Paid" if rng.random() < 0.93 else rng.choice(["Pending", "Failed"]),
        })
        cloud = round(licenses * rng.uniform(2.0, 4.0), 2)
        database = round(licenses * rng.uniform(0.8, 1.5), 2)
        monitoring = round(rng.uniform(5, 20), 2)
        expenses.append({
            "account_id": account.id, "expense_category": "Infrastructure",
            "monthly_cost": round(cloud + database + monitoring, 2),
            "cost_breakdown": {"cloud_services": cloud, "database_hosting": database, "monitoring_tools": monitoring},
            "expense_date": last_day.isoformat(),
        })
    if zero_subscribers and not zero_done and revenue:
        revenue[0]["user_licenses"] = 0
    salaries = []
    for team_id, name, per_400_accounts, cost in SALARY_TEAMS:
        headcount = max(1, round(per_400_accounts * config.accounts / 400))  # teams grow with the customer base
        salaries.append({
            "team_id": team_id, "team_name": name, "monthly_salary_total": round(headcount * cost, 2),
            "headcount": headcount, "cost_per_engineer": cost, "salary_month": f"{month:%Y-%m}",
        })
    writer.write(Source.revenue, month, revenue)
    writer.write(Source.ledger, month, ledger)
    writer.write(Source.expenses, month, expenses)
    writer.write(Source.salaries, month, salaries)


def landing_dir(data_dir: Path | None = None) -> Path:
    return (data_dir or settings.data_dir()) / "landing"


def generate(config: GeneratorConfig, data_dir: Path | None = None) -> GenerationResult:
    """Simulate and land every source for `config.start`..`config.end`, replacing earlier landing files."""
    landing = landing_dir(data_dir)
    result = GenerationResult(landing)
    writer = _Writer(config, landing, result)
    for source in Source:
        for day in _days(config.start, config.end):
            if source in MONTHLY_SOURCES:
                shutil.rmtree(landing / source.value / f"month={day:%Y-%m}", ignore_errors=True)
            else:
                shutil.rmtree(landing / source.value / f"dt={day.isoformat()}", ignore_errors=True)
    sim = _Simulation(config)
    for day in _days(sim.first_day, config.start - timedelta(days=1)):
        sim.day(day)
    for day in _days(config.start, config.end):
        status_changes, license_changes, renewals = sim.day(day)
        writer.write(Source.account_status_changes, day, status_changes)
        writer.write(Source.license_changes, day, license_changes)
        writer.write(Source.renewals, day, renewals)
        using = sim.using(day)
        sessions, events_by_hour, activity = _usage(config, day, using)
        if Fault.late_events in config.faults_for(Source.click_events, day):
            late = _late_events(config, day, using, sum(len(v) for v in events_by_hour.values()))
            for index, event in enumerate(late):
                events_by_hour[index % 24].append(event)
        if Fault.invalid_events in config.faults_for(Source.click_events, day):
            _invalidate_events(config, day, events_by_hour)
        for hour in range(24):
            writer.write(Source.click_events, day, events_by_hour[hour], hour=hour)
        writer.write(Source.usage_sessions, day, sessions)
        writer.write(Source.team_activity, day, activity)
    for month in _month_starts(config.start, config.end):
        _monthly_finance(config, month, sim, writer)
    manifest = {
        "start": config.start.isoformat(), "end": config.end.isoformat(), "accounts": config.accounts,
        "events_per_day": config.events_per_day, "seed": config.seed, "warmup_days": config.warmup_days,
        "faults": [str(f) for f in config.faults],
    }
    landing.mkdir(parents=True, exist_ok=True)
    (landing / "_generated.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return result


def fault_catalogue() -> list[dict]:
    """Every fault as plain data (for `techflow-ops data faults` and docs)."""
    return [
        {**asdict(info), "fault": info.fault.value, "sources": sorted(s.value for s in info.sources)}
        for info in FAULTS.values()
    ]
