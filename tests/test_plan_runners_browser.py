"""A pose plan's `concat`, `input` and `outputs` on both of the page's runners, in Chromium.

The plan is a small PoseNet-shaped graph translated by tmbuild.model.pose_plan (a 33×33 frame,
x / 127.5 - 1, three keypoints) with a dense softmax head: it has a concat step, its own input
and named outputs. Each runner (client/kernels.js on tmbuild's kernels, client/tfrunner.js on
TensorFlow.js's CPU backend) is imported from the package's own files into a blank page and
given the same frames; what they return must be what tests/support/plan_numpy.py computes.
The real PoseNet runs too where a cache already holds it (tests/test_posenet_plan.py).
"""

from __future__ import annotations

import base64
import shutil

import numpy as np
import pytest
from conftest import ROOT
from support.browser import chromium, serve_site
from support.plan_numpy import plan_weights, preprocess, run_plan
from test_posenet_plan import images, real_posenet, small_posenet

from tmbuild.model.kernels import kernels_binary, kernels_refusal
from tmbuild.model.plan import check_plan
from tmbuild.model.pose_plan import pose_plan, posenet_plan
from tmbuild.page.tfjs import TFJS_VERSION, runtime_files

pytestmark = pytest.mark.browser

CLIENT = ROOT / "tmbuild" / "page" / "client"

# Both runners on every frame: run() (output and outputs) and classify() (the output alone).
RUN = """async ({ module, plan, weights, frames }) => {
  const { decodeWeights } = await import("/weights.js");
  const { startKernels, fillWeights, kernelsRunner } = await import("/kernels.js");
  const { preparePlan, tensorFlowRunner } = await import("/tfrunner.js");
  const bytes = Uint8Array.from(atob(weights), (c) => c.charCodeAt(0));
  const decoded = decodeWeights(plan.weights, bytes.buffer);
  const [height, width] = plan.input.shape;
  const model = { kind: "pose" }; // no imageSize: the plan's input says the frame
  const layout = await startKernels(module, plan, model);
  fillWeights(layout, decoded);
  await tf.setBackend("cpu");
  const runners = { kernels: kernelsRunner(layout),
    tensorflow: tensorFlowRunner(preparePlan(plan, decoded), model) };
  const results = {};
  for (const [name, runner] of Object.entries(runners)) {
    await runner.warmUp();
    results[name] = [];
    for (const frame of frames) {
      const rgb = Uint8Array.from(atob(frame), (c) => c.charCodeAt(0));
      const image = new ImageData(width, height);
      for (let p = 0; p < width * height; p++) {
        image.data.set(rgb.subarray(3 * p, 3 * p + 3), 4 * p);
        image.data[4 * p + 3] = 255;
      }
      const { output, outputs } = await runner.run(image);
      const classified = await runner.classify(image);
      results[name].push({ output, classified, outputs: Object.fromEntries(
        Object.entries(outputs).map(([key, { values, shape }]) =>
          [key, { values: Array.from(values), shape }])) });
    }
  }
  return results;
}"""


def _head(features: int, labels: int, seed: int = 5) -> tuple[dict, list[dict], bytes]:
    """Teachable Machine's pose head, smaller: Dense features → 6 (ReLU) → labels (softmax)."""
    rng = np.random.default_rng(seed)
    layers, entries, data = [], [], b""
    for name, inputs, units, activation in (("dense_1", features, 6, "relu"),
                                            ("dense_2", 6, labels, "softmax")):  # fmt: skip
        layers.append({"class_name": "Dense", "config": {
            "name": name, "units": units, "activation": activation, "use_bias": True}})  # fmt: skip
        for weight, shape in (("kernel", [inputs, units]), ("bias", [units])):
            entries.append({"name": f"{name}/{weight}", "shape": shape, "dtype": "float32"})
            data += (rng.standard_normal(shape) * 0.1).astype("<f4").tobytes()
    return {"class_name": "Sequential", "config": {"name": "head", "layers": layers}}, entries, data


