"""The escalation engine: every minute, advance incidents whose step deadline passed, send
on-call hand-off and shift-change notices, and retry undelivered notifications.

Thin: the work is `techflow_ops.escalation.tick()`, also runnable as
`techflow-ops escalation tick`. One active run at a time, no catchup: a missed minute is
made up by the next tick, which handles everything due up to its own instant.
"""

from datetime import datetime, timedelta, timezone

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG


def tick_escalation() -> dict:
    from techflow_ops.escalation import tick

    report = tick()
    if report.errors:
        # Escalation itself went on; the problem (e.g. a broken rotation file) must still be seen.
        raise RuntimeError("escalation tick finished with errors: " + "; ".join(report.errors))
    return report.to_dict()


with DAG(
    dag_id="techflow_escalation_engine",
    description="Escalation engine: advances incidents, hand-off notices, outbox retries (every minute)",
    schedule=timedelta(minutes=1),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=5),
    tags=["techflow-ops", "escalation"],
    default_args={"owner": "data_engineering", "retries": 0},
    doc_md=__doc__,
):
    PythonOperator(task_id="tick", python_callable=tick_escalation, execution_timeout=timedelta(minutes=4))
