"""The runs history: a round trip through the folder, bounded series, damaged files skipped,
deletion, comparisons, and a real training run recorded from its events."""

from __future__ import annotations

import json
import math

import pytest

from core.runs import history
from core.runs.history import RunRecord, make_record
from core.train import TrainConfig, preset, train
from tests.conftest import toy_dataset


def a_record(run_id="run1", created=1.0, **changes) -> RunRecord:
    config = TrainConfig(**changes).to_dict()
    steps = [
        {"kind": "step", "step": i, "epoch": i / 10, "loss": 2.3 / i, "train_seconds": i * 0.1}
        for i in range(1, 31)
    ]
    epochs = [
        {
            "kind": "epoch",
            "epoch": e,
            "step": e * 10,
            "val_acc": 0.8 + e / 100,
            "val_loss": 0.5,
            "train_loss": 0.4,
            "train_acc": 0.9,
            "train_seconds": e * 1.0,
        }
        for e in (1, 2, 3)
    ]
    return make_record(
        run_id,
        "train",
        config,
        "done",
        created,
        preset="quick",
        steps=steps,
        epochs=epochs,
        start={"sizes": config["hidden"] and [784, *config["hidden"], 10], "steps_per_epoch": 10},
        final={"test_acc": 0.9, "val_loss": float("nan")},
    )


def test_a_record_survives_a_round_trip_through_its_folder(tmp_path):
    record = a_record()
    history.save_run(tmp_path, record)
    back = history.load_run(tmp_path, "run1")
    assert back.to_dict() == record.to_dict()
    assert back.steps[0] == {"step": 1, "epoch": 0.1, "loss": 2.3, "train_seconds": 0.1}
    assert back.final == {"test_acc": 0.9, "val_loss": None}  # NaN is stored as null
    json.loads((tmp_path / "run1.json").read_text())  # plain JSON, no NaN tokens


def test_long_series_are_thinned_evenly_keeping_the_first_and_the_last():
    series = [{"step": i} for i in range(10_001)]
    kept = history.thin(series, 400)
    assert len(kept) <= 401 and kept[0]["step"] == 0 and kept[-1]["step"] == 10_000
    gaps = {b["step"] - a["step"] for a, b in zip(kept[:-2], kept[1:-1], strict=True)}
    assert len(gaps) == 1  # evenly spaced


def test_a_recorded_run_keeps_at_most_max_points_per_series():
    steps = [{"kind": "step", "step": i, "loss": 1.0} for i in range(5000)]
    record = make_record("long", "train", {}, "done", 0.0, steps=steps)
    assert len(record.steps) <= history.MAX_POINTS + 1


def test_runs_are_listed_newest_first_and_a_damaged_file_is_skipped_with_a_note(tmp_path):
    history.save_run(tmp_path, a_record("old", created=1.0))
    history.save_run(tmp_path, a_record("new", created=2.0))
    (tmp_path / "broken.json").write_text("{ not json")
    (tmp_path / "wrong.json").write_text('{"id": "../etc"}')
    (tmp_path / "partial.json").write_text(json.dumps({"id": "partial"}))  # fields missing
    records, problems = history.list_runs(tmp_path)
    assert [r.id for r in records] == ["new", "old"]
    assert len(problems) == 3 and all("damaged" in p for p in problems)


def test_listing_a_folder_that_does_not_exist_yet_is_empty(tmp_path):
    assert history.list_runs(tmp_path / "nothing") == ([], [])


def test_a_run_can_be_deleted_once(tmp_path):
    history.save_run(tmp_path, a_record())
    assert history.delete_run(tmp_path, "run1")
    assert not history.delete_run(tmp_path, "run1")
    assert history.list_runs(tmp_path) == ([], [])


def test_run_ids_cannot_reach_outside_the_folder(tmp_path):
    with pytest.raises(ValueError):
        make_record("../x", "train", {}, "done", 0.0)
    with pytest.raises(ValueError):
        history.delete_run(tmp_path, "../x")


