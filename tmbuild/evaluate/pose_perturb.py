"""`tmbuild eval --robustness` for a pose model: the image changes, made where a camera makes them.

PoseNet does not crop: it pads the picture with black to a square (tmbuild/page/client/pose.js).
The image checks change the square the page reads, which for a pose model is that padded frame,
so they would turn the padding grey (low contrast), rotate it into the picture (a tilt), tint it
(another background) and crop a person's hands off (off-centre). Here each change is made to the
picture alone, inside PoseNet's frame, and the padding stays black as PoseNet makes it: light,
colour and focus as for images; framing as a camera frames a person (farther away, closer,
standing to one side, tilted, mirrored), the picture's edges stretched outwards over what it did
not show, as the room goes on.
An unchanged picture is PoseNet's own frame, so it predicts exactly what the photo does.
"""

from __future__ import annotations

from tmbuild.evaluate.perturb import PERTURBATIONS, TINT_JS, Perturbation

_SAME = ("darker", "brighter", "warm", "cool", "low-contrast", "high-contrast", "blur")
_IMAGE = {p.name: p for p in PERTURBATIONS}
_SIDE = "add training poses with the person at other places in the picture"

POSE_PERTURBATIONS = [
    *(_IMAGE[name] for name in _SAME),
    Perturbation(
        "background",
        "other background",
        "the room has another colour",
        "add training poses in front of other walls and rooms",
        {"tint": True},
    ),
    Perturbation(
        "rotate-left",
        "tilted left 10°",
        "the camera is tilted 10° to the left",
        "add training poses taken with the camera at slight angles",
        {"rotate": -10},
    ),
    Perturbation(
        "rotate-right",
        "tilted right 10°",
        "the camera is tilted 10° to the right",
        "add training poses taken with the camera at slight angles",
        {"rotate": 10},
    ),
    Perturbation(
        "farther",
        "farther (70% size)",
        "the person is farther from the camera (70% of the size)",
        "add training poses taken from farther away",
        {"zoom": 0.7},
    ),
    Perturbation(
        "closer",
        "closer (120% size)",
        "the person is closer to the camera (120% of the size, the picture's edges cut off)",
        "add training poses taken from closer, hands and feet near the edges",
        {"zoom": 1.2},
    ),
    # At 75% of the size, a shift of an eighth keeps the whole picture in the frame: what
    # changes is where the person stands, not what of them is seen.
    Perturbation(
        "off-centre-left",
        "off-centre (left)",
        "the person stands to the left of the picture",
        _SIDE,
        {"zoom": 0.75, "shift": [-0.125, 0]},
    ),
    Perturbation(
        "off-centre-right",
        "off-centre (right)",
        "the person stands to the right of the picture",
        _SIDE,
        {"zoom": 0.75, "shift": [0.125, 0]},
    ),
    Perturbation(
        "mirrored",
        "mirrored",
        "the picture is mirrored (left and right swapped, as the webcam's preview is)",
        "add training poses made with the other side too, unless the labels tell left from right",
        {"mirror": True},
    ),
]

