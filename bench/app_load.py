"""The web server under load: two runs training and three tabs drawing, against the same server
idle, in one run.

Starts a real `streamlit run app.py` on 127.0.0.1 (training runs in worker processes). First
samples `/_stcore/health` with nothing happening (the reference); then two chromium tabs start a
training run each (quick, more epochs, so they train throughout) and three tabs draw strokes on
the Draw page's canvas over and over (each with another insight view open), while
`/_stcore/health` is asked every 20 ms and the resident memory of the server and of each worker
process is read from /proc every 50 ms (the health requests come from a process of their own).
Prints health p50/p99/max (target p99 <= 50 ms), the server's peak RSS (target <= 350 MiB) and
each worker's (target <= 300 MiB), both sampled and the kernel's own peak (VmHWM), and how the
two cores were shared while loaded: CPU used by the browser, the server, the workers and the
rest, and how long the server's threads stood ready to run without a core.
A second server of the same app, idle (no tab open on it), is asked the same way at the same
time: the reference for what the machine's scheduling alone costs a request under this load.
Needs requirements-dev.txt and /usr/bin/chromium.
Run: python bench/app_load.py [--seconds S] [--runs N] [--drawers N] [--no-bystander]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
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

MiB = 2**20
READY = "[data-testid=stApp][data-test-script-state=notRunning]"
# The insight view each drawing tab keeps open (the Draw page computes only the open one), and
# words it shows once computed.
VIEWS = [
    ("Nearest MNIST images", "training images closest to your drawing"),
    ("Saliency", "per unit of extra ink"),
    ("Hidden layers", "Each cell is one hidden unit"),
]


def health_sampler(url: str, out: list, stop: threading.Event, every: float = 0.02) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as r:
                r.read()
        except OSError:
            pass
        out.append(time.perf_counter() - t0)
        stop.wait(max(0.0, every - (time.perf_counter() - t0)))


def status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def workers_of(pid: int) -> list[int]:
    """The server's training worker processes (spawned children, not the resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in cmd and b"resource_tracker" not in cmd:
            found.append(int(entry.name))
    return found


def memory_sampler(pid: int, peaks: dict, stop: threading.Event, every: float = 0.05) -> None:
    """peaks: pid -> (sampled max RSS KiB, VmHWM KiB) for the server and each worker."""
    while not stop.is_set():
        for p in [pid, *workers_of(pid)]:
            rss, hwm = status_kib(p, "VmRSS"), status_kib(p, "VmHWM")
            old = peaks.get(p, (0, 0))
            peaks[p] = (max(old[0], rss), max(old[1], hwm))
        stop.wait(every)


def cpu_times(server: int) -> dict:
    """Seconds of CPU used so far by each kind of process on this machine, and by the server
    waiting for a core while ready to run (its threads' run-queue delay, /proc/*/schedstat)."""
    tick = os.sysconf("SC_CLK_TCK")
    kinds: dict[str, float] = {}
    workers = set(workers_of(server))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        pid = int(entry.name)
        kind = (
            "server"
            if pid == server
            else "training workers"
            if pid in workers
            else "chromium"
            if b"chrom" in cmd
            else "other"
        )
        kinds[kind] = kinds.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    waited = 0
    for task in Path(f"/proc/{server}/task").iterdir():
        try:
            waited += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    kinds["server waiting for a core"] = waited / 1e9
    return kinds


def percentiles(xs: list[float]) -> str:
    xs = sorted(xs)
    if not xs:
        return "(none)"
    p50 = statistics.median(xs) * 1000
    p99 = xs[min(len(xs) - 1, int(0.99 * len(xs)))] * 1000
    return f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {xs[-1] * 1000:6.1f} ms  (n={len(xs)})"


def _health_process(url: str, stop, queue) -> None:
    out: list[float] = []
    health_sampler(url, out, stop)
    queue.put(out)


class HealthSampler:
    """/_stcore/health asked from a process of its own, so the browser driver in this one (and
    its GIL) never delays a request."""

    def __init__(self, url: str):
        ctx = mp.get_context("spawn")
        self._stop, self._queue = ctx.Event(), ctx.Queue()
        self._proc = ctx.Process(
            target=_health_process, args=(url, self._stop, self._queue), daemon=True
        )  # daemon: a failed run still exits
        self._proc.start()

    def finish(self) -> list[float]:
        self._stop.set()
        out = self._queue.get()
        self._proc.join()
        return out


