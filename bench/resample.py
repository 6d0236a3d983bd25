"""The resize candidates for the page's preprocessing, against Teachable Machine's own library.

Browsers' drawImage downscale differs (Chromium's is bilinear without antialiasing, Firefox's
and WebKit's are not), so the page crops and resizes from the decoded pixels itself (issue 17,
item 2). This script measures the candidate filters of tests/support/resample.py on every
labelled image of the shared exports, in one headless Chromium:

- the page and `@teachablemachine/image@0.8.5` (in a same-origin iframe, on TensorFlow.js
  4.22.0's WASM backend, like the page) classify each image as an `<img>`;
- the image's decoded pixels at full size (a canvas at its natural size, no scaling) go to
  Python, which crops and resizes them with each filter in numpy; each 224×224 result goes
  back to the page's `classify` as ImageData, which it reads without resizing;
- per filter: the largest probability difference from the library in Chromium (max Δp), top-1
  agreement with it, and the share of images whose top label is their folder's (accuracy);
  for the bilinear candidate, how far its pixels are from Chromium's own drawImage.

Then the time per prediction of the page as built (`classify` of a 640×480 canvas, as a
webcam frame, and of each export's largest image), the median of `--predictions` runs.

    .venv/bin/python bench/resample.py [--exports NAME ...] [--predictions N] [--quick]
"""

from __future__ import annotations

import base64
import statistics
from pathlib import Path

import common
import numpy as np
from support import official_tm
from support import resample as reference

from tmbuild.evaluate.labelled import list_labelled

DEFAULT_EXPORTS = ["epi-pt4-imgs", "brands6-imgs"]
CANDIDATES = ("page", *reference.FILTERS)  # page: the page as built, given the <img>

OPEN_REFERENCE = """async () => {
  const frame = document.createElement("iframe");
  frame.hidden = true;
  await new Promise((resolve) => { frame.onload = resolve; frame.src = "/official/index.html";
    document.body.append(frame); });
  const info = await frame.contentWindow.official;
  window.officialPredict = frame.contentWindow.officialPredict;
  return info;
}"""

# The image decoded (EXIF applied), its pixels at natural size, Chromium's own crop and resize
# as Teachable Machine's cropTo draws it, and both classifiers' answers for the <img>.
DECODE = """async ({ url, size }) => {
  const image = new Image();
  await new Promise((resolve, reject) => { image.onload = resolve; image.onerror = reject;
    image.src = url; });
  const base64 = (bytes) => {
    let text = "";
    for (let i = 0; i < bytes.length; i += 32768) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 32768));
    }
    return btoa(text);
  };
  const [w, h] = [image.naturalWidth, image.naturalHeight];
  const full = document.createElement("canvas");
  [full.width, full.height] = [w, h];
  full.getContext("2d").drawImage(image, 0, 0);
  const pixels = full.getContext("2d").getImageData(0, 0, w, h).data;
  const scale = size / Math.min(w, h);
  const [sw, sh] = [Math.ceil(w * scale), Math.ceil(h * scale)];
  const crop = document.createElement("canvas");
  crop.width = crop.height = size;
  crop.getContext("2d").drawImage(image, -Math.trunc((sw - size) / 2),
    -Math.trunc((sh - size) / 2), sw, sh);
  const drawn = crop.getContext("2d").getImageData(0, 0, size, size).data;
  const probabilities = (pairs) => Object.fromEntries(pairs);
  const ours = await window.tmbuild.predict(image);
  const theirs = await window.officialPredict(image);
  return { width: w, height: h, pixels: base64(new Uint8Array(pixels.buffer)),
    drawn: base64(new Uint8Array(drawn.buffer)),
    ours: probabilities(ours.predictions.map((p) => [p.label, p.probability])),
    official: probabilities(theirs.map((p) => [p.className, p.probability])) };
}"""

CLASSIFY_PIXELS = """async ({ pixels, size }) => {
  const bytes = Uint8ClampedArray.from(atob(pixels), (c) => c.charCodeAt(0));
  const result = await window.tmbuild.predict(new ImageData(bytes, size, size));
  return Object.fromEntries(result.predictions.map((p) => [p.label, p.probability]));
}"""

# Median ms of `classify` for a w×h canvas (a webcam frame's size) and for an <img>.
TIME_PREDICTIONS = """async ({ url, runs }) => {
  const median = (values) => values.sort((a, b) => a - b)[values.length >> 1];
  const time = async (source) => {
    await window.tmbuild.predict(source);
    const times = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      await window.tmbuild.predict(source);
      times.push(performance.now() - started);
    }
    return median(times);
  };
  const frame = document.createElement("canvas");
  [frame.width, frame.height] = [640, 480];
  const context = frame.getContext("2d");
  const gradient = context.createLinearGradient(0, 0, 640, 480);
  gradient.addColorStop(0, "#c33");
  gradient.addColorStop(1, "#3c9");
  context.fillStyle = gradient;
  context.fillRect(0, 0, 640, 480);
  const image = new Image();
  await new Promise((resolve) => { image.onload = resolve; image.src = url; });
  return { frame: await time(frame), image: await time(image),
    imageSize: [image.naturalWidth, image.naturalHeight] };
}"""


