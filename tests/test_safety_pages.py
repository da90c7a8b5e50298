"""Faults meet the pages as messages, never tracebacks: a damaged drawing, a full disk, a canvas
that is not RGBA or far too large, and models going in and out through the Models page."""

from __future__ import annotations

import errno
import io
import os
import zipfile

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import model_store, paths
from core.model_store import list_models, load_model, save_model
from core.network import init_network
from core.personal import PersonalSet
from core.train import preset
from tests.test_app_pages import blank_canvas, canvas_state
from tests.test_personal import drawing

APP = str(paths.ROOT / "app.py")


@pytest.fixture
def store(tmp_path, monkeypatch, weights_tmp):
    """A personal set in a temp data folder and a small random `default` in temp weights."""
    monkeypatch.setenv("NNDIGITS_DATA_DIR", str(tmp_path / "data"))
    net = init_network([784, 32, 10], "relu", np.random.default_rng(0))
    save_model("default", net, preset("quick", hidden=(32,)), {"test_acc": 0.5}, allow_default=True)
    return PersonalSet()


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def all_text(at: AppTest) -> str:
    kinds = [at.markdown, at.caption, at.info, at.warning, at.error, at.success, at.code]
    return "\n".join(str(e.value) for kind in kinds for e in kind)


def test_a_damaged_drawing_is_listed_and_can_be_deleted_from_my_digits(store):
    for k in range(3):
        x28, canvas = drawing(k)
        store.add(x28, k, canvas=canvas)
    victim = store.items()[1]
    path = store.image_path(victim.id)
    path.write_bytes(path.read_bytes()[:60])
    at = open_page("pages/my_digits.py")
    text = all_text(at)
    assert "Damaged drawings" in str([e.proto for e in at.expander]) and victim.id in text
    assert "left out of the export" in text
    assert len(at.image) == 2  # the two good ones
    [delete] = [b for b in at.button if b.key == f"md_del_damaged_{victim.id}"]
    delete.click().run()
    assert not at.exception
    assert store.listing().damaged == [] and len(store) == 2


def test_a_full_disk_when_keeping_a_drawing_is_a_message_and_loses_nothing(store, monkeypatch):
    x28, canvas = drawing(1)
    store.add(x28, 1, canvas=canvas)
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("pages/draw.py").run()
    img = blank_canvas()
    img[40:240, 130:150, :3] = 255
    at.session_state["canvas_0"] = canvas_state(img)
    at.run()
    real_replace = os.replace

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    # The random `default` is unsure of the bar, so the page says "?" and "Right" is disabled:
    # the drawing is kept through "Wrong, it is ...", which writes the same way.
    keep = next(b for b in at.button if (b.key or "").startswith("fb_digit_") and not b.disabled)
    keep.click().run()
    monkeypatch.setattr(os, "replace", real_replace)
    assert not at.exception
    assert any("the disk is full" in e.value for e in at.error)
    assert len(store) == 1  # what was kept before is still there


@pytest.mark.parametrize(
    "image, words",
    [
        (np.zeros((280, 280), np.uint8), "RGBA"),  # an L-mode canvas
        (np.zeros((1100, 1100, 4), np.uint8), "at most 1024 x 1024"),
    ],
)
def test_a_canvas_that_breaks_the_limits_is_refused_with_a_message(store, image, words):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("pages/draw.py").run()
    at.session_state["canvas_0"] = canvas_state(image)
    at.run()
    assert not at.exception
    assert any(words in e.value for e in at.error)
    assert at.session_state["drawing_x28"] is None
    assert not [b for b in at.button if b.label == "Right"]


def test_the_models_page_offers_downloads_and_deletes_only_your_models(store):
    net = init_network([784, 8, 10], "relu", np.random.default_rng(1))
    save_model("mine", net)
    at = open_page("pages/models.py")
    keys = {b.key for b in at.button}
    assert "models_delete_mine" in keys and "models_delete_default" not in keys
    downloads = at.get("download_button")
    assert len(downloads) == 2  # default and mine: every model can be taken away
    [delete] = [b for b in at.button if b.key == "models_delete_mine"]
    delete.click().run()
    assert not at.exception
    assert "Deleted mine" in all_text(at)
    assert list_models() == ["default"]


def test_a_downloaded_model_is_one_file_that_uploads_back_identical(store, tmp_path):
    from core.store import workspace

    net = init_network([784, 8, 10], "relu", np.random.default_rng(2))
    save_model("mine", net, metrics={"test_acc": 0.25})
    local = workspace.local()
    blob = local.model_file("mine")
    assert "meta.json" in zipfile.ZipFile(io.BytesIO(blob)).namelist()
    local.import_model("mine-again", blob)
    again = load_model("mine-again")
    np.testing.assert_array_equal(again.net.W[0], net.W[0])
    assert again.meta["metrics"] == {"test_acc": 0.25}
    with pytest.raises(ValueError, match="cannot be deleted|not one of your models"):
        local.delete_model("default")
    model_store._cache.clear()
