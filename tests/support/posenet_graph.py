"""PoseNet's graph model run in numpy node by node, as TensorFlow.js runs it: the reference plans
are checked against. Written from the graph's own attributes (ops, strides, padding, fused
ops) and TensorFlow's SAME rule, with none of tmbuild.model.pose_plan's code, and gathering
every window at once (im2col), where tests/support/plan_numpy.py sums tap by tap.
"""

from __future__ import annotations

import base64
import json

import numpy as np

from tmbuild.model.posenet import OUTPUTS


def run_graph(model_json: bytes, weights: bytes, image: np.ndarray, dtype=np.float32) -> dict:
    """Every node's output by name, for an HWC input already preprocessed."""
    model = json.loads(model_json)
    [group] = model["weightsManifest"]
    arrays, offset = {}, 0
    for entry in group["weights"]:
        count = int(np.prod(entry["shape"]))
        stored = np.frombuffer(weights, "<f4", count, offset)
        arrays[entry["name"]] = stored.reshape(entry["shape"]).astype(dtype)
        offset += 4 * count
    assert offset == len(weights)
    values: dict[str, np.ndarray] = {}
    for node in model["modelTopology"]["node"]:
        if node["op"] == "Const":
            continue
        if node["op"] == "Placeholder":
            values[node["name"]] = np.asarray(image, dtype)
            continue
        source, kernel, bias = (values.get(name, arrays.get(name)) for name in node["input"])
        attr = node["attr"]
        stride = int(attr["strides"]["list"]["i"][1])
        assert [int(v) for v in attr["dilations"]["list"]["i"]] == [1, 1, 1, 1]
        assert base64.b64decode(attr["padding"]["s"]) == b"SAME"
        columns = _im2col(source, kernel.shape[0], stride)  # rows, cols, taps, channels
        if node["op"] == "_FusedConv2D":
            taps = kernel.reshape(-1, kernel.shape[2], kernel.shape[3])
            y = np.einsum("hwtc,tco->hwo", columns, taps, optimize=True)
        else:
            assert node["op"] == "FusedDepthwiseConv2dNative"
            y = np.einsum("hwtc,tc->hwc", columns, kernel.reshape(-1, kernel.shape[2]))
        fused = [base64.b64decode(s).decode() for s in attr["fused_ops"]["list"]["s"]]
        y = y + bias
        if "Relu6" in fused:
            y = np.clip(y, 0, 6)
        values[node["name"]] = y.astype(dtype)
    return values


def posenet_outputs(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What posenet's MobileNet hands on: sigmoid heatmap scores, offsets, displacements."""
    offsets, heatmap, forward, backward = (values[name] for name in OUTPUTS)
    scores = (1 / (1 + np.exp(-heatmap))).astype(heatmap.dtype)
    return {"scores": scores, "offsets": offsets, "fwd": forward, "bwd": backward}


def teachable_machine_input(scores: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """@teachablemachine/pose's `poseOutputsToAray`: tf.concat([scores, offsets], 2).dataSync()."""
    height, width, keypoints = scores.shape
    flat = np.empty(height * width * 3 * keypoints, scores.dtype)
    for y in range(height):  # written out, not np.concatenate: the order is what is tested
        for x in range(width):
            start = (y * width + x) * 3 * keypoints
            flat[start : start + keypoints] = scores[y, x]
            flat[start + keypoints : start + 3 * keypoints] = offsets[y, x]
    return flat


def single_pose(scores: np.ndarray, offsets: np.ndarray, stride: int) -> list[tuple]:
    """posenet's decodeSinglePose: per keypoint, its heatmap's argmax plus the offset there.

    (score, y, x) in input pixels; offsets hold the 17 y offsets, then the 17 x offsets.
    """
    height, width, keypoints = scores.shape
    poses = []
    for k in range(keypoints):
        y, x = np.unravel_index(np.argmax(scores[:, :, k]), (height, width))
        poses.append((float(scores[y, x, k]), float(y * stride + offsets[y, x, k]),
                      float(x * stride + offsets[y, x, keypoints + k])))  # fmt: skip
    return poses


def _im2col(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Every size×size window of TensorFlow's SAME padding: [rows, cols, size², channels]."""
    height = x.shape[0]
    out = -(-height // stride)
    total = max((out - 1) * stride + size - height, 0)
    before = total // 2
    padded = np.pad(x, ((before, total - before), (before, total - before), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(0, 1))
    windows = windows[::stride, ::stride][:out, :out]  # rows, cols, channels, size, size
    return windows.transpose(0, 1, 3, 4, 2).reshape(out, out, size * size, x.shape[2])
