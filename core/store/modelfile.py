"""One model, one file: a zip (`.npz`) holding `meta.json` and the arrays `W1.npy`, `b1.npy`, ...

Owns encoding that file and reading it back without trusting it: the archive's member names,
each array's dtype and shape are read from the zip directory and the .npy headers and checked
against the metadata before a single array is inflated, so a forged header declaring a
10^7 x 10^7 array is refused with a message instead of a MemoryError. Metadata is checked by
type. It never touches the file system: bytes in, bytes out (core.model_store does the rest).
"""

from __future__ import annotations

import io
import json
import math
import zipfile

import numpy as np

from core.messages import Message

FORMAT_VERSION = 2  # one file with its metadata inside; version 1 was an .npz + .json pair
LEGACY_VERSION = 1
META = "meta.json"
MAX_FILE_BYTES = 200 * 2**20  # a 784-4096-4096-4096-4096-10 float32 model compresses below this
MAX_META_BYTES = 2**20
MAX_HIDDEN_LAYERS = 4  # as TrainConfig allows
MAX_UNITS = 4096
DTYPES = (np.dtype("<f4"), np.dtype("<f8"))  # float32 or float64, little-endian


class ModelFileError(ValueError):
    """A model file that is missing, damaged, foreign or inconsistent with its metadata."""


def _bad(key: str, english: str, /, **params) -> ModelFileError:
    """A ModelFileError saying `english`, translatable as "errors.model_file.<key>"."""
    return ModelFileError(Message(f"errors.model_file.{key}", english, **params))


def too_large(what: str, size: int) -> ModelFileError:
    """A file over MAX_FILE_BYTES, refused before it is read."""
    mb, limit = f"{size / 2**20:.0f}", MAX_FILE_BYTES // 2**20
    return _bad(
        "too_large",
        f"{what} is {mb} MB; model files are at most {limit} MB.",
        what=what,
        mb=mb,
        limit=limit,
    )