def _decode(text: str, height: int, width: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(height, width, 4)


def _top(probabilities: dict[str, float]) -> str:
    return max(probabilities, key=probabilities.get)


def measure(target: common.Target, args, work: Path) -> dict:
    """Every candidate on every labelled image of `target`, and the page's time per prediction."""
    root = target.images
    images = list_labelled(root).all_images()
    if args.quick:
        images = images[:: max(1, len(images) // 12)]
    common.build_tmbuild_site(target, work / "dist", "none", backend="wasm")
    official = official_tm.write_official_page(
        work / "official", target.export, official_tm.TFJS_CURRENT, "wasm"
    )
    size = 224
    rows = {name: {"max_dp": 0.0, "top1": 0, "correct": 0} for name in CANDIDATES}
    rows["library"] = {"max_dp": 0.0, "top1": 0, "correct": 0}
    pixel_gap = {"max": 0, "mean": []}
    mounts = {"/official/": official, common.BENCH_IMAGES: root}
    with (
        official_tm.serve(work / "dist", mounts) as url,
        common.fresh_profile() as profile,
        common.chromium(profile, []) as context,
    ):
        page = context.new_page()
        page.goto(url + "/")
        page.evaluate("window.tmbuild.ready")
        page.evaluate(OPEN_REFERENCE)
        largest = max(images, key=lambda image: image.path.stat().st_size)
        for image in [] if args.timing_only else images:
            decoded = page.evaluate(
                DECODE, {"url": common.image_url(root, image.path), "size": size}
            )
            pixels = _decode(decoded["pixels"], decoded["height"], decoded["width"])
            theirs = decoded["official"]
            answers = {"page": decoded["ours"], "library": theirs}
            for kind in reference.FILTERS:
                resized = reference.crop_and_resize(pixels, size, kind)
                if kind == "bilinear":
                    drawn = _decode(decoded["drawn"], size, size)[..., :3].astype(int)
                    gap = np.abs(resized[..., :3].astype(int) - drawn)
                    pixel_gap["max"] = max(pixel_gap["max"], int(gap.max()))
                    pixel_gap["mean"].append(float(gap.mean()))
                encoded = base64.b64encode(resized.tobytes()).decode("ascii")
                answers[kind] = page.evaluate(CLASSIFY_PIXELS, {"pixels": encoded, "size": size})
            for name, answer in answers.items():
                row = rows[name]
                row["max_dp"] = max(row["max_dp"], max(abs(answer[k] - theirs[k]) for k in theirs))
                row["top1"] += _top(answer) == _top(theirs)
                row["correct"] += _top(answer) == image.folder
        timing = page.evaluate(
            TIME_PREDICTIONS,
            {"url": common.image_url(root, largest.path), "runs": args.predictions},
        )
    count = len(images)
    if args.timing_only:
        print(f"\n{target.name}: ms / prediction {timing}")
        return {"ms_per_prediction": timing}
    table = [
        [
            name,
            f"{row['max_dp']:.2g}",
            f"{row['top1'] / count:.1%} ({row['top1']})",
            f"{row['correct'] / count:.1%} ({row['correct']})",
        ]
        for name, row in rows.items()
    ]
    print(f"\n{target.name}: {count} labelled images, Chromium")
    print(common.table(["candidate", "max Δp vs library", "top-1 = library", "accuracy"], table))
    gap_mean = statistics.mean(pixel_gap["mean"])
    print(f"bilinear vs Chromium's drawImage: max |Δ| {pixel_gap['max']}, mean {gap_mean:.3f}")
    print(
        f"ms / prediction (median of {args.predictions}): 640×480 canvas {timing['frame']:.1f}, "
        f"{largest.path.name} {timing['imageSize']} {timing['image']:.1f}"
    )
    return {
        "images": count,
        "candidates": rows,
        "bilinear_pixel_gap": {"max": pixel_gap["max"], "mean": gap_mean},
        "ms_per_prediction": timing,
    }


def run() -> None:
    parser = common.argument_parser(__doc__, DEFAULT_EXPORTS, 1, "unused", predictions=True)
    parser.add_argument("--quick", action="store_true", help="about 12 images per export")
    parser.add_argument(
        "--timing-only", action="store_true", help="only the time per prediction, no candidates"
    )
    args = parser.parse_args()
    notes = "candidates of tests/support/resample.py against @teachablemachine/image in Chromium"
    common.measure_each_export("resample", args, DEFAULT_EXPORTS, measure, notes)


if __name__ == "__main__":
    common.main(run)