def test_a_saved_model_name_is_noted_on_its_run(tmp_path):
    history.save_run(tmp_path, a_record())
    assert history.set_model(tmp_path, "run1", "mine").model == "mine"
    assert history.load_run(tmp_path, "run1").model == "mine"
    assert history.set_model(tmp_path, "missing", "x") is None


def test_settings_that_differ_between_runs_are_named_in_config_order():
    a, b, c = a_record("a", lr=1e-3), a_record("b", lr=3e-3), a_record("c", lr=1e-3, epochs=9)
    assert history.differing_settings([a, b, c]) == ["lr", "epochs"]
    assert history.differing_settings([a, a]) == []


def test_a_run_recorded_before_a_setting_existed_counts_as_its_default():
    old, new = a_record("old"), a_record("new")
    del old.config["smoothing"]  # written before label smoothing was a setting
    assert history.differing_settings([old, new]) == []
    smoothed = a_record("smoothed", smoothing=0.1)
    assert history.differing_settings([old, smoothed]) == ["smoothing"]


def test_curves_follow_step_epoch_or_seconds():
    record = a_record()
    xs, ys = history.curve(record, "loss", "step")
    assert xs[:2] == [1, 2] and ys[0] == 2.3
    xs, _ = history.curve(record, "loss", "seconds")
    assert xs[-1] == pytest.approx(3.0)
    xs, ys = history.curve(record, "val_acc", "epoch")
    assert xs == [1, 2, 3] and ys[-1] == pytest.approx(0.83)
    with pytest.raises(ValueError):
        history.curve(record, "loss", "minutes")


def test_a_real_training_run_is_recorded_from_its_events(tmp_path):
    cfg = TrainConfig(hidden=(16,), batch_size=32, epochs=3, log_every=1)
    events = list(train(cfg, toy_dataset(400)))
    by_kind = {}
    for e in events:
        by_kind.setdefault(e["kind"], []).append(e)
    record = make_record(
        "job42",
        "train",
        cfg.to_dict(),
        "done",
        10.0,
        preset="quick",
        steps=by_kind["step"],
        epochs=by_kind["epoch"],
        start=by_kind["start"][0],
        final=by_kind["done"][0],
    )
    history.save_run(tmp_path, record)
    back = history.load_run(tmp_path, "job42")
    assert back.sizes == [784, 16, 10]
    assert len(back.epochs) == 3 and math.isclose(back.final["test_acc"], events[-1]["test_acc"])
    assert history.label(back) == "quick, changed: 784-16-10, adam 0.001"
    same = make_record(
        "q",
        "train",
        preset("quick").to_dict(),
        "done",
        0.0,
        preset="quick",
    )
    assert history.label(same) == "quick: 784-256-10, adam 0.005"


def test_a_run_whose_page_was_closed_is_kept_when_its_worker_ends(tmp_path):
    """No page looks at the end of this run: the manager's completion hook writes its record,
    from the events of a real worker process."""
    from core.jobs import JobManager
    from core.runs.tasks import TrainTask

    cfg = TrainConfig(hidden=(16,), batch_size=32, epochs=2)
    manager = JobManager(reap_every=None)
    manager.on_complete = history.record_finished
    try:
        meta = {"config": cfg.to_dict(), "preset": "quick", history.RUNS_DIR_META: str(tmp_path)}
        job_id = manager.submit("train", TrainTask(cfg, toy_dataset(400)), owner="a", meta=meta)
        manager.wait(job_id, timeout=120)
        runs, problems = history.list_runs(tmp_path)
        assert not problems and [r.id for r in runs] == [job_id]
        kept = runs[0]
        assert kept.status == "done" and len(kept.epochs) == 2
        assert kept.final["test_acc"] == manager.view(job_id).last["done"]["test_acc"]
        # A fuller record written by a page first is left as it is.
        history.set_model(tmp_path, job_id, "mine")
        history.record_finished(manager.view(job_id))
        assert history.load_run(tmp_path, job_id).model == "mine"
    finally:
        manager.shutdown()


def test_a_job_that_names_no_history_folder_is_not_recorded(tmp_path):
    class View:
        id, meta = "x1", {"config": {}}

    history.record_finished(View())
    assert history.list_runs(tmp_path) == ([], [])
