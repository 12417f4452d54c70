"""Task failure -> page at a loopback SMTP server on real Airflow deployments: TechFlow's
escalation callbacks vs Airflow's bare SmtpNotifier, on `airflow standalone` (LocalExecutor,
via scripts/start.sh) and on the Celery stack (scripts/celery-stack.sh: PostgreSQL + Redis).
Bar: TechFlow's median <= 1.5x the bare notifier's, measured in the same run, on both executors.

Two DAGs of the same shape (one PythonOperator, retries=0) in a temporary DAG folder: one with
`task_hooks("profit")` (the callbacks every pipeline DAG gets), one with a bare `SmtpNotifier`
as `on_failure_callback`. The task writes `time.perf_counter()` (CLOCK_MONOTONIC, the same
clock in every process of this host) to a file right before it raises; `SmtpReceiver` stamps
the instant the message arrives. Runs are triggered through the REST API one at a time (the
next only once the previous run failed and its page arrived), alternating the two DAGs, after
one unmeasured warm-up run each. Every notification connection (smtp_default, Slack,
PagerDuty) points at loopback receivers, as in tests/escalation/conftest.py.

    .venv/bin/python benchmarks/bench_real_failure_latency.py [--runs 10] [--executors local,celery]
        [--preload on|off|both] [--set NAME=VALUE ...] [--skip-in-process] [--trace] [--keep]

`--preload both` measures each deployment with TECHFLOW_PRELOAD on (the default, which the bar
applies to) and off (for information). `--trace` prints where the first measured TechFlow page's
time went in the task process (it imports the escalation modules before the raise: a diagnostic,
not a figure). Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 for the Celery
half. Exit status: 0 when the bar is met on every executor measured, 1 when missed, 2 when a
stack could not run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from escalation.receivers import HttpReceiver, SmtpReceiver  # noqa: E402 - the tests' receivers
from integration.standalone_stack import StandaloneStack  # noqa: E402 - the integration test's harness

BAR_RATIO = 1.5
BARE_TO = "bare@techflow.example.com"
BARE_DAG, TECHFLOW_DAG = "bench_real_bare_smtp", "bench_real_techflow"
PIPELINE_ID = "profit"
NOTIFICATION_CONNECTIONS = ("slack_data_eng", "slack_finance", "slack_default")
PAGERDUTY_CONNECTIONS = ("pagerduty_infra", "pagerduty_default")
TRACE = False  # --trace

DAG_FILE = '''
import time
from datetime import datetime, timezone
from pathlib import Path

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG
from techflow_ops.escalation.callbacks import task_hooks

STAMPS = Path({stamps!r})
TRACE = {trace!r}  # --trace: time the escalation steps in the task process (imports them before the raise)
SPANS = []


def fail(ti=None, **_):
    if TRACE:
        _trace()
    (STAMPS / f"{{ti.dag_id}}__{{ti.run_id}}").write_text(repr(time.perf_counter()))
    raise RuntimeError("revenue file missing")


def _trace():
    import functools

    from techflow_ops.escalation import channels, orchestrator, outbox, store

    def wrap(owner, name, label):
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                SPANS.append((label, started, time.perf_counter()))
        setattr(owner, name, timed)

    import techflow_ops.escalation as escalation
    from techflow_ops.escalation.callbacks import ReportTaskFailure

    wrap(ReportTaskFailure, "__call__", "TechFlow callback (all)")
    wrap(escalation, "service", "service() (engine, config)")
    wrap(orchestrator.Escalation, "report_failure", "report_failure (all)")
    wrap(orchestrator, "read_oncall", "on-call lookup")
    wrap(store, "open_or_touch", "open incident (insert)")
    wrap(orchestrator.Escalation, "_fire_due_steps", "plan + queue first step")
    wrap(store.Writes, "flush", "write events/outbox rows")
    wrap(orchestrator.Escalation, "deliver", "deliver (all rows)")
    wrap(store, "claim", "claim row")
    wrap(store, "claimed_rows", "read the first step's claimed rows (incident's transaction)")
    wrap(orchestrator.Escalation, "_deliver_claimed", "deliver claimed rows (all)")
    wrap(channels, "send_email", "send email")
    wrap(channels, "send_slack", "send slack")
    wrap(store, "record_retried", "mark delivered")


def mark_callbacks_start(context):
    SPANS.append(("callbacks start", time.perf_counter(), time.perf_counter()))


def dump_spans(context):
    import json

    ti = context["ti"]
    (STAMPS / f"{{ti.dag_id}}__{{ti.run_id}}.spans").write_text(json.dumps(SPANS))


def build(dag_id, callbacks):
    if TRACE:
        callbacks = {{**callbacks, "on_failure_callback": [
            mark_callbacks_start, *callbacks["on_failure_callback"], dump_spans]}}
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False,
             is_paused_upon_creation=False, default_args={{"owner": "priya", "retries": 0, **callbacks}}) as dag:
        PythonOperator(task_id="load_revenue", python_callable=fail)
    return dag


bare = build({bare!r}, {{"on_failure_callback": [SmtpNotifier(
    to={bare_to!r}, from_email="airflow@techflow.example.com", subject="Task failed",
    html_content="{{{{ ti.task_id }}}} failed in {{{{ dag.dag_id }}}}", smtp_conn_id="smtp_default")]}})
techflow = build({techflow!r}, task_hooks({pipeline!r}))
'''


# --- receivers ------------------------------------------------------------------------------

def receiver_env(smtp: SmtpReceiver, http: HttpReceiver) -> dict[str, str]:
    env = dict(smtp.connection_env("smtp_default"))
    for conn_id in NOTIFICATION_CONNECTIONS:
        env.update(http.slack_env(conn_id))
    for conn_id in PAGERDUTY_CONNECTIONS:
        env.update(http.pagerduty_env(conn_id))
    return env


def write_dags(work: Path, trace: bool = False) -> Path:
    dags, stamps = work / "dags", work / "stamps"
    dags.mkdir(parents=True, exist_ok=True)
    stamps.mkdir(parents=True, exist_ok=True)
    (dags / "bench_real_failure_dags.py").write_text(DAG_FILE.format(
        stamps=str(stamps), trace=trace, bare=BARE_DAG, techflow=TECHFLOW_DAG, bare_to=BARE_TO, pipeline=PIPELINE_ID))
    return dags


# --- one measured failure -------------------------------------------------------------------

class Driver:
    """Triggers runs through the REST API and pairs each with the page it produced."""

    def __init__(self, api: httpx.Client, smtp: SmtpReceiver, stamps: Path, log_tail):
        self.api, self.smtp, self.stamps, self.log_tail = api, smtp, stamps, log_tail
        self.spans: list[list[tuple[str, float, float]]] = []

    def wait_for_dags(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.api.get(f"/api/v2/dags/{d}").status_code == 200 for d in (BARE_DAG, TECHFLOW_DAG)):
                for dag_id in (BARE_DAG, TECHFLOW_DAG):
                    self.api.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
                return
            time.sleep(1)
        errors = self.api.get("/api/v2/importErrors").text
        raise RuntimeError(f"benchmark DAGs not parsed within {timeout:.0f}s; import errors: {errors}\n{self.log_tail()}")

    def one(self, dag_id: str, timeout: float = 120) -> tuple[float, str]:
        """Trigger `dag_id`, wait for its failure and first page; return (seconds raise->page, recipient)."""
        seen = len(self.smtp.messages)
        response = self.api.post(f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": {}})
        if response.status_code != 200:
            raise RuntimeError(f"trigger {dag_id}: {response.status_code} {response.text}")
        run_id = response.json()["dag_run_id"]
        stamp = self.stamps / f"{dag_id}__{run_id}"
        deadline = time.monotonic() + timeout
        page, state = None, None
        while time.monotonic() < deadline:
            new = self.smtp.messages[seen:]
            if dag_id == BARE_DAG:
                new = [m for m in new if BARE_TO in m.recipients]
            else:
                new = [m for m in new if BARE_TO not in m.recipients]
            if new and page is None:
                page = min(new, key=lambda m: m.received_at)
            if state not in ("failed", "success"):
                state = self.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json().get("state")
            if page is not None and state in ("failed", "success"):
                break
            time.sleep(0.05)
        if state == "success":
            raise RuntimeError(f"{dag_id} {run_id} succeeded: the benchmark task must fail")
        if page is None or not stamp.exists():
            raise RuntimeError(f"{dag_id} {run_id}: no page within {timeout:.0f}s (run state {state}, "
                               f"stamp {'written' if stamp.exists() else 'missing'})\n{self.log_tail()}")
        time.sleep(0.5)  # let the rest of the step's messages land before the next run
        raised_at = float(stamp.read_text())
        spans_file = stamp.with_name(stamp.name + ".spans")
        if spans_file.exists():
            self.spans.append([(label, (a - raised_at) * 1000, (b - a) * 1000)
                               for label, a, b in json.loads(spans_file.read_text())]
                              + [("page received", (page.received_at - raised_at) * 1000, 0.0)])
        return page.received_at - raised_at, ",".join(page.recipients)

    def measure(self, runs: int) -> dict:
        cold = {dag_id: self.one(dag_id)[0] for dag_id in (BARE_DAG, TECHFLOW_DAG)}
        times: dict[str, list[float]] = {BARE_DAG: [], TECHFLOW_DAG: []}
        recipients = set()
        for _ in range(runs):
            for dag_id in (BARE_DAG, TECHFLOW_DAG):
                seconds, to = self.one(dag_id)
                times[dag_id].append(seconds)
                if dag_id == TECHFLOW_DAG:
                    recipients.add(to)
        return {"cold": cold, "times": times, "paged": sorted(recipients), "spans": self.spans[2:]}


# --- the two deployments --------------------------------------------------------------------

def run_standalone(work: Path, conn_env: dict, extra_env: dict, runs: int, smtp: SmtpReceiver) -> dict:
    """scripts/start.sh (airflow standalone, LocalExecutor) with its own home, data folder and
    ops DB, on a free port; the DAG bundle is the benchmark's folder only (no pipeline runs)."""
    dags = write_dags(work, TRACE)
    stack = StandaloneStack(work, start_timeout=240, env={
        "TECHFLOW_DEMO_ARGS": "--accounts 3 --events-per-day 20",
        # start.sh points dags_folder at the project's DAGs; the bundle list decides what is parsed.
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps([{
            "name": "bench", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(dags), "refresh_interval": 0}}]),
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        **conn_env, **extra_env,
    })
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        stack.env.pop(var, None)
    started = time.perf_counter()
    with stack:
        driver = Driver(stack.client, smtp, work / "stamps", lambda: stack.log_tail(30))
        driver.wait_for_dags()
        up = time.perf_counter() - started
        result = driver.measure(runs)
        result["up"] = up
        return result


