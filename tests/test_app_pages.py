"""Every page, run by Streamlit's AppTest: it renders with the shipped model, trains, stops, saves,
reattaches, and turns bad input into a message instead of a traceback.

AppTest cannot draw on the canvas, so the Draw page gets its drawing the way the canvas hands it
over: a PNG data URL in the component's session state.
"""

from __future__ import annotations

import base64
import http.server
import io
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core import jobs, paths
from core.jobs import get_manager
from tests.job_tasks import Ticker

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60


@pytest.fixture
def app_weights(tmp_path, monkeypatch):
    """A temp copy of the shipped `default` model, so tests that save never touch weights/."""
    src = paths.weights_dir()
    if not (src / "default.npz").exists():
        message = "no default model yet: run `python -m core.train --preset quick --save default`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    dst = tmp_path / "weights"
    dst.mkdir()
    shutil.copy2(src / "default.npz", dst / "default.npz")  # one file: arrays and metadata
    monkeypatch.setenv("NNDIGITS_WEIGHTS_DIR", str(dst))
    yield dst
    manager = get_manager()
    for view in manager.views():
        manager.forget(view.id, view.owner)


def open_page(page: str | None = None, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def canvas_state(image: np.ndarray) -> dict:
    """What the drawable canvas stores for a drawing: its PNG as a data URL."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return {"drawing": {"raw": {"objects": []}, "data": url}, "backgroundFit": None}


def blank_canvas() -> np.ndarray:
    img = np.zeros((280, 280, 4), np.uint8)
    img[..., 3] = 255  # opaque black
    return img


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def wait_for_job(at: AppTest, timeout: float = 120):
    view = get_manager().wait(at.session_state["train_job"], timeout)
    at.run()
    return view


def set_tiny_setup(at: AppTest, epochs: int = 1, train_size: int = 2000) -> None:
    at.text_input(key="cfg_hidden").set_value("32")
    at.number_input(key="cfg_train_size").set_value(train_size)
    at.number_input(key="cfg_epochs").set_value(epochs)
    at.run()


def click(at: AppTest, label: str) -> AppTest:
    [button] = [b for b in at.button if b.label == label]
    return button.click().run()


# --- every page renders -------------------------------------------------------------------------


@pytest.mark.parametrize("page", [None, "pages/train.py", "pages/draw.py"])
def test_every_page_renders_with_the_shipped_model_without_exceptions(app_weights, page):
    at = open_page(page)
    assert not at.exception
    assert not at.error
    sidebar = at.sidebar
    assert [s.value for s in sidebar.selectbox] == ["default"]


def test_home_shows_the_test_accuracy_of_the_model_in_use(app_weights):
    at = open_page()
    [metric] = at.metric
    assert metric.value.endswith("%") and float(metric.value[:-1]) > 90


# --- Draw ---------------------------------------------------------------------------------------


def test_an_empty_canvas_asks_for_a_digit_and_predicts_nothing(app_weights):
    at = open_page("pages/draw.py")
    assert "Draw a digit" in texts(at.info)
    assert not at.metric
    assert at.session_state["drawing_rgba"] is None and at.session_state["drawing_x28"] is None


def test_a_stray_dot_counts_as_an_empty_canvas(app_weights):
    at = open_page("pages/draw.py")
    img = blank_canvas()
    img[140:144, 140:144, :3] = 255
    at.session_state["canvas_0"] = canvas_state(img)
    at.run()
    assert "Draw a digit" in texts(at.info) and not at.metric
    assert at.session_state["drawing_rgba"] is not None
    assert at.session_state["drawing_x28"] is None


def test_a_drawn_one_is_read_as_1_and_shared_with_other_pages(app_weights):
    at = open_page("pages/draw.py")
    img = blank_canvas()
    img[40:240, 130:150, :3] = 255  # one thick vertical stroke
    at.session_state["canvas_0"] = canvas_state(img)
    at.run()
    assert not at.exception
    [metric] = at.metric
    assert metric.label == "Prediction" and metric.value == "1"
    x28 = at.session_state["drawing_x28"]
    assert x28.shape == (28, 28) and x28.dtype == np.float32
    assert at.session_state["drawing_rgba"].shape == (280, 280, 4)


def test_a_damaged_model_file_shows_an_error_with_a_way_out_not_a_traceback(app_weights):
    blob = (app_weights / "default.npz").read_bytes()
    (app_weights / "default.npz").write_bytes(blob[: len(blob) // 2])  # a half-copied file
    for page in (None, "pages/draw.py", "pages/train.py"):
        at = open_page(page)
        assert not at.exception
    at = open_page("pages/draw.py")
    message = texts(at.error)
    assert "could not be loaded" in message and "git checkout weights/" in message


def test_without_any_model_the_draw_page_points_to_training(app_weights):
    for f in app_weights.iterdir():
        f.unlink()
    at = open_page("pages/draw.py")
    assert not at.exception
    assert "no trained model yet" in texts(at.info)


# --- Train --------------------------------------------------------------------------------------


def test_bad_custom_values_show_an_error_and_disable_start(app_weights):
    at = open_page("pages/train.py")
    at.text_input(key="cfg_hidden").set_value("lots").run()
    assert not at.exception
    assert "Hidden layers are whole numbers" in texts(at.error)
    assert [b for b in at.button if b.label == "Start"][0].disabled

    at.text_input(key="cfg_hidden").set_value("256").run()
    at.number_input(key="cfg_lr").set_value(0.0).run()
    assert "learning rate must be a number above 0" in texts(at.error)
    at.number_input(key="cfg_lr").set_value(0.001)
    at.number_input(key="cfg_epochs").set_value(0).run()
    assert "epochs must be between 1 and 1000" in texts(at.error)
    assert not at.exception


def test_choosing_a_preset_fills_in_the_whole_setup(app_weights):
    at = open_page("pages/train.py")
    at.radio(key="cfg_preset").set_value("seed").run()
    assert at.text_input(key="cfg_hidden").value == "10"
    assert at.selectbox(key="cfg_optimizer").value == "sgd"
    assert at.number_input(key="cfg_batch_size").value == 0
    assert at.number_input(key="cfg_epochs").value == 500
    assert not at.error


def test_before_any_run_the_train_page_draws_its_three_charts_empty(app_weights):
    """The axes show what will be plotted, and the browser loads its charting code while the
    reader chooses a setup, not in the seconds after Start."""
    import json

    at = open_page("pages/train.py")
    assert not at.exception
    assert "The charts fill in as the network learns" in texts(at.info)
    charts = at.get("plotly_chart")
    assert [c.key for c in charts] == ["chart_step", "chart_epoch", "chart_acc"]
    for chart in charts:
        spec = json.loads(chart.proto.spec)
        assert all(not trace.get("x") for trace in spec["data"])  # no points yet
        assert spec["layout"]["title"]["text"]


@pytest.mark.mnist
def test_start_with_a_tiny_setup_trains_in_the_background_and_shows_its_metrics(app_weights, mnist):
    at = open_page("pages/train.py")
    set_tiny_setup(at)
    click(at, "Start")
    assert not at.exception
    job_id = at.session_state["train_job"]
    assert at.query_params["job"] == job_id
    assert at.session_state["model_choice"] == "__in_training__"
    view = wait_for_job(at)
    assert view.status == jobs.DONE
    assert view.series("step") and view.series("epoch")
    assert "test digits read correctly" in texts(at.success)
    assert "images/s on average" in texts(at.caption)
    # The quick setup smooths its labels: the loss chart says where that loss levels off.
    assert "levels off above -log 0.91 = 0.09" in texts(at.caption)
    assert len(at.get("plotly_chart")) == 3
    assert "Finished" in texts(at.sidebar.caption)
    assert not at.exception


def test_a_stopped_run_counts_its_steps_where_it_stopped_while_it_is_scored():
    """The status line and the "Stopped after N steps" notice agree: between the Stopped event
    and the scores, the line counts the steps to the stop, not to the last logged step."""
    from core.runs.events import Start, Step, Stopped
    from ui.common import training_progress

    job = jobs.Job("train", None, "me", {"config": {"batch_size": 128}}, time.monotonic, 1000)
    job.record(Start(55000, 5000, (784, 256, 10), 1, 430, 1290, 3))
    job.record(Step(100, 100 / 430, 0.5, 0.5, 0.005, 30_000.0, 0.40))
    job.set(stop_requested=True, status=jobs.STOPPED)
    job.record(Stopped(110, 110 / 430, 0.44))
    view = job.view()
    assert view.scoring
    line = training_progress(view)["line"]
    assert "step 110 of 1,290" in line
    assert f"{110 * 55000 / 430 / 0.44:,.0f} images/s on average" in line  # images, not steps


@pytest.mark.mnist
def test_stop_stops_a_running_job(app_weights, mnist):
    at = open_page("pages/train.py")
    set_tiny_setup(at, epochs=50, train_size=20_000)
    click(at, "Start")
    job_id = at.session_state["train_job"]
    manager = get_manager()
    assert jobs.wait_until(lambda: "step" in manager.view(job_id).last, 60)
    click(at, "Stop")
    view = manager.wait(job_id, 10)
    assert view.status == jobs.STOPPED
    at.run()
    assert "Stopped after" in texts(at.warning)
    assert not at.exception


@pytest.mark.mnist
def test_a_reloaded_page_reattaches_to_its_job_through_the_url(app_weights, mnist):
    at = open_page("pages/train.py")
    set_tiny_setup(at)
    click(at, "Start")
    job_id = at.session_state["train_job"]
    reloaded = open_page("pages/train.py", query={"job": job_id})
    assert reloaded.session_state["train_job"] == job_id
    assert get_manager().view(job_id).owner == "local"  # the workspace, not the tab
    wait_for_job(reloaded)
    assert "test digits read correctly" in texts(reloaded.success)
    stranger = open_page("pages/train.py", query={"job": "not-a-job"})
    assert "train_job" not in stranger.session_state
    assert not stranger.exception


@pytest.mark.mnist
def test_a_trained_model_is_saved_under_a_checked_name_and_never_over_default(app_weights, mnist):
    at = open_page("pages/train.py")
    set_tiny_setup(at)
    click(at, "Start")
    wait_for_job(at)

    at.text_input(key="save_name").set_value("default").run()
    click(at, "Save")
    assert "cannot be replaced" in texts(at.error)

    at.text_input(key="save_name").set_value("tiny").run()
    click(at, "Save")
    assert (app_weights / "tiny.npz").exists()
    assert "Saved as tiny" in texts(at.success)
    assert at.sidebar.selectbox[0].value == "tiny"

    stamp = (app_weights / "tiny.npz").stat().st_mtime_ns
    click(at, "Save")
    assert "already exists" in texts(at.warning)
    assert (app_weights / "tiny.npz").stat().st_mtime_ns == stamp
    at.checkbox[0].check().run()
    click(at, "Save")
    assert (app_weights / "tiny.npz").stat().st_mtime_ns != stamp
    assert not at.exception


@pytest.mark.mnist
def test_a_diverging_run_stops_and_explains_what_to_change(app_weights, mnist):
    at = open_page("pages/train.py")
    set_tiny_setup(at)
    at.selectbox(key="cfg_optimizer").set_value("sgd")
    at.number_input(key="cfg_lr").set_value(10.0).run()
    click(at, "Start")
    view = wait_for_job(at)
    assert view.status == jobs.DIVERGED
    assert "diverged" in texts(at.error) and "Nothing was saved" in texts(at.error)
    # The doctor says why, and suggests a rate inside sgd's sensible range (not 1, nor 0.1 x 10).
    assert "Learning rate too high" in texts(at.markdown)
    assert "Try learning rate 0.5" in texts(at.markdown)
    assert not [b for b in at.button if b.label == "Save"]


@pytest.mark.mnist
def test_the_draw_page_reads_with_the_model_in_training(app_weights, mnist):
    at = open_page("pages/train.py")
    set_tiny_setup(at)
    click(at, "Start")
    wait_for_job(at)
    at.switch_page("pages/draw.py").run()
    img = blank_canvas()
    img[40:240, 130:150, :3] = 255
    at.session_state["canvas_0"] = canvas_state(img)
    at.run()
    assert at.sidebar.selectbox[0].value == "__in_training__"
    assert "model just trained" in texts(at.caption)
    assert len(at.metric) == 1
    assert not at.exception


def progress_texts(at: AppTest) -> str:
    return "\n".join(p.proto.text for p in at.get("progress"))


def test_a_run_beyond_the_servers_limit_waits_in_line_and_shows_its_place(app_weights):
    manager = get_manager()
    for _ in range(manager.max_running):
        manager.submit("test", Ticker(), owner="another tab")  # holds a slot until stopped
    at = open_page("pages/train.py")
    click(at, "Start")
    view = get_manager().view(at.session_state["train_job"])
    assert view.status == jobs.QUEUED and view.position == 1
    assert "number 1 in the queue" in texts(at.info)
    assert "queued, position 1" not in texts(at.sidebar.caption)  # the page itself says it
    at.switch_page("pages/draw.py").run()
    assert "queued, position 1" in texts(at.sidebar.caption)  # other pages say it in the sidebar
    at.switch_page("pages/train.py").run()
    click(at, "Stop")
    assert get_manager().view(view.id).status == jobs.STOPPED
    assert "Stopped before training began" in texts(at.warning)
    assert not at.exception


@pytest.mark.mnist
def test_pause_holds_the_run_and_resume_continues_it(app_weights, mnist):
    at = open_page("pages/train.py")
    set_tiny_setup(at, epochs=50, train_size=20_000)
    click(at, "Start")
    manager = get_manager()
    job_id = at.session_state["train_job"]
    assert jobs.wait_until(lambda: "step" in manager.view(job_id).last, 60)
    click(at, "Pause")
    assert manager.view(job_id).status == jobs.PAUSED
    assert "Paused" in progress_texts(at)
    assert [b.label for b in at.button if b.label in ("Pause", "Resume")] == ["Resume"]
    click(at, "Resume")
    assert manager.view(job_id).status == jobs.RUNNING
    click(at, "Stop")
    assert manager.wait(job_id, 10).status == jobs.STOPPED


class SlowMirror(http.server.BaseHTTPRequestHandler):
    """Sends 40% of a file, then waits for the test to let it hang up."""

    release = threading.Event()

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"x" * 400)
        self.wfile.flush()
        self.release.wait(30)

    def log_message(self, *args):
        pass


def test_first_use_without_mnist_fetches_it_with_progress_naming_the_source(
    app_weights, monkeypatch, tmp_path
):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowMirror)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/mnist/"
    # The worker process sees an empty data folder, this mirror and no wheel to fall back on.
    monkeypatch.setenv("NNDIGITS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NNDIGITS_MNIST_MIRRORS", url)
    monkeypatch.setenv("NNDIGITS_MNIST_WHEEL", str(tmp_path / "no-such.whl"))
    at = open_page("pages/train.py")
    click(at, "Start")
    manager = get_manager()
    job_id = at.session_state["train_job"]
    try:
        assert jobs.wait_until(
            lambda: "127.0.0.1" in str(manager.view(job_id).last.get("data")), 60
        )
        at.run()
        assert manager.view(job_id).status == jobs.PREPARING
        assert url in progress_texts(at) or "127.0.0.1" in progress_texts(at)
    finally:
        SlowMirror.release.set()
    view = manager.wait(job_id, 60)
    server.shutdown()
    at.run()
    assert not at.exception, at.exception
    assert view.status == jobs.FAILED and "MNIST is not available yet" in texts(at.error)
    assert not at.exception
