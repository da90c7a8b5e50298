"""How honestly the reader reads: non-digits refused, real digits wrongly refused, and accuracy
on the digits it does read, for core.reading.read_canvas with a model and the shipped gate.

Owns scoring `read_canvas` on two kinds of drawings: bench/nondigits.py's non-digits and
bench/drawset.py's drawn digits. It never trains and never writes a model. Two splits, made
from different seeds: `tune` (thresholds are chosen there, with --tune) and `eval` (the figures
reported; its drawn digits are the README's 2,800). The reference in the same run: today's
reader, the plain argmax, which refuses nothing.

    python bench/reading_accuracy.py [--model NAME] [--tune]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python bench/reading_accuracy.py`: make `core` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.drawset import SEED as DRAW_SEED  # noqa: E402
from bench.drawset import ink_to_rgba, load_drawset  # noqa: E402
from bench.nondigits import (  # noqa: E402
    CATEGORIES,
    EVAL_SEED,
    TUNE_SEED,
    _letter_fonts,
    build_nondigits,
)
from core import reading  # noqa: E402

DRAW_TUNE_SEED = 4404  # a second drawn-digit set, for tuning
SPLITS = {"tune": (DRAW_TUNE_SEED, TUNE_SEED), "eval": (DRAW_SEED, EVAL_SEED)}
MAX_WRONGLY_REFUSED = 0.007  # --tune keeps real digits refused under this on the tuning split

# What a reader should say for each category; any refusal counts as refused.
EXPECTED = {
    "letters": (reading.NOT_A_DIGIT,),
    "scribbles": (reading.NOT_A_DIGIT,),
    "shapes": (reading.NOT_A_DIGIT,),
    "dots": (reading.NOT_A_DIGIT, reading.TOO_SMALL),
    "pairs": (reading.MORE_THAN_ONE,),
    "tiny": (reading.TOO_SMALL,),
    "faint": (reading.TOO_FAINT,),
}


@dataclass
class Readings:
    """Everything `decide` needs for each drawing, so thresholds can be replayed cheaply."""

    level: np.ndarray
    size: np.ndarray
    parts: np.ndarray
    likeness: np.ndarray
    probs: np.ndarray  # (n, 10)
    empty: np.ndarray  # bool

    def reasons(self, thresholds: reading.Thresholds) -> np.ndarray:
        out = []
        for i in range(len(self.level)):
            if self.empty[i]:
                out.append(reading.EMPTY)
            else:
                out.append(
                    reading.decide(
                        float(self.level[i]),
                        float(self.size[i]),
                        int(self.parts[i]),
                        float(self.likeness[i]),
                        float(self.probs[i].max()),
                        thresholds,
                    )
                )
        return np.array(out)


def collect(canvases: np.ndarray, model, gate) -> Readings:
    """Read every (n, 280, 280) ink canvas once, keeping the numbers behind each reading."""
    rows = [reading.read_canvas(ink_to_rgba(ink), model, gate) for ink in canvases]
    return Readings(
        level=np.array([r.ink_level for r in rows]),
        size=np.array([r.size for r in rows]),
        parts=np.array([r.parts for r in rows]),
        likeness=np.array([r.digit_likeness if r.digit_likeness is not None else 1 for r in rows]),
        probs=np.stack([r.probs if r.probs is not None else np.zeros(10) for r in rows]),
        empty=np.array([r.reason == reading.EMPTY for r in rows]),
    )


def score(digits: Readings, labels, subset, others: Readings, category, t) -> dict:
    """Both sides for thresholds `t`."""
    d_reason = digits.reasons(t)
    o_reason = others.reasons(t)
    pred = digits.probs.argmax(axis=1)
    read = d_reason == reading.OK
    correct = pred == labels
    out = {
        "refused": float((o_reason != reading.OK).mean()),
        "wrongly_refused": float((~read).mean()),
        "read_accuracy": float(correct[read].mean()),
        "argmax_accuracy": float(correct.mean()),
        "errors_caught": float((~read[~correct]).mean()) if (~correct).any() else 0.0,
        "by_category": {},
        "by_subset": {},
        "digit_reasons": {r: int((d_reason == r).sum()) for r in reading.REASONS if r != "ok"},
    }
    for c in CATEGORIES:
        m = category == c
        out["by_category"][c] = (
            float((o_reason[m] != reading.OK).mean()),
            float(np.isin(o_reason[m], EXPECTED[c]).mean()),
            {r: int((o_reason[m] == r).sum()) for r in reading.REASONS},
        )
    for s in dict.fromkeys(subset.tolist()):
        m = subset == s
        out["by_subset"][s] = (
            float((~read[m]).mean()),
            float(correct[m & read].mean()),
            float(correct[m].mean()),
        )
    return out


def tune(digits: Readings, labels, subset, others: Readings, category) -> reading.Thresholds:
    """The gate and unsure thresholds that refuse the most non-digits while real digits
    refused stay under MAX_WRONGLY_REFUSED (the geometric ones are fixed by their reasons)."""
    best, best_refused = reading.THRESHOLDS, -1.0
    for g in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        for u in (0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6):
            t = replace(reading.THRESHOLDS, gate=g, unsure=u)
            s = score(digits, labels, subset, others, category, t)
            if s["wrongly_refused"] <= MAX_WRONGLY_REFUSED and s["refused"] > best_refused:
                best, best_refused = t, s["refused"]
    return best


def report(name: str, s: dict) -> str:
    lines = [
        f"{name}: non-digits refused {s['refused']:.1%} (target >= 90%), real digits "
        f"wrongly refused {s['wrongly_refused']:.2%} (target <= 1%)"
    ]
    lines.append(
        f"  accuracy on the digits it reads {s['read_accuracy']:.2%}; plain argmax on "
        f"all of them (today's reader) {s['argmax_accuracy']:.2%}; of argmax's "
        f"mistakes it refuses {s['errors_caught']:.0%}"
    )
    lines.append(f"  {'non-digits':12s} {'refused':>8s} {'as expected':>12s}   reasons")
    for c, (refused, expected, reasons) in s["by_category"].items():
        shown = ", ".join(f"{r} {n}" for r, n in reasons.items() if n)
        lines.append(f"  {c:12s} {refused:8.1%} {expected:12.1%}   {shown}")
    lines.append(f"  {'digits':20s} {'refused':>8s} {'acc read':>9s} {'argmax':>8s}")
    for sub, (refused, acc, plain) in s["by_subset"].items():
        lines.append(f"  {sub:20s} {refused:8.2%} {acc:9.2%} {plain:8.2%}")
    shown = ", ".join(f"{r} {n}" for r, n in s["digit_reasons"].items() if n)
    lines.append(f"  real digits refused, by reason: {shown or 'none'}")
    return "\n".join(lines)


def subsets(drawset) -> np.ndarray:
    """drawset's subsets, with the fonts split into the half the gate saw digits in and the
    held-out half (letters in the non-digit set come from the held-out half only)."""
    seen = {path.name for path in _letter_fonts()[0]}
    return np.array(
        [
            (f"fonts, {'gate saw' if d in seen else 'held out'}" if s == "fonts" else s)
            for s, d in zip(drawset.subset.tolist(), drawset.detail.tolist(), strict=True)
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--tune", action="store_true", help="pick gate/unsure on the tune split")
    args = parser.parse_args(argv)
    from core.model_store import load_model

    model, gate = load_model(args.model), reading.load_gate()
    splits = {}
    for split, (draw_seed, other_seed) in SPLITS.items():
        started = time.perf_counter()
        drawset = load_drawset(seed=draw_seed)
        nondigits = build_nondigits(other_seed)
        splits[split] = (
            collect(drawset.canvases, model, gate),
            drawset.labels.astype(np.int64),
            subsets(drawset),
            collect(nondigits.canvases, model, gate),
            nondigits.category,
        )
        print(
            f"{split}: {len(drawset)} drawn digits (seed {draw_seed}), {len(nondigits)} "
            f"non-digits (seed {other_seed}), read in {time.perf_counter() - started:.0f} s"
        )
    thresholds = reading.THRESHOLDS
    if args.tune:
        thresholds = tune(*splits["tune"])
        print(f"tuned on the tune split: {thresholds} (shipped: {reading.THRESHOLDS})")
    print(f"model {args.model}, thresholds {thresholds}")
    for split, data in splits.items():
        print()
        print(report(split, score(*data, thresholds)))


if __name__ == "__main__":
    main()
