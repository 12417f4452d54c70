"""The local inbox: a real SMTP server and webhook receiver on loopback (in-process, and as the
real `techflow-ops inbox serve` process) catch every page the escalation engine sends through
Airflow's providers, and keep it in the ops DB with the incident it belongs to. Also the
connections `make start` points at it: every one the config uses, and never one the user set."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from escalation.conftest import T0, FakeSchedule
from techflow_ops.failures import KafkaOutage
from techflow_ops.inbox import connections, messages
from techflow_ops.inbox.catcher import Catcher

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"
SOFIA = "sofia.alvarez@techflow.example.com"
INFRA = "infra-oncall@techflow.example.com"
# What scripts/start.sh exports on the embedded default (the brief's list; the config must not need more).
EMBEDDED = {"smtp_default": "email", "slack_data_eng": "slack", "slack_finance": "slack", "slack_default": "slack",
            "pagerduty_infra": "pagerduty", "pagerduty_default": "pagerduty"}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def catcher(ops_db_url, monkeypatch):
    with Catcher(db_url=ops_db_url) as running:
        for name, value in running.connection_env().items():
            monkeypatch.setenv(name, value)
        yield running


def escalation_on(url: str):
    from techflow_ops.escalation.orchestrator import Escalation
    from techflow_ops.opsdb import get_engine

    return Escalation(engine=get_engine(url), schedule=FakeSchedule())


def inbox(url: str, **kwargs) -> list[dict]:
    from techflow_ops.inbox import store
    from techflow_ops.opsdb import get_engine

    return store.list_messages(get_engine(url), **kwargs)


def assert_the_kafka_outage_pages_are_in_the_inbox(url: str, incident_id: int) -> list[dict]:
    caught = inbox(url)
    by_channel = {channel: [m for m in caught if m["channel"] == channel] for channel in ("email", "slack", "pagerduty")}
    to_sofia = [m for m in by_channel["email"] if m["to"] == SOFIA]
    assert len(to_sofia) == 1, caught
    assert to_sofia[0]["incident_id"] == incident_id
    assert to_sofia[0]["subject"].startswith("[TechFlow L1]") and "Engagement" in to_sofia[0]["subject"]
    # the HTML mail as the text a person reads: the page, unescaped, with its incident header line
    assert to_sofia[0]["body"].startswith(f"Incident #{incident_id} - ") and "<pre" not in to_sofia[0]["body"]
    assert "Try:" in to_sofia[0]["body"] and f"incidents ack {incident_id}" in to_sofia[0]["body"]
    assert [m["incident_id"] for m in by_channel["email"] if m["to"] == INFRA] == [incident_id]  # the FYI
    [slack] = by_channel["slack"]
    assert slack["to"] == "@sofia" and slack["incident_id"] == incident_id
    assert slack["subject"] == to_sofia[0]["subject"] and f"Incident #{incident_id}" in slack["body"]
    [pagerduty] = by_channel["pagerduty"]
    assert pagerduty["to"] == "routing-key-pagerduty_infra" and pagerduty["incident_id"] == incident_id
    assert "Engagement" in pagerduty["subject"] and f"dedup_key: techflow-incident-{incident_id}" in pagerduty["body"]
    stamps = [(m["received_at"], m["id"]) for m in caught]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    return caught


# --- the connections ---------------------------------------------------------------------------


def test_the_embedded_connections_are_every_connection_the_config_uses():
    config = PROJECT_ROOT / "include" / "config"
    named = {}
    for file_name, key in (("people.yaml", "people"), ("teams.yaml", "teams")):
        for holder in yaml.safe_load((config / file_name).read_text())[key]:
            named.update({c["connection_id"]: c["type"] for c in holder.get("contact") or [] if c.get("connection_id")})
    notifications = yaml.safe_load((config / "escalation.yaml").read_text())["notifications"]
    named.update({notifications["smtp_conn_id"]: "email", notifications["slack_conn_id"]: "slack",
                  notifications["pagerduty_conn_id"]: "pagerduty"})
    assert named == EMBEDDED
    assert connections.configured_connections() == EMBEDDED
    env = connections.connection_env(2525, "http://127.0.0.1:8025", EMBEDDED)
    assert set(env) == {f"AIRFLOW_CONN_{conn_id.upper()}" for conn_id in EMBEDDED}
    assert json.loads(env["AIRFLOW_CONN_SMTP_DEFAULT"])["port"] == 2525
    assert json.loads(env["AIRFLOW_CONN_SLACK_FINANCE"])["password"] == "slack/slack_finance"


# --- what a caught message says ----------------------------------------------------------------


def test_messages_name_their_incident_and_read_as_text():
    mail = (b"Subject: [TechFlow L1][major] Profit: task load failed\r\nTo: a@x\r\nX-TechFlow-Incident: 12\r\n"
            b"Content-Type: text/html\r\n\r\n<pre>FYI, no acknowledgement needed\n\nIncident #12 - Profit &lt;x&gt;\n"
            b'Log: <a href="http://h/l">http://h/l</a></pre>')
    caught = messages.from_email(mail, ["a@x", "b@x"])
    assert (caught.channel, caught.to, caught.incident_id) == ("email", "a@x, b@x", 12)
    assert caught.body == "FYI, no acknowledgement needed\n\nIncident #12 - Profit <x>\nLog: http://h/l"
    assert messages.from_email(mail.replace(b"X-TechFlow-Incident: 12\r\n", b""), ["a@x"]).incident_id == 12
    slack = messages.from_post("/slack/slack_finance", {
        "text": "#finance-data *[TechFlow L2] Profit*\n```[DRILL] Incident #7 - Profit\nError: `x````\n"
                "<http://h/act/7/tom/acknowledge?t=1|Acknowledge>  ·  <http://h/act/7/tom/resolve?t=2|Resolve>"})
    assert (slack.channel, slack.to, slack.subject, slack.incident_id) == ("slack", "#finance-data", "[TechFlow L2] Profit", 7)
    assert slack.body.endswith("Error: `x`\n\nAcknowledge: http://h/act/7/tom/acknowledge?t=1\nResolve: http://h/act/7/tom/resolve?t=2")
    plain = messages.from_post("/services/T0/B0/XX", {"text": "[TechFlow on-call] You are on call from Monday"})
    assert (plain.to, plain.subject, plain.incident_id) == ("XX", "[TechFlow on-call] You are on call from Monday", None)
    event = messages.from_post("/v2/enqueue", {"routing_key": "rk", "event_action": "trigger", "dedup_key": "techflow-incident-3",
                                               "payload": {"summary": "S", "severity": "critical",
                                                           "custom_details": {"message": "Incident #4 - text", "outbox_id": 1}}})
    assert (event.channel, event.to, event.subject, event.incident_id) == ("pagerduty", "rk", "S", 3)  # the dedup key decides
    assert event.body.startswith("Incident #4 - text\n\nseverity: critical")


# --- the catcher in-process, and the escalation engine paging through it ------------------------


def test_a_kafka_outage_pages_land_in_the_inbox_with_their_incident(catcher, ops_db_url):
    escalation = escalation_on(ops_db_url)
    incident_id = escalation.report_failure(pipeline_id="engagement", run_id="r1", task_id="ingest",
                                            exception=KafkaOutage("no events from topic clicks"), at=T0)
    incident = escalation.get_incident(incident_id)
    assert incident.notifications and all(n["status"] == "delivered" for n in incident.notifications), incident.notifications
    caught = assert_the_kafka_outage_pages_are_in_the_inbox(ops_db_url, incident_id)
    assert len(caught) == len(incident.notifications)  # one message per delivered notification, nothing else
    assert inbox(ops_db_url, incident_id=incident_id, channel="pagerduty")[0]["channel"] == "pagerduty"
    assert [m["id"] for m in inbox(ops_db_url, limit=2, offset=1)] == [m["id"] for m in caught[1:3]]


def test_without_a_connection_a_page_is_still_an_error_recorded_and_retried(catcher, ops_db_url, monkeypatch):
    """Production: nothing defaults a missing connection to the inbox."""
    monkeypatch.delenv("AIRFLOW_CONN_SLACK_DATA_ENG")
    escalation = escalation_on(ops_db_url)
    incident_id = escalation.report_failure(pipeline_id="profit", run_id="r1", task_id="load",
                                            exception=RuntimeError("boom"), at=T0)
    slack = [n for n in escalation.get_incident(incident_id).notifications if n["channel"] == "slack"]
    assert slack and all(n["status"] == "pending" and n["attempts"] == 1 and "slack_data_eng" in (n["last_error"] or "")
                         for n in slack), slack
    assert [m["channel"] for m in inbox(ops_db_url)] == ["email"]  # the email still went out


def test_the_http_receiver_answers_like_slack_and_pagerduty(catcher, ops_db_url):
    import httpx

    with httpx.Client(base_url=catcher.http_url, timeout=10) as client:
        event = client.post("/v2/enqueue", json={"routing_key": "rk", "event_action": "trigger",
                                                 "payload": {"summary": "no dedup key", "severity": "error", "source": "s"}})
        assert event.status_code == 202 and event.json()["status"] == "success" and event.json()["dedup_key"]
        assert client.post("/hooks/team", json={"text": "hello"}).text == "ok"
        form = client.post("/hooks/team", data={"payload": json.dumps({"text": "from a form"})})
        assert form.status_code == 200
        assert client.post("/hooks/team", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
    assert [(m["channel"], m["subject"]) for m in inbox(ops_db_url)] == [
        ("slack", "from a form"), ("slack", "hello"), ("pagerduty", "no dedup key")]


# --- the real `techflow-ops inbox serve` process -------------------------------------------------


def _env_lines(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_inbox_serve_catches_the_pages_and_inbox_list_shows_them(ops_db_url, tmp_path, monkeypatch):
    env_file = tmp_path / "inbox.env"
    serve = subprocess.Popen([str(VENV_BIN / "techflow-ops"), "inbox", "serve", "--env-file", str(env_file)],
                             env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not env_file.exists() and serve.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert env_file.exists(), serve.communicate(timeout=10)[0] if serve.poll() is not None else "no env file in 60 s"
        env = _env_lines(env_file)
        assert set(env) == {f"AIRFLOW_CONN_{conn_id.upper()}" for conn_id in EMBEDDED}
        for name, value in env.items():
            assert json.loads(value)["host"].startswith(("127.0.0.1", "http://127.0.0.1:"))
            monkeypatch.setenv(name, value)

        escalation = escalation_on(ops_db_url)
        incident_id = escalation.report_failure(pipeline_id="engagement", run_id="r1", task_id="ingest",
                                                exception=KafkaOutage("no events"), at=T0)
        assert all(n["status"] == "delivered" for n in escalation.get_incident(incident_id).notifications)
        caught = assert_the_kafka_outage_pages_are_in_the_inbox(ops_db_url, incident_id)

        listed = subprocess.run([str(VENV_BIN / "techflow-ops"), "inbox", "list", "--json"], capture_output=True,
                                text=True, timeout=120, env=os.environ.copy())
        assert listed.returncode == 0, listed.stderr
        document = json.loads(listed.stdout)["messages"]
        assert [m["id"] for m in document] == [m["id"] for m in caught]
        assert document[0]["incident_url"].endswith(f"/techflow/incidents/{incident_id}")
        text = subprocess.run([str(VENV_BIN / "techflow-ops"), "inbox", "list"], capture_output=True, text=True,
                              timeout=120, env=os.environ.copy()).stdout
        assert f"#{incident_id}" in text and "@sofia" in text and "routing-key-pagerduty_infra" in text
    finally:
        serve.send_signal(signal.SIGTERM)
        output = serve.communicate(timeout=30)[0]
    assert serve.returncode == 0, output
    assert not env_file.exists()  # its ports are gone with it
    assert re.search(r"SMTP on 127\.0\.0\.1:\d+, HTTP .* on http://127\.0\.0\.1:\d+", output), output
    assert "export AIRFLOW_CONN_SMTP_DEFAULT=" in output
    assert output.count(f"(incident #{incident_id})") == len(caught), output


# --- scripts/start.sh ------------------------------------------------------------------------------


def _start_sh(script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Runs `script` in bash after sourcing scripts/start.sh (which then defines its functions only)."""
    return subprocess.run(["bash", "-c", f'source "{PROJECT_ROOT}/scripts/start.sh"\n{script}'], env=env,
                          capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)


