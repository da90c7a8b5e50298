"""Cheap, vectorised data augmentation for 28x28 digit batches.

Every image in a batch gets its own random shift, rotation, scale (and, at the strongest level,
a smooth elastic warp and a thicker or thinner stroke), all computed at once with one bilinear
resampling. Pure NumPy; it never touches files or the network.
"""

from __future__ import annotations

import numpy as np

AUGMENTS = ("none", "shift", "affine", "elastic")

# Per level: max shift (px), max rotation (degrees), max relative scale change, elastic
# displacement (px), probability of a thicker / thinner stroke.
_LEVELS = {
    "shift": (2.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "affine": (2.0, 12.0, 0.12, 0.0, 0.0, 0.0),
    "elastic": (2.0, 12.0, 0.12, 1.5, 0.25, 0.15),
}

_SIDE = 28
_C = (_SIDE - 1) / 2.0
_YY, _XX = np.meshgrid(
    np.arange(_SIDE, dtype=np.float32), np.arange(_SIDE, dtype=np.float32), indexing="ij"
)
_YY, _XX = _YY.ravel() - _C, _XX.ravel() - _C  # (784,) coordinates around the centre


def _coarse_to_fine(n: int = 4) -> np.ndarray:
    """A (784, n*n) matrix that bilinearly upsamples an n x n displacement grid to 28 x 28."""
    t = np.linspace(0, n - 1, _SIDE)
    i0 = np.clip(np.floor(t).astype(int), 0, n - 2)
    w = t - i0
    U = np.zeros((_SIDE, n))
    U[np.arange(_SIDE), i0] = 1 - w
    U[np.arange(_SIDE), i0 + 1] = w
    return np.kron(U, U).astype(np.float32)  # (28*28, n*n)


_UPSAMPLE = _coarse_to_fine()


def _bilinear(images: np.ndarray, sy: np.ndarray, sx: np.ndarray) -> np.ndarray:
    """Sample (m, 28, 28) images at source coordinates (m, 784) with zeros outside."""
    m = images.shape[0]
    P = _SIDE + 2
    padded = np.zeros((m, P, P), dtype=np.float32)
    padded[:, 1:-1, 1:-1] = images
    flat = padded.reshape(-1)
    sy = np.clip(sy + 1, 0, P - 1.001)
    sx = np.clip(sx + 1, 0, P - 1.001)
    y0 = sy.astype(np.int32)
    x0 = sx.astype(np.int32)
    wy = sy - y0
    wx = sx - x0
    base = (np.arange(m, dtype=np.int32) * (P * P))[:, None] + y0 * P + x0
    top = flat[base] * (1 - wx) + flat[base + 1] * wx
    bottom = flat[base + P] * (1 - wx) + flat[base + P + 1] * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32, copy=False)


def _dilate(img: np.ndarray) -> np.ndarray:
    """Grey-level dilation with a plus-shaped 3x3 element: strokes about 1 px thicker."""
    out = img.copy()
    np.maximum(out[:, 1:], img[:, :-1], out=out[:, 1:])
    np.maximum(out[:, :-1], img[:, 1:], out=out[:, :-1])
    np.maximum(out[:, :, 1:], img[:, :, :-1], out=out[:, :, 1:])
    np.maximum(out[:, :, :-1], img[:, :, 1:], out=out[:, :, :-1])
    return out


def _erode(img: np.ndarray) -> np.ndarray:
    """Grey-level erosion, softened: strokes thinner but never erased entirely."""
    out = img.copy()
    np.minimum(out[:, 1:], img[:, :-1], out=out[:, 1:])
    np.minimum(out[:, :-1], img[:, 1:], out=out[:, :-1])
    np.minimum(out[:, :, 1:], img[:, :, :-1], out=out[:, :, 1:])
    np.minimum(out[:, :, :-1], img[:, :, 1:], out=out[:, :, :-1])
    return 0.5 * (out + img) * np.float32(0.8) + out * np.float32(0.2)


def augment_batch(X: np.ndarray, level: str, rng: np.random.Generator) -> np.ndarray:
    """A randomly transformed copy of a batch: (m, 784) float32 in [0, 1] -> (m, 784).

    Each output pixel p takes the input at A^-1 (p - c - t) + c (+ an elastic offset), where A
    rotates and scales about the centre c and t shifts: one inverse map, one bilinear lookup.
    """
    if level == "none":
        return X
    if level not in _LEVELS:
        raise ValueError(f"Unknown augmentation {level!r}; choose one of {', '.join(AUGMENTS)}.")
    shift, rot, scale, elastic, p_thick, p_thin = _LEVELS[level]
    m = X.shape[0]
    images = X.reshape(m, _SIDE, _SIDE).astype(np.float32, copy=False)
    if p_thick or p_thin:
        u = rng.random(m)
        thick, thin = u < p_thick, (u >= p_thick) & (u < p_thick + p_thin)
        if thick.any() or thin.any():
            images = images.copy()
            images[thick] = _dilate(images[thick])
            images[thin] = _erode(images[thin])
    theta = np.deg2rad(rng.uniform(-rot, rot, m)).astype(np.float32)
    inv_s = (1.0 / rng.uniform(1 - scale, 1 + scale, m)).astype(np.float32)
    ty, tx = rng.uniform(-shift, shift, (2, m)).astype(np.float32)
    cos, sin = np.cos(theta)[:, None] * inv_s[:, None], np.sin(theta)[:, None] * inv_s[:, None]
    py = _YY[None, :] - ty[:, None]  # (m, 784)
    px = _XX[None, :] - tx[:, None]
    sy = cos * py - sin * px + _C
    sx = sin * py + cos * px + _C
    if elastic:
        grid = rng.standard_normal((2, m, _UPSAMPLE.shape[1])).astype(np.float32) * elastic
        sy += grid[0] @ _UPSAMPLE.T  # (m, 16) @ (16, 784) -> (m, 784)
        sx += grid[1] @ _UPSAMPLE.T
    return np.clip(_bilinear(images, sy, sx), 0, 1)
