"""The job contract, run against both backends (local worker processes, and a real local Ray
cluster): jobs run, queue, pause, stop at once, fail safely (even when their process dies),
thin long histories, belong to their owner and keep their weights apart."""

from __future__ import annotations

import os
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from core import jobs
from core.jobs import JobManager, JobRefused, training_job, wait_until
from core.train import TrainConfig, train
from tests.conftest import toy_dataset
from tests.job_tasks import Broken, Dies, LongStep, Modules, Threads, Ticker

BACKENDS = ["local", "ray"]


@pytest.fixture(scope="session")
def ray_cluster():
    """A real Ray head on this machine for the session. Ray is part of the test requirements,
    so in CI (CI=true) a missing Ray fails rather than skips."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # not imported yet: Ray reads its auth settings
        if os.environ.get("CI"):
            pytest.fail("Ray is missing: `pip install -r requirements-ray.txt`")
        pytest.skip("Ray is not installed (requirements-ray.txt)")
    from tests.ray_cluster import RayHead

    head = RayHead(cpus=2)
    try:
        head.wait_ready()
        os.environ.update(head.env, RAY_ADDRESS=head.address)
        yield head
    finally:
        import ray

        ray.shutdown()
        head.stop()
        for key in (*head.env, "RAY_ADDRESS"):
            os.environ.pop(key, None)


def make_manager(backend, request, **settings):
    settings.setdefault("reap_every", None)
    if backend == "local":
        return JobManager(**settings)
    request.getfixturevalue("ray_cluster")
    from core.runs.ray_jobs import connect

    return connect(**settings)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def manager(backend, request):
    m = make_manager(backend, request, max_running=2)
    yield m
    m.shutdown()


def test_a_job_runs_in_the_background_and_records_every_event(manager):
    job_id = manager.submit("test", Ticker(n=5, every=0), owner="a", meta={"x": 1})
    view = manager.wait(job_id, timeout=60)
    assert view.status == jobs.DONE and view.finished and not view.active and view.complete
    assert [e["step"] for e in view.series("step")] == [1, 2, 3, 4, 5]
    assert view.last["start"]["total_steps"] == 5 and view.meta["x"] == 1
    assert view.started is not None and view.ended >= view.started
    assert view.n_events == 7


def test_jobs_beyond_the_limit_wait_in_line_and_start_when_a_slot_frees(manager):
    a = manager.submit("test", Ticker(), owner="a")
    b = manager.submit("test", Ticker(), owner="b")
    c = manager.submit("test", Ticker(), owner="c")
    d = manager.submit("test", Ticker(), owner="d")
    assert manager.running_count() == 2
    assert [manager.view(x).position for x in (a, b, c, d)] == [0, 0, 1, 2]
    assert manager.view(c).status == jobs.QUEUED
    manager.stop(a, "a")
    assert wait_until(lambda: manager.view(c).status == jobs.RUNNING, 60)
    assert manager.view(d).position == 1


def test_stop_says_stopped_at_once_and_training_ends_within_a_step(manager):
    job_id = manager.submit("test", Ticker(), owner="a")
    assert wait_until(lambda: "step" in manager.view(job_id).last, 60)
    assert manager.stop(job_id, "a")
    view = manager.view(job_id)
    assert view.status == jobs.STOPPED and view.stop_requested
    view = manager.wait(job_id, timeout=30)
    assert view.status == jobs.STOPPED and view.last["done"]["stopped"]
    assert view.last["done"]["step"] <= view.last["step"]["step"] + 1


def test_stopping_a_queued_job_ends_it_at_once_without_running_it(backend, request):
    m = make_manager(backend, request, max_running=1)
    try:
        m.submit("test", Ticker(), owner="a")
        queued = m.submit("test", Ticker(), owner="b")
        m.stop(queued, "b")
        view = m.view(queued)
        assert view.status == jobs.STOPPED and view.n_events == 0 and view.position == 0
    finally:
        m.shutdown()


def test_pause_holds_a_job_and_resume_lets_it_continue(manager):
    job_id = manager.submit("test", Ticker(), owner="a")
    assert wait_until(lambda: "step" in manager.view(job_id).last, 60)
    assert manager.pause(job_id, "a")
    assert manager.view(job_id).status == jobs.PAUSED
    time.sleep(0.3)
    held = manager.view(job_id).last["step"]["step"]
    time.sleep(0.3)
    assert manager.view(job_id).last["step"]["step"] <= held + 1  # at most the step under way
    assert manager.resume(job_id, "a")
    assert wait_until(lambda: manager.view(job_id).last["step"]["step"] > held + 3, 30)


def test_only_the_owner_can_control_or_reattach_to_a_job(manager):
    job_id = manager.submit("test", Ticker(), owner="workspace-a")
    assert wait_until(lambda: "step" in manager.view(job_id).last, 60)
    for call in (manager.pause, manager.resume, manager.stop, manager.touch, manager.forget):
        assert not call(job_id, "workspace-b")
    assert manager.snapshot(job_id, "workspace-b") is None
    assert manager.view(job_id).status == jobs.RUNNING
    assert manager.touch(job_id, "workspace-a")
    assert manager.view(job_id).owner == "workspace-a"


def test_a_failing_job_is_marked_failed_with_its_message_and_the_next_one_still_runs(
    backend, request
):
    m = make_manager(backend, request, max_running=1)
    try:
        bad = m.submit("test", Broken("the disk is full"), owner="a")
        good = m.submit("test", Ticker(n=3, every=0), owner="b")
        assert m.wait(bad, 60).status == jobs.FAILED
        assert m.view(bad).error == "the disk is full"
        assert m.wait(good, 60).status == jobs.DONE
    finally:
        m.shutdown()


@pytest.mark.parametrize("how", ["exit", "kill", "segfault"])
def test_a_job_whose_process_dies_is_failed_and_the_others_carry_on(manager, how):
    other = manager.submit("test", Ticker(), owner="b")
    dead = manager.submit("test", Dies(how), owner="a")
    view = manager.wait(dead, 60)
    assert view.status == jobs.FAILED
    assert "the training process ended unexpectedly" in view.error
    if manager.__class__ is JobManager:  # a local worker's exit code is known exactly
        code = {"exit": "exit code 3", "kill": "exit code -9", "segfault": "exit code -11"}
        assert code[how] in view.error
    assert wait_until(lambda: manager.view(other).status == jobs.RUNNING, 30)
    after = manager.submit("test", Ticker(n=2, every=0), owner="a")
    assert manager.wait(after, 60).status == jobs.DONE


def test_a_diverged_training_job_says_so_after_showing_the_climb(manager):
    cfg = TrainConfig(hidden=(32,), optimizer="sgd", lr=10.0, batch_size=32, epochs=3)
    view = manager.wait(manager.submit("train", training_job(cfg, toy_dataset()), "a"), 120)
    assert view.status == jobs.DIVERGED
    assert "learning rate" in view.last["diverged"]["reason"]


def test_a_long_run_keeps_an_evenly_thinned_history_and_the_latest_event(backend, request):
    m = make_manager(backend, request, max_running=1, max_events_per_kind=100)
    try:
        view = m.wait(m.submit("test", Ticker(n=1000, every=0), owner="a"), 60)
        steps = [e["step"] for e in view.events["step"]]
        assert len(steps) <= 101
        assert len(set(np.diff(steps))) == 1  # evenly spaced
        assert view.series("step")[-1]["step"] == 1000 == view.last["step"]["step"]
        assert view.n_events == 1002
    finally:
        m.shutdown()


def test_two_training_jobs_at_once_keep_their_own_metrics_and_weights(manager):
    data = toy_dataset()
    a_cfg = TrainConfig(hidden=(16,), batch_size=20, epochs=3, seed=1, log_every=1)
    b_cfg = TrainConfig(hidden=(24,), batch_size=30, epochs=3, seed=2, log_every=1)
    a = manager.submit("train", training_job(a_cfg, data), owner="tab a")
    b = manager.submit("train", training_job(b_cfg, data), owner="tab b")
    va, vb = manager.wait(a, 120), manager.wait(b, 120)
    assert va.status == vb.status == jobs.DONE
    assert list(va.last["start"]["sizes"]) == [784, 16, 10]
    assert list(vb.last["start"]["sizes"]) == [784, 24, 10]
    assert va.last["step"]["step"] == 3 * 30 and vb.last["step"]["step"] == 3 * 20
    assert manager.snapshot(a, "tab a").sizes == [784, 16, 10]
    assert manager.snapshot(b, "tab b").sizes == [784, 24, 10]
    # Each run on its own, in this process, gives the same final loss (to float32 rounding: a
    # worker's BLAS thread count, which may differ from this process', changes summation order).
    alone = list(train(a_cfg, data))[-1]
    assert alone["val_loss"] == pytest.approx(va.last["done"]["val_loss"], rel=1e-5)


def test_the_weights_can_be_copied_while_a_job_trains(manager):
    data = toy_dataset(3000)
    cfg = TrainConfig(hidden=(32,), batch_size=10, epochs=50, log_every=1)
    job_id = manager.submit("train", training_job(cfg, data), owner="a")
    # The weights may be on the board a moment before the first step's event reaches the server.
    assert wait_until(
        lambda: manager.snapshot(job_id, "a") is not None and "step" in manager.view(job_id).last,
        60,
    )
    first = manager.snapshot(job_id, "a")
    at = manager.view(job_id).last["step"]["step"]
    assert wait_until(lambda: manager.view(job_id).last["step"]["step"] > at + 200, 60)
    # The board is published at most every 0.1 s: on a fast machine 200 steps can fit in less.
    assert wait_until(
        lambda: not np.array_equal(first.W[0], manager.snapshot(job_id, "a").W[0]), 60
    )
    manager.stop(job_id, "a")
    assert first.predict_proba(data.X_val[:3]).shape == (3, 10)


def test_an_owner_may_queue_two_runs_and_the_queue_has_a_bound(backend, request):
    m = make_manager(backend, request, max_running=1, max_queue=3)
    try:
        m.submit("test", Ticker(), owner="a")
        m.submit("test", Ticker(), owner="a")
        m.submit("test", Ticker(), owner="a")
        with pytest.raises(JobRefused, match="2 runs waiting"):
            m.submit("test", Ticker(), owner="a")
        m.submit("test", Ticker(), owner="b")
        with pytest.raises(JobRefused, match="queue is full"):
            m.submit("test", Ticker(), owner="c")
    finally:
        m.shutdown()


def test_a_run_paused_too_long_gives_its_slot_to_the_next_and_queues_on_resume(backend, request):
    m = make_manager(backend, request, max_running=1, pause_timeout=0.2)
    try:
        a = m.submit("test", Ticker(), owner="a")
        b = m.submit("test", Ticker(), owner="b")
        assert wait_until(lambda: "step" in m.view(a).last, 60)
        m.pause(a, "a")
        assert m.park_paused() == []  # not long enough yet
        time.sleep(0.3)
        assert m.park_paused() == [a]
        assert wait_until(lambda: "step" in m.view(b).last, 60)
        m.resume(a, "a")
        view = m.view(a)
        assert view.status == jobs.QUEUED and view.position == 1
        m.stop(b, "b")
        assert wait_until(lambda: m.view(a).status == jobs.RUNNING, 60)
        held = m.view(a).last["step"]["step"]
        assert wait_until(lambda: m.view(a).last["step"]["step"] > held, 30)
    finally:
        m.shutdown()


def test_an_over_budget_setup_is_refused_with_the_estimate_and_what_to_change():
    huge = TrainConfig(hidden=(4096, 4096, 4096, 4096), batch_size=0)
    with pytest.raises(JobRefused, match="GB of memory.*Try a batch size of 128"):
        training_job(huge)
    training_job(TrainConfig())  # the quick setup fits


def test_the_speed_behind_the_time_estimate_is_the_fastest_product_not_the_average(monkeypatch):
    """Fault injection on the clock: two products in three lose their core (10 ms instead of
    2). The machine's speed is what the unhindered ones show."""
    from core.runs import estimate

    ticks = iter(range(10_000))

    def clock() -> float:  # each product is timed by two readings: its start and its end
        k = next(ticks)
        rep, end = divmod(k, 2)
        return rep * 1.0 + (0.002 if rep % 3 == 0 else 0.010) * end

    estimate.flops_per_second.cache_clear()
    monkeypatch.setattr(estimate.time, "perf_counter", clock)
    try:
        assert estimate.flops_per_second() == pytest.approx(2 * 256 * 784 * 256 / 0.002)
    finally:
        monkeypatch.undo()
        estimate.flops_per_second.cache_clear()


