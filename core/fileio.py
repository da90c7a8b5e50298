"""Atomic file writes: write to a temporary file in the same folder, then `os.replace`.

A crash, a full disk or a killed process never leaves half a file where a good one stood.
Every writer in the project goes through here. `StorageError` turns the operating system's
refusals (disk full, permission denied, read-only) into one plain sentence for the page.
"""

from __future__ import annotations

import errno
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from core.messages import Message


class StorageError(ValueError):
    """A write the disk refused (full, no permission, read-only); the message says so plainly.

    A ValueError, so pages that already show a ValueError's message show this one too.
    """


_REASONS = {
    errno.ENOSPC: Message("errors.os.full", "the disk is full"),
    errno.EDQUOT: Message("errors.os.quota", "the disk quota is used up"),
    errno.EACCES: Message("errors.os.denied", "permission was denied"),
    errno.EPERM: Message("errors.os.denied", "permission was denied"),
    errno.EROFS: Message("errors.os.read_only", "the disk is read-only"),
    errno.EIO: Message("errors.os.io", "the disk reported an input/output error"),
}


def explain_os_error(e: OSError, doing: str) -> Message:
    """One sentence for people: 'Could not save the model: the disk is full. ...'.

    `doing` may be a Message ("save the model 'x'"), so the whole sentence can be translated."""
    reason = _REASONS.get(e.errno, e.strerror or type(e).__name__)
    where = f" ({e.filename})" if getattr(e, "filename", None) else ""
    return Message(
        "errors.os.could_not",
        f"Could not {doing}: {reason}{where}. Nothing already stored was changed or lost; free "
        f"some space or fix the folder's permissions, then try again.",
        doing=doing,
        reason=reason,
        where=where,
    )


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable: fsync the folder that holds it (best effort on odd systems)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; the folder is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)  # mkstemp makes 0600; these are ordinary files
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    """Write `obj` as indented JSON atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_write_npz(
    path: str | os.PathLike, compressed: bool = True, **arrays: np.ndarray
) -> Path:
    """Write arrays to an .npz atomically (arrays only, no pickled objects)."""
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())
