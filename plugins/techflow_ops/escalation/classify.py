"""Name the kind of a failure: by exception type first, by well-known symptoms second."""

from __future__ import annotations

import re

from ..failures import FailureClass, PipelineFailure

_KAFKA_WORDS = re.compile(r"\bkafka\b|consumer lag|broker(s)? (not available|unavailable|down)|NoBrokersAvailable", re.I)
_OOM_WORDS = re.compile(r"out of memory|OutOfMemoryError|java heap space|\bKilled\b|exit code -9|SIGKILL|oom[- ]?kill", re.I)
_TIMEOUT_WORDS = re.compile(r"timed out|timeout", re.I)
_STALE_WORDS = re.compile(r"stale upstream|upstream (data )?(is )?stale", re.I)


def _chain(exc: BaseException | None):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def classify(exception: BaseException | str | None) -> FailureClass:
    """The FailureClass of an exception (or an error message when only text is known)."""
    if isinstance(exception, BaseException):
        for exc in _chain(exception):
            if isinstance(exc, PipelineFailure):
                return exc.failure_class
        for exc in _chain(exception):
            if isinstance(exc, MemoryError):
                return FailureClass.out_of_memory
            if isinstance(exc, TimeoutError) or type(exc).__name__ in {"AirflowTaskTimeout", "AirflowSensorTimeout"}:
                return FailureClass.timeout
        text = " ".join(f"{type(exc).__name__}: {exc}" for exc in _chain(exception))
    else:
        text = exception or ""
    if _OOM_WORDS.search(text):
        return FailureClass.out_of_memory
    if _KAFKA_WORDS.search(text):
        return FailureClass.kafka_outage
    if _STALE_WORDS.search(text):
        return FailureClass.stale_upstream
    if _TIMEOUT_WORDS.search(text):
        return FailureClass.timeout
    return FailureClass.task_error


def failure_mode_of(exception: BaseException | str | None, failure_class: FailureClass) -> str:
    """The failure mode an exception names (`PipelineFailure.failure_mode`), else the class's value."""
    if isinstance(exception, BaseException):
        for exc in _chain(exception):
            if isinstance(exc, PipelineFailure):
                return exc.failure_mode
    return failure_class.value
