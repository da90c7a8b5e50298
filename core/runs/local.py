"""The `local` backend: each running job is a worker process of its own on this machine.

Workers are started with spawn (never fork: the server has threads), get their BLAS threads
once at start, send their events back through a pipe and publish their weights on a board in
shared memory (core.runs.board). A worker that dies for any reason only ends its own job.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading

from core.messages import Message
from core.runs.board import WeightsBoard, board_path, read_board
from core.runs.events import Failed
from core.runs.loop import Control

log = logging.getLogger(__name__)


def _worker_main(task, conn, stop_event, run_event, board, blas_threads: int) -> None:
    """The worker process: run the task, sending every event; a failure becomes a Failed event."""
    from core.threads import set_blas_threads

    set_blas_threads(blas_threads)
    control = Control(stop_event, run_event, WeightsBoard(board) if board else None)
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
        ctx = mp.get_context("spawn")
        self._stop, self._run = ctx.Event(), ctx.Event()
        self._run.set()
        self.board = board_path(job_id)
        recv, send = ctx.Pipe(duplex=False)
        self.process = ctx.Process(
            target=_worker_main,
            args=(task, send, self._stop, self._run, str(self.board), blas_threads),
            name=f"nndigits-job-{job_id[:8]}",
            daemon=True,
        )
        self.process.start()
        send.close()  # the worker holds the only writing end: EOF means it is gone
        self._pump = threading.Thread(
            target=self._read, args=(recv, on_event, on_end), name=f"job-pump-{job_id[:8]}"
        )
        self._pump.daemon = True
        self._pump.start()

    def _read(self, recv, on_event, on_end) -> None:
        try:
            while True:
                try:
                    event = recv.recv()
                except (EOFError, OSError):
                    break
                on_event(event)
        finally:
            recv.close()
            self.process.join()
            on_end(self.process.exitcode)

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
