"""Training speed: our NumPy engine against PyTorch (CPU) on the `quick` recipe, in one run.

Both train the same 784-256-10 ReLU network with Adam, the same learning rate and cosine
schedule, label smoothing, batch size and epochs, on the same 55,000 images, with the same
number of threads.
Only the training steps are timed; the test set is scored every quarter epoch, off the clock,
to find the time to 98% test accuracy. Run: python bench/train_speed.py [--repeats N]
Needs requirements-bench.txt (torch==2.13.0, CPU build).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.runs.loop import to_float  # noqa: E402
from core.threads import blas_summary, cores, set_blas_threads  # noqa: E402
from core.train import Control, evaluate, load_data, preset, train  # noqa: E402

TARGET = 0.98


def run_numpy(config, data):
    """Our engine: per-epoch seconds, time to target, final test accuracy."""
    spe = math.ceil(len(data.y_train) / config.batch_size)
    config = preset("quick", log_every=max(1, spe // 4), seed=config.seed)
    control = Control()
    epochs, hit, last_t = [], None, 0.0
    for m in train(config, data, control):
        if m["kind"] == "step":
            if hit is None and evaluate(control.net, data.X_test, data.y_test)[1] >= TARGET:
                hit = m["train_seconds"]
        elif m["kind"] == "epoch":
            epochs.append(m["train_seconds"] - last_t)
            last_t = m["train_seconds"]
        elif m["kind"] == "done":
            return epochs, hit, m["test_acc"]
    raise RuntimeError(f"NumPy run did not finish: {m}")


def run_torch(config, data, threads):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    model = nn.Sequential(
        nn.Linear(784, config.hidden[0]), nn.ReLU(), nn.Linear(config.hidden[0], 10)
    )
    for layer in model:
        if isinstance(layer, nn.Linear):  # He normal, zero bias: the same start as ours
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.smoothing)  # (1 - eps) Y + eps / 10
    # Floats in [0, 1] made once, off the clock (the NumPy engine converts each batch's uint8
    # rows on its clock): the reference gets the easier start.
    X = torch.from_numpy(to_float(data.X_train))
    y = torch.from_numpy(data.y_train.astype(np.int64))
    Xt = torch.from_numpy(to_float(data.X_test))
    yt = torch.from_numpy(data.y_test.astype(np.int64))
    n, bs = len(y), config.batch_size
    spe = math.ceil(n / bs)
    total = spe * config.epochs
    quarter = max(1, spe // 4)
    g = torch.Generator().manual_seed(config.seed)

    def test_acc():
        with torch.no_grad():
            return (model(Xt).argmax(1) == yt).float().mean().item()

    epochs, hit, clock, step = [], None, 0.0, 0
    for _ in range(config.epochs):
        perm = torch.randperm(n, generator=g)
        t_epoch = clock
        for i in range(spe):
            t0 = time.perf_counter()
            for group in opt.param_groups:  # the same cosine schedule, per step
                group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            idx = perm[i * bs : (i + 1) * bs]
            loss = loss_fn(model(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            clock += time.perf_counter() - t0
            step += 1
            if hit is None and step % quarter == 0 and test_acc() >= TARGET:
                hit = clock
        epochs.append(clock - t_epoch)
    return epochs, hit, test_acc()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2, help="runs of each engine, interleaved")
    ap.add_argument("--threads", type=int, default=cores())
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("PyTorch is missing: pip install -r requirements-bench.txt", file=sys.stderr)
        return 2
    set_blas_threads(args.threads)
    config = preset("quick")
    data = load_data(config)
    print(
        f"quick recipe: 784-{config.hidden[0]}-10 {config.activation}, {config.optimizer} "
        f"lr {config.lr} {config.schedule}, label smoothing {config.smoothing}, "
        f"batch {config.batch_size}, {config.epochs} epochs, "
        f"{len(data.y_train):,} images; {args.threads} thread(s)"
    )
    print(f"NumPy {np.__version__}, BLAS {blas_summary()}; PyTorch {torch.__version__}")
    results = {"numpy": [], "torch": []}
    for r in range(args.repeats):  # interleaved, so both see the same machine noise
        results["numpy"].append(run_numpy(preset("quick", seed=r), data))
        results["torch"].append(run_torch(preset("quick", seed=r), data, args.threads))
    rows = {}
    for name, runs in results.items():
        epoch_times = [t for ep, _, _ in runs for t in ep]
        hits = [h for _, h, _ in runs if h is not None]
        rows[name] = (
            statistics.median(epoch_times),
            statistics.median(hits) if hits else float("nan"),
            statistics.median(a for _, _, a in runs),
            len(hits),
            len(runs),
        )
    print(f"\n{'engine':<8}{'epoch s (median)':>18}{'time to 98% s':>16}{'final test acc':>16}")
    for name, (ep, hit, acc, n_hit, n) in rows.items():
        print(f"{name:<8}{ep:>18.3f}{hit:>16.2f}{acc:>16.4f}   (98% reached in {n_hit}/{n})")
    ratio = rows["numpy"][0] / rows["torch"][0]
    print(
        f"\nNumPy / PyTorch epoch time: {ratio:.2f} "
        f"({'NumPy faster' if ratio < 1 else 'PyTorch faster'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
