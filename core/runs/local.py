"""The `local` backend: each running job is a worker process of its own on this machine.

Workers are started with spawn (never fork: the server has threads), send their events back
through a pipe and publish their weights on a board in shared memory (core.runs.board). Their
BLAS thread count is a number in shared memory the server may change while they run (a second
run starting on 2 cores takes one of the first run's threads); the loop applies it between
steps. A worker that dies for any reason only ends its own job. A stopped worker busy with a
long step is ended (`halt`) and a short scoring worker scores the weights it left on its board.

The backend keeps one worker started ahead of time (a spare): Python, NumPy and the engine are
loaded and it waits for a task, so a run's first step comes about half a second sooner after
Start. The next spare starts only once no run is training (`SPARE_AFTER` seconds after the last
one ended): a Python process starting up takes a core for half a second, and started beside a
run that has just begun it cost that run as much as the spare saved it (`bench/jobs.py`).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import time

from core.messages import Message
from core.runs.board import WeightsBoard, board_path, read_board
from core.runs.events import TERMINAL, Failed
from core.runs.loop import Control

log = logging.getLogger(__name__)

WORKER_NICENESS = 10  # added to the worker's nice value (0 = the server's priority)
SERVER_CHECK_EVERY = 1.0  # seconds between a worker's checks that its server is still there
SPARE_AFTER = 2.0  # seconds after the last run ended (its page has redrawn) until the next spare


def _leave_server_session() -> None:
    """Run in a session of its own, beside the server rather than inside its share of the cores.

    Linux kernels with autogroup scheduling (the default on most desktops, and on this project's
    machines) share the cores between sessions first, then between the processes of a session.
    A worker in the server's session spent the server's share, against a browser's session on
    the same machine; in a session of its own it competes beside them (`bench/app_load.py`, two
    runs and five chromium tabs on 2 cores: the workers got 0.51-0.57 of a core, 0.38-0.48
    before). A terminal's Ctrl-C now reaches only the server, which ends its workers itself.
    """
    try:
        os.setsid()
    except OSError:  # already a session leader, or not allowed: stay in the server's session
        pass


def _end_with_server(server_pid: int) -> None:
    """Exit once the server is gone (the worker then has another parent). A paused run waits
    for the server's word and would otherwise wait forever after the server was killed or its
    terminal closed; a running one would only notice at its next event."""
    while os.getppid() == server_pid:
        time.sleep(SERVER_CHECK_EVERY)
    os._exit(1)


def _worker_main(inbox, conn, stop_event, run_event, threads, server_pid) -> None:
    """The worker process: load the engine, wait for a (task, board path) on `inbox`, run the
    task, sending every event; a failure becomes a Failed event. A spare whose inbox closes
    without a task (the server let it go) just ends, and so does any worker whose server is gone.

    When training and pages compete for the cores, the pages should answer first and training
    take what is left (it loses little, as the server is idle most of the time). A lower CPU
    priority (nice) does that where the kernel schedules processes one by one. Where it
    schedules sessions first (autogroup), nice counts only inside a session, and a session of
    its own keeps training from spending the server's share. Its session keeps the server's
    weight: a lower one (/proc/self/autogroup) made the server answer sooner, but training then
    gave way to a browser on the same machine, below 0.8x the CLI (README, "Training in worker
    processes").
    """
    threading.Thread(target=_end_with_server, args=(server_pid,), daemon=True).start()
    _leave_server_session()
    try:
        os.nice(WORKER_NICENESS)
    except OSError:  # not allowed here: train at the server's priority
        pass
    import core.runs.tasks  # noqa: F401  what every task needs, loaded while waiting
    import core.train  # noqa: F401

    try:
        task, board = inbox.recv()
    except (EOFError, OSError):
        conn.close()
        return
    finally:
        inbox.close()
    control = Control(stop_event, run_event, WeightsBoard(board) if board else None, threads)
    try:
        for event in task(control):
            conn.send(event)
    except Exception as e:  # reported to the user; the process then ends normally
        log.exception("job task failed")
        conn.send(Failed(reason=str(e) or type(e).__name__))
    finally:
        conn.close()


class Worker:
    """A started worker process and the server's ends of its pipes and controls."""

    def __init__(self, ctx):
        take, self._inbox = ctx.Pipe(duplex=False)  # the worker takes its task from `take`
        self.events, send = ctx.Pipe(duplex=False)
        self.stop, self.run = ctx.Event(), ctx.Event()
        self.run.set()
        self.threads = ctx.RawValue("i", 1)
        self.environ = dict(os.environ)  # what it inherits: settings such as the data folder
        self.process = ctx.Process(
            target=_worker_main,
            args=(take, send, self.stop, self.run, self.threads, os.getpid()),
            name="nndigits-worker",
            daemon=True,
        )
        self.process.start()
        take.close()
        send.close()  # the worker holds the only writing end: EOF means it is gone

    def give(self, task, board: str, threads: int) -> None:
        """Hand the worker its task: it starts at once."""
        self.threads.value = max(1, int(threads))
        self._inbox.send((task, board))
        self._inbox.close()

    def release(self) -> None:
        """Let an unused worker go: with its inbox closed it ends by itself."""
        self._inbox.close()
        self.events.close()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def start_worker() -> Worker:
    """A new worker process (spawn: never fork a server that has threads)."""
    return Worker(mp.get_context("spawn"))


class ProcessRunner:
    """The server's handle on one worker process."""

    def __init__(self, job_id: str, task, blas_threads: int, on_event, on_end, worker=None):
        self.board = board_path(job_id)
        self._then = None  # a ScoreTask to run once the halted worker is gone
        if worker is not None:
            try:
                self._start(worker, task, str(self.board), blas_threads)
            except OSError:  # the spare died just now: start one for this run
                worker.release()
                worker = None
        if worker is None:
            self._start(start_worker(), task, str(self.board), blas_threads)
        self._pump = threading.Thread(
            target=self._read, args=(on_event, on_end), name=f"job-pump-{job_id[:8]}"
        )
        self._pump.daemon = True
        self._pump.start()

    def _start(self, worker: Worker, task, board: str, threads: int) -> None:
        worker.give(task, board, threads)
        self.worker = worker

    @property
    def process(self):
        """The worker process running the task now (a scoring worker after a halt)."""
        return self.worker.process

    def _read(self, on_event, on_end) -> None:
        exitcode = None
        try:
            ended = self._pump_events(on_event)
            exitcode = self.process.exitcode
            if self._then is not None and not ended:
                # Halted in the middle of a step: score what it left on the board.
                self._start(start_worker(), self._then, "", self.worker.threads.value)
                self._pump_events(on_event)
        finally:
            on_end(exitcode if exitcode is not None else self.process.exitcode)

    def _pump_events(self, on_event) -> bool:
        """Hand on every event until the worker is gone; True if it sent a final one."""
        ended, recv = False, self.worker.events
        try:
            while True:
                try:
                    event = recv.recv()
                except (EOFError, OSError):
                    break
                ended = ended or isinstance(event, TERMINAL)
                on_event(event)
        finally:
            recv.close()
            self.process.join()
        return ended

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def stop(self) -> None:
        self.worker.stop.set()
        self.worker.run.set()

    def pause(self) -> None:
        self.worker.run.clear()

    def resume(self) -> None:
        self.worker.run.set()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()

    def halt(self, task, at) -> None:
        """End a stopped worker now; then a fresh worker scores the weights it left on the board
        (when `task` can score: core.runs.tasks.ScoreTask). Its events follow the run's, and the
        job ends after it. `at` (StoppedAt) says where the run was."""
        from core.runs.tasks import ScoreTask

        if hasattr(task, "score"):
            self._then = ScoreTask(task, str(self.board), at)
        self.kill()

    def set_threads(self, n: int) -> None:
        """The worker's BLAS threads from its next step on."""
        self.worker.threads.value = max(1, int(n))

    def snapshot(self):
        return read_board(self.board)

    def join(self, timeout: float | None = None) -> None:
        self._pump.join(timeout)

    def close(self) -> None:
        """Free what outlives the process: the weights board."""
        try:
            os.unlink(self.board)
        except FileNotFoundError:
            pass


class LocalBackend:
    """Worker processes on this machine, one of them started ahead of time (`spare`)."""

    name = "local"
    threads = None  # the manager shares this machine's cores out among the running jobs

    def __init__(self, spare: bool = True, spare_after: float = SPARE_AFTER):
        self._lock = threading.Lock()
        self._keep_spare = spare
        self._spare_after = spare_after
        self._spare: Worker | None = None
        self._closed = False
        self._running = 0  # runs launched and not yet ended
        self._timer: threading.Timer | None = None
        if spare:
            self._refill()

    @property
    def spare(self) -> Worker | None:
        """The worker waiting for the next run, if any."""
        return self._spare

    def _refill(self) -> None:
        """Start the next spare if none waits and no run is training (a few ms here: the new
        process loads in its own time)."""
        with self._lock:
            self._timer = None
            idle = self._running == 0
            if idle and self._keep_spare and not self._closed and self._spare is None:
                self._spare = start_worker()

    def _run_ended(self) -> None:
        """A run is over: once none is left, start the next spare a moment later."""
        with self._lock:
            self._running -= 1
            if self._running or self._closed or not self._keep_spare or self._timer:
                return
            self._timer = threading.Timer(self._spare_after, self._refill_quietly)
            self._timer.daemon = True
            self._timer.start()

    def _refill_quietly(self) -> None:
        try:
            self._refill()
        except Exception:  # the next run will start a worker of its own
            log.exception("could not start a spare worker")

    def _take_spare(self) -> Worker | None:
        with self._lock:
            spare, self._spare = self._spare, None
        # Not one killed while it waited, nor one started under settings changed since.
        if spare is not None and (
            not spare.process.is_alive() or spare.environ != dict(os.environ)
        ):
            spare.release()
            spare = None
        return spare

    def launch(self, job_id: str, task, blas_threads: int, on_event, on_end) -> ProcessRunner:
        with self._lock:
            self._running += 1

        def ended(exitcode) -> None:
            try:
                on_end(exitcode)
            finally:
                self._run_ended()

        try:
            return ProcessRunner(job_id, task, blas_threads, on_event, ended, self._take_spare())
        except BaseException:  # no worker, so `ended` will never come
            self._run_ended()
            raise

    def close(self) -> None:
        """Let the spare go (the manager's shutdown)."""
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if spare is not None:
            spare.release()


def exit_reason(exitcode: int | None) -> str:
    """Why a worker ended without a result, in words: the exit code, and the signal if any."""
    import signal

    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return Message(
            "jobs.ended_signal",
            f"the training process ended unexpectedly, exit code {exitcode} ({name})",
            code=exitcode,
            signal=name,
        )
    return Message(
        "jobs.ended",
        f"the training process ended unexpectedly, exit code {exitcode}",
        code=exitcode,
    )
