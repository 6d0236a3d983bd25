"""Teachable Machine's own pose library, fetched for the tests, and a page that runs it.

`@teachablemachine/pose` 0.8.6 is what Teachable Machine's export dialog gives for a pose
project: `tmPose.load(model, metadata)`, then per frame `model.estimatePose(canvas)` (PoseNet:
`{pose, posenetOutput}`) and `model.predict(posenetOutput)` (the head). Its min.js bundles
PoseNet 2.2 and the TensorFlow.js 1.3.1 it was built with, and reads the page's `tf` 1.3.1
(its README loads `@tensorflow/tfjs@1.3.1/dist/tf.min.js` first). The tarballs come from `npm
pack` at test time, checked against the sha512 pinned here and kept in official_tm's cache
folder (`test-deps/`); none of it is copied into the repository.

What the library does that the tests rely on (read from its dist/ and PoseNet's):

- PoseNet's URL is built from `modelSettings.posenet` (MobileNetV1, 0.75, stride 16, float):
  `<Google's storage>/…/posenet/mobilenet/float/075/model-stride16.json`, whatever
  `modelUrl` says (TM does not pass it on). The page's browser context answers that request
  and the weights' with the pinned PoseNet (tmbuild.model.posenet), so both sides run the same
  network and nothing leaves the machine.
- The pinned graph fuses each convolution's bias and ReLU6 into `_FusedConv2D` and
  `FusedDepthwiseConv2dNative`; the converter inside the 0.8.6 bundle (TensorFlow.js 1.3.1)
  does not know the depthwise one, so `unfused_graph()` serves the same weights as plain
  Conv2D / DepthwiseConv2dNative, BiasAdd and Relu6 nodes: the same arithmetic, in the same
  order, that the fused ops do.
- `estimatePose(image)` pads the image to a centred square and resizes it to 257 × 257; the
  page mirrors a photo for the "flipped" case the way TM's webcam does (a canvas drawn with
  `scale(-1, 1)`), then estimates on that canvas.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from support import official_tm
from support.browser import chromium, serve_site
from tmbuild.model.posenet import OUTPUTS, posenet_files

TM_POSE = ("@teachablemachine/pose", "0.8.6")
# `npm pack`, hashed with hashlib; `npm view @teachablemachine/pose@0.8.6 dist.integrity` agreed.
PINNED_SHA512 = {
    TM_POSE: "sha512-72UHof2okPdyKlDMSnFcDk/h7dj4I9BBbGsJs64P+B/WQb1rwFcxAeeUFud5rJ2HFwElLDLEjnyaHZljeWV2Bg==",  # noqa: E501
}
official_tm.PINNED_SHA512.update(PINNED_SHA512)
TFJS = official_tm.TFJS_PEER  # 1.3.1, the library's peer and its README's

# Where PoseNet's loader asks for the network (the host left out: any host answers).
POSENET_ROUTE = "**/posenet/mobilenet/float/075/**"
POSENET_WEIGHTS = "posenet-weights.bin"

PAGE_JS = """"use strict";
window.official = (async () => {{
  if (!(await tf.setBackend({backend}))) throw new Error("tf.setBackend failed");
  await tf.ready();
  const model = await tmPose.load("model/model.json", "model/metadata.json");
  // TM's flow for one picture: estimatePose on the (mirrored) frame, predict on its output.
  window.officialEstimate = async (url, flipped) => {{
    const image = new Image();
    image.src = url;
    await image.decode();
    let source = image;
    if (flipped) {{
      source = document.createElement("canvas");
      source.width = image.naturalWidth;
      source.height = image.naturalHeight;
      const context = source.getContext("2d");
      context.translate(source.width, 0);
      context.scale(-1, 1);
      context.drawImage(image, 0, 0);
    }}
    const {{ pose, posenetOutput }} = await model.estimatePose(source);
    const prediction = await model.predict(posenetOutput);
    return {{ pose: pose || null, probabilities: prediction.map((p) => p.probability),
      size: [image.naturalWidth, image.naturalHeight] }};
  }};
  return {{ backend: tf.getBackend(), tfjs: tf.version.tfjs, labels: model.getClassLabels() }};
}})();
"""


def unfused_graph(model_json: bytes, weights_path: str) -> bytes:
    """PoseNet's graph model with its fused convolutions as TensorFlow.js 1.3.1's plain ops."""
    model = json.loads(model_json)
    nodes = []
    for node in model["modelTopology"]["node"]:
        kind = {"_FusedConv2D": "Conv2D", "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative"}
        if node["op"] not in kind:
            nodes.append(node)
            continue
        attr = {
            k: v
            for k, v in node["attr"].items()
            if k in ("strides", "padding", "dilations", "data_format", "T")
        }
        fused = [_text(s) for s in node["attr"]["fused_ops"]["list"]["s"]]
        assert fused in (["BiasAdd"], ["BiasAdd", "Relu6"]), fused
        source, kernel, bias = node["input"]
        name = node["name"]
        bias_name = name if len(fused) == 1 else name + "/bias"
        nodes.append(
            {"name": name + "/op", "op": kind[node["op"]], "input": [source, kernel], "attr": attr}
        )
        nodes.append(
            {
                "name": bias_name,
                "op": "BiasAdd",
                "input": [name + "/op", bias],
                "attr": {k: v for k, v in attr.items() if k in ("T", "data_format")},
            }
        )
        if len(fused) == 2:
            nodes.append({"name": name, "op": "Relu6", "input": [bias_name], "attr": {}})
    # That converter takes a graph's outputs in the order of its nodes (not the signature's),
    # and PoseNet names them by position: offsets, heatmap, fwd, bwd last, in that order.
    last = {name: i for i, name in enumerate(OUTPUTS)}
    nodes.sort(key=lambda node: last.get(node["name"], -1))
    model["modelTopology"]["node"] = nodes
    for group in model["weightsManifest"]:
        group["paths"] = [weights_path]
    return json.dumps(model).encode()


def _text(value: str) -> str:
    return base64.b64decode(value).decode()


def write_page(folder: Path, export: Path, backend: str) -> Path:
    """The reference page, its scripts and a copy of the export (`model/`) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tf.min.js").write_bytes(official_tm.member(TFJS, "dist/tf.min.js"))
    (folder / "teachablemachine-pose.min.js").write_bytes(
        official_tm.member(TM_POSE, "dist/teachablemachine-pose.min.js")
    )
    (folder / "official.js").write_text(PAGE_JS.format(backend=json.dumps(backend)))
    scripts = ("tf.min.js", "teachablemachine-pose.min.js", "official.js")
    tags = "".join(f'<script src="{name}"></script>' for name in scripts)
    (folder / "index.html").write_text(f'<!doctype html><meta charset="utf-8">{tags}')
    shutil.copytree(export, folder / "model", dirs_exist_ok=True)
    return folder


