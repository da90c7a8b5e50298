"""In a real browser: a digit drawn with the mouse is read as you draw, and Clear empties it."""

from __future__ import annotations

import math

import pytest

from tests.browser_support import (
    open_app,
    screenshot,
    stroke,
)

pytestmark = pytest.mark.browser

ONE = [(140, 40 + 10 * i) for i in range(21)]  # one vertical stroke, top to bottom
ZERO = [  # a closed loop, taller than wide, starting and ending at the top
    (140 + 65 * math.sin(2 * math.pi * i / 40), 140 - 95 * math.cos(2 * math.pi * i / 40))
    for i in range(41)
]


def prediction(page) -> str:
    value = page.get_by_test_id("stMetric").filter(has_text="Prediction")
    value.get_by_test_id("stMetricValue").wait_for()
    return value.get_by_test_id("stMetricValue").inner_text().strip()


def test_a_drawn_one_and_zero_are_read_as_drawn_and_clear_empties_the_canvas(app_url, page):
    open_app(page, f"{app_url}/draw", "Draw a digit")
    empty = page.get_by_test_id("stAlert").filter(has_text="Draw a digit")
    empty.wait_for()

    stroke(page, ONE)
    assert prediction(page) == "1"
    empty.wait_for(state="detached")

    page.get_by_role("button", name="Clear").click()
    page.get_by_test_id("stMetricValue").wait_for(state="detached")
    empty.wait_for()

    stroke(page, ZERO)
    assert prediction(page) == "0"
    page.get_by_text("What the network sees").wait_for()
    screenshot(page, "draw", for_readme=True)