# `(image, spec, size) => canvas`: PoseNet's frame for the photo (the page's own preprocess,
# `size` square, the picture in the middle, black padding around), the picture changed in place.
POSE_PERTURB_JS = (
    """(image, spec, size) => {
  const tint = """
    + TINT_JS
    + """;
  const frame = document.createElement("canvas");
  frame.width = frame.height = size;
  frame.getContext("2d").putImageData(window.tmbuild.preprocess(image), 0, 0);
  // Where the picture lies in the frame: PoseNet pads the short side by round(difference / 2)
  // on each side, then resizes the padded square to `size`.
  const width = image.naturalWidth || image.width, height = image.naturalHeight || image.height;
  const padX = width < height ? Math.round((height - width) / 2) : 0;
  const padY = width < height ? 0 : Math.round((width - height) / 2);
  const spanX = width + 2 * padX, spanY = height + 2 * padY;
  const x0 = Math.floor((padX * size) / spanX), y0 = Math.floor((padY * size) / spanY);
  const w = Math.min(size, Math.ceil(((padX + width) * size) / spanX)) - x0;
  const h = Math.min(size, Math.ceil(((padY + height) * size) / spanY)) - y0;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.fillStyle = "#000000";
  context.fillRect(0, 0, size, size);
  context.drawImage(frame, x0, y0, w, h, x0, y0, w, h);
  const framed = spec.rotate || spec.zoom || spec.shift || spec.mirror;
  const draw = (filter) => {
    context.save();
    context.beginPath();
    context.rect(x0, y0, w, h); // the padding stays PoseNet's black
    context.clip();
    context.filter = filter || "none";
    if (!framed) {
      context.drawImage(frame, x0, y0, w, h, x0, y0, w, h);
    } else {
      const shift = spec.shift || [0, 0];
      context.translate(x0 + w / 2 + shift[0] * w, y0 + h / 2 + shift[1] * h);
      if (spec.rotate) context.rotate((spec.rotate * Math.PI) / 180);
      const zoom = spec.zoom || 1;
      context.scale(spec.mirror ? -zoom : zoom, zoom);
      // What the camera did not see before: the room going on, the picture's edge rows and
      // columns (one in from the edge, which the resize mixed with the padding) stretched out.
      const far = 2 * size, left = -w / 2, top = -h / 2;
      const inX = [x0 + 1, x0 + w - 2], inY = [y0 + 1, y0 + h - 2];
      // Each strip runs a pixel under the picture, so that no seam shows where they meet.
      const reach = far + 1;
      context.drawImage(frame, inX[0], y0, 1, h, left - far, top, reach, h);
      context.drawImage(frame, inX[1], y0, 1, h, -left - 1, top, reach, h);
      context.drawImage(frame, x0, inY[0], w, 1, left, top - far, w, reach);
      context.drawImage(frame, x0, inY[1], w, 1, left, -top - 1, w, reach);
      for (const [sx, dx] of [[inX[0], left - far], [inX[1], -left - 1]]) {
        context.drawImage(frame, sx, inY[0], 1, 1, dx, top - far, reach, reach);
        context.drawImage(frame, sx, inY[1], 1, 1, dx, -top - 1, reach, reach);
      }
      context.drawImage(frame, x0, y0, w, h, left, top, w, h);
    }
    context.restore();
  };
  if (framed) draw();
  if (spec.filter || spec.blur) {
    // Over the plain drawing, so a blur's edges fade into the picture, not into the padding.
    draw([spec.filter || "", spec.blur ? "blur(" + spec.blur + "px)" : ""].join(" "));
  }
  if (spec.gains || spec.tint) {
    const changed = context.getImageData(x0, y0, w, h);
    const values = changed.data;
    if (spec.gains) {
      for (let i = 0; i < values.length; i += 4) {
        for (let c = 0; c < 3; c++) values[i + c] = values[i + c] * spec.gains[c];
      }
    }
    if (spec.tint) tint(values, w, h); // the room: the picture's border, as for images
    context.putImageData(changed, x0, y0);
  }
  return canvas;
}"""
)


# `async (image, context, scale) => void`: the pose the page finds in `image` drawn on a
# thumbnail of it (`scale` thumbnail pixels a photo pixel), as <tm-skeleton> draws it: the
# keypoints and PoseNet's adjacent pairs that score at least the page's pose.minConfidence.
SKELETON_JS = """async (image, context, scale) => {
  const found = (await window.tmbuild.predict(image)).pose;
  if (!found) return;
  const config = JSON.parse(document.getElementById("tmbuild-config").textContent);
  const least = (config.pose && config.pose.minConfidence) || 0;
  const points = found.keypoints.map((k) => (k.score >= least ? k.position : null));
  const bones = [[11, 5], [7, 5], [7, 9], [11, 13], [13, 15], [12, 6], [8, 6], [8, 10],
    [12, 14], [14, 16], [5, 6], [11, 12]];
  context.strokeStyle = context.fillStyle = "aqua";
  context.lineWidth = 1;
  for (const [a, b] of bones) {
    if (!points[a] || !points[b]) continue;
    context.beginPath();
    context.moveTo(points[a].x * scale, points[a].y * scale);
    context.lineTo(points[b].x * scale, points[b].y * scale);
    context.stroke();
  }
  for (const point of points.filter(Boolean)) {
    context.beginPath();
    context.arc(point.x * scale, point.y * scale, 1.25, 0, 2 * Math.PI);
    context.fill();
  }
}"""


def no_pose_counts(outcomes: list) -> tuple[list[str], int]:
    """The images in which the page found no pose, and how many had an answer at all."""
    answered = [o for o in outcomes if o.probabilities is not None]
    return sorted(o.image.name for o in answered if o.pose_found is False), len(answered)
