"""The Runs page and the Train page's new habits, run by Streamlit's AppTest: finished runs are
recorded once, listed, compared, deleted and run again; the doctor suggests safe changes; a
diverged run never reads digits; the setup survives page changes and reloads."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from core import jobs
from core.runs import history
from core.train import TrainConfig
from tests import test_app_pages
from tests.test_app_pages import (
    blank_canvas,
    canvas_state,
    click,
    open_page,
    set_tiny_setup,
    texts,
    wait_for_job,
)

app_weights = test_app_pages.app_weights  # the fixture: a temp copy of the shipped model
RUNS = "pages/runs.py"
TRAIN = "pages/train.py"


def stored_run(folder, run_id, created, **config_changes) -> history.RunRecord:
    """A made-up finished run written to the history folder."""
    config = TrainConfig(**config_changes)
    steps = [
        {"step": i, "epoch": i / 100, "loss": 2.3 / i, "smooth_loss": 2.3 / i, "train_seconds": i}
        for i in range(1, 200, 10)
    ]
    epochs = [
        {
            "epoch": e,
            "step": 100 * e,
            "train_loss": 0.3 / e,
            "val_loss": 0.3 / e,
            "train_acc": 0.9,
            "val_acc": 0.9 + e / 100,
            "train_seconds": 100.0 * e,
        }
        for e in (1, 2)
    ]
    record = history.make_record(
        run_id,
        "train",
        config.to_dict(),
        "done",
        created,
        preset="quick",
        steps=steps,
        epochs=epochs,
        start={"sizes": config.sizes, "steps_per_epoch": 100, "epochs": 2},
        final={"test_acc": 0.95, "val_acc": 0.92, "train_seconds": 200.0},
    )
    history.save_run(folder, record)
    return record


def series(values) -> list:
    """A chart series as the browser reads it: a list, or Plotly's compact binary array."""
    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), values["dtype"]).tolist()
    return list(values)


# --- the Runs page, on made-up records ----------------------------------------------------------


def test_the_runs_page_without_runs_points_to_training(app_weights):
    at = open_page(RUNS)
    assert not at.exception
    assert "No runs yet" in texts(at.info)


def test_two_runs_are_overlaid_with_the_setting_that_differs_named(app_weights, runs_tmp):
    stored_run(runs_tmp, "slow", 1.0, lr=1e-3)
    stored_run(runs_tmp, "fast", 2.0, lr=3e-3)
    at = open_page(RUNS)
    [table] = at.dataframe
    assert len(table.value) == 2 and list(table.value["Result"]) == ["done", "done"]
    at.multiselect(key="runs_compare").set_value(["slow", "fast"]).run()
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    loss = json.loads(charts[0].proto.spec)
    assert len(loss["data"]) == 2  # one curve per run
    assert "1 differ: lr" in texts(at.markdown)
    at.radio(key="runs_x").set_value("seconds").run()
    loss = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert series(loss["data"][0]["x"])[-1] == 191  # seconds of training, not steps
    assert loss["layout"]["xaxis"]["title"]["text"] == "seconds of training"


def test_a_damaged_run_file_is_skipped_with_a_note(app_weights, runs_tmp):
    stored_run(runs_tmp, "good", 1.0)
    (runs_tmp / "bad.json").write_text("{ half a file")
    at = open_page(RUNS)
    assert not at.exception
    assert "cannot be read" in texts(at.warning) and len(at.dataframe[0].value) == 1


def test_deleting_a_run_removes_its_record(app_weights, runs_tmp):
    stored_run(runs_tmp, "keep", 1.0)
    stored_run(runs_tmp, "drop", 2.0)
    at = open_page(RUNS)
    at.multiselect(key="runs_compare").set_value(["drop"]).run()
    click(at, "Yes, delete")
    assert not at.exception
    assert sorted(p.stem for p in runs_tmp.glob("*.json")) == ["keep"]
    assert len(at.dataframe[0].value) == 1


def test_run_again_opens_train_with_that_runs_setup(app_weights, runs_tmp):
    stored_run(runs_tmp, "past", 1.0, hidden=(48,), lr=2e-3, epochs=3)
    at = open_page(RUNS)
    at.multiselect(key="runs_compare").set_value(["past"]).run()
    click(at, "Run again with one change")
    assert not at.exception
    assert at.text_input(key="cfg_hidden").value == "48"
    assert at.number_input(key="cfg_lr").value == 2e-3
    assert at.number_input(key="cfg_epochs").value == 3
    assert "change one thing and press Start" in texts(at.info)


def test_the_hidden_layers_field_round_trips_typed_text_tuples_and_no_layer():
    from ui.common import format_hidden, parse_hidden

    assert format_hidden("10") == "10"  # text as typed stays text (not "1, 0")
    assert format_hidden((512, 256)) == "512, 256" and format_hidden(()) == "none"
    assert parse_hidden("none") == () and parse_hidden("0") == () and parse_hidden("10") == (10,)


