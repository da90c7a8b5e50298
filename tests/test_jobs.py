"""Background jobs: they run, queue, pause, stop fast, fail safely, thin long histories, and are
cleaned up when their owner goes away. Two jobs never share metrics or weights."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from core import jobs
from core.jobs import JobManager, training_job, wait_until
from core.train import TrainConfig, train
from tests.conftest import toy_dataset


@pytest.fixture
def manager():
    m = JobManager(max_running=2, reap_every=None)
    yield m
    m.shutdown()


def ticker(n=10_000, every=0.005):
    """A job that yields a step every few milliseconds and honours pause and stop."""

    def run(control):
        yield {"kind": "start", "total": n}
        for i in range(n):
            if control.wait():
                break
            time.sleep(every)
            yield {"kind": "step", "step": i + 1}
        yield {"kind": "done", "stopped": control.stopped}

    return run


def test_a_job_runs_its_generator_in_the_background_and_records_every_event(manager):
    job_id = manager.submit("test", ticker(n=5, every=0), owner="a", meta={"x": 1})
    view = manager.wait(job_id, timeout=5)
    assert view.status == jobs.DONE and view.finished and not view.active
    assert [e["step"] for e in view.series("step")] == [1, 2, 3, 4, 5]
    assert view.last["start"]["total"] == 5 and view.meta["x"] == 1
    assert view.started is not None and view.ended >= view.started
    assert view.n_events == 7


def test_jobs_beyond_the_limit_wait_in_line_and_start_when_a_slot_frees(manager):
    a = manager.submit("test", ticker(), owner="a")
    b = manager.submit("test", ticker(), owner="b")
    c = manager.submit("test", ticker(), owner="c")
    d = manager.submit("test", ticker(), owner="d")
    assert manager.running_count() == 2
    assert [manager.view(x).position for x in (a, b, c, d)] == [0, 0, 1, 2]
    assert manager.view(c).status == jobs.QUEUED
    manager.stop(a)
    assert wait_until(lambda: manager.view(c).status == jobs.RUNNING, 5)
    assert manager.view(d).position == 1


def test_stop_ends_a_running_job_within_half_a_second(manager):
    job_id = manager.submit("test", ticker(), owner="a")
    assert wait_until(lambda: "step" in manager.view(job_id).last, 5)
    t0 = time.monotonic()
    manager.stop(job_id)
    assert manager.view(job_id).stop_requested
    view = manager.wait(job_id, timeout=5)
    assert time.monotonic() - t0 < 0.5
    assert view.status == jobs.STOPPED and view.last["done"]["stopped"]


def test_stopping_a_queued_job_ends_it_at_once_without_running_it():
    m = JobManager(max_running=1, reap_every=None)
    try:
        m.submit("test", ticker(), owner="a")
        queued = m.submit("test", ticker(), owner="b")
        m.stop(queued)
        view = m.view(queued)
        assert view.status == jobs.STOPPED and view.n_events == 0 and view.position == 0
    finally:
        m.shutdown()


def test_pause_holds_a_job_and_resume_lets_it_continue(manager):
    job_id = manager.submit("test", ticker(), owner="a")
    assert wait_until(lambda: "step" in manager.view(job_id).last, 5)
    manager.pause(job_id)
    assert manager.view(job_id).status == jobs.PAUSED
    time.sleep(0.1)
    held = manager.view(job_id).last["step"]["step"]
    time.sleep(0.2)
    assert manager.view(job_id).last["step"]["step"] <= held + 1  # at most the batch under way
    manager.resume(job_id)
    assert wait_until(lambda: manager.view(job_id).last["step"]["step"] > held + 3, 5)


def test_a_failing_job_is_marked_failed_with_its_message_and_the_next_one_still_runs():
    m = JobManager(max_running=1, reap_every=None)

    def broken(control):
        yield {"kind": "start"}
        raise RuntimeError("the disk is full")

    try:
        bad = m.submit("test", broken, owner="a")
        good = m.submit("test", ticker(n=3, every=0), owner="b")
        assert m.wait(bad, 5).status == jobs.FAILED
        assert m.view(bad).error == "the disk is full"
        assert m.wait(good, 5).status == jobs.DONE
    finally:
        m.shutdown()


def test_a_diverged_training_job_says_so(manager):
    cfg = TrainConfig(hidden=(32,), optimizer="sgd", lr=10.0, batch_size=32, epochs=3)
    data = toy_dataset()
    job_id = manager.submit("train", lambda c: train(cfg, data, c), owner="a")
    view = manager.wait(job_id, 30)
    assert view.status == jobs.DIVERGED
    assert "learning rate" in view.last["diverged"]["reason"]


def test_a_long_run_keeps_an_evenly_thinned_history_and_the_latest_event():
    m = JobManager(max_running=1, max_events_per_kind=100, reap_every=None)
    try:
        view = m.wait(m.submit("test", ticker(n=1000, every=0), owner="a"), 10)
        steps = [e["step"] for e in view.events["step"]]
        assert len(steps) <= 101
        gaps = set(np.diff(steps))
        assert len(gaps) == 1  # evenly spaced
        assert view.series("step")[-1]["step"] == 1000 == view.last["step"]["step"]
        assert view.n_events == 1002
    finally:
        m.shutdown()


def test_jobs_whose_owner_left_are_stopped_and_dropped_by_the_reaper():
    now = [1000.0]
    m = JobManager(
        max_running=2, owner_timeout=60, finished_ttl=600, reap_every=None, clock=lambda: now[0]
    )
    try:
        running = m.submit("test", ticker(), owner="gone")
        finished = m.submit("test", ticker(n=1, every=0), owner="here")
        m.wait(finished, 5)
        now[0] += 61
        m.touch(finished)
        assert m.reap() == [running]
        assert m.get(running) is None and m.get(finished) is not None
        now[0] += 601
        assert m.reap() == [finished]
        assert m.views() == []
    finally:
        m.shutdown()


def test_a_heartbeat_with_a_new_owner_hands_the_job_over(manager):
    job_id = manager.submit("test", ticker(n=1, every=0), owner="old tab")
    assert manager.touch(job_id, owner="reloaded tab")
    assert manager.view(job_id).owner == "reloaded tab"
    assert [v.id for v in manager.views(owner="reloaded tab")] == [job_id]
    assert not manager.touch("no-such-job")


def test_two_training_jobs_at_once_keep_their_own_metrics_and_weights(manager):
    data = toy_dataset()
    a_cfg = TrainConfig(hidden=(16,), batch_size=20, epochs=3, seed=1, log_every=1)
    b_cfg = TrainConfig(hidden=(24,), batch_size=30, epochs=3, seed=2, log_every=1)
    a = manager.submit("train", lambda c: train(a_cfg, data, c), owner="tab a")
    b = manager.submit("train", lambda c: train(b_cfg, data, c), owner="tab b")
    va, vb = manager.wait(a, 30), manager.wait(b, 30)
    assert va.status == vb.status == jobs.DONE
    assert va.last["start"]["sizes"] == [784, 16, 10] and vb.last["start"]["sizes"] == [784, 24, 10]
    assert va.last["step"]["step"] == 3 * 30 and vb.last["step"]["step"] == 3 * 20
    assert manager.get(a).control.snapshot().sizes == [784, 16, 10]
    assert manager.get(b).control.snapshot().sizes == [784, 24, 10]
    # Each run on its own gives exactly the same final loss: nothing leaked between them.
    alone = list(train(a_cfg, data))[-1]
    assert alone["val_loss"] == va.last["done"]["val_loss"]


def test_the_weights_can_be_copied_while_a_job_trains(manager):
    data = toy_dataset(3000)
    cfg = TrainConfig(hidden=(32,), batch_size=10, epochs=50, log_every=1)
    job_id = manager.submit("train", lambda c: train(cfg, data, c), owner="a")
    job = manager.get(job_id)
    assert wait_until(lambda: "step" in manager.view(job_id).last, 10)
    first = job.control.snapshot()
    at = manager.view(job_id).last["step"]["step"]
    assert wait_until(lambda: manager.view(job_id).last["step"]["step"] > at + 20, 10)
    later = job.control.snapshot()
    manager.stop(job_id)
    assert not np.array_equal(first.W[0], later.W[0])
    assert first.predict_proba(data.X_val[:3]).shape == (3, 10)


def test_a_training_job_gets_the_data_first_and_reports_where_from(manager, monkeypatch):
    data = toy_dataset()
    calls = []

    def fake_ensure(progress):
        progress("Downloading from https://mirror.example/mnist/", 0.5)
        calls.append("ensure")

    monkeypatch.setattr("core.data.is_cached", lambda *a, **k: False)
    monkeypatch.setattr("core.data.ensure_mnist", fake_ensure)
    monkeypatch.setattr("core.train.load_data", lambda config: data)
    cfg = TrainConfig(hidden=(8,), batch_size=50, epochs=1)
    view = manager.wait(manager.submit("train", training_job(cfg), owner="a"), 30)
    assert view.status == jobs.DONE and calls == ["ensure"]
    stages = [e["stage"] for e in view.series("data")]
    assert any("mirror.example" in s for s in stages)
    assert view.events["data"][1]["fraction"] == 0.5


def test_stop_takes_effect_at_once_while_the_data_is_still_coming(manager, monkeypatch):
    release = threading.Event()

    def slow_ensure(progress):
        progress("Downloading from a slow mirror", None)
        release.wait(10)

    monkeypatch.setattr("core.data.is_cached", lambda *a, **k: False)
    monkeypatch.setattr("core.data.ensure_mnist", slow_ensure)
    job_id = manager.submit("train", training_job(TrainConfig(hidden=(8,))), owner="a")
    assert wait_until(lambda: manager.view(job_id).status == jobs.PREPARING, 5)
    assert wait_until(lambda: "data" in manager.view(job_id).last, 5)
    t0 = time.monotonic()
    manager.stop(job_id)
    view = manager.wait(job_id, 5)
    release.set()
    assert time.monotonic() - t0 < 0.5 and view.status == jobs.STOPPED


def test_missing_data_fails_the_job_with_the_data_modules_advice(manager, monkeypatch):
    from core.data import DataUnavailable

    def offline(progress):
        raise DataUnavailable([("mirror", "no network")], __import__("pathlib").Path("/tmp"))

    monkeypatch.setattr("core.data.is_cached", lambda *a, **k: False)
    monkeypatch.setattr("core.data.ensure_mnist", offline)
    view = manager.wait(manager.submit("train", training_job(TrainConfig()), owner="a"), 10)
    assert view.status == jobs.FAILED
    assert "MNIST is not available yet" in view.error and "What to do" in view.error


@pytest.mark.mnist
def test_a_tiny_training_job_on_the_real_mnist_learns(manager, mnist):
    cfg = TrainConfig(hidden=(32,), train_size=2000, epochs=1, batch_size=100)
    view = manager.wait(manager.submit("train", training_job(cfg), owner="a"), 120)
    assert view.status == jobs.DONE
    assert view.last["done"]["test_acc"] > 0.6
    assert view.events["data"][0]["stage"].startswith("Loading MNIST")
