"""Training speed inside the app against the CLI, for the `quick` preset, in one run; and how
fast Stop shows "Stopped" in the browser in the middle of an evaluation.

Starts a real `streamlit run app.py` on 127.0.0.1 (runs train in worker processes), presses Start
on the Train page in Debian's chromium, and reads the finished run's average images/s and the
time from the click to the finished message; then runs the same preset with the CLI
(`python -m core.train`) on 1 and on 2 BLAS threads, timing the whole command. Interleaved, so
the machine's noise falls on all; medians and ratios to the 2-thread CLI (targets: >= 0.8).

Stop: a setup whose epochs are mostly evaluation (a 2048-2048 network scoring 5,000 validation
images after two steps on 100 images), Stop pressed during the run, the time until "Stopped" is
on the page (target <= 0.5 s). Needs requirements-dev.txt and /usr/bin/chromium.
Run: python bench/app_speed.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.train import preset  # noqa: E402
from tests.browser_support import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    start_streamlit,
    stop_streamlit,
)


def cli_run(threads: int) -> tuple[float, float]:
    """(images/s, whole command seconds) of `python -m core.train --preset quick --threads N`."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "core.train", "--preset", "quick", "--threads", str(threads)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wall = time.perf_counter() - t0
    seconds = float(re.search(r"Done in ([\d.]+)s of training", out).group(1))
    n_train = int(re.search(r"([\d,]+) training and", out).group(1).replace(",", ""))
    return n_train * preset("quick").epochs / seconds, wall


def new_tab(browser, url: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/train")
    page.get_by_role("heading", name="Train a network").wait_for()
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]")
    return page


def button(page, name: str):
    """The page's own button (Streamlit's header has a "Stop" of its own while a script runs)."""
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name=name, exact=True)


# Timed in the page: the click as the browser receives it, and the first DOM change that puts the
# finished message on the page (Playwright's own click and polling would add 0.1-0.3 s).
WATCH_FINISH = """() => {
    window.__startClicked = null; window.__finishShown = null;
    document.addEventListener('click', () => {
        if (window.__startClicked === null) window.__startClicked = performance.now();
    }, true);
    new MutationObserver(() => {
        if (window.__startClicked !== null && window.__finishShown === null &&
            document.body.textContent.includes('test digits read correctly'))
            window.__finishShown = performance.now();
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def app_run(url: str, browser) -> tuple[float, float]:
    """(images/s the app reports, seconds from pressing Start to the finished message, timed in
    the page) for a quick run started from the Train page."""
    page = new_tab(browser, url)
    page.evaluate(WATCH_FINISH)
    button(page, "Start").click()
    page.get_by_text("test digits read correctly").wait_for(timeout=300_000)
    page.wait_for_function("() => window.__finishShown !== null", timeout=60_000)
    wall = page.evaluate("() => (window.__finishShown - window.__startClicked) / 1000")
    text = page.get_by_text("images/s on average").first.inner_text()
    page.context.close()
    return float(re.search(r"([\d,]+) images/s on average", text).group(1).replace(",", "")), wall


def fill(page, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Enter")
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]")


# Times taken in the page itself: the click as the browser receives it, and the first DOM change
# that puts "Stopped" at the start of the status line or of a notice (textContent: no layout).
WATCH_STOP = """() => {
    window.__stopClicked = null; window.__stoppedShown = null;
    document.addEventListener('click', () => {
        if (window.__stopClicked === null) window.__stopClicked = performance.now();
    }, true);
    const shown = () => Array.from(document.querySelectorAll(
        '[data-testid=stMainBlockContainer] [data-testid=stProgress], ' +
        '[data-testid=stMainBlockContainer] [data-testid=stAlert]'
    )).some(e => e.textContent.trim().startsWith('Stopped'));
    new MutationObserver(() => {
        if (window.__stopClicked !== null && window.__stoppedShown === null && shown())
            window.__stoppedShown = performance.now();
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def stop_latency(url: str, browser) -> tuple[float, float]:
    """(seconds from the click to "Stopped" on the page as the page itself times them, the same
    seen from Playwright, which adds its own click and polling), pressing Stop in the middle of
    a run that is mostly evaluation."""
    page = new_tab(browser, url)
    page.get_by_text("Custom setup").click()
    fill(page, "Hidden layers", "2048, 2048")
    fill(page, "Batch size", "50")  # two steps an epoch (one would read "Iteration", full batch)
    fill(page, "Training images", "100")
    fill(page, "Epochs", "50")
    button(page, "Start").click()
    page.get_by_text(re.compile(r"Epoch [2-9] of 50")).first.wait_for(timeout=300_000)
    page.wait_for_timeout(300)  # one step is ~0.2 s here, an evaluation ~1-3 s
    page.evaluate(WATCH_STOP)
    t0 = time.perf_counter()
    button(page, "Stop").click()
    page.get_by_text(re.compile(r"^Stopped")).first.wait_for(timeout=60_000)
    seen = time.perf_counter() - t0
    page.wait_for_function("() => window.__stoppedShown !== null", timeout=60_000)
    in_page = page.evaluate("() => (window.__stoppedShown - window.__stopClicked) / 1000")
    page.context.close()
    return in_page, seen


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # A scratch weights folder, so the repo stays as it is (a model is one file).
        shutil.copy2(ROOT / "weights" / "default.npz", tmp / "default.npz")
        server, url = start_streamlit(tmp, None, tmp / "streamlit.log")
        runs = {"app (worker process, browser watching)": [], "CLI, 1 BLAS thread": []}
        runs["CLI, 2 BLAS threads"] = []
        stops = []
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for _ in range(args.repeats):  # interleaved: the same machine noise for all
                    runs["app (worker process, browser watching)"].append(app_run(url, browser))
                    runs["CLI, 1 BLAS thread"].append(cli_run(1))
                    runs["CLI, 2 BLAS threads"].append(cli_run(2))
                    print("  (images/s, wall s):", {k: v[-1] for k, v in runs.items()}, flush=True)
                    stops.append(stop_latency(url, browser))
                    print(f"  stop to 'Stopped' (page, Playwright): {stops[-1]}", flush=True)
                browser.close()
        finally:
            stop_streamlit(server)
    ref_rate = statistics.median(r for r, _ in runs["CLI, 2 BLAS threads"])
    ref_wall = statistics.median(w for _, w in runs["CLI, 2 BLAS threads"])
    print(
        f"quick preset, median of {args.repeats}; the browser runs on this machine; "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    print(f"{'':<40}{'images/s':>10}{'speed ratio':>13}{'wall s':>9}{'wall ratio':>12}")
    for name, r in runs.items():
        rate = statistics.median(x for x, _ in r)
        wall = statistics.median(w for _, w in r)
        print(
            f"{name:<40}{rate:>10,.0f}{rate / ref_rate:>13.2f}{wall:>9.1f}{ref_wall / wall:>12.2f}"
        )
    print("(app wall: pressing Start to the finished message, timed in the page; CLI wall: the")
    print(" whole command.")
    print(" ratios are to the 2-thread CLI: higher is faster; targets >= 0.8)")
    for i, how in enumerate(("timed in the page", "seen from Playwright")):
        times = [x[i] for x in stops]
        print(
            f"Stop pressed mid-evaluation to 'Stopped' on the page, {how}: median "
            f"{statistics.median(times):.2f} s, all {', '.join(f'{x:.2f}' for x in times)}"
            " (target <= 0.5 s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
