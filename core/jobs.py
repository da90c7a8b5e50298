"""Background jobs: run any generator of metric dicts on a worker thread, a few at a time.

Owns the worker threads, the FIFO queue beyond `max_running`, the per-job record of metrics,
heartbeats from the job's owner (a browser session) and the reaper that cleans up after owners
who left. It never imports streamlit: pages read immutable `JobView` snapshots and call
stop/pause/resume/touch, so nothing here ever waits on a page and no worker ever touches one.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import MappingProxyType

from core.train import Control, TrainConfig

log = logging.getLogger(__name__)

QUEUED = "queued"
PREPARING = "preparing data"
RUNNING = "running"
PAUSED = "paused"
DONE = "done"
STOPPED = "stopped"
DIVERGED = "diverged"
FAILED = "failed"
ACTIVE = frozenset({QUEUED, PREPARING, RUNNING, PAUSED})
FINISHED = frozenset({DONE, STOPPED, DIVERGED, FAILED})

MakeGenerator = Callable[[Control], Iterator[dict]]
"""make(control) -> an iterator of metric dicts, each with a "kind". The job calls it on its own
thread; the generator should check `control` between units of work (core.train.train does)."""

OWNER_TIMEOUT = 600.0  # seconds without a heartbeat before an active job is stopped and dropped
FINISHED_TTL = 3600.0  # seconds without a heartbeat before a finished job is dropped
MAX_EVENTS_PER_KIND = 1000  # beyond this a kind's history is thinned to every other event
REAP_EVERY = 30.0  # seconds between reaper passes


@dataclass(frozen=True)
class JobView:
    """A consistent, read-only snapshot of a job, safe to hand to a page."""

    id: str
    kind: str
    owner: str
    meta: MappingProxyType
    status: str
    position: int  # 1 = next to start; 0 when not queued
    stop_requested: bool
    error: str | None
    events: MappingProxyType  # kind -> tuple of metric dicts (oldest first, maybe thinned)
    last: MappingProxyType  # kind -> the latest metric dict of that kind (never thinned)
    n_events: int  # every event received, thinned or not: a cheap "has anything changed"
    created: float  # wall-clock times (time.time()) for display
    started: float | None
    ended: float | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def series(self, kind: str) -> list[dict]:
        """Every kept event of one kind, the latest always included."""
        kept = list(self.events.get(kind, ()))
        latest = self.last.get(kind)
        if latest is not None and (not kept or kept[-1] is not latest):
            kept.append(latest)
        return kept


class Job:
    """One unit of background work. Only the manager and the worker thread change it."""

    def __init__(self, kind, make_generator, owner, meta, clock, max_events):
        self.id = uuid.uuid4().hex
        self.kind = kind
        self.owner = owner
        self.meta = dict(meta or {})
        self.control = Control()  # pause/resume/stop, and snapshot() of the weights in training
        self.make_generator = make_generator
        self.status = QUEUED
        self.error: str | None = None
        self.created = time.time()
        self.started: float | None = None
        self.ended: float | None = None
        self.last_seen = clock()
        self.thread: threading.Thread | None = None
        self._clock = clock
        self._max_events = max_events
        self._lock = threading.Lock()
        self._events: dict[str, list[dict]] = {}
        self._stride: dict[str, int] = {}  # keep 1 in `stride` events of a kind once thinned
        self._count: dict[str, int] = {}
        self._last: dict[str, dict] = {}
        self._n_events = 0
        self._finished = threading.Event()

    def record(self, event: dict) -> None:
        """Keep a metric event; a long run keeps an evenly thinned history per kind."""
        kind = str(event.get("kind", "event"))
        with self._lock:
            self._n_events += 1
            self._last[kind] = event
            if kind == "data":
                self.status = PREPARING
            elif self.status == PREPARING:
                self.status = RUNNING
            n = self._count.get(kind, 0)
            self._count[kind] = n + 1
            stride = self._stride.get(kind, 1)
            if n % stride:
                return
            kept = self._events.setdefault(kind, [])
            kept.append(event)
            if len(kept) > self._max_events:
                # Halving the history and the rate together keeps the points evenly spaced.
                self._events[kind] = kept[::2]
                self._stride[kind] = stride * 2

    def _set(self, **changes) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self, k, v)

    def view(self, position: int = 0) -> JobView:
        with self._lock:
            status = self.status
            if status == RUNNING and self.control.paused and not self.control.stopped:
                status = PAUSED
            return JobView(
                id=self.id,
                kind=self.kind,
                owner=self.owner,
                meta=MappingProxyType(dict(self.meta)),
                status=status,
                position=position,
                stop_requested=self.control.stopped,
                error=self.error,
                events=MappingProxyType({k: tuple(v) for k, v in self._events.items()}),
                last=MappingProxyType(dict(self._last)),
                n_events=self._n_events,
                created=self.created,
                started=self.started,
                ended=self.ended,
            )


class JobManager:
    """Thread-safe registry of jobs: at most `max_running` at once, the rest wait in FIFO order."""

    def __init__(
        self,
        max_running: int | None = None,
        owner_timeout: float = OWNER_TIMEOUT,
        finished_ttl: float = FINISHED_TTL,
        max_events_per_kind: int = MAX_EVENTS_PER_KIND,
        reap_every: float | None = REAP_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ):
        from core.threads import cores

        self.max_running = max(1, int(max_running or cores()))
        self.owner_timeout = owner_timeout
        self.finished_ttl = finished_ttl
        self.max_events_per_kind = max_events_per_kind
        self.clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._queue: list[Job] = []
        self._running: set[str] = set()
        self._closed = threading.Event()
        if reap_every:
            threading.Thread(
                target=self._reap_forever, args=(reap_every,), name="job-reaper", daemon=True
            ).start()

    # --- submitting and looking up ---------------------------------------------------------

    def submit(
        self, kind: str, make_generator: MakeGenerator, owner: str, meta: dict | None = None
    ) -> str:
        """Queue a job; it starts at once when a slot is free. Returns its id."""
        job = Job(kind, make_generator, owner, meta, self.clock, self.max_events_per_kind)
        with self._lock:
            self._jobs[job.id] = job
            self._queue.append(job)
            self._start_queued()
        return job.id

    def get(self, job_id: str | None) -> Job | None:
        """The job itself (for `job.control.snapshot()`), or None if unknown or cleaned up."""
        if not job_id:
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def view(self, job_id: str | None) -> JobView | None:
        """A snapshot of one job, or None if unknown or cleaned up."""
        with self._lock:
            job = self._jobs.get(job_id) if job_id else None
            if job is None:
                return None
            position = self._queue.index(job) + 1 if job in self._queue else 0
        return job.view(position)

    def views(self, owner: str | None = None, kind: str | None = None) -> list[JobView]:
        """Snapshots of every job (of one owner and/or kind), oldest first."""
        with self._lock:
            jobs = [
                j
                for j in self._jobs.values()
                if (owner is None or j.owner == owner) and (kind is None or j.kind == kind)
            ]
            positions = {j.id: i + 1 for i, j in enumerate(self._queue)}
        return sorted((j.view(positions.get(j.id, 0)) for j in jobs), key=lambda v: v.created)

    def running_count(self) -> int:
        with self._lock:
            return len(self._running)

    # --- control -----------------------------------------------------------------------------

    def touch(self, job_id: str | None, owner: str | None = None) -> bool:
        """A heartbeat from the job's page; `owner` hands the job to a new session (a reload)."""
        job = self.get(job_id)
        if job is None:
            return False
        job._set(last_seen=self.clock(), **({"owner": owner} if owner else {}))
        return True

    def pause(self, job_id: str) -> None:
        job = self.get(job_id)
        if job is not None:
            job.control.pause()

    def resume(self, job_id: str) -> None:
        job = self.get(job_id)
        if job is not None:
            job.control.resume()

    def stop(self, job_id: str) -> None:
        """Ask a job to stop: a queued job ends at once, a running one after its current batch."""
        job = self.get(job_id)
        if job is None:
            return
        job.control.stop()
        with self._lock:
            if job in self._queue:
                self._queue.remove(job)
                job._set(status=STOPPED, ended=time.time())
                job._finished.set()

    def forget(self, job_id: str) -> None:
        """Stop a job and drop it from the registry (its thread winds down by itself)."""
        self.stop(job_id)
        with self._lock:
            self._jobs.pop(job_id, None)

    def wait(self, job_id: str, timeout: float | None = None) -> JobView | None:
        """Block until the job has finished (or the timeout passed); returns its snapshot."""
        job = self.get(job_id)
        if job is None:
            return None
        job._finished.wait(timeout)
        return self.view(job_id) or job.view()

    # --- clean-up ----------------------------------------------------------------------------

    def reap(self) -> list[str]:
        """Stop and drop jobs whose owner stopped sending heartbeats; returns their ids."""
        now = self.clock()
        with self._lock:
            jobs = list(self._jobs.values())
        gone = []
        for job in jobs:
            idle = now - job.last_seen
            finished = job.status in FINISHED
            if idle > (self.finished_ttl if finished else self.owner_timeout):
                self.forget(job.id)
                gone.append(job.id)
                log.info("Cleaned up %s job %s (no heartbeat for %.0f s)", job.kind, job.id, idle)
        return gone

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every job and wait a little for their threads (tests and server exit)."""
        self._closed.set()
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            self.stop(job.id)
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout)

    def _reap_forever(self, every: float) -> None:
        while not self._closed.wait(every):
            try:
                self.reap()
            except Exception:  # the reaper must outlive any surprise
                log.exception("job reaper")

    # --- the workers -------------------------------------------------------------------------

    def _start_queued(self) -> None:
        """Start queued jobs while slots are free. Call with self._lock held."""
        while self._queue and len(self._running) < self.max_running:
            job = self._queue.pop(0)
            self._running.add(job.id)
            job._set(status=PREPARING, started=time.time())
            job.thread = threading.Thread(
                target=self._work, args=(job,), name=f"job-{job.kind}-{job.id[:8]}", daemon=True
            )
            job.thread.start()

    def _work(self, job: Job) -> None:
        last_kind = None
        try:
            for event in job.make_generator(job.control):
                job.record(event)
                last_kind = event.get("kind")
            if last_kind == "diverged":
                status = DIVERGED
            elif job.control.stopped:
                status = STOPPED
            else:
                status = DONE
            job._set(status=status)
        except Exception as e:  # a failing job must never take the server down
            log.exception("%s job %s failed", job.kind, job.id)
            job._set(status=FAILED, error=str(e) or type(e).__name__)
        finally:
            job._set(ended=time.time())
            job._finished.set()
            with self._lock:
                self._running.discard(job.id)
                self._start_queued()


# --- the process-wide manager -------------------------------------------------------------------

_manager: JobManager | None = None
_manager_lock = threading.Lock()


def get_manager() -> JobManager:
    """The one JobManager of this process (a Streamlit server shares it between sessions).

    NNDIGITS_MAX_JOBS sets how many jobs run at once (default: one per core).
    """
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = JobManager(max_running=int(os.environ.get("NNDIGITS_MAX_JOBS", 0) or 0))
        return _manager


# --- training as a job --------------------------------------------------------------------------


def training_job(config: TrainConfig) -> MakeGenerator:
    """A job that makes sure MNIST is here (reporting progress), then trains with `config`.

    Events: "data" ({stage, fraction}) while acquiring and loading the data set, then whatever
    core.train.train yields. A stop while the data is still coming ends the job at once.
    """

    def run(control: Control) -> Iterator[dict]:
        data = yield from _prepare_data(config, control)
        if data is None:
            return
        yield from _train(config, data, control)

    return run


def _train(config, data, control):
    from core.train import train

    return train(config, data, control)


def _prepare_data(config: TrainConfig, control: Control, poll: float = 0.05):
    """Acquire and load MNIST on a helper thread, yielding its progress; None when stopped.

    The helper thread lets a stop take effect at once even while a download (or another job's
    download, which holds the data lock) is under way; the download finishes in the background
    and caches the data for the next run.
    """
    from core import data as mnist
    from core.train import load_data

    events: queue.SimpleQueue = queue.SimpleQueue()
    result: dict = {}

    def progress(stage: str, fraction: float | None) -> None:
        events.put({"kind": "data", "stage": stage, "fraction": fraction})

    def work() -> None:
        try:
            if not mnist.is_cached():
                progress("MNIST is not on this machine yet: fetching it", None)
                mnist.ensure_mnist(progress)
            progress("Loading MNIST from the local cache", None)
            result["data"] = load_data(config)
        except BaseException as e:  # handed to the job, which reports it as failed
            result["error"] = e

    helper = threading.Thread(target=work, name="job-data", daemon=True)
    helper.start()
    while True:
        helper.join(poll)
        while not events.empty():
            yield events.get()
        if control.stopped:
            return None
        if not helper.is_alive():
            break
    if "error" in result:
        raise result["error"]
    return result["data"]


def wait_until(predicate: Callable[[], bool], timeout: float, every: float = 0.02) -> bool:
    """Poll `predicate` until true or `timeout` seconds passed (for tests and scripts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


__all__ = [
    "ACTIVE",
    "FINISHED",
    "Job",
    "JobManager",
    "JobView",
    "get_manager",
    "training_job",
]
