"""Where tmbuild's kernels cannot start, the page runs the same plan on TensorFlow.js, in Chromium.

Chromium here has only a software WebGL, so `backend: auto` takes WASM and, with the kernels
shipped, runs them (test_plan_browser.py checks their predictions against tf-layers).
"""

from __future__ import annotations

import json
import re

import pytest
from browser import chromium, serve_site
from test_plan_browser import CLASSIFY, IMAGES, TOLERANCE, _build, _largest_difference

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
