"""A run's latest weights in shared memory, so the server can draw with them while a worker
process trains, without pickling the network every second.

The worker writes; any process reads. The file lives in /dev/shm (memory, not disk) where there
is one. It holds two copies of the weights: the writer fills the one readers are not pointed at,
then points them at it, so a worker killed half-way through a copy (a stop that could not wait
for a long step) still leaves the previous copy whole. Each copy has a version counter (a
seqlock: odd while written), so a reader copies between two equal, even readings of the copy it
was pointed at and never sees half an update.
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
HEADER = 4096  # bytes: current copy (8), JSON length (8), versions of copy 0 and 1 (16), layout
LAYOUT = 32  # where the JSON layout starts


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
        if len(text) > HEADER - LAYOUT:
            raise ValueError("network layout too large for the weights board")
        params = [*net.W, *net.b]
        copy_bytes = sum(p.nbytes for p in params)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.truncate(HEADER + 2 * copy_bytes)
            f.write(np.array([0, len(text), 0, 0], dtype=np.int64).tobytes() + text)
        os.replace(tmp, self.path)  # readers see the whole file or none
        self._map = np.memmap(self.path, dtype=np.uint8, mode="r+")
        self._head = self._map[:32].view(np.int64)  # current, length, version 0, version 1
        self._copies = []
        for k in range(2):
            arrays, offset = [], HEADER + k * copy_bytes
            for p in params:
                arrays.append(self._map[offset : offset + p.nbytes].view(p.dtype).reshape(p.shape))
                offset += p.nbytes
            self._copies.append(arrays)

    def publish(self, net: Network, force: bool = False) -> None:
        """Copy the weights in, unless the last copy is younger than `every` seconds."""
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        if self._map is None:
            self._create(net)
        k = 1 - int(self._head[0]) if self._head[2] or self._head[3] else 0
        self._head[2 + k] += 1  # odd: writing copy k
        for dst, src in zip(self._copies[k], [*net.W, *net.b], strict=True):
            dst[...] = src
        self._head[2 + k] += 1  # even: copy k is whole
        self._head[0] = k  # readers now read copy k
        self._last = now


def read_board(path: str | os.PathLike, tries: int = 200) -> Network | None:
    """A consistent copy of the weights on the board, or None when there is none yet."""
    try:
        m = np.memmap(path, dtype=np.uint8, mode="r")
    except (FileNotFoundError, ValueError):
        return None
    head = m[:32].view(np.int64)
    n = int(head[1])
    layout = json.loads(bytes(m[LAYOUT : LAYOUT + n]))
    sizes, dtype = layout["sizes"], np.dtype(layout["dtype"])
    shapes = [(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    shapes += [(b,) for b in sizes[1:]]
    sizes_bytes = [int(np.prod(shape)) * dtype.itemsize for shape in shapes]
    copy_bytes = sum(sizes_bytes)
    for _ in range(tries):
        k = int(head[0])
        v1 = int(head[2 + k])
        if v1 == 0:
            return None
        if v1 % 2:  # being written: the writer points readers elsewhere when it is done
            time.sleep(0.001)
            continue
        arrays, offset = [], HEADER + k * copy_bytes
        for shape, nbytes in zip(shapes, sizes_bytes, strict=True):
            arrays.append(np.array(m[offset : offset + nbytes].view(dtype).reshape(shape)))
            offset += nbytes
        if int(head[2 + k]) == v1:
            layers = len(sizes) - 1
            return Network(list(sizes), layout["activation"], arrays[:layers], arrays[layers:])
    return None
