"""Each site's scripts carry its model kind's code only, and each kind's page still works.

An image site downloads neither the audio nor the pose modules (sound.js, page-audio.js,
pose.js, page-pose.js); an audio or pose site gets its own kind's. Kind modules register
themselves with the shared code (kinds.js, page-kinds.js), so the tests here also check the
places where that can go wrong: two embedded classifiers of different kinds on one page, and
the unbundled sources run as ES modules.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ROOT
from support.browser import chromium, serve_site

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.config.schema import EmbedConfig
from tmbuild.page.client.bundle import CLIENT_DIR

EXAMPLES = {
    "image": ROOT / "examples" / "shapes",
    "audio": ROOT / "examples" / "words",
    "pose": ROOT / "examples" / "poses",
}
KIND_CODE = {"audio": {"sound.js", "page-audio.js"}, "pose": {"pose.js", "page-pose.js"}}
BACKGROUND_CLIP = ROOT / "examples" / "words-clips" / "_background_noise_" / "1-hum.wav"
STAR = ROOT / "examples" / "samples" / "star-1.png"


def _site(folder: Path, kind: str, **changes) -> Path:
    config, _ = load_config(None, {"model_path": EXAMPLES[kind], "output": folder})
    build(replace(config, compress=replace(config.compress, gzip=False, brotli=False), **changes))
    return folder


def _bundled(site: Path) -> set[str]:
    """The client modules a built site's engine and page scripts were bundled from."""
    named: set[str] = set()
    for name in ("engine", "page"):
        [path] = (site / "assets").glob(f"{name}.*.js")
        first = path.read_text(encoding="utf-8").splitlines()[0]
        named |= set(re.findall(r"(?<![\w-])[\w-]+\.js", first))
    return named


@pytest.mark.parametrize("kind", ["image", "audio", "pose"])
def test_a_site_ships_its_kinds_code_and_no_other(tmp_path, kind):
    named = _bundled(_site(tmp_path / "site", kind))
    for other, modules in KIND_CODE.items():
        assert (modules <= named) if other == kind else not (modules & named), (kind, other)
    assert {"engine.js", "kinds.js", "page.js", "page-kinds.js"} <= named


@pytest.mark.browser
def test_an_image_and_an_audio_classifier_embedded_on_one_page(tmp_path):
    # Whichever page.js defines <tm-result> first shows the other classifier's results: the
    # audio one's background class must still read as silence there, not as its raw label.
    host = tmp_path / "host"
    for kind, name in (("image", "shapes"), ("audio", "words")):
        _site(host / name, kind, embed=EmbedConfig(mode="element", name=name))
    snippets = "".join(
        f'<script type="module" src="/{name}/tmbuild.js"></script>'
        f'<tm-classifier name="{name}"></tm-classifier>'
        for name in ("shapes", "words")
    )
    (host / "index.html").write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>A blog</title>"
        f"<link rel='icon' href='data:,'></head><body>{snippets}</body></html>",
        encoding="utf-8",
    )
    with serve_site(host) as base, chromium() as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/")
        words = page.locator("tm-classifier[name=words]")
        words.locator("tm-microphone button:not([disabled])").wait_for()
        words.locator("tm-upload input[type=file]").set_input_files(BACKGROUND_CLIP)
        words.locator("tm-timeline li").first.wait_for(timeout=60_000)
        verdict = words.locator("tm-result .verdict:not(:empty)")
        verdict.wait_for()
        assert verdict.text_content() == "Only background noise"
        shown = words.locator("tm-timeline").text_content() + words.text_content()
        assert "_background_noise_" not in shown
        shapes = page.locator("tm-classifier[name=shapes]")
        shapes.locator("tm-upload input[type=file]").set_input_files(STAR)
        star = shapes.locator("tm-result .verdict:not(:empty)")
        star.wait_for()
        assert star.text_content() == "star"
        assert shapes.locator("tm-microphone").count() == 0
        assert errors == []


def _unbundled(site: Path, modules: list[str]) -> None:
    """The built page with the client's sources in place of its bundles, as ES modules."""
    shutil.copytree(CLIENT_DIR, site / "client", ignore=shutil.ignore_patterns("*.py", "__*"))
    index = site / "index.html"
    html = index.read_text(encoding="utf-8")
    html = re.sub(r'<link rel="modulepreload"[^>]*>', "", html)
    html = re.sub(
        r'<script type="module" src="/assets/(engine|page)\.[^"]*"[^>]*></script>', "", html
    )
    tags = "".join(f'<script type="module" src="/client/{name}"></script>' for name in modules)
    index.write_text(html.replace("</head>", tags + "</head>", 1), encoding="utf-8")


@pytest.mark.browser
def test_the_unbundled_sources_run_an_audio_page_given_its_kinds_modules(tmp_path):
    site = _site(tmp_path / "site", "audio")
    _unbundled(site, ["sound.js", "page-audio.js", "engine.js", "page.js"])
    with serve_site(site) as base, chromium() as context:
        page = context.new_page()
        page.goto(base + "/")
        assert page.evaluate("window.tmbuild.ready.then((info) => info.kind)") == "audio"
        page.set_input_files("tm-upload input[type=file]", BACKGROUND_CLIP)
        page.wait_for_selector("tm-timeline li", timeout=60_000)
        assert page.text_content("tm-result .verdict") == "Only background noise"


@pytest.mark.browser
def test_an_engine_without_its_kinds_code_says_the_files_do_not_match(tmp_path):
    site = _site(tmp_path / "site", "audio")
    _unbundled(site, ["engine.js", "page.js"])
    with serve_site(site) as base, chromium() as context:
        page = context.new_page()
        page.goto(base + "/")
        code = page.evaluate("window.tmbuild.ready.then(() => 'ready', (error) => error.code)")
        assert code == "format"
        page.wait_for_selector("tm-load-error:not([hidden])")
        assert "do not match each other" in page.text_content("tm-load-error")