def sample_health(url: str, seconds: float) -> list[float]:
    sampler = HealthSampler(url)
    time.sleep(seconds)
    return sampler.finish()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the loaded phase")
    ap.add_argument("--runs", type=int, default=2, help="tabs training (to see each load alone)")
    ap.add_argument("--drawers", type=int, default=3, help="tabs drawing")
    ap.add_argument(
        "--no-bystander", action="store_true", help="without the idle second server's reference"
    )
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shutil.copy2(ROOT / "weights" / "default.npz", tmp / "default.npz")  # one file
        data = tmp / "data"
        data.mkdir()
        (data / paths.mnist_cache_file().name).symlink_to(paths.mnist_cache_file())
        server, url = start_streamlit(tmp, data, tmp / "streamlit.log")
        bystander = None
        if not args.no_bystander:
            bystander, idle_url = start_streamlit(tmp, data, tmp / "bystander.log")
        peaks: dict = {}
        stop = threading.Event()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

                def tab(path: str):
                    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                    page.set_default_timeout(120_000)
                    page.goto(f"{url}/{path}")
                    page.wait_for_selector(READY)
                    return page

                drawers = [tab("draw") for _ in range(args.drawers)]
                trainers = [tab("train") for _ in range(args.runs)]
                idle = sample_health(url, 5.0)  # the reference: tabs open, nothing happening
                mem = threading.Thread(target=memory_sampler, args=(server.pid, peaks, stop))
                mem.start()
                for page in trainers:
                    page.get_by_text("Custom setup").click()
                    field = page.get_by_label("Epochs", exact=True)
                    field.fill("40")
                    field.press("Enter")
                    page.wait_for_selector(READY)
                    main = page.get_by_test_id("stMainBlockContainer")
                    main.get_by_role("button", name="Start", exact=True).click()
                for page in trainers:
                    main = page.get_by_test_id("stMainBlockContainer")
                    main.get_by_role("button", name="Stop", exact=True).and_(
                        page.locator(":enabled")
                    ).wait_for()

                def stroke(k: int, page, n: int) -> None:
                    canvas = page.locator("canvas.upper-canvas")
                    box = canvas.bounding_box()
                    x0, y0 = box["x"] + 60 + 20 * k, box["y"] + 40
                    page.mouse.move(x0, y0)
                    page.mouse.down()
                    for i in range(1, 15):
                        page.mouse.move(x0 + 8 * (n % 5), y0 + 12 * i, steps=2)
                    page.mouse.up()

                # Warm-up, measured apart: each tab's first drawing (the server's first reading
                # builds the neighbour index and imports what the insights need, once). Only the
                # open insight view is computed, so the tabs look at different ones.
                sampler = HealthSampler(url)
                for k, page in enumerate(drawers):
                    stroke(k, page, 0)
                for k, page in enumerate(drawers):
                    view, shows = VIEWS[k % len(VIEWS)]
                    page.get_by_role("tab", name=view).click()
                    page.get_by_text(shows).first.wait_for()
                    page.wait_for_selector(READY)
                warmup = sampler.finish()
                sampler = HealthSampler(url)
                other = HealthSampler(idle_url) if bystander else None
                cpu_before, t0 = cpu_times(server.pid), time.monotonic()
                strokes, deadline = 0, time.monotonic() + args.seconds
                while time.monotonic() < deadline:
                    for k, page in enumerate(drawers):
                        stroke(k, page, strokes)
                        strokes += 1
                    (drawers or trainers)[0].wait_for_timeout(100)
                loaded = sampler.finish()
                beside = other.finish() if other else []
                cpu_after, elapsed = cpu_times(server.pid), time.monotonic() - t0
                running = [
                    t.get_by_text("Finished").count() == 0 for t in trainers
                ]  # still training at the end?
                browser.close()
        finally:
            stop.set()
            stop_streamlit(server)
            if bystander is not None:
                stop_streamlit(bystander)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"/_stcore/health, idle server (reference): {percentiles(idle)}")
    print(f"/_stcore/health, the tabs' first drawings: {percentiles(warmup)}  (once per server)")
    print(
        f"/_stcore/health, {args.runs} runs + {args.drawers} tabs drawing:  {percentiles(loaded)}"
        "  (target p99 <= 50 with 2 runs + 3 tabs)"
    )
    if beside:
        print(f"/_stcore/health, an idle server beside it:  {percentiles(beside)}  (reference)")
    print(
        f"strokes drawn: {strokes} in {args.seconds:.0f} s; runs still training at the end: "
        f"{sum(running)} of {args.runs}"
    )
    used = {k: (cpu_after[k] - cpu_before.get(k, 0.0)) / elapsed for k in cpu_after}
    print(
        "cores in use while loaded (of 2): "
        + ", ".join(f"{k} {v:.2f}" for k, v in used.items() if "waiting" not in k)
        + f"; the server's threads waited for a core {used['server waiting for a core']:.2f} s "
        "per second (summed over its threads)"
    )
    server_peak = peaks.pop(server.pid, (0, 0))
    print(
        f"server peak RSS: sampled {server_peak[0] / 1024:.0f} MiB, VmHWM "
        f"{server_peak[1] / 1024:.0f} MiB (target <= 350)"
    )
    for pid, (rss, hwm) in sorted(peaks.items()):
        print(
            f"worker {pid} peak RSS: sampled {rss / 1024:.0f} MiB, VmHWM {hwm / 1024:.0f} MiB "
            f"(target <= 300)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
