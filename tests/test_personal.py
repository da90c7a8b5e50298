"""The personal set store: round trips, no duplicates, crash safety, concurrency, zip import."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import personal
from core.fileio import StorageError
from core.personal import ImportRefused, PersonalSet, personal_accuracy

ROOT = Path(__file__).resolve().parent.parent


def drawing(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A distinct fake drawing: (28, 28) float32 input and its (60, 60, 4) uint8 canvas."""
    rng = np.random.default_rng(seed)
    x28 = np.zeros((28, 28), dtype=np.float32)
    top, left = rng.integers(2, 10, 2)
    x28[top : top + 14, left : left + 8] = rng.random((14, 8)).astype(np.float32)
    canvas = np.zeros((60, 60, 4), dtype=np.uint8)
    canvas[..., 3] = 255
    canvas[10 + seed % 30 : 30 + seed % 30, 20:25, :3] = 255
    return x28, canvas


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under a folder with its bytes: to check that nothing changed."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def store(tmp_path):
    return PersonalSet(tmp_path / "personal")


@pytest.fixture
def filled(store):
    for k in range(6):
        x28, canvas = drawing(k)
        store.add(x28, k % 3, canvas=canvas, prediction=(k + 1) % 10, model="default")
    return store


# --- storing and reading ---------------------------------------------------------------------


def test_an_added_drawing_comes_back_with_its_label_canvas_and_prediction(store):
    x28, canvas = drawing(1)
    result = store.add(x28, 7, canvas=canvas, prediction=1, model="default")
    assert result.added
    (item,) = store.items()
    assert item == result.item
    assert (item.label, item.prediction, item.model, item.source) == (7, 1, "default", "draw")
    assert item.hash == personal.image_hash(personal.to_uint8(x28))
    np.testing.assert_array_equal(store.image(item.id), np.round(x28 * 255).astype(np.uint8))
    np.testing.assert_array_equal(store.canvas(item.id), canvas)
    X, y = store.arrays()
    assert X.shape == (1, 784) and X.dtype == np.float32 and list(y) == [7]
    np.testing.assert_allclose(X[0], x28.reshape(-1), atol=0.5 / 255)


def test_the_same_drawing_is_stored_only_once(store):
    x28, canvas = drawing(1)
    first = store.add(x28, 7, canvas=canvas)
    again = store.add(x28.copy(), 1, canvas=canvas)
    assert not again.added
    assert again.item == first.item  # the first label stands
    assert len(store) == 1
    assert len(list(store.items_dir.glob("*.png"))) == 2  # one input, one canvas


def test_a_label_that_is_not_a_digit_is_refused(store):
    x28, _ = drawing(1)
    for bad in (10, -1, "7", 7.0, True, None):
        with pytest.raises(ValueError):
            store.add(x28, bad)
    assert len(store) == 0


def test_items_can_be_listed_by_label_oldest_first(filled):
    assert [it.label for it in filled.items(1)] == [1, 1]
    assert filled.listing().counts() == {0: 2, 1: 2, 2: 2, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0, 8: 0, 9: 0}
    created = [it.created for it in filled.items()]
    assert created == sorted(created)


def test_deleting_removes_the_example_and_both_of_its_images(filled):
    victim = filled.items()[2]
    assert filled.delete(victim.id)
    assert victim.id not in {it.id for it in filled.items()}
    assert not filled.image_path(victim.id).exists()
    assert not filled.canvas_path(victim.id).exists()
    assert len(filled) == 5
    assert not filled.delete(victim.id)  # a second time: nothing there
    assert filled.listing().problems == []


def test_a_malformed_id_can_never_name_a_path(store):
    for bad in ("../../etc/passwd", "abc", "0123456789abcdeg"):
        with pytest.raises(ValueError):
            store.image_path(bad)


# --- crash safety ------------------------------------------------------------------------------


