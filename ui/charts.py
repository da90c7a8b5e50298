"""Plotly figure builders for the pages: training curves, the ten probabilities, a 28x28 image.

Pure functions from plain lists and arrays to figures. They never compute anything a page should
know about; they only draw, with their words from the catalog (ui.i18n.t: the reader's language
in the app, English outside a Streamlit run). The English constants below stay for reference.
Figures stay small (few traces, no animation): the Train page redraws them every two seconds and
the Draw page on every stroke.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale

from ui.i18n import t

RAW = "#9ecae1"  # light blue: noisy per-step values
MAIN = "#1f77b4"  # blue: smoothed / training
VAL = "#ff7f0e"  # orange: validation
HIGHLIGHT = "#2ca02c"  # green: the predicted digit
MUTED = "#b0b0b0"
# Colour scales spelled out: the names ("gray", "RdBu_r") are Plotly's Python names, which the
# browser's plotly.js does not know, and the figures below skip the checks that expand them.
GRAY = get_colorscale("gray")

LOSS_PER_STEP = "Loss per step"
LOSS_PER_ITERATION = "Loss per iteration"  # full-batch runs: one step is one pass, an iteration
LOSS_PER_EPOCH = "Loss per epoch"
ACCURACY_PER_EPOCH = "Accuracy per epoch"
LOSS_EVALUATED = "Loss, training and validation"  # full-batch runs' evaluated loss
ACCURACY_EVALUATED = "Accuracy, training and validation"
COMPARE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")

# One line beside each training chart, so the charts explain themselves.
EXPLAIN_LOSS_STEP = (
    "Cross-entropy loss: minus the log of the probability the network gave the right digit, "
    "averaged over a batch of images. 2.3 is guessing among ten digits; 0 is sure and right. "
    "Light: each batch; dark: an average of the last few dozen batches."
)
EXPLAIN_LOSS_ITERATION = (
    "Cross-entropy loss: minus the log of the probability the network gave the right digit, "
    "averaged over every training image. 2.3 is guessing among ten digits; 0 is sure and right. "
    "Each iteration sees all the images, so the line has no noise to smooth."
)
EXPLAIN_LOSS_EVALUATED = (
    "Training: the images it learns from. Validation: 5,000 images it never trains on, the "
    "honest measure. Validation rising while training falls means it memorises (overfitting)."
)
EXPLAIN_ACCURACY_EPOCH = (
    "Share of digits read correctly. In epoch 1 validation can beat training: the training "
    "figure averages the whole epoch, early guessing included; validation is measured at its end."
)
EXPLAIN_ACCURACY_ITERATION = (
    "Share of digits read correctly, on the training images and on 5,000 validation images it "
    "never trains on. Both measured with the same weights, so they stay close unless it overfits."
)


# A log axis labelled at 1, 2 and 5 times each power of ten, in full numbers: plotly's default
# labels every digit over a short range (0.07, 0.08, 0.09, 0.1 crowd into one smudge) and
# abbreviates the rest ("5, 2, 0.1, 5").
LOG_AXIS = dict(type="log", dtick="D2", tickformat=".2~g")


def _layout(title: str, height: int, **extra) -> dict:
    return dict(
        # The title sits at the very top and the legend in a row of its own below it, so the
        # two never overlap in a narrow column.
        title=dict(text=title, x=0, xanchor="left", y=0.98, yanchor="top", font=dict(size=15)),
        height=height,
        margin=dict(l=10, r=10, t=62, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
        uirevision="keep",  # a zoom or pan survives the twice-a-second redraws
        **extra,
    )


def _waiting(fig: go.Figure, message: str) -> go.Figure:
    """An empty chart says what it is waiting for instead of showing meaningless axes."""
    fig.update_layout(
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
        showlegend=False,
        annotations=[dict(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)],
    )
    return fig


# Figures redrawn on every stroke or every second are built from plain dicts, without Plotly's
# check of each property against its schema: the checks cost more than the rest of the work
# (a 28x28 heatmap: 3.4 ms checked, 0.4 ms not) and hold the server's interpreter lock while
# other tabs wait. The tests build every such figure with the checks on and compare the two.
CHECKED = False


def figure(data: Sequence[dict], layout: dict) -> go.Figure:
    """A figure from traces written as dicts, each naming its `type` ("scatter", "bar", ...).

    A property set to None is left out, as Plotly's checks would (it means "the default")."""
    traces = [{k: v for k, v in trace.items() if v is not None} for trace in data]
    return go.Figure(traces, layout=layout, _validate=CHECKED)


