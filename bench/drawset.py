"""A test set of digits drawn the way people draw on the app's 280x280 canvas, not scanned.

Owns generating, caching and loading that set; it never trains or scores a model (that is
bench/drawings_accuracy.py). Deterministic from SEED, NumPy + Pillow only. Three subsets:

  fonts    handwriting-style (and a few plain) fonts, any size, place, slant and stroke weight;
  strokes  MNIST *test* digits thinned to a skeleton and redrawn with a round pen of the app's
           widths, at any size and place on the canvas;
  styles   shapes MNIST rarely shows: a 7 with a crossbar, a 1 with flag and base, open and
           closed 4s, drawn from stroke templates.

The fonts come from Debian packages; a missing font is skipped with a note, so the set differs
between machines that lack some. To get them all:

  apt-get install fonts-comic-neue fonts-dkg-handwriting fonts-breip fonts-bwht \
    fonts-dancingscript fonts-humor-sans fonts-kaushanscript fonts-klee fonts-kristi \
    fonts-rufscript fonts-sjfonts fonts-tomsontalks fonts-yusei-magic fonts-urw-base35 \
    fonts-sil-andika fonts-cabin fonts-dejavu-core fonts-liberation fonts-freefont-ttf \
    fonts-opendyslexic

Run `python bench/drawset.py` to build it (about 20 s) into data/drawset/, print what is in
it and save a preview sheet; `--rebuild` ignores the cache.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

if __package__ in (None, ""):  # run as `python bench/drawset.py`: make `core` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.fileio import atomic_write_bytes, atomic_write_npz  # noqa: E402
from core.paths import data_dir  # noqa: E402

VERSION = 1  # bump when the generator changes, so stale caches are rebuilt
SEED = 20240611
SIDE = 280  # the app's canvas
SUPERSAMPLE = 4  # pens draw at 4x and are area-averaged down: a browser canvas's anti-aliasing
PER_DIGIT = {"fonts": 100, "strokes": 150}
PER_STYLE = 75

# Pen widths on the 280 px canvas: the app's slider spans about 10-40 px; people also reach for
# the extremes, so some digits get a 6 px hairline or a 45 px marker.
PEN_SLIDER = (10.0, 40.0)
PEN_THIN, PEN_THICK = 6.0, 45.0

# (apt package, font file). Outline-only "sketch" fonts (fonts-cabinsketch, fonts-femkeklaver)
# are left out on purpose: nobody draws hollow digits.
FONTS = [
    ("fonts-comic-neue", "ComicNeue-Regular.otf"),
    ("fonts-comic-neue", "ComicNeue-Bold.otf"),
    ("fonts-comic-neue", "ComicNeue-Italic.otf"),
    ("fonts-comic-neue", "ComicNeue-Light.otf"),
    ("fonts-dkg-handwriting", "dkg.ttf"),
    ("fonts-dkg-handwriting", "dkgBd.ttf"),
    ("fonts-breip", "Breip.ttf"),
    ("fonts-bwht", "BecauseWeBuild-Regular.otf"),
    ("fonts-bwht", "BecauseWeConnect-Regular.otf"),
    ("fonts-bwht", "BecauseWeCreate-Regular.otf"),
    ("fonts-bwht", "BecauseWeLearn-Regular.otf"),
    ("fonts-bwht", "BecauseWeMentor-Regular.otf"),
    ("fonts-bwht", "BecauseWeOrganize-Regular.otf"),
    ("fonts-dancingscript", "DancingScript-Regular.otf"),
    ("fonts-dancingscript", "DancingScript-Bold.otf"),
    ("fonts-humor-sans", "Humor-Sans.ttf"),
    ("fonts-kaushanscript", "KaushanScript-Regular.otf"),
    ("fonts-klee", "KleeOne-Regular.ttf"),
    ("fonts-klee", "KleeOne-SemiBold.ttf"),
    ("fonts-kristi", "Kristi.ttf"),
    ("fonts-rufscript", "Rufscript010.ttf"),
    ("fonts-sjfonts", "Delphine.ttf"),
    ("fonts-sjfonts", "SteveHand.ttf"),
    ("fonts-tomsontalks", "TomsonTalks.ttf"),
    ("fonts-yusei-magic", "YuseiMagic-Regular.ttf"),
    ("fonts-urw-base35", "Z003-MediumItalic.otf"),
    ("fonts-urw-base35", "NimbusSans-Regular.otf"),
    ("fonts-urw-base35", "NimbusSans-Italic.otf"),
    ("fonts-sil-andika", "Andika-Regular.ttf"),
    ("fonts-sil-andika", "Andika-Italic.ttf"),
    ("fonts-cabin", "Cabin-Regular.otf"),
    ("fonts-cabin", "Cabin-Italic.otf"),
    ("fonts-dejavu-core", "DejaVuSans.ttf"),
    ("fonts-dejavu-core", "DejaVuSans-Oblique.ttf"),
    ("fonts-liberation", "LiberationSans-Regular.ttf"),
    ("fonts-freefont-ttf", "FreeSans.ttf"),
    ("fonts-freefont-ttf", "FreeSansOblique.ttf"),
    ("fonts-opendyslexic", "OpenDyslexic-Regular.otf"),
]
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")

# Stroke templates for styles MNIST rarely shows, in a box 1 tall (x right, y down).
STYLES = {
    "7 with crossbar": (7, [[(0.0, 0.05), (0.6, 0.0), (0.2, 1.0)], [(0.15, 0.52), (0.6, 0.48)]]),
    "1 with flag and base": (
        1,
        [[(0.05, 0.25), (0.3, 0.0), (0.3, 1.0)], [(0.05, 1.0), (0.55, 1.0)]],
    ),
    "open 4": (4, [[(0.05, 0.0), (0.0, 0.62), (0.62, 0.6)], [(0.45, 0.1), (0.47, 1.0)]]),
    "closed 4": (4, [[(0.42, 1.0), (0.45, 0.0), (0.0, 0.65), (0.62, 0.65)]]),
}


@dataclass(frozen=True)
class Drawset:
    """Digits as drawn on the canvas, with where each one came from."""

    canvases: np.ndarray  # (n, 280, 280) uint8: ink, white on black
    labels: np.ndarray  # (n,) uint8
    subset: np.ndarray  # (n,) str: "fonts", "strokes" or "styles"
    detail: np.ndarray  # (n,) str: the font file, "mnist test #i", or the style's name
    pen: np.ndarray  # (n,) float32: pen width in canvas px (fonts: 0)
    meta: dict  # how it was made: seed, version, fonts used and skipped, counts

    def __len__(self) -> int:
        return len(self.labels)

    def rgba(self, i: int, transparent: bool = False) -> np.ndarray:
        """Canvas i as the app receives it: (280, 280, 4) uint8, white ink on black or on clear."""
        return ink_to_rgba(self.canvases[i], transparent)


def ink_to_rgba(ink: np.ndarray, transparent: bool = False) -> np.ndarray:
    """(H, W) uint8 ink -> (H, W, 4) RGBA, as streamlit-drawable-canvas returns it."""
    if transparent:
        white = np.where(ink > 0, 255, 0).astype(np.uint8)
        return np.dstack([white, white, white, ink])
    return np.dstack([ink, ink, ink, np.full_like(ink, 255)])


# ---------------------------------------------------------------------------------------------
# Placing a drawing on the canvas


def _place_box(rng: np.random.Generator, height: float, width: float) -> tuple[float, float]:
    """Top-left corner for a height x width box inside the canvas.

    Mostly anywhere; one time in three pushed against an edge or into a corner, where people
    who start drawing near the canvas's border leave their digits.
    """
    room_y, room_x = max(SIDE - height, 0.0), max(SIDE - width, 0.0)
    y, x = rng.uniform(0, room_y), rng.uniform(0, room_x)
    if rng.random() < 1 / 3:
        if rng.random() < 0.5:
            y = rng.choice([0.0, room_y])
        if rng.random() < 0.5:
            x = rng.choice([0.0, room_x])
    return float(y), float(x)


def _pen_width(rng: np.random.Generator) -> float:
    """Mostly the app's slider range, sometimes a hairline or a marker."""
    r = rng.random()
    if r < 0.15:
        return PEN_THIN
    if r < 0.30:
        return PEN_THICK
    return float(rng.uniform(*PEN_SLIDER))