def test_a_write_that_fails_half_way_leaves_no_partial_file(filled, monkeypatch):
    before = tree(filled.dir)

    def crash(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    x28, canvas = drawing(99)
    with pytest.raises(StorageError, match="the disk is full"):
        filled.add(x28, 4, canvas=canvas)
    monkeypatch.undo()
    assert tree(filled.dir) == before  # no temp file left, nothing half written
    assert len(filled) == 6


def test_a_crash_between_image_and_manifest_loses_nothing(filled, monkeypatch):
    def crash(items):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(filled, "_write_manifest", crash)
    x28, canvas = drawing(99)
    with pytest.raises(KeyboardInterrupt):
        filled.add(x28, 4, canvas=canvas)
    monkeypatch.undo()
    listing = filled.listing()
    assert len(listing.items) == 7
    assert [
        it.label for it in listing.items if it.hash == personal.image_hash(personal.to_uint8(x28))
    ] == [4]
    assert any("read back" in p for p in listing.problems)


def test_a_truncated_last_line_of_the_manifest_is_recovered_from_the_images(filled):
    ids = {it.id: it for it in filled.items()}
    raw = filled.manifest_path.read_bytes()
    filled.manifest_path.write_bytes(raw[: len(raw) - 40])  # cut inside the last entry
    listing = filled.listing()
    assert {it.id: it for it in listing.items} == ids
    assert listing.problems and "damaged" in listing.problems[0]


def test_garbage_in_the_manifest_is_reported_and_no_image_is_lost(filled):
    ids = {it.id: it for it in filled.items()}
    lines = filled.manifest_path.read_bytes().splitlines(keepends=True)
    lines[1] = b"\x00\xff not json at all }{\n"
    lines[3] = b'{"label": 42}\n'
    filled.manifest_path.write_bytes(b"".join(lines) + b"[1, 2, 3]\n")
    listing = filled.listing()
    assert {it.id: it for it in listing.items} == ids
    assert "3 line(s)" in listing.problems[0]
    assert len(list(filled.items_dir.glob("*.png"))) == 12


def test_a_lost_manifest_is_rebuilt_from_the_images(filled):
    ids = {it.id: it for it in filled.items()}
    filled.manifest_path.unlink()
    assert {it.id: it for it in filled.items()} == ids
    filled.repair()
    assert filled.listing().problems == []
    assert len(filled.manifest_path.read_text().splitlines()) == 6


def test_the_next_write_repairs_a_damaged_manifest(filled):
    filled.manifest_path.write_bytes(b"garbage\n")
    x28, canvas = drawing(50)
    filled.add(x28, 9, canvas=canvas)
    assert filled.listing().problems == []
    assert len(filled.manifest_path.read_text().splitlines()) == 7


def test_an_entry_whose_image_vanished_is_reported_and_left_out(filled):
    victim = filled.items()[0]
    filled.image_path(victim.id).unlink()
    listing = filled.listing()
    assert victim.id not in {it.id for it in listing.items}
    assert any("no image" in p for p in listing.problems)


def test_an_image_without_a_label_is_reported_and_left_on_disk(filled):
    stray = filled.items_dir / ("ab" * 8 + ".png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(stray)  # no entry inside
    listing = filled.listing()
    assert len(listing.items) == 6
    assert any("ab" * 8 in p for p in listing.problems)
    filled.repair()
    assert stray.exists()


# --- concurrency -----------------------------------------------------------------------------


def test_two_threads_adding_at_once_lose_nothing(store):
    start = threading.Barrier(2)
    errors = []

    def add_many(offset):
        try:
            start.wait()
            for k in range(40):
                x28, canvas = drawing(offset + k)
                store.add(x28, k % 10, canvas=canvas)
        except Exception as e:  # surfaced below; a thread's exception is otherwise lost
            errors.append(e)

    threads = [threading.Thread(target=add_many, args=(o,)) for o in (0, 1000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    listing = store.listing()
    assert len(listing.items) == 80 and listing.problems == []
    assert len(store.manifest_path.read_text().splitlines()) == 80


def test_a_reader_never_sees_an_addition_or_deletion_half_made(store):
    done = threading.Event()

    def write():
        for k in range(40):
            x28, canvas = drawing(k)
            item = store.add(x28, k % 10, canvas=canvas).item
            if k % 3 == 0:
                store.delete(item.id)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    seen = []
    while not done.is_set():
        seen.append(store.listing())
    writer.join()
    assert all(listing.problems == [] for listing in seen)
    assert len(store) == 40 - 14


_ADDER = """
import sys
from tests.test_personal import drawing
from core.personal import PersonalSet
store, offset = PersonalSet(sys.argv[1]), int(sys.argv[2])
for k in range(30):
    x28, canvas = drawing(offset + k)
    store.add(x28, k % 10, canvas=canvas)
"""


def test_two_processes_adding_at_once_lose_nothing(store):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ADDER, str(store.dir), str(offset)],
            cwd=ROOT,
            stderr=subprocess.PIPE,
        )
        for offset in (0, 1000)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    listing = store.listing()
    assert len(listing.items) == 60 and listing.problems == []
    assert len(store.manifest_path.read_text().splitlines()) == 60


def test_a_writer_in_another_process_waits_while_the_set_is_locked(store):
    with store._locked():
        proc = subprocess.Popen(
            [sys.executable, "-c", _ADDER, str(store.dir), "0"], cwd=ROOT, stderr=subprocess.PIPE
        )
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        assert proc.poll() is None  # blocked on the lock, not finished
        assert not list(store.items_dir.glob("*.png"))  # (reading here would wait on ourselves)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert len(store) == 30


# --- export and import -----------------------------------------------------------------------


def test_export_then_import_round_trips_every_example(filled, tmp_path):
    blob = filled.export_zip()
    other = PersonalSet(tmp_path / "elsewhere")
    report = other.import_zip(blob)
    assert (report.added, report.duplicates) == (6, 0)
    mine, theirs = filled.items(), other.items()
    assert [(it.id, it.label, it.prediction, it.model) for it in mine] == [
        (it.id, it.label, it.prediction, it.model) for it in theirs
    ]
    assert all(it.source == "import" for it in theirs)
    for it in mine:
        np.testing.assert_array_equal(filled.image(it.id), other.image(it.id))
        np.testing.assert_array_equal(filled.canvas(it.id), other.canvas(it.id))


def test_importing_a_set_twice_adds_nothing_the_second_time(filled):
    report = filled.import_zip(filled.export_zip())
    assert (report.added, report.duplicates) == (0, 6)
    assert len(filled) == 6


def _archive(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _members(store: PersonalSet) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(store.export_zip())) as z:
        return {n: z.read(n) for n in z.namelist()}


def _with_manifest(members: dict[str, bytes], edit) -> dict[str, bytes]:
    manifest = json.loads(members["manifest.json"])
    edit(manifest)
    return {**members, "manifest.json": json.dumps(manifest).encode()}


def _png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _first_image(members):
    return next(n for n in members if n.endswith(".png") and ".canvas" not in n)


BAD_ARCHIVES = {
    "zip slip with ..": (lambda m: {**m, "../evil.png": b"x"}, "outside its folder"),
    "zip slip in items": (lambda m: {**m, "items/../../evil.png": b"x"}, "outside its folder"),
    "absolute path": (lambda m: {**m, "/tmp/evil.png": b"x"}, "outside its folder"),
    "windows path": (lambda m: {**m, "C:\\evil.png": b"x"}, "outside its folder"),
    "an oversized file": (
        lambda m: {
            **m,
            _first_image(m): np.random.default_rng(0).bytes(personal.MAX_FILE_BYTES + 1),
        },
        "at most",
    ),
    "a zip bomb": (
        lambda m: {**m, _first_image(m): bytes(3 * 1024 * 1024)},
        "zip bomb",
    ),
    "a text file named .png": (
        lambda m: {**m, _first_image(m): b"I am not an image"},
        "not a readable PNG",
    ),
    "a JPEG named .png": (
        lambda m: {**m, _first_image(m): _jpeg()},
        "not a readable PNG",
    ),
    "a truncated PNG": (
        lambda m: {**m, _first_image(m): m[_first_image(m)][:60]},
        "not a readable PNG",
    ),
    "an image of the wrong size": (
        lambda m: {**m, _first_image(m): _png_bytes(np.zeros((32, 32), np.uint8))},
        "expected 28x28",
    ),
    "a label of 10": (
        lambda m: _with_manifest(m, lambda d: d["items"][0].update(label=10)),
        "not a digit",
    ),
    "a label that is text": (
        lambda m: _with_manifest(m, lambda d: d["items"][0].update(label="7")),
        "not a digit",
    ),
    "an image that does not match its hash": (
        lambda m: {
            **m,
            _first_image(m): _png_bytes(np.full((28, 28), 9, np.uint8)),
        },
        "does not match",
    ),
    "a file the manifest does not list": (
        lambda m: {**m, "items/" + "cd" * 8 + ".png": _png_bytes(np.zeros((28, 28), np.uint8))},
        "does not list",
    ),
    "a file of another kind": (lambda m: {**m, "notes.txt": b"hello"}, "not part of"),
    "no manifest": (
        lambda m: {k: v for k, v in m.items() if k != "manifest.json"},
        "no manifest.json",
    ),
    "a manifest that is not JSON": (lambda m: {**m, "manifest.json": b"{oops"}, "not valid JSON"),
    "a foreign manifest": (lambda m: {**m, "manifest.json": b'{"items": []}'}, "not the manifest"),
    "a missing image": (
        lambda m: {k: v for k, v in m.items() if k != _first_image(m)},
        "lacks it",
    ),
}


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("case", list(BAD_ARCHIVES))
def test_a_bad_archive_is_refused_with_a_reason_and_changes_nothing(filled, tmp_path, case):
    source = PersonalSet(tmp_path / "source")
    for k in range(3):
        x28, canvas = drawing(100 + k)
        source.add(x28, 5, canvas=canvas)
    make, reason = BAD_ARCHIVES[case]
    blob = _archive(make(_members(source)))
    before = tree(filled.dir)
    with pytest.raises(ImportRefused, match=reason):
        filled.import_zip(blob)
    assert tree(filled.dir) == before


def test_a_file_that_is_not_a_zip_is_refused(filled):
    before = tree(filled.dir)
    with pytest.raises(ImportRefused, match="not a zip"):
        filled.import_zip(b"PK\x03\x04 but then nonsense")
    assert tree(filled.dir) == before


def test_an_archive_over_the_total_size_limit_is_refused(filled, monkeypatch):
    blob = filled.export_zip()
    monkeypatch.setattr(personal, "MAX_TOTAL_BYTES", 2000)
    with pytest.raises(ImportRefused, match="too large"):
        PersonalSet(filled.dir.parent / "fresh").import_zip(blob)
    assert not (filled.dir.parent / "fresh").exists()


def test_an_upload_over_the_size_limit_is_refused_before_it_is_opened(store, monkeypatch):
    monkeypatch.setattr(personal, "MAX_ZIP_BYTES", 100)
    with pytest.raises(ImportRefused, match="MB"):
        store.import_zip(bytes(101))


# --- scoring ---------------------------------------------------------------------------------


def test_personal_accuracy_counts_the_examples_a_model_reads_right(filled):
    X, y = filled.arrays()

    class Oracle:  # right on label 0 and 1, wrong on 2
        def predict_proba(self, X_in):
            labels = np.where(y == 2, 3, y)
            return np.eye(10, dtype=np.float32)[labels]

    score = personal_accuracy(Oracle(), filled.dir)
    assert (score.n, score.correct) == (6, 4)
    assert score.accuracy == pytest.approx(4 / 6)


def test_an_empty_set_has_no_accuracy(store):
    assert personal_accuracy(lambda X: X, store.dir) is None


# --- damage is contained -------------------------------------------------------------------------


def _damage(store: PersonalSet, item_id: str) -> None:
    path = store.image_path(item_id)
    path.write_bytes(path.read_bytes()[:60])  # a truncated PNG: header fine, pixels gone


def test_a_truncated_drawing_is_listed_as_damaged_and_skipped_everywhere(filled):
    victim = filled.items()[2]
    _damage(filled, victim.id)
    listing = filled.listing()
    assert listing.damaged == [victim.id]
    assert victim.id not in [it.id for it in listing.items] and len(listing.items) == 5
    assert any("damaged image file" in p for p in listing.problems)
    items, X, y = filled.dataset()  # what fine-tuning and scoring read
    assert len(items) == len(y) == 5 and X.shape == (5, 784)
    assert filled.score(lambda X: np.eye(10)[np.zeros(len(X), int)]).n == 5


def test_a_damaged_drawing_is_left_out_of_the_export_which_imports_again(filled, tmp_path):
    victim = filled.items()[0]
    _damage(filled, victim.id)
    blob = filled.export_zip()
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(blob)).read("manifest.json"))
    assert manifest["left_out"]["ids"] == [victim.id]
    assert victim.id not in [d["id"] for d in manifest["items"]]
    fresh = PersonalSet(tmp_path / "fresh")
    assert fresh.import_zip(blob).added == 5


