"""What the app costs the browser: chromium's CPU for a stroke on the Draw page and for a second
of a Train page watching a run, beside an idle tab of the same app (the reference), in one run.

Where the browser runs on the server's machine (a laptop; `bench/app_load.py`), this CPU is
taken from training and from the server. Starts a real `streamlit run app.py` on 127.0.0.1 and
Debian's chromium; reads each chromium process's CPU from /proc (renderer: the page's own
JavaScript, layout and paint; browser, gpu-process: the rest).

- Draw: the same stroke drawn N times on the canvas, each waited for until the page is redrawn:
  the reading, its two charts and the insight view open (the default, "Hidden layers", then
  "Nearest MNIST images").
- Train: a `quick` setup with 40 epochs, the page watching it (status every second, charts every
  two), for S seconds.
Needs requirements-dev.txt and /usr/bin/chromium.
Run: python bench/browser_cost.py [--strokes N] [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import paths  # noqa: E402
from tests.browser_support import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    start_streamlit,
    stop_streamlit,
)

READY = "[data-testid=stApp][data-test-script-state=notRunning]"
TICK = os.sysconf("SC_CLK_TCK")


def chromium_cpu() -> Counter:
    """CPU seconds so far of every chromium process, by kind (renderer, gpu-process, ...).
    Chromium rewrites its children's command lines as one string: split on spaces too."""
    kinds: Counter = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            words = (entry / "cmdline").read_bytes().replace(b"\0", b" ").split()
        except (OSError, IndexError):
            continue
        if not words or b"chrom" not in words[0]:
            continue
        kind = next((w[7:].decode() for w in words if w.startswith(b"--type=")), "browser")
        kinds[kind] += (int(fields[11]) + int(fields[12])) / TICK
    return kinds


def used(before: Counter, after: Counter, per: float) -> dict[str, float]:
    """Milliseconds of CPU per unit (`per` units in the interval), by kind and in all."""
    out = {k: (after[k] - before.get(k, 0.0)) * 1000 / per for k in after}
    out = {k: v for k, v in out.items() if v >= 0.5}
    out["all"] = sum(out.values())
    return out


def show(label: str, ms: dict[str, float], unit: str) -> None:
    kinds = sorted(((k, v) for k, v in ms.items() if k != "all"), key=lambda kv: -kv[1])
    parts = ", ".join(f"{k} {v:.0f}" for k, v in kinds)
    print(f"{label:48s} {ms['all']:6.0f} ms {unit}  ({parts})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strokes", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=15.0)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shutil.copy2(ROOT / "weights" / "default.npz", tmp / "default.npz")
        data = tmp / "data"
        data.mkdir()
        (data / paths.mnist_cache_file().name).symlink_to(paths.mnist_cache_file())
        server, url = start_streamlit(tmp, data, tmp / "streamlit.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                page.set_default_timeout(120_000)

                def idle(seconds: float) -> dict[str, float]:
                    time.sleep(1.0)
                    before = chromium_cpu()
                    time.sleep(seconds)
                    return used(before, chromium_cpu(), seconds)

                def stroke(n: int) -> None:
                    box = page.locator("canvas.upper-canvas").bounding_box()
                    x0, y0 = box["x"] + 60, box["y"] + 40
                    page.mouse.move(x0, y0)
                    page.mouse.down()
                    for i in range(1, 15):
                        page.mouse.move(x0 + 8 * (n % 5), y0 + 12 * i, steps=2)
                    page.mouse.up()
                    time.sleep(0.3)  # the canvas hands the drawing over; the page redraws
                    page.wait_for_selector(READY)

                def strokes(n: int) -> dict[str, float]:
                    for k in range(2):  # warm-up: the first reading loads what it needs
                        stroke(k)
                    time.sleep(1.0)
                    before = chromium_cpu()
                    for k in range(n):
                        stroke(k)
                    return used(before, chromium_cpu(), n)

                page.goto(f"{url}/draw")
                page.wait_for_selector(READY)
                reference = idle(args.seconds)
                draw_default = strokes(args.strokes)
                page.get_by_role("tab", name="Nearest MNIST images").click()
                page.wait_for_selector(READY)
                draw_nearest = strokes(args.strokes)

                page.goto(f"{url}/train")
                page.wait_for_selector(READY)
                page.get_by_text("Custom setup").click()
                field = page.get_by_label("Epochs", exact=True)
                field.fill("40")
                field.press("Enter")
                page.wait_for_selector(READY)
                main_block = page.get_by_test_id("stMainBlockContainer")
                main_block.get_by_role("button", name="Start", exact=True).click()
                main_block.get_by_role("button", name="Stop", exact=True).and_(
                    page.locator(":enabled")
                ).wait_for()
                time.sleep(3.0)
                watching = idle(args.seconds)
                still = page.get_by_text("Finished").count() == 0
                browser.close()
        finally:
            stop_streamlit(server)
    print(f"chromium CPU on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    show("reference: Draw tab open, nothing happening", reference, "per second")
    show("a stroke on Draw (insight view: Hidden layers)", draw_default, "per stroke")
    show("a stroke on Draw (insight view: Nearest images)", draw_nearest, "per stroke")
    show("Train page watching a run", watching, "per second")
    if not still:
        print("(the run ended before the end of the watching phase: raise the epochs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
