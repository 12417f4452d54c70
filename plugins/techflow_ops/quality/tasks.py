"""Airflow task callables and operators for quality checks. Nothing heavy is imported at
module level: DAG files import this through the DAG factory at parse time."""

from __future__ import annotations

from dataclasses import dataclass


def validate_task(pipeline_id: str, role: str, **context) -> list[dict]:
    """Validate the pipeline's `role` datasets ("source" or "output") for the run's dates;
    raise DataQualityFailure naming every failed critical check (after recording all)."""
    from ..failures import DataQualityFailure
    from ..pipelines import warehouse
    from ..pipelines.run_context import run_dates
    from . import results
    from .suites import failure_mode, suites_for
    from .validation import get_runner

    runner = get_runner(warehouse.warehouse_url_in_airflow())
    outcomes = [runner.validate(suite, day, context["run_id"])
                for day in run_dates(context) for suite in suites_for(pipeline_id, role)]
    for outcome in outcomes:
        print(outcome.summary())
    notify_warnings(pipeline_id, [o for o in outcomes if o.failed_warning and not o.failed_critical], context)
    failed = [o for o in outcomes if o.failed_critical]
    if failed:
        raise DataQualityFailure("\n\n".join(o.summary() for o in failed), details={
            "pipeline_id": pipeline_id, "failed_expectations": results.failed_expectations(failed),
            "results": [o.as_dict() for o in failed]}, failure_mode=failure_mode(failed))
    return [o.as_dict() for o in outcomes]


def notify_warnings(pipeline_id: str, warned: list, context) -> None:
    """One FYI per dataset and day to the pipeline's business team, owners and the teams the
    failed checks' modes route to (no paging). Never raises: the validation's own outcome stands."""
    if not warned:
        return
    import logging

    from ..escalation import report_warning
    from .suites import SUITES

    for result in warned:
        try:
            modes = [SUITES[result.dataset].mode_of(outcome.check) for outcome in result.failed_warning]
            report_warning(pipeline_id=pipeline_id, dataset=result.dataset, partition=result.partition_key,
                           failure_mode=modes[0], other_modes=tuple(modes[1:]),
                           summary=result.summary(), dag_id=(context.get("dag") and context["dag"].dag_id) or None,
                           run_id=context.get("run_id"))
        except Exception:
            logging.getLogger(__name__).exception("%s: could not send the data-quality warning notice", result.dataset)


def circuit_breaker_task(pipeline_id: str, **context) -> None:
    from ..pipelines.run_context import run_dates
    from .breaker import check_upstream

    for day in run_dates(context):
        check_upstream(pipeline_id, day)


@dataclass
class QualityTasks:
    circuit_breaker: object | None
    validate_sources: object | None
    validate_outputs: object


def quality_tasks(pipeline, operator_class=None, wrap=None) -> QualityTasks:
    """Create the quality operators of `pipeline` inside the current DAG context, as
    `operator_class` (a PythonOperator subclass; the DAG factory passes its lineage-aware one).
    `wrap` wraps each callable (default `pipelines.transient.fail_fast`: a failed check or a
    broken circuit is not retried; a lost warehouse connection is)."""
    if operator_class is None:
        from airflow.providers.standard.operators.python import PythonOperator as operator_class
    if wrap is None:
        from ..pipelines.transient import fail_fast as wrap

    def operator(task_id, callable_, **kwargs):
        return operator_class(task_id=task_id, python_callable=wrap(callable_),
                              op_kwargs={"pipeline_id": pipeline.id, **kwargs})

    return QualityTasks(
        circuit_breaker=operator("check_upstream_quality", circuit_breaker_task) if pipeline.upstream else None,
        validate_sources=operator("validate_sources", validate_task, role="source") if pipeline.sources else None,
        validate_outputs=operator("validate_outputs", validate_task, role="output"),
    )
