"""Background jobs: the queue, the limits, the owners and the record of every run's events.

The runs themselves happen elsewhere, in a backend: `local` (default) gives each running job a
worker process on this machine; `ray` (DIGITS_JOBS=ray) runs them on a Ray cluster, where the
manager itself lives in a named actor so every app server sees the same jobs. Pages read
immutable `JobView` snapshots and call submit/stop/pause/resume/touch with their owner id; a
control call from anyone else is refused. It never imports streamlit.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from core.messages import Message
from core.runs.events import (
    ACTIVE,
    DIVERGED,
    DONE,
    FAILED,
    FINISHED,
    PAUSED,
    PREPARING,
    QUEUED,
    RUNNING,
    STOPPED,
    DataProgress,
    Diverged,
    Done,
    Event,
    Failed,
    Stopped,
)
from core.runs.local import exit_reason
from core.runs.tasks import FinetuneTask, TrainTask

log = logging.getLogger(__name__)

OWNER_TIMEOUT = 600.0  # seconds without a heartbeat before an active job is stopped and dropped
FINISHED_TTL = 3600.0  # seconds without a heartbeat before a finished job is dropped
PAUSE_TIMEOUT = 180.0  # seconds paused before a run gives its slot to the next in the queue
MAX_EVENTS_PER_KIND = 1000  # beyond this a kind's history is thinned to every other event
MAX_QUEUED_PER_OWNER = 2  # runs one owner may have waiting in the queue
MAX_QUEUE = 20  # runs waiting in the queue, all owners together
REAP_EVERY = 10.0  # seconds between reaper passes
STOP_GRACE = 0.2  # seconds a stopped worker has to leave its step before it is ended
WATCH_WINDOW = 3.0  # seconds after a page's last heartbeat during which a core is kept for pages


class JobRefused(ValueError):
    """A job that may not start (a limit, or someone else's job); the message says why."""


def env_number(name: str, default: float) -> float:
    """A number from the environment, or `default` when unset or not a number."""
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        log.warning("%s=%r is not a number; using %s", name, os.environ.get(name), default)
        return default


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
    events: MappingProxyType  # kind -> tuple of events (oldest first, maybe thinned)
    last: MappingProxyType  # kind -> the latest event of that kind (never thinned)
    n_events: int  # every event received, thinned or not: a cheap "has anything changed"
    created: float  # wall-clock times (time.time()) for display
    started: float | None
    ended: float | None  # when the status became final (a stop: at once)
    complete: bool = False  # the worker is gone: no more events will come

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def scoring(self) -> bool:
        """Stopped, and the weights so far are still being scored (a Done will follow)."""
        return self.status == STOPPED and not self.complete and "done" not in self.last

    def series(self, kind: str) -> list:
        """Every kept event of one kind, the latest always included."""
        kept = list(self.events.get(kind, ()))
        latest = self.last.get(kind)
        if latest is not None and (not kept or kept[-1] is not latest):
            kept.append(latest)
        return kept

    def __reduce__(self):  # mapping proxies do not pickle; a view crosses processes with Ray
        state = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in ("meta", "events", "last"):
            state[k] = dict(state[k])
        return (_view_from_state, (state,))


def _view_from_state(state: dict) -> JobView:
    for k in ("meta", "events", "last"):
        state[k] = MappingProxyType(state[k])
    return JobView(**state)


class Job:
    """The manager's record of one job. Only the manager and its backend callbacks change it."""

    def __init__(self, kind, task, owner, meta, clock, max_events):
        self.id = uuid.uuid4().hex
        self.kind = kind
        self.owner = owner
        self.meta = dict(meta or {})
        self.task = task
        self.status = QUEUED
        self.error: str | None = None
        self.stop_requested = False
        self.paused = False
        self.paused_at: float | None = None
        self.parked = False  # paused so long that its slot went to another run
        self.runner = None
        self.created = time.time()
        self.started: float | None = None
        self.ended: float | None = None
        self.last_seen = clock()
        self.forgotten = False
        self._max_events = max_events
        self._lock = threading.Lock()
        self._events: dict[str, list[Event]] = {}
        self._stride: dict[str, int] = {}  # keep 1 in `stride` events of a kind once thinned
        self._count: dict[str, int] = {}
        self._last: dict[str, Event] = {}
        self._n_events = 0
        self.complete = threading.Event()

    def record(self, event: Event) -> None:
        """Keep an event and move the status on; a long run keeps a thinned history per kind."""
        kind = event.kind
        with self._lock:
            self._n_events += 1
            self._last[kind] = event
            self._advance(event)
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

    def _advance(self, event: Event) -> None:
        if self.status in FINISHED:
            return
        if isinstance(event, DataProgress):
            self.status = PREPARING
        elif isinstance(event, Stopped):
            self._finish(STOPPED)
        elif isinstance(event, Diverged):
            self._finish(DIVERGED)
        elif isinstance(event, Failed):
            self.error = event.reason
            self._finish(FAILED)
        elif isinstance(event, Done):
            self._finish(STOPPED if self.stop_requested else DONE)
        elif self.status == PREPARING:
            self.status = RUNNING

    def _finish(self, status: str) -> None:
        self.status = status
        self.ended = self.ended or time.time()

    def set(self, **changes) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self, k, v)

    def has(self, kind: str) -> bool:
        with self._lock:
            return kind in self._last

    def view(self, position: int = 0) -> JobView:
        with self._lock:
            status = self.status
            if status == RUNNING and self.paused and not self.stop_requested:
                status = PAUSED
            return JobView(
                id=self.id,
                kind=self.kind,
                owner=self.owner,
                meta=MappingProxyType(dict(self.meta)),
                status=status,
                position=position,
                stop_requested=self.stop_requested,
                error=self.error,
                events=MappingProxyType({k: tuple(v) for k, v in self._events.items()}),
                last=MappingProxyType(dict(self._last)),
                n_events=self._n_events,
                created=self.created,
                started=self.started,
                ended=self.ended,
                complete=self.complete.is_set(),
            )


