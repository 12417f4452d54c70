"""Airflow state the Airflow 3 way: the metadata database (DagModel, DagRun), never DAG files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from airflow.models.dag import DagModel
from airflow.models.dagrun import DagRun
from sqlalchemy import func, select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class DagState:
    dag_id: str
    known: bool
    is_paused: bool | None
    last_run_id: str | None
    last_run_state: str | None
    last_run_after: datetime | None
    last_run_end: datetime | None

    def as_json(self) -> dict:
        return {
            "dag_id": self.dag_id,
            "known_to_airflow": self.known,
            "is_paused": self.is_paused,
            "last_run": None
            if self.last_run_id is None
            else {
                "run_id": self.last_run_id,
                "state": self.last_run_state,
                "run_after": _iso(self.last_run_after),
                "end_date": _iso(self.last_run_end),
            },
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def dag_states(session: Session, dag_ids: list[str]) -> dict[str, DagState]:
    """Pause flag and latest run of each DAG, in two queries whatever the number of DAGs."""
    models = {
        dag_id: is_paused
        for dag_id, is_paused in session.execute(
            select(DagModel.dag_id, DagModel.is_paused).where(DagModel.dag_id.in_(dag_ids))
        )
    }
    latest = (
        select(DagRun.dag_id, func.max(DagRun.run_after).label("run_after"))
        .where(DagRun.dag_id.in_(dag_ids))
        .group_by(DagRun.dag_id)
        .subquery()
    )
    runs = {
        row.dag_id: row
        for row in session.execute(
            select(DagRun.dag_id, DagRun.run_id, DagRun._state.label("state"), DagRun.run_after, DagRun.end_date).join(
                latest, (DagRun.dag_id == latest.c.dag_id) & (DagRun.run_after == latest.c.run_after)
            )
        )
    }
    states = {}
    for dag_id in dag_ids:
        run = runs.get(dag_id)
        states[dag_id] = DagState(
            dag_id=dag_id,
            known=dag_id in models,
            is_paused=models.get(dag_id),
            last_run_id=run.run_id if run else None,
            last_run_state=run.state if run else None,
            last_run_after=run.run_after if run else None,
            last_run_end=run.end_date if run else None,
        )
    return states