def _random_affine(rng: np.random.Generator, max_degrees: float = 10.0) -> np.ndarray:
    """A (2, 2) mix of rotation, shear and aspect change, as hands vary."""
    t = np.deg2rad(rng.uniform(-max_degrees, max_degrees))
    rotation = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    shear = np.array([[1.0, 0.0], [rng.uniform(-0.2, 0.2), 1.0]])  # x += k * y: a slant
    aspect = np.diag([1.0, rng.uniform(0.8, 1.2)])  # (y, x) rows
    return rotation @ shear @ aspect


def _fit_on_canvas(
    rng: np.random.Generator, points: np.ndarray, pen: float
) -> tuple[float, np.ndarray]:
    """(scale, shift) that maps (n, 2) (y, x) points to a random size and place on the canvas.

    The height is 30-90% of the canvas, but at least three pen widths: a 45 px marker on a
    digit an inch tall is a blob, and nobody would expect it to be read.
    """
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = np.maximum(hi - lo, 1e-6)
    height = max(rng.uniform(0.3, 0.9) * SIDE, 3 * pen)
    room = SIDE - pen - 2  # the pen's round ends stick out by half its width
    scale = min(height / span[0], room / span[0], room / span[1])
    size = span * scale + pen
    y, x = _place_box(rng, size[0], size[1])
    return scale, np.array([y, x]) + pen / 2 - lo * scale


