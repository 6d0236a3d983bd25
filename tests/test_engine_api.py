"""The engine's JavaScript API on a bare page that has none of the default page's elements.

Also `backend: auto` (issue 16, item 7): tmbuild's WASM kernels wherever the browser has WASM
SIMD, whatever WebGL claims, and TensorFlow.js downloaded only where the page needs it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ROOT
from support.browser import chromium, serve_site

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.model import kernels as model_kernels
from tmbuild.model import plan

pytestmark = pytest.mark.browser

FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
SAMPLE = "/assets/samples/"
BARE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bare</title><link rel="icon" href="data:,">
</head>
<body>
<p>A page of a team's own, with the engine and nothing else of tmbuild's.</p>
<script type="application/json" id="tmbuild-config">{{ client_config | json_script }}</script>
<script type="module" src="{{ scripts.engine.url }}" integrity="{{ scripts.engine.integrity }}"
 crossorigin="anonymous"></script>
</body></html>
"""

CLASSIFY_FIRST_SAMPLE = """async (sample) => {
  const sources = [];
  window.tmbuild.addEventListener("result", (event) => sources.push(event.detail.source));
  const image = new Image();
  image.src = sample;
  await image.decode();
  const result = await window.tmbuild.classify(image);
  return { top: result.top.label, sources };
}"""

SECOND_CLASSIFIER = """async () => {
  const engine = await import(document.querySelector("script[type=module]").src);
  const classifier = new engine.Classifier(engine.pageConfig());
  const events = [];
  for (const type of ["loading", "progress", "warming", "backend", "ready"]) {
    classifier.addEventListener(type, () => events.includes(type) || events.push(type));
  }
  classifier.start();
  const info = await classifier.ready;
  return { events, info, api: engine.ENGINE_API, plan: engine.PLAN_FORMAT,
    kernels: engine.KERNELS_FORMAT, own: classifier !== window.tmbuild };
}"""

NEWER_PLAN = """async () => {
  const engine = await import(document.querySelector("script[type=module]").src);
  const config = engine.pageConfig();
  const classifier = engine.createClassifier({ ...config, formats: { plan: 99 } });
  const codes = [];
  classifier.addEventListener("error", (event) => codes.push(event.detail.code));
  try {
    await classifier.ready;
    return null;
  } catch (error) {
    return { code: error.code, message: error.message, codes, state: classifier.state };
  }
}"""


def _build(tmp_path: Path, index: str | None = None, **classifier) -> Path:
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path / "dist"})
    if index is not None:
        (tmp_path / "templates").mkdir()
        (tmp_path / "templates" / "index.html").write_text(index, encoding="utf-8")
        config = replace(config, templates=tmp_path / "templates")
    if classifier:
        config = replace(config, classifier=replace(config.classifier, **classifier))
    build(config)
    return tmp_path / "dist"


def _sample(site: Path) -> str:
    return SAMPLE + sorted((site / "assets" / "samples").glob("circle*.png"))[0].name


def test_the_engine_api_on_a_bare_page(tmp_path):
    site = _build(tmp_path, BARE_PAGE)
    with serve_site(site) as url, chromium(FAKE_CAMERA) as context:
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(url + "/")
        info = page.evaluate("window.tmbuild.ready")
        assert (info["backend"], info["runner"], info["engine"]) == ("wasm", "kernels", 1)
        shown = page.evaluate(CLASSIFY_FIRST_SAMPLE, _sample(site))
        assert shown == {"top": "circle", "sources": ["classify"]}

        # A classifier of the page's own, made through the module's exports.
        second = page.evaluate(SECOND_CLASSIFIER)
        assert second["events"] == ["loading", "progress", "backend", "warming", "ready"]
        formats = (1, plan.PLAN_FORMAT, model_kernels.KERNELS_FORMAT)
        assert (second["api"], second["plan"], second["kernels"]) == formats
        assert second["own"] and second["info"]["labels"] == info["labels"]

        # The webcam, started and stopped from script: its results come as events.
        page.evaluate("""async () => {
          window.webcamResults = 0;
          window.tmbuild.addEventListener("result", (event) => {
            if (event.detail.source === "webcam") window.webcamResults += 1;
          });
          await window.tmbuild.webcam.start();
        }""")
        page.wait_for_function("() => window.webcamResults >= 2")
        assert page.evaluate("window.tmbuild.webcam.running")
        page.evaluate("window.tmbuild.webcam.stop()")
        assert not page.evaluate("window.tmbuild.webcam.running")
        assert problems == [], problems


