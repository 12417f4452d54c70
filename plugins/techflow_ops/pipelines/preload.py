"""Load what parsing a pipeline DAG file needs into a process that forks the parsers.

Forked children share the parent's imported modules and loaded registry, so a parse pays
only for building the DAG. A child still checks the registry files' stamps and runbook
stamps on every parse and reloads what changed, so an edit never needs a restart; until
that parent restarts, each parse after an edit re-reads the changed files.

`TECHFLOW_PRELOAD=off` turns it off. It never raises: a broken config is reported by the
parse itself, as an import error naming the file, field and value.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)


def preload_dag_parsing() -> bool:
    """Import the DAG factory and load the registry and runbook summaries; True if all loaded."""
    if os.environ.get("TECHFLOW_PRELOAD", "on").strip().lower() in ("off", "0", "false", "no"):
        return False
    started = time.perf_counter()
    try:
        from ..registry import get_registry
        from ..runbooks.summary import runbook_summary
        from . import dag_factory  # noqa: F401  (imports Airflow's authoring API and the hooks)

        registry = get_registry()
        for pipeline_id in registry.pipelines:
            runbook_summary(pipeline_id, registry)
    except Exception as exc:  # noqa: BLE001 - the parse reports it, with file, field and value
        log.warning("TechFlow Ops: DAG parsing not preloaded (%s); each parse loads the registry itself", exc)
        return False
    log.info("TechFlow Ops: preloaded DAG parsing (factory, %d pipelines, runbooks) in %.0f ms",
             len(registry.pipelines), (time.perf_counter() - started) * 1000)
    return True
