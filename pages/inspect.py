"""Inspect: one model on the whole MNIST test set (accuracy, confusion matrix, confident
mistakes), its first-layer weights, and the data set itself. The test-set pass is cached per
model (ui.insights.model_report); this page only reads widgets and lays out results."""

import streamlit as st

from core import insight
from core.data import load_mnist
from ui import insight_charts as charts
from ui.common import ensure_app_navigation, model_picker, require_model
from ui.insights import dataset_summary, mnist_ready, model_report, show_images
from ui.personal import render_models_on_my_digits

ensure_app_navigation()

state = st.session_state
CHART = "inspect_confusion"  # the confusion matrix's selection lives under this key
TRUE, PRED = "inspect_true", "inspect_pred"

st.title("Inspect a model")
st.caption(
    "How a model does on the 10,000 MNIST test digits it never trained on, and what it learnt."
)
model = model_picker("inspect_model", "Model to inspect") or require_model()
net = model.net
st.caption(
    f"{'-'.join(map(str, net.sizes))} network, {net.activation}, {net.n_params:,} parameters."
)

have_data = mnist_ready()
report = model_report(model) if have_data else None
if report is None:
    st.info(
        "MNIST is not downloaded yet, so only the weights can be shown. Train a model once "
        "(Train page) to fetch it, or run `python -m core.data`."
    )
else:
    _, _, x_test, y_test = load_mnist()
    c1, c2, c3 = st.columns(3)
    c1.metric("Test accuracy", f"{report.accuracy:.2%}")
    c2.metric("Test digits misread", f"{report.mistakes:,}")
    worst = report.hardest_digit
    c3.metric(
        "Hardest digit",
        str(worst),
        f"{report.per_class[worst]:.1%} read right",
        "off",
        delta_arrow="off",
    )

render_models_on_my_digits(model.name)  # each model on the personal set, next to MNIST

tabs = st.tabs(["Test set", "Confident mistakes", "Weights", "Data set"])

# --- confusion matrix ----------------------------------------------------------------------------

with tabs[0]:
    if report is None:
        st.info("Needs MNIST (see above).")
    else:
        st.plotly_chart(charts.per_class_figure(report.per_class), config={"displayModeBar": False})
        # A click on a cell arrives as this chart's selection; it sets the two boxes below.
        # Only a new click moves the boxes, so choosing in them afterwards still works.
        points = ((state.get(CHART) or {}).get("selection") or {}).get("points") or []
        clicked = (int(points[0]["y"]), int(points[0]["x"])) if points else None
        if clicked is not None and clicked != state.get("inspect_clicked"):
            state[TRUE], state[PRED] = clicked
        state["inspect_clicked"] = clicked
        if TRUE not in state:
            state[TRUE], state[PRED] = insight.worst_confusion(report.confusion)
        left, right = st.columns([3, 2])
        with left:
            st.plotly_chart(
                charts.confusion_figure(report.confusion, (state[TRUE], state[PRED])),
                key=CHART,
                on_select="rerun",
                selection_mode="points",
                config={"displayModeBar": False},
            )
        with right:
            st.markdown("**The test images behind a cell**")
            st.caption("Click a cell of the matrix, or choose here.")
            a, b = st.columns(2)
            t = a.selectbox("True digit", range(10), key=TRUE)
            p = b.selectbox("Read as", range(10), key=PRED)
            members = insight.cell_members(report, t, p)
            what = "read correctly" if t == p else f"read as {p}"
            st.markdown(f"**{len(members):,}** test images of {t} {what}.")
            shown = members[:30]
            if len(shown):
                show_images(
                    [x_test[i] for i in shown],
                    [f"#{i}: {report.P[i, p]:.0%}" for i in shown],
                    width=64,
                )
                if len(members) > len(shown):
                    st.caption(f"The {len(shown)} the network was surest about; P({p}) under each.")

# --- confident mistakes --------------------------------------------------------------------------

with tabs[1]:
    if report is None:
        st.info("Needs MNIST (see above).")
    else:
        worst_ones = insight.confident_mistakes(report, 30)
        st.caption(
            "The misread test digits the network was surest about. Some are genuinely "
            "ambiguous, some are mislabelled in MNIST itself, and some are plain mistakes."
        )
        show_images(
            [x_test[i] for i in worst_ones],
            [
                f"true {int(report.y[i])}, read {int(report.pred[i])} "
                f"({report.P[i, report.pred[i]]:.0%})"
                for i in worst_ones
            ],
            width=84,
        )

# --- weights -------------------------------------------------------------------------------------

with tabs[2]:
    h = net.sizes[1]
    n = h if h <= 8 else st.slider("Units to show", 8, min(96, h), min(32, h), step=8)
    units, fields = insight.receptive_fields(net, None if report is None else report.importance, n)
    order = "most important first" if report is not None else "in order"
    st.plotly_chart(
        charts.mosaic_figure(
            fields,
            cols=8,
            title=f"First-layer receptive fields ({order})",
            names=[f"unit {u}" for u in units],
            signed=True,
        ),
        config={"displayModeBar": False},
    )
    st.caption(
        "Each square is one first-layer unit's 784 weights laid out as the image it looks at: "
        "red pixels push the unit up when inked, blue ones push it down. Importance is how much "
        "signal a unit passes on, on average over the test set: mean |activation| times the size "
        "of its outgoing weights."
    )
    st.plotly_chart(
        charts.histograms_figure(insight.weight_histograms(net)),
        config={"displayModeBar": False},
    )
    st.caption("How the weights of each layer are spread, with their mean and standard deviation.")

# --- the data set --------------------------------------------------------------------------------

with tabs[3]:
    if report is None:
        st.info("Needs MNIST (see above).")
    else:
        summary = dataset_summary()
        st.plotly_chart(
            charts.class_counts_figure(summary["train_counts"], summary["test_counts"]),
            config={"displayModeBar": False},
        )
        st.plotly_chart(
            charts.mosaic_figure(
                summary["means"],
                cols=10,
                title="The average training image of each digit",
                names=[f"mean of the {d}s" for d in range(10)],
                height=190,
            ),
            config={"displayModeBar": False},
        )
        x_train, y_train, _, _ = load_mnist()
        a, b = st.columns([1, 3])
        digit = a.selectbox("Samples of digit", range(10), key="inspect_sample_digit")
        if b.button("Show other samples", icon=":material/shuffle:"):
            state["inspect_sample_seed"] = state.get("inspect_sample_seed", 0) + 1
        picks = insight.samples_of(y_train, digit, 30, seed=state.get("inspect_sample_seed", 0))
        show_images([x_train[i] for i in picks], [f"#{i}" for i in picks], width=64)
