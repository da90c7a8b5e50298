"""Model files: `NAME.npz`, one file holding the arrays and `meta.json` (core.store.modelfile).

A model is saved whole or not at all: the file is built in memory, written to a temp file and
renamed into place, so a crash at any moment leaves the old model or the new one. The check
"does this name exist?" and the write happen under a per-name lock that holds across processes,
so of two saves of a new name exactly one succeeds; names that differ only in capitals are the
same name (a case-insensitive disk would mix them up). Version 1 pairs (`NAME.npz` + `NAME.json`)
still load. This module must not train or draw anything.
"""

from __future__ import annotations

import hashlib
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import paths
from core.fileio import StorageError, atomic_write_bytes, explain_os_error
from core.messages import Message
from core.network import ACTIVATIONS, Network
from core.store import modelfile
from core.store.locks import file_lock
from core.store.modelfile import FORMAT_VERSION, ModelFileError

__all__ = ["FORMAT_VERSION", "ModelFileError", "StorageError"]

DEFAULT = "default"
NAME_CHARS = 64  # at most, in characters
NAME_BYTES = 200  # at most, in UTF-8: ".NAME.lock" stays under every file system's 255 bytes
# Names Windows keeps for devices, in any capitals: a file called CON.npz cannot exist there.
WINDOWS_RESERVED = {"con", "prn", "aux", "nul"}
WINDOWS_RESERVED |= {f"{port}{i}" for port in ("com", "lpt") for i in range(10)}


@dataclass
class Model:
    """A loaded model: the network plus its metadata."""

    name: str
    net: Network
    meta: dict

    def predict_proba(self, X) -> np.ndarray:
        """(n, 784) float32 in [0, 1] -> (n, 10) probabilities."""
        return self.net.predict_proba(X)

    @property
    def test_acc(self) -> float | None:
        return self.meta.get("metrics", {}).get("test_acc")

    @property
    def description(self) -> str:
        sizes = "-".join(map(str, self.net.sizes))
        acc = f", {self.test_acc:.2%} on MNIST test" if self.test_acc is not None else ""
        return f"{self.name} ({sizes}, {self.net.activation}{acc})"


def _dir(directory: Path | None) -> Path:
    return Path(directory) if directory is not None else paths.weights_dir()


def _name_char(c: str) -> bool:
    """A letter or digit of any script, '-' or '_', or a combining mark (Hindi's vowel signs)."""
    return c.isalnum() or c in "-_" or unicodedata.category(c) in ("Mn", "Mc")


