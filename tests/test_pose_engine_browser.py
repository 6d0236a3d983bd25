"""The pose engine in Chromium: its frame, its decoding, and parity with @teachablemachine/pose.

client/pose.js prepares PoseNet's frame (padded to a centred square, resized to 257×257 as
TensorFlow.js 1.3.1 resizes) and decodes the pose as Teachable Machine 0.8.6 does (the first
of PoseNet's multi-pose decoder's poses); engine.js runs the plan and gives `pose` beside the
probabilities. The decoding tests give pose.js crafted outputs and compare with a decoder
written here from PoseNet's description; the parity test runs the official library (0.8.6, its
TensorFlow.js 1.3.1, fetched at test time: support/official_pose.py) and tmbuild's engine, on
both of its runners, on the same PoseNet, head and photos of people.
"""

from __future__ import annotations

import base64
import math
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from support.browser import chromium, serve_site
from support.official_pose import estimate_all
from support.pose_export import read_png, write_pose_export
from test_posenet_plan import real_posenet

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.page.tfjs import TFJS_VERSION, runtime_files

pytestmark = pytest.mark.browser

CLIENT = ROOT / "tmbuild" / "page" / "client"
PHOTOS = ROOT / "examples" / "poses-images"
PARTS = [
    "nose",
    "leftEye",
    "rightEye",
    "leftEar",
    "rightEar",
    "leftShoulder",
    "rightShoulder",
    "leftElbow",
    "rightElbow",
    "leftWrist",
    "rightWrist",
    "leftHip",
    "rightHip",
    "leftKnee",
    "rightKnee",
    "leftAnkle",
    "rightAnkle",
]
# PoseNet's tree, [parent, child], by part name (its poseChain).
CHAIN = [
    ("nose", "leftEye"),
    ("leftEye", "leftEar"),
    ("nose", "rightEye"),
    ("rightEye", "rightEar"),
    ("nose", "leftShoulder"),
    ("leftShoulder", "leftElbow"),
    ("leftElbow", "leftWrist"),
    ("leftShoulder", "leftHip"),
    ("leftHip", "leftKnee"),
    ("leftKnee", "leftAnkle"),
    ("nose", "rightShoulder"),
    ("rightShoulder", "rightElbow"),
    ("rightElbow", "rightWrist"),
    ("rightShoulder", "rightHip"),
    ("rightHip", "rightKnee"),
    ("rightKnee", "rightAnkle"),
]
STRIDE, CELLS, SIZE = 16, 17, 257


def _site(folder: Path) -> Path:
    """A blank page with TensorFlow.js core and its CPU backend, and the client's modules."""
    folder.mkdir(parents=True, exist_ok=True)
    for file in runtime_files(TFJS_VERSION, "cpu", with_layers=False):
        (folder / f"tf-{file.role}.js").write_bytes(file.read_bytes())
    for module in CLIENT.glob("*.js"):
        shutil.copy(module, folder / module.name)
    (folder / "index.html").write_text("<!doctype html><title>pose engine</title>")
    return folder


def _in_page(tmp_path: Path, script: str, argument):
    with serve_site(_site(tmp_path / "site")) as url, chromium() as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url + "/")
        result = page.evaluate(script, argument)
        assert errors == []
    return result


# --- decoding -------------------------------------------------------------------------------

DECODE = """async (cases) => {
  const { decodePose, sourcePose } = await import("/pose.js");
  return cases.map(({ outputs, frame }) => {
    const unpacked = Object.fromEntries(Object.entries(outputs).map(([name, { values, shape }]) =>
      [name, { values: Float32Array.from(values), shape }]));
    const pose = decodePose(unpacked, 257);
    return frame ? sourcePose(pose, frame) : pose;
  });
}"""


