"""The page's crop and resize, computed again in numpy: the reference the browser tests hold it to.

Teachable Machine's `cropTo` scales the image so its short side is the model's size (each side
rounded up), centres it and crops a square. The page does the same from the decoded pixels:
per axis, a table of integer weights (summing to `ONE`) over the source pixels each output
pixel reads, applied first along rows, then along columns, in exact integer arithmetic. The
tables are built here with the same double-precision operations in the same order as
`tmbuild/page/client/image.js`, so the two agree to the bit.

Three filters, the candidates `bench/resample.py` measured: `area` (each output pixel the mean
of its exact footprint in the source), `triangle` (an antialiased bilinear: a triangle filter
as wide as the downscale factor, as Pillow's) and `bilinear` (two taps at the footprint's
centre, as Skia's drawImage at imageSmoothingQuality "low").
"""

from __future__ import annotations

import math

import numpy as np

ONE = 1 << 14  # the weights' fixed point: 14 bits, as Pillow's resampling
FILTERS = ("area", "triangle", "bilinear")


def geometry(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """Teachable Machine's scaled size and crop offset: (scaled w, scaled h, left, top)."""
    scale = size / min(width, height)
    scaled_w = math.ceil(width * scale)
    scaled_h = math.ceil(height * scale)
    return scaled_w, scaled_h, int((scaled_w - size) / 2), int((scaled_h - size) / 2)


def _round(value: float) -> int:
    return math.floor(value + 0.5)  # JavaScript's Math.round for positive values


def _fixed(first: int, weights: list[float]) -> tuple[int, list[int]]:
    """Float weights as integers summing to ONE, rounded by cumulative sums (no drift)."""
    total = 0.0
    for weight in weights:
        total += weight
    out = []
    running = 0.0
    previous = 0
    for weight in weights:
        running += weight
        current = _round(running * ONE / total)
        out.append(current - previous)
        previous = current
    return first, out


def _taps(kind: str, index: int, offset: int, length: int, scaled: int) -> tuple[int, list[int]]:
    """The first source pixel output pixel `index` reads along one axis, and its weights."""
    if kind == "area":
        start = (index + offset) * length / scaled
        end = (index + offset + 1) * length / scaled
        first = math.floor(start)
        last = min(math.ceil(end), length)
        weights = [min(end, k + 1) - max(start, k) for k in range(first, last)]
        return _fixed(first, weights)
    centre = (index + offset + 0.5) * length / scaled
    if kind == "bilinear":
        x = min(max(centre - 0.5, 0.0), length - 1.0)
        first = math.floor(x)
        fraction = x - first
        if first + 1 >= length:
            return first, [ONE]
        return _fixed(first, [1.0 - fraction, fraction])
    if kind == "triangle":
        factor = max(length / scaled, 1.0)
        first = max(math.floor(centre - factor), 0)
        last = min(math.ceil(centre + factor), length)
        weights = [max(0.0, 1.0 - abs((k + 0.5 - centre) / factor)) for k in range(first, last)]
        while weights and weights[-1] == 0.0:
            weights.pop()
        while weights and weights[0] == 0.0:
            weights.pop(0)
            first += 1
        return _fixed(first, weights)
    raise ValueError(f"unknown filter {kind}")


def weight_table(kind: str, size: int, offset: int, length: int, scaled: int):
    """One axis as (source index, weight) arrays of shape (size, taps), zero weights padding."""
    taps = [_taps(kind, index, offset, length, scaled) for index in range(size)]
    width = max(len(weights) for _, weights in taps)
    indices = np.zeros((size, width), dtype=np.int64)
    weights = np.zeros((size, width), dtype=np.int64)
    for index, (first, row) in enumerate(taps):
        indices[index] = np.minimum(first + np.arange(width), length - 1)
        weights[index, : len(row)] = row
    return indices, weights


def crop_and_resize(rgba: np.ndarray, size: int, kind: str, flipped: bool = False) -> np.ndarray:
    """The (size, size, 4) uint8 RGBA the page classifies, from the decoded (h, w, 4) pixels."""
    height, width = rgba.shape[:2]
    scaled_w, scaled_h, left, top = geometry(width, height, size)
    columns, column_weights = weight_table(kind, size, left, width, scaled_w)
    rows, row_weights = weight_table(kind, size, top, height, scaled_h)
    pixels = rgba.astype(np.int64)  # exact integers throughout, as in the page
    across = (pixels[:, columns] * column_weights[None, :, :, None]).sum(axis=2)  # (h, size, 4)
    both = (across[rows] * row_weights[:, :, None, None]).sum(axis=1)  # (size, size, 4)
    out = ((both + ONE * ONE // 2) // (ONE * ONE)).astype(np.uint8)
    out[..., 3] = 255
    return out[:, ::-1] if flipped else out
