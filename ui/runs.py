"""Runs seen by this session go into the history; the doctor's findings for the Train page.

The one place where the UI records runs: `record_finished_runs()` runs on every page (from the
sidebar) and writes each of this session's training and fine-tuning jobs once it has finished.
The history itself lives in core.runs.history, the rules in core.runs.doctor.
"""

from __future__ import annotations

import logging

import streamlit as st

from core import jobs
from core.jobs import JobView, get_manager
from core.messages import Message
from core.runs import doctor, history
from core.runs.loop import to_float
from ui.common import owner_id, runs_dir, train_job_id

log = logging.getLogger(__name__)

RECORDED = "recorded_runs"  # session_state: ids of the jobs already written to the history
FT_JOB = "ft_job"  # session_state key of the fine-tuning job (owned by ui.personal)
ACTIVITY = "unit_activity"  # session_state: {job id: UnitActivity} (computed once per run)
ACTIVITY_IMAGES = 1000  # validation images the unit statistics look at (a forward pass each)


def _kind(view: JobView) -> str:
    return "finetune" if view.kind == "finetune" else "train"


def unit_activity(view: JobView, compute: bool = True) -> doctor.UnitActivity | None:
    """Dead and saturated units of a finished training run's network on validation images.

    Computed once per run (a forward pass over 1,000 images) and kept for the session; with
    compute=False only an already computed figure is returned.
    """
    memo = st.session_state.setdefault(ACTIVITY, {})
    if view.id in memo or not compute:
        return memo.get(view.id)
    net = get_manager().snapshot(view.id, owner_id())
    activity = None
    if net is not None and view.kind == "train" and "start" in view.last:
        from core.train import TrainConfig, load_data

        try:
            data = load_data(TrainConfig.from_dict(view.meta["config"]))
            activity = doctor.unit_activity(net, to_float(data.X_val[:ACTIVITY_IMAGES]))
        except (OSError, ValueError) as e:  # no data here: the unit rules stay silent
            log.warning("unit activity of run %s: %s", view.id, e)
    memo[view.id] = activity
    return activity


def diagnoses(view: JobView | None, units: bool = True) -> list[doctor.Diagnosis]:
    """The doctor's findings for a training job, while it trains and after it ends.

    units=False leaves out the unit statistics unless they are already known (no forward pass).
    """
    if view is None or view.kind != "train":
        return []
    config = dict(view.meta.get("config") or {})
    if not config:
        return []
    finished = view.finished and view.status != jobs.FAILED
    activity = unit_activity(view, compute=units) if finished else None
    return doctor.diagnose(
        config,
        view.series("step"),
        view.series("epoch"),
        diverged=view.status == jobs.DIVERGED,
        activity=activity,
    )


def message_tree(text):
    """A Message as JSON-safe data ({key, en, params}, nested), so a run's record can be said
    in the reader's language when it is read back; any other text as it is."""
    if not isinstance(text, Message):
        return text if text is None or isinstance(text, int | float) else str(text)
    params = {k: message_tree(v) for k, v in text.params.items()}
    return {"key": text.key, "en": str(text), "params": params}


def from_tree(data):
    """message_tree's inverse: the Message again (or the plain text)."""
    if isinstance(data, dict) and {"key", "en", "params"} <= set(data):
        params = {k: from_tree(v) for k, v in dict(data["params"]).items()}
        return Message(str(data["key"]), str(data["en"]), **params)
    return data


def record(view: JobView, found: list[doctor.Diagnosis] | None = None) -> history.RunRecord:
    """Write one finished job to the history (replacing an earlier record of it)."""
    kind = _kind(view)
    last = view.last
    reason = None
    if view.status == jobs.DIVERGED and "diverged" in last:
        reason = last["diverged"].get("reason")
    elif view.status == jobs.FAILED:
        reason = view.error
    if found is None:
        found = diagnoses(view, units=False) if kind == "train" else []
    rec = history.make_record(
        view.id,
        kind,
        dict(view.meta.get("config") or {}),
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
    history.save_run(runs_dir(), rec)
    return rec


def update_diagnoses(view: JobView, found: list[doctor.Diagnosis]) -> None:
    """Rewrite a recorded run when the doctor found more (the unit statistics came later)."""
    try:
        rec = history.load_run(runs_dir(), view.id)
    except (FileNotFoundError, ValueError):
        return
    if [d["code"] for d in rec.diagnoses] != [d.code for d in found]:
        try:
            record(view, found)
        except OSError as e:
            log.warning("could not update run %s: %s", view.id, e)


def record_finished_runs() -> None:
    """Record this session's finished training and fine-tuning jobs, each once."""
    done = st.session_state.setdefault(RECORDED, set())
    manager = get_manager()
    for job_id in (train_job_id(), st.session_state.get(FT_JOB)):
        if not job_id or job_id in done:
            continue
        view = manager.view(job_id)
        if view is None or not view.finished:
            continue
        try:
            record(view)
        except OSError as e:  # a full disk must not break the page; say it once in the log
            log.warning("could not record run %s: %s", job_id, e)
        done.add(job_id)


def note_saved(job_id: str, name: str) -> None:
    """Note on a run's record the name its model was saved under."""
    record_finished_runs()
    try:
        history.set_model(runs_dir(), job_id, name)
    except OSError as e:
        log.warning("could not note the saved model on run %s: %s", job_id, e)
