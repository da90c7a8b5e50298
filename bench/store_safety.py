"""What the storage checks cost, next to a reference measured in the same run.

- Loading the shipped model with every header, dtype and shape checked vs a plain `np.load`.
- Saving a model whole (temp file, fsync, rename, per-name lock) vs `np.savez_compressed`.
- Refusing a forged 10^7 x 10^7 array header, and a 10,000 x 10,000 canvas PNG, vs decoding the
  app's ordinary 280 x 280 canvas.
Run: python bench/store_safety.py
"""

from __future__ import annotations

import io
import statistics
import struct
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import model_store  # noqa: E402
from core.model_store import ModelFileError, load_model, save_model  # noqa: E402
from core.preprocess import canvas_from_png  # noqa: E402


def best(fn, n: int = 5) -> float:
    """Median seconds of n calls."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    path = model_store.model_paths("default")[0]

    def checked_load():
        model_store._cache.clear()
        load_model("default")

    def plain_load():
        with np.load(path) as f:
            {k: f[k] for k in f.files if k != "meta"}

    print(f"load default (checked):  {best(checked_load) * 1e3:7.1f} ms")
    print(f"np.load same file (ref): {best(plain_load) * 1e3:7.1f} ms")

    net = load_model("default").net
    with tempfile.TemporaryDirectory() as d:
        k = iter(range(100))
        t_save = best(lambda: save_model(f"m{next(k)}", net, directory=Path(d)))
        arrays = {f"W{i}": w for i, w in enumerate(net.W)} | {
            f"b{i}": b for i, b in enumerate(net.b)
        }
        t_ref = best(lambda: np.savez_compressed(io.BytesIO(), **arrays))
    print(f"save whole (lock+fsync): {t_save * 1e3:7.1f} ms")
    print(f"savez_compressed (ref):  {t_ref * 1e3:7.1f} ms")

    buf = io.BytesIO()
    with zipfile.ZipFile(path) as z, zipfile.ZipFile(buf, "w") as out:
        for name in z.namelist():
            if name != "W1.npy":  # replaced by the forged header below
                out.writestr(name, z.read(name))
        header = "{'descr': '<f4', 'fortran_order': False, 'shape': (10000000, 10000000), }"
        header += " " * (63 - (10 + len(header)) % 64) + "\n"
        out.writestr(
            "W1.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
        )
    forged = buf.getvalue()

    def refuse_forged():
        try:
            model_store.read_model_bytes(forged, "forged")
        except ModelFileError as e:
            assert "10000000" in str(e), e  # refused for its header, not for something else
            return
        raise AssertionError("accepted")

    print(f"refuse 10^7x10^7 header: {best(refuse_forged) * 1e3:7.2f} ms")

    chunk = b"IHDR" + struct.pack(">IIBBBBB", 10_000, 10_000, 8, 6, 0, 0, 0)
    huge = (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    canvas[40:240, 130:150, :3] = 255
    png = io.BytesIO()
    Image.fromarray(canvas).save(png, format="PNG")

    def refuse_huge():
        try:
            canvas_from_png(huge)
        except ValueError:
            return
        raise AssertionError("accepted")

    print(f"refuse 10000^2 canvas:   {best(refuse_huge, 50) * 1e6:7.1f} us")
    t_decode = best(lambda: canvas_from_png(png.getvalue()), 50)
    print(f"decode 280^2 canvas(ref):{t_decode * 1e6:7.1f} us")


if __name__ == "__main__":
    main()
