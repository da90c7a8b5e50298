"""Figure builders for the "see inside" views: activations, saliency, confusion matrix, weights.

Pure functions from arrays to plotly figures (and to enlarged uint8 images for st.image). They
draw nothing with streamlit and compute nothing a reader would call analysis; that is
core/insight.py. Their words come from ui.i18n.t (English outside a Streamlit run).
The Draw page rebuilds some of these on every stroke, so each of those is one or two traces,
built with ui.charts.figure (no per-property checks at run time; the tests check them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale
from plotly.subplots import make_subplots

from ui.charts import GRAY, figure
from ui.i18n import t

MAIN = "#1f77b4"  # blue, as ui/charts.py
HIGHLIGHT = "#2ca02c"  # green: the predicted / chosen digit
WRONG = "#d62728"  # red
MUTED = "#b0b0b0"
ORANGE = "#ff7f0e"

# Diverging scale for signed values (weights, saliency): blue negative, white zero, red positive.
# Spelled out, as ui.charts.GRAY is.
DIVERGING = get_colorscale("RdBu_r")
BLUES = get_colorscale("Blues")
# The same, but transparent around zero, so the digit underneath shows through an overlay.
OVERLAY = [
    [0.0, "rgba(33,102,172,0.95)"],
    [0.35, "rgba(103,169,207,0.55)"],
    [0.5, "rgba(255,255,255,0)"],
    [0.65, "rgba(239,138,98,0.55)"],
    [1.0, "rgba(178,24,43,0.95)"],
]

# Colour bar numbers in plain decimals (0.0005, not 5.0e-4): d3's "r" rounds to 3 significant
# digits without switching to exponents, and "~" drops trailing zeros.
PLAIN = ".3~r"
COLORBAR = dict(thickness=10, tickformat=PLAIN, exponentformat="none")
# A colour bar shorter than this cannot hold three readable tick labels.
MIN_BAR_PX = 120


def _layout(title: str, height: int, **extra) -> dict:
    return dict(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=14)),
        height=height,
        margin=dict(l=10, r=10, t=36, b=10),
        **extra,
    )


def _image_axes(**kw) -> dict:
    """Layout for a picture: no ticks, square pixels, row 0 on top as on the canvas.

    (Plotly draws heatmap row 0 at the bottom, hence the reversed y axis.)
    """
    hidden = dict(showticklabels=False, showgrid=False, ticks="", zeroline=False, **kw)
    return dict(
        yaxis=dict(autorange="reversed", scaleanchor="x", **hidden),
        xaxis=dict(constrain="domain", **hidden),
    )


def _limit(values) -> float:
    """A symmetric colour range +-m, so zero is always the middle colour."""
    m = float(np.nanmax(np.abs(values))) if np.size(values) else 0.0
    return m if m > 0 else 1.0


def enlarge(image, scale: int = 4) -> np.ndarray:
    """A [0, 1] image as uint8 with each pixel a scale x scale block (crisp, not blurred)."""
    a = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    return np.kron((a * 255).round().astype(np.uint8), np.ones((scale, scale), dtype=np.uint8))


def grid_shape(n: int) -> tuple[int, int]:
    """Rows and columns for laying n units out as a compact, wide strip."""
    cols = n if n <= 32 else (32 if n <= 512 else 64)
    return math.ceil(n / cols), cols


def activation_figure(a: Sequence[float], layer: int, height: int | None = None) -> go.Figure:
    """One hidden layer's activations as a grid of cells, unit 0 top left, row by row."""
    a = np.asarray(a, dtype=np.float32)
    rows, cols = grid_shape(a.size)
    grid = np.full(rows * cols, np.nan, dtype=np.float32)
    grid[: a.size] = a
    ids = np.arange(rows * cols).reshape(rows, cols)
    signed = bool((a < 0).any())
    fired = int((a > 0).sum())
    trace = dict(
        type="heatmap",
        z=grid.reshape(rows, cols),
        customdata=ids,
        colorscale=DIVERGING if signed else BLUES,
        zmid=0 if signed else None,
        zmin=None if signed else 0,
        xgap=1,
        ygap=1,
        colorbar=dict(COLORBAR, lenmode="fraction", len=1.0),
        hovertemplate=t("insight_charts.unit_hover") + "<extra></extra>",
    )
    title = t("insight_charts.activation_title", layer=layer, n=a.size, fired=fired)
    hidden = dict(showticklabels=False, showgrid=False, ticks="", zeroline=False)
    # At least as tall as a readable colour bar: one row of 10 units would otherwise leave it
    # a 30-pixel sliver.
    margins = 36 + 10
    layout = _layout(
        title,
        height or margins + max(MIN_BAR_PX, 16 * rows),
        yaxis=dict(autorange="reversed", **hidden),
        xaxis=hidden,
    )
    return figure([trace], layout)


