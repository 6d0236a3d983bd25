"""Every shared real image export, and the example, on every backend the page may end up on.

Each condition is one Chromium: the default one (software WebGL only, so `auto` picks WASM),
WebGL forced, WebGL missing (WASM), and WebGL and WebAssembly both missing (plain CPU). Every
page is served with the `_headers` it ships, so all of it runs under the strict CSP.

Every export loads on WASM (tmbuild's kernels). WebGL and the CPU run the plan on TensorFlow.js
instead, seconds a page under SwiftShader or without a JIT, and the four real exports have the
same topology (a MobileNetV2 of 263 weights; the example's is smaller, without `Add`): there a
few exports stand for all. test_plan_browser.py runs brands6 on TensorFlow.js's ops too, and
test_single_file.py the example without WebAssembly, from disk and served.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ROOT, real_export
from support.browser import NO_WEBGL_ARGS, chromium, serve_site

from tmbuild.build import build
from tmbuild.config.load import load_config

pytestmark = pytest.mark.browser

EXPORTS = {
    "example": None,
    "official-2class": "official-2class",  # a zip
    "brands6": "brands6-imgs",
    "epi-pt4": "epi-pt4-imgs",
    "mask2-ko": "mask2-ko-twoexports",
}
# V8 without its JIT has no WebAssembly, as in browsers' locked-down modes (Edge's enhanced
# security, for one); `--noexpose-wasm` is ignored by Chromium here.
NO_WASM_ARGS = ["--js-flags=--jitless"]
CONDITIONS = {
    # name: (Chromium arguments, site.yaml backend, backend expected, exports)
    "auto": ([], "auto", "wasm", list(EXPORTS)),
    # ~8 s a page (compiling under SwiftShader): the example, the oldest export (a zip) and one
    # exported with TensorFlow.js 1.3.1.
    "webgl-forced": ([], "webgl", "webgl", ["example", "official-2class", "mask2-ko"]),
    "no-webgl": (NO_WEBGL_ARGS, "auto", "wasm", list(EXPORTS)),
    # JavaScript without a JIT runs a MobileNet in ~8 s: a real export shows the fallback.
    "no-webgl-no-wasm": (NO_WEBGL_ARGS + NO_WASM_ARGS, "auto", "cpu", ["mask2-ko"]),
}

CLASSIFY_CANVAS = """async () => {
  const canvas = document.createElement('canvas');
  canvas.width = 400; canvas.height = 300;
  const context = canvas.getContext('2d');
  context.fillStyle = '#8a6a50'; context.fillRect(0, 0, 400, 300);
  context.fillStyle = '#f0e0c0'; context.beginPath();
  context.arc(200, 150, 90, 0, 2 * Math.PI); context.fill();
  return window.tmbuild.classify(canvas);
}"""


def _model_path(name: str) -> Path | None:
    return real_export(EXPORTS[name]) if EXPORTS[name] else None


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Each export built with `backend: auto`, and with WebGL forced where that is loaded."""
    built = {}
    wanted = {(name, backend) for _, backend, _, names in CONDITIONS.values() for name in names}
    for name in EXPORTS:
        model = _model_path(name)
        for backend in ("auto", "webgl"):
            if (name, backend) not in wanted:
                continue
            output = tmp_path_factory.mktemp(f"{name}-{backend}") / "dist"
            overrides = {"output": output} | ({"model_path": model} if model else {})
            config, _ = load_config(None if model else ROOT / "site.yaml", overrides)
            build(replace(config, classifier=replace(config.classifier, backend=backend)))
            built[name, backend] = output
    return built


@pytest.mark.parametrize("condition", CONDITIONS)
def test_every_export_loads_and_classifies(sites, condition):
    args, backend, expected, exports = CONDITIONS[condition]
    with chromium(args) as context:
        for name in exports:
            with serve_site(sites[name, backend]) as url:
                page = context.new_page()
                problems: list[str] = []
                page.on("console", lambda m, out=problems: m.type == "error" and out.append(m.text))
                page.on("pageerror", lambda error, out=problems: out.append(str(error)))
                page.goto(url + "/")
                info = page.evaluate("window.tmbuild.ready")
                assert info["backend"] == expected, (name, info)
                assert page.evaluate("window.tmbuild.backend") == expected
                result = page.evaluate(CLASSIFY_CANVAS)
                probabilities = [p["probability"] for p in result["predictions"]]
                assert sorted(p["label"] for p in result["predictions"]) == sorted(info["labels"])
                assert probabilities == sorted(probabilities, reverse=True)
                assert abs(sum(probabilities) - 1) < 1e-4, (name, probabilities)
                assert result["top"] == result["predictions"][0]
                marks = page.evaluate(
                    "performance.getEntriesByType('mark').map((mark) => mark.name)"
                )
                assert marks == [
                    "tmbuild:model-loaded",
                    "tmbuild:warmed-up",
                    "tmbuild:first-prediction",
                ]
                # The page names the backend, and warns only where predictions will be slow.
                assert page.is_visible("tm-backend")
                assert page.is_visible("tm-notice") == (expected == "cpu")
                assert problems == [], (name, problems)
                page.close()
