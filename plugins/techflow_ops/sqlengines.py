"""Per-process SQLAlchemy engines, shared by the ops DB and the warehouse engine factories.

A pooled connection must never be used by two processes: Airflow forks task runners and
Celery forks workers after the parent may have opened connections. So engines are cached
per (url, pid); a forked child creates its own engine and only drops the parent's pool
(`dispose(close=False)`), leaving the parent's connections open for the parent.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine


class EngineCache:
    """Get-or-create one engine per URL in the current process."""

    def __init__(self) -> None:
        self._engines: dict[tuple[str, int], Engine] = {}
        self._lock = threading.Lock()
        # A fork while another thread held the lock would leave it locked forever in the child.
        os.register_at_fork(after_in_child=self._new_lock)

    def _new_lock(self) -> None:
        self._lock = threading.Lock()

    def get(self, url: str, create: Callable[[str], Engine]) -> Engine:
        """The engine for `url` in this process; `create(url)` makes it on first use (under the lock)."""
        key = (url, os.getpid())
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                self._drop_inherited()
                engine = create(url)
                self._engines[key] = engine
            return engine

    def _drop_inherited(self) -> None:
        pid = os.getpid()
        for key in [key for key in self._engines if key[1] != pid]:
            self._engines.pop(key).dispose(close=False)

    def dispose(self) -> None:
        """Close this process's pools and forget every engine (a parent's pools are only dropped)."""
        with self._lock:
            pid = os.getpid()
            for (_, owner), engine in self._engines.items():
                engine.dispose(close=owner == pid)
            self._engines.clear()
