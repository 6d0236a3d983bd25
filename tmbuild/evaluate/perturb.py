"""Controlled changes of light, colour, focus and framing, to find what a model cannot stand.

A model trained on photos that all share one lighting and one background can score 98% on more
of the same and 40% on the factory floor. Each perturbation below is what a new place or a new
camera does to a photo; eval classifies the held-out images again under each and reports the
accuracy. They are drawn in the browser on a canvas (ctx.filter for light, contrast and blur,
transforms for framing, a pixel pass for colour), so no image library is needed in Python, and
the changed canvas goes through the page's own `classify`, as a photo would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# A fall of this many points (0.15 = 15 percentage points) under one change is a collapse.
COLLAPSE_DROP = 0.15


@dataclass(frozen=True)
class Perturbation:
    name: str  # stable id, in eval.json
    title: str  # short, for tables and charts
    when: str  # completes "accuracy falls from 93% to 41% when ..."
    advice: str  # what to add to the training photos
    spec: dict = field(default_factory=dict)  # what PERTURB_JS draws


PERTURBATIONS = [
    Perturbation(
        "darker",
        "40% darker",
        "images are 40% darker",
        "add training photos in dim light",
        {"filter": "brightness(0.6)"},
    ),
    Perturbation(
        "brighter",
        "40% brighter",
        "images are 40% brighter",
        "add training photos in bright light",
        {"filter": "brightness(1.4)"},
    ),
    Perturbation(
        "warm",
        "warm light",
        "the light is warmer (indoor bulbs)",
        "add training photos under warm indoor light",
        {"gains": [1.15, 1.0, 0.75]},
    ),
    Perturbation(
        "cool",
        "cool light",
        "the light is cooler (shade, overcast daylight)",
        "add training photos in daylight and shade",
        {"gains": [0.8, 0.95, 1.15]},
    ),
    Perturbation(
        "low-contrast",
        "low contrast",
        "contrast is lower (haze, a dirty lens)",
        "add training photos with flat, hazy light",
        {"filter": "contrast(0.6)"},
    ),
    Perturbation(
        "high-contrast",
        "high contrast",
        "contrast is higher (harsh light)",
        "add training photos in harsh, direct light",
        {"filter": "contrast(1.5)"},
    ),
    Perturbation(
        "blur",
        "blur",
        "images are slightly out of focus",
        "add training photos that are a little blurred or taken in motion",
        {"blur": 2.0},  # pixels at the model's input size
    ),
    Perturbation(
        "rotate-left",
        "tilted left 10°",
        "the camera is tilted 10° to the left",
        "add training photos taken at slight angles",
        {"rotate": -10},
    ),
    Perturbation(
        "rotate-right",
        "tilted right 10°",
        "the camera is tilted 10° to the right",
        "add training photos taken at slight angles",
        {"rotate": 10},
    ),
    Perturbation(
        "closer",
        "30% closer",
        "the object is 30% closer to the camera",
        "add training photos taken from closer and farther away",
        {"zoom": 1.3},
    ),
    Perturbation(
        "off-centre-top-left",
        "off-centre (top left)",
        "the object is off-centre (framed towards the top left)",
        "add training photos with the object away from the centre",
        {"zoom": 1.25, "shift": [0.125, 0.125]},
    ),
    Perturbation(
        "off-centre-bottom-right",
        "off-centre (bottom right)",
        "the object is off-centre (framed towards the bottom right)",
        "add training photos with the object away from the centre",
        {"zoom": 1.25, "shift": [-0.125, -0.125]},
    ),
    Perturbation(
        "background",
        "other background",
        "the background has another colour",
        "add training photos in front of other backgrounds",
        {"tint": True},
    ),
]
# The images as they are: the accuracy every drop is measured from.
ORIGINAL = Perturbation("original", "original", "", "", {})

# `(data, width, height) => void`: another background, on RGBA pixels in place. The background's
# colour is the mean of a border 5% wide; pixels close to it move towards another colour (green,
# or magenta for a green background), the object barely at all.
TINT_JS = """(data, width, height) => {
  const border = Math.max(1, Math.round(0.05 * Math.min(width, height)));
  const sum = [0, 0, 0];
  let count = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (x >= border && x < width - border && y >= border && y < height - border) continue;
      const i = (y * width + x) * 4;
      sum[0] += data[i]; sum[1] += data[i + 1]; sum[2] += data[i + 2];
      count++;
    }
  }
  const background = sum.map((value) => value / count);
  const greenish = background[1] > background[0] && background[1] > background[2];
  const target = greenish ? [170, 60, 160] : [60, 160, 90];
  const delta = target.map((value, c) => 0.6 * (value - background[c]));
  const reach = 0.25 * 441.7; // a quarter of the largest distance between two colours
  for (let i = 0; i < data.length; i += 4) {
    const distance = Math.hypot(data[i] - background[0], data[i + 1] - background[1],
      data[i + 2] - background[2]);
    const weight = Math.max(0, 1 - distance / reach);
    if (weight === 0) continue;
    data[i] += weight * delta[0];
    data[i + 1] += weight * delta[1];
    data[i + 2] += weight * delta[2];
  }
}"""

# `(image, spec, size) => canvas`: the photo cropped and scaled exactly as the page's
# cropToSquare does (short side to the model's size, long side centred, on a canvas read often),
# then changed. The page copies that canvas 1:1, so with no change it predicts exactly what the
# photo does, and each drop is the change's alone, not a resampling's.
PERTURB_JS = (
    """(image, spec, size) => {
  const tint = """
    + TINT_JS
    + """;
  const square = document.createElement("canvas");
  square.width = square.height = size;
  const squareContext = square.getContext("2d", { willReadFrequently: true });
  if (window.tmbuild && window.tmbuild.preprocess) {
    // The page's own square, pixel for pixel: the page reads a square of its size unchanged.
    squareContext.putImageData(window.tmbuild.preprocess(image), 0, 0);
  } else { // a site built before the page resized images itself
    const width = image.naturalWidth || image.width, height = image.naturalHeight || image.height;
    const scale = size / Math.min(width, height);
    const scaledWidth = Math.ceil(width * scale), scaledHeight = Math.ceil(height * scale);
    squareContext.drawImage(image, -Math.trunc((scaledWidth - size) / 2),
      -Math.trunc((scaledHeight - size) / 2), scaledWidth, scaledHeight);
  }
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const draw = () => {
    if (!spec.rotate && !spec.zoom && !spec.shift) {
      context.drawImage(square, 0, 0);
      return;
    }
    context.save();
    const shift = spec.shift || [0, 0];
    context.translate(size / 2 + shift[0] * size, size / 2 + shift[1] * size);
    let zoom = spec.zoom || 1;
    if (spec.rotate) {
      const angle = (spec.rotate * Math.PI) / 180;
      // Zoom just enough that the turned photo still fills the frame, as a tilted camera does.
      zoom *= Math.abs(Math.cos(angle)) + Math.abs(Math.sin(angle));
      context.rotate(angle);
    }
    context.scale(zoom, zoom);
    context.drawImage(square, -size / 2, -size / 2);
    context.restore();
  };
  draw();
  if (spec.filter || spec.blur) {
    // Over the plain drawing, so a blur's edges fade into the photo, not into transparency.
    context.filter = [spec.filter || "", spec.blur ? "blur(" + spec.blur + "px)" : ""].join(" ");
    draw();
    context.filter = "none";
  }
  if (spec.gains || spec.tint) {
    const pixels = context.getImageData(0, 0, size, size);
    const data = pixels.data;
    if (spec.gains) {
      for (let i = 0; i < data.length; i += 4) {
        data[i] = data[i] * spec.gains[0];
        data[i + 1] = data[i + 1] * spec.gains[1];
        data[i + 2] = data[i + 2] * spec.gains[2];
      }
    }
    if (spec.tint) tint(data, size, size);
    context.putImageData(pixels, 0, 0);
  }
  return canvas;
}"""
)


def by_name(names: list[str] | None = None) -> list[Perturbation]:
    """The perturbations to run; all of them without `names`."""
    return PERTURBATIONS if names is None else [p for p in PERTURBATIONS if p.name in names]


def robustness_summary(
    accuracies: dict[str, float | None],
    images: int,
    perturbations: list[Perturbation] | None = None,
) -> dict:
    """Accuracy under each perturbation, its drop from the original, the worst, and warnings;
    `perturbations` in the order shown (default: the image ones)."""
    base = accuracies.get(ORIGINAL.name)
    rows, warnings = [], []
    for perturbation in [ORIGINAL, *(PERTURBATIONS if perturbations is None else perturbations)]:
        if perturbation.name not in accuracies:
            continue
        value = accuracies[perturbation.name]
        drop = None if base is None or value is None else base - value
        rows.append(
            {
                "name": perturbation.name,
                "title": perturbation.title,
                "accuracy": value,
                "drop": drop,
            }
        )
        if perturbation is not ORIGINAL and drop is not None and drop >= COLLAPSE_DROP:
            warnings.append(
                f"accuracy falls from {base:.0%} to {value:.0%} when {perturbation.when}: "
                f"{perturbation.advice}"
            )
    changed = [row for row in rows if row["name"] != ORIGINAL.name and row["drop"] is not None]
    worst = max(changed, key=lambda row: row["drop"], default=None)  # the first on a tie
    return {
        "images": images,
        "baseline": base,
        "perturbations": rows,
        "worst": None if worst is None else {"name": worst["name"], "drop": worst["drop"]},
        "warnings": warnings,
    }
