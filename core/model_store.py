"""Model files: `weights/NAME.npz` holds the arrays, `weights/NAME.json` everything else.

Arrays are loaded with allow_pickle=False; the JSON sidecar carries the format version, layer
sizes, activation, the full TrainConfig, final metrics, the data checksum and the creation time,
plus the SHA-256 of the .npz so a pair that does not belong together is caught. Writes are
atomic. This module must not train or draw anything.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import paths
from core.fileio import atomic_write_bytes, atomic_write_json
from core.network import ACTIVATIONS, Network

FORMAT_VERSION = 1
DEFAULT = "default"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class ModelFileError(ValueError):
    """A model file that is missing, damaged, foreign or inconsistent with its metadata."""


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


def check_name(
    name: str,
    for_writing: bool = False,
    overwrite: bool = False,
    allow_default: bool = False,
    directory: Path | None = None,
) -> str:
    """Validate a model name: letters, digits, '-' and '_' only, so it can never be a path."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"Model names use letters, digits, '-' and '_' (1-64 characters, no "
            f"spaces, dots or slashes); {name!r} is not one."
        )
    if for_writing:
        if name == DEFAULT and not allow_default:
            raise ValueError(
                "'default' is the shipped model and cannot be replaced here; choose another name."
            )
        npz, _ = model_paths(name, directory)
        if npz.exists() and not overwrite:
            raise FileExistsError(
                f"A model called {name!r} already exists; choose another name "
                f"or confirm that it should be replaced."
            )
    return name


def model_paths(name: str, directory: Path | None = None) -> tuple[Path, Path]:
    d = Path(directory) if directory is not None else paths.weights_dir()
    return d / f"{name}.npz", d / f"{name}.json"


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
    """Write NAME.npz then NAME.json, each atomically; returns the .npz path."""
    check_name(
        name,
        for_writing=True,
        overwrite=overwrite,
        allow_default=allow_default,
        directory=directory,
    )
    from core.data import DATA_CHECKSUM

    arrays = {}
    for l, (W, b) in enumerate(zip(net.W, net.b, strict=True), start=1):
        arrays[f"W{l}"] = np.ascontiguousarray(W, dtype=np.float32)
        arrays[f"b{l}"] = np.ascontiguousarray(b, dtype=np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    blob = buf.getvalue()
    metrics = {k: v for k, v in (metrics or {}).items() if k != "kind"}
    meta = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "sizes": list(net.sizes),
        "activation": net.activation,
        "config": config.to_dict() if hasattr(config, "to_dict") else config,
        "metrics": metrics,
        "data_checksum": DATA_CHECKSUM,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command,
        "npz_sha256": hashlib.sha256(blob).hexdigest(),
        **(extra or {}),
    }
    npz, js = model_paths(name, directory)
    atomic_write_bytes(npz, blob)
    atomic_write_json(js, meta)
    _cache.pop(str(npz), None)
    return npz


_cache: dict[str, tuple[tuple, Model]] = {}


def load_model(name: str = DEFAULT, directory: Path | None = None) -> Model:
    """Load and check a model; raises ModelFileError with a plain reason if anything is off."""
    check_name(name)
    npz, js = model_paths(name, directory)
    if not npz.exists() or not js.exists():
        raise ModelFileError(
            f"No model called {name!r} (looked for {npz.name} and {js.name} in {npz.parent})."
        )
    stamp = (npz.stat().st_mtime_ns, npz.stat().st_size, js.stat().st_mtime_ns)
    hit = _cache.get(str(npz))
    if hit and hit[0] == stamp:
        return hit[1]
    model = _read(name, npz, js)
    _cache[str(npz)] = (stamp, model)
    return model


def _read(name: str, npz: Path, js: Path) -> Model:
    try:
        meta = json.loads(js.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"The metadata file {js.name} is damaged or not JSON ({e}).") from e
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{js.name} is not a model file of this app (format version {FORMAT_VERSION} expected)."
        )
    sizes, act = meta.get("sizes"), meta.get("activation")
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or sizes[0] != 784
        or sizes[-1] != 10
        or not all(isinstance(s, int) and s > 0 for s in sizes)
        or act not in ACTIVATIONS
    ):
        raise ModelFileError(
            f"{js.name} describes an unusable network (sizes {sizes}, "
            f"activation {act!r}); a digit model goes 784 -> ... -> 10."
        )
    blob = npz.read_bytes()
    if meta.get("npz_sha256") and hashlib.sha256(blob).hexdigest() != meta["npz_sha256"]:
        raise ModelFileError(
            f"{npz.name} does not match its metadata (checksum differs): the "
            f"file was changed, damaged or half-written."
        )
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise ModelFileError(f"{npz.name} is damaged or not a NumPy .npz file ({e}).") from e
    W, b = [], []
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        w, c = arrays.get(f"W{l}"), arrays.get(f"b{l}")
        if w is None or c is None:
            raise ModelFileError(f"{npz.name} lacks the arrays W{l}/b{l} its metadata promises.")
        if w.shape != (n_in, n_out) or c.shape != (n_out,):
            raise ModelFileError(
                f"{npz.name}: W{l} is {w.shape} and b{l} is {c.shape}, but the "
                f"metadata says ({n_in}, {n_out}) and ({n_out},)."
            )
        if not (np.isfinite(w).all() and np.isfinite(c).all()):
            raise ModelFileError(f"{npz.name}: W{l} or b{l} holds NaN or infinite values.")
        W.append(w.astype(np.float32))
        b.append(c.astype(np.float32))
    if len(arrays) != 2 * len(W):
        raise ModelFileError(f"{npz.name} holds arrays its metadata does not describe.")
    return Model(name, Network(list(sizes), act, W, b), meta)


def list_models(directory: Path | None = None) -> list[str]:
    """Names of the saved models, `default` first."""
    d = Path(directory) if directory is not None else paths.weights_dir()
    names = sorted(
        p.stem for p in d.glob("*.npz") if _NAME.match(p.stem) and (d / f"{p.stem}.json").exists()
    )
    return sorted(names, key=lambda n: n != DEFAULT)


def delete_model(name: str, directory: Path | None = None) -> None:
    """Remove a saved model (never `default`)."""
    check_name(name)
    if name == DEFAULT:
        raise ValueError("The shipped 'default' model cannot be deleted.")
    for p in model_paths(name, directory):
        p.unlink(missing_ok=True)
    _cache.pop(str(model_paths(name, directory)[0]), None)
