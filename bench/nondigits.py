"""Drawings that are NOT one readable digit, drawn the way people draw on the 280x280 canvas.

Owns generating that set, reproducibly from a seed; it never scores a reader (that is
bench/reading_accuracy.py) and never trains (core/reading.py's gate training borrows it, with
its own seed, MNIST's training digits and the other half of the fonts). Pens, placement and
anti-aliasing come from bench/drawset.py, so a non-digit looks like a digit in every way except
its shape. Categories, each with the reason a reader should give:

  letters      letters that do not look like a digit (no O, I, l, S, Z, B, G, q, g ...), in
               handwriting fonts and as hand-drawn strokes;              -> not a digit
  scribbles    tangles, loops and zigzags a hand makes at random;        -> not a digit
  shapes       triangles, squares, stars, arrows, hearts, grids ...;     -> not a digit
  dots         one click or dab with a wide pen;                         -> not a digit / too small
  pairs        two MNIST digits side by side, apart or touching;         -> more than one
  tiny         one MNIST digit whose ink spans 12-34 px;                -> too small
  faint        one MNIST digit drawn in grey ink (8-30% white);          -> too faint

    python bench/nondigits.py [--seed N]     # build one set, print it, save a preview sheet
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

if __package__ in (None, ""):  # run as `python bench/nondigits.py`: make `core` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import drawset as ds  # noqa: E402
from core.fileio import atomic_write_bytes  # noqa: E402
from core.paths import data_dir  # noqa: E402

TUNE_SEED = 1101  # the set thresholds are tuned on
EVAL_SEED = 2202  # the set figures are reported on
PER_CATEGORY = 200

CATEGORIES = ("letters", "scribbles", "shapes", "dots", "pairs", "tiny", "faint")

# Letters whose handwritten shapes are not digits. Left out: O o D Q (0), I l J j T t (1, 7),
# Z z (2), S s (5), G b (6), B (8), g q a (9), and y Y, whose tail makes a 4 or a 9.
LETTERS = "ACEFHKMNPRUVWXcefhkmnruvwx"

# Hand-drawn letters and shapes as stroke templates in a box 1 tall ((x, y), y down), drawn
# with drawset's wobbly-pen renderer, like its digit styles.
LETTER_STROKES = {
    "A": [[(0.0, 1.0), (0.35, 0.0), (0.7, 1.0)], [(0.15, 0.6), (0.55, 0.6)]],
    "E": [[(0.6, 0.0), (0.0, 0.0), (0.0, 1.0), (0.6, 1.0)], [(0.0, 0.5), (0.45, 0.5)]],
    "F": [[(0.6, 0.0), (0.0, 0.0), (0.0, 1.0)], [(0.0, 0.5), (0.45, 0.5)]],
    "H": [[(0.0, 0.0), (0.0, 1.0)], [(0.6, 0.0), (0.6, 1.0)], [(0.0, 0.5), (0.6, 0.5)]],
    "K": [[(0.0, 0.0), (0.0, 1.0)], [(0.55, 0.0), (0.02, 0.55), (0.6, 1.0)]],
    "M": [[(0.0, 1.0), (0.05, 0.0), (0.4, 0.6), (0.75, 0.0), (0.8, 1.0)]],
    "N": [[(0.0, 1.0), (0.0, 0.0), (0.6, 1.0), (0.6, 0.0)]],
    "R": [[(0.0, 1.0), (0.0, 0.0), (0.45, 0.05), (0.5, 0.3), (0.0, 0.5), (0.55, 1.0)]],
    "W": [[(0.0, 0.0), (0.2, 1.0), (0.45, 0.35), (0.7, 1.0), (0.9, 0.0)]],
    "X": [[(0.0, 0.0), (0.7, 1.0)], [(0.7, 0.0), (0.0, 1.0)]],
    "V": [[(0.0, 0.0), (0.35, 1.0), (0.7, 0.0)]],
    "k": [[(0.0, 0.0), (0.0, 1.0)], [(0.45, 0.45), (0.02, 0.75), (0.5, 1.0)]],
    "h": [[(0.0, 0.0), (0.0, 1.0)], [(0.0, 0.6), (0.25, 0.45), (0.45, 0.55), (0.45, 1.0)]],
}


def _circle(n: int = 24, cx: float = 0.5, cy: float = 0.5, r: float = 0.5, turns: float = 1.0):
    t = np.linspace(0, 2 * np.pi * turns, n)
    return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in t]


def _star() -> list:
    angles = -np.pi / 2 + np.arange(6) * 4 * np.pi / 5  # every second point of a pentagon
    return [(0.5 + 0.5 * np.cos(a), 0.5 + 0.5 * np.sin(a)) for a in angles]


def _heart() -> list:
    t = np.linspace(0, 2 * np.pi, 40)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return list(zip((x + 17) / 34, (y + 17) / 30, strict=True))


def _spiral() -> list:
    t = np.linspace(0, 5 * np.pi, 60)
    r = 0.5 * t / t[-1]
    return list(zip(0.5 + r * np.cos(t), 0.5 + r * np.sin(t), strict=True))


SHAPES = {
    "triangle": [[(0.5, 0.0), (1.0, 1.0), (0.0, 1.0), (0.5, 0.0)]],
    "square": [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]],
    "star": [_star()],
    "plus": [[(0.5, 0.0), (0.5, 1.0)], [(0.0, 0.5), (1.0, 0.5)]],
    "arrow": [[(0.0, 0.5), (1.2, 0.5)], [(0.85, 0.15), (1.2, 0.5), (0.85, 0.85)]],
    "heart": [_heart()],
    "spiral": [_spiral()],
    "zigzag": [[(0.0, 0.0), (0.3, 1.0), (0.6, 0.0), (0.9, 1.0), (1.2, 0.0), (1.5, 1.0)]],
    "wave": [[(x, 0.5 + 0.5 * np.sin(2 * np.pi * x)) for x in np.linspace(0, 2, 30)]],
    "grid": [
        [(0.33, 0.0), (0.33, 1.0)],
        [(0.67, 0.0), (0.67, 1.0)],
        [(0.0, 0.33), (1.0, 0.33)],
        [(0.0, 0.67), (1.0, 0.67)],
    ],
    "dash": [[(0.0, 0.5), (1.0, 0.45)]],
    "smiley": [
        _circle(),
        _circle(4, 0.33, 0.35, 0.04),
        _circle(4, 0.67, 0.35, 0.04),
        [(0.25, 0.65), (0.5, 0.8), (0.75, 0.65)],
    ],
    "house": [[(0.0, 1.0), (0.0, 0.4), (0.5, 0.0), (1.0, 0.4), (1.0, 1.0), (0.0, 1.0)]],
    "envelope": [
        [(0.0, 0.0), (1.4, 0.0), (1.4, 1.0), (0.0, 1.0), (0.0, 0.0), (0.7, 0.55), (1.4, 0.0)]
    ],
}


@dataclass(frozen=True)
class NonDigits:
    """Non-digit drawings, with what each one is."""

    canvases: np.ndarray  # (n, 280, 280) uint8: ink, white on black
    category: np.ndarray  # (n,) str: one of CATEGORIES
    detail: np.ndarray  # (n,) str: the letter and font, the shape, "mnist #i and #j", ...
    seed: int

    def __len__(self) -> int:
        return len(self.category)


# --- fonts: two halves, so the gate never sees the fonts it is scored on ----------------------


@cache
def _letter_fonts() -> tuple[list[Path], list[Path]]:
    """(training half, held-out half) of drawset's fonts that are installed."""
    found, _ = ds.available_fonts()
    paths = [path for _, path in found]
    return paths[0::2], paths[1::2]


