"""In a real browser: a misread digit is corrected on the Draw page ("Wrong, it is ...") and then
found, with its label, on the My digits page."""

from __future__ import annotations

import math

import pytest

from core.personal import PersonalSet
from tests.browser_support import (
    go_to,
    open_app,
    screenshot,
    stroke,
    wait_until_idle,
)

pytestmark = pytest.mark.browser

# A slashed zero in one stroke (a style MNIST lacks: the shipped model reads it as an 8): the
# loop from the top, on up to the right, then the slash down to the bottom left.
SLASHED_ZERO = [
    (140 + 55 * math.sin(2 * math.pi * i / 40), 140 - 90 * math.cos(2 * math.pi * i / 40))
    for i in range(41)
] + [(210 - 14 * i, 40 + 20 * i) for i in range(11)]


def prediction(page) -> str:
    value = page.get_by_test_id("stMetric").filter(has_text="Prediction")
    value.get_by_test_id("stMetricValue").wait_for()
    return value.get_by_test_id("stMetricValue").inner_text().strip()


def test_a_corrected_drawing_is_found_in_my_digits(app_url, server_data, page):
    open_app(page, f"{app_url}/draw", "Draw a digit")
    stroke(page, SLASHED_ZERO)
    page.get_by_text("What the network sees").wait_for()
    wait_until_idle(page)
    read_as = prediction(page)
    meant = "0" if read_as != "0" else "6"  # a correction is never the digit it said

    page.get_by_role("button", name="Wrong, it is ...").click()
    page.get_by_role("button", name=meant, exact=True).click()
    page.get_by_test_id("stAlert").filter(has_text=f"Kept in My digits as a {meant}").wait_for()

    go_to(page, "My digits", "My digits")
    caption = f"{meant}, read as {read_as}" if meant != read_as else meant
    page.get_by_test_id("stImage").filter(has_text=caption).wait_for()
    page.get_by_role("radio", name=f"{meant} (1)").click()  # browse by label: just the {meant}s
    wait_until_idle(page)
    assert page.get_by_test_id("stImage").count() == 1
    page.get_by_test_id("stImage").filter(has_text=caption).wait_for()
    screenshot(page, "my_digits", for_readme=True)

    (item,) = PersonalSet(server_data / "personal").items()
    assert (item.label, item.prediction, item.source) == (int(meant), int(read_as), "draw")
