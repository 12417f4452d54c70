"""Circuit breaker for the aggregated pipelines: publish nothing built on upstream data whose
partition for the run's date failed a critical check, was never validated, or was validated
longer ago than the upstream pipeline's freshness SLA."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ..failures import DataQualityFailure, StaleUpstream
from ..registry import get_registry
from . import results
from .checks import Partition
from .suites import suites_for


@dataclass(frozen=True)
class UpstreamProblem:
    pipeline_id: str
    dataset: str
    kind: str  # "failed" | "stale" | "never_validated"
    message: str
    result: results.QualityResult | None = None


def upstream_problems(pipeline_id: str, day: date | None = None, now: datetime | None = None) -> list[UpstreamProblem]:
    """What is wrong with the upstream datasets `pipeline_id` reads for `day` (its partition of
    each dataset: the day, or the month of monthly tables); without `day`, their newest results."""
    registry = get_registry()
    now = now or results.now_utc()
    problems = []
    for upstream_id in registry.pipelines[pipeline_id].upstream:
        sla = registry.pipelines[upstream_id].freshness_sla
        for suite in suites_for(upstream_id):
            partition = Partition.covering(day, suite.grain).key if day else None
            found = results.latest(dataset=suite.dataset, partition_key=partition)
            name = f"{upstream_id}.{suite.dataset}" + (f" [{partition}]" if partition else "")
            if not found:
                problems.append(UpstreamProblem(upstream_id, suite.dataset, "never_validated",
                                                f"{name}: not validated (upstream did not run or stopped before it)"))
                continue
            result = found[0]
            if result.failed_critical:
                checks = "; ".join(f"{o.check} (observed {results.compact(o.observed)})" for o in result.failed_critical)
                problems.append(UpstreamProblem(upstream_id, suite.dataset, "failed",
                                                f"{upstream_id}.{suite.dataset} [{result.partition_key}] failed critical "
                                                f"check(s): {checks}", result))
            elif now - result.validated_at > sla:
                problems.append(UpstreamProblem(upstream_id, suite.dataset, "stale",
                                                f"{name}: latest validation {result.validated_at:%Y-%m-%d %H:%M} UTC "
                                                f"is older than the {upstream_id} freshness SLA"))
    return problems


def check_upstream(pipeline_id: str, day: date | None = None, now: datetime | None = None) -> None:
    """Raise DataQualityFailure (a failed critical check upstream) or StaleUpstream (stale or
    never validated) naming every dataset and check; return quietly when all is well."""
    problems = upstream_problems(pipeline_id, day, now)
    if not problems:
        return
    failed = [p.result for p in problems if p.result is not None]
    details = {
        "pipeline_id": pipeline_id,
        "upstream_problems": [{"pipeline_id": p.pipeline_id, "dataset": p.dataset, "kind": p.kind, "message": p.message}
                              for p in problems],
        "failed_expectations": results.failed_expectations(failed),
    }
    message = f"{pipeline_id} will not publish from bad upstream data:\n" + "\n".join(f"- {p.message}" for p in problems)
    if failed:
        raise DataQualityFailure(message, details=details, failure_mode="stale_upstream")
    raise StaleUpstream(message, details=details)
