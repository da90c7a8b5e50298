"""Model files: a round trip keeps every number; damaged, forged or unsafe files are refused with
a reason before anything large is inflated; a save is whole or not at all, even against a
concurrent save from another process, a kill -9 in the middle or a full disk."""

import errno
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core import model_store
from core.fileio import StorageError
from core.model_store import (
    ModelFileError,
    delete_model,
    import_model,
    list_models,
    load_model,
    model_file_bytes,
    model_paths,
    save_model,
)
from core.network import init_network
from core.store import modelfile
from core.train import TrainConfig

ROOT = Path(__file__).resolve().parent.parent


def _save(name="m1", sizes=(784, 12, 10), seed=0, **kw):
    net = init_network(list(sizes), "tanh", np.random.default_rng(seed))
    save_model(
        name,
        net,
        TrainConfig(hidden=sizes[1:-1], activation="tanh"),
        {"kind": "done", "test_acc": 0.5},
        **kw,
    )
    return net


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in members.items():
            z.writestr(name, blob)
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a)
    return buf.getvalue()


def _npy_header_only(shape, descr="<f4") -> bytes:
    """A .npy that declares `shape` but holds no data: what a forger sends."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1")


def _forge(weights_tmp, change) -> None:
    """Save m1, let `change` edit its members, write the file back."""
    _save(overwrite=True)
    path = model_paths("m1")[0]
    members = _members(path)
    meta = json.loads(members["meta.json"])
    members = change(members, meta) or members
    members.setdefault("meta.json", b"")
    if isinstance(members["meta.json"], dict):
        members["meta.json"] = json.dumps(members["meta.json"]).encode()
    path.write_bytes(_zip(members))


# --- round trips --------------------------------------------------------------------------------


def test_a_saved_model_loads_back_with_identical_weights_and_metadata(weights_tmp):
    net = _save(sizes=(784, 12, 7, 10))
    model = load_model("m1")
    for a, b in zip(net.W + net.b, model.net.W + model.net.b, strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.net.sizes == [784, 12, 7, 10] and model.net.activation == "tanh"
    assert model.meta["config"]["hidden"] == [12, 7]
    assert model.meta["metrics"] == {"test_acc": 0.5}
    assert model.meta["format_version"] == 2 and model.meta["data_checksum"]
    X = np.random.default_rng(1).random((3, 784)).astype(np.float32)
    np.testing.assert_allclose(model.predict_proba(X), net.predict_proba(X))
    assert TrainConfig.from_dict(model.meta["config"]).hidden == (12, 7)


def test_a_model_is_one_file_holding_its_arrays_and_metadata(weights_tmp):
    _save()
    files = sorted(p.name for p in weights_tmp.iterdir() if not p.name.endswith(".lock"))
    assert files == ["m1.npz"]  # no temp file, no sidecar
    assert sorted(_members(weights_tmp / "m1.npz")) == [
        "W1.npy",
        "W2.npy",
        "b1.npy",
        "b2.npy",
        "meta.json",
    ]


def test_an_old_npz_and_json_pair_still_loads_and_is_replaced_by_one_file(weights_tmp):
    net = init_network([784, 6, 10], "relu", np.random.default_rng(3))
    arrays = {"W1": net.W[0], "b1": net.b[0], "W2": net.W[1], "b2": net.b[1]}
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    (weights_tmp / "old.npz").write_bytes(buf.getvalue())
    import hashlib

    meta = {
        "format_version": 1,
        "name": "old",
        "sizes": [784, 6, 10],
        "activation": "relu",
        "metrics": {"test_acc": 0.9},
        "npz_sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
    }
    (weights_tmp / "old.json").write_text(json.dumps(meta))
    model = load_model("old")
    np.testing.assert_array_equal(model.net.W[0], net.W[0])
    import_model("old-copy", model_file_bytes("old"))
    np.testing.assert_array_equal(load_model("old-copy").net.W[1], net.W[1])
    (weights_tmp / "old.npz").write_bytes(buf.getvalue()[:-10])  # the pair's checksum catches it
    with pytest.raises(ModelFileError, match="does not match its metadata|damaged"):
        load_model("old")


def test_the_shipped_default_model_loads_and_reads_probabilities():
    model = load_model("default")
    P = model.predict_proba(np.zeros((2, 784), np.float32))
    assert P.shape == (2, 10)
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-5)
    assert model.meta["command"].startswith("python -m core.train")
    assert model.meta["format_version"] == 2


@pytest.mark.mnist
def test_the_shipped_default_model_scores_at_least_98_5_percent_on_mnist_test(mnist):
    _, _, x_test, y_test = mnist
    pred = load_model("default").predict_proba(x_test.astype(np.float32) / 255).argmax(1)
    assert (pred == y_test).mean() >= 0.985


# --- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        *("../evil", "a/b", "a\\b", "", ".hidden", "x.npz", "a b", "x" * 65, "mine\n", "mine\r"),
        *("a\x00b", "tab\t", "zero\u200bwidth", "-lead", "_lead", "CON", "nul", "Com1", "lpt9"),
        *("模型。", "模型/名", "数" * 65, "全角：冒号"),
    ],
)
def test_unsafe_names_are_refused_for_loading_and_saving(weights_tmp, name):
    with pytest.raises(ValueError, match="Model names"):
        load_model(name)
    with pytest.raises(ValueError, match="Model names"):
        _save(name)
    assert list(weights_tmp.glob("*.npz")) == []


def test_default_is_never_overwritten_and_others_only_when_asked(weights_tmp):
    for name in ("default", "Default", "DEFAULT"):
        with pytest.raises(ValueError, match="shipped model"):
            _save(name)
    _save("mine")
    with pytest.raises(FileExistsError, match="already exists"):
        _save("mine")
    _save("mine", overwrite=True)


def test_names_that_differ_only_in_capitals_are_the_same_name(weights_tmp):
    first = _save("Mine", seed=1)
    for name in ("mine", "MINE"):
        with pytest.raises(ValueError, match="differ only in capitals"):
            _save(name, overwrite=True)
    assert list_models() == ["Mine"]
    np.testing.assert_array_equal(load_model("Mine").net.W[0], first.W[0])


def test_a_chinese_name_is_saved_listed_and_loaded_like_any_other(weights_tmp):
    net = _save("手写模型", seed=3)
    _save("café-2", seed=4)
    assert list_models() == ["café-2", "手写模型"]
    assert (weights_tmp / "手写模型.npz").exists()
    np.testing.assert_array_equal(load_model("手写模型").net.W[0], net.W[0])
    with pytest.raises(FileExistsError, match="already exists"):
        _save("手写模型")


def test_a_name_typed_decomposed_is_the_same_name_as_its_composed_spelling(weights_tmp):
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    first = _save(decomposed, seed=1)
    assert list_models() == [composed]  # kept in NFC, whatever the keyboard sent
    np.testing.assert_array_equal(load_model(decomposed).net.W[0], first.W[0])
    with pytest.raises(FileExistsError, match="already exists"):
        _save(composed)


def test_names_in_any_script_that_differ_only_in_capitals_are_the_same_name(weights_tmp):
    _save("Ölmodell-模型", seed=1)
    for name in ("ölmodell-模型", "ÖLMODELL-模型"):
        with pytest.raises(ValueError, match="differ only in capitals"):
            _save(name, overwrite=True)
    _save("Straße", seed=2)
    with pytest.raises(ValueError, match="differ only in capitals"):  # casefold: ß is ss
        _save("STRASSE")
    assert list_models() == ["Straße", "Ölmodell-模型"]


def test_a_missing_model_says_what_was_looked_for(weights_tmp):
    with pytest.raises(ModelFileError, match="No model called 'ghost'"):
        load_model("ghost")


def test_models_are_listed_default_first_and_can_be_deleted(weights_tmp):
    _save("zeta")
    _save("default", allow_default=True)
    _save("alpha")
    assert list_models() == ["default", "alpha", "zeta"]
    delete_model("zeta")
    assert list_models() == ["default", "alpha"]
    with pytest.raises(ValueError):
        delete_model("default")


# --- damaged and forged files -------------------------------------------------------------------


def test_a_truncated_model_file_is_refused_with_a_clear_error(weights_tmp):
    _save()
    path = model_paths("m1")[0]
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelFileError, match="damaged or not a NumPy"):
        load_model("m1")


def test_a_header_declaring_a_huge_array_is_refused_before_any_memory_is_used(weights_tmp):
    _forge(weights_tmp, lambda m, meta: {**m, "W1.npy": _npy_header_only((10**7, 10**7))})
    with pytest.raises(ModelFileError, match=r"W1.npy is \(10000000, 10000000\)"):
        load_model("m1")


def test_a_huge_network_in_the_metadata_is_refused_before_reading_arrays(weights_tmp):
    def change(m, meta):
        meta["sizes"] = [784, 10**7, 10]
        return {**m, "meta.json": meta, "W1.npy": _npy_header_only((784, 10**7))}

    _forge(weights_tmp, change)
    with pytest.raises(ModelFileError, match="unusable network"):
        load_model("m1")


@pytest.mark.parametrize(
    "dtype", [np.complex64, np.int32, np.float16, np.dtype(">f4"), np.uint8, np.bool_]
)
def test_weights_that_are_not_float32_or_float64_are_refused_not_cast(weights_tmp, dtype):
    def change(m, meta):
        a = np.load(io.BytesIO(m["W1.npy"]))
        return {**m, "W1.npy": _npy(a.astype(dtype))}

    _forge(weights_tmp, change)
    with pytest.raises(ModelFileError, match="must be float32 or float64"):
        load_model("m1")


def test_float64_weights_are_accepted(weights_tmp):
    def change(m, meta):
        return {**m, "W1.npy": _npy(np.load(io.BytesIO(m["W1.npy"])).astype(np.float64))}

    _forge(weights_tmp, change)
    assert load_model("m1").net.W[0].dtype == np.float32


def test_an_object_array_is_refused_without_unpickling(weights_tmp):
    obj = np.empty((784, 12), dtype=object)
    _forge(weights_tmp, lambda m, meta: {**m, "W1.npy": _npy_header_only((784, 12), "|O")})
    with pytest.raises(ModelFileError, match="float32 or float64"):
        load_model("m1")
    del obj


def test_member_names_are_checked_before_anything_is_inflated(weights_tmp, monkeypatch):
    bomb = b"\0" * (50 * 2**20)  # 50 MB of zeros, 50 KB compressed

    _forge(weights_tmp, lambda m, meta: {**m, "../../evil.npy": bomb})
    opened = []
    real_open = zipfile.ZipFile.open

    def spy(self, member, *args, **kwargs):
        opened.append(getattr(member, "filename", member))
        return real_open(self, member, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    with pytest.raises(ModelFileError, match="unexpected: ../../evil.npy"):
        load_model("m1")
    assert "../../evil.npy" not in opened and "W1.npy" not in opened


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda meta: meta.update(metrics=[1, 2]), "'metrics' must be a mapping"),
        (lambda meta: meta.update(metrics="99%"), "'metrics' must be a mapping"),
        (lambda meta: meta["metrics"].update(test_acc="high"), "not a number"),
        (lambda meta: meta["metrics"].update(test_acc=7.5), "not in \\[0, 1\\]"),
        (lambda meta: meta["metrics"].update(val_acc={"a": 1}), "not a number"),
        (lambda meta: meta.update(config=[1]), "'config' must be a mapping"),
        (lambda meta: meta.update(finetune="yes"), "'finetune' must be a mapping"),
        (lambda meta: meta.update(command=5), "'command' must be text"),
        (lambda meta: meta.update(sizes=[784, True, 10]), "unusable network"),
        (lambda meta: meta.update(sizes="784,12,10"), "unusable network"),
        (lambda meta: meta.update(activation="gelu"), "unusable network"),
        (lambda meta: meta.update(format_version=99), "not a model file of this app"),
    ],
)
def test_metadata_of_the_wrong_type_is_refused_on_load(weights_tmp, edit, words):
    def change(m, meta):
        edit(meta)
        return {**m, "meta.json": meta}

    _forge(weights_tmp, change)
    with pytest.raises(ModelFileError, match=words):
        load_model("m1")


def test_shapes_that_do_not_match_the_metadata_are_refused(weights_tmp):
    def change(m, meta):
        meta["sizes"] = [784, 13, 10]
        return {**m, "meta.json": meta}

    _forge(weights_tmp, change)
    with pytest.raises(ModelFileError, match=r"W1.npy is \(784, 12\), but the metadata says"):
        load_model("m1")


def test_a_foreign_or_broken_metadata_file_is_refused(weights_tmp):
    _forge(weights_tmp, lambda m, meta: {**m, "meta.json": b'{"hello": "world"}'})
    with pytest.raises(ModelFileError, match="not a model file of this app"):
        load_model("m1")
    _forge(weights_tmp, lambda m, meta: {**m, "meta.json": b"{not json"})
    with pytest.raises(ModelFileError, match="not JSON"):
        load_model("m1")


def test_weights_holding_nan_are_refused(weights_tmp):
    net = init_network([784, 4, 10], "relu", np.random.default_rng(0))
    net.W[1][0, 0] = np.nan
    save_model("nan", net)
    with pytest.raises(ModelFileError, match="NaN"):
        load_model("nan")


def test_an_oversized_file_is_refused_before_it_is_read(weights_tmp, monkeypatch):
    _save()
    monkeypatch.setattr(modelfile, "MAX_FILE_BYTES", 1000)
    with pytest.raises(ModelFileError, match="model files are at most"):
        load_model("m1")
    with pytest.raises(ModelFileError, match="model files are at most"):
        import_model("up", b"\0" * 2000)


def test_an_uploaded_model_is_checked_like_any_model_file(weights_tmp):
    net = _save("src")
    blob = model_file_bytes("src")
    import_model("uploaded", blob)
    np.testing.assert_array_equal(load_model("uploaded").net.W[0], net.W[0])
    assert load_model("uploaded").meta["name"] == "uploaded"
    with pytest.raises(FileExistsError, match="already exists"):
        import_model("uploaded", blob)
    with pytest.raises(ModelFileError, match="damaged or not a NumPy"):
        import_model("junk", b"PK\x03\x04 not really a zip")
    forged = _zip({**_members(model_paths("src")[0]), "W1.npy": _npy_header_only((10**7, 10**7))})
    with pytest.raises(ModelFileError, match="10000000"):
        import_model("forged", forged)
    with pytest.raises(ValueError, match="shipped model"):
        import_model("default", blob)
    assert sorted(list_models()) == ["src", "uploaded"]


# --- saving is whole or not at all --------------------------------------------------------------

_RACER = """
import sys, time
from pathlib import Path
import numpy as np
from core.model_store import save_model
from core.network import init_network
folder, who, start, names = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4:]
net = init_network([784, 8, 10], "relu", np.random.default_rng(int(who)))
for name in names:
    while time.time() < start:  # both processes leave the line together
        time.sleep(0.0005)
    start += 0.3
    try:
        save_model(name, net, directory=folder)
        print(name, "saved", flush=True)
    except (FileExistsError, ValueError) as e:  # taken; or taken in other capitals
        print(name, "refused", str(e).split(";")[0], flush=True)