def test_a_plan_format_the_engine_does_not_know_is_refused(tmp_path):
    site = _build(tmp_path)
    with serve_site(site) as url, chromium() as context:
        page = context.new_page()
        page.goto(url + "/")
        page.evaluate("window.tmbuild.ready")
        refused = page.evaluate(NEWER_PLAN)
        assert refused["code"] == "format" and refused["codes"] == ["format"]
        assert refused["state"] == "failed"
        assert refused["message"].startswith("the page was built with plan format 99")
        assert "rebuild the site" in refused["message"]

    # The default page says so in the visitor's words, with the reason under "Details".
    page_path = site / "index.html"
    html = page_path.read_text(encoding="utf-8")
    # The formats this tmbuild writes, then one plan format later than the engine's.
    built = f'"formats":{{"kernels":{model_kernels.KERNELS_FORMAT},"plan":{plan.PLAN_FORMAT}}}'
    assert built in html
    later = f'"plan":{plan.PLAN_FORMAT + 1}}}'
    page_path.write_text(html.replace(f'"plan":{plan.PLAN_FORMAT}}}', later), encoding="utf-8")
    for sibling in (site / "index.html.br", site / "index.html.gz"):
        sibling.unlink(missing_ok=True)
    with serve_site(site) as url, chromium() as context:
        page = context.new_page()
        page.goto(url + "/")
        page.locator("tm-load-error").wait_for()
        assert page.inner_text("tm-load-error .tm-load-error-text") == (
            "This page's files do not match each other. Reload the page; if this keeps "
            "happening, tell the site's owner."
        )
        details = page.text_content("tm-load-error .tm-details-text")
        assert details.startswith(f"the page was built with plan format {plan.PLAN_FORMAT + 1}"), (
            details
        )
        assert not page.is_visible("tm-loading")


# What a browser on a machine with a GPU (or WebKit, on any machine) says about WebGL.
CLAIMS_A_GPU = """(() => {
  for (const type of [WebGLRenderingContext, WebGL2RenderingContext]) {
    const getParameter = type.prototype.getParameter;
    type.prototype.getParameter = function (name) {
      return name === 0x9246 ? "Apple GPU" : getParameter.call(this, name);  // UNMASKED_RENDERER
    };
  }
})();"""
NO_WASM_SIMD = """(() => {
  const validate = WebAssembly.validate;
  WebAssembly.validate = (bytes) => !Array.from(new Uint8Array(bytes)).includes(253)
    && validate(bytes);  // 0xfd: the SIMD prefix
})();"""


@pytest.mark.parametrize(
    ("simd", "backend", "downloads_tensorflow"),
    [(True, "wasm", False), (False, "webgl", True)],
    ids=["simd", "no-simd"],
)
def test_auto_takes_the_kernels_wherever_wasm_has_simd(
    tmp_path, simd, backend, downloads_tensorflow
):
    site = _build(tmp_path)
    with serve_site(site) as url, chromium() as context:
        page = context.new_page()
        page.add_init_script(CLAIMS_A_GPU)
        if not simd:
            page.add_init_script(NO_WASM_SIMD)
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(url + "/")
        info = page.evaluate("window.tmbuild.ready")
        assert info["backend"] == backend
        assert info["runner"] == ("kernels" if simd else "tensorflow")
        assert any("/assets/tfjs/" in url for url in requested) == downloads_tensorflow
