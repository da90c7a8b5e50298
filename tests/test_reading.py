"""core.reading on canvases built with known geometry: a clean digit is read, and two digits,
a tiny one, a faint one, a scribble and an empty canvas each get their reason."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core import reading
from core.model_store import load_model
from core.preprocess import ink_intensity
from core.reading import (
    EMPTY,
    MORE_THAN_ONE,
    NOT_A_DIGIT,
    OK,
    TOO_FAINT,
    TOO_SMALL,
    UNSURE,
    Thresholds,
    read_canvas,
)

SIDE = 280


@pytest.fixture(scope="module")
def model():
    return load_model("default")


def canvas(draw_fn, level: int = 255) -> np.ndarray:
    """(280, 280, 4) RGBA as the drawable canvas returns it: ink `level` on opaque black."""
    img = Image.new("L", (SIDE, SIDE), 0)
    draw_fn(ImageDraw.Draw(img), level)
    ink = np.asarray(img)
    return np.dstack([ink, ink, ink, np.full_like(ink, 255)])


def one(x: float = 140, top: float = 40, bottom: float = 240, width: int = 20):
    """A 1: a single vertical stroke with round ends."""

    def draw(d: ImageDraw.ImageDraw, level: int) -> None:
        d.line([(x, top), (x, bottom)], fill=level, width=width)
        for y in (top, bottom):
            d.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=level)

    return draw


def zero(cx: float = 140, cy: float = 140, rx: float = 60, ry: float = 95, width: int = 20):
    """A 0: an ellipse taller than wide."""

    def draw(d: ImageDraw.ImageDraw, level: int) -> None:
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], outline=level, width=width)

    return draw


def both(*draws):
    def draw(d, level):
        for f in draws:
            f(d, level)

    return draw


def test_a_clean_one_and_a_clean_zero_are_read_as_drawn(model):
    for draw, digit in ((one(), 1), (zero(), 0)):
        r = read_canvas(canvas(draw), model)
        assert (r.reason, r.digit) == (OK, digit)
        assert r.parts == 1 and r.ink_level == pytest.approx(1.0, abs=0.01)
        assert r.probs.shape == (10,) and r.probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert r.top(3)[0] == (digit, pytest.approx(float(r.probs[digit])))


def test_a_one_and_a_zero_side_by_side_are_more_than_one_digit(model):
    drawing = both(one(x=50, top=60, bottom=220), zero(cx=190, cy=140, rx=50, ry=80))
    r = read_canvas(canvas(drawing), model)
    assert r.reason == MORE_THAN_ONE and r.digit is None and r.parts == 2
    assert len(r.top(3)) == 3  # the guesses are still there to show


def test_the_parts_of_a_drawing_are_found_where_they_were_drawn():
    rgba = canvas(both(one(x=50, top=60, bottom=220), one(x=200, top=100, bottom=180)))
    boxes = reading.part_boxes(ink_intensity(rgba))
    # Strokes 20 px wide with round ends cover x 40-60 and 190-210, y 50-230 and 90-190 (Pillow
    # includes the last pixel), found on a grid of 4 px blocks: edges round out to multiples of 4.
    assert boxes == [(48, 40, 232, 64), (88, 188, 192, 212)]
    assert reading.side_by_side(boxes) == 2


def test_a_crossbar_and_its_stem_are_one_part_not_two(model):
    seven = both(
        lambda d, lv: d.line([(70, 60), (200, 60), (120, 230)], fill=lv, width=18),
        lambda d, lv: d.line([(100, 145), (190, 145)], fill=lv, width=18),
    )
    r = read_canvas(canvas(seven), model)
    assert r.parts == 1 and r.reason == OK and r.digit == 7


def test_a_digit_25_px_tall_is_too_small_and_its_size_is_reported(model):
    r = read_canvas(canvas(one(x=30, top=30, bottom=45, width=10)), model)
    # ink from y 25 to 50 (round ends of 5 px): 25 px of 280
    assert r.reason == TOO_SMALL and r.digit is None
    assert r.size == pytest.approx(25 / SIDE, abs=2 / SIDE)


def test_grey_ink_is_too_faint(model):
    r = read_canvas(canvas(zero(), level=50), model)
    assert r.reason == TOO_FAINT
    assert r.ink_level == pytest.approx(50 / 255, abs=0.01)


def test_a_scribble_is_not_a_digit(model):
    rng = np.random.default_rng(7)
    heading = np.cumsum(rng.normal(0, 0.6, 150))
    xy = 140 + np.cumsum(np.stack([np.cos(heading), np.sin(heading)], axis=1) * 9, axis=0)
    xy = 40 + (xy - xy.min(axis=0)) / np.ptp(xy, axis=0).max() * 200
    scribble = lambda d, lv: d.line([tuple(p) for p in xy], fill=lv, width=12, joint="curve")  # noqa: E731
    r = read_canvas(canvas(scribble), model)
    assert r.reason == NOT_A_DIGIT and r.digit is None
    assert r.digit_likeness < reading.THRESHOLDS.gate


def test_an_empty_canvas_and_a_speck_are_empty(model):
    r = read_canvas(canvas(lambda d, lv: None), model)
    assert r.reason == EMPTY and r.probs is None and r.top() == []
    speck = read_canvas(canvas(lambda d, lv: d.rectangle([140, 140, 143, 143], fill=lv)), model)
    assert speck.reason == EMPTY


class FixedModel:
    """A stand-in model that always answers the same probabilities (for the unsure rule)."""

    def __init__(self, probs):
        self.probs = np.asarray(probs, dtype=np.float32)

    def predict_proba(self, X):
        return np.tile(self.probs, (len(X), 1))


def test_two_close_guesses_are_unsure_and_name_both_candidates():
    probs = [0.0, 0.0, 0.0, 0.16, 0.44, 0.0, 0.0, 0.0, 0.0, 0.40]
    r = read_canvas(canvas(one()), FixedModel(probs), gate=None)
    assert r.reason == UNSURE and r.digit is None
    assert (r.best, r.runner_up) == (4, 9)
    sure = read_canvas(
        canvas(one()), FixedModel(probs), gate=None, thresholds=Thresholds(unsure=0.4)
    )
    assert (sure.reason, sure.digit) == (OK, 4)


def test_the_gate_round_trips_and_a_changed_file_is_refused(tmp_path):
    gate = reading.load_gate()
    reading.save_gate(gate, {"command": "test"}, tmp_path)
    again = reading.load_gate(tmp_path)
    X = np.random.default_rng(0).random((4, 784)).astype(np.float32)
    assert np.array_equal(reading.digit_likeness(gate, X), reading.digit_likeness(again, X))
    npz = tmp_path / "gate.npz"
    npz.write_bytes(npz.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(reading.GateFileError, match="checksum"):
        reading.load_gate(tmp_path)
    with pytest.raises(reading.GateFileError, match="No reader gate"):
        reading.load_gate(tmp_path / "nowhere")
