"""The watchdog: a dead-man's switch outside the scheduler (README "Watchdog").

    checks.py   what is stale (heartbeats, the engine's last tick, each pipeline's published data); pure
    probes.py   what is read: Airflow's health API (metadata DB as fallback), the ops DB, the warehouse
    service.py  a pass (check, then open and page, or resolve, each check's incident) and the loop
    cli.py      `techflow-ops watchdog [--once] [--format json|table] [--interval 60s] ...`
"""