def test_a_damaged_canvas_is_dropped_from_the_export_but_its_drawing_kept(filled, tmp_path):
    victim = filled.items()[0]
    filled.canvas_path(victim.id).write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    blob = filled.export_zip()
    fresh = PersonalSet(tmp_path / "fresh")
    assert fresh.import_zip(blob).added == 6
    assert fresh.canvas(victim.id) is None


def test_a_damaged_drawing_can_be_deleted(filled):
    victim = filled.items()[1]
    _damage(filled, victim.id)
    assert filled.delete(victim.id)
    listing = filled.listing()
    assert listing.damaged == [] and len(listing.items) == 5
    assert not filled.image_path(victim.id).exists()


def test_repair_works_without_the_manifest_even_with_a_damaged_image(filled):
    victim = filled.items()[3]
    _damage(filled, victim.id)
    filled.manifest_path.unlink()
    before = filled.repair()
    assert len(before.items) == 5 and before.damaged == [victim.id]
    assert len(filled.manifest_path.read_text().splitlines()) == 5
    assert filled.image_path(victim.id).exists()  # kept for the user to delete


def test_a_damaged_drawing_is_reported_again_once_rewritten(filled):
    victim = filled.items()[0]
    path = filled.image_path(victim.id)
    good = path.read_bytes()
    _damage(filled, victim.id)
    assert filled.listing().damaged == [victim.id]
    path.write_bytes(good)  # restored from a backup
    assert filled.listing().damaged == []


