"""Scoring a saved model on the MNIST test set: accuracy, per-class accuracy, confusion matrix.

`python -m core.evaluate NAME` prints them. The numbers come from the test set only; this
module never trains or writes anything.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np


@dataclass
class Scores:
    """confusion[t, p] counts test images of true digit t predicted as p."""

    confusion: np.ndarray  # (10, 10) int

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.n, 1))

    @property
    def per_class(self) -> np.ndarray:
        """Recall per digit: correct / number of test images of that digit."""
        return np.diag(self.confusion) / np.maximum(self.confusion.sum(axis=1), 1)


def confusion_matrix(y_true, y_pred, k: int = 10) -> np.ndarray:
    """C[t, p] = #{i : y_i = t and yhat_i = p}."""
    C = np.zeros((k, k), dtype=np.int64)
    np.add.at(C, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return C


def predict_in_batches(model, X, batch: int = 10_000) -> np.ndarray:
    """(n, 10) probabilities for uint8 or float images, a batch at a time."""
    out = []
    for i in range(0, len(X), batch):
        xb = X[i : i + batch]
        xb = xb.astype(np.float32) / 255 if xb.dtype == np.uint8 else xb
        out.append(model.predict_proba(xb))
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)


def score(model, X, y) -> Scores:
    """Confusion matrix of a model on images X (uint8 or [0, 1] floats) with labels y."""
    return Scores(confusion_matrix(y, predict_in_batches(model, X).argmax(axis=1)))


def format_scores(s: Scores) -> str:
    lines = [
        f"Test accuracy: {s.accuracy:.4f} ({int(np.trace(s.confusion))}/{s.n})",
        "",
        "Per digit:  " + "  ".join(f"{d}: {a:.3f}" for d, a in enumerate(s.per_class)),
        "",
        "Confusion matrix (rows: true digit, columns: predicted)",
        "      " + "".join(f"{p:>6}" for p in range(10)),
    ]
    for t in range(10):
        lines.append(f"{t:>6}" + "".join(f"{v:>6}" for v in s.confusion[t]))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m core.evaluate", description="Score a saved model on the MNIST test set."
    )
    ap.add_argument("name", nargs="?", default="default", help="model name in weights/")
    args = ap.parse_args(argv)
    from core.data import DataUnavailable, load_mnist
    from core.model_store import ModelFileError, load_model

    try:
        model = load_model(args.name)
        _, _, x_test, y_test = load_mnist()
    except (ModelFileError, ValueError, DataUnavailable) as e:
        print(e, file=sys.stderr)
        return 2
    print(f"Model {model.description}")
    print(format_scores(score(model, x_test, y_test)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
