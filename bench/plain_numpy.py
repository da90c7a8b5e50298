"""`python -m core.train --preset quick` against a plain NumPy script that reaches 98%, in one run.

The reference is the shortest honest script: 784-256-10 with ReLU, SGD with momentum (its rate
decaying linearly to 0), 4 epochs of batches of 64, reading the same MNIST cache
(data/mnist.npz), start-up and data loading included. Both whole commands are timed as
subprocesses, interleaved so machine noise falls on both; medians and the ratio are printed
(target: the CLI within 1.25x). Then, in this process on 2 BLAS threads: the time from the data
being read to the first training step (target <= 0.2 s) and the training time until the test
accuracy first reaches 98% (target <= 1.5 s; measured after each epoch, the measuring excluded).
Run: python bench/plain_numpy.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def plain(cache: str) -> None:
    """The reference: everything a minimal script does, nothing more (run with --plain)."""
    import numpy as np

    t0 = time.perf_counter()
    d = np.load(cache)
    X = d["x_train"].astype(np.float32) / 255
    y = d["y_train"].astype(np.int64)
    Xt = d["x_test"].astype(np.float32) / 255
    yt = d["y_test"]
    rng = np.random.default_rng(0)
    W1 = (rng.standard_normal((784, 256)) * np.sqrt(2 / 784)).astype(np.float32)
    b1 = np.zeros(256, np.float32)
    W2 = (rng.standard_normal((256, 10)) * np.sqrt(2 / 256)).astype(np.float32)
    b2 = np.zeros(10, np.float32)
    params = [W1, b1, W2, b2]
    velocity = [np.zeros_like(p) for p in params]
    lr0, beta, bs, epochs = 0.1, np.float32(0.9), 64, 4
    steps, step = epochs * -(-len(y) // bs), 0
    for _ in range(epochs):
        perm = rng.permutation(len(y))
        for i in range(0, len(y), bs):
            idx = perm[i : i + bs]
            xb, yb = X[idx], y[idx]
            h = np.maximum(xb @ W1 + b1, 0)
            z = h @ W2 + b2
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(yb)), yb] -= 1
            dz = p / len(yb)
            dh = (dz @ W2.T) * (h > 0)
            grads = [xb.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)]
            lr = np.float32(lr0 * (1 - step / steps))  # decays linearly to 0
            step += 1
            for param, v, g in zip(params, velocity, grads, strict=True):
                v *= beta
                v -= lr * g
                param += v
    acc = float(((np.maximum(Xt @ W1 + b1, 0) @ W2 + b2).argmax(1) == yt).mean())
    print(f"plain NumPy: test accuracy {acc:.4f} after {time.perf_counter() - t0:.2f} s")


def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t0, out


def cli_path() -> tuple[float, float | None, float]:
    """(first step after the data was read, training seconds to 98% test accuracy, final test
    accuracy) for `quick` in this process on 2 BLAS threads."""
    from core.runs.events import Done, Epoch, Step
    from core.runs.loop import Control, evaluate
    from core.threads import set_blas_threads
    from core.train import load_data, preset, train

    set_blas_threads(2)
    config = preset("quick", log_every=1)
    data = load_data(config)
    t_data = time.perf_counter()
    control = Control()
    first = to98 = None
    for e in train(config, data, control):
        if isinstance(e, Step) and first is None:
            first = time.perf_counter() - t_data
        if isinstance(e, Epoch) and to98 is None:
            _, acc = evaluate(control.net, data.X_test, data.y_test)  # the loop waits meanwhile
            if acc >= 0.98:
                to98 = e.train_seconds
        if isinstance(e, Done):
            final = e.test_acc
    return first, to98, final


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--plain", metavar="CACHE", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.plain:
        plain(args.plain)
        return 0
    from core import paths

    cache = str(paths.mnist_cache_file())
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    runs: dict[str, list[float]] = {"plain NumPy script": [], "python -m core.train quick": []}
    for _ in range(args.repeats):
        seconds, out = timed([sys.executable, __file__, "--plain", cache])
        runs["plain NumPy script"].append(seconds)
        print(" ", out.strip())
        seconds, out = timed([sys.executable, "-m", "core.train", "--preset", "quick"])
        runs["python -m core.train quick"].append(seconds)
        print("  core.train:", [line for line in out.splitlines() if "test" in line.lower()][-1:])
    ref = statistics.median(runs["plain NumPy script"])
    print(f"\nwhole command, wall seconds (median of {args.repeats}), start-up included")
    for name, r in runs.items():
        med = statistics.median(r)
        print(f"  {name:<30}{med:8.2f} s   {med / ref:5.2f}x the plain script")
    first, to98, final = cli_path()
    print(f"\nquick in-process, 2 BLAS threads (load average now {os.getloadavg()[0]:.2f}):")
    print(f"  first step {first:.3f} s after the data was read (target <= 0.2 s)")
    print(f"  98% test accuracy after {to98} s of training (target <= 1.5 s); final {final:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
