"""Digests: every day at 09:00 in the team's time zone (oncall.yaml `rotation.handoff.timezone`,
DST-correct through `CronTriggerTimetable`), one task per digest.

Thin: each task runs what `techflow-ops digest <kind> --at <the run's instant> --send --when-due`
runs (`techflow_ops.digests.run`). The daily digest is due every day, the weekly one on Mondays
(before the 10:00 hand-off), the monthly one on the month's first business day: on other days
those tasks end as skipped. A cron expression cannot name the first business day, so one daily
schedule carries all three and the digests decide (README "Digests"). Sending goes through the
escalation's outbox: a re-run never sends a digest twice, a failed send is retried by the
escalation engine.
"""

from datetime import datetime, timedelta, timezone

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, CronTriggerTimetable

from techflow_ops.oncall.config import load_oncall_config
from techflow_ops.registry import get_registry

DIGEST_KINDS = ("daily", "weekly", "monthly")


def send_digest(kind: str, **context) -> dict:
    from airflow.sdk.exceptions import AirflowSkipException

    from techflow_ops.digests import run

    dag_run = context["dag_run"]
    at = context.get("logical_date") or dag_run.run_after
    result = run(kind, at.astimezone(timezone.utc), send=True, when_due=True)
    if result.not_due:
        raise AirflowSkipException(result.not_due)
    if result.sent and result.sent["failed"]:
        # Queued in the outbox: the escalation engine retries them; the task says so.
        raise RuntimeError(f"{kind} digest: {result.sent['failed']} deliveries failed (retried by the escalation engine)")
    return result.sent or {}


def team_timezone() -> str:
    registry = get_registry()
    return load_oncall_config(registry.config_dir, registry).rotation.tz.key


with DAG(
    dag_id="techflow_digests",
    description="Daily, weekly (Monday) and monthly (first business day) digests at 09:00 team time",
    schedule=CronTriggerTimetable("0 9 * * *", timezone=team_timezone()),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    tags=["techflow-ops", "digests"],
    default_args={"owner": "data_engineering", "retries": 2, "retry_delay": timedelta(minutes=5)},
    doc_md=__doc__,
):
    for digest_kind in DIGEST_KINDS:
        PythonOperator(task_id=f"{digest_kind}_digest", python_callable=send_digest, op_kwargs={"kind": digest_kind},
                       execution_timeout=timedelta(minutes=10))
