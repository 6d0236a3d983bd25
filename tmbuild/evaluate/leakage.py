"""Held-out images that are also training images: exact copies, or the same photo re-encoded or
resized, which make a model look better than it is.

Teachable Machine downloads each class's training samples as a folder of images; `tmbuild eval
--training DIR` compares the held-out images with them. Exact copies are found by their bytes;
near copies by a perceptual hash the page computes (pHash): the photo, decoded by the browser,
drawn grey on a 32×32 canvas, its 8×8 lowest spatial frequencies (a cosine transform), one bit
each for whether it is above their median. Re-encoding and resizing keep the low frequencies,
so they move few of the 64 bits; another photo moves about half of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

# Bits of 64 that may differ for two images to count as the same photo. On the 107 photos of
# tests/test_leakage.py, copies re-encoded at JPEG quality 0.6 and resized to 60% differ in at
# most 10; two different photos, however alike (the same background, the same pose), in 16 or
# more, and most in about 32.
NEAR_BITS = 12

# `(image) -> hex`: the pHash of a decoded <img> (or canvas), as 16 hex digits.
PHASH_JS = """(image) => {
  const size = 32;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.fillStyle = "#ffffff"; // transparency reads as white, whatever the encoder did
  context.fillRect(0, 0, size, size);
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = "high";
  context.drawImage(image, 0, 0, size, size);
  const data = context.getImageData(0, 0, size, size).data;
  const grey = new Float64Array(size * size);
  for (let i = 0; i < size * size; i++) {
    grey[i] = 0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2];
  }
  const cosines = [];
  for (let u = 0; u < 8; u++) {
    const row = (_, x) => Math.cos(((2 * x + 1) * u * Math.PI) / (2 * size));
    cosines.push(Array.from({ length: size }, row));
  }
  const coefficients = [];
  for (let v = 0; v < 8; v++) {
    for (let u = 0; u < 8; u++) {
      let sum = 0;
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) sum += grey[y * size + x] * cosines[u][x] * cosines[v][y];
      }
      coefficients.push(sum);
    }
  }
  const sorted = coefficients.slice(1).sort((a, b) => a - b);  // the mean (0, 0) left out
  const median = (sorted[31] + sorted[32]) / 2;
  let hex = "";
  for (let byte = 0; byte < 8; byte++) {
    let bits = 0;
    for (let bit = 0; bit < 8; bit++) {
      bits = (bits << 1) | (coefficients[byte * 8 + bit] > median ? 1 : 0);
    }
    hex += bits.toString(16).padStart(2, "0");
  }
  return hex;
}"""


@dataclass(frozen=True)
class Fingerprint:
    image: str  # as reports name it, e.g. "cat/IMG_0001.jpg"
    sha256: str  # of the file's bytes
    phash: int | None  # None where the browser could not decode it


def file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def duplicates(held_out: list[Fingerprint], training: list[Fingerprint]) -> list[dict]:
    """Each held-out image that is a training image: the closest one, exact before near."""
    by_bytes = {}
    for item in training:
        if item.sha256:
            by_bytes.setdefault(item.sha256, item.image)
    hashed = [item for item in training if item.phash is not None]
    found = []
    for item in held_out:
        if item.sha256 and item.sha256 in by_bytes:
            found.append(
                {"image": item.image, "training": by_bytes[item.sha256], "kind": "exact", "bits": 0}
            )
            continue
        if item.phash is None or not hashed:
            continue
        distance, closest = min(
            ((item.phash ^ other.phash).bit_count(), other.image) for other in hashed
        )
        if distance <= NEAR_BITS:
            found.append(
                {"image": item.image, "training": closest, "kind": "near", "bits": distance}
            )
    return found
