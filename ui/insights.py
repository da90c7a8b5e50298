"""The "see inside" views: the Draw page's insight panel, the cached per-model analyses behind it
and the Inspect page (the LaTeX of How it works is in ui/equations.py).

Every number comes from core/insight.py; this module only caches, lays out and formats. Caches
are bounded and keyed by model identity (name plus a checksum of the weights), so a retrained
model never shows another's results.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from core import insight
from core.data import is_cached, open_mnist
from core.jobs import ACTIVE
from core.preprocess import canvas_to_naive
from ui import insight_charts as charts
from ui.i18n import t

IMAGE_SCALE = 4  # 28 px -> 112 px on screen, each pixel a crisp block
# The tabs' catalog keys ("insights.tab.*"), in order.
INSIGHT_TABS = ["hidden", "saliency", "preprocessing", "neighbours"]
# The chosen insight tab (its position), kept in a plain session_state key: the tabs' own widget
# state is dropped on every run that does not draw them (after Clear there is no drawing, so no
# tabs), and they would come back on the first tab. A position survives a change of language.
TAB_KEPT = "insight_tab_kept"

ACTIVATION_TEX = {
    "relu": r"\operatorname{ReLU}",
    "leaky_relu": r"\operatorname{LeakyReLU}",
    "sigmoid": r"\sigma",
    "tanh": r"\tanh",
}


# --- cached analyses, one entry per model --------------------------------------------------------


def model_key(model) -> str:
    """Name plus weights checksum: the same name after retraining is a different model."""
    digest = (model.meta or {}).get("npz_sha256")
    return f"{model.name}:{digest[:16] if digest else insight.fingerprint(model.net)}"


def mnist_ready() -> bool:
    """True when the verified MNIST cache exists (checking never starts a download)."""
    return is_cached()


@st.cache_resource(max_entries=3, show_spinner=False)
def _neighbour_index(key: str, _net) -> insight.NeighbourIndex:
    x_train, y_train, _, _ = open_mnist()
    return insight.build_neighbour_index(_net, x_train, y_train)


def neighbour_index(model) -> insight.NeighbourIndex:
    """First-hidden-layer activations of 20,000 training images, built once per model."""
    with st.spinner(t("insights.spinner.index")):
        return _neighbour_index(model_key(model), model.net)


@st.cache_resource(max_entries=4, show_spinner=False)
def _model_report(key: str, _net) -> insight.ModelReport:
    _, _, x_test, y_test = open_mnist()
    return insight.model_report(_net, x_test, y_test)


def model_report(model) -> insight.ModelReport:
    """The model on the whole test set, computed once per model and shared by all sessions."""
    with st.spinner(t("insights.spinner.report")):
        return _model_report(model_key(model), model.net)


def dataset_summary() -> dict:
    """Class counts of both sets and the mean training image of each digit."""
    with st.spinner(t("insights.spinner.summary")):
        return _dataset_summary()


@st.cache_resource(max_entries=1, show_spinner=False)
def _dataset_summary() -> dict:
    """Class counts of both sets and the mean training image of each digit."""
    x_train, y_train, _, y_test = open_mnist()
    return {
        "train_counts": insight.class_counts(y_train),
        "test_counts": insight.class_counts(y_test),
        "means": insight.mean_images(x_train, y_train),
    }


def image(x) -> np.ndarray:
    """A 28x28 image (floats in [0, 1] or MNIST uint8) ready for st.image."""
    return charts.enlarge(insight.as_float(x).reshape(insight.SIDE, insight.SIDE), IMAGE_SCALE)


def show_images(images, captions, width: int = 84) -> None:
    """A row of small digit images with captions, wrapping as the page narrows."""
    st.image([image(x) for x in images], caption=list(captions), width=width)


# --- the Draw page's panel -----------------------------------------------------------------------


def render_drawing_insights(model, rgba, x28, said=None) -> None:
    """Hidden activations, saliency, naive vs MNIST-style input and nearest training images.

    `rgba` is the canvas (H, W, 4) uint8 or None, `x28` the MNIST-style (28, 28) input or None,
    `said` the Draw page's reading of it (core.reading.Reading) or None. When the page refused
    the drawing ("?"), the views still show what the network computes, and say so: they explain
    its top guess, which the page did not accept.
    """
    started = time.perf_counter()
    st.subheader(t("insights.title"))
    if model is None:
        st.info(t("insights.no_model"))
        return
    if x28 is None:
        # A caption, not another alert: the Draw page already shows one saying the same.
        st.caption(t("insights.draw_hint"))
        return
    net = model.net
    reading = insight.read_digit(net, x28)
    refused = said is not None and said.digit is None and said.probs is not None
    if refused:
        st.caption(t("insights.refused", digit=reading.digit))
    labels = [t(f"insights.tab.{tab}") for tab in INSIGHT_TABS]
    kept = st.session_state.get(TAB_KEPT)
    tabs = st.tabs(
        labels,
        default=labels[kept] if isinstance(kept, int) and 0 <= kept < len(labels) else None,
        key="insight_tab",
        on_change=_keep_tab,
    )
    # Only the open tab is computed and sent: the tabs track their state (on_change), so a
    # stroke costs the server one view, not four, and the browser draws one.
    views = [
        lambda: _activations_view(net, x28),
        lambda: _saliency_view(net, x28, reading, refused),
        lambda: _preprocessing_view(net, rgba, x28, reading),
        lambda: _neighbours_view(model, x28, reading, refused),
    ]
    for tab, view in zip(tabs, views, strict=True):
        if tab.open is not False:
            with tab:
                view()
    st.session_state["insight_render_seconds"] = time.perf_counter() - started


def _keep_tab() -> None:
    labels = [t(f"insights.tab.{tab}") for tab in INSIGHT_TABS]
    chosen = st.session_state["insight_tab"]
    if chosen in labels:
        st.session_state[TAB_KEPT] = labels.index(chosen)


def _activations_view(net, x28) -> None:
    layers = insight.hidden_activations(net, x28)
    if not layers:
        st.info(t("insights.no_hidden"))
        return
    st.caption(t("insights.act_caption"))
    for l, a in enumerate(layers, start=1):
        st.plotly_chart(
            charts.activation_figure(a, l), key=f"insight_act_{l}", config={"displayModeBar": False}
        )


def _saliency_view(net, x28, reading, refused: bool = False) -> None:
    options = [None, *range(10)]
    answer = "insights.the_top_guess" if refused else "insights.the_prediction"
    cls = st.selectbox(
        t("insights.explain"),
        options,
        format_func=lambda c: (
            t(answer, digit=reading.digit) if c is None else t("insights.digit_option", digit=c)
        ),
        key="insight_saliency_class",
    )
    cls = reading.digit if cls is None else cls
    p = float(reading.P[cls])
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            charts.saliency_figure(
                x28,
                insight.saliency(net, x28, cls),
                t("insights.saliency_title", digit=cls, p=f"{p:.1%}"),
            ),
            key="insight_saliency",
            config={"displayModeBar": False},
        )
    with right:
        st.plotly_chart(
            charts.saliency_figure(
                x28, insight.gradient_times_input(net, x28, cls), t("insights.gxi_title")
            ),
            key="insight_gxi",
            config={"displayModeBar": False},
        )
    st.caption(t("insights.saliency_caption", digit=cls))


def _preprocessing_view(net, rgba, x28, reading) -> None:
    naive = canvas_to_naive(rgba) if rgba is not None else None
    left, right = st.columns(2)
    with left:
        st.markdown(t("insights.naive_title"))
        if naive is None:
            st.info(t("insights.no_canvas"))
        else:
            r = insight.read_digit(net, naive)
            st.image(image(naive), width=168)
            st.markdown(t("insights.reads", digit=r.digit, p=f"{r.confidence:.1%}"))
    with right:
        st.markdown(t("insights.mnist_title"))
        st.image(image(x28), width=168)
        st.markdown(t("insights.reads", digit=reading.digit, p=f"{reading.confidence:.1%}"))
    st.caption(t("insights.prep_caption"))


def _neighbours_view(model, x28, reading, refused: bool = False) -> None:
    if not mnist_ready():
        st.info(t("insights.no_mnist"))
        return
    meta = model.meta or {}
    if meta.get("live") and meta.get("status") in ACTIVE:
        # Its weights change every step, so an index would be stale (and rebuilt) every stroke.
        st.info(t("insights.still_training"))
        return
    index = neighbour_index(model)
    nb = insight.nearest_neighbours(index, model.net, x28, k=8)
    x_train = open_mnist().x_train
    agree = sum(int(label) == reading.digit for label in nb.labels)
    space = t("insights.space_hidden" if len(model.net.W) > 1 else "insights.space_pixel")
    st.caption(
        t(
            "insights.neighbours_caption_refused" if refused else "insights.neighbours_caption",
            space=space,
            rows=f"{len(index.rows):,}",
            agree=agree,
            digit=reading.digit,
        )
    )
    show_images(
        [x28, *(x_train[r] for r in nb.rows)],
        [
            t("insights.your_drawing"),
            *(f"{int(l)} (d={d:.1f})" for l, d in zip(nb.labels, nb.distances, strict=True)),
        ],
    )