def _reference_decode(scores, offsets, forward, backward):
    """PoseNet's first pose, written here from its description (decodeMultiplePoses, 0.5)."""
    best = None
    for y in range(CELLS):
        for x in range(CELLS):
            for k in range(17):
                if scores[y, x, k] >= 0.5 and (best is None or scores[y, x, k] > best[0]):
                    best = (float(scores[y, x, k]), y, x, k)
    if best is None:
        return None

    def near(point):
        return [min(max(int(math.floor(v / STRIDE + 0.5)), 0), CELLS - 1) for v in point]

    def at_offset(cell, k):
        y, x = cell
        return (y * STRIDE + float(offsets[y, x, k]), x * STRIDE + float(offsets[y, x, 17 + k]))

    found = {best[3]: (best[0], at_offset(best[1:3], best[3]))}

    def follow(source, target, edge, field):
        y, x = near(found[source][1])
        point = (
            found[source][1][0] + float(field[y, x, edge]),
            found[source][1][1] + float(field[y, x, 16 + edge]),
        )
        for _ in range(2):
            point = at_offset(near(point), target)
        y, x = near(point)
        found[target] = (float(scores[y, x, target]), point)

    ids = [(PARTS.index(a), PARTS.index(b)) for a, b in CHAIN]
    for edge in reversed(range(len(ids))):
        parent, child = ids[edge]
        if child in found and parent not in found:
            follow(child, parent, edge, backward)
    for edge, (parent, child) in enumerate(ids):
        if parent in found and child not in found:
            follow(parent, child, edge, forward)
    keypoints = [found[k] for k in range(17)]
    return sum(s for s, _ in keypoints) / 17, keypoints


def _outputs(scores, offsets, forward, backward) -> dict:
    features = np.concatenate([scores, offsets], axis=-1).astype(np.float32)
    pack = {"features": features, "displacementFwd": forward, "displacementBwd": backward}
    return {
        name: {"values": a.astype(np.float32).reshape(-1).tolist(), "shape": list(a.shape)}
        for name, a in pack.items()
    }


