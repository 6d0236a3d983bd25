"""tmbuild's WASM kernels: the committed binary, what the page calls, and when a build ships them.

That the kernels predict what tf-layers predicts is checked in Chromium (test_plan_browser.py,
and test_agreement.py against Teachable Machine's own library); the fallbacks to TensorFlow.js
in test_kernels_browser.py.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ROOT, functional_layer, tiny_model, tiny_model_base, write_export

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.model.kernels import kernels_binary, kernels_refusal

APP_JS = ROOT / "tmbuild" / "page" / "client" / "kernels.js"


def _exports(wasm: bytes) -> dict[str, int]:
    """The export section of a WebAssembly module: name → kind (0 function, 2 memory, 3 global)."""

    def leb(data: bytes, at: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, at

    assert wasm[:8] == b"\0asm\x01\0\0\0"
    at = 8
    while at < len(wasm):
        section, at = wasm[at], at + 1
        size, at = leb(wasm, at)
        if section == 7:
            count, cursor = leb(wasm, at)
            exports = {}
            for _ in range(count):
                length, cursor = leb(wasm, cursor)
                name = wasm[cursor : cursor + length].decode()
                kind = wasm[cursor + length]
                _, cursor = leb(wasm, cursor + length + 1)
                exports[name] = kind
            return exports
        at += size
    return {}


def test_the_committed_module_is_what_the_source_compiles_to(tmp_path):
    if importlib.util.find_spec("ziglang") is None:
        pytest.skip("the kernels extra (ziglang) is not installed: pip install -e '.[kernels]'")
    output = tmp_path / "kernels.wasm"
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-kernels.sh"), str(output)],
        env={**os.environ, "PYTHON": sys.executable},
        check=True,
        capture_output=True,
    )
    assert output.read_bytes() == kernels_binary(), (
        "tmbuild/model/wasm/kernels.wasm is stale: run scripts/build-kernels.sh and commit it"
    )


def test_the_module_exports_every_kernel_the_page_calls():
    exports = _exports(kernels_binary())
    called = set(re.findall(r"\bkernels\.(\w+)\(", APP_JS.read_text()))
    assert called >= {"gemm", "conv", "depthwise", "add", "mean", "zero_pad", "scale_shift"}
    assert {name: exports.get(name) for name in called} == dict.fromkeys(called, 0)
    assert exports["memory"] == 2 and exports["__heap_base"] == 3


def _site(tmp_path: Path, export: Path | None = None, **runtime) -> tuple[dict, dict, str]:
    """Build; return the page's configuration, the manifest and the page's <head>."""
    overrides = {"output": tmp_path / "dist"}
    if export is not None:
        overrides["model_path"] = export
    config, _ = load_config(None if export else ROOT / "site.yaml", overrides)
    backend = runtime.pop("backend", None)
    if backend:
        config = replace(config, classifier=replace(config.classifier, backend=backend))
    build(replace(config, runtime=replace(config.runtime, **runtime)))
    page = (tmp_path / "dist" / "index.html").read_text()
    client = json.loads(re.search(r'id="tmbuild-config">(.*?)</script>', page).group(1))
    manifest = json.loads((tmp_path / "dist" / "tmbuild-manifest.json").read_text())
    return client, manifest, page.split("</head>")[0]


def test_by_default_the_page_carries_the_kernels_and_preloads_no_tensorflow(tmp_path):
    client, manifest, head = _site(tmp_path)
    assert base64.b64decode(client["runtime"]["kernels"]) == kernels_binary()
    [preload] = re.findall(r"<link rel=\"preload\"[^>]*>", head)
    assert "group1-shard1of1" in preload  # the weights only: no TensorFlow.js
    assert not list((tmp_path / "dist").rglob("kernels*"))
    assert manifest["runtime"]["kernels"] is True
    # TensorFlow.js is still there for a visitor whose browser takes WebGL or lacks WASM SIMD.
    assert {script["role"] for script in client["runtime"]["scripts"]} == {
        "core", "cpu", "webgl", "wasm"
    }  # fmt: skip


@pytest.mark.parametrize(
    "runtime",
    [
        {"kernels": False},
        {"model_runner": "tf-layers"},
        {"backend": "webgl"},
        {"backend": "cpu"},
        {"wasm_threads": True},
    ],
    ids=["kernels-false", "tf-layers", "webgl", "cpu", "wasm-threads"],
)
def test_no_kernels_where_the_page_would_never_run_them(tmp_path, runtime):
    client, manifest, head = _site(tmp_path, **runtime)
    assert client["runtime"]["kernels"] is None
    assert manifest["runtime"]["kernels"] is False
    assert 'as="script"' in head  # core (and layers) preloaded again, as before the kernels


def _export_with_a_wide_depthwise(folder: Path) -> Path:
    topology, entries, data = tiny_model()
    model = tiny_model_base(topology)
    model["layers"].append(functional_layer(
        "DepthwiseConv2D", "wide", ["Conv1"], kernel_size=[9, 9], strides=[1, 1],
        padding="same", depth_multiplier=1, dilation_rate=[1, 1], activation="linear",
        use_bias=False, data_format="channels_last"))  # fmt: skip
    model["output_layers"] = [["wide", 0, 0]]
    entries.append({"name": "wide/depthwise_kernel", "shape": [9, 9, 8, 1], "dtype": "float32"})
    data += bytes(4 * 9 * 9 * 8)
    model_json = {"modelTopology": topology,
                  "weightsManifest": [{"paths": ["weights.bin"], "weights": entries}]}  # fmt: skip
    write_export(folder, model_json=model_json)
    (folder / "weights.bin").write_bytes(data)
    return folder


def test_a_step_the_kernels_cannot_run_leaves_the_page_on_tensorflow(tmp_path, caplog):
    export = _export_with_a_wide_depthwise(tmp_path / "export")
    with caplog.at_level(logging.INFO, logger="tmbuild"):
        client, manifest, _ = _site(tmp_path, export)
    assert client["model"]["plan"] is not None  # the plan itself runs, on TensorFlow.js's ops
    assert kernels_refusal(client["model"]["plan"]) == (
        "step 1 is a 9×9 depthwise convolution (8×8 at most)"
    )
    assert client["runtime"]["kernels"] is None
    assert manifest["runtime"]["kernels"] is False
    assert "runs the plan on TensorFlow.js: step 1 is a 9×9 depthwise" in caplog.text