def _draw_pen(polylines: list[np.ndarray], pen: float) -> np.ndarray:
    """Draw (n, 2) (y, x) polylines in canvas px with a round pen -> (280, 280) uint8 ink.

    Drawn 4x larger and area-averaged down, so edges come out anti-aliased like the browser's.
    """
    k = SUPERSAMPLE
    img = Image.new("L", (SIDE * k, SIDE * k), 0)
    draw = ImageDraw.Draw(img)
    r = pen * k / 2
    for line in polylines:
        xy = [(float(x) * k, float(y) * k) for y, x in line]
        if len(xy) > 1:
            draw.line(xy, fill=255, width=max(1, round(pen * k)), joint="curve")
        for x, y in xy:  # round caps and joins
            draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return np.asarray(img.resize((SIDE, SIDE), Image.Resampling.BOX))


# ---------------------------------------------------------------------------------------------
# Fonts


@cache
def _font_index() -> dict[str, Path]:
    """Font file name -> path, for every font file under FONT_DIRS."""
    index: dict[str, Path] = {}
    for folder in FONT_DIRS:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.suffix.lower() in (".ttf", ".otf"):
                    index.setdefault(path.name, path)
    return index


def available_fonts() -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
    """([(file name, path)] found, [(apt package, file name)] missing) from FONTS."""
    index = _font_index()
    found, missing = [], []
    for package, name in FONTS:
        if name in index and _has_digits(index[name]):
            found.append((name, index[name]))
        else:
            missing.append((package, name))
    return found, missing


def _glyph(path: Path, size: int, text: str) -> Image.Image:
    """`text` in white on black, cropped to its ink."""
    font = ImageFont.truetype(str(path), size)
    left, top, right, bottom = font.getbbox(text)
    pad = size // 4
    img = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(img).text((pad - left, pad - top), text, font=font, fill=255)
    box = img.getbbox()
    return img.crop(box) if box else img


@cache
def _has_digits(path: Path) -> bool:
    """True when the font draws 0-9 as ten different shapes, not as 'missing glyph' boxes."""
    try:
        shapes = [np.asarray(_glyph(path, 48, str(d)).resize((16, 24))) for d in range(10)]
        tofu = np.asarray(_glyph(path, 48, "\ue000").resize((16, 24)))
    except OSError:
        return False
    distinct = {s.tobytes() for s in shapes}
    return len(distinct) == 10 and all(not np.array_equal(s, tofu) for s in shapes)


@cache
def _ink_height_per_point(path: Path, digit: int) -> float:
    """How many px tall the digit's ink is per point of font size."""
    return _glyph(path, 200, str(digit)).height / 200


