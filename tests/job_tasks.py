"""Small picklable job tasks for the job tests: the backends ship them to worker processes."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

from core.runs.events import Done, Start, Step


@dataclass(frozen=True)
class Ticker:
    """A step every few milliseconds; honours pause and stop like the training loop."""

    n: int = 10_000
    every: float = 0.005

    def __call__(self, control):
        yield Start(
            n_train=self.n,
            n_val=0,
            sizes=(),
            n_params=0,
            steps_per_epoch=self.n,
            total_steps=self.n,
            epochs=1,
        )
        step = 0
        for step in range(1, self.n + 1):
            if control.wait():
                step -= 1
                break
            time.sleep(self.every)
            yield Step(step, step / self.n, 0.0, 0.0, 0.0, 0.0, 0.0)
        nan = float("nan")
        yield Done(control.stopped, step, step / self.n, nan, nan, nan, nan, 0.0)


@dataclass(frozen=True)
class Broken:
    """Fails with a message after its first event."""

    message: str = "the disk is full"

    def __call__(self, control):
        yield Start(0, 0, (), 0, 1, 1, 1)
        raise RuntimeError(self.message)


@dataclass(frozen=True)
class Dies:
    """Kills its own process the way a crash would: os._exit, SIGKILL or a segfault."""

    how: str = "exit"

    def __call__(self, control):
        yield Start(0, 0, (), 0, 1, 1, 1)
        if self.how == "exit":
            os._exit(3)
        if self.how == "segfault":
            import ctypes

            ctypes.string_at(0)
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)
