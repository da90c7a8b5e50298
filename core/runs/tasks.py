"""What a job runs: small picklable tasks, so any backend can ship one to another process.

A task is called with a Control in the worker and yields typed events. Training gets its data
first (reporting where from), then trains; fine-tuning starts from weights it carries. A task's
`score(net, at)` yields the Done event of given weights: a ScoreTask uses it when a stopped run's
worker had to be ended in the middle of a long step, to score the weights it left on its board.
Nothing here knows which backend runs it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from core.runs.events import DataProgress, Event
from core.runs.loop import Control


def prepare_data(config, control: Control, poll: float = 0.05):
    """MNIST for a run, fetched first if this machine lacks it: yields DataProgress events while
    a helper thread works, returns the Dataset (None when stopped meanwhile)."""
    from core import data as mnist
    from core.train import load_data

    events: queue.SimpleQueue = queue.SimpleQueue()
    result: dict = {}

    def progress(stage: str, fraction: float | None) -> None:
        events.put(DataProgress(stage, fraction))

    def work() -> None:
        try:
            if not mnist.is_cached():
                progress("MNIST is not on this machine yet: fetching it", None)
                mnist.ensure_mnist(progress)
            progress("Loading MNIST from the local cache", None)
            result["data"] = load_data(config)
        except BaseException as e:  # handed to the task, which fails with it
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


@dataclass(frozen=True)
class TrainTask:
    """Train from scratch with `config`; `data` (tests, benches) skips loading MNIST."""

    config: object  # core.train.TrainConfig
    data: object = None  # core.data.Dataset, or None for the real MNIST

    def __call__(self, control: Control) -> Iterator[Event]:
        from core.train import train

        data = self.data
        if data is None:
            data = yield from prepare_data(self.config, control)
            if data is None:
                return
        yield from train(self.config, data, control)

    def score(self, net, at: StoppedAt) -> Iterator[Event]:
        from core.train import load_data, score

        data = self.data if self.data is not None else load_data(self.config)
        yield score(net, data, at.step, at.steps_per_epoch, at.train_seconds, stopped=True)


@dataclass(frozen=True)
class FinetuneTask:
    """Fine-tune a copy of `base` (a Network) on `personal` (core.finetune.PersonalData)."""

    base: object
    personal: object
    config: object  # core.finetune.FinetuneConfig
    data: object = None

    def __call__(self, control: Control) -> Iterator[Event]:
        from core.finetune import finetune

        data = self.data
        if data is None:
            data = yield from prepare_data(_replay_config(), control)
            if data is None:
                return
        yield from finetune(self.base, self.personal, self.config, data, control)

    def score(self, net, at: StoppedAt) -> Iterator[Event]:
        from core.finetune import score
        from core.train import load_data

        data = self.data if self.data is not None else load_data(_replay_config())
        before = at.start_extra.get("before", {})
        yield score(net, self.personal, self.config, data, at.step, at.train_seconds, True, before)


@dataclass(frozen=True)
class StoppedAt:
    """Where a run was when its worker was ended: enough to score its weights afterwards."""

    step: int = 0
    steps_per_epoch: int = 1
    train_seconds: float = 0.0
    start_extra: dict = field(default_factory=dict)

    @classmethod
    def of(cls, last: Mapping) -> StoppedAt:
        """From a job's latest events by kind (JobView.last)."""
        start, step = last.get("start"), last.get("step")
        return cls(
            step=step["step"] if step else 0,
            steps_per_epoch=start["steps_per_epoch"] if start else 1,
            train_seconds=step["train_seconds"] if step else 0.0,
            start_extra=dict(start.extra) if start else {},
        )


@dataclass(frozen=True)
class ScoreTask:
    """Score the weights a stopped run left on its board, in a short worker of its own: the
    run's worker was ended in the middle of a step, so the stop did not wait for it."""

    task: object  # the stopped run's task: it knows its data and how to score
    board: str
    at: StoppedAt

    def __call__(self, control: Control) -> Iterator[Event]:
        from core.runs.board import read_board

        net = read_board(self.board)
        if net is None:  # it never published weights: nothing to score
            return
        yield from self.task.score(net, self.at)


def _replay_config():
    from core.train import TrainConfig

    return TrainConfig()