def test_stop_while_the_data_is_still_coming_ends_the_job_at_once(monkeypatch, tmp_path):
    """A worker fetching MNIST from a mirror that never answers is ended, not waited for."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    monkeypatch.setenv("NNDIGITS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NNDIGITS_MNIST_MIRRORS", f"http://127.0.0.1:{silent.getsockname()[1]}/")
    m = JobManager(max_running=1, reap_every=None)
    try:
        job_id = m.submit("train", training_job(TrainConfig(hidden=(8,))), owner="a")
        assert wait_until(lambda: m.view(job_id).status == jobs.PREPARING, 60)
        m.stop(job_id, "a")
        assert m.view(job_id).status == jobs.STOPPED
        assert m.wait(job_id, 10).complete
    finally:
        m.shutdown()
        silent.close()


@pytest.mark.mnist
def test_a_tiny_training_job_on_the_real_mnist_learns(mnist):
    m = JobManager(max_running=1, reap_every=None)
    try:
        cfg = TrainConfig(hidden=(32,), train_size=2000, epochs=1, batch_size=100)
        view = m.wait(m.submit("train", training_job(cfg), owner="a"), 120)
        assert view.status == jobs.DONE
        assert view.last["done"]["test_acc"] > 0.6
        assert view.events["data"][0]["stage"].startswith("Loading MNIST")
    finally:
        m.shutdown()


def test_stop_in_the_middle_of_a_long_step_ends_the_worker_and_scores_what_it_left(manager):
    """A step that never looks at its control (one huge matrix product) does not hold up a
    stop: after a short grace its worker is ended and the weights it published are scored."""
    job_id = manager.submit("test", LongStep(seconds=120, value=0.25), owner="a")
    assert wait_until(lambda: "step" in manager.view(job_id).last, 60)
    manager.stop(job_id, "a")
    assert manager.view(job_id).status == jobs.STOPPED
    view = manager.wait(job_id, timeout=60)  # far less than the step's 120 s
    assert view.complete and view.status == jobs.STOPPED
    done = view.last["done"]
    assert done["stopped"] and done["step"] == 1
    assert done["test_acc"] == pytest.approx(0.25)  # the weights on the board were scored
    assert "stopped" not in view.last  # the worker never got to acknowledge: it was ended
    if manager.__class__ is JobManager:  # scored by a worker of its own
        assert done["pid"] != view.last["start"]["pid"]


def reported_threads(m, job_id):
    """The BLAS threads a `Threads` job reported at its latest step (None before its first)."""
    step = m.view(job_id).last.get("step")
    return step["threads"] if step else None


def test_a_second_run_takes_a_thread_from_the_first_and_gives_it_back_when_it_ends(monkeypatch):
    """On 2 cores a local run alone uses 2 BLAS threads, two runs use 1 each, without restarting.
    (A Ray job holds one CPU of the cluster: it always has 1.)"""
    monkeypatch.setattr("core.threads.cores", lambda: 2)
    m = JobManager(max_running=2, reap_every=None)

    def threads(job_id):
        return reported_threads(m, job_id)

    try:
        a = m.submit("test", Threads(), owner="a")
        assert wait_until(lambda: threads(a) == 2, 60)
        b = m.submit("test", Threads(), owner="b")
        assert wait_until(lambda: threads(b) == 1 and threads(a) == 1, 60)
        m.stop(b, "b")
        assert wait_until(lambda: threads(a) == 2, 60)
    finally:
        m.shutdown()


def test_a_run_watched_by_its_page_leaves_a_core_to_the_server_and_takes_it_back_after(
    monkeypatch,
):
    """While the run's page sends heartbeats from a browser on this machine, the server and the
    browser need CPU: a run alone on 2 cores trains with 1 BLAS thread, and gets its second back
    once the page stops looking. A browser on another computer takes nothing from it."""
    monkeypatch.setattr("core.threads.cores", lambda: 2)
    m = JobManager(max_running=2, reap_every=None, watch_window=0.5)

    def threads(job_id):
        return reported_threads(m, job_id)

    try:
        a = m.submit("test", Threads(), owner="a")
        assert wait_until(lambda: threads(a) == 2, 60)
        assert not m.touch(a, "someone else")  # a stranger's page is not a watcher
        for _ in range(5):  # nor is a page whose browser is on another computer
            assert m.touch(a, "a", here=False)
            time.sleep(0.1)
        assert not m.watched and threads(a) == 2
        watching_until = time.monotonic() + 60
        seen_one = False
        while time.monotonic() < watching_until and not seen_one:
            assert m.touch(a, "a")
            seen_one = threads(a) == 1
            time.sleep(0.1)
        assert seen_one and m.watched
        assert wait_until(lambda: threads(a) == 2, 60)  # nobody looked for 0.5 s
        assert not m.watched
    finally:
        m.shutdown()


def test_a_worker_started_by_the_app_does_not_import_the_app(monkeypatch):
    """Streamlit makes app.py the main module, and spawn runs the main module again in every
    worker. The worker trains: it must come up without Streamlit and the pages (they cost each
    run about a second before its first step, and ~60 MB)."""
    app = Path(__file__).resolve().parent.parent / "app.py"
    main = types.ModuleType("__main__")
    main.__file__ = str(app)
    monkeypatch.setitem(sys.modules, "__main__", main)
    m = JobManager(reap_every=None)
    try:
        view = m.wait(m.submit("test", Modules(), owner="a"), 60)
    finally:
        m.shutdown()
    assert view.status == jobs.DONE
    seen = view.last["step"]
    assert seen["main"] == str(app)  # the worker did run app.py as its main module...
    assert seen["numpy"] and not seen["streamlit"] and not seen["ui.common"]  # ...cheaply


def test_a_run_starts_in_the_worker_started_ahead_and_the_next_one_waits_ready():
    """The local backend keeps a spare worker with the engine loaded: Start hands it the run,
    and the next spare starts once the run is over. A spare killed while it waited, or started
    before a setting changed, is never used; shutting the manager down lets the spare go."""
    from core.runs.local import LocalBackend

    m = JobManager(reap_every=None, backend=LocalBackend(spare_after=0.1))

    def next_spare():
        assert wait_until(lambda: m.backend.spare is not None, 60)
        return m.backend.spare.process

    try:
        first = m.backend.spare.process
        job = m.submit("test", Ticker(n=5), owner="a")
        assert m.wait(job, 60).status == jobs.DONE
        assert m.get(job).runner.process is first
        second = next_spare()
        assert second is not first and second.is_alive()
        second.kill()
        second.join()
        job = m.submit("test", Ticker(n=5), owner="a")
        assert m.wait(job, 60).status == jobs.DONE
        assert m.get(job).runner.process is not second
        third = next_spare()
        assert third.is_alive()
        os.environ["NNDIGITS_SPARE_TEST"] = "1"  # a setting the spare was not started with
        try:
            job = m.submit("test", Ticker(n=5), owner="a")
            assert m.wait(job, 60).status == jobs.DONE
            assert m.get(job).runner.process is not third
        finally:
            del os.environ["NNDIGITS_SPARE_TEST"]
        third.join(10)
        assert not third.is_alive()  # let go
        third = next_spare()
    finally:
        m.shutdown()
    assert m.backend.spare is None
    third.join(10)
    assert not third.is_alive()


def test_no_spare_starts_up_beside_a_training_run_only_once_every_run_has_ended():
    """A process starting up takes a core for half a second: the next spare waits until no run
    is left training, so it never slows down a run that has just begun."""
    from core.runs.local import LocalBackend

    m = JobManager(max_running=2, reap_every=None, backend=LocalBackend(spare_after=0.1))
    try:
        long = m.submit("test", Ticker(), owner="a")
        assert wait_until(lambda: "step" in m.view(long).last, 60)
        short = m.submit("test", Ticker(n=5), owner="b")  # no spare left: a worker of its own
        assert m.wait(short, 60).status == jobs.DONE
        # One run ended, the other still trains: well past spare_after, still no spare.
        assert not wait_until(lambda: m.backend.spare is not None, 1.0)
        assert m.view(long).status == jobs.RUNNING
        m.stop(long, "a")
        assert m.wait(long, 60).status == jobs.STOPPED
        assert wait_until(lambda: m.backend.spare is not None, 60)
        assert m.backend.spare.process.is_alive()
    finally:
        m.shutdown()


def test_a_spare_that_died_as_it_was_handed_a_run_is_replaced_for_that_run():
    """Between the check that the spare lives and the hand-over it may die: the run then starts
    in a worker of its own instead of failing."""
    from core.runs.local import ProcessRunner, start_worker

    dead = start_worker()
    dead.process.kill()
    dead.process.join()
    events, ended = [], threading.Event()
    runner = ProcessRunner(
        "ab" * 16, Ticker(n=3), 1, events.append, lambda code: ended.set(), worker=dead
    )
    try:
        assert ended.wait(60)
        assert runner.process is not dead.process
        assert runner.process.exitcode == 0
        assert [type(e).__name__ for e in events] == ["Start", "Step", "Step", "Step", "Done"]
    finally:
        runner.close()


# A server that starts a worker, pauses its run and dies without a word (killed, or its
# terminal closed): run as a process of its own, it prints its worker's pid, then _exits.
ORPHANING_SERVER = """
import os, sys
sys.path.insert(0, {root!r})
from core.runs.local import start_worker
from tests.job_tasks import Ticker

