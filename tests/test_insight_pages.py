"""The "see inside" views rendered by Streamlit's AppTest with the shipped model: the Draw page's
insight panel (with a drawing, an empty canvas, no model), the Inspect page and the How it works
page, including the ways they must fail politely (no MNIST, a damaged model file)."""

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from core import insight
from core.model_store import DEFAULT, save_model
from core.network import init_network
from core.preprocess import canvas_to_mnist

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60


def drawn_seven() -> np.ndarray:
    """A 7 drawn with a 20 px pen on the app's 280x280 black canvas, as RGBA uint8."""
    img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    ImageDraw.Draw(img).line(
        [(70, 60), (200, 60), (120, 230)], fill=(255, 255, 255, 255), width=20, joint="curve"
    )
    return np.asarray(img).copy()


def page(path: str, **state) -> AppTest:
    """Run the real app (app.py with its navigation and sidebar) on one page."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(path)
    return at.run()


def texts(at: AppTest) -> str:
    """Everything the page wrote as text, for looking up sentences."""
    parts = [e.value for kind in ("markdown", "caption", "info", "error") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def insight_panel():
    """The Draw page's component on its own, fed the way pages/draw.py feeds it."""
    import streamlit as st

    from core.model_store import Model, load_model
    from ui.insights import render_drawing_insights

    model = None if st.session_state.get("no_model") else load_model("default")
    if st.session_state.get("training"):  # as ui.common.live_model() describes a running job
        model = Model("model in training", model.net, {"live": True, "status": "running"})
    render_drawing_insights(
        model, st.session_state.get("drawing_rgba"), st.session_state.get("drawing_x28")
    )


