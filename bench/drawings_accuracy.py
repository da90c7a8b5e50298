"""How well models read digits drawn on a canvas, through MNIST-style preprocessing and naively.

Owns scoring a model on the drawn-digit set from bench/drawset.py (overall, per subset, per
digit) and timing the preprocessing; it never trains and never changes a model file.

    python bench/drawings_accuracy.py [MODEL ...]     # default: the `default` model
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python bench/drawings_accuracy.py`: make `core` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.drawset import Drawset, ink_to_rgba, load_drawset  # noqa: E402
from core.preprocess import canvas_to_mnist, canvas_to_naive  # noqa: E402

PATHS = {"mnist": canvas_to_mnist, "naive": canvas_to_naive}  # preprocessing paths compared

PredictProba = Callable[[np.ndarray], np.ndarray]  # (n, 784) float32 in [0, 1] -> (n, 10)


def prepare_inputs(drawset: Drawset) -> dict[str, np.ndarray]:
    """Each preprocessing path's network inputs: {path: (n, 784) float32}.

    A canvas a path refuses (a speck) becomes an all-zero row, which the scoring counts as
    wrong; it should never happen on this set, and `evaluate_drawings` reports how often it did.
    """
    inputs = {}
    for name, convert in PATHS.items():
        X = np.zeros((len(drawset), 784), dtype=np.float32)
        for i in range(len(drawset)):
            out = convert(ink_to_rgba(drawset.canvases[i]))
            if out is not None:
                X[i] = out.ravel()
        inputs[name] = X
    return inputs


def _accuracy(correct: np.ndarray) -> float:
    return float(correct.mean()) if correct.size else float("nan")


def evaluate_drawings(
    predict_proba: PredictProba,
    drawset: Drawset,
    inputs: dict[str, np.ndarray] | None = None,
) -> dict:
    """Score any (n, 784) -> (n, 10) predictor on the drawn digits, through each path.

    Returns {path: {"overall", "subsets": {name: acc}, "digits": [acc for 0-9],
    "details": {style: acc} for the styles subset, "refused": count,
    "confusion": 10x10 counts (row = true digit)}}. Pass `inputs` from `prepare_inputs` to
    score several models without preprocessing the canvases again.
    """
    inputs = prepare_inputs(drawset) if inputs is None else inputs
    y = drawset.labels.astype(np.int64)
    report = {}
    for name, X in inputs.items():
        pred = np.asarray(predict_proba(X)).argmax(axis=1)
        correct = pred == y
        confusion = np.zeros((10, 10), dtype=np.int64)
        np.add.at(confusion, (y, pred), 1)
        styles = drawset.subset == "styles"
        report[name] = {
            "overall": _accuracy(correct),
            "subsets": {s: _accuracy(correct[drawset.subset == s]) for s in _order(drawset.subset)},
            "digits": [_accuracy(correct[y == d]) for d in range(10)],
            "details": {
                s: _accuracy(correct[styles & (drawset.detail == s)])
                for s in _order(drawset.detail[styles])
            },
            "refused": int((~X.any(axis=1)).sum()),
            "confusion": confusion.tolist(),
        }
    return report


def _order(values: np.ndarray) -> list[str]:
    """Distinct values in order of first appearance."""
    return list(dict.fromkeys(values.tolist()))


def preprocess_latency(drawset: Drawset, count: int = 300, repeats: int = 5) -> dict[str, float]:
    """p50 and p95 milliseconds of `canvas_to_mnist` on real-looking (280, 280, 4) canvases."""
    idx = np.linspace(0, len(drawset) - 1, min(count, len(drawset))).astype(int)
    canvases = [ink_to_rgba(drawset.canvases[i]) for i in idx]
    times = []
    for _ in range(repeats):
        for rgba in canvases:
            start = time.perf_counter()
            canvas_to_mnist(rgba)
            times.append(time.perf_counter() - start)
    ms = np.array(times) * 1e3
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95))}


def mnist_test_accuracy(predict_proba: PredictProba) -> float:
    """Accuracy on MNIST's 10,000 test digits, for reference."""
    from core.data import load_mnist

    _, _, x_test, y_test = load_mnist()
    X = x_test.astype(np.float32) / 255
    return float((np.asarray(predict_proba(X)).argmax(axis=1) == y_test).mean())


def format_report(title: str, mnist_acc: float | None, report: dict) -> str:
    """A model's scores as a small text table, one column per preprocessing path."""
    paths = list(report)
    rows = [f"{title}" + (f"   MNIST test {mnist_acc:.2%}" if mnist_acc is not None else "")]
    rows.append(f"  {'':24s}" + "".join(f"{p:>10s}" for p in paths))

    def row(label: str, values: list[float]) -> None:
        rows.append(f"  {label:24s}" + "".join(f"{v:10.1%}" for v in values))

    row("all drawings", [report[p]["overall"] for p in paths])
    for s in report[paths[0]]["subsets"]:
        row(f"  {s}", [report[p]["subsets"][s] for p in paths])
    for s in report[paths[0]]["details"]:
        row(f"    {s}", [report[p]["details"][s] for p in paths])
    for d in range(10):
        row(f"  digit {d}", [report[p]["digits"][d] for p in paths])
    refused = {p: report[p]["refused"] for p in paths if report[p]["refused"]}
    if refused:
        rows.append(f"  refused as empty: {refused}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", default=["default"], help="model names to score")
    parser.add_argument("--rebuild", action="store_true", help="regenerate the drawn-digit set")
    args = parser.parse_args(argv)

    from core.model_store import load_model

    drawset = load_drawset(rebuild=args.rebuild)
    counts = ", ".join(f"{s} {n}" for s, n in drawset.meta["counts"].items())
    print(f"drawn digits: {len(drawset)} ({counts})")
    latency = preprocess_latency(drawset)
    print(f"canvas_to_mnist: p50 {latency['p50']:.2f} ms, p95 {latency['p95']:.2f} ms")
    inputs = prepare_inputs(drawset)
    for name in args.models:
        model = load_model(name)
        report = evaluate_drawings(model.predict_proba, drawset, inputs)
        print()
        print(format_report(name, mnist_test_accuracy(model.predict_proba), report))


if __name__ == "__main__":
    main()