# --- limits, checked before decoding ------------------------------------------------------------


def _png_header(width: int, height: int) -> bytes:
    """The first bytes of a PNG declaring width x height; no pixels follow."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def test_a_canvas_declaring_2048_pixels_a_side_is_refused_before_decoding(filled, monkeypatch):
    members = _members(filled)
    canvas = next(n for n in members if n.endswith(".canvas.png"))
    members[canvas] = _png_header(2048, 2048)
    decoded = []
    monkeypatch.setattr(personal, "_decode_png", lambda *a: decoded.append(a))
    with pytest.raises(ImportRefused, match="2,048 x 2,048 pixels; at most 1024 x 1024"):
        PersonalSet(filled.dir.parent / "fresh").import_zip(_archive(members))
    assert decoded == []


def test_an_archive_over_the_pixel_budget_is_refused_before_decoding(filled, monkeypatch):
    blob = filled.export_zip()
    monkeypatch.setattr(personal, "MAX_IMPORT_PIXELS", 3 * 28 * 28)
    decoded = []
    monkeypatch.setattr(personal, "_decode_png", lambda *a: decoded.append(a))
    with pytest.raises(ImportRefused, match="add up to more than 2,352 pixels"):
        PersonalSet(filled.dir.parent / "fresh").import_zip(blob)
    assert decoded == []


def test_the_pixel_budget_admits_a_full_export_of_app_sized_canvases():
    per_item = 280 * 280 + 28 * 28
    assert personal.MAX_IMPORT_PIXELS >= personal.MAX_ITEMS * per_item


def test_a_canvas_that_is_not_rgba_or_too_large_is_refused_when_kept(store):
    x28, canvas = drawing(1)
    with pytest.raises(ValueError, match="RGBA"):
        store.add(x28, 1, canvas=canvas[..., 0])  # an L-mode canvas
    with pytest.raises(ValueError, match="at most 1024 x 1024"):
        store.add(x28, 1, canvas=np.zeros((1025, 20, 4), np.uint8))
    assert len(store) == 0