# --- real runs, recorded ------------------------------------------------------------------------


def start_tiny_run():
    """The Train page with a tiny setup, Start pressed: (the page, its job id)."""
    at = open_page(TRAIN)
    set_tiny_setup(at)
    click(at, "Start")
    return at, at.session_state["train_job"]


@pytest.mark.mnist
def test_a_finished_run_is_recorded_once_and_listed(app_weights, mnist, runs_tmp):
    at, job_id = start_tiny_run()
    wait_for_job(at)
    at.run()
    [record] = history.list_runs(runs_tmp)[0]
    assert record.id == job_id and record.status == "done" and record.preset == "quick"
    assert record.config["hidden"] == [32] and record.epochs and record.steps
    at.text_input(key="save_name").set_value("tiny").run()
    click(at, "Save")
    assert history.load_run(runs_tmp, job_id).model == "tiny"
    at.switch_page(RUNS).run()
    assert not at.exception
    assert list(at.dataframe[0].value["Saved as"]) == ["tiny"]


@pytest.mark.mnist
def test_a_diverged_run_gets_a_safe_suggestion_and_draw_falls_back_to_the_last_good_model(
    app_weights, mnist, runs_tmp
):
    at = open_page(TRAIN)
    set_tiny_setup(at)
    at.number_input(key="cfg_lr").set_value(10.0).run()  # adam at 10
    click(at, "Start")
    assert wait_for_job(at).status == jobs.DIVERGED
    assert "Learning rate too high" in texts(at.markdown)
    [apply] = [b for b in at.button if b.label.startswith("Apply to the setup")]
    assert apply.label.endswith("learning rate 0.01")  # inside adam's 0.0001-0.01, not 1
    apply.click().run()
    at.run()
    assert at.number_input(key="cfg_lr").value == 0.01
    assert not at.exception

    at.switch_page("pages/draw.py").run()
    assert at.sidebar.selectbox[0].value == "default"  # not the broken weights
    assert "diverged" in texts(at.warning)
    img = blank_canvas()
    img[40:240, 130:150, :3] = 255
    at.session_state["canvas_0"] = canvas_state(img)
    at.run()
    assert "according to default" in texts(at.caption)
    assert history.list_runs(runs_tmp)[0][0].status == "diverged"


@pytest.mark.mnist
def test_the_setup_survives_other_pages_and_a_reload_during_a_run(app_weights, mnist):
    at = open_page(TRAIN)
    at.radio(key="cfg_preset").set_value("seed").run()
    at.number_input(key="cfg_epochs").set_value(400).run()
    click(at, "Start")
    job_id = at.session_state["train_job"]
    at.switch_page("pages/draw.py").run()
    at.switch_page(TRAIN).run()
    assert at.radio(key="cfg_preset").value == "seed"
    assert at.number_input(key="cfg_epochs").value == 400
    reloaded = open_page(TRAIN, query={"job": job_id})  # a new session, found through the URL
    assert reloaded.radio(key="cfg_preset").value == "seed"
    assert reloaded.text_input(key="cfg_hidden").value == "10"
    assert reloaded.number_input(key="cfg_epochs").value == 400
    click(reloaded, "Stop")
    wait_for_job(reloaded)
    assert reloaded.number_input(key="cfg_epochs").value == 400  # and after the end of the run
    assert not reloaded.exception


@pytest.mark.mnist
def test_a_full_batch_run_counts_iterations_everywhere(app_weights, mnist):
    at = open_page(TRAIN)
    at.radio(key="cfg_preset").set_value("seed").run()
    at.number_input(key="cfg_epochs").set_value(4).run()
    click(at, "Start")
    wait_for_job(at)
    progress = "\n".join(p.proto.text for p in at.get("progress"))
    assert "Iteration 4 of 4 (full batch)" in progress
    assert "iteration 4/4" in texts(at.sidebar.caption)
    steps = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert steps["layout"]["title"]["text"] == "Loss per iteration"
    assert len(steps["data"]) == 1  # no smoothed line: full batch has no noise to smooth
    assert "epoch" not in progress.lower()


@pytest.mark.mnist
def test_a_run_whose_tab_was_closed_is_still_kept_in_the_history(app_weights, runs_tmp, mnist):
    at, job_id = start_tiny_run()
    del at  # the tab is closed: no page will see this run end
    view = jobs.get_manager().wait(job_id, 120)
    assert view.status == jobs.DONE
    [kept], _ = history.list_runs(runs_tmp)
    assert kept.id == job_id and kept.status == "done"
    assert kept.final["test_acc"] == view.last["done"]["test_acc"]
