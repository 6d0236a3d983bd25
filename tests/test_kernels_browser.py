"""Where tmbuild's kernels cannot start, the page runs the same plan on TensorFlow.js, in Chromium.

Chromium here has only a software WebGL, so `backend: auto` takes WASM and, with the kernels
shipped, runs them (test_plan_browser.py checks their predictions against tf-layers).
"""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
from support.browser import chromium, serve_site
from test_plan_browser import CLASSIFY, IMAGES, TOLERANCE, _build, _largest_difference

from tmbuild.model.kernels import kernels_binary

pytestmark = pytest.mark.browser

# Chromium without WASM SIMD (Safari before 16.4, for one): the probe module no longer validates.
NO_SIMD = """(() => {
  const validate = WebAssembly.validate;
  WebAssembly.validate = (bytes) => bytes.length > 40 && validate(bytes);
})();"""


# Chromium before 2023: no synchronous compile of a module over 4 kB on the page's thread.
SMALL_SYNC_COMPILE = """(() => {
  const Module = WebAssembly.Module;
  WebAssembly.Module = function (bytes) {
    if (bytes.length > 4096) {
      throw new RangeError("WebAssembly.Compile is disallowed on the main thread, if the " +
        "buffer size is larger than 4KB. Use WebAssembly.compile, or compile on a worker thread.");
    }
    return new Module(bytes);
  };
})();"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("kernels"), "brands6-imgs", "float16")


def _visit(site, init_script: str | None = None):
    """The ready info, predictions on CLASSIFY's images, and console warnings and errors."""
    with serve_site(site) as url, chromium() as context:
        page = context.new_page()
        messages: list[str] = []
        page.on("pageerror", lambda error: messages.append(f"error: {error}"))
        page.on("console", lambda m: messages.append(f"{m.type}: {m.text}")
                if m.type in ("warning", "error") else None)  # fmt: skip
        if init_script:
            page.add_init_script(init_script)
        page.goto(url + "/")
        predictions = page.evaluate(CLASSIFY, IMAGES)
        info = page.evaluate("window.tmbuild.ready")
        scripts = page.evaluate(
            "performance.getEntriesByType('resource').map((r) => r.name.split('/').pop())"
        )
    return info, predictions, messages, scripts


def test_on_the_kernels_the_page_loads_no_tensorflow(site):
    info, _, messages, requested = _visit(site)
    assert (info["backend"], info["runner"]) == ("wasm", "kernels")
    assert messages == []
    assert not [name for name in requested if name.startswith(("tf-", "tfjs-"))]
    assert not [name for name in requested if name.endswith(".wasm")]  # inside the page


def test_without_wasm_simd_the_page_takes_tensorflow_wasm_and_predicts_the_same(site):
    info, kernels, _, _ = _visit(site)
    info, tensorflow, messages, requested = _visit(site, NO_SIMD)
    assert (info["backend"], info["runner"]) == ("wasm", "tensorflow")
    binaries = [name for name in requested if name.startswith("tfjs-backend-wasm")]
    assert [name.split(".")[0] for name in binaries] == ["tfjs-backend-wasm"]  # no SIMD
    assert messages == []
    assert _largest_difference(kernels, tensorflow) < TOLERANCE


def test_a_module_the_browser_refuses_falls_back_on_tensorflow(tmp_path, site):
    broken = _build(tmp_path, "brands6-imgs", "float16")
    page = broken / "index.html"
    module = json.loads(re.search(r'id="tmbuild-config">(.*?)</script>', page.read_text())[1])[
        "runtime"
    ]["kernels"]
    # Truncated: new WebAssembly.Module throws.
    page.write_text(page.read_text().replace(module, module[:200]))
    for sibling in broken.glob("index.html.*"):
        sibling.unlink()
    _, expected, _, _ = _visit(site)
    info, predictions, messages, _ = _visit(broken)
    assert (info["backend"], info["runner"]) == ("wasm", "tensorflow")
    [warning] = messages
    assert warning.startswith("warning: tmbuild: the WebAssembly kernels did not start (")
    assert warning.endswith("); using TensorFlow.js")
    assert _largest_difference(predictions, expected) < TOLERANCE


def test_where_the_browser_refuses_a_synchronous_compile_the_kernels_compile_asynchronously(site):
    _, expected, _, _ = _visit(site)
    info, predictions, messages, _ = _visit(site, SMALL_SYNC_COMPILE)
    assert (info["backend"], info["runner"]) == ("wasm", "kernels")
    assert messages == []
    assert predictions == expected


# kernels.c `pixels` on RGBA bytes, in a page of its own: its float32 values, exactly.
PIXELS = """async ([module, rgba, grayscale, divisor, offset]) => {
  const bytes = Uint8Array.from(atob(module), (c) => c.charCodeAt(0));
  const { exports } = (await WebAssembly.instantiate(bytes, {})).instance;
  const at = Math.ceil(exports.__heap_base.value / 16) * 16;
  const count = rgba.length / 4;
  const out = at + Math.ceil(rgba.length / 16) * 16;
  exports.memory.grow(Math.ceil((out + count * 12) / 65536));
  new Uint8Array(exports.memory.buffer, at, rgba.length).set(rgba);
  exports.pixels(at, count, out, grayscale ? 1 : 0, divisor, offset);
  return Array.from(new Float32Array(exports.memory.buffer, out, count * (grayscale ? 1 : 3)));
}"""


@pytest.mark.parametrize(
    ("grayscale", "divisor"),
    [(False, 127), (True, 127), (False, 127.5)],
    ids=["colour", "grayscale", "posenet"],
)
def test_the_kernels_preprocess_pixels_exactly_as_tensorflow_does(grayscale, divisor):
    # Teachable Machine's preprocessing as TensorFlow.js computes it in float32: value / 127 - 1,
    # of the luma (r·0.2989 + g·0.587, then + b·0.114) for a grayscale model; a pose plan's
    # `input` asks for PoseNet's value / 127.5 - 1. Every byte value in every channel, then
    # random pixels; compared bit for bit.
    ramp = np.arange(256, dtype=np.uint8)
    rng = np.random.default_rng(7)
    rgba = np.concatenate([
        np.stack([ramp, ramp[::-1], np.roll(ramp, 85), np.full(256, 255, np.uint8)], axis=1),
        rng.integers(0, 256, (4096, 4), dtype=np.uint8),
    ])  # fmt: skip
    rgb = rgba[:, :3].astype(np.float32)
    if grayscale:
        luma = np.array([0.2989, 0.587, 0.114], dtype=np.float32)
        rgb = (rgb[:, 0] * luma[0] + rgb[:, 1] * luma[1]) + rgb[:, 2] * luma[2]
    expected = (rgb / np.float32(divisor) - np.float32(1)).ravel()
    module = base64.b64encode(kernels_binary()).decode()
    with chromium() as context:
        page = context.new_page()
        got = page.evaluate(PIXELS, [module, rgba.ravel().tolist(), grayscale, divisor, -1])
    np.testing.assert_array_equal(np.array(got, dtype=np.float32), expected)
