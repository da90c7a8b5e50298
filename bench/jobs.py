"""Figures for the worker-process jobs (issue 8), side by side in one run:

- the CLI's path: data opened (memory-mapped) -> first step, and training time to 98% validation;
- a run in a worker process through the job manager vs the same run in this process (images/s);
- when the next spare worker starts: once no run trains (the backend's rule) vs the moment a run
  takes the spare (the rule before), interleaved: Submit to first step and to done;
- the memory estimate vs the measured peak RSS of a worker for three setups.

Run: .venv/bin/python bench/jobs.py   (the machine's load is printed; it skews every figure)
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.jobs import JobManager, training_job  # noqa: E402
from core.runs.estimate import estimate  # noqa: E402
from core.runs.events import Epoch, Start, Step  # noqa: E402
from core.runs.local import LocalBackend, start_worker  # noqa: E402
from core.threads import set_blas_threads  # noqa: E402
from core.train import load_data, preset, train  # noqa: E402

PEAK = """
import resource, sys
sys.path.insert(0, {root!r})
from core.runs.tasks import TrainTask
from core.runs.loop import Control
from core.train import TrainConfig
cfg = TrainConfig.from_dict({cfg!r})
for _ in TrainTask(cfg)(Control()):
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def cli_path() -> None:
    set_blas_threads(2)
    config = preset("quick", log_every=1)
    t0 = time.perf_counter()
    data = load_data(config)
    t_data = time.perf_counter()
    first = to98 = None
    for e in train(config, data):
        now = time.perf_counter()
        if isinstance(e, Start):
            t_start = now
        if isinstance(e, Step) and first is None:
            first = now - t_data
        if isinstance(e, Epoch) and to98 is None and e.val_acc >= 0.98:
            to98 = e.train_seconds
    done = e
    print(f"CLI path: data opened in {t_data - t0:.3f} s, Start after {t_start - t_data:.3f} s,")
    print(f"  first step {first:.3f} s after the data was read (target <= 0.2 s);")
    print(
        f"  98% validation after {to98} s of training; test acc {done['test_acc']:.4f}, "
        f"whole run {time.perf_counter() - t0:.1f} s"
    )


def worker_vs_inprocess() -> None:
    config = preset("quick")
    m = JobManager(max_running=1, reap_every=None)
    t0 = time.perf_counter()
    view = m.wait(m.submit("train", training_job(config), "bench"), 600)
    wall = time.perf_counter() - t0
    done = view.last["done"]
    start = view.last["start"]
    ips = done["step"] * start["n_train"] / start["steps_per_epoch"] / done["train_seconds"]
    m.shutdown()
    set_blas_threads(2)
    t0 = time.perf_counter()
    ref = list(train(config, load_data(config)))[-1]
    ref_wall = time.perf_counter() - t0
    ref_ips = ref["step"] * start["n_train"] / start["steps_per_epoch"] / ref["train_seconds"]
    print(
        f"quick in a worker: {ips:,.0f} images/s, submit-to-done {wall:.1f} s; "
        f"in this process (2 threads, reference): {ref_ips:,.0f} images/s, {ref_wall:.1f} s; "
        f"ratio {ips / ref_ips:.2f}x speed, {ref_wall / wall:.2f}x wall"
    )


class SpareAtOnce(LocalBackend):
    """The rule before: the next spare starts the moment a run takes the waiting one."""

    def launch(self, *args):
        runner = super().launch(*args)
        with self._lock:
            if self._spare is None and not self._closed:
                self._spare = start_worker()
        return runner


def spare_rule(repeats: int = 3) -> None:
    def timed(m: JobManager) -> tuple[float, float]:
        time.sleep(4)  # the spare is up and the machine quiet
        t0 = time.perf_counter()
        job = m.submit("train", training_job(preset("quick")), "bench")
        first = None
        while not (view := m.view(job)).finished:
            if first is None and "step" in view.last:
                first = time.perf_counter() - t0
            time.sleep(0.005)
        return first, time.perf_counter() - t0

    rules = {"spare once idle (now)": LocalBackend(), "spare at once (before)": SpareAtOnce()}
    managers = {
        name: JobManager(max_running=1, reap_every=None, backend=b) for name, b in rules.items()
    }
    got = {name: [] for name in rules}
    try:
        for _ in range(repeats):
            for name, m in managers.items():
                got[name].append(timed(m))
    finally:
        for m in managers.values():
            m.shutdown()
    for name, runs in got.items():
        firsts = ", ".join(f"{f:.2f}" for f, _ in runs)
        dones = ", ".join(f"{d:.2f}" for _, d in runs)
        print(f"quick, {name}: Submit to first step event {firsts} s; to done {dones} s")


def estimates() -> None:
    setups = {
        "quick, 1 epoch": preset("quick", epochs=1),
        "512-256 sgd, 1 epoch": preset("quick", hidden=(512, 256), optimizer="sgd", epochs=1),
        "full batch 10, 5 it.": preset("seed", epochs=5),
    }
    for name, cfg in setups.items():
        code = PEAK.format(root=str(Path(__file__).resolve().parents[1]), cfg=cfg.to_dict())
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode:
            print(f"{name}: failed {out.stderr[-300:]}")
            continue
        peak = int(out.stdout.strip().splitlines()[-1])
        est = estimate(cfg).memory
        print(
            f"{name:>22}: estimate {est / 2**20:6.0f} MiB, measured peak {peak / 2**20:6.0f} "
            f"MiB, estimate/peak {est / peak:.2f}"
        )


if __name__ == "__main__":
    print(f"load average: {os.getloadavg()}, cores: {os.cpu_count()}")
    cli_path()
    worker_vs_inprocess()
    spare_rule()
    estimates()
    print(
        f"this process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
