"""A new incident's first page is claimed in the transaction that records it: sent once, right
after the commit, never again by an engine tick running meanwhile; rows it never got to are given
back to the engine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from .conftest import T0

SOFIA = "sofia.alvarez@techflow.example.com"


def _rows(escalation, incident_id):
    from techflow_ops.opsdb.schema import outbox

    with escalation.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(outbox).where(outbox.c.incident_id == incident_id))]


def test_a_page_claimed_at_insert_is_not_sent_again_by_a_concurrent_tick(escalation, smtp_server, http_receiver,
                                                                         monkeypatch):
    from techflow_ops.escalation import channels

    sends, ticks = [], []
    real = channels.deliver

    def deliver(row, from_email):
        sends.append(row.id)
        if len(ticks) == 0:
            # The engine ticks while the reporting process sends: the rows are claimed already.
            ticks.append(escalation.tick(T0 + timedelta(seconds=1)))
        return real(row, from_email)

    monkeypatch.setattr(channels, "deliver", deliver)
    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", error="x", at=T0)
    rows = _rows(escalation, incident_id)
    assert rows and sorted(sends) == sorted(r["id"] for r in rows)  # each row attempted once, by the report
    assert ticks[0].delivered == 0 and not ticks[0].errors
    assert all(r["status"] == "delivered" and r["attempts"] == 1 and r["claimed_until"] is None for r in rows)
    assert len(smtp_server.to(SOFIA)) == 1
    escalation.tick(T0 + timedelta(hours=1))  # later steps page others; the first step's rows stay sent once
    assert all(sends.count(r["id"]) == 1 for r in rows)


def test_the_incident_and_its_claimed_rows_are_committed_before_the_first_send(escalation, smtp_server, monkeypatch):
    from techflow_ops.escalation import channels

    seen = []
    real = channels.deliver

    def deliver(row, from_email):
        if not seen:  # read from another connection: committed
            seen.extend(_rows(escalation, row.incident_id))
        return real(row, from_email)

    monkeypatch.setattr(channels, "deliver", deliver)
    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", error="x", at=T0)
    assert seen and all(r["status"] == "pending" and r["claim_token"] for r in seen)
    assert len({r["claim_token"] for r in seen}) == 1
    assert escalation.get_incident(incident_id).timeline[0]["kind"] == "opened"


def test_rows_not_attempted_are_given_back_to_the_engine(escalation, smtp_server, http_receiver):
    from techflow_ops.escalation import channels

    def interrupted(row, from_email):
        raise KeyboardInterrupt("task killed mid-send")

    real = channels.deliver
    channels.deliver = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="t", error="x", at=T0)
    finally:
        channels.deliver = real
    [incident] = escalation.list_incidents(pipeline_id="profit")
    rows = sorted(_rows(escalation, incident.id), key=lambda r: r["id"])
    assert len(rows) > 1
    first, rest = rows[0], rows[1:]
    assert first["attempts"] == 1 and "interrupted" in first["last_error"] and first["claimed_until"] is None
    assert all(r["attempts"] == 0 and r["claimed_until"] is None and r["claim_token"] is None for r in rest)
    report = escalation.tick(T0 + timedelta(seconds=1))  # the engine sends the rest at once, not after the lease
    assert report.delivered == len(rest)