def saliency_figure(image, values, title: str, height: int = 300) -> go.Figure:
    """A signed 28x28 map laid over the digit: red where more ink would raise the score."""
    m = _limit(values)
    fig = figure(
        [
            dict(
                type="heatmap",
                z=np.asarray(image),
                zmin=0,
                zmax=1,
                colorscale=[[0, "white"], [1, "#404040"]],
                showscale=False,
                hoverinfo="skip",
            ),
            dict(
                type="heatmap",
                z=np.asarray(values),
                zmin=-m,
                zmax=m,
                colorscale=OVERLAY,
                colorbar=COLORBAR,
                hovertemplate=t("insight_charts.pixel_hover") + "<extra></extra>",
            ),
        ],
        _layout(title, height, plot_bgcolor="white", **_image_axes()),
    )
    return fig


def mosaic(images, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Tile (n, h, w) images into one array with 1-pixel NaN gaps; also which image each cell is."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan, dtype=np.float32)
    ids = np.full(out.shape, -1, dtype=np.int64)
    for k in range(n):
        r, c = divmod(k, cols)
        out[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = images[k]
        ids[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = k
    return out, ids


def mosaic_figure(
    images,
    cols: int,
    title: str,
    names: Sequence[str] | None = None,
    signed: bool = False,
    height: int | None = None,
) -> go.Figure:
    """Several 28x28 images as one tiled heatmap (one trace, however many images)."""
    tiled, ids = mosaic(images, cols)
    names = list(names) if names is not None else [str(k) for k in range(len(images))]
    labels = np.where(ids >= 0, np.asarray(names + [""], dtype=object)[ids], "")
    m = _limit(images) if signed else 1.0
    fig = figure(
        [
            dict(
                type="heatmap",
                z=tiled,
                customdata=labels,
                colorscale=DIVERGING if signed else GRAY,
                zmin=-m if signed else 0,
                zmax=m,
                showscale=signed,
                colorbar=COLORBAR,
                hovertemplate="%{customdata}<br>"
                + t("insight_charts.value_hover")
                + "<extra></extra>",
            )
        ],
        _layout(
            title,
            height or int(60 + 120 * tiled.shape[0] / 29 * min(1.0, 8 / cols)),
            plot_bgcolor="white",
            **_image_axes(),
        ),
    )
    return fig


def confusion_figure(
    C: np.ndarray, selected: tuple[int, int] | None = None, height: int = 480
) -> go.Figure:
    """The confusion matrix: rows are true digits, columns what the network read.

    Colour is log-scaled, or the diagonal's thousands would wash out the mistakes; each cell
    shows its count. Plotly cannot select heatmap cells, so an invisible square marker sits on
    each cell: a click selects it, and Streamlit hands the page its (x, y).
    """
    C = np.asarray(C)
    k = C.shape[0]
    digits = [str(d) for d in range(k)]
    xs, ys = (
        [str(p) for _ in range(k) for p in range(k)],
        [str(d) for d in range(k) for _ in range(k)],
    )
    invisible = dict(marker=dict(opacity=0))
    fig = go.Figure(
        [
            go.Heatmap(
                z=np.log10(1 + C),
                x=digits,
                y=digits,
                text=C,
                texttemplate="%{text}",
                colorscale="Blues",
                showscale=False,
                xgap=1,
                ygap=1,
                hoverinfo="skip",
            ),
            go.Scatter(
                x=xs,
                y=ys,
                customdata=C.ravel(),
                mode="markers",
                marker=dict(symbol="square", size=34, color="rgba(0,0,0,0)"),
                selected=invisible,
                unselected=invisible,
                showlegend=False,
                hovertemplate=t("insight_charts.cell_hover") + "<extra></extra>",
            ),
        ]
    )
    if selected is not None:
        true, p = selected
        fig.add_shape(
            type="rect",
            x0=p - 0.5,
            x1=p + 0.5,
            y0=true - 0.5,
            y1=true + 0.5,
            line=dict(color=WRONG, width=3),
        )
    fig.update_layout(**_layout(t("insight_charts.confusion"), height), plot_bgcolor="white")
    predicted = t("insight_charts.predicted")
    fig.update_xaxes(title=predicted, type="category", side="top", showgrid=False)
    fig.update_yaxes(
        title=t("insight_charts.true"),
        type="category",
        autorange="reversed",
        scaleanchor="x",
        showgrid=False,
    )
    return fig


def per_class_figure(acc: Sequence[float], height: int = 260) -> go.Figure:
    """Accuracy on each digit's test images, worst in red."""
    acc = [float(a) for a in acc]
    worst = int(np.argmin(acc))
    fig = go.Figure(
        go.Bar(
            x=[str(d) for d in range(len(acc))],
            y=acc,
            marker_color=[WRONG if d == worst else MAIN for d in range(len(acc))],
            text=[f"{a:.1%}" for a in acc],
            textposition="outside",
            cliponaxis=False,
            hovertemplate=t("insight_charts.digit_hover") + "<extra></extra>",
        )
    )
    low = max(0.0, min(acc) - 0.05)
    fig.update_layout(**_layout(t("insight_charts.per_digit"), height), showlegend=False)
    fig.update_xaxes(title=t("insight_charts.true"), type="category")
    fig.update_yaxes(range=[low, 1.02], tickformat=".0%")
    return fig


def histograms_figure(hists, height: int | None = None) -> go.Figure:
    """One bar chart per weight matrix (objects with name, counts, edges, mean, std)."""
    hists = list(hists)
    fig = make_subplots(
        rows=1,
        cols=len(hists),
        subplot_titles=[
            t(
                "insight_charts.hist_title",
                name=h.name,
                n=f"{int(np.sum(h.counts)):,}",
                mean=f"{h.mean:+.3f}",
                std=f"{h.std:.3f}",
            )
            for h in hists
        ],
    )
    for k, h in enumerate(hists, start=1):
        centres = (h.edges[:-1] + h.edges[1:]) / 2
        fig.add_trace(
            go.Bar(
                x=centres,
                y=h.counts,
                width=np.diff(h.edges),
                marker_color=MAIN,
                name=h.name,
                hovertemplate=t("insight_charts.weights_hover") + "<extra></extra>",
            ),
            row=1,
            col=k,
        )
    fig.update_annotations(font_size=11)
    fig.update_layout(**_layout("", height or 260), showlegend=False, bargap=0)
    return fig


def class_counts_figure(train: Sequence[int], test: Sequence[int], height: int = 280):
    """How many images of each digit the training and test sets hold."""
    digits = [str(d) for d in range(len(train))]
    train_name, test_name = t("insight_charts.train_set"), t("insight_charts.test_set")
    fig = go.Figure(
        [
            go.Bar(x=digits, y=list(map(int, train)), name=train_name, marker_color=MAIN),
            go.Bar(x=digits, y=list(map(int, test)), name=test_name, marker_color=ORANGE),
        ]
    )
    fig.update_layout(
        **_layout(t("insight_charts.per_digit_count"), height),
        barmode="group",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
    )
    fig.update_xaxes(title=t("insight_charts.digit"), type="category")
    fig.update_yaxes(title=t("insight_charts.images"))
    return fig


def before_after_figure(
    P_before,
    P_after,
    label: int,
    height: int = 280,
    title: str = "Probabilities before and after the step",
    names: tuple[str, str] = ("before", "after one step"),
    mark: str = "label",
    digit: str = "digit",
) -> go.Figure:
    """The ten probabilities before and after one gradient step, the chosen label marked.

    The words (title, legend, mark, axis) come in from the page, in the reader's language.
    """
    digits = [str(d) for d in range(len(P_before))]
    fig = go.Figure(
        [
            go.Bar(x=digits, y=np.asarray(P_before), name=names[0], marker_color=MUTED),
            go.Bar(x=digits, y=np.asarray(P_after), name=names[1], marker_color=HIGHLIGHT),
        ]
    )
    fig.add_annotation(x=str(label), y=1.05, text=mark, showarrow=False, font=dict(color=HIGHLIGHT))
    fig.update_layout(
        **_layout(title, height),
        barmode="group",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
    )
    fig.update_xaxes(title=digit, type="category")
    fig.update_yaxes(range=[0, 1.1], tickformat=".0%")
    return fig


def gradcheck_figure(
    rows,
    height: int = 300,
    title: str = "Relative error, backprop vs finite differences",
    agree: str = "below: they agree",
    bug: str = "above: a bug",
    axis: str = "relative error",
    both_zero: str = "0 (both 0)",
) -> go.Figure:
    """Relative error of each checked weight on a log scale, against the usual rule of thumb.

    Weights are named as the article indexes them, W_l[unit, input] (the code's W_l[input, unit]
    transposed). The words come in from the page, in the reader's language.
    """
    names = [f"W{r.layer}[{r.j},{r.i}]" for r in rows]
    errs = [max(r.rel_error, 1e-16) for r in rows]
    colours = [HIGHLIGHT if e < 1e-5 else ("#ff7f0e" if e < 1e-2 else WRONG) for e in errs]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=errs,
            marker_color=colours,
            text=[f"{r.rel_error:.0e}" if r.rel_error > 0 else both_zero for r in rows],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{y:.1e}<extra></extra>",
        )
    )
    for y, text in ((1e-5, agree), (1e-2, bug)):
        fig.add_hline(y=y, line_dash="dot", line_color=MUTED)
        # Annotations on a log axis take log10 of the value, unlike shapes.
        fig.add_annotation(
            x=1,
            xref="paper",
            y=math.log10(y),
            text=text,
            showarrow=False,
            xanchor="right",
            yanchor="bottom",
            font=dict(size=11, color="#707070"),
        )
    fig.update_layout(**_layout(title, height))
    fig.update_yaxes(type="log", range=[-16, 0.3], exponentformat="power", title=axis)
    fig.update_xaxes(type="category")
    return fig