@cache
def _has_glyph(path: Path, char: str) -> bool:
    """True when the font draws `char`, not its 'missing glyph' box."""
    shape = np.asarray(ds._glyph(path, 48, char).resize((16, 24)))
    tofu = np.asarray(ds._glyph(path, 48, "\ue000").resize((16, 24)))
    return shape.any() and not np.array_equal(shape, tofu)


# --- one drawing of each kind ------------------------------------------------------------------


def _letter(rng: np.random.Generator, fonts: list[Path]) -> tuple[np.ndarray, str]:
    """A letter in a font (three times in four when fonts exist) or drawn as strokes."""
    if fonts and rng.random() < 0.75:
        for _ in range(20):
            char = LETTERS[rng.integers(len(LETTERS))]
            path = fonts[rng.integers(len(fonts))]
            if _has_glyph(path, char):
                return ds._font_digit(rng, path, char), f"{char} in {path.name}"
    char = list(LETTER_STROKES)[rng.integers(len(LETTER_STROKES))]
    ink, _ = ds._style_digit(rng, LETTER_STROKES[char])
    return ink, f"{char} drawn"


def _scribble(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A random smooth tangle: a walk whose heading turns a little at every step."""
    kind = rng.choice(["tangle", "loops", "hatching"])
    if kind == "hatching":  # back-and-forth strokes, as when shading
        n = rng.integers(4, 9)
        ys = np.linspace(0, 1, n) + rng.normal(0, 0.03, n)
        line = [(float(i % 2), float(y)) for i, y in enumerate(ys)]
        return ds._style_digit(rng, [line])[0], "hatching"
    steps = rng.integers(40, 120)
    turn = rng.normal(0, 0.5 if kind == "tangle" else 0.25, steps)
    if kind == "loops":
        turn += rng.choice([-1, 1]) * 0.35  # keeps turning one way: a chain of loops
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(turn)
    xy = np.cumsum(np.stack([np.cos(heading), np.sin(heading)], axis=1), axis=0)
    xy = (xy - xy.min(axis=0)) / max(float(np.ptp(xy, axis=0).max()), 1e-6)
    return ds._style_digit(rng, [[tuple(p) for p in xy]])[0], kind


def _shape(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    name = list(SHAPES)[rng.integers(len(SHAPES))]
    return ds._style_digit(rng, SHAPES[name])[0], name


def _dot(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """One click or a short dab with a wide pen, anywhere."""
    pen = rng.uniform(20, 60)
    y, x = rng.uniform(pen, ds.SIDE - pen, 2)
    dy, dx = rng.normal(0, pen / 4, 2)
    return ds._draw_pen([np.array([[y, x], [y + dy, x + dx]])], pen), f"dot {pen:.0f} px"


def _digit_lines(rng: np.random.Generator, image: np.ndarray, height: float):
    """An MNIST digit's skeleton as pen segments, `height` px tall, its box's top-left at 0."""
    points, segments = ds.mnist_skeleton(image)
    A = ds._random_affine(rng)
    centre = points.mean(axis=0)
    points = (points - centre) @ A.T  # (n, 2) @ (2, 2) -> (n, 2)
    segments = (segments - centre) @ A.T  # (m, 2, 2) @ (2, 2) -> (m, 2, 2)
    lo, hi = points.min(axis=0), points.max(axis=0)
    scale = height / max(hi[0] - lo[0], 1e-6)
    lines = list((segments - lo) * scale) + list(((points - lo) * scale)[:, None, :])
    return lines, (hi - lo) * scale  # [(k, 2) (y, x)], (height, width)


def _pair(rng, images, labels) -> tuple[np.ndarray, str]:
    """Two digits side by side, sometimes touching or overlapping a little."""
    i, j = rng.integers(len(images), size=2)
    height = rng.uniform(0.3, 0.6) * ds.SIDE
    pen = min(ds._pen_width(rng), height / 4)
    first, (h1, w1) = _digit_lines(rng, images[i], height)
    second, (h2, w2) = _digit_lines(rng, images[j], height * rng.uniform(0.85, 1.15))
    gap = rng.uniform(-0.1, 0.5) * height
    width = w1 + gap + w2
    dy = rng.uniform(0, 0.15) * height  # the second digit a little lower (or the first)
    tall = max(h1, h2) + dy
    fit = min(1.0, (ds.SIDE - pen - 4) / width, (ds.SIDE - pen - 4) / tall)
    y, x = ds._place_box(rng, tall * fit + pen, width * fit + pen)
    origin = np.array([y, x]) + pen / 2
    low = rng.random() < 0.5
    lines = [line * fit + origin + [dy * fit * low, 0] for line in first]
    lines += [line * fit + origin + [dy * fit * (not low), (w1 + gap) * fit] for line in second]
    ink = ds._draw_pen(lines, pen)
    return ink, f"{labels[i]}{labels[j]} (mnist #{i} and #{j})"


def _tiny(rng, images, labels) -> tuple[np.ndarray, str]:
    """One digit whose ink spans 12-34 px on the canvas (pen included), anywhere."""
    i = rng.integers(len(images))
    span = rng.uniform(12, 34)
    pen = rng.uniform(3, min(16.0, span / 2))
    lines, (h, w) = _digit_lines(rng, images[i], 1.0)
    scale = (span - pen) / max(h, w)
    y, x = ds._place_box(rng, h * scale + pen, w * scale + pen)
    ink = ds._draw_pen([line * scale + [y + pen / 2, x + pen / 2] for line in lines], pen)
    return ink, f"{labels[i]} {span:.0f} px (mnist #{i})"


def _faint(rng, images, labels) -> tuple[np.ndarray, str]:
    """One ordinary digit, but in grey ink."""
    i = rng.integers(len(images))
    ink, _ = ds._stroke_digit(rng, images[i])
    level = rng.uniform(0.08, 0.3)
    return (ink * level).round().astype(np.uint8), f"{labels[i]} at {level:.0%} (mnist #{i})"


# --- the set -----------------------------------------------------------------------------------


def build_nondigits(
    seed: int,
    per_category: int = PER_CATEGORY,
    fonts: str = "held-out",
    digits: str = "test",
    categories: tuple[str, ...] = CATEGORIES,
) -> NonDigits:
    """`per_category` drawings of each category, reproducible from `seed`.

    `fonts` picks the half of the fonts letters are drawn in ("training" or "held-out");
    `digits` picks the MNIST digits pairs, tiny and faint drawings are made of ("train" or
    "test"). The benchmark uses held-out fonts and test digits; the gate trains on the others.
    """
    train_fonts, held_out = _letter_fonts()
    letter_fonts = train_fonts if fonts == "training" else held_out
    from core.data import load_mnist

    x_train, y_train, x_test, y_test = load_mnist()
    images, labels = (x_train, y_train) if digits == "train" else (x_test, y_test)
    makers = {
        "letters": lambda r: _letter(r, letter_fonts),
        "scribbles": _scribble,
        "shapes": _shape,
        "dots": _dot,
        "pairs": lambda r: _pair(r, images, labels),
        "tiny": lambda r: _tiny(r, images, labels),
        "faint": lambda r: _faint(r, images, labels),
    }
    streams = np.random.SeedSequence(seed).spawn(len(CATEGORIES))  # one per category
    canvases, category, detail = [], [], []
    for name, stream in zip(CATEGORIES, streams, strict=True):
        if name not in categories:
            continue
        rng = np.random.default_rng(stream)
        for _ in range(per_category):
            ink, what = makers[name](rng)
            canvases.append(ink)
            category.append(name)
            detail.append(what)
    return NonDigits(np.stack(canvases), np.array(category), np.array(detail), seed)


def preview_sheet(nondigits: NonDigits, per_row: int = 20, rows_per_category: int = 1):
    """A contact sheet: a row of each category, every canvas shrunk to 70 px."""
    cell = 70
    picks = [
        np.flatnonzero(nondigits.category == c)[: per_row * rows_per_category]
        for c in dict.fromkeys(nondigits.category.tolist())
    ]
    sheet = Image.new("L", (per_row * cell, len(picks) * rows_per_category * cell), 40)
    for row, p in enumerate(picks):
        for j, i in enumerate(p):
            tile = Image.fromarray(nondigits.canvases[i]).resize((cell - 2, cell - 2))
            y = (row * rows_per_category + j // per_row) * cell + 1
            sheet.paste(tile, ((j % per_row) * cell + 1, y))
    return sheet


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=EVAL_SEED)
    parser.add_argument("--per-category", type=int, default=PER_CATEGORY)
    args = parser.parse_args(argv)
    nondigits = build_nondigits(args.seed, args.per_category)
    counts = {c: int((nondigits.category == c).sum()) for c in CATEGORIES}
    print(f"{len(nondigits)} non-digits, seed {args.seed}: {counts}")
    train_fonts, held_out = _letter_fonts()
    print(f"letters in {len(held_out)} held-out fonts ({len(train_fonts)} kept for training)")
    buf = io.BytesIO()
    preview_sheet(nondigits).save(buf, format="PNG")
    out = atomic_write_bytes(data_dir() / "drawset" / f"nondigits-{args.seed}.png", buf.getvalue())
    print(f"preview in {out}")


if __name__ == "__main__":
    main()
