"""The figures the pages redraw on every stroke or every second: built without Plotly's
per-property checks for speed, they must be exactly what the checked build gives."""

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from ui import charts, insight_charts

RNG = np.random.default_rng(0)
STEPS = [dict(step=i, loss=2.3 / i, smooth_loss=2.3 / i**0.5) for i in range(1, 301)]
EPOCHS = [
    dict(epoch=e, train_loss=1 / e, val_loss=1.1 / e, train_acc=1 - 0.1 / e, val_acc=None)
    for e in range(1, 6)
]
IMAGE = RNG.random((28, 28)).astype(np.float32)
SIGNED = RNG.standard_normal((28, 28)).astype(np.float32)
UNITS = RNG.random(100)

FIGURES = {
    "loss per step": lambda: charts.loss_per_step_figure(STEPS),
    "loss per iteration": lambda: charts.loss_per_step_figure(STEPS[:20], full_batch=True),
    "loss per step, waiting": lambda: charts.loss_per_step_figure([]),
    "loss per epoch": lambda: charts.loss_per_epoch_figure(EPOCHS),
    "accuracy per iteration": lambda: charts.accuracy_per_epoch_figure(EPOCHS, full_batch=True),
    "accuracy per epoch, waiting": lambda: charts.accuracy_per_epoch_figure([]),
    "comparison": lambda: charts.compare_figure(
        [("a", [1, 2, 3], [0.5, 0.4, None]), ("b", list(range(50)), list(range(50)))],
        "Loss",
        "step",
        "loss",
        log_y=True,
    ),
    "comparison in percent": lambda: charts.compare_figure(
        [("a", [1, 2], [0.9, 0.95])], "Accuracy", "epoch", "accuracy", percent=True
    ),
    "comparison, waiting": lambda: charts.compare_figure([("a", [], [])], "t", "x", "y"),
    "probabilities": lambda: charts.probabilities_figure(np.full(10, 0.1)),
    "digit image": lambda: charts.digit_image_figure(IMAGE),
    "activations": lambda: insight_charts.activation_figure(UNITS, 1),
    "signed activations": lambda: insight_charts.activation_figure(SIGNED.ravel()[:40], 2),
    "saliency": lambda: insight_charts.saliency_figure(IMAGE, SIGNED, "Saliency"),
    "mosaic": lambda: insight_charts.mosaic_figure(np.stack([IMAGE] * 5), 3, "Images"),
    "signed mosaic": lambda: insight_charts.mosaic_figure(
        np.stack([SIGNED] * 10), 5, "Weights", names=list("abcdefghij"), signed=True
    ),
}


@pytest.mark.parametrize("name", FIGURES)
def test_a_redrawn_figure_is_exactly_what_plotlys_checks_build(name, monkeypatch):
    fast = FIGURES[name]()
    monkeypatch.setattr(charts, "CHECKED", True)
    checked = FIGURES[name]()  # raises on any property Plotly does not know or accept
    assert json.loads(fast.to_json()) == json.loads(checked.to_json())  # what the browser gets


def test_the_checked_build_refuses_a_property_plotly_does_not_know(monkeypatch):
    monkeypatch.setattr(charts, "CHECKED", True)
    with pytest.raises(ValueError, match="colour"):
        charts.figure([dict(type="bar", x=[1], y=[1], colour="red")], {})
    monkeypatch.setattr(charts, "CHECKED", False)
    assert isinstance(charts.figure([dict(type="bar", colour="red")], {}), go.Figure)