def _font_digit(rng: np.random.Generator, path: Path, digit: int) -> np.ndarray:
    """One digit in a font: 40-250 px tall, anywhere, tilted up to 15 degrees, bolder or lighter."""
    height = rng.uniform(40, 250)
    size = max(8, round(height / _ink_height_per_point(path, digit)))
    glyph = _glyph(path, size, str(digit))

    # Stroke weight: a pen a little wider or narrower than the font's. A 3x3 max (min) filter
    # grows (shrinks) the stroke by a pixel on each side.
    steps = round(rng.uniform(0.005, 0.03) * height)
    weight = rng.choice(["same", "bolder", "lighter"], p=[0.4, 0.4, 0.2])
    if weight == "bolder":
        for _ in range(steps):
            glyph = glyph.filter(ImageFilter.MaxFilter(3))
    elif weight == "lighter" and steps:
        lighter = glyph
        for _ in range(steps):
            lighter = lighter.filter(ImageFilter.MinFilter(3))
        # A thin script font can vanish when eroded; keep it only if most strokes survive.
        if np.count_nonzero(np.asarray(lighter) > 127) > 0.5 * np.count_nonzero(
            np.asarray(glyph) > 127
        ):
            glyph = lighter

    glyph = glyph.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BICUBIC, expand=True)
    glyph = glyph.crop(glyph.getbbox())
    if max(glyph.size) > SIDE - 4:  # a tall glyph tilted can outgrow the canvas
        fit = (SIDE - 4) / max(glyph.size)
        new_size = (max(1, round(glyph.width * fit)), max(1, round(glyph.height * fit)))
        glyph = glyph.resize(new_size, Image.Resampling.LANCZOS)
    y, x = _place_box(rng, glyph.height, glyph.width)
    canvas = Image.new("L", (SIDE, SIDE), 0)
    canvas.paste(glyph, (round(x), round(y)))
    return np.asarray(canvas)


def _make_fonts(rng: np.random.Generator, fonts: list[tuple[str, Path]]):
    """PER_DIGIT["fonts"] digits of each class, each in a font picked at random."""
    for digit in range(10):
        for _ in range(PER_DIGIT["fonts"]):
            name, path = fonts[rng.integers(len(fonts))]
            yield _font_digit(rng, path, digit), digit, name, 0.0


# ---------------------------------------------------------------------------------------------
# MNIST digits redrawn with a pen


