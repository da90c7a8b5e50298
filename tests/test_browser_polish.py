"""In a real browser against a real server: nothing is fetched from outside the machine (favicon
and fonts included), users see no Deploy button or developer menu, a Chinese browser gets the
app in Chinese, and the colour bars stay readable with plain numbers on a 10-unit network."""

from __future__ import annotations

import re
import shutil
from urllib.parse import urlparse

import numpy as np
import pytest

from core import paths
from core.model_store import save_model
from core.network import init_network
from tests.browser_support import (
    VIEWPORT,
    choose_option,
    open_app,
    start_streamlit,
    stop_streamlit,
    stroke,
    wait_for,
    wait_until_idle,
)

pytestmark = pytest.mark.browser

SEVEN = [(70, 60), (130, 60), (200, 60), (170, 120), (145, 175), (120, 230)]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def article_app(tmp_path_factory, browser):
    """A server of its own whose weights hold the shipped default and a 784-10-10 "article"."""
    weights = tmp_path_factory.mktemp("polish-weights")
    src = paths.weights_dir()
    shutil.copy2(src / "default.npz", weights / "default.npz")  # one file: arrays and metadata
    net = init_network([784, 10, 10], "relu", np.random.default_rng(0))
    save_model("article", net, directory=weights)
    data = tmp_path_factory.mktemp("polish-data")
    cache = paths.mnist_cache_file()
    if cache.exists():
        (data / cache.name).symlink_to(cache)
    log = tmp_path_factory.mktemp("polish-log") / "streamlit.log"
    proc, url = start_streamlit(weights, data, log)
    yield url
    stop_streamlit(proc)


def new_tab(browser, locale: str = "en-US"):
    context = browser.new_context(viewport=VIEWPORT, locale=locale)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    return context, tab


def test_no_request_leaves_the_machine_and_the_favicon_is_served_locally(article_app, browser):
    context, page = new_tab(browser)
    outside = []

    def guard(route):
        url = urlparse(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in LOCAL_HOSTS:
            outside.append(route.request.url)
            route.abort()  # as if offline
        else:
            route.continue_()

    context.route("**/*", guard)
    try:
        open_app(page, f"{article_app}/?lang=en", "Digits from scratch")
        icon = page.evaluate(
            "() => Array.from(document.querySelectorAll('link[rel~=icon]')).map(l => l.href)"
        )
        assert icon and all(urlparse(h).hostname in LOCAL_HOSTS for h in icon), icon
        answer = page.request.get(icon[-1])
        assert answer.ok and answer.headers["content-type"].startswith("image/")
        open_app(page, f"{article_app}/how_it_works?lang=en", "How it works")
        page.locator(".katex").first.wait_for()
        page.get_by_text("Backprop agrees with finite differences.").wait_for()
        open_app(page, f"{article_app}/draw?lang=en", "Draw a digit")
        wait_until_idle(page)
        fonts = page.evaluate("() => document.fonts.status")
        assert fonts == "loaded"
        assert outside == []
    finally:
        context.close()


def test_users_see_no_deploy_button_or_developer_menu(article_app, browser):
    context, page = new_tab(browser)
    try:
        open_app(page, f"{article_app}/?lang=en", "Digits from scratch")
        assert page.get_by_test_id("stAppDeployButton").count() == 0
        assert page.get_by_role("button", name="Deploy").count() == 0
        menu = page.get_by_test_id("stMainMenu")
        if menu.count():
            menu.click()
            assert page.get_by_text("Clear cache").count() == 0
            assert page.get_by_text("Settings").count() == 0
    finally:
        context.close()


def test_a_chinese_browser_gets_the_app_in_chinese_and_the_url_keeps_it(article_app, browser):
    context, page = new_tab(browser, locale="zh-CN")
    try:
        open_app(page, article_app, "从零开始的手写数字识别")
        assert wait_for(lambda: "lang=zh" in page.url, page=page)
        nav = page.get_by_test_id("stSidebarNav")
        nav.get_by_role("link", name="原理").click()
        page.get_by_role("heading", name="1. 前向传播").wait_for()
        assert "lang=zh" in page.url
        page.get_by_text("English", exact=True).click()
        page.get_by_role("heading", name="1. Forward pass").wait_for()
        assert wait_for(lambda: "lang=en" in page.url, page=page)
        page.reload()
        page.get_by_role("heading", name="1. Forward pass").wait_for()
    finally:
        context.close()


def colour_bars(page, title_start: str) -> list[dict]:
    """Height and tick labels of the colour bars of the charts whose title starts so."""
    return page.evaluate(
        """(start) => Array.from(document.querySelectorAll('.js-plotly-plot'))
            .filter(g => String((g.layout.title || {}).text || '')
                        .replace(/<[^>]*>/g, '').startsWith(start))
            .flatMap(g => Array.from(g.querySelectorAll('.colorbar')).map(c => ({
                height: c.querySelector('.cbbg').getBoundingClientRect().height,
                ticks: Array.from(c.querySelectorAll('.cbaxis text, .ytick text'))
                    .map(t => t.textContent)})))""",
        title_start,
    )


def plain_number(text: str) -> bool:
    return re.fullmatch(r"[−-]?\d+(\.\d+)?", text.strip()) is not None


def test_colour_bars_are_tall_and_in_plain_numbers_on_a_10_unit_network(article_app, browser):
    context, page = new_tab(browser)
    try:
        open_app(page, f"{article_app}/draw?lang=en", "Draw a digit")
        picker = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox")
        choose_option(page, picker, "article")
        wait_until_idle(page)
        stroke(page, SEVEN)
        page.get_by_role("tab", name="Hidden layers").wait_for()
        assert wait_for(lambda: colour_bars(page, "Hidden layer 1: 10 units"), page=page)
        [bar] = colour_bars(page, "Hidden layer 1: 10 units")
        assert bar["height"] >= 100, bar
        assert len(bar["ticks"]) >= 2 and all(plain_number(t) for t in bar["ticks"]), bar
        page.get_by_role("tab", name="Saliency").click()
        assert wait_for(lambda: colour_bars(page, "Saliency dP("), page=page)
        for title in ("Saliency dP(", "Gradient x input"):
            for bar in colour_bars(page, title):
                assert bar["ticks"] and all(plain_number(t) for t in bar["ticks"]), bar
    finally:
        context.close()
