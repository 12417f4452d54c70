"""Static checks of the scale-out deployment: docker-compose.yaml, Dockerfile, .env.example, README.

Docker cannot run here, so these catch what `docker compose config` and a first `up` would:
services that drift apart, a healthcheck missing behind `service_healthy`, clashing host
ports, an image built from other versions than CI tested, and settings nobody documented.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from techflow_ops.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-cli",
    "flower",
    "watchdog",  # techflow-ops watchdog: same image and environment, its own container
}
ONE_SHOT = {"airflow-init", "airflow-cli"}  # run to completion; no healthcheck, no restart
# What a service may add to the common environment, and why it differs.
SERVICE_ONLY_ENV = {
    "airflow-worker": {"DUMB_INIT_SETSID"},  # warm Celery shutdown
    "airflow-init": {"_AIRFLOW_WWW_USER_USERNAME", "_AIRFLOW_WWW_USER_PASSWORD"},  # written once
    "airflow-cli": {"CONNECTION_CHECK_MAX_COUNT"},  # a one-off command need not wait for the DB
}
SETTING_NAME = re.compile(r"\b(?:TECHFLOW_[A-Z0-9_]+|AIRFLOW__[A-Z0-9_]+|AIRFLOW_CONN_[A-Z0-9_]+)\b")
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")  # `$${X}` is a literal `${X}`
DEFAULTED = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^${}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def env_example_names() -> set[str]:
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"#?\s*([A-Za-z_][A-Za-z0-9_]*)=", line.strip())
        if match:
            names.add(match.group(1))
    return names


@pytest.fixture(scope="module")
def readme_settings() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration (settings)", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\|\s*`([A-Za-z_][A-Za-z0-9_]*)`\s*\|", section, flags=re.MULTILINE))


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _host_port(mapping: str) -> str:
    """'${AIRFLOW_API_PORT:-8080}:8080' -> '8080' (the default a fresh .env gets)."""
    resolved = DEFAULTED.sub(lambda m: m.group(1), mapping)
    parts = resolved.split(":")
    return parts[-2] if len(parts) >= 2 else parts[0]


def test_compose_parses_with_the_expected_services(compose):
    services = set(compose["services"])
    assert AIRFLOW_SERVICES | {"postgres", "redis", "mailpit"} <= services, services
    assert "x-airflow-common" in compose


def test_every_airflow_service_shares_the_common_environment_and_volumes(compose):
    common = compose["x-airflow-common"]
    common_env = _environment(common)
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        env = _environment(service)
        extra = set(env) - set(common_env)
        assert extra <= SERVICE_ONLY_ENV.get(name, set()), f"{name}: environment adds {sorted(extra)}"
        differing = {k for k in common_env if env.get(k) != common_env[k]}
        assert not differing, f"{name}: environment differs from x-airflow-common in {sorted(differing)}"
        assert service["volumes"] == common["volumes"], f"{name}: volumes differ from x-airflow-common"
        assert service.get("image") == common["image"], f"{name}: image differs"
        assert service.get("user") == common["user"], f"{name}: user differs"
    non_airflow = set(compose["services"]) - AIRFLOW_SERVICES
    for name in non_airflow:
        assert "AIRFLOW__CORE__FERNET_KEY" not in _environment(compose["services"][name]), name


def test_secrets_every_process_must_share_are_required_not_defaulted(compose):
    env = _environment(compose["x-airflow-common"])
    for name in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
        assert re.fullmatch(r"\$\{" + name + r":\?[^}]+\}", env[name]), f"{name} = {env[name]!r}"


def test_celery_points_at_the_compose_redis_postgres_and_api_server(compose):
    env = _environment(compose["x-airflow-common"])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "@redis:6379" in env["AIRFLOW__CELERY__BROKER_URL"]
    assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    api_port = compose["services"]["airflow-api-server"]["ports"][0].rsplit(":", 1)[1]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://airflow-api-server:{api_port}/execution/"
    assert "mailpit:1025" in env["AIRFLOW_CONN_SMTP_DEFAULT"]


def test_healthchecks_cover_every_long_running_service_and_every_healthy_dependency(compose):
    services = compose["services"]
    for name, service in services.items():
        if name not in ONE_SHOT:
            assert "healthcheck" in service, f"{name} has no healthcheck"
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = spec["condition"]
            assert condition in {"service_healthy", "service_completed_successfully", "service_started"}
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} to be healthy; it has no healthcheck"
            if condition == "service_completed_successfully":
                assert "restart" not in services[target], f"{target} is waited on to finish but restarts"
    for name in ONE_SHOT:
        assert "restart" not in services[name], f"{name} runs once; restarting it would loop"


def test_every_airflow_service_waits_for_init_and_the_databases(compose):
    for name in AIRFLOW_SERVICES - ONE_SHOT:
        depends = compose["services"][name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    assert compose["services"]["airflow-worker"]["depends_on"]["airflow-api-server"]["condition"] == "service_healthy"


def test_host_ports_are_unique_and_workers_can_scale(compose):
    seen: dict[str, str] = {}
    for name, service in compose["services"].items():
        for mapping in service.get("ports") or []:
            host = _host_port(str(mapping))
            assert host not in seen, f"host port {host} used by {seen[host]} and {name}"
            seen[host] = name
    worker = compose["services"]["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker, "a fixed name or host port stops --scale"
    assert not any("container_name" in s for s in compose["services"].values())


def test_postgres_init_creates_the_databases_the_urls_name(compose):
    postgres_env = _environment(compose["services"]["postgres"])
    created = set(postgres_env["TECHFLOW_POSTGRES_DATABASES"].split())
    common = _environment(compose["x-airflow-common"])
    for name in ("TECHFLOW_WAREHOUSE_URL", "TECHFLOW_OPS_DB_URL"):
        database = common[name].rstrip("}").rsplit("/", 1)[1]
        assert database in created, f"{name} names database {database!r}; postgres init creates {sorted(created)}"
    assert len(created | {"airflow"}) == 3, "metadata, warehouse and ops store must be separate databases"
    mounts = compose["services"]["postgres"]["volumes"]
    assert any(m.startswith("./docker/postgres-init:/docker-entrypoint-initdb.d") for m in mounts)
    init_script = ROOT / "docker" / "postgres-init" / "01-create-databases.sh"
    assert "TECHFLOW_POSTGRES_DATABASES" in init_script.read_text()


def test_init_runs_migrations_with_commands_that_exist(compose):
    service = compose["services"]["airflow-init"]
    script_path = service["command"].replace("/opt/techflow/", "")
    script = (ROOT / script_path).read_text()
    assert "airflow db migrate" in script
    parser = build_parser()
    commands = [line.strip() for line in script.splitlines() if line.strip().startswith("techflow-ops ")]
    assert any(c.startswith("techflow-ops opsdb upgrade") for c in commands)
    for command in commands:
        args = parser.parse_args(shlex.split(command)[1:])  # exits (fails the test) on an unknown command
        assert callable(args.handler), command


def test_image_installs_from_the_same_lock_as_the_native_setup():
    dockerfile = (ROOT / "Dockerfile").read_text()
    lock = (ROOT / "requirements.lock").read_text()
    makefile = (ROOT / "Makefile").read_text()
    airflow_pin = re.search(r"^apache-airflow==(\S+)$", lock, flags=re.MULTILINE).group(1)
    base = re.search(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE).group(1)
    assert base == f"apache/airflow:{airflow_pin}-python3.11", f"{base} vs lock apache-airflow=={airflow_pin}"
    assert re.search(r"pip install .*-r requirements\.lock", dockerfile)
    assert re.search(r"pip install .*--no-deps \.", dockerfile)
    assert "-r requirements.lock" in makefile, "the native setup must install the same lock"
    unpinned = [line for line in lock.splitlines() if line.strip() and not line.startswith("#") and "==" not in line]
    assert not unpinned, f"requirements.lock lines without an exact pin: {unpinned}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    for needed in ("requirements.lock", "plugins", "dags", "include", "docker", "pyproject.toml"):
        assert needed not in ignored, f".dockerignore drops {needed}, which the image needs"


def test_every_compose_variable_is_in_env_example_and_readme(compose_text, env_example_names, readme_settings):
    interpolated = set(INTERPOLATION.findall(compose_text))
    settings = set(SETTING_NAME.findall(compose_text)) - {"TECHFLOW_POSTGRES_DATABASES"}
    missing_example = sorted((interpolated | settings) - env_example_names)
    assert not missing_example, f"in docker-compose.yaml but not .env.example: {missing_example}"
    missing_readme = sorted((interpolated | settings) - readme_settings)
    assert not missing_readme, f"in docker-compose.yaml but not the README settings table: {missing_readme}"


def test_every_setting_the_code_and_native_stack_read_is_documented(env_example_names, readme_settings):
    read_in_code = set()
    for path in (ROOT / "plugins").rglob("*.py"):
        text = path.read_text()
        read_in_code |= set(re.findall(r"environ(?:\.get)?\(\s*[\"'](TECHFLOW_[A-Z0-9_]+)", text))
        read_in_code |= set(re.findall(r"environ\[\s*[\"'](TECHFLOW_[A-Z0-9_]+)", text))
        read_in_code |= set(re.findall(r"getenv\(\s*[\"'](TECHFLOW_[A-Z0-9_]+)", text))
    assert {"TECHFLOW_WAREHOUSE_URL", "TECHFLOW_OPS_DB_URL"} <= read_in_code, "the scan found too little"
    stack_script = (ROOT / "scripts" / "celery-stack.sh").read_text()
    read_by_stack = set(SETTING_NAME.findall(stack_script))
    documented = env_example_names & readme_settings
    missing = sorted((read_in_code | read_by_stack) - documented)
    assert not missing, f"settings read but not in both .env.example and the README table: {missing}"


def test_scripts_parse_and_are_executable():
    scripts = [ROOT / "scripts" / "celery-stack.sh", *sorted((ROOT / "docker").rglob("*.sh"))]
    assert len(scripts) >= 3
    for script in scripts:
        assert script.stat().st_mode & 0o111, f"{script} is not executable"
        checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert checked.returncode == 0, f"{script}: {checked.stderr}"


def test_every_project_path_a_container_uses_is_in_the_image_or_mounted(compose, compose_text):
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^WORKDIR /opt/techflow$", dockerfile, flags=re.MULTILINE)
    copied = set(re.findall(r"^COPY (?:--chown=\S+ )?(\S+) \./\1$", dockerfile, flags=re.MULTILINE))
    mounted = {m.split(":")[1] for m in compose["x-airflow-common"]["volumes"]}
    used = set(re.findall(r"/opt/techflow/([a-z_]+)", compose_text))
    for folder in used:
        assert folder in copied or f"/opt/techflow/{folder}" in mounted, f"/opt/techflow/{folder} is neither copied nor mounted"
        assert (ROOT / folder).exists() or f"/opt/techflow/{folder}" in mounted, folder


def test_env_example_can_be_sourced_by_the_native_stack():
    shown = subprocess.run(
        ["bash", "-c", 'set -a; . ./.env.example; set +a; printf "%s\\n" "$AIRFLOW_CONN_SMTP_DEFAULT" "$TECHFLOW_OPS_DB_URL"'],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert shown.returncode == 0 and not shown.stderr, shown.stderr
    smtp, ops = shown.stdout.splitlines()
    assert smtp.endswith("disable_tls=true&disable_ssl=true&from_email=techflow-ops%40techflow.example.com")
    assert ops.startswith("postgresql+psycopg2://")


def test_readme_says_what_every_service_runs(compose):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Scaling out", 1)[1].split("\n## ", 1)[0]
    described = set(re.findall(r"^\|\s*`([a-z0-9-]+)`\s*\|", section, flags=re.MULTILINE))
    assert described == set(compose["services"]), (
        f"README 'What runs where' vs compose: missing {sorted(set(compose['services']) - described)}, "
        f"extra {sorted(described - set(compose['services']))}")


def test_the_watchdog_runs_beside_airflow_with_what_it_needs(compose):
    """The dead-man's switch: `techflow-ops watchdog` (a command the real parser knows) in its own
    container, started after init with the databases, and not waiting for the services it watches."""
    service = compose["services"]["watchdog"]
    command = service["command"]
    command = command if isinstance(command, str) else " ".join(command)
    words = shlex.split(command.split("exec ", 1)[1] if "exec " in command else command)
    assert words[:2] == ["techflow-ops", "watchdog"], command
    args = build_parser().parse_args(words[1:])
    assert callable(args.handler) and not args.once
    assert args.api_url == "http://airflow-api-server:8080"
    assert args.heartbeat_file and args.heartbeat_file in " ".join(service["healthcheck"]["test"])
    depends = service["depends_on"]
    assert depends["airflow-init"]["condition"] == "service_completed_successfully"
    assert depends["postgres"]["condition"] == "service_healthy"
    for watched in ("airflow-scheduler", "airflow-triggerer", "airflow-api-server"):
        assert watched not in depends, f"the watchdog must not wait for {watched}, which it watches"
    assert service.get("restart") == "always"
