"""Configuration that follows its files in long-running processes.

The dag-processor (which forks each parse from a preloaded parent), the api-server, the
triggerer and the escalation engine keep what they loaded. A `ReloadingCache` entry is
loaded again when one of the files it was read from changes (modification time and size)
or when a cached object it was built from was itself reloaded, so an edit never needs a
restart. The registry, the escalation policy, the on-call schedule and the runbook
summaries all reload this one way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")


def files_stamp(paths: Iterable[str | os.PathLike]) -> tuple:
    """(mtime_ns, size) per path, None for a path that does not exist."""
    stamp = []
    for path in paths:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            stamp.append(None)
        else:
            stamp.append((info.st_mtime_ns, info.st_size))
    return tuple(stamp)


class _Entry(NamedTuple):
    value: object
    files: tuple
    stamp: tuple
    built_from: tuple


class ReloadingCache(Generic[T]):
    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], T], *, files: Callable[[T], Iterable] | Iterable,
            built_from: tuple = ()) -> T:
        """The value cached under `key`, loaded with `load()` when missing or stale.

        `files` names the files the value is read from: paths, or a function of the loaded
        value when the value itself says which files it read. `built_from` holds the cached
        objects it was made from (compared by identity: a reloaded registry reloads what was
        built on it)."""
        with self._lock:
            entry = self._entries.get(key)
            if (entry is not None and len(entry.built_from) == len(built_from)
                    and all(a is b for a, b in zip(entry.built_from, built_from))
                    and files_stamp(entry.files) == entry.stamp):
                return entry.value
            eager = None if callable(files) else tuple(files)
            stamp = files_stamp(eager) if eager is not None else None  # taken before reading: an edit during the load reloads
            value = load()
            paths = eager if eager is not None else tuple(files(value))
            self._entries[key] = _Entry(value, paths, stamp if stamp is not None else files_stamp(paths), built_from)
            return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