worker = start_worker()
worker.run.clear()  # paused: the run waits for a resume that will never come
worker.give(Ticker(n=10**9), "", 1)
worker.events.recv()  # its Start: the task is running, held by the pause
print(worker.process.pid, os.getsid(0), os.getsid(worker.process.pid), flush=True)
os._exit(0)
"""


def gone(pid: int) -> bool:
    """No such process, or only its exit status left (a zombie waiting for its new parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_worker_runs_in_a_session_of_its_own_and_ends_when_its_server_is_gone(tmp_path):
    """Its own session lets the kernel share the cores between the server and training rather
    than out of the server's share (`bench/app_load.py`). Outside the server's session a
    terminal's hang-up no longer ends it, so it watches its server: a paused run whose server
    was killed must not wait forever."""
    import subprocess

    root = str(Path(__file__).resolve().parent.parent)
    with open(tmp_path / "server.err", "w") as err:
        server = subprocess.Popen(  # the worker inherits its stdout: read one line, not to EOF
            [sys.executable, "-c", ORPHANING_SERVER.format(root=root)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    with server:
        line = server.stdout.readline()
        assert server.wait(60) == 0, (tmp_path / "server.err").read_text()
    assert line, (tmp_path / "server.err").read_text()
    pid, server_session, worker_session = map(int, line.split())
    assert worker_session == pid != server_session
    assert not gone(pid)  # the server is gone; its paused worker is not, yet
    assert wait_until(lambda: gone(pid), timeout=30, every=0.1)
