"""Runs: every training and fine-tuning run kept, listed, compared on one chart, run again."""

from datetime import datetime

import pandas as pd
import streamlit as st

from core.runs import history
from ui import charts
from ui.common import ensure_app_navigation, format_seconds, run_again, runs_dir

ensure_app_navigation()

COMPARE_KEY = "runs_compare"
X_LABELS = {"step": "step", "epoch": "epoch", "seconds": "seconds of training"}

st.title("Runs")
st.caption(
    "Every run you finish on Train (and every fine-tuning on My digits) is kept here. Pick two "
    "or more to lay their curves over each other: the best lesson is what one change does."
)

records, problems = history.list_runs(runs_dir())
for problem in problems:
    st.warning(f"Skipped a run file that cannot be read: {problem}", icon=":material/warning:")
if not records:
    st.info("No runs yet. Train a network and it appears here when it ends.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

by_id = {r.id: r for r in records}


def when(record: history.RunRecord) -> str:
    return datetime.fromtimestamp(record.created).strftime("%d %b %H:%M:%S")


def name(run_id: str) -> str:
    record = by_id[run_id]
    return f"{when(record)} · {history.label(record)}"


def _pct(value):
    return None if value is None else round(100 * value, 2)


rows = [
    {
        "Started": datetime.fromtimestamp(r.created),
        "Run": history.label(r),
        "Kind": "fine-tuning" if r.kind == "finetune" else "training",
        "Result": r.status,
        "Test accuracy %": _pct(r.final.get("test_acc")),
        "Validation accuracy %": _pct(r.final.get("val_acc")),
        "Trained for": format_seconds(r.final["train_seconds"])
        if r.final.get("train_seconds")
        else "",
        "Saved as": r.model or "",
        "Doctor": "; ".join(d["title"] for d in r.diagnoses),
    }
    for r in records
]
st.dataframe(
    pd.DataFrame(rows),
    hide_index=True,
    width="stretch",
    column_config={"Started": st.column_config.DatetimeColumn(format="D MMM HH:mm:ss")},
)
st.caption("Click a column's title to sort by it.")

# --- compare ------------------------------------------------------------------------------------

state = st.session_state
state[COMPARE_KEY] = [i for i in state.get(COMPARE_KEY, []) if i in by_id]  # deleted ones go
chosen = st.multiselect(
    "Runs to compare",
    list(by_id),
    key=COMPARE_KEY,
    format_func=name,
    max_selections=6,
    placeholder="Choose 2 to 6 runs",
    help="Their curves share one chart; the settings that differ are highlighted below.",
)
picked = [by_id[i] for i in chosen]

if picked:
    x = st.radio(
        "Along",
        list(X_LABELS),
        format_func=X_LABELS.get,
        horizontal=True,
        key="runs_x",
        help="Steps compare runs step for step; epochs by passes over the data; seconds by the "
        "time it took.",
    )
    if len(picked) == 1:
        st.caption("Choose one more run to compare with this one.")
    loss_curves, acc_curves = [], []
    for r in picked:
        metric = "loss" if r.full_batch else "smooth_loss"
        loss_curves.append((name(r.id), *history.curve(r, metric, x)))
        acc_curves.append((name(r.id), *history.curve(r, "val_acc", x)))
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            charts.compare_figure(
                loss_curves, "Training loss", X_LABELS[x], "cross-entropy (log scale)", log_y=True
            ),
            config={"displayModeBar": False},
            key="compare_loss",
        )
        st.caption(
            "Training loss per step (smoothed for mini-batch runs). Lower is better; 2.3 is "
            "guessing."
        )
    with right:
        st.plotly_chart(
            charts.compare_figure(
                acc_curves, "Validation accuracy", X_LABELS[x], "accuracy", percent=True
            ),
            config={"displayModeBar": False},
            key="compare_acc",
        )
        st.caption("Accuracy on 5,000 validation images none of the runs trained on.")

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
        st.markdown(f"**Settings** ({len(differ)} differ: {', '.join(sorted(differ)) or 'none'})")
    else:
        st.markdown("**Settings**")
    styled = table.style.apply(
        lambda row: ["background-color: #ffe8a3" if row.name in differ else "" for _ in row],
        axis=1,
    )
    st.dataframe(styled, width="stretch")
    for r in picked:
        for d in r.diagnoses:
            st.caption(f"{name(r.id)}: the doctor read **{d['title']}**. {d['detail']}")
        if r.reason and r.status == "failed":  # a divergence is explained by the doctor above
            st.caption(f"{name(r.id)}: {r.reason}")

    # --- act on the chosen runs ---------------------------------------------------------------
    a1, a2 = st.columns(2)
    trainable = [r for r in picked if r.kind == "train"]
    with a1:
        if st.button(
            "Run again with one change",
            icon=":material/replay:",
            disabled=len(trainable) != 1 or len(picked) != 1,
            help="Opens Train with this run's setup filled in: change one thing, press Start, "
            "then compare the two here. Choose one training run.",
        ):
            r = trainable[0]
            run_again(r.preset, r.config, history.label(r))
    with a2, st.popover(f"Delete {len(picked)} run{'s' if len(picked) > 1 else ''}"):
        st.write("The record of the run goes; a model it saved stays on the Models list.")
        if st.button("Yes, delete", type="primary", key="runs_delete"):
            for r in picked:
                history.delete_run(runs_dir(), r.id)
            state.pop(COMPARE_KEY, None)
            st.rerun()