"""


def test_of_two_processes_saving_the_same_new_name_exactly_one_succeeds(tmp_path):
    names = [f"race{k}" for k in range(8)] + ["Case", "case"]
    start = time.time() + 4.0  # time enough for both interpreters to import numpy
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(tmp_path), who, str(start), *names],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for who in ("1", "2")
    ]
    outputs = [p.communicate(timeout=300)[0].splitlines() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    lines = [line.split(" ", 2) for out in outputs for line in out]
    for name in names[:-2]:
        results = sorted(r[1] for r in lines if r[0] == name)
        assert results == ["refused", "saved"], (name, lines)
        refusal = next(r[2] for r in lines if r[0] == name and r[1] == "refused")
        assert refusal == f"A model called {name!r} already exists"
        model = load_model(name, directory=tmp_path)  # the winner's file is whole
        assert model.net.sizes == [784, 8, 10]
    # "Case" and "case" are one name: across both processes, one save in four succeeds
    assert sum(r[1] == "saved" for r in lines if r[0].lower() == "case") == 1
    assert len(list_models(tmp_path)) == len(names) - 1


_SAVER = """
import sys
from pathlib import Path
import numpy as np
from core.model_store import save_model
from core.network import init_network
folder = Path(sys.argv[1])
nets = [init_network([784, 64, 10], "relu", np.random.default_rng(s)) for s in (1, 2)]
print("ready", flush=True)
k = 0
while True:
    save_model("victim", nets[k % 2], metrics={"test_acc": k % 2 / 2}, overwrite=True,
               directory=folder)
    k += 1
