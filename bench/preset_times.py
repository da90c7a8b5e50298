"""How long each preset takes in the app, as a user waits for it, with the CLI as reference.

Starts a real `streamlit run app.py` on 127.0.0.1, picks each preset on the Train page in
Debian's chromium, presses Start and times the wait until the run has ended (data loading and
evaluation included), and reads the training seconds the app reports. Then trains the same
preset with the CLI (`python -m core.train`, 1 BLAS thread like the app) for reference.
These are the times the Train page and the README advertise. Each row also sets the estimate the
page shows before Start (`core.runs.estimate`, computed here the same way) beside the real wait
(target: within 30%). Runs go to a scratch folder.
Run: python bench/preset_times.py [--presets seed quick ...] [--no-cli]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.runs.estimate import estimate  # noqa: E402
from core.train import PRESETS  # noqa: E402
from tests.browser_support import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    start_streamlit,
    stop_streamlit,
)

LABELS = {  # the radio labels of pages/train.py
    "seed": "seed (the article)",
    "quick": "quick",
    "best": "best",
    "exploding": "exploding rate",
    "vanishing": "vanishing gradients",
    "dead-relus": "dead ReLUs",
    "overfitting": "overfitting",
    "softmax": "no hidden layer",
}
ENDED = re.compile("test digits read correctly|Training diverged|Training failed")


def app_time(url: str, browser, name: str) -> tuple[float, str]:
    """(seconds from Start until the run has ended, the app's status line) for one preset."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/train")
    page.get_by_role("heading", name="Train a network").wait_for()
    page.get_by_test_id("stRadio").get_by_text(LABELS[name], exact=True).click()
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]")
    page.wait_for_timeout(500)
    main = page.get_by_test_id("stMainBlockContainer")
    t0 = time.perf_counter()
    main.get_by_role("button", name="Start", exact=True).click()
    page.get_by_text(ENDED).first.wait_for(timeout=1_800_000)
    seconds = time.perf_counter() - t0
    line = page.get_by_text(re.compile(r"^(Finished|Diverged|Stopped|Failed) · ")).first
    status = line.inner_text().strip() if line.count() else ""
    page.context.close()
    return seconds, status


def cli_time(name: str) -> float:
    """Wall seconds of `python -m core.train --preset NAME --threads 1` (start-up included)."""
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "core.train", "--preset", name, "--threads", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="*", default=[p for p in PRESETS if p != "best"])
    ap.add_argument("--no-cli", action="store_true", help="skip the CLI reference")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # A scratch weights folder, so the repo stays as it is (a model is one file).
        shutil.copy2(ROOT / "weights" / "default.npz", tmp / "default.npz")
        os.environ["NNDIGITS_RUNS_DIR"] = str(tmp / "runs")  # the server inherits it
        server, url = start_streamlit(tmp, None, tmp / "streamlit.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for name in args.presets:
                    seconds, status = app_time(url, browser, name)
                    cli = None if args.no_cli else cli_time(name)
                    guess = estimate(PRESETS[name]).seconds
                    rows.append((name, seconds, cli, guess))
                    line = f"{name}: app {seconds:.1f} s, CLI {cli or 0:.1f} s, "
                    line += f"estimate {guess:.1f} s | {status}"
                    print(line, flush=True)
                browser.close()
        finally:
            stop_streamlit(server)
    print(f"\n{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the end")
    print(
        f"{'preset':<14}{'app, Start to end':>20}{'CLI reference':>16}"
        f"{'estimate before Start':>24}{'real / estimate':>18}"
    )
    for name, seconds, cli, guess in rows:
        ref = f"{cli:.1f} s" if cli is not None else "-"
        print(f"{name:<14}{seconds:>18.1f} s{ref:>16}{guess:>22.1f} s{seconds / guess:>18.2f}")
    print("(real / estimate within 0.7-1.3 is the target; a run that diverges ends early)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
