"""The built page in a real Chromium: loads the rewritten model and classifies a sample."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ROOT, real_export
from support.browser import CLASSIFY_SAMPLE, NO_WEBGL_ARGS, chromium, serve_site

from tmbuild.build import build
from tmbuild.config.load import load_config

pytestmark = pytest.mark.browser


def _build(tmp_path: Path, **overrides) -> Path:
    overrides.setdefault("output", tmp_path / "dist")
    config, _ = load_config(
        ROOT / "site.yaml" if "model_path" not in overrides else None, overrides
    )
    build(config)
    return overrides["output"]


def _open(context, url: str):
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    page.goto(url)
    info = page.evaluate("window.tmbuild.ready")
    return page, info, problems


@pytest.mark.parametrize("args", [[], NO_WEBGL_ARGS], ids=["default", "no-webgl"])
def test_example_page_classifies_every_sample(tmp_path, args):
    site = _build(tmp_path)
    with serve_site(site) as url, chromium(args) as context:
        page, info, problems = _open(context, url + "/")
        assert info["labels"] == ["circle", "square", "triangle", "star", "background"]
        # auto avoids software WebGL (SwiftShader here) and uses WASM.
        assert info["backend"] == "wasm"
        for button in page.query_selector_all(".sample"):
            src = button.get_attribute("data-tm-sample")
            expected = Path(src).name.split("-")[0]
            result = page.evaluate(CLASSIFY_SAMPLE, src)
            assert result["top"]["label"] == expected, (src, result)
            probabilities = [p["probability"] for p in result["predictions"]]
            assert probabilities == sorted(probabilities, reverse=True)
            assert abs(sum(probabilities) - 1) < 1e-4
        # A click on a sample goes through the page's own UI.
        page.click(".sample >> nth=0")
        page.wait_for_selector("tm-result .verdict:not(:empty)")
        assert page.text_content("tm-result .verdict") == "circle"
        assert problems == []  # no CSP violations, no script errors


@pytest.mark.parametrize(
    ("runner", "kernels"), [("plan", True), ("plan", False), ("tf-layers", False)]
)
def test_preloaded_files_are_downloaded_once_and_used(tmp_path, runner, kernels):
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path / "dist"})
    build(replace(config, runtime=replace(config.runtime, model_runner=runner, kernels=kernels)))
    site = tmp_path / "dist"
    with serve_site(site) as url, chromium() as context:
        page = context.new_page()
        requests: list[str] = []
        messages: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.on("console", lambda message: messages.append(message.text))
        page.goto(url + "/")
        page.evaluate("window.tmbuild.ready")
        page.wait_for_timeout(3500)  # Chromium warns about unused preloads after 3 s
        preloaded = page.eval_on_selector_all(
            "link[rel=preload]", "links => links.map((link) => link.href)"
        )
    binaries = [r.rsplit("/", 1)[1].split(".")[0] for r in requests if r.endswith(".wasm")]
    layers_files = [r for r in requests if r.endswith("/model.json") or "tf-layers" in r]
    if kernels:
        # The shard, from the page; no TensorFlow.js at all (the kernels are in the page).
        assert [link.rsplit("/", 1)[1].split(".")[0] for link in preloaded] == ["group1-shard1of1"]
        assert [r for r in requests if "/assets/tfjs/" in r] == []
        assert binaries == []
    else:
        # core and the shard from the page (and layers and model.json without a plan); the
        # WASM binary from the script, once it knows WASM comes first (software WebGL here).
        assert len(preloaded) == (3 if runner == "plan" else 5)
        assert len(layers_files) == (0 if runner == "plan" else 2)
        assert preloaded[-1].endswith(".wasm")
        # WASM without threads by default (runtime.wasm_threads: false): one SIMD binary.
        assert binaries == ["tfjs-backend-wasm-simd"]
    assert set(preloaded) <= set(requests)
    repeated = {request for request in requests if requests.count(request) > 1}
    assert repeated == set()  # each preload was handed to the request that wanted it
    assert [m for m in messages if "preload" in m.lower()] == []


def test_wasm_threads_are_used_when_the_site_opts_in(tmp_path):
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path / "dist"})
    build(replace(config, runtime=replace(config.runtime, wasm_threads=True)))
    with serve_site(tmp_path / "dist") as url, chromium() as context:
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(url + "/")
        assert page.evaluate("window.tmbuild.ready")["backend"] == "wasm"
        assert page.evaluate("crossOriginIsolated")
    binaries = [r.rsplit("/", 1)[1].split(".")[0] for r in requests if r.endswith(".wasm")]
    assert binaries == ["tfjs-backend-wasm-threaded-simd"]


@pytest.mark.parametrize("quantize", ["none", "float16"])
def test_real_export_loads_after_rewriting(tmp_path, quantize):
    site = _build(tmp_path, model_path=real_export("mask2-ko-twoexports"), quantize=quantize)
    with serve_site(site) as url, chromium() as context:
        page, info, problems = _open(context, url + "/")
        assert info["labels"] == ["마스크", "마스크 X"]
        result = page.evaluate("""async () => {
          const canvas = document.createElement('canvas');
          canvas.width = 320; canvas.height = 240;
          const ctx = canvas.getContext('2d');
          ctx.fillStyle = '#c08060'; ctx.fillRect(0, 0, 320, 240);
          return window.tmbuild.classify(canvas);
        }""")
        assert result["top"]["label"] in info["labels"]
        assert problems == []


# Counts the WebGL contexts the page asks for (its backend check), in every page of the context.
COUNT_WEBGL_CONTEXTS = """(() => {
  const getContext = HTMLCanvasElement.prototype.getContext;
  window.webglContexts = 0;
  HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
    if (String(kind).startsWith("webgl")) window.webglContexts += 1;
    return getContext.call(this, kind, ...rest);
  };
})();"""


def test_the_kernels_need_no_webgl_check(example_site):
    # `auto` takes tmbuild's kernels wherever WASM has SIMD, whatever WebGL says: no context.
    with serve_site(example_site) as url, chromium() as context:
        context.add_init_script(COUNT_WEBGL_CONTEXTS)
        page = context.new_page()
        page.goto(url + "/")
        assert page.evaluate("window.tmbuild.ready")["runner"] == "kernels"
        assert page.evaluate("window.webglContexts") == 0


def test_a_returning_visitor_skips_the_webgl_check(tmp_path):
    # Without the kernels, the check creates a WebGL context (~20-40 ms with SwiftShader); its
    # answer is kept.
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path / "dist"})
    build(replace(config, runtime=replace(config.runtime, kernels=False)))
    with serve_site(tmp_path / "dist") as url, chromium() as context:
        context.add_init_script(COUNT_WEBGL_CONTEXTS)
        page = context.new_page()
        page.goto(url + "/")
        assert page.evaluate("window.tmbuild.ready")["backend"] == "wasm"
        assert page.evaluate("window.webglContexts") >= 1
        page.reload()
        assert page.evaluate("window.tmbuild.ready")["backend"] == "wasm"
        assert page.evaluate("window.webglContexts") == 0
        # Another browser (a changed user agent) checks again.
        page.evaluate("""() => {
          const saved = JSON.parse(localStorage.getItem("tmbuild:webgl"));
          saved.browser = "an older version";
          localStorage.setItem("tmbuild:webgl", JSON.stringify(saved));
        }""")
        page.reload()
        assert page.evaluate("window.tmbuild.ready")["backend"] == "wasm"
        assert page.evaluate("window.webglContexts") >= 1


@pytest.mark.parametrize("weights", ["arrive", "fail"])
def test_sample_thumbnails_load_once_the_model_has(tmp_path, weights):
    # On a first visit the thumbnails' downloads and decodes delayed the first prediction, so
    # they wait for the model's load to end, whether it succeeds or fails.
    site = _build(tmp_path)
    with serve_site(site) as url, chromium() as context:
        page = context.new_page()
        held, requested = [], []
        page.route("**/*.bin", lambda route: held.append(route))
        page.on("request", lambda request: requested.append(request.url))
        page.goto(url + "/")
        while not held:
            page.wait_for_timeout(50)
        page.wait_for_timeout(500)
        assert not [u for u in requested if "/samples/" in u]
        sources = page.eval_on_selector_all(".sample img", "all => all.map((i) => i.src)")
        assert len(sources) == 8 and set(sources) == {""}
        for route in held:
            route.continue_() if weights == "arrive" else route.abort()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.sample img')]"
            ".every((image) => image.complete && image.naturalWidth > 0)"
        )
        loaded = page.evaluate("window.tmbuild.ready.then(() => true, () => false)")
        assert loaded is (weights == "arrive")