def test_start_sh_points_unset_connections_at_the_inbox_and_leaves_the_users_alone(ops_db_url, tmp_path):
    user_smtp = "smtp://relay.example.com:587?from_email=ops%40example.com"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(AIRFLOW_CONN_SMTP_DEFAULT=user_smtp, AIRFLOW_CONN_SLACK_FINANCE="")  # empty counts as unset
    result = _start_sh(f"""
start_inbox "{VENV_BIN}/techflow-ops" "{tmp_path}"
echo "inbox pid: $INBOX_PID"
echo "exported: $(connection_ids "${{INBOX_CONNECTIONS[@]}}")"
echo "kept: $(connection_ids "${{KEPT_CONNECTIONS[@]}}")"
env | grep '^AIRFLOW_CONN_' | sort
stop_inbox
""", env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "exported: pagerduty_default pagerduty_infra slack_data_eng slack_default slack_finance\n" in out, out
    assert "kept: smtp_default\n" in out
    assert f"AIRFLOW_CONN_SMTP_DEFAULT={user_smtp}\n" in out
    exported = dict(line.split("=", 1) for line in out.splitlines() if line.startswith("AIRFLOW_CONN_"))
    assert not (tmp_path / "inbox.env").exists()  # the catcher stopped (stop_inbox) and took its env file with it
    for name in ("AIRFLOW_CONN_SLACK_FINANCE", "AIRFLOW_CONN_PAGERDUTY_INFRA"):
        assert json.loads(exported[name])["host"].startswith("http://127.0.0.1:"), exported[name]
    pid = int(re.search(r"inbox pid: (\d+)", out).group(1))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_start_sh_exports_only_connections_not_set(tmp_path):
    env_file = tmp_path / "inbox.env"
    env_file.write_text('AIRFLOW_CONN_SMTP_DEFAULT={"conn_type": "smtp", "port": 1}\n'
                        'AIRFLOW_CONN_SLACK_DEFAULT={"conn_type": "slackwebhook", "password": "a b"}\n'
                        "not a connection line\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env["AIRFLOW_CONN_SMTP_DEFAULT"] = "mine"
    result = _start_sh(f'export_inbox_connections "{env_file}"; env | grep "^AIRFLOW_CONN_" | sort', env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        'AIRFLOW_CONN_SLACK_DEFAULT={"conn_type": "slackwebhook", "password": "a b"}', "AIRFLOW_CONN_SMTP_DEFAULT=mine"]