def encode(meta: dict, W: list[np.ndarray], b: list[np.ndarray]) -> bytes:
    """The model file's bytes: meta.json first, then W1, b1, W2, ... as float32 .npy members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(META, json.dumps(meta, indent=2) + "\n")
        for l, (w, c) in enumerate(zip(W, b, strict=True), start=1):
            for key, a in ((f"W{l}", w), (f"b{l}", c)):
                arr = io.BytesIO()
                np.lib.format.write_array(arr, np.ascontiguousarray(a, dtype=np.float32))
                z.writestr(f"{key}.npy", arr.getvalue())
    return buf.getvalue()


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_meta(meta, what: str, activations) -> dict:
    """Check the metadata's types; returns it, or raises ModelFileError naming the problem."""
    if not isinstance(meta, dict):
        raise _bad("meta_not_object", f"{what}: the metadata is not a JSON object.", what=what)
    if meta.get("format_version") not in (FORMAT_VERSION, LEGACY_VERSION):
        raise _bad(
            "foreign",
            f"{what} is not a model file of this app (format version {FORMAT_VERSION} expected).",
            what=what,
            version=FORMAT_VERSION,
        )
    sizes, act = meta.get("sizes"), meta.get("activation")
    if (
        not isinstance(sizes, list)
        or not 2 <= len(sizes) <= MAX_HIDDEN_LAYERS + 2
        or not all(_is_int(s) and 1 <= s <= MAX_UNITS for s in sizes)
        or sizes[0] != 784
        or sizes[-1] != 10
        or act not in activations
    ):
        raise _bad(
            "unusable",
            f"{what} describes an unusable network (sizes {sizes!r}, activation {act!r}); a "
            f"digit model goes 784 -> up to {MAX_HIDDEN_LAYERS} layers of 1-{MAX_UNITS} -> 10.",
            what=what,
            sizes=repr(sizes),
            act=repr(act),
            layers=MAX_HIDDEN_LAYERS,
            units=MAX_UNITS,
        )
    metrics = meta.setdefault("metrics", {})
    if metrics is None:
        metrics = meta["metrics"] = {}
    if not isinstance(metrics, dict) or not all(isinstance(k, str) for k in metrics):
        raise _bad(
            "metrics", f"{what}: 'metrics' must be a mapping of names to numbers.", what=what
        )
    for key, value in metrics.items():
        if not (value is None or isinstance(value, bool | int | float | str)):
            raise _bad(
                "metric",
                f"{what}: metric {key!r} is not a number ({value!r}).",
                what=what,
                key=repr(key),
                value=repr(value),
            )
        if key.endswith(("_acc", "_loss")) and value is not None and not _is_number(value):
            raise _bad(
                "metric",
                f"{what}: metric {key!r} is not a number ({value!r}).",
                what=what,
                key=repr(key),
                value=repr(value),
            )
        if key.endswith("_acc") and _is_number(value) and math.isfinite(value):
            if not 0 <= value <= 1:
                raise _bad(
                    "accuracy",
                    f"{what}: accuracy {key!r} is {value}, not in [0, 1].",
                    what=what,
                    key=repr(key),
                    value=value,
                )
    for keys, kind, code, must in (
        (("config", "finetune"), dict, "not_mapping", "must be a mapping"),
        (
            ("name", "created", "command", "data_checksum", "npz_sha256"),
            str,
            "not_text",
            "must be text",
        ),
    ):
        for key in keys:
            if meta.get(key) is not None and not isinstance(meta[key], kind):
                raise _bad(
                    code,
                    f"{what}: {key!r} {must}, not {meta[key]!r}.",
                    what=what,
                    key=repr(key),
                    value=repr(meta[key]),
                )
    return meta


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise _bad(
            "member_large",
            f"{info.filename} declares {info.file_size:,} bytes; too large.",
            member=info.filename,
            size=f"{info.file_size:,}",
        )
    with z.open(info) as f:
        blob = f.read(limit + 1)
    if len(blob) != info.file_size:
        raise _bad(
            "member_size",
            f"{info.filename} is not the size the archive says.",
            member=info.filename,
        )
    return blob


def _open_array(z: zipfile.ZipFile, info: zipfile.ZipInfo, shape: tuple, what: str):
    """Open one .npy member and check its header (dtype, shape); returns (stream, dtype).

    Only the header's few bytes are inflated here; the caller reads the data, or closes.
    """
    name = info.filename
    f = z.open(info)
    try:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                got, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                got, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except ValueError as e:
            raise _bad(
                "header",
                f"{what}: {name} has no readable array header ({e}).",
                what=what,
                member=name,
                detail=str(e),
            ) from e
        if dtype not in DTYPES:
            raise _bad(
                "dtype",
                f"{what}: {name} holds {dtype} numbers; weights must be float32 or float64.",
                what=what,
                member=name,
                dtype=str(dtype),
            )
        if got != shape or fortran:
            got = f"{got}{' (Fortran order)' if fortran else ''}"
            raise _bad(
                "shape",
                f"{what}: {name} is {got}, but the metadata says {shape}.",
                what=what,
                member=name,
                got=got,
                shape=str(shape),
            )
    except BaseException:
        f.close()
        raise
    return f, dtype


def _read_array(z: zipfile.ZipFile, info: zipfile.ZipInfo, shape: tuple, what: str) -> np.ndarray:
    """Read one .npy member whose header was checked already."""
    f, dtype = _open_array(z, info, shape, what)
    with f:
        nbytes = math.prod(shape) * dtype.itemsize
        data = f.read(nbytes)
        if len(data) != nbytes or f.read(1):  # reading to the end also checks the zip's CRC
            raise _bad(
                "short",
                f"{what}: {info.filename} is not as long as its header says.",
                what=what,
                member=info.filename,
            )
    a = np.frombuffer(data, dtype=dtype).reshape(shape)
    if not np.isfinite(a).all():
        raise _bad(
            "not_finite",
            f"{what}: {info.filename} holds NaN or infinite values.",
            what=what,
            member=info.filename,
        )
    return a.astype(np.float32)


