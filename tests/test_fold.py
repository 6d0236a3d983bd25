"""Batch norms folded into convolutions: the arithmetic, the rewired topology, the build."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import BATCH_NORM, functional_layer, real_export, tiny_model, tiny_model_base

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.export.read import read_export
from tmbuild.model.fold import fold_batch_norms
from tmbuild.model.plan import build_plan
from tmbuild.model.weights import Weight, decode_weights

EPSILON = BATCH_NORM["epsilon"]


def _with_norm(depthwise: bool):
    """The conftest model with a batch norm (and ReLU6) after a bias-free convolution."""
    topology, entries, data = tiny_model()
    weights = decode_weights(entries, data)
    model = tiny_model_base(topology)
    conv = model["layers"][1]
    conv["config"].update(activation="linear", use_bias=False)
    if depthwise:
        conv["class_name"] = "DepthwiseConv2D"
        conv["config"]["depth_multiplier"] = 1
    channels = 3 if depthwise else 8
    model["layers"] += [
        functional_layer("BatchNormalization", "bn", ["Conv1"], **BATCH_NORM),
        functional_layer("ReLU", "relu", ["bn"], max_value=6),
    ]
    model["output_layers"] = [["relu", 0, 0]]
    rng = np.random.default_rng(1)
    kernel = rng.standard_normal((3, 3, 3, 1 if depthwise else 8)).astype(np.float32)
    name = "Conv1/depthwise_kernel" if depthwise else "Conv1/kernel"
    weights = [Weight(name, "float32", kernel)] + [
        w for w in weights if not w.name.startswith("Conv1/")
    ]
    norm = {
        "gamma": rng.uniform(0.5, 2, channels),
        "beta": rng.standard_normal(channels),
        "moving_mean": rng.standard_normal(channels),
        "moving_variance": rng.uniform(0.1, 3, channels),
    }
    weights += [Weight(f"bn/{key}", "float32", value.astype(np.float32))
                for key, value in norm.items()]  # fmt: skip
    if depthwise:  # the dense head now reads 3 channels
        weights = [Weight(w.name, "float32", w.array[:3]) if w.name == "dense_Dense1/kernel"
                   else w for w in weights]  # fmt: skip
    return topology, weights, kernel, norm


def _manifest(weights):
    return [{"name": w.name, "shape": list(w.array.shape), "dtype": w.dtype} for w in weights]


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv", "depthwise"])
def test_a_folded_norm_is_a_scale_and_shift_per_output_channel(depthwise):
    topology, weights, kernel, norm = _with_norm(depthwise)
    plan, reason = build_plan(topology, _manifest(weights))
    assert reason == ""
    folded_topology, folded, count = fold_batch_norms(topology, weights, plan)
    assert count == 1
    by_name = {w.name: w.array for w in folded}
    assert not any(name.startswith("bn/") for name in by_name)
    scale = norm["gamma"] / np.sqrt(norm["moving_variance"] + EPSILON)
    name = "Conv1/depthwise_kernel" if depthwise else "Conv1/kernel"
    expected = kernel * (scale.reshape(3, 1) if depthwise else scale)
    np.testing.assert_allclose(by_name[name], expected, rtol=1e-6)
    np.testing.assert_allclose(
        by_name["Conv1/bias"], norm["beta"] - norm["moving_mean"] * scale, rtol=1e-5, atol=1e-6
    )
    # The new bias comes right after its kernel; the norm layer is gone and ReLU reads Conv1.
    names = [w.name for w in folded]
    assert names[names.index(name) + 1] == "Conv1/bias"
    model = tiny_model_base(folded_topology)
    assert [layer["name"] for layer in model["layers"]] == ["input_1", "Conv1", "relu"]
    assert model["layers"][1]["config"]["use_bias"] is True
    assert model["layers"][2]["inbound_nodes"] == [[["Conv1", 0, 0, {}]]]
    # The original is untouched, and the folded model plans to one fused step.
    assert "bn" in json.dumps(topology)
    refolded, reason = build_plan(folded_topology, _manifest(folded))
    assert refolded.steps[0]["activation"] == "relu6" and "batchnorm" not in refolded.steps[0]


def _build(tmp_path, quantize: str, runner: str = "plan"):
    config, _ = load_config(None, {
        "model_path": real_export("brands6-imgs"), "output": tmp_path / quantize,
        "quantize": quantize,
    })  # fmt: skip
    return build(replace(config, runtime=replace(config.runtime, model_runner=runner)), write=False)


@pytest.mark.parametrize(
    ("quantize", "runner", "norms_left"),
    [
        ("none", "plan", 0),
        ("float16", "plan", 0),
        ("uint8", "plan", 52),
        ("float16", "tf-layers", 52),
    ],
)
def test_builds_fold_unless_uint8_or_tf_layers_is_asked_for(tmp_path, quantize, runner, norms_left):
    result = _build(tmp_path, quantize, runner)
    model_json = result.files[result.model.model_json_path]
    topology = json.dumps(json.loads(model_json)["modelTopology"])
    assert topology.count('"BatchNormalization"') == norms_left
    weights = json.loads(model_json)["weightsManifest"][0]["weights"]
    assert sum(w["name"].endswith("/moving_mean") for w in weights) == norms_left
    export = read_export(real_export("brands6-imgs"))
    original = sum(len(entries) for entries, _ in export.weight_groups)
    # Each fold drops gamma, beta, mean and variance and adds one bias.
    assert len(weights) == original - 3 * (52 - norms_left)
