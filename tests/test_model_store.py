"""Model files: a round trip keeps every number; damaged, foreign or unsafe files are refused."""

import json

import numpy as np
import pytest

from core.model_store import (
    ModelFileError,
    delete_model,
    list_models,
    load_model,
    model_paths,
    save_model,
)
from core.network import init_network
from core.train import TrainConfig


def _save(name="m1", sizes=(784, 12, 10), **kw):
    net = init_network(list(sizes), "tanh", np.random.default_rng(0))
    save_model(
        name,
        net,
        TrainConfig(hidden=sizes[1:-1], activation="tanh"),
        {"kind": "done", "test_acc": 0.5},
        **kw,
    )
    return net


def test_a_saved_model_loads_back_with_identical_weights_and_metadata(weights_tmp):
    net = _save(sizes=(784, 12, 7, 10))
    model = load_model("m1")
    for a, b in zip(net.W + net.b, model.net.W + model.net.b, strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.net.sizes == [784, 12, 7, 10] and model.net.activation == "tanh"
    assert model.meta["config"]["hidden"] == [12, 7]
    assert model.meta["metrics"] == {"test_acc": 0.5}
    assert model.meta["format_version"] == 1 and model.meta["data_checksum"]
    X = np.random.default_rng(1).random((3, 784)).astype(np.float32)
    np.testing.assert_allclose(model.predict_proba(X), net.predict_proba(X))
    assert TrainConfig.from_dict(model.meta["config"]).hidden == (12, 7)


def test_saving_leaves_no_temporary_files_behind(weights_tmp):
    _save()
    assert sorted(p.name for p in weights_tmp.iterdir()) == ["m1.json", "m1.npz"]


def test_a_corrupt_weights_file_is_refused_with_a_clear_error(weights_tmp):
    _save()
    npz, js = model_paths("m1")
    npz.write_bytes(npz.read_bytes()[:200])
    with pytest.raises(ModelFileError, match="does not match its metadata"):
        load_model("m1")
    meta = json.loads(js.read_text())
    del meta["npz_sha256"]  # without the checksum, the zip itself must be judged
    js.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="damaged or not a NumPy"):
        load_model("m1")


def test_shapes_that_do_not_match_the_metadata_are_refused(weights_tmp):
    _save()
    _, js = model_paths("m1")
    meta = json.loads(js.read_text())
    meta["sizes"] = [784, 13, 10]
    del meta["npz_sha256"]
    js.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=r"W1 is \(784, 12\)"):
        load_model("m1")


def test_a_foreign_or_broken_metadata_file_is_refused(weights_tmp):
    _save()
    _, js = model_paths("m1")
    js.write_text('{"hello": "world"}')
    with pytest.raises(ModelFileError, match="not a model file of this app"):
        load_model("m1")
    js.write_text("{not json")
    with pytest.raises(ModelFileError, match="not JSON"):
        load_model("m1")


def test_weights_holding_nan_are_refused(weights_tmp):
    net = init_network([784, 4, 10], "relu", np.random.default_rng(0))
    net.W[1][0, 0] = np.nan
    save_model("nan", net)
    with pytest.raises(ModelFileError, match="NaN"):
        load_model("nan")


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "x.npz", "a b", "é", "x" * 65])
def test_unsafe_names_are_refused_for_loading_and_saving(weights_tmp, name):
    with pytest.raises(ValueError, match="Model names"):
        load_model(name)
    with pytest.raises(ValueError, match="Model names"):
        _save(name)


def test_default_is_never_overwritten_and_others_only_when_asked(weights_tmp):
    with pytest.raises(ValueError, match="shipped model"):
        _save("default")
    _save("mine")
    with pytest.raises(FileExistsError, match="already exists"):
        _save("mine")
    _save("mine", overwrite=True)


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


def test_the_shipped_default_model_loads_and_reads_probabilities():
    model = load_model("default")
    P = model.predict_proba(np.zeros((2, 784), np.float32))
    assert P.shape == (2, 10)
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-5)
    assert model.meta["command"].startswith("python -m core.train")


@pytest.mark.mnist
def test_the_shipped_default_model_scores_at_least_98_5_percent_on_mnist_test(mnist):
    _, _, x_test, y_test = mnist
    pred = load_model("default").predict_proba(x_test.astype(np.float32) / 255).argmax(1)
    assert (pred == y_test).mean() >= 0.985
