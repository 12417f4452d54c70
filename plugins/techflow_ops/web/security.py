"""Who may do what: Airflow's own login for pages and the API, CSRF tokens for
cookie-authenticated POSTs, and per-feed tokens for calendar clients that cannot log in.

Tokens are HMACs keyed by Airflow's `[api] secret_key`, so every API server of one
deployment agrees on them and nothing extra has to be stored.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
from airflow.configuration import conf
from fastapi import HTTPException, Request, status

CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def _secret() -> bytes:
    secret = conf.get("api", "secret_key", fallback="")
    if not secret:
        raise RuntimeError("[api] secret_key is empty: set AIRFLOW__API__SECRET_KEY")
    return secret.encode()


def _sign(purpose: str, value: str) -> str:
    return hmac.new(_secret(), f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The token forms echo back; bound to the login cookie, so it dies with the session."""
    return csrf_token_for(request.cookies.get(COOKIE_NAME_JWT_TOKEN, ""))


def csrf_token_for(session_cookie: str) -> str:
    return _sign("csrf", session_cookie)


def _same_token(submitted: str, expected: str) -> bool:
    """Constant-time, on bytes: `compare_digest` raises on str with non-ASCII characters,
    which anyone can put in a URL or form."""
    return hmac.compare_digest(submitted.encode(), expected.encode())


def _uses_bearer_token(request: Request) -> bool:
    return request.headers.get("authorization", "").lower().startswith("bearer ")


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a state-changing request a third-party site could have made with the user's cookie.

    A Bearer token is never sent by a browser on its own, so such requests need no CSRF token.
    """
    if _uses_bearer_token(request):
        return
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"cross-origin request refused (Origin {origin!r})")
    expected = csrf_token(request)
    if not submitted or not _same_token(submitted, expected):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or invalid CSRF token")


def _may(user, method: str, dag_id: str) -> bool:
    from airflow.models.dag import DagModel

    details = DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id))
    return get_auth_manager().is_authorized_dag(method=method, details=details, user=user)


def require_dag_edit(user, dag_id: str) -> None:
    """Acknowledging or resolving an incident changes the DAG's operational state: same right as editing it."""
    if not _may(user, "PUT", dag_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"user {user.get_name()!r} may not edit DAG {dag_id!r}")


def require_schedule_edit(user, dag_ids) -> None:
    """Swapping or taking an on-call shift changes who is paged for the pipelines the rotation
    covers: the right to edit (at least one of) their DAGs, the same right acknowledging needs."""
    if not any(_may(user, "PUT", dag_id) for dag_id in sorted(dag_ids)):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"user {user.get_name()!r} may not edit the pipelines' DAGs, so may not change the on-call schedule")


def require_dag_read(user, dag_id: str) -> None:
    """An incident shows the DAG's errors, log links and runs: same right as reading the DAG."""
    if not _may(user, "GET", dag_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"user {user.get_name()!r} may not read DAG {dag_id!r}")


def readable_dag_ids(user, dag_ids: set[str]) -> set[str]:
    """The DAGs among `dag_ids` the user may read, decided per team as the auth manager's
    `get_authorized_dag_ids` does. That method only knows DAGs already in the metadata DB;
    asking about these ids keeps an incident of a DAG not parsed (yet, or any more) visible to
    whoever may read it, the same answer `require_dag_read` gives on its page."""
    from airflow.models.dag import DagModel

    teams = DagModel.get_dag_id_to_team_name_mapping(sorted(dag_ids))
    by_team: dict[str | None, set[str]] = {}
    for dag_id in dag_ids:
        by_team.setdefault(teams.get(dag_id), set()).add(dag_id)
    auth_manager = get_auth_manager()
    readable: set[str] = set()
    for team_name, team_dag_ids in by_team.items():
        readable |= auth_manager.filter_authorized_dag_ids(dag_ids=team_dag_ids, user=user, method="GET", team_name=team_name)
    return readable


def feed_token(kind: str, feed_id: str) -> str:
    """The secret in one iCal feed URL; different for every feed."""
    return _sign("ical-feed", f"{kind}:{feed_id}")[:32]


def check_feed_token(kind: str, feed_id: str, token: str | None) -> None:
    if not token or not _same_token(token, feed_token(kind, feed_id)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid feed token")