def _crafted(seed: int, root: tuple[int, int, int] | None, level: float = 0.45):
    """Crafted fields: scores below `level` but one root, random offsets and displacements."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, level, (CELLS, CELLS, 17)).astype(np.float32)
    if root is not None:
        scores[root] = 0.9
    offsets = rng.uniform(-12, 12, (CELLS, CELLS, 34)).astype(np.float32)
    forward = rng.uniform(-40, 40, (CELLS, CELLS, 32)).astype(np.float32)
    backward = rng.uniform(-40, 40, (CELLS, CELLS, 32)).astype(np.float32)
    return scores, offsets, forward, backward


def test_pose_js_decodes_crafted_fields_as_posenets_first_pose(tmp_path):
    cases = []
    # A root in the middle, at a wrist (the traversal climbs to the nose, then down the other
    # limbs), at a corner (clamped cells), and two candidates where the higher one must win.
    fields = [_crafted(1, (8, 8, 0)), _crafted(2, (12, 3, 9)), _crafted(3, (0, 16, 16))]
    scores, offsets, forward, backward = _crafted(4, (2, 2, 5))
    scores[14, 14, 11] = 0.95  # a better root, later in scan order and a later keypoint
    fields.append((scores, offsets, forward, backward))
    tie = _crafted(5, (3, 9, 12))
    tie[0][10, 2, 1] = 0.9  # the same score later in scan order: the first one stays the root
    fields.append(tie)
    fields.append(_crafted(6, None))  # nothing reaches 0.5: no pose
    fields.append(_crafted(7, None, level=0.5))  # at most just under 0.5 too
    for field in fields:
        cases.append({"outputs": _outputs(*field)})
    got = _in_page(tmp_path, DECODE, cases)
    for field, pose in zip(fields, got, strict=True):
        expected = _reference_decode(*field)
        if expected is None:
            assert pose is None
            continue
        score, keypoints = expected
        assert [k["part"] for k in pose["keypoints"]] == PARTS
        assert pose["score"] == pytest.approx(score, abs=1e-6)
        for (part_score, (y, x)), keypoint in zip(keypoints, pose["keypoints"], strict=True):
            assert keypoint["score"] == pytest.approx(part_score, abs=1e-6), keypoint["part"]
            assert keypoint["position"]["y"] == pytest.approx(y, abs=1e-4), keypoint["part"]
            assert keypoint["position"]["x"] == pytest.approx(x, abs=1e-4), keypoint["part"]
    # The roots: their own keypoint at their cell plus its offset, with the root's score.
    assert got[0]["keypoints"][0]["score"] == pytest.approx(0.9)
    assert got[3]["keypoints"][11]["score"] == pytest.approx(0.95)
    y, x = 14 * 16 + fields[3][1][14, 14, 11], 14 * 16 + fields[3][1][14, 14, 28]
    assert got[3]["keypoints"][11]["position"] == pytest.approx({"y": y, "x": x}, abs=1e-4)
    assert got[4]["keypoints"][12]["score"] == pytest.approx(0.9)
    assert got[4]["keypoints"][12]["position"]["y"] == pytest.approx(
        3 * 16 + fields[4][1][3, 9, 12], abs=1e-4
    )


def test_pose_js_scales_a_pose_back_through_posenets_padding(tmp_path):
    scores, offsets, forward, backward = _crafted(8, (8, 8, 0))
    # A 300 × 201 landscape photo: 99 rows short, so PoseNet pads round(49.5) = 50 rows above
    # AND below (one more than a square needs), and the frame stands for 300 × 301 pixels.
    frame = {
        "size": 257,
        "width": 300,
        "height": 201,
        "padding": {"top": 50, "bottom": 50, "left": 0, "right": 0},
    }
    plain, scaled = _in_page(
        tmp_path,
        DECODE,
        [
            {"outputs": _outputs(scores, offsets, forward, backward)},
            {"outputs": _outputs(scores, offsets, forward, backward), "frame": frame},
        ],
    )
    for a, b in zip(plain["keypoints"], scaled["keypoints"], strict=True):
        assert b["position"]["x"] == pytest.approx(a["position"]["x"] * 300 / 257)
        assert b["position"]["y"] == pytest.approx(a["position"]["y"] * 301 / 257 - 50)


# --- the frame ------------------------------------------------------------------------------

FRAME = """async (images) => {
  const { poseFrame } = await import("/pose.js");
  return images.map(({ width, height, rgba, flipped }) => {
    const data = Uint8ClampedArray.from(atob(rgba), (c) => c.charCodeAt(0));
    const frame = poseFrame(new ImageData(data, width, height), 257, flipped);
    const bytes = new Uint8Array(frame.pixels.buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i += 8192) {
      text += String.fromCharCode(...bytes.subarray(i, i + 8192));
    }
    return { pixels: btoa(text), padding: frame.padding };
  });
}"""


def _reference_frame(rgb: np.ndarray, flipped: bool) -> tuple[np.ndarray, dict]:
    """PoseNet's pad3d (zeros, round((long - short) / 2) each side) and TF.js 1.3.1's resize."""
    if flipped:
        rgb = rgb[:, ::-1]
    height, width = rgb.shape[:2]
    pad = [0, 0, 0, 0]  # top, bottom, left, right
    if width < height:
        pad[2] = pad[3] = int(math.floor(0.5 * (height - width) + 0.5))
    else:
        pad[0] = pad[1] = int(math.floor(0.5 * (width - height) + 0.5))
    padded = np.pad(rgb.astype(np.float64), ((pad[0], pad[1]), (pad[2], pad[3]), (0, 0)))

    def axis(length):  # output i reads input i · length / SIZE: its two neighbours and weight
        at = length / SIZE * np.arange(SIZE)
        low = np.floor(at).astype(int)
        return low, np.minimum(length - 1, np.ceil(at).astype(int)), (at - low)[:, None]

    (y0, y1, fy), (x0, x1, fx) = axis(padded.shape[0]), axis(padded.shape[1])
    fy = fy[:, :, None]
    top = padded[y0][:, x0] + (padded[y0][:, x1] - padded[y0][:, x0]) * fx
    bottom = padded[y1][:, x0] + (padded[y1][:, x1] - padded[y1][:, x0]) * fx
    out = (top + (bottom - top) * fy).astype(np.float32)
    return out, dict(zip(("top", "bottom", "left", "right"), pad, strict=True))


def test_the_frame_is_posenets_padded_square_resized_as_tensorflow_js_1_3_1(tmp_path):
    rng = np.random.default_rng(3)
    shapes = [(40, 31, False), (31, 40, False), (31, 40, True), (20, 20, False), (257, 257, True)]
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w, _ in shapes]
    argument = []
    for (h, w, flipped), rgb in zip(shapes, images, strict=True):
        rgba = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], axis=-1)
        argument.append(
            {
                "width": w,
                "height": h,
                "flipped": flipped,
                "rgba": base64.b64encode(rgba.tobytes()).decode(),
            }
        )
    got = _in_page(tmp_path, FRAME, argument)
    for (h, w, flipped), rgb, result in zip(shapes, images, got, strict=True):
        expected, padding = _reference_frame(rgb, flipped)
        assert result["padding"] == padding, (h, w)
        pixels = np.frombuffer(base64.b64decode(result["pixels"]), "<f4").reshape(SIZE, SIZE, 3)
        np.testing.assert_array_equal(pixels, expected, err_msg=f"{h}×{w} flipped={flipped}")
    # A 257 × 257 source is the frame itself: the resize of ratio 1 changes nothing.
    np.testing.assert_array_equal(_reference_frame(images[-1], True)[0], images[-1][:, ::-1])


# --- parity with @teachablemachine/pose 0.8.6 -----------------------------------------------

# On the built page: its own classifier (window.tmbuild), as the page's inputs call it.
ENGINE = """async (cases) => {
  const classifier = window.tmbuild;
  const info = await classifier.ready;
  const results = [];
  for (const [name, flipped] of cases) {
    const image = new Image();
    image.src = "images/" + name;
    await image.decode();
    const result = await classifier.predict(image, { flipped });
    const byLabel = Object.fromEntries(result.predictions.map((p) => [p.label, p.probability]));
    results.push({ probabilities: info.labels.map((label) => byLabel[label]),
      top: result.top.label, pose: result.pose });
  }
  return { info: { runner: info.runner, backend: info.backend, warmupMs: info.warmupMs },
    results };
}"""


def png_bytes(rgb: np.ndarray) -> bytes:
    """An RGB array as a PNG (no filtering)."""
    height, width = rgb.shape[:2]
    raw = b"".join(b"\0" + rgb[y].astype(np.uint8).tobytes() for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def photo_cases(photos: list[Path], folder: Path) -> list[tuple[str, bool]]:
    """Each photo as it is; the first also mirrored, and cut to a landscape and a portrait whose
    sides differ by an odd number of pixels (PoseNet's padding then adds one pixel more than a
    square needs). Written as PNGs into `folder`: (file name, flipped) cases."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for index, photo in enumerate(photos):
        rgb = read_png(photo)
        variants = [(f"{index}.png", rgb)]
        if index == 0:
            height, width = rgb.shape[:2]
            rows = side = min(height, width) * 3 // 5
            rows -= (width - rows) % 2 == 0  # an odd difference
            side -= (height - side) % 2 == 0
            start = (width - side) // 2
            variants.append((f"{index}-landscape.png", rgb[:rows]))
            variants.append((f"{index}-portrait.png", rgb[:, start : start + side]))
        for name, image in variants:
            (folder / name).write_bytes(png_bytes(image))
            cases.append((name, False))
        if index == 0:
            cases.append((f"{index}.png", True))
    return cases


