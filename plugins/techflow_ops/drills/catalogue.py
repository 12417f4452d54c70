"""The drills: which pipeline each one breaks, and how."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Drill:
    name: str
    pipeline_id: str
    what: str
    fault_specs: tuple[str, ...] = ()  # synthetic-data faults, SOURCE:{day}:FAULT
    upstream_first: bool = False  # run the upstream pipelines cleanly first (their validations must be fresh)
    oom_in_transform: bool = False


DRILLS = {
    d.name: d
    for d in (
        Drill("kafka-outage", "engagement", "no click events arrive from Kafka for the day",
              fault_specs=("click_events:{day}:stale",)),
        Drill("bad-data", "engagement", "about 2 % of the day's click events are landed twice",
              fault_specs=("click_events:{day}:duplicate_events",)),
        Drill("stale-upstream", "executive_investor",
              "the upstream pipelines have no fresh validated output for the report"),
        Drill("spark-oom", "executive_investor", "the Spark join of the report runs out of memory",
              upstream_first=True, oom_in_transform=True),
    )
}
