"""The page's plan runner predicts what tf-layers predicts, in Chromium, on every real export.

The plan runs on tmbuild's WASM kernels (tmbuild.model.kernels) here, where Chromium has only a
software WebGL and the page takes WASM, or on TensorFlow.js's ops with `runtime.kernels: false`.
Two checks:
- the same site: the page classifies generated images with its plan, then tf-layers (added to
  the page for the test, with TensorFlow.js core and its CPU backend where the page loaded no
  TensorFlow.js) loads the site's model.json and predicts the same pixels. Same weights
  (float32, float16 or uint8 in the shards), so this covers the runner, its weight decoding and
  the folded model.json (it must still load in tf-layers);
- across builds: the plan page (batch norms folded) against a `model_runner: tf-layers` page
  (the export's own topology and weights), float32, on the same images: the fold is exact.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    BATCH_NORM,
    EXAMPLE_EXPORT,
    IMAGE_EXPORTS,
    functional_layer,
    real_export,
    tiny_model,
    tiny_model_base,
    write_export,
)
from support.browser import chromium, serve_site

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.page.tfjs import TFJS_VERSION, runtime_files

pytestmark = pytest.mark.browser

TOLERANCE = 1e-4  # float32 arithmetic in another order; a wrong weight is off by far more
IMAGES = 4

# Seeded pixels on canvases of exactly the model's size, so cropping changes nothing and the
# runner and tf-layers see the same input.
CLASSIFY = """async (count) => {
  const info = await window.tmbuild.ready;
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const canvases = [];
  for (let n = 0; n < count; n++) {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = info.imageSize;
    const context = canvas.getContext("2d");
    const pixels = context.createImageData(info.imageSize, info.imageSize);
    for (let i = 0; i < pixels.data.length; i++) pixels.data[i] = i % 4 === 3 ? 255 : next() * 256;
    context.putImageData(pixels, 0, 0);
    // Smooth regions as well as noise: a few large discs.
    for (let d = 0; d < 6; d++) {
      context.fillStyle = `rgb(${next() * 255},${next() * 255},${next() * 255})`;
      context.beginPath();
      context.arc(next() * info.imageSize, next() * info.imageSize, next() * info.imageSize / 3,
        0, 2 * Math.PI);
      context.fill();
    }
    canvases.push(canvas);
  }
  window.__canvases = canvases;
  const results = [];
  for (const canvas of canvases) {
    const result = await window.tmbuild.classify(canvas);
    results.push(info.labels.map((label) =>
      result.predictions.find((p) => p.label === label).probability));
  }
  return results;
}"""

WITH_TF_LAYERS = """async () => {
  const load = (src) => new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = reject;
    document.head.append(script);
  });
  if (typeof tf === "undefined") { // the page ran its kernels: no TensorFlow.js of its own
    await load("/test-tf-core.js");
    await load("/test-tf-cpu.js");
    await tf.setBackend("cpu");
  }
  await load("/test-tf-layers.js");
  const config = JSON.parse(document.getElementById("tmbuild-config").textContent);
  const model = await tf.loadLayersModel(config.model.url);
  const results = [];
  for (const canvas of window.__canvases) {
    const output = tf.tidy(() => model.predict(tf.expandDims(
      tf.sub(tf.div(tf.cast(tf.browser.fromPixels(canvas), "float32"), 127), 1), 0)));
    results.push(Array.from(await output.data()));
    output.dispose();
  }
  model.dispose();
  return results;
}"""


def _build(
    tmp_path: Path, name: str, quantize: str, runner: str = "plan", kernels: bool = True
) -> Path:
    export = EXAMPLE_EXPORT if name == "example" else real_export(name)
    output = tmp_path / f"{name}-{quantize}-{runner}-{kernels}"
    config, _ = load_config(None, {"model_path": export, "output": output, "quantize": quantize})
    build(replace(config, runtime=replace(config.runtime, model_runner=runner, kernels=kernels)))
    return output


def _add_reference_runtime(site: Path) -> None:
    """TensorFlow.js core, its CPU backend and tf-layers, for WITH_TF_LAYERS."""
    for file in runtime_files(TFJS_VERSION, "cpu"):
        (site / f"test-tf-{file.role}.js").write_bytes(file.read_bytes())


def _page_predictions(site: Path, with_tf_layers: bool = False, runner: str | None = None):
    """The page's predictions on generated images, and tf-layers' on the same pixels if asked.

    `runner`: what the page must have run the model on ("kernels" or "tensorflow").
    """
    with serve_site(site) as url, chromium() as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url + "/")
        config = page.evaluate("JSON.parse(document.getElementById('tmbuild-config').textContent)")
        ours = page.evaluate(CLASSIFY, IMAGES)
        if runner is not None:
            assert page.evaluate("window.tmbuild.ready.then((info) => info.runner)") == runner
        theirs = page.evaluate(WITH_TF_LAYERS) if with_tf_layers else None
        assert errors == []
    return config, ours, theirs


def _largest_difference(a: list[list[float]], b: list[list[float]]) -> float:
    return max(abs(x - y) for row_a, row_b in zip(a, b, strict=True)
               for x, y in zip(row_a, row_b, strict=True))  # fmt: skip


# On the kernels: every export as published (float16), and brands6 in every quantisation; on
# TensorFlow.js's ops: brands6 in the two that differ most (uint8 folds its norms as it loads).
CASES = (
    [(name, "float16", True) for name in ["example", *sorted(IMAGE_EXPORTS)]]
    + [("brands6-imgs", "none", True), ("brands6-imgs", "uint8", True)]
    + [("brands6-imgs", "float16", False), ("brands6-imgs", "uint8", False)]
)


@pytest.mark.parametrize(("name", "quantize", "kernels"), CASES)
def test_the_plan_predicts_what_tf_layers_predicts_from_the_same_files(
    tmp_path, name, quantize, kernels
):
    site = _build(tmp_path, name, quantize, kernels=kernels)
    _add_reference_runtime(site)
    config, ours, theirs = _page_predictions(
        site, with_tf_layers=True, runner="kernels" if kernels else "tensorflow"
    )
    assert config["model"]["plan"] is not None
    assert not any("tf-layers" in s["url"] for s in config["runtime"]["scripts"])
    steps = config["model"]["plan"]["steps"]
    # float32 and float16 builds fold the batch norms into the convolutions; uint8 keeps them
    # and the page folds them as it loads.
    assert any("batchnorm" in step for step in steps) == (quantize == "uint8")
    assert _largest_difference(ours, theirs) < TOLERANCE


def test_folding_the_batch_norms_changes_no_prediction(tmp_path):
    _, folded, _ = _page_predictions(_build(tmp_path, "brands6-imgs", "none"))
    config, original, _ = _page_predictions(_build(tmp_path, "brands6-imgs", "none", "tf-layers"))
    assert config["model"]["plan"] is None
    assert any("tf-layers" in s["url"] for s in config["runtime"]["scripts"])
    assert _largest_difference(folded, original) < TOLERANCE


def test_float16_weights_decode_the_same_without_float16array(tmp_path):
    # Browsers before Float16Array (Safari 17, Firefox 128) take the page's own table.
    site = _build(tmp_path, "brands6-imgs", "float16")
    _, native, _ = _page_predictions(site)
    with serve_site(site) as url, chromium() as context:
        page = context.new_page()
        page.add_init_script("delete window.Float16Array;")
        page.goto(url + "/")
        assert page.evaluate("typeof Float16Array") == "undefined"
        table = page.evaluate(CLASSIFY, IMAGES)
    assert table == native  # both exact: every float16 is a float32


def _export_with_standalone_steps(folder: Path) -> Path:
    """The conftest model, its convolution read twice: a batch norm, an add and a tanh of their own.

    conv → norm → add(norm, conv) → tanh: nothing can be fused into the convolution, so the
    runner's standalone batchnorm, add and activation steps run, in a model tf-layers loads too.
    """
    topology, entries, data = tiny_model(labels=2, image_size=32)
    model = tiny_model_base(topology)
    model["layers"][1]["config"]["activation"] = "linear"
    model["layers"] += [
        functional_layer("BatchNormalization", "norm", ["Conv1"], **BATCH_NORM),
        functional_layer("Add", "sum", ["norm", "Conv1"]),
        functional_layer("Activation", "squash", ["sum"], activation="tanh"),
    ]
    model["output_layers"] = [["squash", 0, 0]]
    rng = np.random.default_rng(7)
    norm = [rng.uniform(0.5, 2, 8), rng.standard_normal(8), rng.standard_normal(8) * 0.1,
            rng.uniform(0.5, 2, 8)]  # fmt: skip
    for key, values in zip(("gamma", "beta", "moving_mean", "moving_variance"), norm, strict=True):
        entries.append({"name": f"norm/{key}", "shape": [8], "dtype": "float32"})
        data += values.astype("<f4").tobytes()
    model_json = {"modelTopology": topology,
                  "weightsManifest": [{"paths": ["weights.bin"], "weights": entries}]}  # fmt: skip
    write_export(folder, model_json=model_json)
    (folder / "weights.bin").write_bytes(data)
    return folder


@pytest.mark.parametrize("kernels", [True, False])
def test_standalone_batch_norm_add_and_activation_steps_match_tf_layers(tmp_path, kernels):
    export = _export_with_standalone_steps(tmp_path / "export")
    output = tmp_path / "site"
    config, _ = load_config(None, {"model_path": export, "output": output})
    build(replace(config, runtime=replace(config.runtime, kernels=kernels)))
    _add_reference_runtime(output)
    config, ours, theirs = _page_predictions(
        output, with_tf_layers=True, runner="kernels" if kernels else "tensorflow"
    )
    ops = [step["op"] for step in config["model"]["plan"]["steps"]]
    assert ops[:4] == ["conv", "batchnorm", "add", "activation"]
    assert _largest_difference(ours, theirs) < TOLERANCE


def test_a_grayscale_96_pixel_model_runs_from_its_plan_as_in_tf_layers(tmp_path):
    # The tiny image model: one channel, 96×96; the page turns colour images into luma first.
    export = write_export(tmp_path / "export", image_size=96, grayscale=True)
    sites = {}
    for runner in ("plan", "tf-layers"):
        config, _ = load_config(None, {"model_path": export, "output": tmp_path / runner})
        build(replace(config, runtime=replace(config.runtime, model_runner=runner)))
        sites[runner] = _page_predictions(tmp_path / runner)
    (planned, ours, _), (layers, theirs, _) = sites["plan"], sites["tf-layers"]
    assert planned["model"]["plan"] is not None and layers["model"]["plan"] is None
    assert planned["model"]["grayscale"] is True
    assert _largest_difference(ours, theirs) < TOLERANCE


def _export_with_awkward_convolutions(folder: Path) -> Path:
    """The conftest model with the convolutions a MobileNet does not have, after its Conv1.

    A 1×1 convolution to 6 channels (not a multiple of 4 or 8), a 3×3 stride-2 "valid"
    depthwise on them (the kernels' per-channel tail) and a 2×2 "same" convolution with
    dilation 2 (uneven padding, the general convolution path) back to the 8 channels the head
    reads. Then two zero paddings on every side unevenly, which the page leaves to the
    convolution after each: a "same" 3×3 depthwise and a "valid" 3×3 stride-2 convolution.
    """
    topology, entries, data = tiny_model(labels=3, image_size=40)
    model = tiny_model_base(topology)
    layers = [
        ("Conv2D", "squeeze", [1, 1, 8, 6], dict(filters=6, kernel_size=[1, 1], strides=[1, 1],
                                                padding="same", dilation_rate=[1, 1])),
        ("DepthwiseConv2D", "spread", [3, 3, 6, 1], dict(kernel_size=[3, 3], strides=[2, 2],
                                                       padding="valid", depth_multiplier=1,
                                                       dilation_rate=[1, 1])),
        ("Conv2D", "dilated", [2, 2, 6, 8], dict(filters=8, kernel_size=[2, 2], strides=[1, 1],
                                                padding="same", dilation_rate=[2, 2])),
        ("ZeroPadding2D", "pad_a", None, dict(padding=[[1, 2], [2, 0]])),
        ("DepthwiseConv2D", "padded_depthwise", [3, 3, 8, 1],
         dict(kernel_size=[3, 3], strides=[1, 1], padding="same", depth_multiplier=1,
              dilation_rate=[1, 1])),
        ("ZeroPadding2D", "pad_b", None, dict(padding=[[2, 1], [0, 3]])),
        ("Conv2D", "padded_conv", [3, 3, 8, 8], dict(filters=8, kernel_size=[3, 3],
                                                     strides=[2, 2], padding="valid",
                                                     dilation_rate=[1, 1])),
    ]  # fmt: skip
    rng = np.random.default_rng(11)
    source = "Conv1"
    for kind, name, shape, options in layers:
        if kind == "ZeroPadding2D":
            model["layers"].append(functional_layer(
                kind, name, [source], data_format="channels_last", **options))  # fmt: skip
            source = name
            continue
        model["layers"].append(functional_layer(
            kind, name, [source], activation="relu6", use_bias=True, data_format="channels_last",
            **options))  # fmt: skip
        kernel = "depthwise_kernel" if kind == "DepthwiseConv2D" else "kernel"
        for weight, weight_shape in ((kernel, shape), ("bias", [shape[-2] * shape[-1]]
                                                        if kind == "DepthwiseConv2D"
                                                        else [shape[-1]])):  # fmt: skip
            entries.append({"name": f"{name}/{weight}", "shape": weight_shape, "dtype": "float32"})
            data += (rng.standard_normal(weight_shape) * 0.5).astype("<f4").tobytes()
        source = name
    model["output_layers"] = [[source, 0, 0]]
    model_json = {"modelTopology": topology,
                  "weightsManifest": [{"paths": ["weights.bin"], "weights": entries}]}  # fmt: skip
    write_export(folder, labels=["a", "b", "c"], image_size=40, model_json=model_json)
    (folder / "weights.bin").write_bytes(data)
    return folder


def test_the_kernels_run_uneven_padding_dilation_and_odd_channel_counts_as_tf_layers(tmp_path):
    export = _export_with_awkward_convolutions(tmp_path / "export")
    output = tmp_path / "site"
    config, _ = load_config(None, {"model_path": export, "output": output})
    build(config)
    _add_reference_runtime(output)
    config, ours, theirs = _page_predictions(output, with_tf_layers=True, runner="kernels")
    convolutions = [step for step in config["model"]["plan"]["steps"] if "kernel" in step]
    steps = config["model"]["plan"]["steps"]
    assert [step["op"] for step in convolutions][:6] == ["conv", "conv", "depthwise", "conv",
                                                     "depthwise", "conv"]  # fmt: skip
    assert [step["padding"] for step in steps if step["op"] == "pad"][-2:] == [
        [[1, 2], [2, 0]], [[2, 1], [0, 3]]]  # fmt: skip
    assert _largest_difference(ours, theirs) < TOLERANCE
