"""Acknowledge and resolve from the page: signed, single-use, expiring links bound to one incident
and one recipient, taken out of the real delivered email (and Slack / PagerDuty posts), opened
and confirmed through Airflow's real API server app without any login."""

from __future__ import annotations

import html
import os
import re
import stat
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from tests.escalation.conftest import T0, FakeSchedule
from tests.escalation.receivers import HttpReceiver, SmtpReceiver

from techflow_ops.failures import KafkaOutage

SOFIA = "sofia.alvarez@techflow.example.com"
LINK = re.compile(r"^(Acknowledge|Resolve): (https?://\S+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def receivers():
    smtp, http = SmtpReceiver().start(), HttpReceiver().start()
    yield smtp, http
    smtp.stop()
    http.stop()


@pytest.fixture
def service(api_client, receivers, tmp_path, monkeypatch):
    """The web app's escalation service on a private ops DB, with a fixed on-call primary (Sofia)
    and the notification connections pointing at real receivers on loopback."""
    import techflow_ops.escalation as escalation
    from techflow_ops.escalation.orchestrator import Escalation
    from techflow_ops.opsdb import get_engine

    smtp, http = receivers
    for key, value in {**smtp.connection_env("smtp_default"), **http.slack_env("slack_data_eng"),
                       **http.slack_env("slack_finance"), **http.slack_env("slack_default"),
                       **http.pagerduty_env("pagerduty_infra")}.items():
        monkeypatch.setenv(key, value)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("TECHFLOW_LINK_SIGNING_KEY", "techflow-link-tests-" + "s" * 40)
    monkeypatch.delenv("TECHFLOW_LINK_MAX_AGE", raising=False)
    smtp.messages.clear()
    http.posts.clear()
    mine = Escalation(engine=get_engine(f"sqlite:///{tmp_path / 'links-ops.db'}"), schedule=FakeSchedule())
    monkeypatch.setattr(escalation, "service", lambda: mine)
    return mine


def _links(text: str) -> dict[str, str]:
    """{action: path?query} of the links in a page's text, or its HTML mail (`<pre>`, links as
    anchors); the API client talks to the app itself, so only the path and query are kept."""
    found = {}
    for label, url in LINK.findall(html.unescape(re.sub(r"<[^>]+>", "", text))):
        parts = urlsplit(url)
        found[label.lower()] = f"{parts.path}?{parts.query}"
    return found


def _token(path: str) -> str:
    return path.split("?t=", 1)[1]


def _report(service, **overrides) -> int:
    values = dict(pipeline_id="profit", run_id=f"scheduled__{time.monotonic_ns()}", task_id="load_revenue",
                  exception=RuntimeError("revenue file missing"), at=T0)
    values.update(overrides)
    return service.report_failure(**values)


def _mailed_links(smtp, incident_id: int, address: str = SOFIA) -> dict[str, str]:
    [mail] = [m for m in smtp.to(address) if f"Incident #{incident_id} " in m.text]
    return _links(mail.text)


def _post(api_client, path: str, **overrides):
    data = {"t": _token(path), **overrides}
    return api_client.post(path.split("?", 1)[0], data=data, follow_redirects=False)


def _unchanged(service, incident_id: int, before) -> None:
    after = service.get_incident(incident_id)
    assert (after.status, after.acknowledged_by, after.resolved_by) == (before.status, before.acknowledged_by, before.resolved_by)
    assert len(after.timeline) == len(before.timeline), after.timeline[len(before.timeline):]


def test_the_emailed_link_acknowledges_only_after_confirmation(api_client, service, receivers):
    smtp, http = receivers
    incident_id = _report(service)
    mail = next(m for m in smtp.to(SOFIA) if f"Incident #{incident_id} " in m.text)
    # the CLI lines stay, the one-click links sit right above them
    assert f"incidents ack {incident_id}" in mail.text
    page_links = _links(mail.text)
    assert set(page_links) == {"acknowledge", "resolve"}
    assert page_links["acknowledge"].startswith(f"/techflow/act/{incident_id}/sofia/acknowledge?t=")
    assert page_links["resolve"].startswith(f"/techflow/act/{incident_id}/sofia/resolve?t=")
    # Slack: the same links, clickable below the code block
    [slack] = [p for path, p in http.posts if path.endswith("slack_data_eng")]
    assert re.search(rf"<https?://\S+/techflow/act/{incident_id}/sofia/acknowledge\?t=\S+\|Acknowledge>", slack["text"])
    before = service.get_incident(incident_id)

    # A link preview bot (or the person) opening it: a confirmation page, nothing changes.
    for _ in range(2):
        opened = api_client.get(page_links["acknowledge"], follow_redirects=False)
        assert opened.status_code == 200, opened.text
        assert 'data-testid="confirm-acknowledge"' in opened.text and "Sofia" in opened.text
        assert opened.headers["cache-control"] == "no-store"
        assert opened.headers["referrer-policy"] == "no-referrer"
        assert '<meta name="referrer" content="no-referrer">' in opened.text
        assert "signed in as" not in opened.text
    assert api_client.head(page_links["acknowledge"]).status_code in (200, 405)
    _unchanged(service, incident_id, before)
    assert service.get_incident(incident_id).status == "open"

    # The POST from that page does it, as Sofia, via link, without any login.
    form_action = re.search(r'<form method="post" action="([^"]+)">', opened.text).group(1)
    assert form_action == page_links["acknowledge"].split("?")[0]
    done = api_client.post(form_action, data={"t": re.search(r'name="t" value="([^"]+)"', opened.text).group(1)})
    assert done.status_code == 200, done.text
    assert 'data-testid="link-done"' in done.text and "Acknowledged by <strong>Sofia" in done.text
    assert done.headers["referrer-policy"] == "no-referrer"
    incident = service.get_incident(incident_id)
    assert incident.status == "acknowledged" and incident.acknowledged_by == "sofia"
    [ack] = [e for e in incident.timeline if e["kind"] == "acknowledged"]
    assert ack["actor"] == "sofia" and ack["message"].startswith("acknowledged by sofia via link")
    assert ack["data"] == {"via": "link"}

    # Escalation stopped: ticks long after the step waits page nobody about it.
    smtp.messages.clear()
    http.posts.clear()
    notifications = len(incident.notifications)
    for minutes in (5, 15, 60):
        service.tick(T0 + timedelta(minutes=minutes))
    assert [m for m in smtp.messages if f"Incident #{incident_id} " in m.text] == []
    assert len(service.get_incident(incident_id).notifications) == notifications

    # Used: refused on opening and on posting, nothing changes.
    before = service.get_incident(incident_id)
    for response in (api_client.get(page_links["acknowledge"]), _post(api_client, page_links["acknowledge"])):
        assert response.status_code == 410, response.text
        assert 'data-reason="used"' in response.text and "used already" in response.text
        assert response.headers["cache-control"] == "no-store"
    _unchanged(service, incident_id, before)

    # The resolve link of the same page still works, once.
    assert api_client.get(page_links["resolve"]).status_code == 200
    resolved = _post(api_client, page_links["resolve"])
    assert resolved.status_code == 200 and "Resolved by <strong>Sofia" in resolved.text
    incident = service.get_incident(incident_id)
    assert incident.status == "resolved" and incident.resolved_by == "sofia"
    assert [e["message"] for e in incident.timeline if e["kind"] == "resolved"] == ["resolved by sofia via link"]
    again = _post(api_client, page_links["resolve"])
    assert again.status_code == 410
    _unchanged(service, incident_id, incident)


def test_a_link_for_a_state_that_moved_on_is_refused_and_kept(api_client, service, receivers):
    from techflow_ops.escalation import action_links

    smtp, _ = receivers
    incident_id = _report(service)
    page_links = _mailed_links(smtp, incident_id)
    service.acknowledge(incident_id, "priya", at=T0 + timedelta(minutes=1))
    before = service.get_incident(incident_id)
    for response in (api_client.get(page_links["acknowledge"]), _post(api_client, page_links["acknowledge"])):
        assert response.status_code == 409, response.text
        assert "already acknowledged by priya" in response.text
    _unchanged(service, incident_id, before)
    # not burnt by the refusal: it is still the state that refuses it
    claims = action_links.verify(incident_id, "sofia", "acknowledge", _token(page_links["acknowledge"]))
    assert not service.action_link_used(claims.nonce)


def test_an_expired_link_is_refused(api_client, service, receivers, monkeypatch):
    from techflow_ops.escalation import action_links

    smtp, _ = receivers
    incident_id = _report(service)
    page_links = _mailed_links(smtp, incident_id)
    token = _token(page_links["acknowledge"])
    # the rule itself, on a clock: valid until max_age after signing, refused after
    claims = action_links.verify(incident_id, "sofia", "acknowledge", token)
    action_links.verify(incident_id, "sofia", "acknowledge", token, now=claims.signed_at + timedelta(hours=24))
    with pytest.raises(action_links.LinkRefused) as refused:
        action_links.verify(incident_id, "sofia", "acknowledge", token, now=claims.signed_at + timedelta(hours=24, seconds=1))
    assert refused.value.reason == action_links.EXPIRED
    # and through the app, with TECHFLOW_LINK_MAX_AGE tiny
    monkeypatch.setenv("TECHFLOW_LINK_MAX_AGE", "1s")
    time.sleep(2.1)
    before = service.get_incident(incident_id)
    for response in (api_client.get(page_links["acknowledge"]), _post(api_client, page_links["acknowledge"])):
        assert response.status_code == 410, response.text
        assert 'data-reason="expired"' in response.text and "expired" in response.text
    _unchanged(service, incident_id, before)
    assert before.status == "open"


def test_a_tampered_token_is_refused(api_client, service, receivers):
    smtp, _ = receivers
    incident_id = _report(service)
    path = _mailed_links(smtp, incident_id)["acknowledge"]
    token = _token(path)
    before = service.get_incident(incident_id)
    # claims, timestamp, signature; not the last character: base64url's final character carries
    # padding bits, so "A" -> "B" there can decode to the same signature and the token stays valid
    for position in (5, len(token) // 2, len(token) - 2):
        changed = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1:]
        tampered = path.replace(token, changed)
        for response in (api_client.get(tampered), _post(api_client, tampered)):
            assert response.status_code == 403, (position, response.text)
            assert 'data-reason="tampered"' in response.text
            assert "Sofia" not in response.text
    for missing in (path.split("?")[0], path.split("?")[0] + "?t="):
        assert api_client.get(missing).status_code == 403
    assert api_client.post(path.split("?")[0], data={}).status_code == 403
    _unchanged(service, incident_id, before)


def test_a_valid_token_does_not_open_another_incident_recipient_or_action(api_client, service, receivers):
    smtp, _ = receivers
    first = _report(service)
    second = _report(service)
    path = _mailed_links(smtp, first)["acknowledge"]
    token = _token(path)
    before = {i: service.get_incident(i) for i in (first, second)}
    cases = {
        f"/techflow/act/{second}/sofia/acknowledge?t={token}": "wrong incident",
        f"/techflow/act/{first}/jonas/acknowledge?t={token}": "wrong recipient",
        f"/techflow/act/{first}/sofia/resolve?t={token}": "wrong action",
        f"/techflow/act/{first}/sofia/delete?t={token}": "wrong action",
    }
    for other, reason in cases.items():
        for response in (api_client.get(other), _post(api_client, other)):
            assert response.status_code == 403, (other, response.text)
            assert f'data-reason="{reason}"' in response.text
    for incident_id, incident in before.items():
        _unchanged(service, incident_id, incident)
    # the genuine link still works afterwards
    assert _post(api_client, path).status_code == 200
    assert service.get_incident(first).acknowledged_by == "sofia"
    assert service.get_incident(second).status == "open"


def test_rotating_the_key_invalidates_unused_links(api_client, service, receivers, monkeypatch):
    smtp, _ = receivers
    incident_id = _report(service)
    page_links = _mailed_links(smtp, incident_id)
    assert api_client.get(page_links["acknowledge"]).status_code == 200
    monkeypatch.setenv("TECHFLOW_LINK_SIGNING_KEY", "rotated-" + "r" * 40)
    before = service.get_incident(incident_id)
    for path in page_links.values():
        for response in (api_client.get(path), _post(api_client, path)):
            assert response.status_code == 403, response.text
            assert 'data-reason="tampered"' in response.text
    _unchanged(service, incident_id, before)


def test_pagerduty_carries_the_links_and_notices_carry_none(api_client, service, receivers):
    smtp, http = receivers
    incident_id = _report(service, pipeline_id="engagement", task_id="consume_clicks",
                          exception=KafkaOutage("no events from topic clicks"))
    [event] = [p for path, p in http.posts if path == "/v2/enqueue"]
    details = event["payload"]["custom_details"]
    assert re.fullmatch(rf"https?://\S+/techflow/act/{incident_id}/infrastructure/acknowledge\?t=\S+", details["acknowledge_url"])
    assert f"Resolve: {details['resolve_url']}" in details["message"]
    # the team's link acts as the team
    done = _post(api_client, urlsplit(details["acknowledge_url"])._replace(scheme="", netloc="").geturl())
    assert done.status_code == 200, done.text
    assert service.get_incident(incident_id).acknowledged_by == "infrastructure"

    smtp.messages.clear()
    notice = service.report_warning(pipeline_id="profit", dataset="revenue", partition="2026-11-10",
                                    failure_mode="revenue_mismatch", summary="revenue dropped 12 %", at=T0)
    mails = [m for m in smtp.messages if f"Incident #{notice} " in m.text]
    assert mails and all("/techflow/act/" not in m.text and "<<" not in m.text for m in mails)


def test_the_generated_default_key_is_private_stable_and_shared_through_airflow_home(tmp_path, monkeypatch):
    from techflow_ops import settings
    from techflow_ops.escalation import action_links

    monkeypatch.delenv("TECHFLOW_LINK_SIGNING_KEY", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    key = settings.link_signing_key()
    path = tmp_path / "home" / settings.LINK_SIGNING_KEY_FILE
    assert path.read_text().strip() == key and len(key) >= 40
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert settings.link_signing_key() == key  # another process reads the same file
    token = action_links.make_token(7, "sofia", "acknowledge", "n1")
    assert action_links.verify(7, "sofia", "acknowledge", token).nonce == "n1"
    monkeypatch.setenv("TECHFLOW_LINK_SIGNING_KEY", "a-new-key-" + "x" * 30)
    with pytest.raises(action_links.LinkRefused) as refused:
        action_links.verify(7, "sofia", "acknowledge", token)
    assert refused.value.reason == action_links.TAMPERED
