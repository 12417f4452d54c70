"""Automatic escalation: incidents from failed tasks, DAG runs and missed deadlines; a
policy that pages the on-call engineer, then owners, the business team and management;
a durable outbox that delivers through Airflow's notification providers.

The Python API below is what the CLI and the web UI call; names are stable. Every
function works on the configured ops DB, registry and on-call schedule; pass `at=` (an
aware datetime) to act at another instant (tests drive a fake clock that way).

    list_incidents(status=None, pipeline_id=None, limit=100, offset=0) -> list[Incident]
    get_incident(incident_id) -> Incident            (with .timeline and .notifications)
    incidents_of_run(dag_id, run_id, task_id=None)    the paging incidents a run (task) opened
    acknowledge(incident_id, user, note=None)         stops escalation
    escalate(incident_id, to, user, note=None)        pages team:<id> / person:<id> / a routed mode now
    reassign(incident_id, "person:<id>", user)        assigns and pages them
    report_warning(pipeline_id=..., dataset=..., ...) a failed warning check: a notice, never a page
    resolve(incident_id, user, note=None)
    act_by_link(incident_id, recipient_id, action, nonce)   a signed page link used (see action_links)
    action_link_used(nonce) -> bool
    report_failure(pipeline_id=..., run_id=..., task_id=..., exception=... | error=...) -> id
    tick(at=None) -> TickReport                       what the engine DAG runs every minute

`Incident.to_dict()` is the JSON shape (see README "Escalation").
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import Incident

# The DAG factory imports escalation.callbacks at DAG-parse time; the store (SQLAlchemy
# tables) is loaded only when one of its names is first used.
_STORE_NAMES = frozenset({"STATUSES", "ActionLinkUsed", "Incident", "IncidentNotFound", "IncidentStateError"})


def __getattr__(name: str):
    if name in _STORE_NAMES:
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

_default = None
_default_key = None
_lock = threading.Lock()


def service():
    """The process-wide `Escalation` for the configured ops DB and config folder."""
    global _default, _default_key
    from .. import settings
    from .orchestrator import Escalation

    key = (settings.ops_db_url(), str(settings.config_dir()))
    with _lock:
        if _default is None or _default_key != key:
            _default, _default_key = Escalation(), key
        return _default


def reset_service() -> None:
    """Forget the default instance and the loaded policy (the instance itself follows edits of
    the config files; this is for tests that swap the whole environment)."""
    global _default, _default_key
    from .policy import clear_policy_cache

    clear_policy_cache()
    with _lock:
        _default, _default_key = None, None


def list_incidents(status: str | None = None, pipeline_id: str | None = None, limit: int = 100, offset: int = 0):
    return service().list_incidents(status=status, pipeline_id=pipeline_id, limit=limit, offset=offset)


def get_incident(incident_id: int) -> Incident:
    return service().get_incident(incident_id)


def incidents_of_run(dag_id: str, run_id: str, *, task_id: str | None = None) -> list[Incident]:
    """The paging incidents of a DAG run (of one task of it), read straight from the store:
    no policy or schedule is loaded, so lineage can ask from inside a task cheaply."""
    from ..opsdb import get_engine
    from . import store

    with get_engine().connect() as connection:
        return store.incidents_of_run(connection, dag_id, run_id, task_id=task_id)


def acknowledge(incident_id: int, user: str, note: str | None = None, *, at=None) -> Incident:
    return service().acknowledge(incident_id, user, note, at=at)


def resolve(incident_id: int, user: str, note: str | None = None, *, at=None) -> Incident:
    return service().resolve(incident_id, user, note, at=at)


def act_by_link(incident_id: int, recipient_id: str, action: str, nonce: str, *, at=None) -> Incident:
    return service().act_by_link(incident_id, recipient_id, action, nonce, at=at)


def action_link_used(nonce: str) -> bool:
    return service().action_link_used(nonce)


def escalate(incident_id: int, to: str, user: str, note: str | None = None, *, at=None) -> Incident:
    return service().escalate(incident_id, to, user, note, at=at)


def reassign(incident_id: int, to: str, user: str, note: str | None = None, *, at=None) -> Incident:
    return service().reassign(incident_id, to, user, note, at=at)


def report_warning(**kwargs) -> int:
    return service().report_warning(**kwargs)


def report_failure(**kwargs) -> int:
    return service().report_failure(**kwargs)


def tick(at=None):
    return service().tick(at)


__all__ = [
    "STATUSES", "ActionLinkUsed", "Incident", "IncidentNotFound", "IncidentStateError", "acknowledge", "act_by_link",
    "action_link_used", "escalate", "get_incident", "incidents_of_run",
    "list_incidents", "reassign", "report_failure", "report_warning", "reset_service", "resolve", "service", "tick",
]
