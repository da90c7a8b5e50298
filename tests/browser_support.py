"""Real parts for the browser tests: a `streamlit run app.py` server and Debian's chromium.

A pytest plugin (tests/conftest.py lists it in `pytest_plugins`), so the server and the browser
start once per test session. The server reads and writes models in a temp copy of weights/ and
personal drawings in a temp data folder (the verified MNIST cache linked in), never in the repo.
Without chromium a test is skipped locally but fails in CI (env CI set), where it must be
installed.
Screenshots go to artifacts/; with NNDIGITS_UPDATE_SCREENSHOTS=1 they also replace the
README's pictures in docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core import paths

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("NNDIGITS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
SERVER_START_TIMEOUT = 60.0  # seconds for `streamlit run` to answer its health check
TIMEOUT_MS = 30_000  # Playwright's wait for any one thing to appear


def _unavailable(reason: str):
    """Skip locally, fail in CI: there a missing browser or model is a broken setup."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server_weights(tmp_path_factory) -> Path:
    """A temp weights folder holding a copy of the shipped `default` model."""
    src = paths.weights_dir()
    if not (src / "default.npz").exists():
        _unavailable(
            "no default model: run `python -m core.train --preset quick --save default` first"
        )
    dst = tmp_path_factory.mktemp("server-weights")
    shutil.copy2(src / "default.npz", dst / "default.npz")  # one file: arrays and metadata
    return dst


@pytest.fixture(scope="session")
def server_data(tmp_path_factory) -> Path:
    """A temp data folder for the server: personal drawings land here, MNIST is linked in."""
    d = tmp_path_factory.mktemp("server-data")
    cache = paths.mnist_cache_file()
    if cache.exists():
        (d / cache.name).symlink_to(cache)
    return d


def start_streamlit(weights: Path, data: Path | None, log_path: Path):
    """Start `streamlit run app.py` on a free 127.0.0.1 port; returns (process, base URL).

    Raises RuntimeError with the server's log if it does not answer its health check in time.
    """
    port = _free_port()
    env = {**os.environ, "NNDIGITS_WEIGHTS_DIR": str(weights), "PYTHONUNBUFFERED": "1"}
    if data is not None:
        env["NNDIGITS_DATA_DIR"] = str(data)
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    cmd += ["--server.address", "127.0.0.1", "--server.headless", "true"]
    cmd += ["--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"streamlit did not start:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.2)


def stop_streamlit(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def app_url(server_weights, server_data, tmp_path_factory):
    """The base URL of a real `streamlit run app.py` on 127.0.0.1 (one server per session)."""
    log_path = tmp_path_factory.mktemp("server-log") / "streamlit.log"
    try:
        proc, url = start_streamlit(server_weights, server_data, log_path)
    except RuntimeError as e:
        pytest.fail(str(e))
    yield url
    stop_streamlit(proc)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy2(log_path, ARTIFACTS / "streamlit.log")


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"chromium not found at {CHROMIUM}: `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser tab (its own Streamlit session) with a wide viewport."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")  # the app follows it
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    yield tab
    context.close()


# --- helpers ------------------------------------------------------------------------------------


def wait_until_idle(page) -> None:
    """Wait until the app has connected and its script run has finished."""
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]")


def open_app(page, url: str, heading: str) -> None:
    """Load a URL and wait for the page's title."""
    page.goto(url)
    page.get_by_role("heading", name=heading).wait_for()
    wait_until_idle(page)


def choose_option(page, select, name: str, tries: int = 5) -> None:
    """Open a selectbox and pick its option called `name`. A rerun that redraws the select just
    as it opens closes the list again (seen once under CI's load): then open it once more."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    option = page.get_by_role("option", name=name)
    for _ in range(tries):
        wait_until_idle(page)
        select.click()
        try:
            option.wait_for(timeout=5_000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            continue
        option.click()
        return
    raise AssertionError(f"the option {name!r} never showed in {tries} tries")


def go_to(page, link: str, heading: str) -> None:
    """Follow a link in the sidebar's page menu and wait for the new page's title."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click()
    page.get_by_role("heading", name=heading).wait_for()
    wait_until_idle(page)


def stroke(page, points) -> None:
    """Draw one mouse stroke through canvas coordinates (x, y) on the drawable canvas."""
    # After Clear the new canvas mounts while the old one is still in the page until the rerun
    # ends: wait until there is one, so the stroke lands on the canvas the app reads.
    canvas = page.locator("canvas.upper-canvas")  # a locator sees into the component's shadow DOM
    wait_for(lambda: canvas.count() == 1, page=page)
    canvas.wait_for()
    box = canvas.bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=2)
    page.mouse.up()


# A chart series as given to plotly.js: a list, or Plotly's compact binary array {dtype, bdata}.
SERIES_JS = """(v) => {
    if (!v) return [];
    if (v.bdata === undefined) return Array.from(v);
    const bytes = Uint8Array.from(atob(v.bdata), c => c.charCodeAt(0));
    const types = {f8: Float64Array, f4: Float32Array, i4: Int32Array, u4: Uint32Array,
                   i2: Int16Array, u2: Uint16Array, i1: Int8Array, u1: Uint8Array};
    return Array.from(new types[v.dtype](bytes.buffer));
}"""


def chart_series(page, title: str, axis: str) -> list[float] | None:
    """The `axis` ("x" or "y") values of the first trace of the plotly chart titled `title`;
    None when there is no such chart."""
    return page.evaluate(
        """([title, axis]) => {
            const series = """
        + SERIES_JS
        + """;
            const plots = Array.from(document.querySelectorAll('.js-plotly-plot'))
                .filter(g => g.layout && g.layout.title &&
                        String(g.layout.title.text || '').includes(title));
            if (!plots.length) return null;
            const g = plots[plots.length - 1];
            return g.data && g.data.length ? series(g.data[0][axis]) : [];
        }""",
        [title, axis],
    )


def chart_points(page, title: str) -> int:
    """How many x values the first trace of the plotly chart titled `title` holds now."""
    xs = chart_series(page, title, "x")
    return -1 if xs is None else len(xs)


def wait_for(predicate, timeout: float = 30.0, every_ms: int = 200, page=None) -> bool:
    """Poll `predicate` (letting the browser work in between) until true or timed out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if page is not None:
            page.wait_for_timeout(every_ms)
        else:
            time.sleep(every_ms / 1000)
    return predicate()


def screenshot(page, name: str, for_readme: bool = False) -> Path:
    """Save a screenshot as artifacts/NAME.png; a README one also goes to docs/screenshots/
    when NNDIGITS_UPDATE_SCREENSHOTS is set."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if for_readme and os.environ.get("NNDIGITS_UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, SCREENSHOTS / f"{name}.png")
    return path