def run_celery(work: Path, conn_env: dict, extra_env: dict, runs: int, smtp: SmtpReceiver) -> dict:
    """scripts/celery-stack.sh through the deploy tests' harness: throwaway PostgreSQL databases,
    a private Redis queue, one Celery worker; stopped and dropped afterwards."""
    from deploy.celery_stack import ADMIN_PASSWORD, CeleryStack

    dags = write_dags(work, TRACE)
    stack = CeleryStack(work_dir=work, dags_folder=dags, extra_env={
        **conn_env, **extra_env, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    started = time.perf_counter()
    try:
        stack.start(workers=1)
        token = httpx.post(f"{stack.base_url}/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD},
                           timeout=30)
        token.raise_for_status()
        with httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {token.json()['access_token']}"},
                          timeout=30) as api:
            driver = Driver(api, smtp, work / "stamps", lambda: stack.logs_tail(20))
            driver.wait_for_dags()
            up = time.perf_counter() - started
            result = driver.measure(runs)
            result["up"] = up
            return result
    finally:
        leftovers = stack.stop()
        if leftovers:
            print(f"  WARNING: Celery stack processes still alive: {leftovers}")


# --- report ---------------------------------------------------------------------------------

def in_process_figures(runs: int) -> str:
    """benchmarks/bench_escalation_latency.py (dag.test, in one process) for comparison."""
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_escalation_latency.py"), "--runs", str(runs)],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    lines = result.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("task failure -> page")), None)
    if start is None:  # it failed: show the end of what it said
        return "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
    return "\n".join(lines[start:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="measured failures per path per executor (after one warm-up each)")
    parser.add_argument("--executors", default="local,celery", help="comma-separated: local (standalone), celery")
    parser.add_argument("--preload", choices=("on", "off", "both"), default="on",
                        help="TECHFLOW_PRELOAD for the Airflow processes (both: measure each)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the Airflow processes, e.g. TECHFLOW_PAGE_PRECONNECT=off")
    parser.add_argument("--skip-in-process", action="store_true", help="do not run bench_escalation_latency.py")
    parser.add_argument("--trace", action="store_true",
                        help="diagnostics: time TechFlow's steps in the task process (imports them before the raise)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) afterwards")
    args = parser.parse_args()
    global TRACE
    TRACE = args.trace
    executors = [e.strip() for e in args.executors.split(",") if e.strip()]
    if "celery" in executors:
        from deploy.celery_stack import services_problem

        problem = services_problem()
        if problem:
            print(f"cannot run the Celery half: {problem}")
            return 2
    preloads = ["on", "off"] if args.preload == "both" else [args.preload]
    extra = dict(item.split("=", 1) for item in args.set)
    if extra:
        print("extra environment: " + " ".join(f"{k}={v}" for k, v in extra.items()))

    import logging

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    smtp, http = SmtpReceiver().start(), HttpReceiver().start()
    conn_env = receiver_env(smtp, http)
    work_root = Path(tempfile.mkdtemp(prefix="bench-real-failure-"))
    results: dict[tuple[str, str], dict] = {}
    failed_stacks: list[str] = []
    try:
        for preload in preloads:
            for executor in executors:
                label = f"{executor} preload={preload}"
                print(f"[{time.strftime('%H:%M:%S')}] {label}: starting ...", flush=True)
                runner = {"local": run_standalone, "celery": run_celery}[executor]
                try:
                    results[(executor, preload)] = runner(work_root / f"{executor}-{preload}", conn_env,
                                                          {"TECHFLOW_PRELOAD": preload, **extra}, args.runs, smtp)
                except Exception as exc:  # noqa: BLE001 - report the other stack's figures anyway
                    print(f"  {label}: FAILED: {type(exc).__name__}: {exc}", flush=True)
                    failed_stacks.append(label)
                    continue
                r = results[(executor, preload)]
                print(f"[{time.strftime('%H:%M:%S')}] {label}: up + DAGs parsed in {r['up']:.0f} s; measured", flush=True)
    finally:
        smtp.stop()
        http.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(work_root, ignore_errors=True)
        else:
            print(f"work folder kept: {work_root}")

    names = {"local": "standalone (LocalExecutor)", "celery": "Celery (PostgreSQL + Redis)"}
    print()
    print(f"task raise -> page at the loopback SMTP server, median of {args.runs} sequential failures per path "
          "(after one cold run each)")
    print(f"{'executor':<30}{'preload':>8}{'bare SmtpNotifier':>20}{'TechFlow':>12}{'ratio':>8}   verdict (bar <= {BAR_RATIO}x)")
    missed = False
    for (executor, preload), r in results.items():
        bare = statistics.median(r["times"][BARE_DAG])
        techflow = statistics.median(r["times"][TECHFLOW_DAG])
        ratio = techflow / bare
        verdict = "meets" if ratio <= BAR_RATIO else "MISSES"
        missed |= ratio > BAR_RATIO and (preload == "on" or len(preloads) == 1)
        print(f"{names[executor]:<30}{preload:>8}{bare * 1000:>17.0f} ms{techflow * 1000:>9.0f} ms{ratio:>7.2f}x   "
              f"{ratio:.2f} / {BAR_RATIO} = {ratio / BAR_RATIO:.2f} -> {verdict}")
    print()
    for (executor, preload), r in results.items():
        for dag_id, title in ((BARE_DAG, "bare SmtpNotifier"), (TECHFLOW_DAG, "TechFlow")):
            times = r["times"][dag_id]
            print(f"  {names[executor]}, preload {preload}, {title:<17} min {min(times) * 1000:6.0f}  "
                  f"max {max(times) * 1000:6.0f}  cold {r['cold'][dag_id] * 1000:6.0f} ms   all: "
                  + " ".join(f"{t * 1000:.0f}" for t in times))
        print(f"  {names[executor]}, preload {preload}: TechFlow paged {', '.join(r['paged'])}")
    for (executor, preload), r in results.items():
        if r["spans"]:
            print(f"\n  trace, {names[executor]}, preload {preload}: the first two measured runs (bare, then TechFlow), "
                  "ms after the raise (start +duration)")
            for spans in r["spans"][:2]:
                for label, start, duration in spans:
                    print(f"    {label:<28} {start:8.1f}  +{duration:6.1f}")
                print()
    if not args.skip_in_process:
        print("\nin-process comparison (benchmarks/bench_escalation_latency.py, dag.test in one process, bar 2x):")
        print("  " + in_process_figures(5).replace("\n", "\n  "))
    else:
        print("\nin-process comparison: run .venv/bin/python benchmarks/bench_escalation_latency.py")
    if failed_stacks:
        print(f"\nnot measured: {', '.join(failed_stacks)}")
        return 2
    if missed:
        print(f"\nBAR MISSED: TechFlow failure->page above {BAR_RATIO}x the bare SmtpNotifier (preload on)")
        return 1
    print(f"\nbar met: TechFlow failure->page <= {BAR_RATIO}x the bare SmtpNotifier on every executor measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
