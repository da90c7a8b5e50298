"""The `local` backend: each running job is a worker process of its own on this machine.

Workers are started with spawn (never fork: the server has threads), send their events back
through a pipe and publish their weights on a board in shared memory (core.runs.board). Their
BLAS thread count is a number in shared memory the server may change while they run (a second
run starting on 2 cores takes one of the first run's threads); the loop applies it between
steps. A worker that dies for any reason only ends its own job. A stopped worker busy with a
long step is ended (`halt`) and a short scoring worker scores the weights it left on its board.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading

from core.messages import Message
from core.runs.board import WeightsBoard, board_path, read_board
from core.runs.events import TERMINAL, Failed
from core.runs.loop import Control

log = logging.getLogger(__name__)

WORKER_NICENESS = 10  # added to the worker's nice value (0 = the server's priority)


def _worker_main(task, conn, stop_event, run_event, board, threads) -> None:
    """The worker process: run the task, sending every event; a failure becomes a Failed event.

    It runs at a lower CPU priority than the web server: when training and pages compete for
    the cores, the pages answer first and training takes what is left (it loses little, as the
    server is idle most of the time).
    """
    try:
        os.nice(WORKER_NICENESS)
    except OSError:  # not allowed here: train at the server's priority
        pass
    control = Control(stop_event, run_event, WeightsBoard(board) if board else None, threads)
    try:
        for event in task(control):
            conn.send(event)
    except Exception as e:  # reported to the user; the process then ends normally
        log.exception("job task failed")
        conn.send(Failed(reason=str(e) or type(e).__name__))
    finally:
        conn.close()


class ProcessRunner:
    """The server's handle on one worker process."""

    def __init__(self, job_id: str, task, blas_threads: int, on_event, on_end):
        self._ctx = ctx = mp.get_context("spawn")
        self._name = f"nndigits-job-{job_id[:8]}"
        self._stop, self._run = ctx.Event(), ctx.Event()
        self._run.set()
        self._threads = ctx.RawValue("i", max(1, blas_threads))
        self.board = board_path(job_id)
        self._then = None  # a ScoreTask to run once the halted worker is gone
        self.process, recv = self._spawn(task, str(self.board))
        self._pump = threading.Thread(
            target=self._read, args=(recv, on_event, on_end), name=f"job-pump-{job_id[:8]}"
        )
        self._pump.daemon = True
        self._pump.start()

    def _spawn(self, task, board: str):
        recv, send = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=_worker_main,
            args=(task, send, self._stop, self._run, board, self._threads),
            name=self._name,
            daemon=True,
        )
        process.start()
        send.close()  # the worker holds the only writing end: EOF means it is gone
        return process, recv

    def _read(self, recv, on_event, on_end) -> None:
        exitcode = None
        try:
            ended = self._pump_events(recv, on_event)
            exitcode = self.process.exitcode
            if self._then is not None and not ended:
                # Halted in the middle of a step: score what it left on the board.
                self.process, recv = self._spawn(self._then, "")
                self._pump_events(recv, on_event)
        finally:
            on_end(exitcode if exitcode is not None else self.process.exitcode)

    def _pump_events(self, recv, on_event) -> bool:
        """Hand on every event until the worker is gone; True if it sent a final one."""
        ended = False
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
        self._stop.set()
        self._run.set()

    def pause(self) -> None:
        self._run.clear()

    def resume(self) -> None:
        self._run.set()

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
        self._threads.value = max(1, int(n))

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
    """Worker processes on this machine."""

    name = "local"
    threads = None  # the manager shares this machine's cores out among the running jobs

    def launch(self, job_id: str, task, blas_threads: int, on_event, on_end) -> ProcessRunner:
        return ProcessRunner(job_id, task, blas_threads, on_event, on_end)


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
