"""Turning a drawing on the canvas into a 28x28 image prepared the way MNIST itself was made.

Owns the drawing-to-input pipeline (crop to the ink, fit the longest side in 20 px, centre the
centre of mass) and the naive whole-canvas resize it is compared against. Pure NumPy + Pillow:
it never imports streamlit, never touches the model and never writes files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from core.messages import Message

MNIST_SIDE = 28  # the network's input is 28 x 28
BOX_SIDE = 20  # MNIST fitted each digit's longest side in 20 px, keeping its aspect ratio
CENTRE = MNIST_SIDE / 2  # 14.0: the middle of the frame with pixel i covering [i, i + 1)

# Ink fainter than this (about 13/255) is anti-aliasing haze at a stroke's edge; it still counts
# as ink, but it does not stretch the bounding box.
INK_THRESHOLD = 0.05

# A drawing is a speck, not a digit, when the longest side of its ink box is under 4% of the
# canvas's shorter side (11 px on the app's 280 px canvas: a single click with the thinnest pen
# is about 10 px), or when it holds less ink than a solid one-pixel line that long.
SPECK_FRACTION = 0.04

# The largest canvas image accepted from a browser: the app's canvas is 280 x 280; anything
# far larger is a forged request, refused before it is decoded or processed.
MAX_CANVAS_SIDE = 1024

# Rec. 601 luminance weights; they sum to 1, so white ink reads as 1.0.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class PreprocessSteps:
    """Every stage of `canvas_to_mnist`, for a page that shows how a drawing becomes MNIST."""

    ink: np.ndarray  # (H, W) float32 in [0, 1]: how much ink each canvas pixel holds
    box: tuple[int, int, int, int]  # (top, left, bottom, right) of the ink; bottom/right exclusive
    cropped: np.ndarray  # (h, w) float32: the ink inside the box
    scaled: np.ndarray  # (h2, w2) float32: longest side 20 px, aspect ratio kept
    centre_of_mass: tuple[float, float]  # (y, x) of `scaled`, in its own pixel coordinates
    offset: tuple[float, float]  # (y, x) where `scaled`'s top-left corner lands in the 28x28 frame
    shift: tuple[float, float]  # (y, x) move of the centre of mass from a plainly centred box
    centred: np.ndarray  # (28, 28) float32 in [0, 1]: what the network reads


def check_canvas(rgba) -> np.ndarray:
    """The canvas as an (H, W, 4) uint8 RGBA array at most 1024 x 1024, or ValueError saying why.

    Cheap: it looks at the array's type and shape only, before any work is done on it.
    """
    a = rgba if isinstance(rgba, np.ndarray) else None
    if a is None or a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 4:
        what = f"{a.dtype} array of shape {a.shape}" if a is not None else type(rgba).__name__
        raise ValueError(
            Message(
                "draw.canvas.not_rgba",
                f"The drawing did not arrive as an RGBA image (got a {what}); the canvas sends "
                f"(height, width, 4) bytes. Clear the canvas and draw again.",
                what=what,
            )
        )
    h, w = a.shape[:2]
    if not (1 <= h <= MAX_CANVAS_SIDE and 1 <= w <= MAX_CANVAS_SIDE):
        raise ValueError(_too_large(w, h))
    return a


def _too_large(w: int, h: int) -> Message:
    side = MAX_CANVAS_SIDE
    return Message(
        "draw.canvas.too_large",
        f"The drawing is {w} x {h} pixels; a canvas image may be at most {side} x {side}. "
        "Clear the canvas and draw again.",
        w=w,
        h=h,
        side=side,
    )


def canvas_from_png(data: bytes | None) -> np.ndarray | None:
    """Decode the canvas's PNG bytes into (H, W, 4) uint8, after checking the header's size and
    mode: a forged 10,000 x 10,000 image is refused before a pixel is decoded. None -> None."""
    if data is None:
        return None
    import io

    head = bytes(data[:24])  # signature, then the IHDR chunk: width and height, big-endian
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        w, h = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        if not (1 <= h <= MAX_CANVAS_SIDE and 1 <= w <= MAX_CANVAS_SIDE):
            raise ValueError(_too_large(w, h))
    try:
        img = Image.open(io.BytesIO(data))  # reads the header only
    except Exception as e:  # Pillow raises many kinds for a bad file
        kind = type(e).__name__
        raise ValueError(
            Message(
                "draw.canvas.unreadable",
                f"The drawing is not a readable image ({kind}).",
                kind=kind,
            )
        ) from e
    with img:
        w, h = img.size
        if img.format != "PNG" or img.mode != "RGBA":
            fmt, mode = str(img.format), str(img.mode)
            raise ValueError(
                Message(
                    "draw.canvas.wrong_format",
                    f"The drawing arrived as a {fmt} {mode} image; the canvas sends an "
                    f"RGBA PNG. Clear the canvas and draw again.",
                    format=fmt,
                    mode=mode,
                )
            )
        if not (1 <= h <= MAX_CANVAS_SIDE and 1 <= w <= MAX_CANVAS_SIDE):
            raise ValueError(_too_large(w, h))
        try:
            return check_canvas(np.asarray(img))
        except OSError as e:
            kind = type(e).__name__
            raise ValueError(
                Message(
                    "draw.canvas.damaged", f"The drawing is a damaged image ({kind}).", kind=kind
                )
            ) from e


def ink_intensity(image: np.ndarray) -> np.ndarray:
    """(H, W, 4) RGBA, (H, W, 3) RGB or (H, W) grey uint8 -> (H, W) float32 ink in [0, 1].

    Ink is luminance times opacity, so white ink on an opaque black background and white ink on
    a transparent background (alpha 0 where nothing is drawn) give the same numbers.
    """
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {a.dtype}")
    if a.ndim == 2:
        return a.astype(np.float32) * np.float32(1 / 255)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    h, w, channels = a.shape
    # Casting once and doing the sums as one matmul is several times faster than mixing uint8
    # channel slices with float scalars.
    f = a.reshape(h * w, channels).astype(np.float32)  # (H*W, C)
    lum = f[:, :3] @ _LUMA  # (H*W, 3) @ (3,) -> (H*W,)
    if channels == 4:
        lum *= f[:, 3]
        lum *= np.float32(1 / (255 * 255))
    else:
        lum *= np.float32(1 / 255)
    return lum.reshape(h, w)


def ink_box(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) around the ink above INK_THRESHOLD; None when there is none."""
    mask = ink > INK_THRESHOLD
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def _is_speck(ink: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """True for a drawing too small to be a digit (see SPECK_FRACTION)."""
    top, left, bottom, right = box
    min_extent = SPECK_FRACTION * min(ink.shape)
    if max(bottom - top, right - left) < min_extent:
        return True
    return float(ink[top:bottom, left:right].sum()) < min_extent


def _resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Anti-aliased resize of a float32 image: area averaging when shrinking, bilinear when growing.

    Area averaging (Pillow's BOX) is what MNIST's anti-aliasing amounts to; it never rings, so
    the result stays in [0, 1]. Growing (a drawing smaller than 20 px) would turn BOX into blocky
    nearest-neighbour, so that case blends with BILINEAR instead.
    """
    shrinking = height <= img.shape[0] and width <= img.shape[1]
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    pil = Image.fromarray(np.ascontiguousarray(img, dtype=np.float32))
    return np.asarray(pil.resize((width, height), resample), dtype=np.float32)


def _centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    """(y, x) = sum((index + 0.5) * ink) / sum(ink): pixel i covers [i, i + 1)."""
    total = float(img.sum())
    rows = img.sum(axis=1)  # (h,)
    cols = img.sum(axis=0)  # (w,)
    y = float((np.arange(rows.size) + 0.5) @ rows) / total
    x = float((np.arange(cols.size) + 0.5) @ cols) / total
    return y, x


def _place(img: np.ndarray, oy: float, ox: float) -> np.ndarray:
    """Put `img` into a 28x28 frame with its top-left corner at (oy, ox), both >= 0.

    A fractional offset splits each pixel's ink over the 2x2 pixels it straddles, in proportion
    to the overlap (bilinear). That keeps the total ink and moves the centre of mass by exactly
    (oy, ox), which rounding to whole pixels (up to half a pixel off) would not.
    """
    h, w = img.shape
    ky, kx = int(oy), int(ox)
    fy, fx = np.float32(oy - ky), np.float32(ox - kx)
    one = np.float32(1)
    # One spare row and column catch the spill of a fractional shift; `preprocess_steps` keeps
    # the box inside the frame, so whatever lands there has zero weight.
    out = np.zeros((MNIST_SIDE + 1, MNIST_SIDE + 1), dtype=np.float32)
    out[ky : ky + h, kx : kx + w] += ((one - fy) * (one - fx)) * img
    out[ky + 1 : ky + h + 1, kx : kx + w] += (fy * (one - fx)) * img
    out[ky : ky + h, kx + 1 : kx + w + 1] += ((one - fy) * fx) * img
    out[ky + 1 : ky + h + 1, kx + 1 : kx + w + 1] += (fy * fx) * img
    return out[:MNIST_SIDE, :MNIST_SIDE]


def preprocess_steps(rgba: np.ndarray) -> PreprocessSteps | None:
    """(H, W, 4) uint8 canvas -> every stage up to the (28, 28) MNIST-style image; None if empty.

    1. ink = luminance x opacity;  2. crop to the ink's box;  3. shrink so the longest side is
    20 px (aspect kept, area-averaged);  4. place it in 28x28 so that its centre of mass sits at
    (14, 14), to a fraction of a pixel. A speck (see SPECK_FRACTION) counts as empty.
    """
    ink = ink_intensity(rgba)
    box = ink_box(ink)
    if box is None or _is_speck(ink, box):
        return None
    top, left, bottom, right = box
    cropped = ink[top:bottom, left:right]
    h, w = cropped.shape

    scale = BOX_SIDE / max(h, w)
    h2, w2 = max(1, round(h * scale)), max(1, round(w * scale))
    scaled = _resize(cropped, h2, w2)
    if not scaled.any():  # a haze of faint ink can average away to nothing
        return None

    cy, cx = _centre_of_mass(scaled)
    # Put the centre of mass on (14, 14). A very lopsided digit (a 7 whose bar holds most of the
    # ink) would then poke out of the frame; MNIST lost such ink, we keep the whole box inside
    # instead and let its centre of mass sit a little off (1 of bench/drawset.py's 2,800 digits).
    oy = min(max(CENTRE - cy, 0.0), float(MNIST_SIDE - h2))
    ox = min(max(CENTRE - cx, 0.0), float(MNIST_SIDE - w2))
    centred = np.clip(_place(scaled, oy, ox), 0.0, 1.0)

    plain_y, plain_x = (MNIST_SIDE - h2) / 2, (MNIST_SIDE - w2) / 2
    return PreprocessSteps(
        ink=ink,
        box=box,
        cropped=cropped,
        scaled=scaled,
        centre_of_mass=(cy, cx),
        offset=(oy, ox),
        shift=(oy - plain_y, ox - plain_x),
        centred=centred,
    )


def canvas_to_mnist(rgba: np.ndarray) -> np.ndarray | None:
    """(H, W, 4) uint8 canvas -> (28, 28) float32 in [0, 1] prepared like MNIST; None if empty.

    White ink on an opaque black or on a transparent background. See `preprocess_steps`.
    """
    steps = preprocess_steps(rgba)
    return None if steps is None else steps.centred


def canvas_to_naive(rgba: np.ndarray) -> np.ndarray | None:
    """(H, W, 4) uint8 canvas -> (28, 28) float32: the whole canvas shrunk, no crop, no centring.

    The obvious way, kept for comparison: a small or off-centre drawing stays small and off-centre,
    which MNIST never showed the network. None when `canvas_to_mnist` would say empty.
    """
    ink = ink_intensity(rgba)
    box = ink_box(ink)
    if box is None or _is_speck(ink, box):
        return None
    return np.clip(_resize(ink, MNIST_SIDE, MNIST_SIDE), 0.0, 1.0)