def valid_name(name) -> bool:
    """Letters and digits of any language (Chinese included), '-' and '_', 1-64 characters in
    NFC, starting with a letter or digit: never a path, a hidden file or a reserved device name.
    isalnum() is False for separators, dots, spaces and control characters, so they are out."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= NAME_CHARS
        and len(name.encode("utf-8", "surrogatepass")) <= NAME_BYTES
        and unicodedata.is_normalized("NFC", name)
        and name[0].isalnum()
        and all(_name_char(c) for c in name)
        and name.casefold() not in WINDOWS_RESERVED
    )


def normal_name(name):
    """A typed name in the form the disk keeps (NFC: "e" + accent becomes one "é"); any other
    value as it is, for check_name to refuse."""
    return unicodedata.normalize("NFC", name) if isinstance(name, str) else name


def same_name_key(name: str) -> str:
    """What two spellings of one name share: "Mnist", "MNIST" and "mnist" are one name."""
    return normal_name(name).casefold()


def check_name(
    name: str,
    for_writing: bool = False,
    overwrite: bool = False,
    allow_default: bool = False,
    directory: Path | None = None,
) -> str:
    """The name in NFC, checked: letters and digits of any language, '-' and '_' only, so it can
    never be a path (see valid_name).

    With for_writing, also refuse `default` (any capitals) and a name already taken (any
    capitals) unless `overwrite` and the spelling is the same.
    """
    name = normal_name(name)
    if not valid_name(name):
        raise ValueError(
            Message(
                "errors.model.bad_name",
                f"Model names use letters of any language (Chinese included), digits, '-' and "
                f"'_' (1-64 characters, starting with a letter or digit; no spaces, dots or "
                f"slashes, nor a name Windows reserves such as CON); {name!r} is not one.",
                name=name,
            )
        )
    if for_writing:
        if same_name_key(name) == DEFAULT and not allow_default:
            raise ValueError(
                Message(
                    "errors.model.default_kept",
                    "'default' is the shipped model and cannot be replaced here; choose another "
                    "name.",
                )
            )
        taken = find_name(name, directory)
        if taken is not None and taken != name:  # cannot be replaced: a ValueError, no offer
            raise ValueError(
                Message(
                    "errors.model.taken_capitals",
                    f"A model called {taken!r} already exists; names that differ only in "
                    f"capitals are the same name. Choose another name.",
                    taken=taken,
                )
            )
        if taken is not None and not overwrite:
            raise FileExistsError(
                Message(
                    "errors.model.exists",
                    f"A model called {name!r} already exists; choose another name "
                    f"or confirm that it should be replaced.",
                    name=name,
                )
            )
    return name


def find_name(name: str, directory: Path | None = None) -> str | None:
    """The saved model whose name equals `name` ignoring capitals, or None."""
    key = same_name_key(name)
    return next((n for n in list_models(directory) if same_name_key(n) == key), None)


def model_paths(name: str, directory: Path | None = None) -> tuple[Path, Path]:
    """(the model file, the version 1 sidecar that older saves wrote next to it)."""
    d = _dir(directory)
    return d / f"{name}.npz", d / f"{name}.json"


def _lock_path(name: str, directory: Path | None) -> Path:
    return _dir(directory) / f".{same_name_key(name)}.lock"  # one lock for every spelling of a name


def _meta(name, net: Network, config, metrics, command, extra) -> dict:
    from core.data import DATA_CHECKSUM

    return {
        "format_version": FORMAT_VERSION,
        "name": name,
        "sizes": list(net.sizes),
        "activation": net.activation,
        "config": config.to_dict() if hasattr(config, "to_dict") else config,
        "metrics": {k: v for k, v in (metrics or {}).items() if k != "kind"},
        "data_checksum": DATA_CHECKSUM,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command,
        **(extra or {}),
    }


def save_model(
    name: str,
    net: Network,
    config=None,
    metrics: dict | None = None,
    command: str | None = None,
    overwrite: bool = False,
    allow_default: bool = False,
    directory: Path | None = None,
    extra: dict | None = None,
) -> Path:
    """Save a network as NAME.npz, whole or not at all; returns the file's path.

    Raises ValueError for a bad name, FileExistsError for a taken one (unless overwrite),
    StorageError when the disk refuses (nothing stored is changed then).
    """
    name = check_name(name, allow_default=allow_default)
    meta = _meta(name, net, config, metrics, command, extra)
    blob = modelfile.encode(meta, net.W, net.b)
    return _store(name, blob, overwrite, allow_default, directory)


def _store(name, blob: bytes, overwrite: bool, allow_default: bool, directory) -> Path:
    """Check the name and write the file, both under the name's lock."""
    path, sidecar = model_paths(name, directory)
    try:
        with file_lock(_lock_path(name, directory)):
            check_name(name, True, overwrite, allow_default, directory)
            atomic_write_bytes(path, blob)
            # A version 1 sidecar is stale now; the new file carries its own metadata, which
            # wins if a crash leaves both.
            sidecar.unlink(missing_ok=True)
    except FileExistsError:
        raise
    except OSError as e:
        doing = Message("errors.doing.save_model", f"save the model {name!r}", name=name)
        raise StorageError(explain_os_error(e, doing)) from e
    _cache.pop(str(path), None)
    return path


_cache: dict[str, tuple[tuple, Model]] = {}


