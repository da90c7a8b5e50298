"""In a real browser: training runs in the background, its charts move by themselves, it survives
a visit to Draw and a reload, Stop stops it, and Draw reads with the model being trained."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.train import PRESETS
from tests.browser_support import (
    chart_points,
    go_to,
    open_app,
    screenshot,
    stroke,
    wait_for,
    wait_until_idle,
)

pytestmark = pytest.mark.browser

LOSS = "Loss per step"
TRAIN = "Train a network"
DRAW = "Draw a digit"
ONE = [(140, 40 + 10 * i) for i in range(21)]
FINISH_TIMEOUT = 300  # seconds for the quick preset on a slow, shared 2-core machine


def fill(page, label: str, value: str) -> None:
    """Type into a text or number field and commit it, as a user would with Enter."""
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Enter")
    wait_until_idle(page)


def button(page, name: str):
    """The page's own button called `name`. Scoped to the main area: while a script run is in
    progress Streamlit's header shows a "Stop" button of its own (it stops the script run)."""
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name=name, exact=True)


def start(page) -> None:
    """Press Start and wait for the run to be the page's (?job= in the address) and on it:
    training with Stop enabled, or already over. A tiny run under load can end before the
    page's first full redraw after Start, so its Stop may never show enabled."""
    button(page, "Start").click()
    page.wait_for_url(re.compile(r"[?&]job=\w+"))
    stop = button(page, "Stop").and_(page.locator(":enabled"))
    over = page.get_by_text(re.compile(r"^(Finished|Stopped|Diverged|Failed) · "))
    assert wait_for(lambda: stop.count() > 0 or over.count() > 0, page=page)


def test_a_run_keeps_going_across_pages_and_a_reload_until_stopped(app_url, page):
    open_app(page, f"{app_url}/train", TRAIN)
    page.get_by_text("Custom setup").click()
    # A large network in small batches: long enough to visit, reload and stop, even on an idle
    # machine; a chart point (20 steps) comes every few seconds even on a loaded one.
    fill(page, "Hidden layers", "1024, 1024")
    fill(page, "Batch size", "32")
    fill(page, "Epochs", "3")
    start(page)
    assert "job=" in page.url

    # The loss chart fills in with no interaction at all.
    assert wait_for(lambda: chart_points(page, LOSS) >= 2, timeout=FINISH_TIMEOUT, page=page)
    before = chart_points(page, LOSS)
    assert wait_for(lambda: chart_points(page, LOSS) > before, timeout=FINISH_TIMEOUT, page=page)

    go_to(page, "Draw", DRAW)
    assert "job=" in page.url
    go_to(page, "Train", TRAIN)
    page.get_by_text(re.compile(r"Epoch \d of 3|Finished")).first.wait_for()

    seen = chart_points(page, LOSS)
    page.reload()
    page.get_by_role("heading", name=TRAIN).wait_for()
    assert wait_for(lambda: chart_points(page, LOSS) >= seen, timeout=30, page=page)
    stop = button(page, "Stop")
    assert stop.is_enabled(), "the reloaded page should be attached to the running job"
    screenshot(page, "train-running")

    stop.click()
    page.get_by_text("Stopped after").wait_for()  # at once, while the weights are scored
    assert button(page, "Start").is_enabled()


def test_draw_reads_with_the_model_in_training_and_the_quick_run_finishes(app_url, page):
    open_app(page, f"{app_url}/train", TRAIN)
    page.get_by_text("quick", exact=True).click()
    wait_until_idle(page)
    start(page)

    go_to(page, "Draw", DRAW)
    expect(page.get_by_label("Model in use", exact=True)).to_have_value(
        "the model trained in this tab"
    )
    page.get_by_text(re.compile(r"Reading with model (in training|just trained)")).wait_for()
    stroke(page, ONE)
    page.get_by_test_id("stMetricValue").wait_for()
    page.get_by_text(re.compile(r"according to model (in training|just trained)")).wait_for()

    go_to(page, "Train", TRAIN)
    page.get_by_text("test digits read correctly").wait_for(timeout=FINISH_TIMEOUT * 1000)
    assert chart_points(page, "Accuracy per epoch") == PRESETS["quick"].epochs
    screenshot(page, "train", for_readme=True)


def test_two_tabs_train_at_once_without_mixing_their_runs(app_url, browser):
    from tests.browser_support import TIMEOUT_MS, VIEWPORT

    tabs = []
    for hidden in ("24", "48"):
        tab = browser.new_context(viewport=VIEWPORT).new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        open_app(tab, f"{app_url}/train", TRAIN)
        tab.get_by_text("Custom setup").click()
        fill(tab, "Hidden layers", hidden)
        fill(tab, "Epochs", "2")
        tabs.append((hidden, tab))
    for _, tab in tabs:  # both start before either can finish
        start(tab)
    ids = {re.search(r"job=(\w+)", tab.url).group(1) for _, tab in tabs}
    assert len(ids) == 2, "each tab must own its own job"
    for hidden, tab in tabs:
        tab.get_by_text("test digits read correctly").wait_for(timeout=FINISH_TIMEOUT * 1000)
        # Each tab's model is its own network: the sidebar names its hidden layer size.
        tab.get_by_text(f"784-{hidden}-10").first.wait_for()
        tab.bring_to_front()  # a tab in the background may not have drawn its charts yet
        assert wait_for(lambda t=tab: chart_points(t, "Accuracy per epoch") == 2, page=tab)
        tab.context.close()
