"""The personal set: digits the user drew and labelled, kept under data/personal (git-ignored).

Owns storing, listing, deleting, exporting and importing those examples, and scoring a model
on them. It never trains and never imports streamlit.

How it survives crashes. Each example is two PNG files in `items/`, each written atomically
(temp file + os.replace): `<id>.canvas.png`, the raw canvas, then `<id>.png`, the 28x28 input
the network saw, which also carries the example's manifest entry in a PNG text chunk. Writing
`<id>.png` is the moment an example exists. `manifest.jsonl` (one JSON entry per line) is the
index, rewritten atomically under a lock after each change; entries are only ever appended or
removed, never edited. So the images describe themselves: if the manifest is lost, damaged
(a truncated line, garbage) or behind the images (a crash between the two writes), every image
is still read back from disk and the damage is reported in `Listing.problems`; the next change,
or `repair()`, writes a clean manifest. Deleting removes the image first, so a crash half-way
never brings a deleted example back. The id is the start of the SHA-256 of the 28x28 image,
which is why the same drawing is never stored twice.

Writers take a threading.Lock (sessions of one server are threads) and an exclusive fcntl lock
on `.lock` (several processes), so two sessions adding at once lose nothing; readers take the
same locks (fcntl shared), so they never see a change half made.

Damage is contained: an image that cannot be decoded (or no longer matches its hash) is listed
in `Listing.damaged`, left out of `items`, so training, scoring and exports skip it, and it can
still be deleted. Every write that the disk refuses raises StorageError with a plain sentence.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from core import paths
from core.fileio import StorageError, atomic_write_bytes, atomic_write_text, explain_os_error
from core.messages import Message
from core.preprocess import check_canvas

try:  # POSIX; elsewhere the in-process lock still guards the threads of one server
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

SIDE = 28
MANIFEST = "manifest.jsonl"
ITEMS = "items"
LOCKFILE = ".lock"
PNG_KEY = "nndigits"  # the PNG text chunk holding an example's manifest entry
SOURCES = ("draw", "import", "code")
EXPORT_FORMAT = "nndigits-personal"
EXPORT_VERSION = 1

# Import limits. The app's own exports are far below them: about 1 KB per 28x28 image and
# 5-30 KB per 280x280 canvas.
MAX_ZIP_BYTES = 64 * 1024 * 1024  # the uploaded archive itself
MAX_TOTAL_BYTES = 256 * 1024 * 1024  # all members, uncompressed, as the archive declares them
MAX_FILE_BYTES = 4 * 1024 * 1024  # one member, uncompressed
MAX_RATIO = 200  # uncompressed / compressed; PNGs barely compress, so more smells of a zip bomb
MAX_ITEMS = 20_000
MAX_CANVAS_SIDE = 1024  # as core.preprocess accepts from the browser
# Decoded pixels of a whole archive, summed from the PNG headers before anything is decoded:
# an export of MAX_ITEMS drawings from the app's 280 x 280 canvas fits, 20,000 forged
# 2048 x 2048 canvases (84 billion pixels, half an hour of CPU) do not.
MAX_IMPORT_PIXELS = MAX_ITEMS * (280 * 280 + SIDE * SIDE)

_ID = re.compile(r"^[0-9a-f]{16}$")
_ITEM_FILE = re.compile(r"^items/([0-9a-f]{16})(\.canvas)?\.png$")
_LOCK = threading.Lock()
_checked: dict[tuple, bool] = {}  # image file state -> readable and matching its hash


class ImportRefused(ValueError):
    """An archive that cannot be imported; the message says why. Nothing was changed."""


def _refused(key: str, english: str, /, **params) -> ImportRefused:
    """An ImportRefused saying `english`, translatable as "errors.import.<key>"."""
    return ImportRefused(Message(f"errors.import.{key}", english, **params))


@dataclass(frozen=True)
class Item:
    """One labelled example as the manifest describes it."""

    id: str  # first 16 hex digits of `hash`
    label: int  # 0-9: what the user says it is
    created: str  # UTC, ISO 8601
    source: str  # draw | import | code
    hash: str  # SHA-256 of the 28x28 uint8 image
    prediction: int | None = None  # what the model said when it was saved
    model: str | None = None  # which model said it
    canvas: bool = True  # whether the raw canvas was kept

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "label": self.label,
            "created": self.created,
            "source": self.source,
            "hash": self.hash,
            "prediction": self.prediction,
            "model": self.model,
            "canvas": self.canvas,
        }

    @classmethod
    def from_dict(cls, d) -> Item:
        """Parse and check an entry; raises ValueError with a plain reason."""
        if not isinstance(d, dict):
            raise ValueError("an entry is not a JSON object")
        label, pred = d.get("label"), d.get("prediction")
        if not _is_digit(label):
            raise ValueError(f"label {label!r} is not a digit 0-9")
        if pred is not None and not _is_digit(pred):
            raise ValueError(f"prediction {pred!r} is not a digit 0-9")
        h = d.get("hash")
        if not isinstance(h, str) or not re.fullmatch(r"[0-9a-f]{64}", h):
            raise ValueError("hash is not a SHA-256 hex digest")
        item_id = d.get("id", h[:16])
        if item_id != h[:16]:
            raise ValueError(f"id {item_id!r} does not match its hash")
        model = d.get("model")
        return cls(
            id=item_id,
            label=int(label),
            created=str(d.get("created") or ""),
            source=str(d.get("source") or "draw"),
            hash=h,
            prediction=None if pred is None else int(pred),
            model=None if model is None else str(model),
            canvas=bool(d.get("canvas", True)),
        )


@dataclass(frozen=True)
class AddResult:
    item: Item
    added: bool  # False: the identical drawing was already there (`item` is the stored one)


@dataclass(frozen=True)
class Listing:
    """What is in the set, and anything that needed recovering while reading it."""

    items: list[Item]  # oldest first; readable ones only
    problems: list[str] = field(default_factory=list)  # plain sentences; empty when all is well
    damaged: list[str] = field(default_factory=list)  # ids of images that cannot be read

    def counts(self) -> dict[int, int]:
        """Examples per digit, all ten digits present."""
        out = dict.fromkeys(range(10), 0)
        for it in self.items:
            out[it.label] += 1
        return out


@dataclass(frozen=True)
class ImportReport:
    added: int
    duplicates: int  # already in the set (or twice in the archive), skipped


@dataclass(frozen=True)
class PersonalScore:
    n: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.n


def _is_digit(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 9


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def to_uint8(x28) -> np.ndarray:
    """(28, 28) or (784,) floats in [0, 1] (or uint8) -> (28, 28) uint8, as stored on disk."""
    a = np.asarray(x28)
    if a.size != SIDE * SIDE:
        raise ValueError(f"expected a 28x28 image, got shape {a.shape}")
    a = a.reshape(SIDE, SIDE)
    if a.dtype == np.uint8:
        return a.copy()
    if not np.isfinite(a).all():
        raise ValueError("the image holds NaN or infinite values")
    return np.round(np.clip(a, 0.0, 1.0) * 255).astype(np.uint8)


def image_hash(u8: np.ndarray) -> str:
    """SHA-256 of a (28, 28) uint8 image: the identity of a drawing."""
    return hashlib.sha256(np.ascontiguousarray(u8, dtype=np.uint8).tobytes()).hexdigest()


def _png(arr: np.ndarray, mode: str, text: dict[str, str] | None = None) -> bytes:
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        for k, v in text.items():
            info.add_text(k, v)
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, format="PNG", pnginfo=info, optimize=False)
    return buf.getvalue()


def _decode_png(data: bytes, what: str, exact: tuple[int, int] | None, mode: str) -> Image.Image:
    """Decode PNG bytes after checking the header; raises ValueError naming `what`."""
    try:
        img = Image.open(io.BytesIO(data))
        if img.format != "PNG":
            raise ValueError(f"{what} is a {img.format} file, not a PNG")
        w, h = img.size
        if exact is not None and (w, h) != exact:
            raise ValueError(f"{what} is {w}x{h} pixels, expected {exact[0]}x{exact[1]}")
        if exact is None and not (SIDE <= w <= MAX_CANVAS_SIDE and SIDE <= h <= MAX_CANVAS_SIDE):
            raise ValueError(
                f"{what} is {w}x{h} pixels; a canvas is {SIDE} to {MAX_CANVAS_SIDE} px a side"
            )
        img.load()  # decodes every pixel: a truncated or damaged file fails here
        return img.convert(mode)
    except ValueError:
        raise
    except Exception as e:  # Pillow raises many kinds for a bad file
        raise ValueError(f"{what} is not a readable PNG image ({type(e).__name__})") from e


class PersonalSet:
    """The store in one folder (by default `paths.personal_dir()`)."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.dir = Path(directory) if directory is not None else paths.personal_dir()

    # --- paths and locking -------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.dir / MANIFEST

    @property
    def items_dir(self) -> Path:
        return self.dir / ITEMS

    def image_path(self, item_id: str) -> Path:
        return self.items_dir / f"{_check_id(item_id)}.png"

    def canvas_path(self, item_id: str) -> Path:
        return self.items_dir / f"{_check_id(item_id)}.canvas.png"

    @contextlib.contextmanager
    def _locked(self, shared: bool = False) -> Iterator[None]:
        """Exclusive access for a writer (shared for a reader, which then never sees a change
        half made): threads of this process first, then other processes."""
        with _LOCK:
            if not shared:
                self.items_dir.mkdir(parents=True, exist_ok=True)
            with open(self.dir / LOCKFILE, "a+b") as f:
                if fcntl is not None:
                    fcntl.flock(f.fileno(), fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    if fcntl is not None:
                        fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """A reader's lock; nothing to lock (or create) while the set has never been written."""
        if not self.dir.is_dir():
            yield
            return
        with self._locked(shared=True):
            yield

    def listing(self) -> Listing:
        """Every example, with the manifest checked against the images on disk.

        Images the manifest lacks are read back from their own text chunk; entries whose image
        is gone are dropped. Both are reported, never raised: reading always succeeds.
        """
        with self._reading():
            return self._read_listing()

    def _read_listing(self) -> Listing:
        """`listing` for a caller that holds the lock already."""
        problems: list[str] = []
        entries: dict[str, Item] = {}
        bad_lines = 0
        try:
            raw = self.manifest_path.read_bytes()
        except FileNotFoundError:
            raw = b""
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                it = Item.from_dict(json.loads(line))
            except (ValueError, UnicodeDecodeError):
                bad_lines += 1
                continue
            entries[it.id] = it
        if bad_lines:
            problems.append(
                Message(
                    "errors.listing.bad_lines",
                    f"{bad_lines} line(s) of the manifest were damaged and skipped; the examples "
                    f"they described were read back from their images.",
                    n=bad_lines,
                )
            )
        on_disk = self._ids_on_disk()
        missing = [i for i in entries if i not in on_disk]
        for i in missing:
            del entries[i]
        if missing:
            problems.append(
                Message(
                    "errors.listing.missing",
                    f"{len(missing)} manifest entry(ies) had no image on disk (deleted outside "
                    f"the app?) and were left out.",
                    n=len(missing),
                )
            )
        recovered, unreadable = 0, []
        for i in sorted(on_disk - entries.keys()):
            try:
                entries[i] = self._entry_from_image(i)
                recovered += 1
            except Exception:  # a damaged PNG raises many kinds; it is reported, never raised
                unreadable.append(i)
        damaged = [i for i, it in entries.items() if not self._image_ok(it)]
        for i in damaged:
            del entries[i]
        if damaged:
            problems.append(
                Message(
                    "errors.listing.damaged",
                    f"{len(damaged)} drawing(s) have a damaged image file; they are left out of "
                    f"training, scores and exports. Delete them below.",
                    n=len(damaged),
                )
            )
        if recovered and not bad_lines:
            problems.append(
                Message(
                    "errors.listing.recovered",
                    f"{recovered} example(s) were missing from the manifest and were read back "
                    f"from their images.",
                    n=recovered,
                )
            )
        if unreadable:
            ids = ", ".join(unreadable[:5]) + (" ..." if len(unreadable) > 5 else "")
            problems.append(
                Message(
                    "errors.listing.unreadable",
                    f"{len(unreadable)} image file(s) in {self.items_dir} could not be read or "
                    f"carry no label; they are listed as damaged: {ids}.",
                    n=len(unreadable),
                    folder=str(self.items_dir),
                    ids=ids,
                )
            )
        items = sorted(entries.values(), key=lambda it: (it.created, it.id))
        return Listing(items, problems, sorted(damaged + unreadable))

    def _image_ok(self, item: Item) -> bool:
        """Whether the item's 28x28 image decodes and matches its hash (cached per file state)."""
        path = self.image_path(item.id)
        try:
            st = path.stat()
        except OSError:
            return False
        key = (str(path), st.st_mtime_ns, st.st_size, st.st_ino, item.hash)
        if key not in _checked:
            try:
                _checked[key] = image_hash(self.image(item.id)) == item.hash
            except Exception:  # truncated, garbage, unreadable: damaged either way
                _checked[key] = False
            if len(_checked) > 200_000:
                _checked.clear()
        return _checked[key]

    def items(self, label: int | None = None) -> list[Item]:
        """The examples (of one digit, if given), oldest first."""
        its = self.listing().items
        return its if label is None else [it for it in its if it.label == label]

    def find(self, x28) -> Item | None:
        """The stored example with exactly this 28x28 image, or None."""
        item_id = image_hash(to_uint8(x28))[:16]
        if not self.image_path(item_id).exists():
            return None
        return next((it for it in self.listing().items if it.id == item_id), None)

    def __len__(self) -> int:
        return len(self.listing().items)

    def _ids_on_disk(self) -> set[str]:
        try:
            names = os.listdir(self.items_dir)
        except FileNotFoundError:
            return set()
        return {n[:-4] for n in names if n.endswith(".png") and _ID.match(n[:-4])}

    def _entry_from_image(self, item_id: str) -> Item:
        with Image.open(self.image_path(item_id)) as img:
            text = getattr(img, "text", {}).get(PNG_KEY)
        if text is None:
            raise ValueError("no entry in the image")
        it = Item.from_dict(json.loads(text))
        if it.id != item_id:
            raise ValueError("the entry names another image")
        return it

    def image(self, item_id: str) -> np.ndarray:
        """The stored 28x28 input: (28, 28) uint8."""
        with Image.open(self.image_path(item_id)) as img:
            if img.size != (SIDE, SIDE):
                raise ValueError(f"image {item_id} is {img.size}, not 28x28")
            return np.asarray(img.convert("L"), dtype=np.uint8)

    def canvas(self, item_id: str) -> np.ndarray | None:
        """The raw canvas as drawn, (H, W, 4) uint8; None if it was not kept."""
        p = self.canvas_path(item_id)
        if not p.exists():
            return None
        with Image.open(p) as img:
            return np.asarray(img.convert("RGBA"), dtype=np.uint8)

    def dataset(self) -> tuple[list[Item], np.ndarray, np.ndarray]:
        """The examples and their images in one consistent read: (items, X (n, 784) float32 in
        [0, 1], y (n,) uint8), so a delete from another session cannot fall in between."""
        with self._reading():
            items = self._read_listing().items
            good, rows = [], []
            for it in items:
                try:
                    rows.append(self.image(it.id).reshape(-1))
                except Exception:  # damaged since it was listed: skipped like the others
                    continue
                good.append(it)
        X = np.zeros((len(good), SIDE * SIDE), dtype=np.float32)
        if rows:
            X[:] = np.stack(rows) * np.float32(1 / 255)
        y = np.array([it.label for it in good], dtype=np.uint8)
        return good, X, y

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The examples as network input: X (n, 784) float32 in [0, 1], y (n,) uint8."""
        return self.dataset()[1:]

    # --- writing -----------------------------------------------------------------------------

    def add(
        self,
        x28,
        label: int,
        canvas: np.ndarray | None = None,
        source: str = "draw",
        prediction: int | None = None,
        model: str | None = None,
        created: str | None = None,
    ) -> AddResult:
        """Store one labelled drawing: x28 is what the network saw, (28, 28) in [0, 1].

        The identical 28x28 image is stored only once; then `added` is False and the stored
        example (with its original label) is returned.
        """
        label = int(label) if isinstance(label, np.integer) else label
        if not _is_digit(label):
            raise ValueError(
                Message(
                    "errors.personal.label",
                    f"A label is a digit from 0 to 9, got {label!r}.",
                    label=repr(label),
                )
            )
        if prediction is not None:
            prediction = int(prediction)
        if source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
        u8 = to_uint8(x28)
        canvas_png = None
        if canvas is not None:
            canvas_png = _png(check_canvas(canvas), "RGBA")
        h = image_hash(u8)
        item = Item(
            id=h[:16],
            label=label,
            created=created or _now(),
            source=source,
            hash=h,
            prediction=prediction,
            model=model,
            canvas=canvas_png is not None,
        )
        return self._add_many(
            [(item, _png(u8, "L", {PNG_KEY: json.dumps(item.to_dict())}), canvas_png)]
        )[0]

    def _add_many(self, prepared: list[tuple[Item, bytes, bytes | None]]) -> list[AddResult]:
        """Write prepared examples under the lock; then rewrite the manifest once."""
        results = []
        try:
            with self._locked():
                results = self._write_many(prepared)
        except OSError as e:
            doing = Message("errors.doing.keep_drawings", "keep the drawing(s)")
            raise StorageError(explain_os_error(e, doing)) from e
        return results

    def _write_many(self, prepared) -> list[AddResult]:
        """`_add_many` for a caller that holds the lock."""
        results = []
        before = self._read_listing()
        current = {it.id: it for it in before.items}
        for item, image_png, canvas_png in prepared:
            if item.id in current:
                results.append(AddResult(current[item.id], False))
                continue
            if canvas_png is not None:
                atomic_write_bytes(self.canvas_path(item.id), canvas_png)
            atomic_write_bytes(self.image_path(item.id), image_png)  # now it exists
            current[item.id] = item
            results.append(AddResult(item, True))
        if any(r.added for r in results) or before.problems:
            self._write_manifest(current.values())  # also repairs a damaged one
        return results

    def delete(self, item_id: str) -> bool:
        """Remove one example, damaged ones included (both images and its entry); False if it
        was not there."""
        _check_id(item_id)
        try:
            with self._locked():
                listing = self._read_listing()
                current = {it.id: it for it in listing.items}
                if item_id not in current and item_id not in listing.damaged:
                    return False
                self.image_path(item_id).unlink(missing_ok=True)  # gone from here on
                self.canvas_path(item_id).unlink(missing_ok=True)
                current.pop(item_id, None)
                self._write_manifest(current.values())
        except OSError as e:
            doing = Message("errors.doing.delete_drawing", "delete the drawing")
            raise StorageError(explain_os_error(e, doing)) from e
        return True

    def repair(self) -> Listing:
        """Rewrite the manifest from what `listing` recovered; returns the listing before.

        Works without a manifest: every readable image carries its own entry. Damaged images
        stay on disk, listed as damaged, until they are deleted."""
        try:
            with self._locked():
                before = self._read_listing()
                self._write_manifest(before.items)
        except OSError as e:
            doing = Message("errors.doing.rewrite_index", "rewrite the index")
            raise StorageError(explain_os_error(e, doing)) from e
        return before

    def _write_manifest(self, items) -> None:
        items = sorted(items, key=lambda it: (it.created, it.id))
        atomic_write_text(
            self.manifest_path, "".join(json.dumps(it.to_dict()) + "\n" for it in items)
        )

    # --- export and import -------------------------------------------------------------------

    def export_zip(self) -> bytes:
        """The whole set as a zip: manifest.json plus items/<id>.png and items/<id>.canvas.png."""
        buf = io.BytesIO()
        with self._reading(), zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            listing = self._read_listing()
            items, members, left_out = [], {}, list(listing.damaged)
            for it in listing.items:
                try:  # re-read now: what goes out must import again
                    image = self.image_path(it.id).read_bytes()
                    _decode_png(image, it.id, (SIDE, SIDE), "L")
                except (OSError, ValueError):
                    left_out.append(it.id)
                    continue
                members[f"items/{it.id}.png"] = image
                canvas = self._readable_canvas(it)
                if canvas is not None:
                    members[f"items/{it.id}.canvas.png"] = canvas
                items.append(Item(**{**it.to_dict(), "canvas": canvas is not None}))
            manifest = {
                "format": EXPORT_FORMAT,
                "version": EXPORT_VERSION,
                "exported": _now(),
                "items": [it.to_dict() for it in items],
            }
            if left_out:
                manifest["left_out"] = {
                    "ids": sorted(left_out),
                    "reason": "the image file was damaged and could not be read",
                }
            z.writestr("manifest.json", json.dumps(manifest, indent=1))
            for name, blob in members.items():
                z.writestr(name, blob)
        return buf.getvalue()

    def _readable_canvas(self, it: Item) -> bytes | None:
        """The canvas PNG's bytes if it was kept and still decodes; a damaged one is dropped
        (the 28x28 image, what training uses, is still exported)."""
        if not it.canvas:
            return None
        try:
            blob = self.canvas_path(it.id).read_bytes()
            _decode_png(blob, it.id, None, "RGBA")
        except (OSError, ValueError):
            return None
        return blob

    def import_zip(self, data: bytes) -> ImportReport:
        """Add the examples of an exported zip. The archive is checked completely first; if
        anything is wrong, ImportRefused says what and nothing is written."""
        prepared = read_archive(data)
        results = self._add_many(prepared)
        added = sum(r.added for r in results)
        return ImportReport(added=added, duplicates=len(results) - added)

    # --- scoring -----------------------------------------------------------------------------

    def score(self, predict_proba) -> PersonalScore | None:
        """How many examples a model reads right; None when the set is empty.

        `predict_proba` maps (n, 784) float32 to (n, 10) probabilities (a Model's or Network's
        method, or the object itself when it has one).
        """
        X, y = self.arrays()
        return score_arrays(predict_proba, X, y)


def score_arrays(predict_proba, X: np.ndarray, y: np.ndarray) -> PersonalScore | None:
    """Correct answers of a model on (n, 784) X with labels y; None when n is 0."""
    if len(y) == 0:
        return None
    fn = getattr(predict_proba, "predict_proba", predict_proba)
    P = fn(X)
    return PersonalScore(n=len(y), correct=int((np.asarray(P).argmax(1) == y).sum()))


def personal_accuracy(model, directory: str | os.PathLike | None = None) -> PersonalScore | None:
    """A model's score on the personal set (for the Inspect page); None when the set is empty."""
    return PersonalSet(directory).score(model)


def _check_id(item_id: str) -> str:
    if not isinstance(item_id, str) or not _ID.match(item_id):
        raise ValueError(f"{item_id!r} is not an example id")
    return item_id


def _check_member_name(name: str) -> None:
    """Refuse names that could point outside the folder (zip slip) or are not ours."""
    if (
        name.startswith(("/", "\\"))
        or "\\" in name
        or re.match(r"^[A-Za-z]:", name)
        or ".." in name.split("/")
        or "\x00" in name
    ):
        raise _refused(
            "unsafe_path",
            f"The archive holds a file named {name!r}, a path that points outside its folder. "
            f"Such archives are refused for safety; nothing was imported.",
            name=repr(name),
        )


def _png_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's first 24 bytes (signature + IHDR), or None if not a PNG."""
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _check_pixels(z: zipfile.ZipFile, files: dict[str, zipfile.ZipInfo]) -> None:
    """Sum the pixels every PNG in the archive declares, reading only its header; refuse the
    archive before decoding anything when one image or the total is too large."""
    total = 0
    for name, info in files.items():
        if name == "manifest.json":
            continue
        try:
            with z.open(info) as f:
                size = _png_size(f.read(24))
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise _refused(
                "member_damaged",
                f"{name} in the archive is damaged ({e}).",
                name=name,
                detail=str(e),
            ) from e
        if size is None:
            raise _refused(
                "not_png", f"{name} is not a readable PNG image. Nothing was imported.", name=name
            )
        w, h = size
        if not name.endswith(".canvas.png") and (w, h) != (SIDE, SIDE):
            raise _refused(
                "not_28",
                f"{name} is {w}x{h} pixels, expected 28x28. Nothing was imported.",
                name=name,
                w=w,
                h=h,
            )
        side = MAX_CANVAS_SIDE
        if not (1 <= w <= side and 1 <= h <= side):
            raise _refused(
                "too_many_pixels",
                f"{name} declares {w:,} x {h:,} pixels; at most {side} x {side} are accepted. "
                f"Nothing was imported.",
                name=name,
                w=f"{w:,}",
                h=f"{h:,}",
                side=side,
            )
        total += w * h
        if total > MAX_IMPORT_PIXELS:
            raise _refused(
                "pixels_total",
                f"The archive's images add up to more than {MAX_IMPORT_PIXELS:,} pixels; "
                f"import it in smaller parts. Nothing was imported.",
                limit=f"{MAX_IMPORT_PIXELS:,}",
            )


def read_archive(data: bytes) -> list[tuple[Item, bytes, bytes | None]]:
    """Check an exported zip completely and return its examples ready to write.

    Raises ImportRefused with a plain message for anything wrong: too large, not a zip, unsafe
    paths, a declared size that smells of a zip bomb, files that are not PNGs of the expected
    size, labels outside 0-9, or a manifest that does not match the files.
    """
    if len(data) > MAX_ZIP_BYTES:
        mb, limit = f"{len(data) / 2**20:.1f}", MAX_ZIP_BYTES // 2**20
        raise _refused(
            "zip_large",
            f"The file is {mb} MB; archives up to {limit} MB can be imported.",
            mb=mb,
            limit=limit,
        )
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise _refused(
            "not_zip",
            "That file is not a zip archive (or it is damaged). Import a zip made with "
            "'Export' on this page.",
        ) from e
    with z:
        infos = z.infolist()
        if len(infos) > 2 * MAX_ITEMS + 1:
            raise _refused(
                "too_many_files",
                f"The archive holds {len(infos):,} files; too many to import.",
                n=f"{len(infos):,}",
            )
        total = 0
        files: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            _check_member_name(info.filename)
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise _refused(
                    "encrypted",
                    f"{info.filename} is encrypted; export the set again.",
                    name=info.filename,
                )
            if info.file_size > MAX_FILE_BYTES:
                mb, limit = f"{info.file_size / 2**20:.1f}", MAX_FILE_BYTES // 2**20
                raise _refused(
                    "member_large",
                    f"{info.filename} is {mb} MB unpacked; one file may be at most {limit} MB. "
                    f"Nothing was imported.",
                    name=info.filename,
                    mb=mb,
                    limit=limit,
                )
            if info.file_size > 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise _refused(
                    "bomb",
                    f"{info.filename} would unpack to {info.file_size:,} bytes from "
                    f"{info.compress_size:,}: that is how zip bombs look. Nothing was imported.",
                    name=info.filename,
                    size=f"{info.file_size:,}",
                    packed=f"{info.compress_size:,}",
                )
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise _refused(
                    "total_large",
                    f"The archive unpacks to more than {MAX_TOTAL_BYTES // 2**20} MB; "
                    f"that is too large to import.",
                    limit=MAX_TOTAL_BYTES // 2**20,
                )
            if info.filename in files:
                raise _refused(
                    "twice", f"The archive holds {info.filename} twice.", name=info.filename
                )
            if info.filename != "manifest.json" and not _ITEM_FILE.match(info.filename):
                raise _refused(
                    "foreign_file",
                    f"The archive holds {info.filename!r}, which is not part of an exported "
                    f"set (expected manifest.json and items/<id>.png files). Nothing was imported.",
                    name=repr(info.filename),
                )
            files[info.filename] = info

        def read(name: str) -> bytes:
            info = files[name]
            try:
                with z.open(info) as f:
                    blob = f.read(info.file_size + 1)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
                raise _refused(
                    "member_damaged",
                    f"{name} in the archive is damaged ({e}).",
                    name=name,
                    detail=str(e),
                ) from e
            if len(blob) != info.file_size:
                raise _refused(
                    "member_size", f"{name} is not the size the archive says.", name=name
                )
            return blob

        if "manifest.json" not in files:
            raise _refused(
                "no_manifest",
                "The archive has no manifest.json, so the labels are unknown. Import a zip made "
                "with 'Export' on this page.",
            )
        try:
            manifest = json.loads(read("manifest.json").decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise _refused(
                "manifest_json", f"manifest.json is not valid JSON ({e}).", detail=str(e)
            ) from e
        if (
            not isinstance(manifest, dict)
            or manifest.get("format") != EXPORT_FORMAT
            or not isinstance(manifest.get("items"), list)
        ):
            raise _refused(
                "manifest_foreign", "manifest.json is not the manifest of an exported personal set."
            )
        if manifest.get("version") != EXPORT_VERSION:
            version = repr(manifest.get("version"))
            raise _refused(
                "version",
                f"The archive is format version {version}; this app reads "
                f"version {EXPORT_VERSION}.",
                version=version,
                expected=EXPORT_VERSION,
            )
        entries = manifest["items"]
        if len(entries) > MAX_ITEMS:
            raise _refused(
                "too_many_items",
                f"The archive holds {len(entries):,} examples; at most "
                f"{MAX_ITEMS:,} can be imported at once.",
                n=f"{len(entries):,}",
                limit=f"{MAX_ITEMS:,}",
            )

        _check_pixels(z, files)
        prepared, used = [], {"manifest.json"}
        for k, d in enumerate(entries):
            try:
                item = Item.from_dict(d)
            except ValueError as e:
                raise _refused(
                    "bad_entry",
                    f"Example {k + 1} in manifest.json is invalid: {e}.",
                    k=k + 1,
                    detail=str(e),
                ) from e
            name = f"items/{item.id}.png"
            if name not in files:
                raise _refused(
                    "lacks", f"manifest.json lists {name}, but the archive lacks it.", name=name
                )
            try:
                img = _decode_png(read(name), name, (SIDE, SIDE), "L")
            except ValueError as e:
                raise _refused("image", f"{e}. Nothing was imported.", detail=str(e)) from e
            u8 = np.asarray(img, dtype=np.uint8)
            if image_hash(u8) != item.hash:
                raise _refused(
                    "hash",
                    f"{name} does not match the hash in manifest.json (damaged?).",
                    name=name,
                )
            canvas_png = None
            cname = f"items/{item.id}.canvas.png"
            if cname in files:
                try:
                    canvas = np.asarray(_decode_png(read(cname), cname, None, "RGBA"))
                except ValueError as e:
                    raise _refused("image", f"{e}. Nothing was imported.", detail=str(e)) from e
                canvas_png = _png(canvas, "RGBA")
                used.add(cname)
            used.add(name)
            item = Item(
                id=item.id,
                label=item.label,
                created=item.created or _now(),
                source="import",
                hash=item.hash,
                prediction=item.prediction,
                model=item.model,
                canvas=canvas_png is not None,
            )
            # Re-encode rather than copy the archive's bytes: what lands on disk is our own PNG.
            image_png = _png(u8, "L", {PNG_KEY: json.dumps(item.to_dict())})
            prepared.append((item, image_png, canvas_png))
        extra = sorted(files.keys() - used)
        if extra:
            raise _refused(
                "unlisted",
                f"The archive holds {len(extra)} image(s) manifest.json does not list "
                f"(e.g. {extra[0]}); it looks edited or damaged. Nothing was imported.",
                n=len(extra),
                name=extra[0],
            )
    return prepared