def built_site(folder: Path, export: Path, photos: Path, backend: str) -> Path:
    """A pose site built from `export` as a user builds one, the photos copied beside it."""
    folder.mkdir(parents=True)
    site_yaml = folder / "site.yaml"
    # No .gz/.br siblings: 10.9 MB of float32 weights take a cold cache a minute to compress,
    # and the static server here sends the files as they are.
    site_yaml.write_text(
        f"model:\n  path: {export}\nclassifier:\n  backend: {backend}\n"
        "compress:\n  gzip: false\n  brotli: false\n"
    )
    config, _ = load_config(site_yaml, {"output": folder / "dist"})
    build(config)
    shutil.copytree(photos, folder / "dist" / "images")
    return folder / "dist"


def engine_estimates(tmp_path: Path, export: Path, photos: Path, cases, runner: str) -> dict:
    """The built page's answers: `auto` runs on tmbuild's kernels, `cpu` on TensorFlow.js."""
    backend = "auto" if runner == "kernels" else "cpu"
    site = built_site(tmp_path / f"site-{runner}", export, photos, backend)
    with serve_site(site) as url, chromium() as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url + "/")
        result = page.evaluate(ENGINE, cases)
        assert errors == []
    assert result["info"]["runner"] == runner
    return result


def parity_figures(tmp_path: Path, photos: list[Path]) -> dict:
    """Per runner and case: max |Δp|, same top label, max keypoint distance (px), both poses."""
    export = write_pose_export(tmp_path / "export")
    images = tmp_path / "images"
    cases = photo_cases(photos, images)
    official = estimate_all(export, images, cases)
    figures = {}
    for runner in ("kernels", "tensorflow"):
        ours = engine_estimates(tmp_path, export, images, cases, runner)
        rows = []
        for (name, flipped), theirs, mine in zip(cases, official, ours["results"], strict=True):
            row = {
                "case": name + (" mirrored" if flipped else ""),
                "dp": max(
                    abs(a - b)
                    for a, b in zip(theirs["probabilities"], mine["probabilities"], strict=True)
                ),
                "same_top": int(np.argmax(theirs["probabilities"]))
                == int(np.argmax(mine["probabilities"])),
                "official": theirs["pose"],
                "ours": mine["pose"],
            }
            if theirs["pose"] and mine["pose"]:
                row["px"] = max(
                    math.dist(
                        (a["position"]["x"], a["position"]["y"]),
                        (b["position"]["x"], b["position"]["y"]),
                    )
                    for a, b in zip(
                        theirs["pose"]["keypoints"], mine["pose"]["keypoints"], strict=True
                    )
                )
                row["dscore"] = max(
                    abs(a["score"] - b["score"])
                    for a, b in zip(
                        theirs["pose"]["keypoints"], mine["pose"]["keypoints"], strict=True
                    )
                )
            rows.append(row)
        figures[runner] = rows
    return figures


