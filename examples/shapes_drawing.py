"""Draw the example model's synthetic images: shapes on plain or gradient backgrounds, as PNG."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np

LABELS = ("circle", "square", "triangle", "star", "background")
SIZE = 224


def luminance(rgb: np.ndarray) -> float:
    """Return the relative luminance (0-1) of an sRGB colour given as floats in 0-1."""
    return float(rgb @ np.array([0.2126, 0.7152, 0.0722]))


def pick_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick two background colours (gradient ends) and a shape colour that stands out of both."""
    while True:
        bg0 = rng.uniform(0, 1, 3)
        # Gradients stay gentle so the shape can sit on one side of the whole background.
        bg1 = np.clip(bg0 + rng.uniform(-0.25, 0.25, 3) * (rng.random() < 0.6), 0, 1)
        fg = rng.uniform(0, 1, 3)
        lum_bg = (luminance(bg0), luminance(bg1))
        lum_fg = luminance(fg)
        margin = rng.uniform(0.15, 0.5)  # some low- and some high-contrast images
        if lum_fg >= max(lum_bg) + margin or lum_fg <= min(lum_bg) - margin:
            return bg0, bg1, fg


def polygon_vertices(label: str, rng: np.random.Generator, radius: float) -> np.ndarray:
    """Return the vertices (k, 2) of a shape around the origin, before rotation."""
    if label == "square":
        angles = np.arange(4) * np.pi / 2
        radii = np.full(4, radius)
    elif label == "triangle":
        # Not always equilateral: people draw triangles of every kind.
        angles = np.arange(3) * 2 * np.pi / 3 + rng.uniform(-0.25, 0.25, 3)
        radii = radius * rng.uniform(0.85, 1.0, 3)
    else:  # star
        points = 5
        angles = np.arange(2 * points) * np.pi / points
        radii = np.where(np.arange(2 * points) % 2 == 0, radius, radius * rng.uniform(0.38, 0.55))
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def inside_polygon(px: np.ndarray, py: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Return the even-odd point-in-polygon test for every point."""
    inside = np.zeros(px.shape, dtype=bool)
    for (x1, y1), (x2, y2) in zip(vertices, np.roll(vertices, 1, axis=0), strict=True):
        crosses = (y1 > py) != (y2 > py)
        x_cross = (x2 - x1) * (py - y1) / (y2 - y1 + 1e-12) + x1
        inside ^= crosses & (px < x_cross)
    return inside


def shape_coverage(label: str, rng: np.random.Generator) -> np.ndarray:
    """Return the anti-aliased coverage (SIZE, SIZE) of a randomly placed and rotated shape."""
    # Radius of the circumscribed circle; polygons get a larger one so that they look about as
    # big as circles (a square's side is then 21-64% of the frame).
    low, high = (0.25, 0.8) if label == "circle" else (0.3, 0.9)
    radius = rng.uniform(low, high) * SIZE / 2
    cx, cy = rng.uniform(radius, SIZE - radius, 2)
    theta = rng.uniform(0, 2 * np.pi)
    # 3x3 supersampling inside the bounding box only.
    ss = 3
    x0, x1 = int(cx - radius) - 1, int(math.ceil(cx + radius)) + 1
    y0, y1 = int(cy - radius) - 1, int(math.ceil(cy + radius)) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, SIZE), min(y1, SIZE)
    xs = (np.arange((x1 - x0) * ss) + 0.5) / ss + x0
    ys = (np.arange((y1 - y0) * ss) + 0.5) / ss + y0
    px, py = np.meshgrid(xs - cx, ys - cy)
    if label == "circle":
        inside = px * px + py * py <= radius * radius
    else:
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        inside = inside_polygon(px, py, polygon_vertices(label, rng, radius) @ rot.T)
    cov = inside.reshape(y1 - y0, ss, x1 - x0, ss).mean(axis=(1, 3))
    full = np.zeros((SIZE, SIZE))
    full[y0:y1, x0:x1] = cov
    return full


def draw(label: str, rng: np.random.Generator, noise: bool = True) -> np.ndarray:
    """Draw one image of ``label`` as uint8 (SIZE, SIZE, 3); ``noise`` allows sensor noise."""
    bg0, bg1, fg = pick_colours(rng)
    # Linear gradient from bg0 to bg1 along a random direction.
    phi = rng.uniform(0, 2 * np.pi)
    grid = (np.arange(SIZE) + 0.5) / SIZE - 0.5
    t = np.clip(np.add.outer(grid * np.sin(phi), grid * np.cos(phi)) + 0.5, 0, 1)[..., None]
    image = bg0 * (1 - t) + bg1 * t
    if label != "background":
        alpha = shape_coverage(label, rng)[..., None]
        image = image * (1 - alpha) + fg * alpha
    if noise and rng.random() < 0.5:  # sensor-like noise on half of the images
        image = image + rng.normal(0, rng.uniform(0.01, 0.05), image.shape)
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def make_set(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``count`` images with balanced labels; image ``i`` depends only on (seed, i)."""
    images = np.empty((count, SIZE, SIZE, 3), dtype=np.uint8)
    labels = np.arange(count) % len(LABELS)
    for i, label in enumerate(labels):
        images[i] = draw(LABELS[label], np.random.default_rng([seed, i]))
    return images, labels


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an RGB uint8 image as PNG, choosing the smallest of the None/Sub/Up filters."""
    height, width, _ = image.shape
    rows = image.reshape(height, width * 3).astype(np.int16)
    sub = rows.copy()
    sub[:, 3:] -= rows[:, :-3]
    up = rows.copy()
    up[1:] -= rows[:-1]
    candidates = []
    for kind, data in ((0, rows), (1, sub), (2, up)):
        raw = np.concatenate([np.full((height, 1), kind), data % 256], axis=1)
        candidates.append(zlib.compress(raw.astype(np.uint8).tobytes(), 9))
    idat = min(candidates, key=len)

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