def _site(folder) -> None:
    """A blank page with TensorFlow.js core and its CPU backend, and the client's modules."""
    folder.mkdir(exist_ok=True)
    scripts = []
    for file in runtime_files(TFJS_VERSION, "cpu", with_layers=False):
        (folder / f"tf-{file.role}.js").write_bytes(file.read_bytes())
        scripts.append(f'<script src="tf-{file.role}.js"></script>')
    for module in CLIENT.glob("*.js"):
        shutil.copy(module, folder / module.name)
    (folder / "index.html").write_text(f"<!doctype html><title>runners</title>{''.join(scripts)}")


def _run_in_chromium(tmp_path, plan: dict, weights: bytes, frames: list[np.ndarray]) -> dict:
    _site(tmp_path / "site")
    arguments = {
        "module": base64.b64encode(kernels_binary()).decode(),
        "plan": plan,
        "weights": base64.b64encode(weights).decode(),
        "frames": [base64.b64encode(frame.tobytes()).decode() for frame in frames],
    }
    with serve_site(tmp_path / "site") as url, chromium() as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url + "/")
        results = page.evaluate(RUN, arguments)
        assert errors == []
    return results


def _check(
    plan: dict, weights: bytes, frames, results: dict, tolerance: float, rtol: float = 0
) -> None:
    by_name = plan_weights(plan["weights"], weights)
    for runner in ("kernels", "tensorflow"):
        for frame, got in zip(frames, results[runner], strict=True):
            x = preprocess(frame, plan["input"]["divisor"], plan["input"]["offset"])
            values = run_plan(plan, by_name, x)
            # The runners give every value flat, whatever its shape.
            np.testing.assert_allclose(got["output"], values[plan["output"]].reshape(-1), rtol=rtol,
                                       atol=tolerance, err_msg=runner)  # fmt: skip
            assert got["classified"] == got["output"]
            assert set(got["outputs"]) == set(plan["outputs"])
            for name, index in plan["outputs"].items():
                expected = values[index]
                assert got["outputs"][name]["shape"] == list(expected.shape), (runner, name)
                values_got = got["outputs"][name]["values"]
                np.testing.assert_allclose(values_got, expected.reshape(-1), rtol=rtol,
                                           atol=tolerance, err_msg=f"{runner} {name}")  # fmt: skip


def test_a_pose_plans_concat_input_and_outputs_run_on_both_runners_as_in_numpy(tmp_path):
    model_json, posenet_weights = small_posenet(keypoints=3)
    posenet = posenet_plan(model_json, 33)
    topology, entries, head_weights = _head(9 * 9 * 9, labels=4)
    whole, reason = pose_plan(posenet, topology, entries)
    assert reason == ""
    plan = whole.as_json()
    check_plan(plan)
    assert kernels_refusal(plan) is None
    assert [step["op"] for step in plan["steps"]][-5:] == [
        "concat", "flatten", "dense", "dense", "activation"]  # fmt: skip
    assert set(plan["outputs"]) == {"features", "displacementFwd", "displacementBwd"}
    weights = posenet_weights + head_weights
    frames = images(33)
    results = _run_in_chromium(tmp_path, plan, weights, frames)
    _check(plan, weights, frames, results, 1e-5)
    # The frames differ, and so do the runs: no output is left over from the one before.
    outputs = [result["output"] for result in results["kernels"]]
    assert outputs[0] != outputs[1] != outputs[2]


def test_the_real_posenet_runs_on_both_runners_as_in_numpy(tmp_path):
    files = real_posenet()  # skips unless a cache already holds it
    plan = posenet_plan(files.model_json).as_json()
    check_plan(plan)
    frames = images(257)[:2]
    results = _run_in_chromium(tmp_path, plan, files.weights, frames)
    # Offsets are pixels (up to tens): float32 sums over 13 layers, in another order than
    # numpy's, move them by up to ~2e-3 px; a wrong step moves them by whole pixels.
    _check(plan, files.weights, frames, results, 1e-3, rtol=1e-3)
