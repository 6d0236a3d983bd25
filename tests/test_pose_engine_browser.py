"""The pose engine in Chromium: its frame, its decoding, and parity with @teachablemachine/pose.

client/pose.js prepares PoseNet's frame (padded to a centred square, resized to 257×257 as
TensorFlow.js 1.3.1 resizes) and decodes the pose as Teachable Machine 0.8.6 does (the first
of PoseNet's multi-pose decoder's poses); engine.js runs the plan and gives `pose` beside the
probabilities. The decoding tests give pose.js crafted outputs and compare with a decoder
written here from PoseNet's description. Parity with the official library on built sites is
tests/test_pose_parity.py.
"""

from __future__ import annotations

import base64
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from support.browser import chromium, serve_site

from tmbuild.page.tfjs import TFJS_VERSION, runtime_files

pytestmark = pytest.mark.browser

CLIENT = ROOT / "tmbuild" / "page" / "client"
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
