"""The events a run sends to whoever watches it, and the names of a job's statuses.

This module is the contract between the training loop (core), the job backends and the pages:
one small frozen dataclass per event, with the field names the pages have always read. It holds
no logic beyond reading an event like a mapping (`event["loss"]`), which keeps older readers and
charts working unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

# --- statuses of a job ---------------------------------------------------------------------------

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


# --- events --------------------------------------------------------------------------------------


class Event(Mapping):
    """Base of every event: read-only, picklable, and readable as a mapping of its fields.

    `kind` names the event ("step", "epoch", ...); `extra` carries fields only one kind of run
    has (fine-tuning's before/after figures), so they read like the others: `done["before"]`.
    """

    kind: ClassVar[str] = "event"

    def _names(self) -> tuple[str, ...]:
        return _field_names(type(self))

    def __getitem__(self, key: str) -> Any:
        if key == "kind":
            return self.kind
        if key in self._names():
            return getattr(self, key)
        return self.extra[key]  # KeyError for anything unknown, as a dict would

    def __iter__(self) -> Iterator[str]:
        yield "kind"
        yield from self._names()
        yield from self.extra

    def __len__(self) -> int:
        return 1 + len(self._names()) + len(self.extra)

    def as_dict(self) -> dict:
        """A plain dict of every field, "kind" included (for JSON and logs)."""
        return dict(self.items())


@functools.cache
def _field_names(cls) -> tuple[str, ...]:
    """An event class's own fields, once per class (pages read thousands of events a second)."""
    return tuple(f.name for f in fields(cls) if f.name != "extra")


@dataclass(frozen=True)
class DataProgress(Event):
    """The data set is being fetched or read: `fraction` in 0..1, or None when unknown."""

    kind: ClassVar[str] = "data"
    stage: str
    fraction: float | None = None
    extra: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Start(Event):
    """The network exists and the run begins."""

    kind: ClassVar[str] = "start"
    n_train: int
    n_val: int
    sizes: tuple
    n_params: int
    steps_per_epoch: int
    total_steps: int
    epochs: int
    extra: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Step(Event):
    """Every `log_every` steps: the batch loss, its bias-corrected moving average, the speed."""

    kind: ClassVar[str] = "step"
    step: int
    epoch: float
    loss: float
    smooth_loss: float
    lr: float
    images_per_sec: float
    train_seconds: float
    extra: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Epoch(Event):
    """An evaluation point: training figures since the last one, and validation (fine-tuning
    also measures MNIST test here)."""

    kind: ClassVar[str] = "epoch"
    epoch: int
    step: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float
    train_seconds: float
    test_loss: float | None = None
    test_acc: float | None = None
    extra: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Stopped(Event):
    """Training ended on request. Sent at once; the scores of the weights come later in Done."""

    kind: ClassVar[str] = "stopped"
    step: int
    epoch: float
    train_seconds: float
    extra: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Done(Event):
    """The final figures, after a full run or after a stop (`stopped` says which)."""

    kind: ClassVar[str] = "done"
    stopped: bool
    step: int
    epoch: float
    val_loss: float
    val_acc: float
    test_loss: float
    test_acc: float
    train_seconds: float
    extra: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Diverged(Event):
    """The loss blew up; `reason` says so in plain words, with what to change."""

    kind: ClassVar[str] = "diverged"
    step: int
    epoch: float
    reason: str
    extra: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Failed(Event):
    """The run could not go on: an error, or its process died. `reason` is for the user."""

    kind: ClassVar[str] = "failed"
    reason: str
    extra: Mapping = field(default_factory=dict)


KINDS = {c.kind: c for c in (DataProgress, Start, Step, Epoch, Stopped, Done, Diverged, Failed)}
TERMINAL = (Done, Diverged, Failed)  # nothing follows one of these


def from_dict(d: Mapping) -> Event:
    """The event a plain dict (with a "kind") describes; unknown keys go to `extra`."""
    cls = KINDS[d["kind"]]
    names = {f.name for f in fields(cls)} - {"extra"}
    known = {k: v for k, v in d.items() if k in names}
    extra = {k: v for k, v in d.items() if k not in names and k != "kind"}
    return cls(**known, extra=extra)
