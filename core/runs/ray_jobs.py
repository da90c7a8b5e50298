"""The `ray` backend: jobs run on a Ray cluster, and every app server sees the same jobs.

The job manager (core.jobs.JobManager, unchanged) lives in one detached actor named "manager"
in the "digits" namespace, so its queue, limits and owners are the cluster's, whichever app
server asks. Each running job is a named actor "job-<id>" that takes one CPU; its events are
pulled by the manager and its weights read on demand. Ray's own RAY_ADDRESS names the cluster;
with token authentication on (Ray 2.60's default) the app servers need RAY_AUTH_MODE=token and
the cluster's token (README: Sharing with a class). Only imported when DIGITS_JOBS=ray.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import ray

from core.runs.events import Failed
from core.runs.loop import Control

log = logging.getLogger(__name__)

NAMESPACE = "digits"
MANAGER = "manager"
CONNECT_TRIES = 30  # tries to find or make the manager while a shut-down one lets go of its name
ROOT = str(Path(__file__).resolve().parents[2])  # the app's folder: workers import core from it
POLL = 0.25  # seconds a manager's poll waits for new events


@ray.remote(num_cpus=1, max_concurrency=4)
class JobWorker:
    """One job's run, in a Ray worker process: the task on a thread, its events kept here."""

    def __init__(self):
        self.threads = SimpleNamespace(value=1)
        self.control = Control(threads=self.threads)
        self.events: list = []
        self.finished = False
        self.halted = False  # the stopped run's own thread no longer reports
        self.cond = threading.Condition()

    def start(self, task, blas_threads: int) -> None:
        self.set_threads(blas_threads)
        self.control.apply_threads()
        threading.Thread(target=self._run, args=(task,), daemon=True).start()

    def _run(self, task, events=None) -> None:
        mine = events is not None  # a scoring thread reports even after a halt
        try:
            for event in events if mine else task(self.control):
                if not self._add(event, mine):
                    return
        except Exception as e:  # reported to the user as the job's failure
            log.exception("job task failed")
            self._add(Failed(reason=str(e) or type(e).__name__), mine)
        with self.cond:
            if mine or not self.halted:
                self.finished = True
                self.cond.notify_all()

    def _add(self, event, scoring: bool = False) -> bool:
        with self.cond:
            if self.halted and not scoring:
                return False
            self.events.append(event)
            self.cond.notify_all()
            return True

    def halt(self, task, at) -> None:
        """Stop listening to a stopped run busy with a long step and score its weights now, on
        another thread (a thread cannot be ended; the actor, killed when the job ends, goes
        with it)."""
        with self.cond:
            if self.finished or self.halted:
                return
            self.halted = True
        net = self.control.snapshot()
        if net is None or not hasattr(task, "score"):
            with self.cond:
                self.finished = True
                self.cond.notify_all()
            return
        threading.Thread(target=self._run, args=(task, task.score(net, at)), daemon=True).start()

    def set_threads(self, n: int) -> None:
        self.threads.value = max(1, int(n))

    def poll(self, seen: int, timeout: float = POLL):
        """(events after the first `seen`, finished?), waiting up to `timeout` for news."""
        with self.cond:
            self.cond.wait_for(lambda: len(self.events) > seen or self.finished, timeout)
            return self.events[seen:], self.finished

    def stop(self) -> None:
        self.control.stop()

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def snapshot(self):
        return self.control.snapshot()


class RayRunner:
    """The manager's handle on one worker actor."""

    def __init__(self, job_id: str, task, blas_threads: int, on_event, on_end):
        self.actor = JobWorker.options(
            name=f"job-{job_id}", namespace=NAMESPACE, lifetime="detached"
        ).remote()
        self.actor.start.remote(task, blas_threads)
        threading.Thread(target=self._pump, args=(on_event, on_end), daemon=True).start()

    def _pump(self, on_event, on_end) -> None:
        seen, end = 0, 0
        try:
            while True:
                events, finished = ray.get(self.actor.poll.remote(seen))
                for event in events:
                    on_event(event)
                seen += len(events)
                if finished:
                    break
        except ray.exceptions.RayActorError as e:
            end = f"the training process ended unexpectedly (Ray: {type(e).__name__})"
        except Exception as e:  # the cluster went away
            end = f"lost contact with the training process ({type(e).__name__}: {e})"
        on_end(end)

    def _call(self, method) -> None:
        try:
            getattr(self.actor, method).remote()
        except Exception:
            log.exception("ray job %s", method)

    def stop(self) -> None:
        self._call("stop")

    def pause(self) -> None:
        self._call("pause")

    def resume(self) -> None:
        self._call("resume")

    def halt(self, task, at) -> None:
        try:
            self.actor.halt.remote(task, at)
        except Exception:
            log.exception("ray job halt")

    def set_threads(self, n: int) -> None:
        try:
            self.actor.set_threads.remote(n)
        except Exception:
            log.exception("ray job set_threads")

    def kill(self) -> None:
        try:
            ray.kill(self.actor)
        except Exception:
            pass

    def snapshot(self):
        try:
            return ray.get(self.actor.snapshot.remote(), timeout=10)
        except Exception:
            return None

    def close(self) -> None:
        self.kill()