def route_posenet(context) -> list[str]:
    """Answer PoseNet's requests in `context` with the pinned network; the URLs asked for."""
    files = posenet_files()
    graph = unfused_graph(files.graph_model_json(POSENET_WEIGHTS), POSENET_WEIGHTS)
    asked: list[str] = []

    def answer(route) -> None:
        url = route.request.url
        asked.append(url)
        name = url.split("?", 1)[0].rsplit("/", 1)[-1]
        cors = {"Access-Control-Allow-Origin": "*"}
        if name == "model-stride16.json":
            route.fulfill(status=200, body=graph, headers=cors, content_type="application/json")
        elif name == POSENET_WEIGHTS:
            route.fulfill(
                status=200,
                body=files.weights,
                headers=cors,
                content_type="application/octet-stream",
            )
        else:
            route.fulfill(status=404, body=b"", headers=cors)

    context.route(POSENET_ROUTE, answer)
    return asked


@contextlib.contextmanager
def official_pose(export: Path, images: Path, backend: str = "cpu") -> Iterator:
    """The reference page in a fresh Chromium, `images/` served beside it; yields `estimate`.

    `estimate(name, flipped)` → {pose (PoseNet's keypoints in the image's pixels, or None),
    probabilities (labels' order), size}.
    """
    with tempfile.TemporaryDirectory(prefix="tmbuild-official-pose-") as temporary:
        site = write_page(Path(temporary) / "site", Path(export), backend)
        shutil.copytree(images, site / "images")
        with serve_site(site) as url, chromium() as context:
            asked = route_posenet(context)
            page = context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(url + "/index.html")
            info = page.evaluate("window.official")
            assert problems == [], problems
            assert any(a.endswith("model-stride16.json") for a in asked), asked

            def estimate(name: str, flipped: bool = False) -> dict:
                return page.evaluate(
                    "([u, f]) => window.officialEstimate(u, f)", [f"images/{name}", flipped]
                )

            estimate.info = info  # type: ignore[attr-defined]
            yield estimate
            assert problems == [], problems


def estimate_all(export: Path, images: Path, cases: Sequence[tuple[str, bool]]) -> list[dict]:
    """The library's answer for each (image name, flipped) case."""
    with official_pose(export, images) as estimate:
        return [estimate(name, flipped) for name, flipped in cases]