"""


def test_a_save_killed_at_a_random_moment_leaves_the_old_or_the_new_model(tmp_path):
    from core.network import init_network as make

    nets = [make([784, 64, 10], "relu", np.random.default_rng(s)) for s in (1, 2)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(0)
    for _ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(tmp_path)], stdout=subprocess.PIPE, env=env
        )
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 0.6))  # somewhere inside one of the saves
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        model_store._cache.clear()
        if not model_paths("victim", tmp_path)[0].exists():
            continue  # killed before its first save finished: no model, and no half one
        model = load_model("victim", directory=tmp_path)
        which = 0 if model.meta["metrics"]["test_acc"] == 0 else 1
        for a, b in zip(model.net.W + model.net.b, nets[which].W + nets[which].b, strict=True):
            np.testing.assert_array_equal(a, b)  # arrays and metadata of the same save
    assert list_models(tmp_path) == ["victim"]


def test_a_full_disk_gives_a_plain_message_and_keeps_the_old_model(weights_tmp, monkeypatch):
    old = _save("kept", seed=1)
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StorageError, match="the disk is full. Nothing already stored"):
        _save("kept", seed=2, overwrite=True)
    with pytest.raises(StorageError, match="the disk is full"):
        _save("fresh")
    monkeypatch.setattr(os, "fsync", real_fsync)
    np.testing.assert_array_equal(load_model("kept").net.W[0], old.W[0])
    assert list_models() == ["kept"]
    assert not [p for p in weights_tmp.iterdir() if p.name.endswith(".tmp")]


def test_permission_denied_gives_a_plain_message(weights_tmp, monkeypatch):
    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(weights_tmp))

    monkeypatch.setattr(model_store, "atomic_write_bytes", denied)
    with pytest.raises(StorageError, match="permission was denied"):
        _save("nope")


def test_a_real_full_disk_keeps_the_old_model(tmp_path):
    """On a 1 MB tmpfs (needs root and a kernel that lets us mount); skipped elsewhere."""
    disk = tmp_path / "small"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:  # fmt: skip
        pytest.skip("cannot mount a tmpfs here")
    try:
        small = init_network([784, 64, 10], "relu", np.random.default_rng(0))
        save_model("small", small, directory=disk)
        big = init_network([784, 512, 10], "relu", np.random.default_rng(1))  # ~1.5 MB
        with pytest.raises(StorageError, match="the disk is full"):
            save_model("small", big, overwrite=True, directory=disk)
        with pytest.raises(StorageError, match="the disk is full"):
            save_model("big", big, directory=disk)
        model_store._cache.clear()
        np.testing.assert_array_equal(load_model("small", directory=disk).net.W[0], small.W[0])
        assert list_models(disk) == ["small"]
    finally:
        subprocess.run(["umount", str(disk)], check=False)
