"""My digits, the Draw page's feedback and the Inspect table, run by Streamlit's AppTest against
the real app (app.py's navigation), with the personal set and models in temp folders."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import paths
from core.jobs import get_manager
from core.model_store import load_model, save_model
from core.network import init_network
from core.personal import PersonalSet
from core.train import preset
from tests.test_personal import drawing

APP = str(paths.ROOT / "app.py")
PAGE = "pages/my_digits.py"


@pytest.fixture
def store(tmp_path, monkeypatch, weights_tmp):
    """An empty personal set in a temp data folder (MNIST linked in when cached) and a small
    random network saved as `default` in a temp weights folder."""
    data = tmp_path / "data"
    data.mkdir()
    cache = paths.mnist_cache_file()
    if cache.exists():
        (data / cache.name).symlink_to(cache)
    monkeypatch.setenv("NNDIGITS_DATA_DIR", str(data))
    net = init_network([784, 32, 10], "relu", np.random.default_rng(0))
    save_model("default", net, preset("quick", hidden=(32,)), {"test_acc": 0.5}, allow_default=True)
    return PersonalSet()


def fill(store: PersonalSet, n: int, prediction: int = 3) -> None:
    for k in range(n):
        x28, canvas = drawing(k)
        store.add(x28, k % 4, canvas=canvas, prediction=prediction, model="default")


def open_page(page: str = PAGE) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_my_digits_explains_an_empty_set_without_errors(store):
    at = open_page()
    assert at.title[0].value == "My digits"
    assert "No digits kept yet" in at.info[0].value
    assert not at.image
    assert at.download_button[0].disabled


def test_my_digits_shows_every_kept_drawing_with_its_label_and_a_delete_button(store):
    fill(store, 8)
    at = open_page()
    assert len(at.image) == 8
    assert len([b for b in at.button if b.key.startswith("md_del_")]) == 8
    assert at.segmented_control(key="md_show").options[:3] == ["All (8)", "0 (2)", "1 (2)"]
    assert not at.download_button[0].disabled


def test_choosing_a_digit_shows_only_its_drawings(store):
    fill(store, 8)
    at = open_page()
    at.segmented_control(key="md_show").set_value(1).run()
    ones = {it.id for it in store.items(1)}
    shown = {b.key.removeprefix("md_del_") for b in at.button if b.key.startswith("md_del_")}
    assert shown == ones and len(at.image) == 2


def test_deleting_from_the_page_removes_the_drawing_from_the_set(store):
    fill(store, 5)
    victim = store.items()[0]
    at = open_page()
    at.button(key=f"md_del_{victim.id}").click().run()
    assert not at.exception
    assert victim.id not in {it.id for it in store.items()}
    assert len(at.image) == 4


def test_a_damaged_index_is_reported_on_the_page_and_repaired_with_one_click(store):
    fill(store, 3)
    store.manifest_path.write_text("garbage\n")
    at = open_page()
    assert "needed repairs" in at.warning[0].value
    assert len(at.image) == 3  # nothing lost
    at.button(key="md_repair").click().run()
    assert not at.warning and store.listing().problems == []


def test_import_says_what_it_added_and_refuses_a_bad_archive_in_plain_words(store, tmp_path):
    from ui.personal import import_archive

    source = PersonalSet(tmp_path / "other")
    fill(source, 4)
    kind, message = import_archive(store, source.export_zip())
    assert (kind, message) == ("success", "Imported 4 drawings.")
    kind, message = import_archive(store, source.export_zip())
    assert kind == "success" and "4 were here already" in message
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../../escape.png", b"x")
    kind, message = import_archive(store, buf.getvalue())
    assert kind == "error" and "outside its folder" in message
    assert len(store) == 4


def _feedback_script():
    import numpy as np

    from core.model_store import load_model
    from core.preprocess import canvas_to_mnist
    from ui.personal import render_feedback

    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[50:230, 130:150, :3] = 255  # a bar: a 1
    render_feedback(load_model(), rgba, canvas_to_mnist(rgba))


def test_feedback_keeps_a_corrected_drawing_and_relabels_it_on_second_thought(store):
    at = AppTest.from_function(_feedback_script, default_timeout=30).run()
    assert not at.exception, at.exception
    disabled = [d for d in range(10) if at.button(key=f"fb_digit_{d}").disabled]
    assert len(disabled) == 1  # the digit the model said cannot be the correction
    predicted = disabled[0]
    meant = (predicted + 1) % 10
    at.button(key=f"fb_digit_{meant}").click().run()
    (item,) = store.items()
    assert (item.label, item.prediction, item.model, item.source) == (
        meant,
        predicted,
        "default",
        "draw",
    )
    assert store.canvas(item.id).shape == (280, 280, 4)
    assert f"as a **{meant}**" in at.success[0].value
    at.button(key="fb_right").click().run()  # second thoughts: it was right after all
    assert [it.label for it in store.items()] == [predicted]


def test_feedback_shows_nothing_without_a_drawing(store):
    def script():
        from core.model_store import load_model
        from ui.personal import render_feedback

        render_feedback(load_model(), None, None)

    at = AppTest.from_function(script, default_timeout=30).run()
    assert not at.exception and not at.button and not at.markdown


def test_inspect_lists_each_model_on_mnist_and_on_my_digits(store):
    if "pages/inspect.py" not in (paths.ROOT / "app.py").read_text():
        pytest.skip("the Inspect page is not in app.py's navigation yet")
    fill(store, 6)
    at = open_page("pages/inspect.py")
    tables = [d.value for d in at.dataframe if "Your digits" in d.value.columns]
    assert len(tables) == 1
    row = tables[0].iloc[0]
    assert row["Model"] == "default (inspected)" and row["MNIST test"] == "50.00%"
    assert row["Your digits"].endswith("/6)")


@pytest.mark.mnist
def test_fine_tuning_from_the_page_runs_in_the_background_and_saves_a_new_model(store, mnist):
    fill(store, 24)
    at = open_page()
    at.number_input(key="ft_steps").set_value(50)
    at.button(key="ft_start").click().run()
    job_id = at.session_state["ft_job"]
    try:
        view = get_manager().wait(job_id, timeout=300)
        assert view.status == "done", view.error
        at.run()
        assert not at.exception, at.exception
        table = at.table[0].value
        assert list(table["Measured on"]) == [
            "your digits (held-out, 8)",
            "MNIST test (10,000)",
        ]
        at.text_input[0].set_value("mine")
        next(b for b in at.button if b.label == "Save the fine-tuned model").click().run()
        assert not at.exception, at.exception
        assert "Saved as **mine**" in at.success[0].value
        meta = load_model("mine").meta
        assert meta["finetune"]["base_model"] == "default"
        assert meta["finetune"]["personal_set_size"] == 24
        assert at.session_state["model_choice"] == "mine"
    finally:
        get_manager().forget(job_id, "local")


@pytest.mark.mnist
def test_a_reloaded_my_digits_page_finds_its_fine_tuning_run_through_the_url(store, mnist):
    fill(store, 24)
    at = open_page()
    at.number_input(key="ft_steps").set_value(50)
    at.button(key="ft_start").click().run()
    job_id = at.session_state["ft_job"]
    assert at.query_params["ft"] == job_id
    try:
        reloaded = AppTest.from_file(APP, default_timeout=60)
        reloaded.query_params["ft"] = job_id
        reloaded.run()
        reloaded.switch_page(PAGE).run()
        assert reloaded.session_state["ft_job"] == job_id
        assert get_manager().wait(job_id, timeout=300).status == "done"
        reloaded.run()
        assert "Measured on" in reloaded.table[0].value.columns
        assert not reloaded.exception
    finally:
        get_manager().forget(job_id, "local")


def test_a_drawing_the_reader_refused_cannot_be_called_right_but_can_be_labelled(store):
    """Two bars side by side read as "?" (more than one digit): "Right" would keep it as the
    model's top guess and teach the network that such drawings are digits."""

    def script():
        import numpy as np

        from core.model_store import load_model
        from core.preprocess import canvas_to_mnist
        from core.reading import read_canvas
        from ui.personal import render_feedback

        rgba = np.zeros((280, 280, 4), np.uint8)
        rgba[..., 3] = 255
        rgba[50:230, 40:60, :3] = 255
        rgba[50:230, 200:220, :3] = 255
        model = load_model()
        reading = read_canvas(rgba, model)
        assert reading.digit is None and reading.best is not None
        render_feedback(model, rgba, canvas_to_mnist(rgba), reading=reading)

    at = AppTest.from_function(script, default_timeout=30).run()
    assert not at.exception, at.exception
    right = at.button(key="fb_right")
    assert right.disabled and "no digit" in right.help
    assert not any(at.button(key=f"fb_digit_{d}").disabled for d in range(10))
    at.button(key="fb_digit_7").click().run()
    (item,) = store.items()
    assert item.label == 7 and item.prediction is not None  # the model's guess, kept beside
