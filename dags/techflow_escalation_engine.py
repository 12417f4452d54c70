"""The escalation engine: every minute, advance incidents whose step deadline passed, send
on-call hand-off and shift-change notices, and retry undelivered notifications.

Thin: the work is `techflow_ops.escalation.tick()`, also runnable as
`techflow-ops escalation tick`. One active run at a time, no catchup: a missed minute is
made up by the next tick, which handles everything due up to its own instant.
"""

from datetime import datetime, timedelta, timezone

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from techflow_ops.escalation.policy import get_policy
from techflow_ops.registry import get_registry


def tick_escalation() -> dict:
    from techflow_ops.escalation import tick

    report = tick()
    if report.errors:
        # Escalation itself went on; the problem (e.g. a broken rotation file) must still be seen.
        raise RuntimeError("escalation tick finished with errors: " + "; ".join(report.errors))
    return report.to_dict()


def engine_failure_notifier() -> SmtpNotifier:
    """Who hears that the pager itself is broken: the engineering team's email, sent straight
    through Airflow's SMTP provider, since the outbox this DAG drains may be what is failing."""
    registry, notifications = get_registry(), get_policy().notifications
    team = next(t for t in registry.teams.values() if t.kind == "engineering")
    emails = [c.target for c in team.contact if c.type == "email"] or [registry.person(m).email for m in team.members]
    return SmtpNotifier(
        to=emails,
        from_email=notifications.from_email,
        smtp_conn_id=notifications.smtp_conn_id,
        subject="[TechFlow Ops] the escalation engine failed: pages may not be going out",
        html_content=(
            "<p>The escalation engine's tick failed ({{ ti.try_number }}. try, run {{ run_id }}).</p>"
            "<pre>{{ exception }}</pre>"
            "<p>Check <code>techflow-ops incidents list</code> and the DAG <code>techflow_escalation_engine</code>"
            " in Airflow; pages of open incidents wait in the outbox until a tick succeeds.</p>"
        ),
    )


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
    PythonOperator(
        task_id="tick",
        python_callable=tick_escalation,
        execution_timeout=timedelta(minutes=4),
        on_failure_callback=engine_failure_notifier(),
    )
