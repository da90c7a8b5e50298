"""The runs history: every training and fine-tuning run kept, one JSON file per run.

A record holds the run's setup, its metric history (thinned to a bounded size), its result and
the name of the model it was saved as. Records live in a folder the caller passes in (a
workspace's runs/ folder); each is written whole or not at all. A damaged file is skipped with
a note, never a crash. No UI code here, and nothing about how jobs run.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from core.fileio import atomic_write_json
from core.messages import Message, message_tree
from core.runs import doctor
from core.runs.events import DIVERGED, FAILED

FORMAT_VERSION = 1
MAX_POINTS = 400  # per series: enough for a smooth curve, small enough for a quick file
RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # ids become file names: nothing else gets in
X_AXES = ("step", "epoch", "seconds")


@dataclass
class RunRecord:
    """One run: setup, metric history, result. Plain data, stored as JSON."""

    id: str
    kind: str  # "train" or "finetune"
    preset: str | None  # the preset it started from (training), or None
    config: dict  # the TrainConfig / FinetuneConfig as a dict
    status: str  # done | stopped | diverged | failed
    created: float  # wall-clock time the run was started (time.time())
    ended: float | None = None
    steps: list[dict] = field(default_factory=list)  # step metrics, thinned
    epochs: list[dict] = field(default_factory=list)  # evaluated-epoch metrics, thinned
    start: dict = field(default_factory=dict)  # sizes, counts: the loop's start event
    final: dict = field(default_factory=dict)  # final metrics (the done event), if any
    reason: str | None = None  # why it diverged or failed, in words
    model: str | None = None  # the name it was saved under, if saved
    base_model: str | None = None  # for fine-tuning: the model it started from
    diagnoses: list[dict] = field(default_factory=list)  # the doctor's findings at the end
    # The reason as a catalog key with its values ({key, en, params}), so a page can say it in
    # the reader's language; None for reasons kept as plain text (and for older records).
    reason_said: dict | None = None
    version: int = FORMAT_VERSION

    @property
    def sizes(self) -> list[int]:
        return list(self.start.get("sizes") or [])

    @property
    def full_batch(self) -> bool:
        return self.start.get("steps_per_epoch") == 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunRecord:
        if not isinstance(d, dict) or not RUN_ID.match(str(d.get("id", ""))):
            raise ValueError("not a run record")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def thin(series: Sequence[dict], max_points: int = MAX_POINTS) -> list[dict]:
    """At most max_points evenly spaced items, the first and the last always kept."""
    series = list(series)
    if len(series) <= max_points:
        return series
    stride = math.ceil((len(series) - 1) / (max_points - 1))
    kept = series[::stride]
    if kept[-1] is not series[-1]:
        kept.append(series[-1])
    return kept


def _plain(event: dict) -> dict:
    """A metric event as JSON-safe plain data: NaN and infinity become None."""
    out = {}
    for key, value in dict(event).items():
        if key == "kind":
            continue
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


def make_record(
    run_id: str,
    kind: str,
    config: dict,
    status: str,
    created: float,
    *,
    preset: str | None = None,
    ended: float | None = None,
    steps: Iterable[dict] = (),
    epochs: Iterable[dict] = (),
    start: dict | None = None,
    final: dict | None = None,
    reason: str | None = None,
    model: str | None = None,
    base_model: str | None = None,
    diagnoses: Iterable[dict] = (),
    reason_said: dict | None = None,
) -> RunRecord:
    """A record from a run's events (dicts as the training loop yields them)."""
    if not RUN_ID.match(str(run_id)):
        raise ValueError(f"A run id is letters, digits, '-' and '_' (1-64), got {run_id!r}.")
    return RunRecord(
        id=str(run_id),
        kind=kind,
        preset=preset,
        config=_plain(config),
        status=status,
        created=float(created),
        ended=ended,
        steps=[_plain(e) for e in thin(list(steps))],
        epochs=[_plain(e) for e in thin(list(epochs))],
        start=_plain(start or {}),
        final=_plain(final or {}),
        reason=reason,
        model=model,
        base_model=base_model,
        diagnoses=[_plain(d) for d in diagnoses],
        reason_said=reason_said,
    )


RUNS_DIR_META = "runs_dir"  # a job's meta: the history folder its finished run goes to


def record_view(folder: str | os.PathLike, view, found=None) -> RunRecord:
    """Write one finished job (a core.jobs.JobView) to the history folder, replacing an earlier
    record of it. found: the doctor's findings (Diagnosis list); None reads them from the
    metric stream alone."""
    kind = "finetune" if view.kind == "finetune" else "train"
    config = dict(view.meta.get("config") or {})
    last = view.last
    if found is None:
        found = (
            doctor.diagnose(
                config,
                view.series("step"),
                view.series("epoch"),
                diverged=view.status == DIVERGED,
            )
            if kind == "train" and config
            else []
        )
    reason = None
    if view.status == DIVERGED and "diverged" in last:
        reason = last["diverged"].get("reason")
    elif view.status == FAILED:
        reason = view.error
    record = make_record(
        view.id,
        kind,
        config,
        view.status,
        view.started or view.created,
        preset=view.meta.get("preset"),
        ended=view.ended,
        steps=view.series("step"),
        epochs=view.series("epoch"),
        start=last.get("start"),
        final=last.get("done"),
        reason=reason,
        reason_said=message_tree(reason) if isinstance(reason, Message) else None,
        base_model=view.meta.get("base"),
        diagnoses=[
            {
                "code": d.code,
                "title": d.title,
                "detail": d.detail,
                "said": {"title": message_tree(d.title), "detail": message_tree(d.detail)},
            }
            for d in found
        ],
    )
    save_run(folder, record)
    return record


