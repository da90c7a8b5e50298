"""Inspect: one model on the whole MNIST test set (accuracy, confusion matrix, confident
mistakes), its first-layer weights, and the data set itself. The test-set pass is cached per
model (ui.insights.model_report); this page only reads widgets and lays out results."""

import streamlit as st

from core import insight
from core.data import open_mnist
from ui import insight_charts as charts
from ui.common import ensure_app_navigation, model_picker, require_model
from ui.i18n import t
from ui.insights import dataset_summary, mnist_ready, model_report, show_images
from ui.personal import render_models_on_my_digits

ensure_app_navigation()

state = st.session_state
CHART = "inspect_confusion"  # the confusion matrix's selection lives under this key
TRUE, PRED = "inspect_true", "inspect_pred"

st.title(t("inspect.title"))
st.caption(t("inspect.intro"))
model = model_picker("inspect_model", t("inspect.picker")) or require_model()
net = model.net
sizes = "-".join(map(str, net.sizes))
st.caption(t("inspect.network", sizes=sizes, activation=net.activation, n=f"{net.n_params:,}"))

have_data = mnist_ready()
report = model_report(model) if have_data else None
if report is None:
    st.info(t("inspect.no_mnist"))
else:
    _, _, x_test, y_test = open_mnist()
    c1, c2, c3 = st.columns(3)
    c1.metric(t("inspect.metric.accuracy"), f"{report.accuracy:.2%}")
    c2.metric(t("inspect.metric.misread"), f"{report.mistakes:,}")
    worst = report.hardest_digit
    c3.metric(
        t("inspect.metric.hardest"),
        str(worst),
        t("inspect.metric.read_right", acc=f"{report.per_class[worst]:.1%}"),
        "off",
        delta_arrow="off",
    )

render_models_on_my_digits(model.name)  # each model on the personal set, next to MNIST

tabs = st.tabs(
    [
        t("inspect.tab.test"),
        t("inspect.tab.mistakes"),
        t("inspect.tab.weights"),
        t("inspect.tab.data"),
    ]
)

# --- confusion matrix ----------------------------------------------------------------------------

with tabs[0]:
    if report is None:
        st.info(t("inspect.needs_mnist"))
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
            st.markdown(t("inspect.cell.title"))
            st.caption(t("inspect.cell.hint"))
            a, b = st.columns(2)
            true = a.selectbox(t("inspect.cell.true"), range(10), key=TRUE)
            p = b.selectbox(t("inspect.cell.read"), range(10), key=PRED)
            members = insight.cell_members(report, true, p)
            n = f"{len(members):,}"
            if true == p:
                st.markdown(t("inspect.cell.right", n=n, digit=true))
            else:
                st.markdown(t("inspect.cell.wrong", n=n, digit=true, read=p))
            shown = members[:30]
            if len(shown):
                show_images(
                    [x_test[i] for i in shown],
                    [f"#{i}: {report.P[i, p]:.0%}" for i in shown],
                    width=64,
                )
                if len(members) > len(shown):
                    st.caption(t("inspect.cell.surest", n=len(shown), digit=p))

# --- confident mistakes --------------------------------------------------------------------------

with tabs[1]:
    if report is None:
        st.info(t("inspect.needs_mnist"))
    else:
        worst_ones = insight.confident_mistakes(report, 30)
        st.caption(t("inspect.mistakes.text"))
        show_images(
            [x_test[i] for i in worst_ones],
            [
                t(
                    "inspect.mistakes.caption",
                    true=int(report.y[i]),
                    read=int(report.pred[i]),
                    p=f"{report.P[i, report.pred[i]]:.0%}",
                )
                for i in worst_ones
            ],
            width=84,
        )

# --- weights -------------------------------------------------------------------------------------

with tabs[2]:
    h = net.sizes[1]
    n = h if h <= 8 else st.slider(t("inspect.weights.units"), 8, min(96, h), min(32, h), step=8)
    units, fields = insight.receptive_fields(net, None if report is None else report.importance, n)
    order = t("inspect.weights.important" if report is not None else "inspect.weights.in_order")
    st.plotly_chart(
        charts.mosaic_figure(
            fields,
            cols=8,
            title=t("inspect.weights.fields", order=order),
            names=[t("inspect.weights.unit", u=u) for u in units],
            signed=True,
        ),
        config={"displayModeBar": False},
    )
    st.caption(t("inspect.weights.fields_text"))
    st.plotly_chart(
        charts.histograms_figure(insight.weight_histograms(net)),
        config={"displayModeBar": False},
    )
    st.caption(t("inspect.weights.hist_text"))

# --- the data set --------------------------------------------------------------------------------

with tabs[3]:
    if report is None:
        st.info(t("inspect.needs_mnist"))
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
                title=t("inspect.data.means"),
                names=[t("inspect.data.mean_of", digit=d) for d in range(10)],
                height=190,
            ),
            config={"displayModeBar": False},
        )
        x_train, y_train, _, _ = open_mnist()
        a, b = st.columns([1, 3])
        digit = a.selectbox(t("inspect.data.samples"), range(10), key="inspect_sample_digit")
        if b.button(t("inspect.data.others"), icon=":material/shuffle:"):
            state["inspect_sample_seed"] = state.get("inspect_sample_seed", 0) + 1
        picks = insight.samples_of(y_train, digit, 30, seed=state.get("inspect_sample_seed", 0))
        show_images([x_train[i] for i in picks], [f"#{i}" for i in picks], width=64)