def panel(**state) -> AppTest:
    at = AppTest.from_function(insight_panel, default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


# --- the Draw page's panel ---------------------------------------------------------------------


def chart_keys(at: AppTest) -> list[str]:
    return [c.key for c in at.get("plotly_chart")]


def test_the_drawing_insights_show_activations_saliency_preprocessing_and_neighbours(
    shipped_model,
):
    rgba = drawn_seven()
    drawing = dict(drawing_rgba=rgba, drawing_x28=canvas_to_mnist(rgba))
    at = panel(**drawing)
    assert not at.exception
    assert [t.label for t in at.tabs] == [
        "Hidden layers",
        "Saliency",
        "Why preprocessing matters",
        "Nearest MNIST images",
    ]
    hidden = len(shipped_model.net.sizes) - 2
    # Only the open tab is computed: one heat grid per hidden layer, nothing from the others.
    assert chart_keys(at) == [f"insight_act_{layer}" for layer in range(1, hidden + 1)]
    assert "Naive: the whole canvas" not in texts(at)
    assert at.session_state["insight_render_seconds"] > 0

    at = panel(**drawing, insight_tab_kept=1)  # the tab the reader chose last
    assert not at.exception
    assert chart_keys(at) == ["insight_saliency", "insight_gxi"]

    at = panel(**drawing, insight_tab_kept=2)
    assert not at.exception
    assert not chart_keys(at)
    assert "Reads **7**" in texts(at)  # the MNIST-style input is read as a 7
    assert "Naive: the whole canvas" in texts(at)


def test_the_saliency_can_explain_another_digit(shipped_model):
    rgba = drawn_seven()
    at = panel(drawing_rgba=rgba, drawing_x28=canvas_to_mnist(rgba), insight_tab_kept=1)
    at.selectbox(key="insight_saliency_class").set_value(1).run()
    assert not at.exception
    assert "probability of 1 would change" in texts(at)


@pytest.mark.mnist
def test_the_nearest_mnist_images_are_listed_with_their_labels(mnist, shipped_model):
    rgba = drawn_seven()
    at = panel(drawing_rgba=rgba, drawing_x28=canvas_to_mnist(rgba), insight_tab_kept=3)
    assert not at.exception
    assert "training images closest to your drawing" in texts(at)
    captions = [c for image in at.get("image") for c in image.captions]
    assert captions[-9] == "your drawing" and all("(d=" in c for c in captions[-8:])


def test_the_neighbour_search_waits_while_the_model_is_still_training(shipped_model):
    rgba = drawn_seven()
    drawing = dict(drawing_rgba=rgba, drawing_x28=canvas_to_mnist(rgba), training=True)
    at = panel(**drawing, insight_tab_kept=3)
    assert not at.exception
    assert "still training" in texts(at)
    at = panel(**drawing)  # the other views still show the model in training
    assert not at.exception
    assert len(chart_keys(at)) == len(shipped_model.net.sizes) - 2


def test_the_drawing_insights_ask_for_a_digit_when_the_canvas_is_empty(shipped_model):
    at = panel(drawing_rgba=np.zeros((280, 280, 4), np.uint8), drawing_x28=None)
    assert not at.exception
    assert at.caption[0].value.startswith("Draw a digit")
    assert not at.tabs and not at.get("plotly_chart")


def test_the_drawing_insights_say_so_when_there_is_no_model():
    at = panel(no_model=True, drawing_rgba=None, drawing_x28=None)
    assert not at.exception
    assert "Choose or train a model" in at.info[0].value


def canvas_state(rgba: np.ndarray) -> dict:
    """What the drawable canvas component keeps in session state: the drawing as a PNG URL."""
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return {"drawing": {"raw": {"objects": []}, "data": url}, "backgroundFit": None}


def test_the_draw_page_shows_the_insight_panel_with_an_empty_canvas(shipped_model):
    at = page("pages/draw.py")
    assert not at.exception
    assert "See inside the network" in [h.value for h in at.subheader]
    assert any(c.value.startswith("Draw a digit on the canvas") for c in at.caption)


def test_the_draw_page_shows_the_insight_views_for_a_drawing(shipped_model):
    at = page("pages/draw.py")
    at.session_state["canvas_0"] = canvas_state(drawn_seven())
    at.session_state["insight_tab_kept"] = 1  # Saliency
    at.run()
    assert not at.exception
    assert "Hidden layers" in [t.label for t in at.tabs]
    assert any("Saliency dP(7)" in c.proto.spec for c in at.get("plotly_chart"))


def drawn_one_and_seven() -> np.ndarray:
    """Two digits side by side, "17": the Draw page answers "?" (more than one digit)."""
    img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    pen = ImageDraw.Draw(img)
    pen.line([(60, 60), (60, 220)], fill=(255, 255, 255, 255), width=20)
    pen.line([(130, 60), (240, 60), (170, 220)], fill=(255, 255, 255, 255), width=20)
    return np.asarray(img).copy()


def test_when_the_draw_page_answers_no_digit_the_insights_say_they_explain_a_refused_guess(
    shipped_model,
):
    from core.reading import read_canvas

    rgba = drawn_one_and_seven()
    said = read_canvas(rgba, shipped_model)
    assert said.digit is None and said.probs is not None  # the oracle: the page refuses it
    at = page("pages/draw.py")
    at.session_state["canvas_0"] = canvas_state(rgba)
    at.session_state["insight_tab_kept"] = 1  # Saliency
    at.run()
    assert not at.exception
    assert [m.value for m in at.metric] == ["?"]
    guess = insight.read_digit(shipped_model.net, canvas_to_mnist(rgba)).digit
    assert guess == said.best
    assert 'answered "?" for this drawing' in texts(at)
    assert f"for its top guess, {guess}, which the page did not accept" in texts(at)
    explain = at.selectbox(key="insight_saliency_class")
    assert explain.options[0] == f"the top guess, not accepted ({guess})"

    at = page("pages/draw.py")  # a digit the page reads: no such words
    at.session_state["canvas_0"] = canvas_state(drawn_seven())
    at.session_state["insight_tab_kept"] = 1
    at.run()
    assert [m.value for m in at.metric] == ["7"]
    assert "did not accept" not in texts(at)
    assert at.selectbox(key="insight_saliency_class").options[0] == "the prediction (7)"


# --- Inspect -----------------------------------------------------------------------------------


@pytest.mark.mnist
def test_the_inspect_page_shows_accuracy_confusion_and_the_images_behind_a_cell(
    mnist, shipped_model
):
    _, _, x_test, y_test = mnist
    report = insight.model_report(shipped_model.net, x_test, y_test)
    at = page("pages/inspect.py")
    assert not at.exception, at.exception
    accuracy = next(m for m in at.metric if m.label == "Test accuracy")
    assert accuracy.value == f"{report.accuracy:.2%}"
    assert any("Confusion matrix" in c.proto.spec for c in at.get("plotly_chart"))
    at.selectbox(key="inspect_true").set_value(4)
    at.selectbox(key="inspect_pred").set_value(9)
    at.run()
    assert not at.exception
    assert f"**{report.confusion[4, 9]:,}** test images of 4 read as 9." in texts(at)


@pytest.mark.mnist
def test_a_click_on_a_confusion_cell_chooses_that_cell(mnist, shipped_model):
    at = page("pages/inspect.py")
    # What the browser sends back when a heatmap cell is clicked (x: predicted, y: true).
    click = {"selection": {"points": [{"x": "2", "y": "7", "z": 1.0}], "point_indices": []}}
    at.session_state["inspect_confusion"] = click
    at.run()
    assert not at.exception
    assert at.selectbox(key="inspect_true").value == 7
    assert at.selectbox(key="inspect_pred").value == 2


def test_the_inspect_page_without_mnist_still_shows_the_weights(
    shipped_model, tmp_path, monkeypatch
):
    monkeypatch.setenv("NNDIGITS_DATA_DIR", str(tmp_path))
    at = page("pages/inspect.py")
    assert not at.exception
    assert "MNIST is not downloaded yet" in at.info[0].value
    assert any("receptive fields" in str(c.proto.spec) for c in at.get("plotly_chart"))


def test_the_new_pages_report_a_damaged_model_file_without_a_traceback(weights_tmp):
    (weights_tmp / "default.npz").write_bytes(b"not a zip file")
    (weights_tmp / "default.json").write_text('{"format_version": 1, "sizes": [784, 10]}')
    for path in ("pages/inspect.py", "pages/how_it_works.py"):
        at = page(path)
        assert not at.exception
        assert "could not be loaded" in at.error[0].value


# --- How it works --------------------------------------------------------------------------------


def plain(tex: str) -> str:
    """An equation without the shapes written under its terms: \\underbrace{W_1}_{..} -> W_1."""
    return re.sub(r"\\underbrace\{((?:[^{}]|\{[^{}]*\})*)\}_\{[^{}]*\}", r"\1", tex)


def test_how_it_works_runs_the_equations_on_the_current_drawing(shipped_model):
    rgba = drawn_seven()
    at = page("pages/how_it_works.py", drawing_rgba=rgba, drawing_x28=canvas_to_mnist(rgba))
    assert not at.exception
    assert at.radio(key="hiw_source").value == "drawing"
    latex = [plain(e.value) for e in at.latex]
    depth = len(shipped_model.net.W)
    for name in ("Z_1 = W_1", r"A_1 = \operatorname{ReLU}(Z_1)", f"dZ_{depth} = A_{depth} - Y"):
        assert any(name in tex for tex in latex), name
    assert any(r"L = -\frac{1}{m}" in tex for tex in latex)
    assert "Backprop agrees with finite differences." in texts(at)


def test_how_it_works_generalises_to_a_deeper_tanh_network(weights_tmp):
    net = init_network([784, 32, 24, 16, 10], "tanh", np.random.default_rng(0))
    save_model(DEFAULT, net, allow_default=True, directory=weights_tmp)
    rgba = drawn_seven()
    at = page("pages/how_it_works.py", drawing_rgba=rgba, drawing_x28=canvas_to_mnist(rgba))
    assert not at.exception
    latex = "\n".join(plain(e.value) for e in at.latex)
    for eq in (r"Z_4 = W_4\,A_3 + b_4", r"A_3 = \tanh(Z_3)", "dZ_1 = W_2^T"):
        assert eq in latex, eq
    notes = " ".join(i.value for i in at.info)
    assert "3 hidden layers" in notes and "tanh where the article uses ReLU" in notes
    assert "Backprop agrees with finite differences." in texts(at)


def test_how_it_works_flags_a_planted_backprop_bug(shipped_model):
    rgba = drawn_seven()
    at = page("pages/how_it_works.py", drawing_rgba=rgba, drawing_x28=canvas_to_mnist(rgba))
    at.checkbox(key="hiw_bug").check().run()
    assert not at.exception
    assert "Some gradients disagree" in texts(at)


@pytest.mark.mnist
def test_one_step_on_an_mnist_image_raises_the_chosen_labels_probability(mnist, shipped_model):
    at = page("pages/how_it_works.py")
    assert at.radio(key="hiw_source").value == "mnist"  # no drawing yet
    at.number_input(key="hiw_index").set_value(3).run()
    at.selectbox(key="hiw_label_mnist").set_value(5).run()
    at.number_input(key="hiw_lr").set_value(0.01).run()
    assert not at.exception
    p = next(m for m in at.metric if m.label == "P(digit 5)")
    demo = insight.one_step(shipped_model.net, mnist.x_test[3] / 255, 5, 0.01)
    assert demo.p_after > demo.p_before
    assert p.value == f"{demo.p_after:.2%}"


def test_how_it_works_without_a_drawing_or_mnist_says_what_to_do(
    shipped_model, tmp_path, monkeypatch
):
    monkeypatch.setenv("NNDIGITS_DATA_DIR", str(tmp_path))
    at = page("pages/how_it_works.py")
    assert not at.exception
    assert "MNIST is not downloaded yet" in at.info[0].value
