"""Runs: every training and fine-tuning run kept, listed, compared on one chart, run again."""

from datetime import datetime

import pandas as pd
import streamlit as st

from core.messages import from_tree
from core.runs import history
from core.runs.events import FAILED
from ui import charts
from ui.common import ensure_app_navigation, format_seconds, run_again, runs_dir
from ui.i18n import say, t

ensure_app_navigation()

COMPARE_KEY = "runs_compare"
X_LABELS = {x: t(f"charts.unit.{x}") for x in ("step", "epoch", "seconds")}
STATUSES = ("done", "stopped", "diverged", "failed")


def finding(d: dict, part: str) -> str:
    """A doctor's finding kept on a run (its title or detail), in the reader's language."""
    said = d.get("said") or {}
    return say(from_tree(said[part])) if part in said else str(d.get(part, ""))


st.title(t("runs.title"))
st.caption(t("runs.intro"))

records, problems = history.list_runs(runs_dir())
for problem in problems:
    st.warning(t("runs.skipped", problem=say(problem)), icon=":material/warning:")
if not records:
    st.info(t("runs.none"))
    st.page_link("pages/train.py", label=t("runs.go_train"), icon=":material/model_training:")
    st.stop()

by_id = {r.id: r for r in records}


def when(record: history.RunRecord) -> str:
    return datetime.fromtimestamp(record.created).strftime("%d %b %H:%M:%S")


def name(run_id: str) -> str:
    record = by_id[run_id]
    return f"{when(record)} · {say(history.label(record))}"


def _pct(value):
    return None if value is None else round(100 * value, 2)


col = {
    c: t(f"runs.col.{c}")
    for c in ("started", "run", "kind", "result", "test", "val", "trained", "saved", "doctor")
}
rows = [
    {
        col["started"]: datetime.fromtimestamp(r.created),
        col["run"]: say(history.label(r)),
        col["kind"]: t("runs.kind.finetune") if r.kind == "finetune" else t("runs.kind.train"),
        col["result"]: t(f"runs.status.{r.status}") if r.status in STATUSES else r.status,
        col["test"]: _pct(r.final.get("test_acc")),
        col["val"]: _pct(r.final.get("val_acc")),
        col["trained"]: format_seconds(r.final["train_seconds"])
        if r.final.get("train_seconds")
        else "",
        col["saved"]: r.model or "",
        col["doctor"]: t("train.change.sep").join(finding(d, "title") for d in r.diagnoses),
    }
    for r in records
]
st.dataframe(
    pd.DataFrame(rows),
    hide_index=True,
    width="stretch",
    column_config={col["started"]: st.column_config.DatetimeColumn(format="D MMM HH:mm:ss")},
)
st.caption(t("runs.sort"))

# --- compare ------------------------------------------------------------------------------------

state = st.session_state
state[COMPARE_KEY] = [i for i in state.get(COMPARE_KEY, []) if i in by_id]  # deleted ones go
chosen = st.multiselect(
    t("runs.compare.label"),
    list(by_id),
    key=COMPARE_KEY,
    format_func=name,
    max_selections=6,
    placeholder=t("runs.compare.placeholder"),
    help=t("runs.compare.help"),
)
picked = [by_id[i] for i in chosen]

if picked:
    x = st.radio(
        t("runs.along.label"),
        list(X_LABELS),
        format_func=X_LABELS.get,
        horizontal=True,
        key="runs_x",
        help=t("runs.along.help"),
    )
    if len(picked) == 1:
        st.caption(t("runs.one_more"))
    loss_curves, acc_curves = [], []
    for r in picked:
        metric = "loss" if r.full_batch else "smooth_loss"
        loss_curves.append((name(r.id), *history.curve(r, metric, x)))
        acc_curves.append((name(r.id), *history.curve(r, "val_acc", x)))
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            charts.compare_figure(
                loss_curves,
                t("charts.title.training_loss"),
                X_LABELS[x],
                t("charts.cross_entropy_log"),
                log_y=True,
            ),
            config={"displayModeBar": False},
            key="compare_loss",
        )
        st.caption(t("runs.loss_caption"))
    with right:
        st.plotly_chart(
            charts.compare_figure(
                acc_curves,
                t("charts.title.validation_accuracy"),
                X_LABELS[x],
                t("charts.accuracy"),
                percent=True,
            ),
            config={"displayModeBar": False},
            key="compare_acc",
        )
        st.caption(t("runs.acc_caption"))

    # The settings side by side, those that differ highlighted.
    differ = set(history.differing_settings(picked))
    keys = []
    for r in picked:
        keys += [k for k in r.config if k not in keys]
    table = pd.DataFrame(
        {name(r.id): [str(r.config.get(k, "")) for k in keys] for r in picked},
        index=keys,
    )
    if len(picked) > 1:
        names = ", ".join(sorted(differ)) or t("runs.differ_none")
        st.markdown(t("runs.settings_differ", n=len(differ), names=names))
    else:
        st.markdown(t("runs.settings"))
    styled = table.style.apply(
        lambda row: ["background-color: #ffe8a3" if row.name in differ else "" for _ in row],
        axis=1,
    )
    st.dataframe(styled, width="stretch")
    for r in picked:
        for d in r.diagnoses:
            st.caption(
                t(
                    "runs.doctor_read",
                    run=name(r.id),
                    title=finding(d, "title"),
                    detail=finding(d, "detail"),
                )
            )
        if r.reason and r.status == FAILED:  # a divergence is explained by the doctor above
            reason = from_tree(r.reason_said) if r.reason_said else r.reason
            st.caption(f"{name(r.id)}: {say(reason)}")

    # --- act on the chosen runs ---------------------------------------------------------------
    a1, a2 = st.columns(2)
    trainable = [r for r in picked if r.kind == "train"]
    with a1:
        if st.button(
            t("runs.again.label"),
            icon=":material/replay:",
            disabled=len(trainable) != 1 or len(picked) != 1,
            help=t("runs.again.help"),
        ):
            r = trainable[0]
            run_again(r.preset, r.config, say(history.label(r)))
    with (
        a2,
        st.popover(t("runs.delete.many" if len(picked) > 1 else "runs.delete.one", n=len(picked))),
    ):
        st.write(t("runs.delete.note"))
        if st.button(t("runs.delete.yes"), type="primary", key="runs_delete"):
            for r in picked:
                history.delete_run(runs_dir(), r.id)
            state.pop(COMPARE_KEY, None)
            st.rerun()
