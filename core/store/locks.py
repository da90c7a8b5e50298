"""A lock that holds across processes: an exclusive `fcntl.flock` on a small lock file.

Two sessions of one server are threads, two servers or a CLI are processes; flock covers both,
because every `open` gets its own lock even inside one process. The lock file stays behind
(it is empty and harmless); removing it while someone holds it would break the lock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

try:  # POSIX; elsewhere writes are still atomic, only the cross-process check is lost
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive (or shared) lock on `path` for the duration of the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        if fcntl is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
