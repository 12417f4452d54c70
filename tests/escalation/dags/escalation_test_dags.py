"""Small DAGs for the escalation integration tests: a task that succeeds, then one that
fails (or succeeds), with and without the escalation hooks the DAG factory installs."""

from datetime import datetime, timezone

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from techflow_ops.escalation.callbacks import dag_hooks, task_hooks
from techflow_ops.registry import get_registry


def load_revenue_fails():
    raise RuntimeError("revenue file for 2026-11-09 is missing\nsecond line of the traceback")


def load_revenue_ok():
    return "loaded"


def ok():
    return "fine"


def build(dag_id: str, *, hooks: bool, fail: bool) -> DAG:
    pipeline = get_registry().pipeline("profit")
    default_args = {"owner": "priya", "retries": 0}
    extra = {}
    if hooks:
        default_args.update(task_hooks(pipeline.id))
        # dag.test() cannot finish a successful run of a DAG with a Deadline Alert in Airflow
        # 3.3.2 (see callbacks.deadline_alerts_enabled); the alert itself is tested separately.
        extra = dag_hooks(pipeline, deadline=False)
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False,
             default_args=default_args, **extra) as dag:
        PythonOperator(task_id="fine_task", python_callable=ok) >> PythonOperator(
            task_id="load_revenue", python_callable=load_revenue_fails if fail else load_revenue_ok)
    return dag


DAGS = {
    dag_id: build(dag_id, hooks=hooks, fail=fail)
    for dag_id, hooks, fail in (
        ("escalation_it_page", True, True),
        ("escalation_it_plain_fail", False, True),
        ("escalation_it_plain_ok", False, False),
        ("escalation_it_hooked_fail", True, True),
        ("escalation_it_hooked_ok", True, False),
    )
}
globals().update({f"dag_{dag_id}": dag for dag_id, dag in DAGS.items()})
