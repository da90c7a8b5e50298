"""Drawing-to-answer latency: canvas_to_mnist + predict_proba on a 280x280 canvas, p50 and p99.

Side by side in the same run: the naive pipeline (whole canvas resized, same model) and the
same model's forward pass in PyTorch when it is installed. Run: python bench/latency.py [MODEL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.model_store import load_model  # noqa: E402
from core.preprocess import canvas_to_mnist, canvas_to_naive  # noqa: E402
from core.threads import blas_summary, set_blas_threads  # noqa: E402


def sample_canvases(n: int = 20, seed: int = 0) -> list[np.ndarray]:
    """Random pen scribbles shaped like digits: strokes of 10-35 px on a black 280x280 RGBA."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
        d = ImageDraw.Draw(img)
        cx, cy, r = rng.uniform(80, 200), rng.uniform(80, 200), rng.uniform(30, 90)
        t = np.linspace(0, 2 * np.pi * rng.uniform(0.6, 1.0), 40)
        pts = [(cx + r * 0.6 * np.cos(a), cy + r * np.sin(a)) for a in t]
        d.line(pts, fill=(255, 255, 255, 255), width=int(rng.uniform(10, 35)), joint="curve")
        a = np.asarray(img)
        a.setflags(write=False)  # the canvas component hands out read-only arrays
        out.append(a)
    return out


def percentiles(fn, canvases, repeats: int) -> tuple[float, float]:
    times = []
    for i in range(repeats):
        c = canvases[i % len(canvases)]
        t0 = time.perf_counter()
        fn(c)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default="default")
    ap.add_argument("--repeats", type=int, default=2000)
    args = ap.parse_args(argv)
    set_blas_threads(1)  # what the app uses: one thread per job, the server keeps the other core
    model = load_model(args.model)
    canvases = sample_canvases()
    print(f"model {model.description}; BLAS {blas_summary()}; {args.repeats} calls each")

    def ours(c):
        return model.predict_proba(canvas_to_mnist(c).reshape(1, 784))

    def naive(c):
        return model.predict_proba(canvas_to_naive(c).reshape(1, 784))

    rows = [
        ("canvas_to_mnist + predict_proba", ours),
        ("naive resize + predict_proba", naive),
        ("canvas_to_mnist alone", canvas_to_mnist),
    ]
    try:
        import torch

        torch.set_num_threads(1)
        layers = []
        for i, (W, b) in enumerate(zip(model.net.W, model.net.b, strict=True)):
            lin = torch.nn.Linear(*W.shape)
            lin.weight.data = torch.from_numpy(W.T.copy())
            lin.bias.data = torch.from_numpy(b.copy())
            layers += [lin] + ([torch.nn.ReLU()] if i < len(model.net.W) - 1 else [])
        tmodel = torch.nn.Sequential(*layers, torch.nn.Softmax(dim=1)).eval()

        def reference(c):
            with torch.no_grad():
                return tmodel(torch.from_numpy(canvas_to_mnist(c).reshape(1, 784))).numpy()

        if model.net.activation == "relu":
            rows.append(("reference: canvas_to_mnist + PyTorch", reference))
    except ImportError:
        print("(PyTorch not installed: reference row skipped)")
    for fn in (ours,):  # warm caches and lazy imports
        for c in canvases:
            fn(c)
    print(f"\n{'pipeline':<40}{'p50 ms':>10}{'p99 ms':>10}")
    for name, fn in rows:
        p50, p99 = percentiles(fn, canvases, args.repeats)
        print(f"{name:<40}{p50:>10.3f}{p99:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