def decode(blob: bytes, what: str, activations, legacy_meta=None):
    """(meta, W list, b list) from a model file's bytes, every part checked.

    `legacy_meta` (a function, called only when needed) reads the JSON sidecar of a version 1
    pair; a file carrying its own meta.json never looks at it (a crash while converting a
    pair leaves the new file and a stale sidecar).
    """
    if len(blob) > MAX_FILE_BYTES:
        raise too_large(what, len(blob))
    try:
        z = zipfile.ZipFile(io.BytesIO(blob))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise _bad(
            "not_npz",
            f"{what} is damaged or not a NumPy .npz file ({e}).",
            what=what,
            detail=str(e),
        ) from e
    try:
        with z:
            infos = z.infolist()
            names = [i.filename for i in infos]
            if len(names) > 2 * (MAX_HIDDEN_LAYERS + 1) + 1 or len(set(names)) != len(names):
                raise _bad(
                    "members", f"{what} holds members a model file does not have.", what=what
                )
            members = dict(zip(names, infos, strict=True))
            if META in members:
                try:
                    meta = json.loads(_read_member(z, members.pop(META), MAX_META_BYTES))
                except (UnicodeDecodeError, json.JSONDecodeError) as e:
                    raise _bad(
                        "meta_json",
                        f"{what}: its metadata is not JSON ({e}).",
                        what=what,
                        detail=str(e),
                    ) from e
                meta = check_meta(meta, what, activations)
                if meta["format_version"] != FORMAT_VERSION:
                    raise _bad(
                        "meta_version",
                        f"{what}: its metadata has the wrong format version.",
                        what=what,
                    )
            elif legacy_meta is not None and (legacy := legacy_meta()) is not None:
                meta = check_meta(legacy, what, activations)
            else:
                raise _bad(
                    "no_meta",
                    f"{what} carries no metadata (meta.json); not a model file.",
                    what=what,
                )
            sizes = meta["sizes"]
            shapes = {}
            for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
                shapes[f"W{l}.npy"], shapes[f"b{l}.npy"] = (n_in, n_out), (n_out,)
            if set(members) != set(shapes):
                extra = sorted(set(members) - set(shapes))
                missing = sorted(set(shapes) - set(members))
                detail = (f"; unexpected: {', '.join(extra)[:200]}" if extra else "") + (
                    f"; missing: {', '.join(missing)}" if missing else ""
                )
                raise _bad(
                    "arrays",
                    f"{what} does not hold the arrays its metadata describes{detail}.",
                    what=what,
                    detail=detail,
                )
            for name, shape in shapes.items():  # every header checked before any data is read
                info = members[name]
                if info.flag_bits & 0x1:
                    raise _bad("encrypted", f"{what}: {name} is encrypted.", what=what, member=name)
                if info.file_size > 128 + math.prod(shape) * 8 + 1024:
                    raise _bad(
                        "oversized",
                        f"{what}: {name} declares {info.file_size:,} bytes, more than an array "
                        f"of shape {shape} needs.",
                        what=what,
                        member=name,
                        size=f"{info.file_size:,}",
                        shape=str(shape),
                    )
                _open_array(z, info, shape, what)[0].close()
            W, b = [], []
            for l in range(1, len(sizes)):
                W.append(_read_array(z, members[f"W{l}.npy"], shapes[f"W{l}.npy"], what))
                b.append(_read_array(z, members[f"b{l}.npy"], shapes[f"b{l}.npy"], what))
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as e:
        raise _bad(
            "not_npz",
            f"{what} is damaged or not a NumPy .npz file ({e}).",
            what=what,
            detail=str(e),
        ) from e
    except ValueError as e:
        if isinstance(e, ModelFileError):
            raise
        raise _bad("damaged", f"{what} is damaged ({e}).", what=what, detail=str(e)) from e
    return meta, W, b
