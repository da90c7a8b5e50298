"""Runs seen by this session go into the history; the doctor's findings for the Train page.

Two writers keep every run: the job manager's completion hook (core.runs.history.record_finished,
set up by ui.common.setup_app) writes a run when its worker ends, even if no page is open; and
`record_finished_runs()`, on every page (from the sidebar), writes this session's finished jobs
once, with the unit statistics when the Train page computed them. The history itself lives in
core.runs.history, the rules in core.runs.doctor.
"""

from __future__ import annotations

import logging

import streamlit as st

from core import jobs
from core.jobs import JobView, get_manager
from core.runs import doctor, history
from core.runs.loop import to_float
from ui.common import owner_id, runs_dir, train_job_id

log = logging.getLogger(__name__)

RECORDED = "recorded_runs"  # session_state: ids of the jobs already written to the history
FT_JOB = "ft_job"  # session_state key of the fine-tuning job (owned by ui.personal)
ACTIVITY = "unit_activity"  # session_state: {job id: UnitActivity} (computed once per run)
ACTIVITY_IMAGES = 1000  # validation images the unit statistics look at (a forward pass each)


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


def record(view: JobView, found: list[doctor.Diagnosis] | None = None) -> history.RunRecord:
    """Write one finished job to the history (replacing an earlier record of it), with the
    doctor's findings (the unit statistics too, when this session computed them)."""
    if found is None:
        found = diagnoses(view, units=False)
    return history.record_view(runs_dir(), view, found)


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
