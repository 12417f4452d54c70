"""On-call schedule benchmarks (printed figures, not timed tests).

Bars (issue 3): generating 4 people x 1 year < 50 ms; 1,000 people in 100 teams x 1 year
< 5 s (issue 17: with the weighted burden, every person in their own timezone and holidays);
`now()` < 1 ms (issue 17: with the state in the ops DB, `get_schedule_service().now()`, which
reads the state version row on every call and reloads only after a change). Also prints the fairness table of the real team's
year (spreads and Gini of each burden component) next to strict round-robin's on the same inputs.
Run: .venv/bin/python benchmarks/bench_oncall.py [--repeat N] [--postgres]
(the ops DB is a throwaway SQLite file, or with --postgres a throwaway database on 127.0.0.1:5432)
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

from techflow_ops.oncall import Override, clear_schedule_cache, get_schedule_service, load_schedule_service
from techflow_ops.oncall.cli import page_order
from techflow_ops.oncall.config import load_oncall_config
from techflow_ops.oncall.fairness import fairness_report
from techflow_ops.oncall.model import HomeCalendar, vacation_interval
from techflow_ops.oncall.scheduler import FAIR, make_timeline
from techflow_ops.registry import load_registry

BARS = {"small": 0.050, "large": 5.0, "now": 0.001}
# Where the 1,000 people live: each home is its own calendar (timezone, public holidays).
HOMES = [HomeCalendar("America/New_York", "US", "NY"), HomeCalendar("America/Chicago", "US", "IL"),
         HomeCalendar("America/Los_Angeles", "US", "CA"), HomeCalendar("Europe/Berlin", "DE", "BE"),
         HomeCalendar("Europe/London", "GB"), HomeCalendar("Asia/Kolkata", "IN"), HomeCalendar("Asia/Tokyo", "JP"),
         HomeCalendar("Australia/Sydney", "AU", "NSW")]


def line(name: str, seconds: float, bar: float) -> None:
    verdict = "meets" if seconds < bar else "MISSES"
    print(f"{name:<44} {seconds * 1000:>10.3f} ms   bar {bar * 1000:>7.1f} ms   {seconds / bar:>6.3f} x bar  {verdict}")


def real_rotation():
    registry = load_registry()
    return load_oncall_config(registry.config_dir, registry).rotation


def bench_small(repeat: int) -> None:
    rotation = real_rotation()
    until = rotation.first_handoff() + timedelta(weeks=52)
    started = time.perf_counter()
    timeline = make_timeline(rotation, until)
    FAIR.generate(rotation, until, timeline=timeline)
    cold = time.perf_counter() - started
    warm = []
    for _ in range(repeat):
        started = time.perf_counter()
        FAIR.generate(rotation, until, timeline=make_timeline(rotation, until))
        warm.append(time.perf_counter() - started)
    line("4 people x 52 weeks, first run (holidays)", cold, BARS["small"])
    line(f"4 people x 52 weeks, median of {repeat}", statistics.median(warm), BARS["small"])


def bench_large() -> None:
    base = real_rotation()
    rnd = random.Random(2026)
    rotations = []
    for team in range(100):
        members = tuple(f"t{team:03d}_p{i}" for i in range(10))
        vacations = {}
        homes = {person: rnd.choice(HOMES) for person in members}
        for person in members:
            weeks = rnd.sample(range(2, 50), 2)
            vacations[person] = tuple(sorted(
                vacation_interval(date(2027, 1, 4) + timedelta(weeks=w), date(2027, 1, 8) + timedelta(weeks=w), base.tz)
                for w in weeks))
        rotations.append(replace(base, id=f"team{team}", team=f"team{team}", members=members, vacations=vacations,
                                 homes=homes, start=date(2027, 1, 4)))
    until = rotations[0].first_handoff() + timedelta(weeks=52)
    started = time.perf_counter()
    shifts = gaps = notes = 0
    for rotation in rotations:
        schedule = FAIR.generate(rotation, until, timeline=make_timeline(rotation, until))
        shifts += len(schedule.shifts)
        gaps += len(schedule.gaps)
        notes += len(schedule.notes)
    elapsed = time.perf_counter() - started
    line("1,000 people in 100 teams x 52 weeks (own calendars)", elapsed, BARS["large"])
    print(f"{'':<44} {shifts} shifts, {gaps} gaps, {notes} notes (own holidays nobody else could take)")


@contextmanager
def throwaway_ops_db(postgres: bool):
    """TECHFLOW_OPS_DB_URL pointed at a new, empty ops DB for the run (never a developer's)."""
    from sqlalchemy import create_engine, text

    from techflow_ops.opsdb import dispose_engines

    admin, name = None, f"techflow_bench_oncall_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as folder:
        if postgres:
            admin = create_engine("postgresql+psycopg2://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
        else:
            url = f"sqlite:///{folder}/ops.db"
        previous = os.environ.get("TECHFLOW_OPS_DB_URL")
        os.environ["TECHFLOW_OPS_DB_URL"] = url
        try:
            yield url
        finally:
            dispose_engines()
            clear_schedule_cache()
            if previous is None:
                os.environ.pop("TECHFLOW_OPS_DB_URL")
            else:
                os.environ["TECHFLOW_OPS_DB_URL"] = previous
            if admin is not None:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                admin.dispose()


def bench_now(repeat: int, postgres: bool) -> None:
    with throwaway_ops_db(postgres) as url:
        print(f"ops DB: {url.split('://')[0]}")
        _bench_now(repeat)


def _bench_now(repeat: int) -> None:
    from techflow_ops.oncall.service import add_override
    from techflow_ops.opsdb import get_engine

    get_engine()  # migrations are not the schedule's cost
    started = time.perf_counter()
    service = load_schedule_service()
    load = time.perf_counter() - started
    print(f"{'ScheduleService load, first use (imports YAML)':<44} {load * 1000:>10.3f} ms")
    started = time.perf_counter()
    service = load_schedule_service()
    print(f"{'ScheduleService load from the ops DB':<44} {(time.perf_counter() - started) * 1000:>10.3f} ms")
    instants = [service.covered_from + timedelta(minutes=37 * i) for i in range(repeat)]
    instants = [at for at in instants if at < service.covered_until]
    started = time.perf_counter()
    for at in instants:
        service.now(at)
    per_call = (time.perf_counter() - started) / len(instants)
    line(f"service.now() per call, {len(instants)} instants", per_call, BARS["now"])
    # What every caller does: the cached service, checked against the ops DB's state version.
    get_schedule_service()
    started = time.perf_counter()
    for at in instants:
        get_schedule_service().now(at)
    per_call = (time.perf_counter() - started) / len(instants)
    line("get_schedule_service().now() per call (DB)", per_call, BARS["now"])
    # After a change: the next call reloads (once), then it is cached again.
    reloads = []
    for i in range(5):
        start = service.covered_from + timedelta(weeks=2 + i)
        add_override(None, Override(f"bench-{i}", service.rotation.members[0], "primary", start, start + timedelta(hours=2),
                                    "benchmark"), by="bench", at=datetime.now(timezone.utc))
        started = time.perf_counter()
        get_schedule_service().now(instants[0])
        reloads.append(time.perf_counter() - started)
    print(f"{'first call after a change (reload), median':<44} {statistics.median(reloads) * 1000:>10.3f} ms")
    started = time.perf_counter()
    for at in instants:
        page_order(service, "profit", at)
    print(f"{'page_order() per call':<44} {(time.perf_counter() - started) / len(instants) * 1000:>10.3f} ms")


def fairness() -> None:
    rotation = real_rotation()
    since = rotation.first_handoff()
    until = since + timedelta(weeks=52)
    timeline = make_timeline(rotation, until)
    report = fairness_report(rotation, FAIR.generate(rotation, until, timeline=timeline).shifts, timeline, since, until)
    units = report["units"]
    print(f"\nFairness, real team, {since:%Y-%m-%d} + 52 weeks, each hour in its holder's own calendar")
    print("weights: " + ", ".join(f"{k} {v:g}" for k, v in report["weights"].items())
          + f"; one plain shift = burden {units['shift_burden']:g}, heaviest {units['heaviest_shift_burden']:g};"
          + f" investor periods {units['investor_period_hours']['shortest']:g}..{units['investor_period_hours']['longest']:g} h")
    print(f"{'role':<15} {'metric':<15} {'fair spread':>11} {'rr spread':>10} {'ratio':>6} {'fair gini':>10} {'rr gini':>8}")
    for role, spread in report["fair"]["spread"].items():
        for metric, value in spread.items():
            rr = report["round_robin"]["spread"][role][metric]
            ratio = f"{value / rr:.2f}" if rr else "-"
            print(f"{role:<15} {metric:<15} {value:>11g} {rr:>10g} {ratio:>6} "
                  f"{report['fair']['gini'][role][metric]:>10.3f} {report['round_robin']['gini'][role][metric]:>8.3f}")
    print(f"round-robin gaps: {report['round_robin']['gaps']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres", action="store_true", help="ops DB on PostgreSQL at 127.0.0.1:5432 (default: SQLite)")
    parser.add_argument("--now-only", action="store_true", help="only the now() figures")
    args = parser.parse_args()
    if args.now_only:
        bench_now(args.repeat * 500, args.postgres)
        return
    bench_small(args.repeat)
    bench_large()
    bench_now(args.repeat * 500, args.postgres)
    fairness()


if __name__ == "__main__":
    main()
