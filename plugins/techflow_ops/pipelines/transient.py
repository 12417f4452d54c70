"""Which task failures are worth another try, and the one wrapper that says so to Airflow.

Retried (a later try can succeed without anyone doing anything):
- a lost or refused connection: `ConnectionError`, a socket error with a network errno,
  name resolution failing, a DB-API/SQLAlchemy `OperationalError` of a driver whose
  connection failed (PostgreSQL: no SQLSTATE or one of class 08, an admin shutdown, too
  many connections, a serialization failure or deadlock), an invalidated connection;
- a locked SQLite database ("database is locked": another writer held it past the busy
  timeout).

Never retried: every `PipelineFailure` (data quality, a Kafka outage, stale upstream data,
out of memory, ...) unless it says `transient = True`, every timeout (Airflow's
`AirflowTaskTimeout`, `TimeoutError`, a warehouse statement cancelled at its limit) and
anything not named above. A timeout retried would take as long again and page only later.

`fail_fast(callable)` wraps a task callable: a failure that is not transient is re-raised as
Airflow's `AirflowFailException` chained `from` the original, so Airflow fails the task at once
(no retries) while escalation's classification, which walks `__cause__`, still sees the
original exception, its class and its mode. Transient failures pass through unchanged and use
the task's retries. This module imports Airflow only when it raises.
"""

from __future__ import annotations

import errno
import functools
import socket
from collections.abc import Callable, Iterator

from ..failures import PipelineFailure

#: errno values of a socket whose peer is unreachable, refused or went away.
NETWORK_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH",
                                      "ENETDOWN", "ENETRESET", "EPIPE", "EHOSTDOWN", "ENOTCONN")
    if hasattr(errno, name)
)
#: SQLSTATEs of PostgreSQL failures a later try can get past.
TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "40001", "40P01"})
#: SQLSTATE of a statement cancelled (statement_timeout, pg_cancel_backend): a timeout, not transient.
QUERY_CANCELED = "57014"
_SQLITE_LOCKED = ("database is locked", "database table is locked", "database is busy")
_TIMEOUT_TYPES = frozenset({"AirflowTaskTimeout", "AirflowSensorTimeout", "QueryCanceled", "WarehouseQueryTimeout"})


class WarehouseQueryTimeout(TimeoutError):
    """A warehouse statement ran past the warehouse query limit and was cancelled (PostgreSQL's
    statement_timeout, the SQLite progress-handler guard). A TimeoutError, so escalation files it
    as failure class `timeout`; never retried."""

    def __init__(self, message: str, *, limit_seconds: float | None = None, statement: str | None = None):
        super().__init__(message)
        self.limit_seconds = limit_seconds
        self.statement = statement


def chain(exc: BaseException | None) -> Iterator[BaseException]:
    """`exc`, then its `__cause__` (else `__context__`), and so on."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _driver_error(exc: BaseException) -> BaseException:
    """The DB-API exception a SQLAlchemy `DBAPIError` wraps (`.orig`), else `exc` itself."""
    return getattr(exc, "orig", None) or exc


def _sqlstate(exc: BaseException) -> str | None:
    driver = _driver_error(exc)
    return getattr(driver, "pgcode", None) or getattr(driver, "sqlstate", None)


def is_timeout(exc: BaseException) -> bool:
    """A timeout anywhere in the chain: the task's, a socket's, or a cancelled statement."""
    for link in chain(exc):
        if isinstance(link, TimeoutError) or type(link).__name__ in _TIMEOUT_TYPES:
            return True
        if _sqlstate(link) == QUERY_CANCELED or type(_driver_error(link)).__name__ in _TIMEOUT_TYPES:
            return True
    return False


def _transient_link(exc: BaseException) -> bool:
    if getattr(exc, "connection_invalidated", False):  # SQLAlchemy: the connection was lost mid-use
        return True
    driver = _driver_error(exc)
    if any(marker in str(driver).lower() for marker in _SQLITE_LOCKED):
        return type(driver).__name__ == "OperationalError"
    if isinstance(driver, ConnectionError | socket.gaierror | socket.herror):
        return True
    if isinstance(driver, OSError) and driver.errno in NETWORK_ERRNOS:
        return True
    if type(driver).__name__ == "OperationalError" and type(driver).__module__.split(".")[0] in ("psycopg2", "psycopg"):
        code = _sqlstate(driver)
        return code is None or code.startswith("08") or code in TRANSIENT_SQLSTATES
    return False


def is_transient(exc: BaseException) -> bool:
    """True when another try of the task may well succeed (see the module docstring)."""
    links = list(chain(exc))
    for link in links:
        if isinstance(link, PipelineFailure) and not getattr(link, "transient", False):
            return False
    if is_timeout(exc):
        return False
    return any(_transient_link(link) for link in links)


def fail_fast(function: Callable) -> Callable:
    """Wrap a task callable: a non-transient failure becomes `AirflowFailException` (no retry),
    chained from the original; a transient one is re-raised as it is (the task's retries apply)."""

    @functools.wraps(function)
    def task_callable(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit) or _is_airflow_control(exc):
                raise
            if is_transient(exc):
                raise
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"{type(exc).__name__}: {exc} (not transient: not retried)") from exc

    return task_callable


#: Airflow's own flow-control exceptions: they pass the wrapper untouched (they already say what
#: Airflow should do). `AirflowTaskTimeout` is not one: a timeout fails the task without retries.
AIRFLOW_CONTROL = frozenset({
    "AirflowFailException", "AirflowSkipException", "AirflowRescheduleException", "AirflowSensorTimeout",
    "AirflowTaskTerminated", "TaskDeferred", "TaskAwaitingInput", "DownstreamTasksSkipped", "DagRunTriggerException",
})


def _is_airflow_control(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("airflow") and type(exc).__name__ in AIRFLOW_CONTROL