class JobManager:
    """Thread-safe registry of jobs: at most `max_running` at once, the rest wait in FIFO order."""

    def __init__(
        self,
        max_running: int | None = None,
        backend=None,
        owner_timeout: float = OWNER_TIMEOUT,
        finished_ttl: float = FINISHED_TTL,
        pause_timeout: float = PAUSE_TIMEOUT,
        max_events_per_kind: int = MAX_EVENTS_PER_KIND,
        max_queued_per_owner: int = MAX_QUEUED_PER_OWNER,
        max_queue: int = MAX_QUEUE,
        reap_every: float | None = REAP_EVERY,
        stop_grace: float = STOP_GRACE,
        watch_window: float = WATCH_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ):
        from core.runs.local import LocalBackend
        from core.threads import cores

        self.cores = cores()
        self.max_running = max(1, int(max_running or self.cores))
        self.backend = backend if backend is not None else LocalBackend()
        self.owner_timeout = owner_timeout
        self.finished_ttl = finished_ttl
        self.pause_timeout = pause_timeout
        self.max_events_per_kind = max_events_per_kind
        self.max_queued_per_owner = max_queued_per_owner
        self.max_queue = max_queue
        self.stop_grace = stop_grace
        self.watch_window = watch_window
        self.clock = clock
        # Called with the JobView of each job once its worker is gone (in the reading thread):
        # the app keeps every run's history with it, even when no page is open at the end.
        self.on_complete: Callable[[JobView], None] | None = None
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._queue: list[Job] = []
        self._running: set[str] = set()
        self._closed = threading.Event()
        self._watch_timer: threading.Timer | None = None  # set while a page is watching
        self._last_watch = 0.0
        if reap_every:
            threading.Thread(
                target=self._reap_forever, args=(reap_every,), name="job-reaper", daemon=True
            ).start()

    # --- submitting and looking up ---------------------------------------------------------

    def submit(self, kind: str, task, owner: str, meta: dict | None = None) -> str:
        """Queue a job (a picklable task(control) -> events); it starts when a slot is free.

        Returns its id; raises JobRefused when the owner or the server has too many waiting.
        """
        job = Job(kind, task, owner, meta, self.clock, self.max_events_per_kind)
        with self._lock:
            full = len(self._running) >= self.max_running
            if full:
                mine = sum(1 for j in self._queue if j.owner == owner)
                if mine >= self.max_queued_per_owner:
                    most = self.max_queued_per_owner
                    raise JobRefused(
                        Message(
                            "jobs.queued_too_many",
                            f"You already have {mine} runs waiting in the queue (at most "
                            f"{most}). Stop one of them, or wait until it starts.",
                            mine=mine,
                            most=most,
                        )
                    )
                if len(self._queue) >= self.max_queue:
                    waiting, slots = len(self._queue), self.max_running
                    raise JobRefused(
                        Message(
                            "jobs.queue_full",
                            f"The queue is full: {waiting} runs are waiting for {slots} slots on "
                            f"this server. Try again in a few minutes.",
                            waiting=waiting,
                            slots=slots,
                        )
                    )
            self._jobs[job.id] = job
            self._queue.append(job)
            self._start_queued()
        return job.id

    def get(self, job_id: str | None) -> Job | None:
        """The job's record, or None if unknown or cleaned up."""
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

    # --- control, by the owner only ----------------------------------------------------------

    def _owned(self, job_id: str | None, owner: str) -> Job | None:
        job = self.get(job_id)
        return job if job is not None and job.owner == owner else None

    def touch(self, job_id: str | None, owner: str, here: bool = True) -> bool:
        """A heartbeat from the job's page; False (and nothing done) unless `owner` owns it.

        `here`: the page's browser runs on this machine, and needs a core while it draws
        (`_watched`); a browser on a student's own computer costs this machine nothing.
        """
        job = self._owned(job_id, owner)
        if job is None:
            return False
        job.set(last_seen=self.clock())
        if here:
            self._watched()
        return True

    def _watched(self) -> None:
        """A page whose browser is on this machine shows a job live. The server and that
        browser need CPU too: while such pages watch, the running jobs share one core less (on
        2 cores a run alone gets 1 BLAS thread, not 2). OpenBLAS threads that outnumber the free
        cores wait on each other: a 2-thread run with a page watching on 2 cores trains at about
        half the speed of a 1-thread one (`bench/app_speed.py`). When no such page has looked
        for `watch_window` seconds, the core goes back to training."""
        with self._lock:
            self._last_watch = time.monotonic()
            if self._watch_timer is None and not self._closed.is_set():
                self._arm_watch(self.watch_window)
                self._balance_threads()

    def _arm_watch(self, seconds: float) -> None:
        timer = threading.Timer(seconds, self._watch_ended)
        timer.daemon = True
        self._watch_timer = timer
        timer.start()

    def _watch_ended(self) -> None:
        with self._lock:
            left = self._last_watch + self.watch_window - time.monotonic()
            if left > 0 and not self._closed.is_set():
                self._arm_watch(left)  # a heartbeat came since: look again when it expires
                return
            self._watch_timer = None
            self._balance_threads()

    @property
    def watched(self) -> bool:
        """Whether a page showed a job within the last `watch_window` seconds."""
        return self._watch_timer is not None

    def pause(self, job_id: str, owner: str) -> bool:
        job = self._owned(job_id, owner)
        if job is None or job.status not in (RUNNING, PREPARING) or job.stop_requested:
            return False
        job.set(paused=True, paused_at=self.clock())
        job.runner.pause()
        return True

    def resume(self, job_id: str, owner: str) -> bool:
        """Resume a paused run; one whose slot went to another run queues for a slot again."""
        job = self._owned(job_id, owner)
        if job is None or not job.paused:
            return False
        with self._lock:
            job.set(paused=False, paused_at=None)
            if not job.parked:
                job.runner.resume()
            elif job not in self._queue:
                job.set(status=QUEUED)
                self._queue.append(job)
                self._start_queued()
        return True

    def stop(self, job_id: str, owner: str) -> bool:
        """Stop a job; the view says "stopped" at once. A queued job ends without running, a
        running one ends its training within a batch or an evaluation chunk, then its weights
        are scored (a Done event follows)."""
        job = self._owned(job_id, owner)
        if job is None:
            return False
        self._stop(job)
        return True

    def snapshot(self, job_id: str | None, owner: str):
        """A consistent copy of the job's current weights (a Network), or None."""
        job = self._owned(job_id, owner)
        if job is None or job.runner is None or not job.has("start"):
            return None
        return job.runner.snapshot()

    def forget(self, job_id: str, owner: str) -> bool:
        """Stop a job and drop it from the registry (its worker winds down by itself)."""
        job = self._owned(job_id, owner)
        if job is None:
            return False
        self._forget(job)
        return True

    def wait(self, job_id: str, timeout: float | None = None) -> JobView | None:
        """Block until the job's worker is gone (or the timeout passed); returns its snapshot."""
        job = self.get(job_id)
        if job is None:
            return None
        job.complete.wait(timeout)
        return self.view(job_id) or job.view()

    def _stop(self, job: Job) -> None:
        with self._lock:
            if job.status in FINISHED and job.complete.is_set():
                return
            job.set(stop_requested=True)
            if job in self._queue:
                self._queue.remove(job)
                if job.runner is None:  # never started: nothing to score
                    job.set(status=STOPPED, ended=time.time())
                    job.complete.set()
                    return
            if job.status not in FINISHED:
                job.set(status=STOPPED, ended=time.time())
            runner = job.runner
        if runner is None:
            return
        if not job.has("start"):
            runner.kill()  # still fetching data: no weights to keep, so end it at once
        else:
            runner.stop()
            timer = threading.Timer(self.stop_grace, self._halt_if_busy, args=(job,))
            timer.daemon = True
            timer.start()

    def _halt_if_busy(self, job: Job) -> None:
        """A stopped worker still in its step (a long one) after the grace is ended; the weights
        it left are scored by a short worker of their own, so the stop never waits for a step."""
        if job.complete.is_set() or job.has("stopped") or job.has("done") or job.runner is None:
            return
        if job.forgotten or self._closed.is_set():  # nobody will look at its scores
            job.runner.kill()
            return
        from core.runs.tasks import StoppedAt

        log.info("job %s did not leave its step within %.1f s: ending it", job.id, self.stop_grace)
        job.runner.halt(job.task, StoppedAt.of(job.view().last))

    def _forget(self, job: Job) -> None:
        self._stop(job)
        with self._lock:
            self._jobs.pop(job.id, None)
            job.forgotten = True
            if job.complete.is_set() and job.runner is not None:
                job.runner.close()

    # --- clean-up ----------------------------------------------------------------------------

    def reap(self) -> list[str]:
        """Stop and drop jobs whose owner stopped sending heartbeats; returns their ids. Also
        gives the slot of a run paused too long to the next in the queue."""
        now = self.clock()
        with self._lock:
            jobs = list(self._jobs.values())
        gone = []
        for job in jobs:
            idle = now - job.last_seen
            if idle > (self.finished_ttl if job.status in FINISHED else self.owner_timeout):
                self._forget(job)
                gone.append(job.id)
                log.info("Cleaned up %s job %s (no heartbeat for %.0f s)", job.kind, job.id, idle)
        self.park_paused(now)
        return gone

    def park_paused(self, now: float | None = None) -> list[str]:
        """Runs paused longer than pause_timeout leave their slot while others are waiting."""
        now = self.clock() if now is None else now
        parked = []
        with self._lock:
            for job_id in list(self._running):
                job = self._jobs.get(job_id)
                if not self._queue:
                    break
                if job is None or not job.paused or job.paused_at is None:
                    continue
                if now - job.paused_at > self.pause_timeout:
                    job.set(parked=True)
                    self._running.discard(job_id)
                    parked.append(job_id)
                    self._start_queued()
        return parked

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every job and wait a little for their workers (tests and server exit)."""
        self._closed.set()
        with self._lock:
            jobs = list(self._jobs.values())
            if self._watch_timer is not None:
                self._watch_timer.cancel()
                self._watch_timer = None
        for job in jobs:
            self._stop(job)
        deadline = time.monotonic() + timeout
        for job in jobs:
            if not job.complete.wait(max(0.0, deadline - time.monotonic())) and job.runner:
                job.runner.kill()
                job.complete.wait(1.0)
            if job.runner is not None:
                job.runner.close()
        close = getattr(self.backend, "close", None)
        if close is not None:  # the local backend's spare worker
            close()

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
            if job.parked:  # a long-paused run, resumed: it has its worker already
                job.set(parked=False, status=RUNNING)
                job.runner.resume()
                continue
            job.set(status=PREPARING, started=time.time())
            try:
                job.runner = self.backend.launch(
                    job.id,
                    job.task,
                    self._threads_each()[-1],
                    job.record,
                    lambda code, job=job: self._ended(job, code),
                )
            except Exception as e:  # a backend that cannot start a worker fails this job only
                log.exception("could not start job %s", job.id)
                job.record(
                    Failed(
                        reason=Message(
                            "jobs.could_not_start",
                            f"could not start the training process: {e}",
                            error=str(e),
                        )
                    )
                )
                job.complete.set()
                self._running.discard(job.id)
        self._balance_threads()

    def _threads_each(self) -> list[int]:
        """BLAS threads for each running job, oldest first: the cores shared out (two for a run
        alone on 2 cores, one each for two), less one core while a page watches (`_watched`).
        A backend may fix its own (Ray: one per job)."""
        n = max(1, len(self._running))
        fixed = getattr(self.backend, "threads", None)
        if fixed:
            return [fixed] * n
        usable = self.cores - 1 if self.cores > 1 and self.watched else self.cores
        each, extra = divmod(usable, n)
        return [max(1, each + (i < extra)) for i in range(n)]

    def _balance_threads(self) -> None:
        """Share the cores out again among the running jobs (they apply it at their next step).
        Call with self._lock held."""
        running = sorted(
            (j for j in map(self._jobs.get, self._running) if j is not None and j.runner),
            key=lambda j: j.started or 0,
        )
        for job, n in zip(running, self._threads_each(), strict=False):
            set_threads = getattr(job.runner, "set_threads", None)
            if set_threads is not None:
                set_threads(n)

    def _ended(self, job: Job, exitcode) -> None:
        """The worker is gone: settle the status, free the slot, start the next job."""
        with self._lock:
            if job.status not in FINISHED:
                if job.stop_requested:
                    job.set(status=STOPPED, ended=time.time())
                else:
                    reason = exitcode if isinstance(exitcode, str) else exit_reason(exitcode)
                    job.record(Failed(reason=reason))
            self._running.discard(job.id)
            if job.forgotten and job.runner is not None:
                job.runner.close()
            if not self._closed.is_set():
                self._start_queued()
        hook = self.on_complete
        if hook is not None:  # before `complete`, so whoever waits for the job finds its record
            try:
                hook(job.view())
            except Exception:  # a full disk, say: the job itself is settled
                log.exception("completion hook of job %s", job.id)
        job.complete.set()


# --- the process-wide manager -------------------------------------------------------------------

_manager = None
_manager_lock = threading.Lock()


def get_manager():
    """The job manager this process uses (a Streamlit server shares it between sessions).

    DIGITS_JOBS picks the backend: `local` (default) or `ray` (the manager of the Ray cluster
    named by RAY_ADDRESS, shared by every app server). NNDIGITS_MAX_JOBS sets how many runs
    train at once (default: one per core), DIGITS_MAX_QUEUE how many may wait,
    DIGITS_PAUSE_TIMEOUT how long a paused run keeps its slot while others wait.
    """
    global _manager
    with _manager_lock:
        if _manager is None:
            settings = dict(
                max_running=int(env_number("NNDIGITS_MAX_JOBS", 0)),
                max_queue=int(env_number("DIGITS_MAX_QUEUE", MAX_QUEUE)),
                pause_timeout=env_number("DIGITS_PAUSE_TIMEOUT", PAUSE_TIMEOUT),
            )
            backend = os.environ.get("DIGITS_JOBS", "local").strip().lower() or "local"
            if backend == "ray":
                from core.runs.ray_jobs import connect

                _manager = connect(**settings)
            elif backend == "local":
                _manager = JobManager(**settings)
            else:
                raise ValueError(f"DIGITS_JOBS must be 'local' or 'ray', got {backend!r}.")
        return _manager


# --- the kinds of job the app runs ---------------------------------------------------------------


def training_job(config, data=None) -> TrainTask:
    """A job that makes sure MNIST is here (reporting progress), then trains with `config`.

    Refuses (JobRefused) a setup whose estimated memory is over the per-run budget.
    """
    from core.runs.estimate import check_budget

    check_budget(config)
    return TrainTask(config, data)


def finetune_job(base, personal, config, data=None) -> FinetuneTask:
    """A job that fine-tunes a copy of `base` on the personal set."""
    return FinetuneTask(base, personal, config, data)


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
    "DIVERGED",
    "DONE",
    "FAILED",
    "FINISHED",
    "PAUSED",
    "PREPARING",
    "QUEUED",
    "RUNNING",
    "STOPPED",
    "Job",
    "JobManager",
    "JobRefused",
    "JobView",
    "finetune_job",
    "get_manager",
    "training_job",
]
