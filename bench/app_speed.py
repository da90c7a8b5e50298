"""Training speed inside the app against the CLI, for the `quick` preset, in one run.

Starts a real `streamlit run app.py` on 127.0.0.1, presses Start on the Train page in Debian's
chromium, and reads the finished run's average images/s; then runs the same preset with the CLI
(`python -m core.train`) on 1 and on 2 BLAS threads. Needs requirements-dev.txt and
/usr/bin/chromium. Run: python bench/app_speed.py [--repeats N]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
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


def cli_rate(threads: int) -> float:
    """Images per second of `python -m core.train --preset quick --threads N`."""
    out = subprocess.run(
        [sys.executable, "-m", "core.train", "--preset", "quick", "--threads", str(threads)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seconds = float(re.search(r"Done in ([\d.]+)s of training", out).group(1))
    n_train = int(re.search(r"([\d,]+) training and", out).group(1).replace(",", ""))
    return n_train * preset("quick").epochs / seconds


def app_rate(url: str, browser) -> float:
    """Images per second the app reports for a finished quick run started from the Train page."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/train")
    page.get_by_role("heading", name="Train a network").wait_for()
    page.get_by_role("button", name="Start", exact=True).click()
    page.get_by_text("test digits read correctly").wait_for(timeout=300_000)
    text = page.get_by_text("images/s on average").first.inner_text()
    page.context.close()
    return float(re.search(r"([\d,]+) images/s on average", text).group(1).replace(",", ""))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for suffix in (".npz", ".json"):  # a scratch weights folder, so the repo stays as it is
            shutil.copy2(ROOT / "weights" / f"default{suffix}", tmp / f"default{suffix}")
        server, url = start_streamlit(tmp, None, tmp / "streamlit.log")
        rates = {
            "app (1 BLAS thread, browser watching)": [],
            "CLI, 1 BLAS thread": [],
            "CLI, 2 BLAS threads": [],
        }
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for _ in range(args.repeats):  # interleaved: the same machine noise for all
                    rates["app (1 BLAS thread, browser watching)"].append(app_rate(url, browser))
                    rates["CLI, 1 BLAS thread"].append(cli_rate(1))
                    rates["CLI, 2 BLAS threads"].append(cli_rate(2))
                browser.close()
        finally:
            stop_streamlit(server)
    best = statistics.median(rates["CLI, 2 BLAS threads"])
    print(f"quick preset, images/s (median of {args.repeats}); the browser runs on this machine")
    print(f"{'':<40}{'images/s':>12}{'vs CLI 2 threads':>18}")
    for name, r in rates.items():
        print(f"{name:<40}{statistics.median(r):>12,.0f}{statistics.median(r) / best:>18.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
