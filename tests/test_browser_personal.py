"""In a real browser: a misread digit is corrected on the Draw page ("Wrong, it is ...") and then
found, with its label, on the My digits page."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from core import paths
from core.personal import PersonalSet
from tests.browser_support import (
    ROOT,
    browser,
    go_to,
    open_app,
    page,
    screenshot,
    server_weights,
    stroke,
    wait_until_idle,
)

__all__ = ["browser", "page", "server_weights"]  # fixtures used by name

pytestmark = pytest.mark.browser

# A slashed zero in one stroke (a style MNIST lacks: the shipped model reads it as an 8): the
# loop from the top, on up to the right, then the slash down to the bottom left.
SLASHED_ZERO = [
    (140 + 55 * math.sin(2 * math.pi * i / 40), 140 - 90 * math.cos(2 * math.pi * i / 40))
    for i in range(41)
] + [(210 - 14 * i, 40 + 20 * i) for i in range(11)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A temp data folder for the server (MNIST linked in), so the test never writes to the
    repo's data/personal."""
    d = tmp_path_factory.mktemp("server-data")
    cache = paths.mnist_cache_file()
    if cache.exists():
        (d / cache.name).symlink_to(cache)
    return d


@pytest.fixture(scope="module")
def app_url(server_weights, data_dir, tmp_path_factory):
    """`streamlit run app.py` like tests.browser_support's, but with NNDIGITS_DATA_DIR set."""
    from tests.browser_support import SERVER_START_TIMEOUT, _free_port

    port = _free_port()
    log_path = tmp_path_factory.mktemp("server-log") / "streamlit.log"
    env = {
        **os.environ,
        "NNDIGITS_WEIGHTS_DIR": str(server_weights),
        "NNDIGITS_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
    }
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
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"streamlit did not start:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def prediction(page) -> str:
    value = page.get_by_test_id("stMetric").filter(has_text="Prediction")
    value.get_by_test_id("stMetricValue").wait_for()
    return value.get_by_test_id("stMetricValue").inner_text().strip()


def test_a_corrected_drawing_is_found_in_my_digits(app_url, data_dir, page):
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
    screenshot(page, "my_digits")

    (item,) = PersonalSet(data_dir / "personal").items()
    assert (item.label, item.prediction, item.source) == (int(meant), int(read_as), "draw")
