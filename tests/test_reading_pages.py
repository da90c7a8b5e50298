"""The Draw page says "?" and why when the reader cannot tell, run by Streamlit's AppTest with
the drawing handed over the way the canvas does (a PNG data URL in its session state)."""

from __future__ import annotations

from tests.test_app_pages import app_weights, blank_canvas, canvas_state, open_page, texts

__all__ = ["app_weights"]  # the fixture, used by name


def test_two_digits_side_by_side_show_a_question_mark_the_reason_and_three_guesses(app_weights):
    at = open_page("pages/draw.py")
    img = blank_canvas()
    img[60:220, 40:60, :3] = 255  # a 1 on the left
    img[60:220, 200:220, :3] = 255  # and another on the right
    at.session_state["canvas_0"] = canvas_state(img)
    at.run()
    assert not at.exception
    [metric] = at.metric
    assert metric.label == "Prediction" and metric.value == "?"
    assert "more than one digit: draw one at a time" in texts(at.warning)
    [guesses] = [c.value for c in at.caption if c.value.startswith("Top guesses")]
    assert guesses.count("%") == 3


def test_a_tiny_digit_is_too_small_to_read(app_weights):
    at = open_page("pages/draw.py")
    img = blank_canvas()
    img[20:45, 20:28, :3] = 255  # a 1, 25 px tall, in the corner
    at.session_state["canvas_0"] = canvas_state(img)
    at.run()
    assert not at.exception
    assert at.metric[0].value == "?"
    assert "too small to read (it spans 9% of the square)" in texts(at.warning)


def test_a_clean_digit_is_still_read_with_how_sure(app_weights):
    at = open_page("pages/draw.py")
    img = blank_canvas()
    img[40:240, 130:150, :3] = 255
    at.session_state["canvas_0"] = canvas_state(img)
    at.run()
    assert at.metric[0].value == "1" and not at.warning
    assert any(c.value.endswith("sure, according to default.") for c in at.caption)