def people_photos() -> list[Path]:
    """The example pose model's photos (examples/poses-images), the first of each label; first
    of all "arms up/000.png", whose landscape and portrait cuts both keep a pose (measured: the
    library finds one at 0.83, 0.81 and 0.71), so the padding is checked on keypoints too."""
    found = sorted(PHOTOS.rglob("*.png")) if PHOTOS.is_dir() else []
    if not found:
        pytest.skip(f"no photos of people in {PHOTOS} yet")
    by_label: dict[Path, list[Path]] = {}
    for path in found:
        by_label.setdefault(path.parent, []).append(path)
    chosen = [paths[0] for paths in by_label.values()]
    chosen.sort(key=lambda path: path != PHOTOS / "arms up" / "000.png")
    return chosen


def test_the_pose_page_agrees_with_teachable_machines_library_on_both_runners(tmp_path):
    real_posenet()  # skips when PoseNet is not here
    figures = parity_figures(tmp_path, people_photos())
    for runner, rows in figures.items():
        for row in rows:
            where = f"{runner}, {row['case']}"
            assert (row["official"] is None) == (row["ours"] is None), where
            assert row["same_top"], where
            assert row["dp"] < 1e-3, where
            if row["official"]:
                assert [k["part"] for k in row["ours"]["keypoints"]] == PARTS
                assert row["px"] < 1, where
                assert row["dscore"] < 1e-3, where
    # Not vacuous: most cases have a pose (a cut of a drawn person may leave too little of it).
    for rows in figures.values():
        assert sum(1 for row in rows if row["official"]) >= len(rows) / 2