def record_finished(view) -> None:
    """The job manager's completion hook (core.jobs.JobManager.on_complete): a run whose page
    was closed before it ended is kept too. Writes only a job that names its history folder
    (RUNS_DIR_META) and has no record yet: its page may already have written a fuller one
    (with the unit statistics), and a page that comes later rewrites it anyway."""
    folder = view.meta.get(RUNS_DIR_META)
    if folder and not _path(folder, view.id).exists():
        record_view(folder, view)


# --- the folder -------------------------------------------------------------------------------


def _path(folder: str | os.PathLike, run_id: str) -> Path:
    if not RUN_ID.match(str(run_id)):
        raise ValueError(f"Not a run id: {run_id!r}.")
    return Path(folder) / f"{run_id}.json"


def save_run(folder: str | os.PathLike, record: RunRecord) -> Path:
    """Write a record (replacing an older version of the same run) atomically."""
    return atomic_write_json(_path(folder, record.id), record.to_dict())


def load_run(folder: str | os.PathLike, run_id: str) -> RunRecord:
    """One record; FileNotFoundError if there is none, ValueError if its file is damaged."""
    path = _path(folder, run_id)
    try:
        return RunRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"The run file {path.name} is damaged: {e}") from None


def list_runs(folder: str | os.PathLike) -> tuple[list[RunRecord], list[str]]:
    """Every readable record, newest first, and a note for each file that could not be read."""
    folder = Path(folder)
    records, problems = [], []
    if not folder.is_dir():
        return records, problems
    for path in sorted(folder.glob("*.json")):
        try:
            records.append(load_run(folder, path.stem))
        except (ValueError, FileNotFoundError) as e:
            problems.append(str(e) if isinstance(e, ValueError) else f"{path.name} vanished")
    records.sort(key=lambda r: r.created, reverse=True)
    return records, problems


def delete_run(folder: str | os.PathLike, run_id: str) -> bool:
    """Remove one record; False if it was not there."""
    try:
        _path(folder, run_id).unlink()
    except FileNotFoundError:
        return False
    return True


def set_model(folder: str | os.PathLike, run_id: str, name: str) -> RunRecord | None:
    """Note the name a run's model was saved under; None if the run is not recorded."""
    try:
        record = load_run(folder, run_id)
    except (FileNotFoundError, ValueError):
        return None
    record.model = name
    save_run(folder, record)
    return record


# --- comparing runs -----------------------------------------------------------------------------


def differing_settings(records: Sequence[RunRecord]) -> list[str]:
    """The config fields whose values are not the same in every record (in config order).

    A training run recorded before a field existed ran with that field's default (label
    smoothing, for one, was 0), so a missing field counts as its default, not as a difference.
    """
    from core.train import TrainConfig

    defaults = {f.name: f.default for f in fields(TrainConfig)}
    keys: list[str] = []
    for r in records:
        keys += [k for k in r.config if k not in keys]

    def value(r: RunRecord, k: str):
        return r.config.get(k, defaults.get(k) if r.kind == "train" else None)

    return [k for k in keys if len({json.dumps(value(r, k)) for r in records}) > 1]


def curve(record: RunRecord, metric: str, x: str = "step") -> tuple[list, list]:
    """(xs, ys) of one metric against step, epoch or seconds of training.

    Step metrics (loss, smooth_loss) come from the step series, evaluated ones (val_acc,
    val_loss, train_acc, train_loss) from the epoch series; points without the value are left
    out. Every event carries step, epoch and train_seconds, so any x works for any metric.
    """
    if x not in X_AXES:
        raise ValueError(f"x is one of {', '.join(X_AXES)}, got {x!r}.")
    series = record.steps if metric in ("loss", "smooth_loss") else record.epochs
    key = "train_seconds" if x == "seconds" else x
    xs, ys = [], []
    for e in series:
        if e.get(metric) is None or e.get(key) is None:
            continue
        xs.append(e[key])
        ys.append(e[metric])
    return xs, ys


def label(record: RunRecord) -> str:
    """A short name for a run in lists and legends: preset, network, optimizer and rate."""
    c = record.config
    if record.kind == "finetune":
        base, steps = record.base_model or "?", c.get("steps", "?")
        return Message(
            "runs.label.finetune", f"fine-tune of {base} ({steps} steps)", base=base, steps=steps
        )
    sizes = "-".join(map(str, record.sizes or [784, *c.get("hidden", []), 10]))
    name = record.preset or Message("runs.label.custom", "custom")
    if record.preset and not _is_preset(record.preset, c):
        name = Message("runs.label.changed", f"{name}, changed", preset=name)
    optimizer, lr = c.get("optimizer"), f"{c.get('lr', 0):g}"
    return Message(
        "runs.label.train",
        f"{name}: {sizes}, {optimizer} {lr}",
        name=name,
        sizes=sizes,
        optimizer=optimizer,
        lr=lr,
    )


def _is_preset(name: str, config: dict) -> bool:
    """Whether a run's config is exactly its preset's (as stored: lists, not tuples)."""
    from core.train import PRESETS

    if name not in PRESETS:
        return False
    return _plain(PRESETS[name].to_dict()) == {k: v for k, v in config.items()}
