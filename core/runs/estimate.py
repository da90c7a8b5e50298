"""How much memory and time a training setup will take, before it runs, and the per-run budget.

The Train page shows the estimate before Start; `check_budget` refuses a setup over the budget
with the estimate and what to change. The figures are arithmetic on the layer sizes (weights,
optimizer memory, the activations of one batch) plus what a worker process costs anyway;
`bench/jobs.py` compares the memory with measured peaks, `bench/preset_times.py` the time with
real waits. Nothing here trains or allocates.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from functools import lru_cache

from core.messages import Message

MiB = 2**20
WORKER_BASE = 60 * MiB  # Python, NumPy and the app's modules in a fresh worker process
DATA_BYTES = 70_000 * 784 + 70_000  # the uint8 cache, mapped: pages count once touched
F32 = 4
SERVER_RESERVE = 600 * MiB  # memory kept for the web server itself
MACHINE_SHARE = 0.7  # of the machine's memory, at most, for training runs together
# Time, fitted to runs started from the Train page (bench/preset_times.py):
AUGMENT_SECONDS = {"none": 0.0, "shift": 40e-6, "affine": 40e-6, "elastic": 40e-6}  # per image
STEP_SECONDS = 0.3e-3  # per mini-batch step beyond its products: gather, convert, update, check
IMAGE_SECONDS = 0.2e-6  # per image of a mini-batch: reading its row and converting it to float
FULL_BATCH_IMAGE_SECONDS = 1.5e-6  # per image per full-batch step: its floats read twice
EVAL_IMAGE_SECONDS = 0.3e-6  # per validation image scored, beyond its products
RUN_SECONDS = 1.7  # once per run: the worker takes it, the test set is scored, the page shows it


@dataclass(frozen=True)
class Estimate:
    """Peak memory of one run (bytes) and its time (seconds), both rough but on the safe side."""

    memory: int
    seconds_per_epoch: float
    seconds: float
    n_params: int

    def describe(self) -> str:
        memory, total = format_bytes(self.memory), format_duration(self.seconds)
        epoch = format_duration(self.seconds_per_epoch)
        return Message(
            "jobs.estimate",
            f"about {memory} of memory and {total} ({epoch} per epoch)",
            memory=memory,
            total=total,
            epoch=epoch,
        )


def format_bytes(n: float) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / MiB:.0f} MB"


def format_duration(seconds: float) -> str:
    if seconds < 60:
        n = f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"
        return Message("jobs.seconds", f"{n} s", n=n)
    if seconds < 3600:
        n = f"{seconds / 60:.0f}"
        return Message("jobs.minutes", f"{n} min", n=n)
    n = f"{seconds / 3600:.1f}"
    return Message("jobs.hours", f"{n} h", n=n)


CALIBRATION_REPS = 30  # products timed one by one; the fastest counts


@lru_cache(maxsize=1)
def flops_per_second() -> float:
    """Multiply-adds per second of one BLAS thread here, measured once per process (about
    0.05 s), whatever threads this process uses otherwise (the CLI uses every core, the server
    one).

    The fastest of many short products counts, not their average: the server measures when a
    page first asks, often while that page's browser (or another run) busies the cores, and a
    product that lost its core for a while says nothing about the machine. Averaged, a server
    started beside a busy browser estimated `quick` at 16 s, once 33 s, where it took 6, for
    as long as it ran. A run gets a core of its own in its worker, so the unhindered speed is
    the one to use.
    """
    import numpy as np
    from threadpoolctl import threadpool_limits

    a = np.ones((256, 784), np.float32)
    b = np.ones((784, 256), np.float32)
    with threadpool_limits(limits=1, user_api="blas"):
        a @ b  # warm up
        best = math.inf
        for _ in range(CALIBRATION_REPS):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
    return 2 * 256 * 784 * 256 / max(best, 1e-9)


def estimate(config, n_train: int | None = None, threads: int = 1) -> Estimate:
    """Memory and time of a training run with `config` (a TrainConfig)."""

    sizes = config.sizes
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    n = n_train or (config.train_size or 60_000 - config.val_size)
    m = min(config.batch_size or n, n)
    # Weights, gradients, the board copy and the saved snapshot, plus the optimizer's memory.
    copies = 4 + {"sgd": 0, "momentum": 1, "nesterov": 1, "adam": 2}[config.optimizer]
    params = n_params * F32 * copies
    # One batch: its float input (the full copy, for full batch) and per layer Z, A, dZ, dA and
    # a temporary, in float32. Evaluation: a chunk's input and Z, A per layer.
    hidden_units = sum(sizes[1:])
    full = n * 784 * F32 if m >= n else 0
    batch = (0 if full else m * 784 * F32 * (3 if config.augment != "none" else 1)) + (
        m * hidden_units * F32 * 5
    )
    chunk = int(min(10_000, max(16, 2e9 // n_params)))
    evaluation = chunk * (784 + 2 * hidden_units) * F32
    memory = WORKER_BASE + DATA_BYTES + params + full + max(batch, evaluation)

    # A training step reaches ~83% of the fastest product's speed (~90% of the average speed
    # of 20 products, which the constants above were fitted with; that average ran ~8% slower).
    flops = flops_per_second() * max(1, threads) * 0.83
    # Forward, backward and the weight gradients: 6 multiply-adds per weight and image.
    per_image = 6 * n_params / flops + AUGMENT_SECONDS[config.augment]
    steps = math.ceil(n / m)
    if m >= n:  # full batch: no gathering, but every step streams all n images from memory
        per_step = n * (per_image + FULL_BATCH_IMAGE_SECONDS)
    else:
        per_step = STEP_SECONDS + m * (per_image + IMAGE_SECONDS)
    evals = config.val_size * (2 * n_params / flops + EVAL_IMAGE_SECONDS)
    per_epoch = steps * per_step + evals / config.eval_every
    return Estimate(int(memory), per_epoch, per_epoch * config.epochs + RUN_SECONDS, n_params)


def machine_memory() -> int:
    """Bytes of memory on this machine (or this container, when it is limited)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = int(open("/sys/fs/cgroup/memory.max").read().strip())
        total = min(total, limit)
    except (OSError, ValueError):
        pass
    return total


