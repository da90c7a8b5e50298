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


@dataclass(frozen=True)
class LongStep:
    """Publishes known weights, then spends `seconds` in one step that never looks at its
    control (a huge matrix product would); scores weights by their mean, to show which it got."""

    seconds: float = 120.0
    value: float = 0.25

    def __call__(self, control):
        import numpy as np

        from core.network import Network

        net = Network(
            [4, 3, 2],
            "relu",
            [np.zeros((4, 3), np.float32), np.zeros((3, 2), np.float32)],
            [np.zeros(3, np.float32), np.zeros(2, np.float32)],
        )
        for W in net.W:
            W[...] = self.value
        control.net = net
        control.publish(force=True)
        yield Start(1, 0, (4, 3, 2), net.n_params, 1, 2, 2, extra={"pid": os.getpid()})
        yield Step(1, 1.0, 0.5, 0.5, 0.1, 1.0, 1.0)
        time.sleep(self.seconds)
        yield Done(control.stopped, 2, 2.0, 0.0, 0.0, 0.0, 1.0, 2.0)

    def score(self, net, at):
        mean = float(net.W[0].mean())
        epoch = at.step / at.steps_per_epoch
        yield Done(True, at.step, epoch, 0.0, 0.0, 0.0, mean, 0.0, extra={"pid": os.getpid()})


@dataclass(frozen=True)
class Threads:
    """Reports the BLAS threads it runs with at each step, until stopped."""

    every: float = 0.02

    def __call__(self, control):
        from core.threads import blas_threads

        yield Start(0, 0, (), 0, 1, 1, 1)
        step = 0
        while not control.wait():
            step += 1
            time.sleep(self.every)
            yield Step(step, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, extra={"threads": blas_threads()})
        nan = float("nan")
        yield Done(True, step, 0.0, nan, nan, nan, nan, 0.0)


@dataclass(frozen=True)
class Modules:
    """Reports the worker's main module file and which of `names` the worker has imported."""

    names: tuple[str, ...] = ("streamlit", "ui.common", "numpy")

    def __call__(self, control):
        import sys

        main = getattr(sys.modules["__main__"], "__file__", None)
        loaded = {name: name in sys.modules for name in self.names}
        yield Start(0, 0, (), 0, 1, 1, 1)
        yield Step(1, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, extra={"main": main, **loaded})
        nan = float("nan")
        yield Done(False, 1, 1.0, nan, nan, nan, nan, 0.0)
