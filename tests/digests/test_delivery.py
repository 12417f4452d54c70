"""Digests delivered to a real SMTP server on loopback through the escalation's outbox: the MIME
structure a mail client needs (plain text, HTML, inline PNG charts by Content-ID), once per
digest and recipient however often it is sent, retried like a page when the server is down."""

from __future__ import annotations

import struct
from datetime import date, timedelta
from email import message_from_bytes
from email import policy as email_policy

from techflow_ops.digests import run
from techflow_ops.digests.compose import DigestInputs

from .conftest import NEW_YORK, PIPELINES, at_utc, healthy_pipeline, kpi_document, person, series

MONDAY_0900_NY = at_utc(2027, 3, 15, 13)  # the timetable's run on the Monday after the DST change (test_schedule)
DE_TEAM = "data-eng@techflow.example.com"


def weekly_inputs() -> DigestInputs:
    return DigestInputs(
        "weekly", MONDAY_0900_NY, NEW_YORK, date(2027, 3, 8), date(2027, 3, 14),
        kpi_document(date(2027, 3, 8), date(2027, 3, 14), {"profit": healthy_pipeline(runs=7, run_success_rate=6 / 7)},
                     {"priya": person(168, business=1, sleep=1, pages=2), "marcus": person(0, 168)}),
        daily_series={p: series(8, 7) for p in PIPELINES},
        weekly_series=[{"week_start": "2027-03-08", "mtta_median": 600, "mttr_median": 7200, "incidents": 1}],
        year_people={"priya": person(500, 300), "marcus": person(400, 420)})


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # the IHDR chunk: width, height


def outbox_rows(ops_db_url):
    from sqlalchemy import select

    from techflow_ops.opsdb import get_engine
    from techflow_ops.opsdb.schema import outbox

    with get_engine(ops_db_url).connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(outbox).order_by(outbox.c.id))]


def test_weekly_digest_arrives_with_text_html_and_inline_png_charts(ops_db_url, smtp):
    result = run("weekly", MONDAY_0900_NY, send=True, inputs=weekly_inputs())
    assert result.sent["queued"] == 1 and result.sent["delivered"] == 1 and result.sent["failed"] == 0
    (mail,) = smtp.to(DE_TEAM)
    assert mail.subject == "[TechFlow weekly] 2027-03-08 to 2027-03-14: SLA, response, on-call hand-off"
    message = message_from_bytes(smtp.raw[0], policy=email_policy.default)
    assert message.get_content_type() == "multipart/alternative"
    text_part, related = message.get_payload()
    assert text_part.get_content_type() == "text/plain"
    assert "Run success per day, 2027-03-08 to 2027-03-14." in text_part.get_content()  # the charts' alt text
    assert related.get_content_type() == "multipart/related"
    html_part, *images = related.get_payload()
    html = html_part.get_content()
    assert html_part.get_content_type() == "text/html"
    content_ids = [image["Content-ID"].strip("<>") for image in images]
    assert content_ids == ["run_success", "mtta_mttr", "interruptions", "oncall_load"]
    for image, content_id in zip(images, content_ids):
        assert image.get_content_type() == "image/png"
        assert image.get_content_disposition() == "inline"
        assert f'src="cid:{content_id}"' in html
        assert png_size(image.get_content())[0] == 480  # readable in a mail client's reading pane
    # Delivered at the run's instant: 09:00 in New York, 13:00 UTC after the change.
    (row,) = outbox_rows(ops_db_url)
    assert (row["status"], row["purpose"], row["delivered_at"]) == ("delivered", "digest", MONDAY_0900_NY)
    assert row["idempotency_key"] == f"digest:weekly:2027-03-15:team:data_engineering:{DE_TEAM}"


def test_sending_the_same_digest_twice_delivers_it_once(ops_db_url, smtp):
    first = run("weekly", MONDAY_0900_NY, send=True, inputs=weekly_inputs())
    again = run("weekly", MONDAY_0900_NY + timedelta(minutes=5), send=True, inputs=weekly_inputs())
    assert (first.sent["delivered"], again.sent["delivered"], again.sent["already_queued"]) == (1, 0, 1)
    assert len(smtp.to(DE_TEAM)) == 1
    assert len(outbox_rows(ops_db_url)) == 1


def test_the_daily_digest_is_not_sent_on_a_quiet_day(ops_db_url, smtp):
    inputs = DigestInputs("daily", MONDAY_0900_NY, NEW_YORK, date(2027, 3, 14), date(2027, 3, 14),
                          kpi_document(date(2027, 3, 14), date(2027, 3, 14)),
                          daily_series={p: series(1, 14) for p in PIPELINES})
    result = run("daily", MONDAY_0900_NY, send=True, inputs=inputs)
    assert (result.sent["queued"], result.sent["delivered"], len(result.sent["skipped"])) == (0, 0, 5)
    assert smtp.messages == [] and outbox_rows(ops_db_url) == []


def test_a_digest_the_server_refused_is_kept_and_retried_by_the_escalation_engine(ops_db_url, smtp):
    from techflow_ops.escalation.orchestrator import Escalation
    from techflow_ops.opsdb import get_engine

    smtp.stop()
    try:
        result = run("weekly", MONDAY_0900_NY, send=True, inputs=weekly_inputs())
    finally:
        smtp.start()
    assert (result.sent["delivered"], result.sent["failed"]) == (0, 1)
    (row,) = outbox_rows(ops_db_url)
    assert row["status"] == "pending" and row["last_error"]
    # escalation.yaml delivery_backoff first: 30s; the engine's delivery sends every due row.
    report = Escalation(engine=get_engine(ops_db_url)).deliver(at=MONDAY_0900_NY + timedelta(seconds=30))
    assert report.delivered == 1
    assert len(smtp.to(DE_TEAM)) == 1
    assert outbox_rows(ops_db_url)[0]["status"] == "delivered"


def test_monthly_digest_reaches_management_and_the_cfo(ops_db_url, smtp):
    inputs = DigestInputs("monthly", at_utc(2027, 3, 1, 14), NEW_YORK, date(2027, 2, 1), date(2027, 2, 28),
                          kpi_document(date(2027, 2, 1), date(2027, 2, 28), people={"priya": person(336)}),
                          daily_series={p: series(1, 28, "2027-02") for p in PIPELINES})
    result = run("monthly", at_utc(2027, 3, 1, 14), send=True, inputs=inputs)
    assert result.sent["delivered"] == 2
    assert sorted(r for m in smtp.messages for r in m.recipients) == ["data-leadership@techflow.example.com",
                                                                      "helen.okafor@techflow.example.com"]
