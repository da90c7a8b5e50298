"""Plotly figure builders for the pages: training curves, the ten probabilities, a 28x28 image.

Pure functions from plain lists and arrays to figures. They never import streamlit and never
compute anything a page should know about; they only draw. Figures stay small (few traces, no
animation) because the Train page rebuilds them twice a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

RAW = "#9ecae1"  # light blue: noisy per-step values
MAIN = "#1f77b4"  # blue: smoothed / training
VAL = "#ff7f0e"  # orange: validation
HIGHLIGHT = "#2ca02c"  # green: the predicted digit
MUTED = "#b0b0b0"

LOSS_PER_STEP = "Loss per step"
LOSS_PER_EPOCH = "Loss per epoch"
ACCURACY_PER_EPOCH = "Accuracy per epoch"


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


def loss_per_step_figure(steps: Sequence[dict], height: int = 300) -> go.Figure:
    """Raw and smoothed training loss against the step number (log scale)."""
    x = [s["step"] for s in steps]
    fig = go.Figure(
        [
            go.Scatter(
                x=x,
                y=[s["loss"] for s in steps],
                name="batch loss",
                mode="lines",
                line=dict(color=RAW, width=1),
            ),
            go.Scatter(
                x=x,
                y=[s["smooth_loss"] for s in steps],
                name="smoothed",
                mode="lines",
                line=dict(color=MAIN, width=2.5),
            ),
        ]
    )
    fig.update_layout(
        **_layout(LOSS_PER_STEP, height),
        xaxis_title="step",
        # Full numbers on every tick: plotly's default log labels read as "5, 2, 0.1, 5".
        yaxis=dict(title="cross-entropy (log scale)", type="log", tickformat=".2~g"),
    )
    if not steps:
        return _waiting(fig, "The first points appear after a few steps")
    return fig


def _epoch_figure(epochs, train_key, val_key, title, y_title, height, percent=False):
    x = [e["epoch"] for e in epochs]
    mode = "lines+markers" if len(x) <= 60 else "lines"
    fig = go.Figure(
        [
            go.Scatter(
                x=x,
                y=[e[train_key] for e in epochs],
                name="training",
                mode=mode,
                line=dict(color=MAIN, width=2),
            ),
            go.Scatter(
                x=x,
                y=[e[val_key] for e in epochs],
                name="validation",
                mode=mode,
                line=dict(color=VAL, width=2),
            ),
        ]
    )
    fig.update_layout(
        **_layout(title, height),
        xaxis=dict(title="epoch", rangemode="tozero"),
        yaxis=dict(title=y_title, tickformat=".1%" if percent else None),
    )
    if not epochs:
        return _waiting(fig, "Appears after the first evaluated epoch")
    return fig


def loss_per_epoch_figure(epochs: Sequence[dict], height: int = 300) -> go.Figure:
    """Training and validation loss at the end of each evaluated epoch."""
    return _epoch_figure(epochs, "train_loss", "val_loss", LOSS_PER_EPOCH, "cross-entropy", height)


def accuracy_per_epoch_figure(epochs: Sequence[dict], height: int = 300) -> go.Figure:
    """Training and validation accuracy at the end of each evaluated epoch."""
    return _epoch_figure(
        epochs, "train_acc", "val_acc", ACCURACY_PER_EPOCH, "accuracy", height, percent=True
    )


def probabilities_figure(probs: Sequence[float], height: int = 260) -> go.Figure:
    """The ten class probabilities as bars, the most likely digit in green."""
    probs = [float(p) for p in probs]
    best = max(range(len(probs)), key=probs.__getitem__)
    fig = go.Figure(
        go.Bar(
            x=[str(d) for d in range(len(probs))],
            y=probs,
            marker_color=[HIGHLIGHT if d == best else MUTED for d in range(len(probs))],
            text=[f"{p:.0%}" if p >= 0.01 else "" for p in probs],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="digit %{x}: %{y:.2%}<extra></extra>",
        )
    )
    fig.update_layout(
        **_layout("Probabilities", height),
        xaxis=dict(title="digit", type="category"),
        yaxis=dict(range=[0, 1.08], tickformat=".0%", showgrid=True),
        showlegend=False,
    )
    return fig


def digit_image_figure(image, title: str = "What the network sees", height: int = 260):
    """A 28x28 image in [0, 1] as a grey heatmap, row 0 at the top as on the canvas."""
    fig = go.Figure(
        go.Heatmap(
            z=image,
            zmin=0,
            zmax=1,
            colorscale="gray",
            showscale=False,
            hovertemplate="row %{y}, column %{x}: %{z:.2f}<extra></extra>",
        )
    )
    fig.update_layout(
        **_layout(title, height),
        # Plotly draws heatmap row 0 at the bottom; reversing the axis puts it on top.
        yaxis=dict(autorange="reversed", scaleanchor="x", visible=False),
        xaxis=dict(constrain="domain", visible=False),
        plot_bgcolor="black",
        showlegend=False,
    )
    return fig