def run_budget(max_running: int | None = None) -> int:
    """Bytes one run may use: DIGITS_RUN_MEMORY_MB if set, else a share of the machine's
    memory (less the web server's) divided by the runs allowed at once."""
    env = os.environ.get("DIGITS_RUN_MEMORY_MB")
    if env:
        try:
            return int(float(env) * MiB)
        except ValueError:
            pass
    if max_running is None:
        from core.threads import cores

        max_running = int(os.environ.get("NNDIGITS_MAX_JOBS") or 0) or cores()
    spare = machine_memory() * MACHINE_SHARE - SERVER_RESERVE
    return int(max(spare, 256 * MiB) / max(1, max_running))


def over_budget(config, budget: int | None = None) -> str | None:
    """None when the setup fits the per-run budget, else why not and what to change."""
    budget = run_budget() if budget is None else budget
    est = estimate(config)
    if est.memory <= budget:
        return None
    fixes = []
    if not config.batch_size or config.batch_size > 1024:
        fixes.append(Message("jobs.fix.batch", "a batch size of 128"))
    if max(config.hidden, default=0) > 1024 or len(config.hidden) > 2:
        fixes.append(
            Message("jobs.fix.hidden", "fewer or smaller hidden layers (for example 512, 256)")
        )
    if config.optimizer == "adam":
        fixes.append(
            Message(
                "jobs.fix.optimizer", "sgd or momentum instead of adam (less memory per weight)"
            )
        )
    what = fixes[0] if fixes else Message("jobs.fix.smaller", "a smaller setup")
    for more in fixes[1:]:
        what = Message("jobs.fix.or", f"{what}, or {more}", a=what, b=more)
    need, allowed = format_bytes(est.memory), format_bytes(budget)
    return Message(
        "jobs.over_budget",
        f"This setup needs {need} of memory, more than the {allowed} each run may use on this "
        f"server. Try {what}.",
        need=need,
        allowed=allowed,
        what=what,
    )


def check_budget(config, budget: int | None = None) -> None:
    """Raise JobRefused (a ValueError) when the setup is over the per-run memory budget."""
    problem = over_budget(config, budget)
    if problem:
        from core.jobs import JobRefused

        raise JobRefused(problem)