def load_model(name: str = DEFAULT, directory: Path | None = None) -> Model:
    """Load and check a model; raises ModelFileError with a plain reason if anything is off."""
    name = check_name(name)
    path, sidecar = model_paths(name, directory)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ModelFileError(
            Message(
                "errors.model.not_found",
                f"No model called {name!r} (looked for {path.name} in {path.parent}).",
                name=name,
                file=path.name,
                folder=str(path.parent),
            )
        ) from None
    except OSError as e:
        raise ModelFileError(explain_os_error(e, _reading(name))) from e
    side = sidecar.stat().st_mtime_ns if sidecar.exists() else None
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino, side)
    hit = _cache.get(str(path))
    if hit and hit[0] == stamp:
        return hit[1]
    if st.st_size > modelfile.MAX_FILE_BYTES:  # refused before reading a byte
        raise ModelFileError(modelfile.too_large(path.name, st.st_size))
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise ModelFileError(explain_os_error(e, _reading(name))) from e
    legacy = (lambda: _legacy_meta(sidecar, blob)) if side is not None else None
    meta, W, b = modelfile.decode(blob, path.name, ACTIVATIONS, legacy)
    model = Model(name, Network(list(meta["sizes"]), meta["activation"], W, b), meta)
    _cache[str(path)] = (stamp, model)
    return model


def _reading(name: str) -> Message:
    return Message("errors.doing.read_model", f"read the model {name!r}", name=name)


def _legacy_meta(sidecar: Path, blob: bytes) -> dict | None:
    """A version 1 sidecar's metadata, checked against the arrays' SHA-256 it records."""
    import json

    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except OSError as e:
        doing = Message("errors.doing.read_file", f"read {sidecar.name}", file=sidecar.name)
        raise ModelFileError(explain_os_error(e, doing)) from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(
            Message(
                "errors.model.sidecar_damaged",
                f"The metadata file {sidecar.name} is damaged or not JSON ({e}).",
                file=sidecar.name,
                detail=str(e),
            )
        ) from e
    digest = meta.get("npz_sha256") if isinstance(meta, dict) else None
    if isinstance(digest, str) and hashlib.sha256(blob).hexdigest() != digest:
        file = sidecar.with_suffix(".npz").name
        raise ModelFileError(
            Message(
                "errors.model.checksum",
                f"{file} does not match its metadata (checksum differs): "
                f"the file was changed, damaged or half-written.",
                file=file,
            )
        )
    return meta


def read_model_bytes(blob: bytes, name: str) -> Model:
    """Check an uploaded model file completely and return it (nothing is written)."""
    what = Message("errors.model.the_file", f"The file {name!r}", name=name)
    meta, W, b = modelfile.decode(blob, what, ACTIVATIONS)
    return Model(name, Network(list(meta["sizes"]), meta["activation"], W, b), meta)


def model_file_bytes(name: str, directory: Path | None = None) -> bytes:
    """One file holding a saved model and its metadata, for a download (pairs converted)."""
    model = load_model(name, directory)
    meta = {**model.meta, "format_version": FORMAT_VERSION, "name": name}
    meta.pop("npz_sha256", None)
    return modelfile.encode(meta, model.net.W, model.net.b)


def import_model(
    name: str, blob: bytes, overwrite: bool = False, directory: Path | None = None
) -> Path:
    """Save an uploaded model file as NAME after checking it like any model file."""
    name = check_name(name)
    model = read_model_bytes(blob, name)
    meta = {**model.meta, "name": name}
    blob = modelfile.encode(meta, model.net.W, model.net.b)
    return _store(name, blob, overwrite, False, directory)


def list_models(directory: Path | None = None) -> list[str]:
    """Names of the saved models, `default` first."""
    d = _dir(directory)
    # NFC: a disk that keeps names decomposed (macOS) lists "é" as "e" + accent.
    names = sorted({normal_name(p.stem) for p in d.glob("*.npz")} - {""})
    names = [n for n in names if valid_name(n)]
    return sorted(names, key=lambda n: n != DEFAULT)


def delete_model(name: str, directory: Path | None = None) -> None:
    """Remove a saved model (never `default`)."""
    name = check_name(name)
    if same_name_key(name) == DEFAULT:
        raise ValueError(
            Message(
                "errors.model.default_undeletable", "The shipped 'default' model cannot be deleted."
            )
        )
    path, sidecar = model_paths(name, directory)
    try:
        with file_lock(_lock_path(name, directory)):
            path.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
    except OSError as e:
        doing = Message("errors.doing.delete_model", f"delete the model {name!r}", name=name)
        raise StorageError(explain_os_error(e, doing)) from e
    _cache.pop(str(path), None)
