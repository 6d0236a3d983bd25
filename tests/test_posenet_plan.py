"""PoseNet as a plan: in numpy it gives what the graph model gives, in Teachable Machine's order.

A small graph shaped as PoseNet's (same node kinds, attributes and heads) runs everywhere; the
real pinned files run where a cache or TMBUILD_POSENET_DIR already holds them, since fetching
them costs npm 145 MB. The reference is tests/support/posenet_graph.py, which reads the graph
node by node and shares no code with the translation. float64 takes rounding out of the
comparisons that check the translation; float32 ones say what the page's rounding comes to.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import real_export
from support.plan_numpy import plan_weights, preprocess, run_plan
from support.posenet_graph import posenet_outputs, run_graph, single_pose, teachable_machine_input

from tmbuild.model.plan import Unsupported
from tmbuild.model.pose_plan import pose_plan, posenet_plan
from tmbuild.model.posenet import FOLDER_VARIABLE, OUTPUTS, cache_dir, posenet_files

_B64 = {text: base64.b64encode(text.encode()).decode() for text in ("SAME", "NHWC", "BiasAdd",
        "Relu6")}  # fmt: skip


def _node(name, op, source, kernel, bias, stride=1, relu6=True):
    fused = ["BiasAdd", "Relu6"] if relu6 else ["BiasAdd"]
    return {"name": name, "op": op, "input": [source, kernel, bias], "attr": {
        "strides": {"list": {"i": ["1", str(stride), str(stride), "1"]}},
        "dilations": {"list": {"i": ["1", "1", "1", "1"]}},
        "padding": {"s": _B64["SAME"]}, "data_format": {"s": _B64["NHWC"]},
        "explicit_paddings": {"list": {}}, "num_args": {"i": "1"},
        "fused_ops": {"list": {"s": [_B64[op] for op in fused]}}}}  # fmt: skip


def small_posenet(keypoints: int = 3, seed: int = 0) -> tuple[bytes, bytes]:
    """A graph model shaped as the pinned PoseNet, smaller: its model.json and its weights.

    Conv 3×3/2, then depthwise (one of stride 2) and pointwise pairs, then the four 1×1 heads
    listed in the packaged file's order (fwd, heatmap, bwd, offsets), weights in reverse order.
    """
    rng = np.random.default_rng(seed)
    nodes = [{"name": "image", "op": "Placeholder", "attr": {}}]
    weights: list[tuple[str, np.ndarray]] = []

    def const(shape):
        name = f"Const_{len(weights)}"
        weights.append((name, rng.normal(0, 0.5, shape).astype(np.float32)))
        nodes.append({"name": name, "op": "Const", "attr": {}})
        return name

    def layer(name, op, source, shape, stride=1, relu6=True):
        kernel, bias = const(shape), const([shape[2] if op.endswith("Native") else shape[3]])
        nodes.append(_node(name, op, source, kernel, bias, stride, relu6))
        return name

    x = layer("MobilenetV1/MobilenetV1/Conv2d_0/Relu6", "_FusedConv2D", "image", [3, 3, 3, 8], 2)
    for index, (stride, width) in enumerate([(1, 8), (2, 16)], start=1):
        x = layer(f"dw{index}", "FusedDepthwiseConv2dNative", x, [3, 3, width // stride, 1], stride)
        x = layer(f"pw{index}", "_FusedConv2D", x, [1, 1, width // stride, width])
    heads = {OUTPUTS[2]: 4, OUTPUTS[1]: keypoints, OUTPUTS[3]: 4, OUTPUTS[0]: 2 * keypoints}
    for name, depth in heads.items():
        layer(name, "_FusedConv2D", x, [1, 1, 16, depth], relu6=False)
    weights.reverse()
    manifest = [{"name": n, "shape": list(a.shape), "dtype": "float32"} for n, a in weights]
    model = {"format": "graph-model", "modelTopology": {"node": nodes},
             "weightsManifest": [{"paths": ["posenet.bin"], "weights": manifest}]}  # fmt: skip
    return json.dumps(model).encode(), b"".join(a.astype("<f4").tobytes() for _, a in weights)


def images(size: int, seed: int = 0) -> list[np.ndarray]:
    """RGB frames as a canvas gives them: noise, a smooth gradient with a figure, a checkerboard."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (size, size, 3))
    y, x = np.mgrid[0:size, 0:size] / size
    scene = np.stack([255 * y, 255 * x, 128 + 100 * np.sin(6 * x)], axis=-1)
    for cy, cx, r in ((0.2, 0.5, 0.08), (0.5, 0.5, 0.15), (0.8, 0.4, 0.06), (0.8, 0.6, 0.06)):
        scene[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = (240, 200, 170)  # a head, a body, feet
    board = 255 * (((np.arange(size)[:, None] // 16) + (np.arange(size) // 16)) % 2)
    return [a.astype(np.uint8) for a in (noise, scene, np.stack([board] * 3, axis=-1))]


def compare(model_json: bytes, weights: bytes, size: int, dtype, count: int = 3) -> list[dict]:
    """Per image, the largest differences between the plan and the graph, and both results."""
    plan = posenet_plan(model_json, size).as_json()
    by_name = plan_weights(plan["weights"], weights)
    found = []
    for pixels in images(size)[:count]:
        x = preprocess(pixels, plan["input"]["divisor"], plan["input"]["offset"])
        values = run_plan(plan, by_name, x, dtype)
        reference = posenet_outputs(run_graph(model_json, weights, x, dtype))
        keypoints = reference["scores"].shape[-1]
        features = values[plan["output"]]
        flat = features.reshape(-1)
        expected = teachable_machine_input(reference["scores"], reference["offsets"])
        found.append({
            "scores": np.abs(features[..., :keypoints] - reference["scores"]).max(),
            "offsets": np.abs(features[..., keypoints:] - reference["offsets"]).max(),
            "order": np.abs(flat - expected).max(),
            "fwd": np.abs(values[plan["outputs"]["displacementFwd"]] - reference["fwd"]).max(),
            "bwd": np.abs(values[plan["outputs"]["displacementBwd"]] - reference["bwd"]).max(),
            "flat": flat, "reference": reference,
        })  # fmt: skip
    return found


def test_a_small_posenet_runs_as_a_plan_as_its_graph_runs():
    model, weights = small_posenet()
    for found in compare(model, weights, 33, np.float64):
        assert max(found[key] for key in ("scores", "offsets", "order", "fwd", "bwd")) < 1e-10


def test_the_plan_is_posenets_convolutions_then_the_heads_and_the_concat():
    model, _ = small_posenet(keypoints=17)
    plan = posenet_plan(model, 33)
    ops = [(s["op"], s.get("activation", "linear"), s["strides"][0]) for s in plan.steps[:5]]
    assert ops == [("conv", "relu6", 2), ("depthwise", "relu6", 1), ("conv", "relu6", 1),
                   ("depthwise", "relu6", 2), ("conv", "relu6", 1)]  # fmt: skip
    heads = plan.steps[5:9]
    # In the graph's order: fwd, heatmap (with posenet's sigmoid), bwd, offsets.
    activations = [s.get("activation", "linear") for s in heads]
    assert activations == ["linear", "sigmoid", "linear", "linear"]
    assert plan.steps[-1] == {"op": "concat", "in": [7, 9], "free": [7, 9]}  # scores, offsets
    assert (plan.output, plan.outputs) == (10, {"displacementFwd": 6, "displacementBwd": 8})
    assert plan.input == {"shape": [33, 33, 3], "divisor": 127.5, "offset": -1.0}
    assert plan.output_shape == [9, 9, 51]  # 33 px at stride 4; 17 scores, 34 offsets
    assert all(e["name"].startswith("posenet/Const_") for e in plan.weights)
    freed = {v for s in plan.steps for v in s.get("free", [])}
    assert not freed & {0, plan.output, *plan.outputs.values()}


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda n: n[-1].update(op="Conv2D"), "is a Conv2D"),
        (lambda n: n[-1]["attr"]["fused_ops"]["list"].update(s=[_B64["BiasAdd"]] * 2),
         "fuses BiasAdd+BiasAdd"),
        (lambda n: n[-1]["attr"]["padding"].update(s=base64.b64encode(b"EXPLICIT").decode()),
         "has padding EXPLICIT"),
        (lambda n: n[-1]["attr"]["strides"]["list"].update(i=["2", "1", "1", "1"]),
         "has strides [2, 1, 1, 1]"),
        (lambda n: n[-1].update(input=["nowhere", *n[-1]["input"][1:]]), "before its input"),
        (lambda n: n.remove(n[-1]), "no output MobilenetV1/offset_2/BiasAdd"),
    ],
)  # fmt: skip
def test_a_graph_that_is_not_posenets_is_refused_with_the_reason(edit, reason):
    model, _ = small_posenet()
    graph = json.loads(model)
    edit(graph["modelTopology"]["node"])
    with pytest.raises(Unsupported, match=re.escape(reason)):
        posenet_plan(json.dumps(graph).encode(), 33)


def real_posenet():
    """The pinned files where a folder or the cache already holds them; never fetched here."""
    named = os.environ.get(FOLDER_VARIABLE)
    folder = Path(named).expanduser() if named else cache_dir()
    if not (folder / "posenet.bin").is_file():
        pytest.skip(f"PoseNet is not in {folder}; run `tmbuild fetch-runtime --pose` (145 MB)")
    return posenet_files(folder=folder)


def test_the_real_posenet_as_a_plan_gives_the_graphs_heatmaps_and_offsets():
    files = real_posenet()
    plan = posenet_plan(files.model_json)
    assert [s["op"] for s in plan.steps] == ["conv"] + ["depthwise", "conv"] * 13 + [
        "conv"] * 4 + ["concat"]  # fmt: skip
    assert sum(1 for s in plan.steps if s.get("activation") == "relu6") == 27
    assert plan.output_shape == [17, 17, 51]
    for found in compare(files.model_json, files.weights, 257, np.float64, count=2):
        assert found["flat"].shape == (14_739,)
        assert max(found[key] for key in ("scores", "offsets", "order", "fwd", "bwd")) < 1e-4


def test_in_float32_the_plan_rounds_as_little_as_tensorflow_js_does():
    """Numpy's float32 against TF.js in Chromium measured 2e-6 on scores, 2.6e-4 on offsets
    (range ±91) for a photo; plan and graph here differ by as much, in summation order only."""
    files = real_posenet()
    [found] = compare(files.model_json, files.weights, 257, np.float32, count=1)
    assert found["scores"] < 1e-5
    assert max(found["offsets"], found["fwd"], found["bwd"]) < 2e-3


def test_a_whole_pose_model_is_one_plan_giving_probabilities_and_keypoints():
    files = real_posenet()
    export = real_export("pose2-pt")
    model = json.loads((export / "model.json").read_text(encoding="utf-8"))
    [group] = model["weightsManifest"]
    rng = np.random.default_rng(3)
    head = {e["name"]: rng.normal(0, 0.05, e["shape"]).astype("<f4") for e in group["weights"]}
    posenet = posenet_plan(files.model_json)
    plan, reason = pose_plan(posenet, model["modelTopology"], group["weights"])
    assert reason == ""
    data = files.weights + b"".join(head[e["name"]].tobytes() for e in group["weights"])
    assert [s["op"] for s in plan.steps[-4:]] == ["flatten", "dense", "dense", "activation"]
    assert plan.outputs == {"displacementFwd": 29, "displacementBwd": 31, "features": 33}
    freed = {v for s in plan.steps for v in s.get("free", [])}
    assert not freed & {0, plan.output, *plan.outputs.values()}

    pixels = images(257)[1]
    x = preprocess(pixels, 127.5, -1)
    values = run_plan(plan.as_json(), plan_weights(plan.weights, data), x, np.float64)
    reference = posenet_outputs(run_graph(files.model_json, files.weights, x, np.float64))
    features = teachable_machine_input(reference["scores"], reference["offsets"])
    hidden = np.maximum(features @ head["dense_Dense1/kernel"] + head["dense_Dense1/bias"], 0)
    logits = hidden @ head["dense_Dense2/kernel"]
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    probabilities = values[plan.output]
    assert probabilities.shape == (2,)
    assert np.abs(probabilities - expected).max() < 1e-6
    # The keypoints, from the features the same run gave: per position 17 scores, 34 offsets.
    grid = values[plan.outputs["features"]].reshape(17, 17, 51)
    decoded = single_pose(grid[..., :17], grid[..., 17:], 16)
    wanted = single_pose(reference["scores"], reference["offsets"], 16)
    assert np.abs(np.array(decoded) - np.array(wanted)).max() < 1e-4


def head_topology(features: int, labels: int = 3) -> dict:
    """Teachable Machine's pose head, as in the pose2-pt export: Dense relu, Dropout, Dense."""
    layers = [
        {"class_name": "Dense", "config": {"name": "dense_Dense1", "units": 10, "use_bias": True,
         "activation": "relu", "batch_input_shape": [None, features]}},
        {"class_name": "Dropout", "config": {"name": "dropout_Dropout1", "rate": 0.5}},
        {"class_name": "Dense", "config": {"name": "dense_Dense2", "units": labels,
         "use_bias": False, "activation": "softmax"}},
    ]  # fmt: skip
    return {"class_name": "Sequential", "config": {"name": "sequential_2", "layers": layers}}


def test_a_small_pose_model_runs_posenet_then_the_head_in_one_plan():
    model, weights = small_posenet()
    posenet = posenet_plan(model, 33)
    features = 9 * 9 * 9  # 33 px at stride 4: 9×9 positions × (3 scores + 6 offsets)
    rng = np.random.default_rng(5)
    head = {"dense_Dense1/kernel": [features, 10], "dense_Dense1/bias": [10],
            "dense_Dense2/kernel": [10, 3]}  # fmt: skip
    entries = [{"name": n, "shape": s, "dtype": "float32"} for n, s in head.items()]
    arrays = {n: rng.normal(0, 0.3, s).astype("<f4") for n, s in head.items()}
    plan, reason = pose_plan(posenet, head_topology(features), entries)
    assert reason == ""
    assert (plan.weights, plan.output_shape) == ([*posenet.weights, *entries], [3])
    data = weights + b"".join(arrays[n].tobytes() for n in head)
    x = preprocess(images(33)[1], 127.5, -1)
    values = run_plan(plan.as_json(), plan_weights(plan.weights, data), x, np.float64)
    reference = posenet_outputs(run_graph(model, weights, x, np.float64))
    flat = teachable_machine_input(reference["scores"], reference["offsets"])
    np.testing.assert_allclose(values[plan.outputs["features"]], flat, atol=1e-10)
    hidden = np.maximum(flat @ arrays["dense_Dense1/kernel"] + arrays["dense_Dense1/bias"], 0)
    logits = hidden @ arrays["dense_Dense2/kernel"]
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(values[plan.output], expected, atol=1e-10)


def test_a_head_that_cannot_be_planned_or_borrows_a_posenet_name_is_refused():
    model, _ = small_posenet()
    posenet = posenet_plan(model, 33)
    entries = [{"name": "dense_Dense1/kernel", "shape": [729, 10], "dtype": "float32"},
               {"name": "dense_Dense1/bias", "shape": [10], "dtype": "float32"},
               {"name": "dense_Dense2/kernel", "shape": [10, 3], "dtype": "float16"}]  # fmt: skip
    assert pose_plan(posenet, head_topology(729), entries) == (
        None,
        "weight dense_Dense2/kernel is not float32",
    )
    entries[2]["dtype"] = "float32"
    assert pose_plan(
        posenet, head_topology(729), [{**entries[0], "shape": [728, 10]}, *entries[1:]]
    ) == (None, "the head does not start with a dense layer reading 729 features")
    clashing = replace(posenet, weights=[{**posenet.weights[0], "name": "dense_Dense1/bias"},
                                         *posenet.weights[1:]])  # fmt: skip
    assert pose_plan(clashing, head_topology(729), entries) == (
        None,
        "the head's weight dense_Dense1/bias has a PoseNet name",
    )
