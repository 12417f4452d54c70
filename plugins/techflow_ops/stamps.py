"""What a cache keyed on files compares: each file's modification time and size.

Long-running processes (the dag-processor, which forks a parse child from a preloaded
parent; the api-server; the escalation engine) keep config they loaded; a changed stamp
tells them to load it again, so an edit never needs a restart.
"""

from __future__ import annotations

import os
from collections.abc import Iterable


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
