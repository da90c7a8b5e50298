"""Reading a drawing honestly: which digit, or that it cannot tell and why.

Owns the decision on top of the 10-class model: ink layout on the canvas (empty, too faint, too
small, more than one digit), a small separate "is this a digit at all?" gate network, and the
"unsure" threshold on the model's own probabilities. It never imports streamlit and never
changes the model in use; the gate lives in weights/reader/, outside the list of models.

    python -m core.reading --train-gate     # remake weights/reader/gate.npz + gate.json
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import paths
from core.fileio import atomic_write_bytes, atomic_write_json, atomic_write_npz
from core.network import Network, init_network, loss_and_grads
from core.preprocess import INK_THRESHOLD, check_canvas, ink_intensity, preprocess_steps

# Reasons. OK is the only one that comes with a digit.
OK = "ok"
EMPTY = "empty"
TOO_FAINT = "too_faint"
TOO_SMALL = "too_small"
MORE_THAN_ONE = "more_than_one"
NOT_A_DIGIT = "not_a_digit"
UNSURE = "unsure"
REASONS = (OK, EMPTY, TOO_FAINT, TOO_SMALL, MORE_THAN_ONE, NOT_A_DIGIT, UNSURE)


@dataclass(frozen=True)
class Thresholds:
    """Where the reader draws its lines. bench/reading_accuracy.py measures them; its `--tune`
    picks the gate and unsure ones on a tuning set of drawings and reports on a second set made
    from other seeds."""

    # Too faint: the brightest tenth of the ink is under this. The canvas's pen is white (1.0);
    # anti-aliasing only greys a stroke's edges, so a real stroke's core is always near 1.
    faint_level: float = 0.45
    # Too small: the ink's longest side is under this share of the canvas (35 px of 280). The
    # smallest of bench/drawset.py's 2,800 digits spans 38 px (a font's digit, tilted); at
    # 35 px a 20 px pen leaves no room for a digit's shape.
    small_fraction: float = 0.125
    # Not a digit: the gate's probability that the drawing is a digit is under this. Tuned
    # (`bench/reading_accuracy.py --tune`) to refuse the most non-digits of the tuning set while
    # refusing under 0.7% of its real digits.
    gate: float = 0.1
    # Unsure: the model's top probability is under this (tuned with `gate`).
    unsure: float = 0.45


THRESHOLDS = Thresholds()

# More than one: two parts of the drawing, each at least this share of the whole drawing's
# height, side by side with no column in common.
PART_HEIGHT = 0.55
PARTS_BLOCK = 4  # connected parts are found on a 4x coarser grid (70x70 for the 280 canvas)
PARTS_INK = 0.25  # ink that counts as stroke when finding parts (anti-aliased haze does not)
PARTS_MIN_BLOCKS = 3  # smaller parts are specks (a stray touch), not a digit


@dataclass(frozen=True, eq=False)
class Reading:
    """What a drawing says: a digit, or None and the reason, with the numbers behind it."""

    digit: int | None  # the digit read, or None when the reader cannot tell
    reason: str  # one of REASONS
    probs: np.ndarray | None  # (10,) the model's probabilities (None when nothing to read)
    best: int | None  # the model's top guess, even when refused
    runner_up: int | None  # the second guess (shown beside `best` when unsure)
    size: float  # the ink's longest side over the canvas's side, 0 when empty
    ink_level: float  # how white the brightest tenth of the ink is, 0-1
    parts: int  # digit-sized parts side by side (2+ means more than one digit)
    digit_likeness: float | None  # the gate's P(digit), None without a gate

    def top(self, k: int = 3) -> list[tuple[int, float]]:
        """The k likeliest digits as (digit, probability), likeliest first."""
        if self.probs is None:
            return []
        order = np.argsort(-self.probs, kind="stable")[:k]
        return [(int(d), float(self.probs[d])) for d in order]


# --- ink layout ------------------------------------------------------------------------------


def ink_level(ink: np.ndarray) -> float:
    """The 90th percentile of the inked pixels' intensity: ~1 for the app's white pen."""
    inked = ink[ink > INK_THRESHOLD]
    return float(np.percentile(inked, 90)) if inked.size else 0.0


def _label(mask: np.ndarray) -> np.ndarray:
    """8-connected component labels of a bool (h, w) mask: each pixel gets the smallest flat
    index in its part (-1 off the mask). Min-propagation plus pointer jumping: a few dozen
    NumPy passes on a 70x70 grid."""
    h, w = mask.shape
    big = h * w
    lab = np.where(mask, np.arange(big).reshape(h, w), big)
    while True:
        p = np.pad(lab, 1, constant_values=big)
        low = lab.copy()
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                np.minimum(low, p[dy : dy + h, dx : dx + w], out=low)
        low = np.where(mask, low, big)
        flat = low.ravel()
        on = flat < big
        flat[on] = flat[flat[on]]  # jump: take the label of the pixel my label names
        if np.array_equal(low, lab):
            return np.where(mask, lab, -1)
        lab = low


def part_boxes(ink: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(top, left, bottom, right) canvas boxes of the drawing's separate parts, left to right.

    Found on a coarser grid (PARTS_BLOCK), so strokes a few pixels apart count as touching,
    and specks under PARTS_MIN_BLOCKS blocks are ignored.
    """
    k = PARTS_BLOCK
    h, w = ink.shape
    H, W = -(-h // k), -(-w // k)
    padded = np.zeros((H * k, W * k), dtype=bool)
    padded[:h, :w] = ink > PARTS_INK
    coarse = padded.reshape(H, k, W, k).any(axis=(1, 3))
    lab = _label(coarse)
    boxes = []
    for value in np.unique(lab[lab >= 0]):
        ys, xs = np.nonzero(lab == value)
        if ys.size >= PARTS_MIN_BLOCKS:
            top, left = ys.min() * k, xs.min() * k
            boxes.append((int(top), int(left), int(ys.max() + 1) * k, int(xs.max() + 1) * k))
    return sorted(boxes, key=lambda b: b[1])


def side_by_side(boxes: list[tuple[int, int, int, int]]) -> int:
    """How many digit-sized parts stand side by side: parts at least PART_HEIGHT of the whole
    drawing's height, no two sharing a column. 1 for an ordinary digit."""
    if not boxes:
        return 0
    height = max(b[2] for b in boxes) - min(b[0] for b in boxes)
    tall = [b for b in boxes if b[2] - b[0] >= PART_HEIGHT * height]
    count, right = 0, -1
    for _, left, _, r in tall:  # already sorted by left edge
        if left >= right:  # starts after the previous tall part ended: a new column of ink
            count += 1
            right = r
        else:
            right = max(right, r)
    return count


# --- the gate: is it a digit at all? ----------------------------------------------------------

GATE_FORMAT = 1
GATE_SIZES = [784, 512, 2]  # output 1 is "a digit", output 0 "not a digit"


def gate_dir() -> Path:
    """The committed reader files (never the user's model folder, so they never list as models)."""
    return paths.shipped_weights_dir() / "reader"


class GateFileError(ValueError):
    """The gate's files are missing, damaged or do not belong together."""


_gate_cache: dict[str, tuple[tuple, Network]] = {}


def load_gate(directory: Path | None = None) -> Network:
    """The digit / not-a-digit network from gate.npz (arrays, allow_pickle=False) + gate.json."""
    d = gate_dir() if directory is None else Path(directory)
    npz, js = d / "gate.npz", d / "gate.json"
    if not npz.exists() or not js.exists():
        raise GateFileError(
            f"No reader gate in {d}; make it with `python -m core.reading --train-gate`."
        )
    stamp = (npz.stat().st_mtime_ns, npz.stat().st_size, js.stat().st_mtime_ns)
    hit = _gate_cache.get(str(npz))
    if hit and hit[0] == stamp:
        return hit[1]
    try:
        meta = json.loads(js.read_text(encoding="utf-8"))
        blob = npz.read_bytes()
        if (
            meta.get("format_version") != GATE_FORMAT
            or meta.get("sizes") != GATE_SIZES
            or meta.get("activation") != "relu"
        ):
            raise GateFileError(f"{js} is not a reader gate of this app.")
        if hashlib.sha256(blob).hexdigest() != meta.get("npz_sha256"):
            raise GateFileError(f"{npz} does not match {js.name} (checksum differs).")
        with np.load(io.BytesIO(blob), allow_pickle=False) as f:
            layers = range(1, len(GATE_SIZES))
            W = [f[f"W{l}"].astype(np.float32) for l in layers]
            b = [f[f"b{l}"].astype(np.float32) for l in layers]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        if isinstance(e, GateFileError):
            raise
        raise GateFileError(f"The reader gate in {d} is damaged ({e}).") from e
    net = Network(list(GATE_SIZES), meta["activation"], W, b)
    shapes = [(n_in, n_out) for n_in, n_out in zip(GATE_SIZES[:-1], GATE_SIZES[1:], strict=True)]
    for (n_in, n_out), w, c in zip(shapes, W, b, strict=True):
        if w.shape != (n_in, n_out) or c.shape != (n_out,):
            raise GateFileError(f"{npz} holds arrays of the wrong shape.")
    _gate_cache[str(npz)] = (stamp, net)
    return net


def _shipped_gate() -> Network | None:
    """The committed gate, or None (with a warning) when it is missing or damaged: the reader
    then still says empty, faint, small, more than one and unsure, just not "not a digit"."""
    try:
        return load_gate()
    except GateFileError as e:
        warnings.warn(f"{e} Reading without the not-a-digit check.", stacklevel=3)
        return None


def digit_likeness(gate: Network, X: np.ndarray) -> np.ndarray:
    """P(a digit) for (n, 784) MNIST-style inputs -> (n,)."""
    return gate.predict_proba(X)[:, 1]


# --- the reading -------------------------------------------------------------------------------

_SHIPPED = object()  # read_canvas's default: the committed gate


def decide(
    level: float,
    size: float,
    parts: int,
    likeness: float | None,
    top_p: float,
    thresholds: Thresholds = THRESHOLDS,
) -> str:
    """The reason for a non-empty drawing, checks in order: too faint, too small, more than one
    digit, not a digit (the gate; skipped when `likeness` is None), unsure, else OK."""
    t = thresholds
    if level < t.faint_level:
        return TOO_FAINT
    if size < t.small_fraction:
        return TOO_SMALL
    if parts >= 2:
        return MORE_THAN_ONE
    if likeness is not None and likeness < t.gate:
        return NOT_A_DIGIT
    if top_p < t.unsure:
        return UNSURE
    return OK


def read_canvas(
    rgba: np.ndarray, model, gate=_SHIPPED, thresholds: Thresholds = THRESHOLDS
) -> Reading:
    """Read one (H, W, 4) uint8 canvas with `model` (anything with predict_proba).

    Empty (or a speck) first, then `decide`'s checks. `gate=None` skips the not-a-digit check.
    A canvas that is not RGBA or larger than 1024 x 1024 is refused (ValueError) before any work.
    """
    rgba = check_canvas(rgba)
    gate = _shipped_gate() if gate is _SHIPPED else gate
    ink = ink_intensity(rgba)
    steps = preprocess_steps(rgba)
    if steps is None:
        return Reading(None, EMPTY, None, None, None, 0.0, ink_level(ink), 0, None)
    top, left, bottom, right = steps.box
    size = max(bottom - top, right - left) / min(ink.shape)
    level = ink_level(ink)
    parts = side_by_side(part_boxes(ink))
    x = steps.centred.reshape(1, 784)
    probs = np.asarray(model.predict_proba(x))[0]
    order = np.argsort(-probs, kind="stable")
    best, second = int(order[0]), int(order[1])
    likeness = float(digit_likeness(gate, x)[0]) if gate is not None else None
    reason = decide(level, size, parts, likeness, float(probs[best]), thresholds)
    return Reading(
        digit=best if reason == OK else None,
        reason=reason,
        probs=probs,
        best=best,
        runner_up=second,
        size=float(size),
        ink_level=level,
        parts=parts,
        digit_likeness=likeness,
    )


# --- training the gate -------------------------------------------------------------------------

GATE_SEED = 3303  # the gate's own drawings; the benchmark's sets use other seeds
GATE_NEGATIVES = 3000  # per category of generated non-digits
GATE_STROKES = 8000  # MNIST training digits redrawn with a pen on the canvas
GATE_FONT_DIGITS = 3000  # digits in the training half of the fonts (the other half is held out)
GATE_STEPS = 8000
GATE_BATCH = 256
GATE_LR = 1e-3


def _canvases_to_inputs(canvases: np.ndarray) -> np.ndarray:
    """(n, H, W) uint8 ink -> (n, 784) MNIST-style inputs; empty canvases are dropped."""
    rows = []
    for ink in canvases:
        rgba = np.dstack([ink, ink, ink, np.full_like(ink, 255)])
        steps = preprocess_steps(rgba)
        if steps is not None:
            rows.append(steps.centred.ravel())
    return np.array(rows, dtype=np.float32)


def gate_training_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(digits (n, 784), non-digits (m, 784)) for the gate, made in code from GATE_SEED.

    Digits: MNIST's 60,000 training images, GATE_STROKES of them redrawn as pen strokes on
    the canvas, and GATE_FONT_DIGITS digits in the training half of the fonts. Non-digits:
    bench/nondigits.py's letters (in the training half of the fonts), scribbles, shapes, dots
    and pairs of MNIST training digits. Needs the fonts of
    bench/drawset.py (`scripts/setup.sh bench`) and MNIST; the shipped gate is committed, so
    the app and the tests need neither.
    """
    from bench import drawset as ds  # the pen renderer is a bench tool; only training needs it
    from bench.nondigits import _letter_fonts, build_nondigits
    from core.data import load_mnist

    x_train, _, _, _ = load_mnist()
    picks = rng.choice(len(x_train), GATE_STROKES, replace=False)
    strokes = np.stack([ds._stroke_digit(rng, x_train[i])[0] for i in picks])
    fonts, _ = _letter_fonts()
    in_fonts = np.stack(
        [
            ds._font_digit(rng, fonts[rng.integers(len(fonts))], int(rng.integers(10)))
            for _ in range(GATE_FONT_DIGITS)
        ]
    )
    digits = np.concatenate(
        [
            x_train.astype(np.float32) / 255,
            _canvases_to_inputs(strokes),
            _canvases_to_inputs(in_fonts),
        ]
    )
    others = build_nondigits(
        GATE_SEED,
        GATE_NEGATIVES,
        fonts="training",
        digits="train",
        categories=("letters", "scribbles", "shapes", "dots", "pairs"),
    )
    return digits, _canvases_to_inputs(others.canvases)


def train_gate(digits: np.ndarray, others: np.ndarray, rng: np.random.Generator) -> Network:
    """A 784-256-2 ReLU network, Adam, balanced batches (half digits, half not), cosine lr."""
    from core.augment import augment_batch
    from core.optim import Optimizer, learning_rate

    net = init_network(GATE_SIZES, "relu", rng)
    opt = Optimizer("adam")
    state = opt.init(net)
    half = GATE_BATCH // 2
    y = np.repeat(np.array([1, 0]), half)
    for step in range(GATE_STEPS):
        pos = augment_batch(digits[rng.integers(len(digits), size=half)], "affine", rng)
        neg = augment_batch(others[rng.integers(len(others), size=half)], "affine", rng)
        X = np.concatenate([pos, neg])  # (256, 784)
        loss, grads, _ = loss_and_grads(net, X, y)
        opt.step(net, grads, state, learning_rate(GATE_LR, "cosine", step / GATE_STEPS))
        if step % 500 == 0:
            print(f"  step {step:5d}  loss {loss:.4f}")
    return net


def save_gate(net: Network, meta: dict, directory: Path | None = None) -> Path:
    """gate.npz then gate.json, each atomically; the JSON holds the .npz's checksum, so a pair
    that does not belong together is refused on load."""
    d = gate_dir() if directory is None else Path(directory)
    buf = io.BytesIO()
    arrays = {
        f"{k}{l}": a
        for l, (w, c) in enumerate(zip(net.W, net.b, strict=True), 1)
        for k, a in (("W", w), ("b", c))
    }
    np.savez_compressed(buf, **arrays)
    blob = buf.getvalue()
    atomic_write_bytes(d / "gate.npz", blob)
    atomic_write_json(
        d / "gate.json",
        {
            "format_version": GATE_FORMAT,
            "sizes": list(net.sizes),
            "activation": net.activation,
            "npz_sha256": hashlib.sha256(blob).hexdigest(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **meta,
        },
    )
    return d / "gate.npz"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-gate", action="store_true", help="remake weights/reader/gate")
    parser.add_argument(
        "--reuse-data", action="store_true", help="train on the drawings cached by a last run"
    )
    args = parser.parse_args(argv)
    if not args.train_gate:
        parser.print_help()
        return
    # Drawings and training have their own random streams, so cached drawings train the same.
    data_rng, train_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(GATE_SEED).spawn(2)
    )
    cache = paths.data_dir() / "reader" / f"gate-data-{GATE_SEED}.npz"
    started = time.perf_counter()
    if args.reuse_data and cache.exists():
        with np.load(cache, allow_pickle=False) as f:
            digits, others = f["digits"], f["others"]
    else:
        print("making the gate's drawings...")
        digits, others = gate_training_data(data_rng)
        atomic_write_npz(cache, compressed=False, digits=digits, others=others)
    print(
        f"  {len(digits)} digits, {len(others)} non-digits ({time.perf_counter() - started:.0f} s)"
    )
    net = train_gate(digits, others, train_rng)
    p_digits = digit_likeness(net, digits[::10])
    p_others = digit_likeness(net, others)
    summary = {
        "command": "python -m core.reading --train-gate",
        "sizes_note": "784-512-2 ReLU, Adam, balanced batches, affine augmentation",
        "seed": GATE_SEED,
        "digits": len(digits),
        "non_digits": len(others),
        "steps": GATE_STEPS,
        "train_digits_kept": float((p_digits >= THRESHOLDS.gate).mean()),
        "train_non_digits_refused": float((p_others < THRESHOLDS.gate).mean()),
    }
    path = save_gate(net, summary)
    print(f"saved {path}: {summary}")


if __name__ == "__main__":
    main()
