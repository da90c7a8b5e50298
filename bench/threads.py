"""How many BLAS threads should training use? Measured, not guessed.

Times the `quick` recipe's training step (784-256-10, batch 128) with 1 and 2 OpenBLAS threads
in three situations the app meets on a 2-core machine: a job alone; two jobs at once (two tabs);
a job next to a busy web server (a CPU-bound process standing in for Streamlit rendering).
Prints the median milliseconds per step and the ratio to the best. Then two runs as the app's
worker processes have them: the first started alone with 2 threads and kept them when the second
started (before), against both on 1 thread (now: the job manager shares the cores out again and
the running worker takes the new count at its next step). Run: python bench/threads.py
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.network import backward, forward, init_network, one_hot  # noqa: E402
from core.optim import Optimizer  # noqa: E402
from core.threads import blas_summary, set_blas_threads  # noqa: E402


def step_times(n_steps: int, seed: int, out: list) -> None:
    """Time n training steps of 784-256-10 on random batches of 128."""
    rng = np.random.default_rng(seed)
    net = init_network([784, 256, 10], "relu", rng)
    opt = Optimizer("adam")
    state = opt.init(net)
    X = rng.random((128, 784), dtype=np.float32)
    Y = one_hot(rng.integers(0, 10, 128))
    for _ in range(n_steps):
        t0 = time.perf_counter()
        trace = forward(net, X, keep=True)
        opt.step(net, backward(net, trace, Y), state, 1e-3)
        out.append((time.perf_counter() - t0) * 1000)


def busy_server(stop) -> None:
    """Stand-in for a web server rendering pages: pure-Python CPU work until told to stop."""
    while not stop.is_set():
        sum(i * i for i in range(20_000))


def scenario(threads: int, jobs: int, server: bool, n_steps: int = 400) -> float:
    set_blas_threads(threads)
    stop = mp.Event()
    proc = mp.Process(target=busy_server, args=(stop,)) if server else None
    if proc:
        proc.start()
        time.sleep(0.3)
    results = [[] for _ in range(jobs)]
    workers = [
        threading.Thread(target=step_times, args=(n_steps, i, results[i])) for i in range(jobs)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if proc:
        stop.set()
        proc.join()
    return statistics.median(itertools.chain.from_iterable(r[20:] for r in results))


def process_steps(threads: int, seed: int, n_steps: int, queue) -> None:
    set_blas_threads(threads)
    out: list = []
    step_times(n_steps, seed, out)
    queue.put(statistics.median(out[20:]))


def two_processes(threads_a: int, threads_b: int, n_steps: int = 400) -> tuple[float, float]:
    """Median ms/step of two worker processes training at once with the given thread counts."""
    ctx = mp.get_context("spawn")
    qa, qb = ctx.Queue(), ctx.Queue()
    procs = [
        ctx.Process(target=process_steps, args=(threads_a, 0, n_steps, qa)),
        ctx.Process(target=process_steps, args=(threads_b, 1, n_steps, qb)),
    ]
    for proc in procs:
        proc.start()
    a, b = qa.get(), qb.get()
    for proc in procs:
        proc.join()
    return a, b


def main() -> int:
    print(f"BLAS: {blas_summary()}")
    print(f"\n{'situation':<36}{'1 thread ms/step':>18}{'2 threads ms/step':>19}{'2t / 1t':>9}")
    for label, jobs, server in [
        ("one job alone", 1, False),
        ("two jobs at once", 2, False),
        ("one job + busy web server", 1, True),
        ("two jobs + busy web server", 2, True),
    ]:
        one = scenario(1, jobs, server)
        two = scenario(2, jobs, server)
        print(f"{label:<36}{one:>18.2f}{two:>19.2f}{two / one:>9.2f}")
    print(f"\n{'two worker processes at once':<36}{'run 1 ms/step':>15}{'run 2 ms/step':>15}")
    for label, ta, tb in [("2 + 1 threads (before)", 2, 1), ("1 + 1 threads (now)", 1, 1)]:
        a, b = two_processes(ta, tb)
        print(f"{label:<36}{a:>15.2f}{b:>15.2f}")
    print(
        "\nThe app runs at most one job per core, each in a worker process whose BLAS threads "
        "are the cores shared out among the running jobs; the CLI uses every core."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