class RayBackend:
    name = "ray"
    threads = 1  # each job's actor holds one CPU of the cluster

    def launch(self, job_id: str, task, blas_threads: int, on_event, on_end) -> RayRunner:
        return RayRunner(job_id, task, blas_threads, on_event, on_end)


@ray.remote(num_cpus=0, max_concurrency=64)
class ManagerActor:
    """core.jobs.JobManager on the cluster, with Ray worker actors as its backend."""

    def __init__(self, settings: dict):
        from core.jobs import JobManager

        settings = dict(settings)
        # On a cluster, the CPUs Ray offers are the slots (unless NNDIGITS_MAX_JOBS says).
        settings["max_running"] = settings.get("max_running") or int(
            ray.cluster_resources().get("CPU", 1)
        )
        self.manager = JobManager(backend=RayBackend(), **settings)

    def call(self, method: str, *args, **kwargs):
        return getattr(self.manager, method)(*args, **kwargs)

    def attribute(self, name: str):
        return getattr(self.manager, name)


class RayJobs:
    """What pages use (the JobManager's methods), answered by the cluster's manager actor."""

    def __init__(self, actor):
        self.actor = actor
        self.max_running = ray.get(actor.attribute.remote("max_running"))

    def _call(self, method, *args, **kwargs):
        result = ray.get(self.actor.call.remote(method, *args, **kwargs))
        return result

    def submit(self, kind, task, owner, meta=None):
        return self._call("submit", kind, task, owner, meta)

    def view(self, job_id):
        return self._call("view", job_id) if job_id else None

    def views(self, owner=None, kind=None):
        return self._call("views", owner, kind)

    def running_count(self):
        return self._call("running_count")

    def touch(self, job_id, owner, here=True):
        return self._call("touch", job_id, owner, here)

    def pause(self, job_id, owner):
        return self._call("pause", job_id, owner)

    def resume(self, job_id, owner):
        return self._call("resume", job_id, owner)

    def stop(self, job_id, owner):
        return self._call("stop", job_id, owner)

    def forget(self, job_id, owner):
        return self._call("forget", job_id, owner)

    def snapshot(self, job_id, owner):
        return self._call("snapshot", job_id, owner)

    def wait(self, job_id, timeout=None):
        return self._call("wait", job_id, timeout)

    def reap(self):
        return self._call("reap")

    def park_paused(self, now=None):
        return self._call("park_paused", now)

    def shutdown(self, timeout: float = 5.0):
        """Stop every job of the cluster's manager and remove the manager actor."""
        try:
            self._call("shutdown", timeout)
        finally:
            ray.kill(self.actor)


def connect(**settings) -> RayJobs:
    """Join the Ray cluster (RAY_ADDRESS, else a local one) and find or create its manager."""
    if not ray.is_initialized():
        ray.init(
            address=os.environ.get("RAY_ADDRESS") or "auto",
            namespace=NAMESPACE,
            runtime_env={"env_vars": {"PYTHONPATH": ROOT}},
            log_to_driver=False,
        )
    for attempt in range(CONNECT_TRIES):
        actor = ManagerActor.options(
            name=MANAGER, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
        ).remote(settings)
        try:
            return RayJobs(actor)
        except ray.exceptions.ActorDiedError:
            # A manager shut down a moment ago (`ray.kill` returns at once) can still hold the
            # name: ask again once the cluster has let it go.
            if attempt == CONNECT_TRIES - 1:
                raise
            time.sleep(0.1)
