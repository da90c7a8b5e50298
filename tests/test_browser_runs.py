"""In a real browser: two runs compared on the Runs page, a failure preset showing its explosion
in the chart with the doctor naming it, Draw after a diverged run reading with the last good
model, and the setup surviving a visit to Draw during a run."""

from __future__ import annotations

import re

import pytest

from tests.browser_support import (
    chart_points,
    chart_series,
    go_to,
    open_app,
    screenshot,
    stroke,
    wait_for,
    wait_until_idle,
)
from tests.test_browser_train import FINISH_TIMEOUT, ONE, fill

pytestmark = pytest.mark.browser

TRAIN = "Train a network"
RUNS = "Runs"
DRAW = "Draw a digit"
EXPLODING_NOTE = "watch the loss per step climb"


def chart_trace_count(page, title: str) -> int:
    """How many traces the plotly chart titled `title` draws now (-1 if there is none)."""
    return page.evaluate(
        """(title) => {
            const plots = Array.from(document.querySelectorAll('.js-plotly-plot'))
                .filter(g => g.layout && g.layout.title &&
                        String(g.layout.title.text || '').includes(title));
            return plots.length ? plots[plots.length - 1].data.length : -1;
        }""",
        title,
    )


def chart_ys(page, title: str) -> list[float]:
    """The y values of the first trace of the plotly chart titled `title`."""
    return chart_series(page, title, "y") or []


def main(page):
    """The page's own content, without the sidebar and Streamlit's header (which has a Stop)."""
    return page.get_by_test_id("stMainBlockContainer")


def start(page) -> None:
    button = main(page).get_by_role("button", name="Start", exact=True)
    button.and_(page.locator(":enabled")).wait_for()
    button.click()
    wait_until_idle(page)


def run_to_the_end(page) -> None:
    start(page)
    page.get_by_text(re.compile("test digits read correctly|Training diverged")).wait_for(
        timeout=FINISH_TIMEOUT * 1000
    )
    wait_until_idle(page)


def choose_preset(page, label: str, note: str) -> None:
    """Pick a preset and wait for its note, so the page has redrawn with its setup."""
    page.get_by_test_id("stRadio").get_by_text(label, exact=True).click()
    page.get_by_text(note).first.wait_for()
    wait_until_idle(page)


def test_two_runs_are_compared_in_the_runs_view(app_url, page):
    open_app(page, f"{app_url}/train", TRAIN)
    page.get_by_text("Custom setup").click()
    fill(page, "Hidden layers", "23")  # a size no other browser test trains
    fill(page, "Epochs", "2")
    fill(page, "Training images", "5000")
    run_to_the_end(page)
    fill(page, "Learning rate", "0.01")  # one change, then compare
    run_to_the_end(page)

    go_to(page, "Runs", RUNS)
    picker = page.get_by_test_id("stMultiSelect")

    # Other browser tests share this server's workspace: pick this test's two runs by network.
    ours = re.compile("784-23-10")

    def runs_listed() -> int:  # the second run may still be finishing: reload until it is kept
        picker.locator("input").click()
        n = page.get_by_role("option").filter(has_text=ours).count()
        page.keyboard.press("Escape")
        if n < 2:  # visit Train and come back: each page's run records finished runs
            go_to(page, "Train", TRAIN)
            go_to(page, "Runs", RUNS)
        return n

    assert wait_for(lambda: runs_listed() >= 2, timeout=FINISH_TIMEOUT, page=page)
    for _ in range(2):
        picker.locator("input").click()
        page.get_by_role("option").filter(has_text=ours).first.click()
        wait_until_idle(page)
    page.keyboard.press("Escape")
    assert wait_for(lambda: chart_trace_count(page, "Validation accuracy") == 2, page=page)
    assert chart_trace_count(page, "Training loss") == 2
    assert chart_points(page, "Validation accuracy") == 2  # two evaluated epochs
    page.get_by_text("1 differ: lr").wait_for()
    screenshot(page, "runs-compare", for_readme=True)


def test_the_exploding_preset_shows_the_climb_and_the_doctor_names_it(app_url, page):
    open_app(page, f"{app_url}/train", TRAIN)
    choose_preset(page, "exploding rate", EXPLODING_NOTE)
    run_to_the_end(page)
    page.get_by_text("Training diverged").wait_for()

    def climb_drawn() -> bool:  # Plotly may draw the chart a moment after the message shows
        losses = chart_ys(page, "Loss per step")
        return len(losses) >= 2 and max(losses) > 2 * losses[0]

    assert wait_for(climb_drawn, page=page), chart_ys(page, "Loss per step")
    page.get_by_text("Learning rate too high").first.wait_for()
    page.get_by_text("This is the lesson of the exploding rate preset").wait_for()
    apply = page.get_by_role("button", name=re.compile("Apply to the setup: learning rate 0.3"))
    apply.wait_for()
    screenshot(page, "train-exploding", for_readme=True)
    apply.click()
    wait_until_idle(page)
    page.get_by_text("Applied the doctor's suggestion").wait_for()
    page.get_by_text("Custom setup").click()
    assert page.get_by_label("Learning rate", exact=True).input_value() == "0.3"


def test_draw_after_a_diverged_run_reads_with_the_last_good_model(app_url, page):
    open_app(page, f"{app_url}/train", TRAIN)
    choose_preset(page, "exploding rate", EXPLODING_NOTE)
    run_to_the_end(page)
    go_to(page, "Draw", DRAW)
    notice = re.compile("Reading with default: the run in this tab diverged")
    page.get_by_text(notice).first.wait_for()  # said on the page and in the sidebar
    page.get_by_text(re.compile(r"Reading with default\. Draw one digit")).wait_for()
    stroke(page, ONE)
    page.get_by_test_id("stMetricValue").wait_for()
    page.get_by_text(re.compile("according to default")).wait_for()
    assert page.get_by_test_id("stMetricValue").inner_text().strip() == "1"


def test_the_setup_survives_a_visit_to_draw_during_a_run(app_url, page):
    open_app(page, f"{app_url}/train", TRAIN)
    choose_preset(page, "seed (the article)", "The article's 784-10-10 network")
    page.get_by_text("Custom setup").click()
    fill(page, "Epochs", "1000")  # long enough to still be running after the visit
    start(page)
    main(page).get_by_role("button", name="Stop", exact=True).and_(
        page.locator(":enabled")
    ).wait_for()

    go_to(page, "Draw", DRAW)
    go_to(page, "Train", TRAIN)
    radio = page.get_by_test_id("stRadio")
    assert radio.get_by_role("radio", name="seed (the article)").is_checked()
    page.get_by_text("Custom setup").click()
    assert page.get_by_label("Hidden layers", exact=True).input_value() == "10"
    assert page.get_by_label("Epochs", exact=True).input_value() == "1000"
    page.get_by_text(re.compile(r"Iteration [\d,]+ of 1,000")).first.wait_for()

    page.reload()  # a new session, reattached through the URL: the run's own setup comes back
    page.get_by_role("heading", name=TRAIN).wait_for()
    wait_until_idle(page)
    assert (
        page.get_by_test_id("stRadio").get_by_role("radio", name="seed (the article)").is_checked()
    )
    page.get_by_text("Custom setup").click()
    assert page.get_by_label("Epochs", exact=True).input_value() == "1000"
    main(page).get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text("Stopped after").wait_for(timeout=30_000)
