"""In a real browser: a digit drawn with the mouse opens the "see inside" views on the Draw page,
a click on a confusion-matrix cell shows that cell's test images, and How it works renders its
equations. Screenshots go to artifacts/."""

from __future__ import annotations

import pytest

from tests.browser_support import (
    open_app,
    screenshot,
    stroke,
    wait_for,
    wait_until_idle,
)

pytestmark = pytest.mark.browser

SEVEN = [(70, 60), (130, 60), (200, 60), (170, 120), (145, 175), (120, 230)]


def plot_titles(page) -> list[str]:
    """The titles of every plotly chart on the page, as text (Streamlit's theme adds <b> tags)."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
            .map(g => String((g.layout && g.layout.title && g.layout.title.text) || '')
                      .replace(/<[^>]*>/g, ''))"""
    )


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    wait_until_idle(page)


def scroll_to_top_of(page, heading: str) -> None:
    """Scroll the page so `heading` is at the top (screenshots show only what is in view)."""
    page.get_by_role("heading", name=heading).evaluate("e => e.scrollIntoView({block: 'start'})")


def test_a_drawn_digit_shows_its_hidden_activations_and_saliency(app_url, page):
    open_app(page, f"{app_url}/draw", "Draw a digit")
    stroke(page, SEVEN)
    page.get_by_role("heading", name="See inside the network").wait_for()
    page.get_by_role("tab", name="Hidden layers").wait_for()
    wait_until_idle(page)
    assert wait_for(
        lambda: any(t.startswith("Hidden layer 1") for t in plot_titles(page)), page=page
    )

    open_tab(page, "Saliency")
    assert wait_for(lambda: any(t.startswith("Saliency dP(") for t in plot_titles(page)), page=page)
    assert "Gradient x input" in plot_titles(page)
    scroll_to_top_of(page, "See inside the network")
    screenshot(page, "draw_saliency", for_readme=True)

    open_tab(page, "Nearest MNIST images")
    page.get_by_text("your drawing", exact=True).wait_for()
    scroll_to_top_of(page, "See inside the network")
    screenshot(page, "draw_neighbours")


def test_clicking_a_confusion_cell_shows_the_test_images_behind_it(app_url, page):
    open_app(page, f"{app_url}/inspect", "Inspect a model")
    page.get_by_text("Confusion matrix (test set)").wait_for()
    # Where cell (true 7, read as 2) sits on the screen, from plotly's own axis mapping.
    x, y = page.evaluate(
        """() => {
            const g = Array.from(document.querySelectorAll('.js-plotly-plot'))
                .find(g => String(g.layout.title.text).includes('Confusion matrix'));
            g.scrollIntoView({block: 'center'});
            const L = g._fullLayout, box = g.getBoundingClientRect();
            return [box.left + L.xaxis._offset + L.xaxis.d2p('2'),
                    box.top + L.yaxis._offset + L.yaxis.d2p('7')];
        }"""
    )
    page.mouse.click(x, y)
    page.get_by_text("test images of 7 read as 2").wait_for()
    wait_until_idle(page)
    screenshot(page, "inspect", for_readme=True)


def test_how_it_works_shows_the_equations_and_the_gradient_check(app_url, page):
    open_app(page, f"{app_url}/how_it_works", "How it works")
    page.get_by_role("heading", name="1. Forward pass").wait_for()
    page.locator(".katex").first.wait_for()
    page.get_by_text("Backprop agrees with finite differences.").wait_for()
    screenshot(page, "how_it_works", for_readme=True)
