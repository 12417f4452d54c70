"""Per-process SQLAlchemy engines, shared by the ops DB and the warehouse engine factories.

A pooled connection must never be used by two processes: Airflow forks task runners and
Celery forks workers after the parent may have opened connections. So engines are cached
per (url, pid); a forked child creates its own engine and only drops the parent's pool
(`dispose(close=False)`), leaving the parent's connections open for the parent.

A parent that forks task processes can instead hand its engines down (`hand_down`): it closes
their pools, and every child forked after that adopts them with a fresh pool. An adopted engine
keeps what SQLAlchemy caches per engine (the dialect, initialised on the first connect, and
compiled statements), which a new engine in each short-lived task process would pay for again.
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
        self._handed_down: dict[str, tuple[Engine, int]] = {}  # url -> (engine, pid of the process that handed it down)
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        # A fork while another thread held the lock would leave it locked forever in the child.
        self._lock = threading.Lock()
        for engine, _ in self._handed_down.values():
            engine.dispose(close=False)  # a fresh pool: the parent's connections (if any since) stay the parent's

    def hand_down(self) -> list[str]:
        """In a process about to fork children that use these engines: close this process's
        pooled connections and let every child forked from now on adopt the engines (see the
        module docstring). Return the URLs handed down."""
        with self._lock:
            pid = os.getpid()
            for (url, owner), engine in self._engines.items():
                if owner == pid:
                    engine.dispose(close=True)
                    self._handed_down[url] = (engine, pid)
            return sorted(url for url, (_, owner) in self._handed_down.items() if owner == pid)

    def get(self, url: str, create: Callable[[str], Engine]) -> Engine:
        """The engine for `url` in this process; `create(url)` makes it on first use (under the lock)."""
        key = (url, os.getpid())
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = self._adopt(url)
                if engine is None:
                    self._drop_inherited()
                    engine = create(url)
                self._engines[key] = engine
            return engine

    def _adopt(self, url: str) -> Engine | None:
        """The engine a parent handed down for `url` (its pool renewed at the fork), if any."""
        engine, owner = self._handed_down.get(url, (None, None))
        if engine is None or owner == os.getpid():
            return None
        self._engines.pop((url, owner), None)
        return engine

    def _drop_inherited(self) -> None:
        pid = os.getpid()
        for key in [key for key in self._engines if key[1] != pid]:
            self._engines.pop(key).dispose(close=False)  # a handed-down one stays adoptable

    def dispose(self) -> None:
        """Close this process's pools and forget every engine (a parent's pools are only dropped)."""
        with self._lock:
            pid = os.getpid()
            for (_, owner), engine in self._engines.items():
                engine.dispose(close=owner == pid)
            self._engines.clear()
            self._handed_down.clear()
