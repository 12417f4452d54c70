"""Drive `scripts/start.sh` (what `make start` runs) from tests and benchmarks: its own
AIRFLOW_HOME, data folder and ops DB under a work folder, a free loopback port, the admin login
from the banner, a REST client with a JWT, and a stop that leaves no process behind.

    with StandaloneStack(work, env={"TECHFLOW_DEMO_ARGS": "--accounts 10"}) as stack:
        stack.client.get("/api/v2/dags")
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from techflow_ops.inbox.connections import free_port

ROOT = Path(__file__).resolve().parents[2]
BANNER_END = "Ctrl-C stops"  # the banner's last line: everything start.sh starts is up


def stop_group(pid: int, grace: float = 30) -> None:
    """SIGTERM a process group, SIGKILL it if it is still there after `grace` seconds."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_for(predicate, timeout: float, what: str, every: float = 2.0):
    """The first truthy answer of `predicate()`; TimeoutError naming `what` and the last answer."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(every)
    raise TimeoutError(f"timed out waiting for {what}; last answer: {last!r}")


class StandaloneStack:
    """`scripts/start.sh` in its own session. The environment starts clean of AIRFLOW__*,
    AIRFLOW_CONN_* and TECHFLOW_* (so the developer's shell never leaks in), then `env` applies."""

    def __init__(self, work: Path, *, env: dict | None = None, start_timeout: float = 240):
        self.work = Path(work)
        self.home = self.work / "airflow"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "TECHFLOW_"))}
        self.env.update({
            "AIRFLOW_HOME": str(self.home), "TECHFLOW_DATA_DIR": str(self.work / "data"),
            "TECHFLOW_OPS_DB_URL": f"sqlite:///{self.work / 'ops.db'}", "TECHFLOW_PORT": str(self.port),
            "TECHFLOW_START_TIMEOUT": str(int(start_timeout)), **(env or {}),
        })
        self.output: list[str] = []
        self.startup_seconds = 0.0
        self.client: httpx.Client | None = None
        self._script: subprocess.Popen | None = None

    def start(self) -> StandaloneStack:
        """Run start.sh until its banner is printed and log in; raises with the output and log tail."""
        started = time.monotonic()
        self._script = subprocess.Popen(["bash", str(ROOT / "scripts" / "start.sh")], env=self.env, cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        try:
            for line in self._script.stdout:
                self.output.append(line)
                if BANNER_END in line:
                    break
            self.startup_seconds = time.monotonic() - started
            logins = [line for line in self.output if "login:" in line]
            if not logins:
                raise RuntimeError("start.sh did not come up:\n" + "".join(self.output[-40:]) + self.log_tail())
            user, password = logins[0].split("login:")[1].strip().split(" / ")
            token = httpx.post(f"{self.base_url}/auth/token", json={"username": user, "password": password}, timeout=60)
            token.raise_for_status()
            self.client = httpx.Client(base_url=self.base_url, timeout=60,
                                       headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        except BaseException:
            self.stop()
            raise
        return self

    def log_tail(self, lines: int = 40) -> str:
        log = self.home / "standalone.log"
        return "".join(log.read_text(errors="replace").splitlines(keepends=True)[-lines:]) if log.exists() else ""

    def stop(self) -> None:
        """Stop the script's session and Airflow's (start.sh runs standalone in a session of its own)."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._script is None:
            return
        stop_group(self._script.pid)
        pid_file = self.home / "standalone.pid"
        if pid_file.exists():
            stop_group(int(pid_file.read_text()))
        try:
            self._script.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._script.kill()
        self._script = None

    def __enter__(self) -> StandaloneStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
