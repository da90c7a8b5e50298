"""A run's latest weights in shared memory, so the server can draw with them while a worker
process trains, without pickling the network every second.

The worker writes; any process reads. The file lives in /dev/shm (memory, not disk) where there
is one. A version counter makes it a seqlock: the writer makes it odd, copies, makes it even;
a reader copies between two equal, even readings, so it never sees half an update.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from core.network import Network

PUBLISH_EVERY = 0.1  # seconds between copies, at most; a pause, stop or end always copies
HEADER = 4096  # bytes: the version (8), the JSON length (8), then the JSON layout


def board_folder() -> Path:
    """Where boards live: /dev/shm when the machine has it, else the temp folder."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def board_path(job_id: str) -> Path:
    return board_folder() / f"nndigits-weights-{os.getpid()}-{job_id}"


class WeightsBoard:
    """The writer's side: created on the first publish, then updated in place."""

    def __init__(self, path: str | os.PathLike, every: float = PUBLISH_EVERY):
        self.path = Path(path)
        self.every = every
        self._map = None
        self._version = None
        self._arrays: list[np.ndarray] = []
        self._last = 0.0

    def _create(self, net: Network) -> None:
        layout = {
            "sizes": list(net.sizes),
            "activation": net.activation,
            "dtype": str(net.dtype),
        }
        text = json.dumps(layout).encode()
        if len(text) > HEADER - 16:
            raise ValueError("network layout too large for the weights board")
        size = HEADER + sum(p.nbytes for p in [*net.W, *net.b])
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.truncate(size)
            f.write(np.array([0, len(text)], dtype=np.int64).tobytes() + text)
        os.replace(tmp, self.path)  # readers see the whole file or none
        self._map = np.memmap(self.path, dtype=np.uint8, mode="r+")
        self._version = self._map[:8].view(np.int64)
        self._arrays, offset = [], HEADER
        for p in [*net.W, *net.b]:
            self._arrays.append(
                self._map[offset : offset + p.nbytes].view(p.dtype).reshape(p.shape)
            )
            offset += p.nbytes

    def publish(self, net: Network, force: bool = False) -> None:
        """Copy the weights in, unless the last copy is younger than `every` seconds."""
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        if self._map is None:
            self._create(net)
        self._version[0] += 1  # odd: writing
        for dst, src in zip(self._arrays, [*net.W, *net.b], strict=True):
            dst[...] = src
        self._version[0] += 1  # even: consistent
        self._last = now


def read_board(path: str | os.PathLike, tries: int = 200) -> Network | None:
    """A consistent copy of the weights on the board, or None when there is none yet."""
    try:
        m = np.memmap(path, dtype=np.uint8, mode="r")
    except (FileNotFoundError, ValueError):
        return None
    version = m[:8].view(np.int64)
    n = int(m[8:16].view(np.int64)[0])
    layout = json.loads(bytes(m[16 : 16 + n]))
    sizes, dtype = layout["sizes"], np.dtype(layout["dtype"])
    shapes = [(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    shapes += [(b,) for b in sizes[1:]]
    for _ in range(tries):
        v1 = int(version[0])
        if v1 == 0:
            return None
        if v1 % 2:
            time.sleep(0.001)
            continue
        arrays, offset = [], HEADER
        for shape in shapes:
            nbytes = int(np.prod(shape)) * dtype.itemsize
            arrays.append(np.array(m[offset : offset + nbytes].view(dtype).reshape(shape)))
            offset += nbytes
        if int(version[0]) == v1:
            k = len(sizes) - 1
            return Network(list(sizes), layout["activation"], arrays[:k], arrays[k:])
    return None
