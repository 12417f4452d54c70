"""Circuit breaker for the aggregated pipelines: publish nothing built on upstream data that
failed a critical check or whose latest validation is older than its freshness SLA."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..failures import DataQualityFailure, StaleUpstream
from ..registry import get_registry
from . import results
from .suites import suites_for


@dataclass(frozen=True)
class UpstreamProblem:
    pipeline_id: str
    dataset: str
    kind: str  # "failed" | "stale" | "never_validated"
    message: str


def upstream_problems(pipeline_id: str, now: datetime | None = None) -> list[UpstreamProblem]:
    registry = get_registry()
    now = now or results.now_utc()
    problems = []
    for upstream_id in registry.pipelines[pipeline_id].upstream:
        sla = registry.pipelines[upstream_id].freshness_sla
        latest = {r.dataset: r for r in results.latest(pipeline_id=upstream_id)}
        for suite in suites_for(upstream_id):
            result = latest.get(suite.dataset)
            if result is None:
                problems.append(UpstreamProblem(upstream_id, suite.dataset, "never_validated",
                                                f"{upstream_id}.{suite.dataset}: no quality result yet"))
            elif result.failed_critical:
                checks = "; ".join(f"{o.check} (observed {results.compact(o.observed)})" for o in result.failed_critical)
                problems.append(UpstreamProblem(upstream_id, suite.dataset, "failed",
                                                f"{upstream_id}.{suite.dataset} [{result.partition_key}] failed critical "
                                                f"check(s): {checks}"))
            elif now - result.validated_at > sla:
                problems.append(UpstreamProblem(upstream_id, suite.dataset, "stale",
                                                f"{upstream_id}.{suite.dataset}: latest validation "
                                                f"{result.validated_at:%Y-%m-%d %H:%M} UTC is older than the "
                                                f"{upstream_id} freshness SLA"))
    return problems


def check_upstream(pipeline_id: str, now: datetime | None = None) -> None:
    """Raise DataQualityFailure (a failed critical check upstream) or StaleUpstream (stale or
    never validated) naming every dataset and check; return quietly when all is well."""
    problems = upstream_problems(pipeline_id, now)
    if not problems:
        return
    details = {"pipeline_id": pipeline_id, "upstream_problems": [p.__dict__ for p in problems]}
    message = f"{pipeline_id} will not publish from bad upstream data:\n" + "\n".join(f"- {p.message}" for p in problems)
    if any(p.kind == "failed" for p in problems):
        raise DataQualityFailure(message, details=details)
    raise StaleUpstream(message, details=details)