def _floats(values) -> np.ndarray:
    """A series as a float array (None: a gap). Plotly checks a list point by point and copies
    it on every draw (40 ms for two lines of 1,000 points, the server's lock held); an array
    passes at once and reaches the browser as compact binary."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def loss_per_step_figure(
    steps: Sequence[dict], height: int = 300, full_batch: bool = False
) -> go.Figure:
    """Training loss against the step number (log scale): raw and smoothed for mini-batches,
    one line for full-batch runs, whose loss has no batch noise to smooth."""
    x = _floats(s["step"] for s in steps)
    unit = "iteration" if full_batch else "step"
    traces = [
        dict(
            type="scatter",
            x=x,
            y=_floats(s["loss"] for s in steps),
            name=t("charts.loss") if full_batch else t("charts.batch_loss"),
            mode="lines",
            line=dict(color=MAIN, width=2) if full_batch else dict(color=RAW, width=1),
        )
    ]
    if not full_batch:
        traces.append(
            dict(
                type="scatter",
                x=x,
                y=_floats(s["smooth_loss"] for s in steps),
                name=t("charts.smoothed"),
                mode="lines",
                line=dict(color=MAIN, width=2.5),
            )
        )
    layout = dict(
        **_layout(t(f"charts.title.loss_per_{unit}"), height),
        xaxis=dict(title=dict(text=t(f"charts.unit.{unit}"))),
        yaxis=dict(title=dict(text=t("charts.cross_entropy_log")), **LOG_AXIS),
    )
    fig = figure(traces, layout)
    if not steps:
        return _waiting(fig, t(f"charts.waiting.first_{unit}s"))
    return fig


def _epoch_figure(epochs, train_key, val_key, title, y_title, height, percent=False, unit="epoch"):
    x = _floats(e["epoch"] for e in epochs)
    mode = "lines+markers" if len(x) <= 60 else "lines"
    fig = figure(
        [
            dict(
                type="scatter",
                x=x,
                y=_floats(e[train_key] for e in epochs),
                name=t("charts.training"),
                mode=mode,
                line=dict(color=MAIN, width=2),
            ),
            dict(
                type="scatter",
                x=x,
                y=_floats(e[val_key] for e in epochs),
                name=t("charts.validation"),
                mode=mode,
                line=dict(color=VAL, width=2),
            ),
        ],
        dict(
            **_layout(title, height),
            xaxis=dict(title=dict(text=t(f"charts.unit.{unit}")), rangemode="tozero"),
            yaxis=dict(title=dict(text=y_title), **(dict(tickformat=".1%") if percent else {})),
        ),
    )
    if not epochs:
        return _waiting(fig, t(f"charts.waiting.evaluated_{unit}"))
    return fig


def loss_per_epoch_figure(
    epochs: Sequence[dict], height: int = 300, full_batch: bool = False
) -> go.Figure:
    """Training and validation loss at each evaluation (per epoch, or per iteration)."""
    title = t("charts.title.loss_evaluated" if full_batch else "charts.title.loss_per_epoch")
    unit = "iteration" if full_batch else "epoch"
    return _epoch_figure(
        epochs, "train_loss", "val_loss", title, t("charts.cross_entropy"), height, unit=unit
    )


def accuracy_per_epoch_figure(
    epochs: Sequence[dict], height: int = 300, full_batch: bool = False
) -> go.Figure:
    """Training and validation accuracy at each evaluation (per epoch, or per iteration)."""
    title = t(
        "charts.title.accuracy_evaluated" if full_batch else "charts.title.accuracy_per_epoch"
    )
    unit = "iteration" if full_batch else "epoch"
    return _epoch_figure(
        epochs, "train_acc", "val_acc", title, t("charts.accuracy"), height, percent=True, unit=unit
    )


def compare_figure(
    curves: Sequence[tuple[str, Sequence, Sequence]],
    title: str,
    x_title: str,
    y_title: str,
    height: int = 340,
    log_y: bool = False,
    percent: bool = False,
) -> go.Figure:
    """Several runs' curves on one chart: curves are (name, xs, ys), one colour each."""
    yaxis = dict(title=dict(text=y_title))
    if log_y:
        yaxis.update(LOG_AXIS)
    if percent:
        yaxis.update(tickformat=".1%")
    layout = _layout(title, height)
    # Legends of long run names go below the chart, one per line.
    layout.update(
        xaxis=dict(title=dict(text=x_title)),
        yaxis=yaxis,
        legend=dict(orientation="v", y=-0.25, yanchor="top", x=0, xanchor="left"),
        margin=dict(l=10, r=10, t=40, b=10),
    )
    fig = figure(
        [
            dict(
                type="scatter",
                x=_floats(xs),
                y=_floats(ys),
                name=name,
                mode="lines+markers" if len(xs) <= 40 else "lines",
                line=dict(color=COMPARE_COLORS[i % len(COMPARE_COLORS)], width=2),
            )
            for i, (name, xs, ys) in enumerate(curves)
        ],
        layout,
    )
    if not any(len(xs) for _, xs, _ in curves):
        return _waiting(fig, t("charts.waiting.no_points"))
    return fig


def probabilities_figure(probs: Sequence[float], height: int = 260) -> go.Figure:
    """The ten class probabilities as bars, the most likely digit in green."""
    probs = [float(p) for p in probs]
    best = max(range(len(probs)), key=probs.__getitem__)
    fig = figure(
        [
            dict(
                type="bar",
                x=[str(d) for d in range(len(probs))],
                y=probs,
                marker=dict(color=[HIGHLIGHT if d == best else MUTED for d in range(len(probs))]),
                text=[f"{p:.0%}" if p >= 0.01 else "" for p in probs],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=t("charts.hover.digit") + "<extra></extra>",
            )
        ],
        dict(
            **_layout(t("charts.title.probabilities"), height),
            xaxis=dict(title=dict(text=t("charts.digit")), type="category"),
            yaxis=dict(range=[0, 1.08], tickformat=".0%", showgrid=True),
            showlegend=False,
        ),
    )
    return fig


def digit_image_figure(image, title: str | None = None, height: int = 260):
    """A 28x28 image in [0, 1] as a grey heatmap, row 0 at the top as on the canvas."""
    title = t("charts.title.network_sees") if title is None else title
    fig = figure(
        [
            dict(
                type="heatmap",
                z=np.asarray(image),
                zmin=0,
                zmax=1,
                colorscale=GRAY,
                showscale=False,
                hovertemplate=t("charts.hover.pixel") + "<extra></extra>",
            )
        ],
        dict(
            **_layout(title, height),
            # Plotly draws heatmap row 0 at the bottom; reversing the axis puts it on top.
            yaxis=dict(autorange="reversed", scaleanchor="x", visible=False),
            xaxis=dict(constrain="domain", visible=False),
            plot_bgcolor="black",
            showlegend=False,
        ),
    )
    return fig
