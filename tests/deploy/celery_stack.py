"""Drive `scripts/celery-stack.sh` from tests: throwaway Postgres databases, a private Redis
queue, the stack's processes, the REST API, and a cleanup that leaves nothing behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from escalation.receivers import free_port  # the loopback helpers the test areas share

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SCRIPT = ROOT / "scripts" / "celery-stack.sh"
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 5  # a db number of its own on a shared Redis
ADMIN_PASSWORD = "stack-test-admin"


def services_problem() -> str | None:
    """Why the stack cannot run here (Postgres or Redis not answering), or None."""
    import psycopg2
    import redis

    problems = []
    try:
        psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3).close()
    except psycopg2.Error as exc:
        problems.append(f"PostgreSQL on {PG_HOST}:{PG_PORT} (user {PG_USER}) does not answer: {' '.join(str(exc).split())}")
    try:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_connect_timeout=3,
                    retry=Retry(NoBackoff(), 0)).ping()  # one answer is enough; retries only delay a skip
    except redis.RedisError as exc:
        problems.append(f"Redis on {REDIS_HOST}:{REDIS_PORT} does not answer: {exc}")
    return "; ".join(problems) or None


def require_services() -> None:
    """Skip the calling test where Postgres or Redis do not answer; under CI that is a failure."""
    import pytest

    problem = services_problem()
    if problem:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"CI must run the Celery stack test, but {problem}", pytrace=False)
        pytest.skip(problem)


def _pg_admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
    finally:
        conn.close()


@dataclass
class CeleryStack:
    """One stack: `start()`, use `api` / `ops_db_url` / `warehouse_url`, then `stop()` (always)."""

    work_dir: Path
    dags_folder: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    name: str = field(default_factory=lambda: f"tfstack_{os.getpid()}_{uuid.uuid4().hex[:8]}")

    def __post_init__(self):
        self.api_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.queue = f"{self.name}_queue"
        self.databases = {role: f"{self.name}_{role}" for role in ("airflow", "warehouse", "ops")}
        self.stack_dir = self.work_dir / "stack"
        self._token: str | None = None
        self._created_databases = False

    def _url(self, role: str) -> str:
        return f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.databases[role]}"

    @property
    def warehouse_url(self) -> str:
        return self._url("warehouse")

    @property
    def ops_db_url(self) -> str:
        return self._url("ops")

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TECHFLOW_"))}
        env.update({
            "AIRFLOW_HOME": str(self.work_dir / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self._url("airflow"),
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__API__PORT": str(self.api_port),
            # Only the runs a test triggers: unpausing a daily DAG would otherwise add a
            # scheduled run for the latest interval, and max_active_runs=1 queues ours behind it.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "TECHFLOW_WAREHOUSE_URL": self.warehouse_url,
            "TECHFLOW_OPS_DB_URL": self.ops_db_url,
            "TECHFLOW_DATA_DIR": str(self.work_dir / "data"),
            "TECHFLOW_STACK_DIR": str(self.stack_dir),
            "_AIRFLOW_WWW_USER_PASSWORD": ADMIN_PASSWORD,
        })
        env.update(self.extra_env)
        return env

    def script(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        return subprocess.run([str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def start(self, workers: int = 1) -> None:
        self._created_databases = True  # `up` creates them; `stop()` drops whatever exists
        result = self.script("up", "--workers", str(workers))
        if result.returncode != 0:
            raise AssertionError(f"celery-stack.sh up failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
                                 f"\n{self.logs_tail()}")

    def logs_tail(self, lines: int = 40) -> str:
        out = []
        for log in sorted((self.stack_dir / "logs").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name} ---\n" + "\n".join(tail))
        return "\n".join(out)

    def log(self, name: str) -> str:
        return (self.stack_dir / "logs" / f"{name}.log").read_text(errors="replace")

    def task_log(self, dag_id: str, run_id: str, task_id: str, lines: int = 40) -> str:
        """The end of a task's last attempt log (for assertion messages)."""
        run_dir = self.work_dir / "airflow" / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        attempts = sorted(run_dir.glob("attempt=*.log"))
        if not attempts:
            return f"(no log under {run_dir})"
        return "\n".join(attempts[-1].read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> list[str]:
        """Stop every process, drop the databases and the queue; returns processes still alive."""
        sessions = {int(p.read_text()) for p in (self.stack_dir / "pids").glob("*.pid")}
        result = self.script("down", timeout=90)
        leftovers = self.leftover_processes(sessions)
        if self._created_databases:
            for database in self.databases.values():
                _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        import redis

        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
        for key in client.scan_iter(match=f"*{self.queue}*"):
            client.delete(key)
        if result.returncode != 0:
            raise AssertionError(f"celery-stack.sh down failed:\n{result.stdout}\n{result.stderr}")
        return leftovers

    def airflow(self, *args: str) -> subprocess.CompletedProcess:
        """An `airflow` CLI command as one more component of this stack (same secrets)."""
        secrets = dict(line.split("=", 1) for line in (self.stack_dir / "secrets.env").read_text().split())
        return subprocess.run([str(VENV_BIN / "airflow"), *args], env={**self.env, **secrets},
                              capture_output=True, text=True, timeout=120)

    def leftover_processes(self, sessions: set[int]) -> list[str]:
        """Processes still in a session the stack started (a task process included), or whose
        environment names this stack's folder (anything that left its session)."""
        marker = f"TECHFLOW_STACK_DIR={self.stack_dir}".encode() + b"\0"
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                # Field 6 of /proc/PID/stat is the session id; the command name (field 2) may hold spaces.
                session = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[3])
                if session in sessions or marker in (proc / "environ").read_bytes():
                    command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    found.append(f"{proc.name}: {command}")
            except (OSError, IndexError, ValueError):
                continue
        return found

    # --- REST API ------------------------------------------------------------------------

    @property
    def api(self) -> httpx.Client:
        if self._token is None:
            response = httpx.post(f"{self.base_url}/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD})
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return httpx.Client(base_url=f"{self.base_url}/api/v2", headers={"Authorization": f"Bearer {self._token}"},
                            timeout=30)

    def wait_for_dag(self, dag_id: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        with self.api as api:
            while time.monotonic() < deadline:
                if api.get(f"/dags/{dag_id}").status_code == 200:
                    return
                time.sleep(1)
        raise AssertionError(f"DAG {dag_id} not parsed within {timeout}s\n{self.logs_tail()}")

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        with self.api as api:
            api.patch(f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
            response = api.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
            response.raise_for_status()
            return response.json()["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 150) -> str:
        deadline = time.monotonic() + timeout
        with self.api as api:
            while time.monotonic() < deadline:
                state = api.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"]
                if state in ("success", "failed"):
                    return state
                time.sleep(1)
        raise AssertionError(f"{dag_id} {run_id} not finished within {timeout}s\n{self.logs_tail()}")

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict]:
        with self.api as api:
            body = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()
        return {ti["task_id"]: ti for ti in body["task_instances"]}