def zhang_suen_thin(img: np.ndarray) -> np.ndarray:
    """(h, w) bool shape -> (h, w) bool skeleton one pixel wide (Zhang & Suen, 1984).

    Each pass peels boundary pixels whose removal keeps the shape connected: p1 goes when it has
    2-6 set neighbours, exactly one 0->1 step around its ring p2..p9, and the sub-iteration's
    corner condition holds. Vectorised: every pixel is judged at once, then all go together.
    """
    P = np.pad(img.astype(np.uint8), 1)
    while True:
        changed = False
        for first in (True, False):
            # p9 p2 p3
            # p8 p1 p4
            # p7 p6 p5
            p2, p3, p4 = P[:-2, 1:-1], P[:-2, 2:], P[1:-1, 2:]
            p5, p6, p7 = P[2:, 2:], P[2:, 1:-1], P[2:, :-2]
            p8, p9 = P[1:-1, :-2], P[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            B = sum(p.astype(np.int8) for p in ring[:8])
            A = sum(
                ((a == 0) & (b == 1)).astype(np.int8)
                for a, b in zip(ring[:8], ring[1:], strict=True)
            )
            if first:
                corner = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                corner = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (P[1:-1, 1:-1] == 1) & (B >= 2) & (B <= 6) & (A == 1) & corner
            if remove.any():
                P[1:-1, 1:-1][remove] = 0
                changed = True
        if not changed:
            return P[1:-1, 1:-1].astype(bool)


def mnist_skeleton(image: np.ndarray, upscale: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(784,) or (28, 28) uint8 MNIST digit -> skeleton ((n, 2) (y, x) points, (m, 2, 2) edges).

    Upscaled 4x (bilinear) before binarising, so the skeleton follows the stroke's middle
    smoothly instead of stepping along the 28 px grid. Points are in 28 px units.
    """
    img = Image.fromarray(np.asarray(image, dtype=np.uint8).reshape(28, 28))
    big = np.asarray(img.resize((28 * upscale, 28 * upscale), Image.Resampling.BILINEAR)) > 100
    skeleton = zhang_suen_thin(big)
    ys, xs = np.nonzero(skeleton)
    points = (np.stack([ys, xs], axis=1) + 0.5) / upscale
    # Neighbouring skeleton pixels become segments; looking right and down (E, SW, S, SE)
    # finds each pair once.
    edges = []
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        a = skeleton[: skeleton.shape[0] - dy, max(0, -dx) : skeleton.shape[1] - max(0, dx)]
        b = skeleton[dy:, max(0, dx) : skeleton.shape[1] + min(0, dx)]
        y, x = np.nonzero(a & b)
        x = x + max(0, -dx)
        start = np.stack([y, x], axis=1)
        edges.append(np.stack([start, start + [dy, dx]], axis=1))
    segments = (np.concatenate(edges).astype(np.float64) + 0.5) / upscale
    return points, segments


def _stroke_digit(rng: np.random.Generator, image: np.ndarray) -> tuple[np.ndarray, float]:
    """An MNIST digit's skeleton redrawn with a random pen at a random size and place."""
    points, segments = mnist_skeleton(image)
    pen = _pen_width(rng)
    A = _random_affine(rng)
    centre = points.mean(axis=0)
    points = (points - centre) @ A.T  # (n, 2) @ (2, 2) -> (n, 2)
    segments = (segments - centre) @ A.T  # (m, 2, 2) @ (2, 2) -> (m, 2, 2)
    scale, shift = _fit_on_canvas(rng, points, pen)
    lines = list(segments * scale + shift) + list((points * scale + shift)[:, None, :])
    return _draw_pen(lines, pen), pen


def _load_mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """MNIST's test images (n, 784) uint8 and labels: digits no model here was trained on."""
    from core.data import load_mnist

    _, _, x_test, y_test = load_mnist()
    return x_test, y_test


def _make_strokes(rng: np.random.Generator):
    """PER_DIGIT["strokes"] MNIST test digits of each class, redrawn with a pen."""
    x_test, y_test = _load_mnist_test()
    for digit in range(10):
        picks = rng.choice(np.flatnonzero(y_test == digit), PER_DIGIT["strokes"], replace=False)
        for i in picks:
            ink, pen = _stroke_digit(rng, x_test[i])
            yield ink, digit, f"mnist test #{i}", pen


# ---------------------------------------------------------------------------------------------
# Styles from stroke templates


def _style_digit(rng: np.random.Generator, strokes: list) -> tuple[np.ndarray, float]:
    """A stroke template with wobbly corners, a random slant, size, place and pen."""
    lines = [np.array(s, dtype=np.float64)[:, ::-1] for s in strokes]  # (x, y) -> (y, x)
    lines = [line + rng.normal(0, 0.03, line.shape) for line in lines]
    A = _random_affine(rng)
    lines = [line @ A.T for line in lines]  # (n, 2) @ (2, 2) -> (n, 2)
    pen = _pen_width(rng)
    scale, shift = _fit_on_canvas(rng, np.concatenate(lines), pen)
    return _draw_pen([line * scale + shift for line in lines], pen), pen


def _make_styles(rng: np.random.Generator):
    """PER_STYLE digits of each style in STYLES."""
    for name, (digit, strokes) in STYLES.items():
        for _ in range(PER_STYLE):
            ink, pen = _style_digit(rng, strokes)
            yield ink, digit, name, pen


# ---------------------------------------------------------------------------------------------
# Building, caching, loading


def drawset_file(seed: int = SEED) -> Path:
    """Where the generated set is cached (git-ignored, like all of data/)."""
    name = "drawset.npz" if seed == SEED else f"drawset-{seed}.npz"
    return data_dir() / "drawset" / name


def build_drawset(seed: int = SEED) -> Drawset:
    """Generate the whole set from `seed` (SEED: the set every figure in the README uses).

    Each subset has its own random stream, so a machine that lacks some fonts still gets
    exactly the same strokes and styles. Another seed gives a second set of the same kind,
    e.g. for tuning a threshold on one set and reporting on the other.
    """
    fonts, missing = available_fonts()
    for package, name in missing:
        print(f"drawset: font {name} not found, skipped (apt-get install {package})")
    rng_fonts, rng_strokes, rng_styles = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    makers = {
        "fonts": _make_fonts(rng_fonts, fonts) if fonts else iter(()),
        "strokes": _make_strokes(rng_strokes),
        "styles": _make_styles(rng_styles),
    }
    canvases, labels, subset, detail, pen = [], [], [], [], []
    for name, items in makers.items():
        for ink, digit, what, width in items:
            canvases.append(ink)
            labels.append(digit)
            subset.append(name)
            detail.append(what)
            pen.append(width)
    labels_arr = np.array(labels, dtype=np.uint8)
    subset_arr = np.array(subset)
    meta = {
        "version": VERSION,
        "seed": seed,
        "side": SIDE,
        "fonts_used": [name for name, _ in fonts],
        "fonts_missing": [f"{name} ({package})" for package, name in missing],
        "counts": {s: int((subset_arr == s).sum()) for s in makers},
        "pillow": Image.__version__,
    }
    return Drawset(
        canvases=np.stack(canvases),
        labels=labels_arr,
        subset=subset_arr,
        detail=np.array(detail),
        pen=np.array(pen, dtype=np.float32),
        meta=meta,
    )


def save_drawset(drawset: Drawset, path: Path) -> None:
    """Write the set as one compressed .npz (arrays only; meta as a JSON string)."""
    atomic_write_npz(
        path,
        canvases=drawset.canvases,
        labels=drawset.labels,
        subset=drawset.subset,
        detail=drawset.detail,
        pen=drawset.pen,
        meta=np.array(json.dumps(drawset.meta)),
    )


def load_drawset(path: Path | None = None, rebuild: bool = False, seed: int = SEED) -> Drawset:
    """The drawn-digit test set, from the cache or built (and cached) when missing or stale."""
    path = drawset_file(seed) if path is None else Path(path)
    if path.exists() and not rebuild:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            if meta.get("version") == VERSION and meta.get("seed") == seed:
                return Drawset(
                    canvases=f["canvases"],
                    labels=f["labels"],
                    subset=f["subset"],
                    detail=f["detail"],
                    pen=f["pen"],
                    meta=meta,
                )
        print(f"drawset: {path} was made by another version of the generator; rebuilding")
    drawset = build_drawset(seed)
    save_drawset(drawset, path)
    return drawset


def preview_sheet(drawset: Drawset, per_row: int = 20, rows_per_subset: int = 3) -> Image.Image:
    """A contact sheet: a few rows of each subset, every canvas shrunk to 70 px."""
    cell = 70
    picks = []
    for name in dict.fromkeys(drawset.subset.tolist()):
        idx = np.flatnonzero(drawset.subset == name)
        take = np.linspace(0, len(idx) - 1, min(len(idx), per_row * rows_per_subset)).astype(int)
        picks.append(idx[take])
    rows = sum(-(-len(p) // per_row) for p in picks)
    sheet = Image.new("L", (per_row * cell, rows * cell), 40)
    row = 0
    for p in picks:
        for j, i in enumerate(p):
            tile = Image.fromarray(drawset.canvases[i]).resize((cell - 2, cell - 2))
            sheet.paste(tile, ((j % per_row) * cell + 1, (row + j // per_row) * cell + 1))
        row += -(-len(p) // per_row)
    return sheet


def describe(drawset: Drawset) -> str:
    """What is in the set, as a few lines of text."""
    lines = [f"{len(drawset)} digits, seed {drawset.meta['seed']}"]
    for name, count in drawset.meta["counts"].items():
        per_digit = np.bincount(drawset.labels[drawset.subset == name], minlength=10)
        lines.append(f"  {name:8s} {count:5d}   per digit {per_digit.tolist()}")
    lines.append(
        f"  fonts used ({len(drawset.meta['fonts_used'])}): "
        + ", ".join(drawset.meta["fonts_used"])
    )
    if drawset.meta["fonts_missing"]:
        lines.append("  fonts missing: " + ", ".join(drawset.meta["fonts_missing"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="ignore the cached set")
    args = parser.parse_args(argv)
    drawset = load_drawset(rebuild=args.rebuild)
    print(describe(drawset))
    buf = io.BytesIO()
    preview_sheet(drawset).save(buf, format="PNG")
    preview = atomic_write_bytes(drawset_file().with_name("preview.png"), buf.getvalue())
    print(f"cached in {drawset_file()}, preview in {preview}")


if __name__ == "__main__":
    main()
