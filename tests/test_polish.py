"""Small promises of the polish: activation colour bars keep a readable height whatever the layer
size, every colour bar prints plain numbers, users get no developer toolbar, the icon is local."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ui import insight_charts as charts

ROOT = Path(__file__).resolve().parent.parent


def bar_height_px(fig) -> float:
    """The colour bar's length on screen: a fraction of the plot area, or pixels."""
    layout, bar = fig.layout, fig.data[-1].colorbar
    plot = layout.height - layout.margin.t - layout.margin.b
    return bar.len if bar.lenmode == "pixels" else (bar.len or 1.0) * plot


@pytest.mark.parametrize("units", [10, 32, 100, 256, 1024])
def test_an_activation_colour_bar_is_readable_at_every_layer_size(units):
    a = np.linspace(-1, 3, units)
    fig = charts.activation_figure(a, 1)
    assert bar_height_px(fig) >= charts.MIN_BAR_PX
    assert "e" not in fig.data[0].colorbar.tickformat


def test_every_colour_bar_uses_plain_decimal_numbers():
    x = np.zeros((28, 28))
    figs = [
        charts.activation_figure(np.arange(10.0), 1),
        charts.saliency_figure(x, np.full((28, 28), 1e-3), "s"),
        charts.mosaic_figure(
            np.random.default_rng(0).normal(size=(4, 28, 28)), 2, "m", signed=True
        ),
    ]
    for fig in figs:
        bars = [t.colorbar for t in fig.data if t.showscale is not False and t.colorbar]
        assert bars
        for bar in bars:
            assert bar.tickformat == charts.PLAIN and bar.exponentformat == "none"


def test_users_get_the_minimal_toolbar_without_deploy_or_developer_menu():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["toolbarMode"] in ("minimal", "viewer")


def test_the_page_icon_is_a_local_image_file():
    source = (ROOT / "app.py").read_text()
    assert "page_icon=ICON" in source and '"favicon.png"' in source
    with Image.open(ROOT / "assets" / "favicon.png") as icon:
        assert icon.format == "PNG" and min(icon.size) >= 32
