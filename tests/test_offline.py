"""`offline: true`: the service worker in Chromium — offline reloads, updates, old caches gone."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT
from support.browser import CLASSIFY_SAMPLE, chromium, parse_headers_file, serve_site

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.page.offline import precached_paths

CACHE_NAMES = "caches.keys()"


def _build(project: Path, title: str, **overrides) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    (project / "site.yaml").write_text(
        f"title: {title}\n"
        f"model: {{path: {ROOT / 'examples' / 'shapes'}, name: shapes}}\n"
        f"samples: {ROOT / 'examples' / 'samples'}\n"
        "offline: true\n"
    )
    config, _ = load_config(project / "site.yaml", overrides)
    build(config)
    return config.output


def _precache(site: Path) -> list[str]:
    text = (site / "sw.js").read_text()
    return json.loads(re.search(r"const PRECACHE = (\[.*?\]);", text).group(1))


def test_the_worker_precaches_what_the_page_may_fetch(tmp_path):
    site = _build(tmp_path, "Shapes")
    precache = _precache(site)
    assert "/" in precache
    assert (
        "/assets/tfjs/"
        + next(p.name for p in (site / "assets/tfjs").glob("tf-core*.js") if p.suffix == ".js")
        in precache
    )
    assert any(p.endswith(".wasm") for p in precache)
    assert any(p.endswith(".bin") for p in precache)
    assert not any(p.endswith((".gz", ".br", "metadata.json", "_headers")) for p in precache)
    # Every precached URL is a file of the site (the page under its folder URL).
    files = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert {("index.html" if url == "/" else url[1:]) for url in precache} <= files


def test_sw_js_is_revalidated_and_changes_with_any_file(tmp_path):
    site = _build(tmp_path / "a", "Shapes")
    rules = parse_headers_file((site / "_headers").read_text())
    sent = {
        name: value for pattern, headers in rules if pattern == "/sw.js" for name, value in headers
    }
    assert sent["Cache-Control"] == "no-cache"
    assert sent["Content-Type"] == "text/javascript; charset=utf-8"
    first = (site / "sw.js").read_bytes()
    assert _build(tmp_path / "b", "Shapes").joinpath("sw.js").read_bytes() == first
    assert _build(tmp_path / "c", "Other shapes").joinpath("sw.js").read_bytes() != first


def test_precached_paths_skip_what_the_page_never_fetches():
    files = dict.fromkeys(
        ["index.html", "_headers", "assets/app.1.js", "models/m/v1/metadata.json",
         "models/m/v1/model.json", "tmbuild-manifest.json"], b""
    )  # fmt: skip
    assert precached_paths(files) == ["assets/app.1.js", "index.html", "models/m/v1/model.json"]


@pytest.mark.browser
def test_after_one_visit_the_page_works_with_the_server_down(tmp_path):
    site = _build(tmp_path, "Shapes")
    with chromium() as context:
        page = context.new_page()
        with serve_site(site) as url:
            page.goto(url + "/")
            page.evaluate("window.tmbuild.ready")
            page.locator("tm-offline .tm-offline-ready").wait_for()
            sample = page.get_attribute(".sample >> nth=0", "data-tm-sample")
        # The server is gone: the worker answers for the page, the runtime and the model.
        page.reload()
        info = page.evaluate("window.tmbuild.ready")
        assert info["backend"] == "wasm"
        assert page.evaluate(CLASSIFY_SAMPLE, sample)["top"]["label"] == "circle"
        assert page.is_visible("tm-offline .tm-offline-ready")
        assert page.title() == "Shapes"


@pytest.mark.browser
def test_a_new_build_is_offered_and_replaces_the_old_cache(tmp_path):
    site = _build(tmp_path, "Shapes")
    with chromium() as context, serve_site(site) as url:
        page = context.new_page()
        page.goto(url + "/")
        page.evaluate("window.tmbuild.ready")
        page.locator("tm-offline .tm-offline-ready").wait_for()
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        [old_cache] = page.evaluate(CACHE_NAMES)

        _build(tmp_path, "Shapes, version 2")  # deployed into the folder being served
        page.reload()  # the browser looks for a new worker; the old one still serves
        assert page.title() == "Shapes"
        page.locator("tm-offline .update").wait_for()
        assert page.inner_text("tm-offline .update").startswith(
            "A new version of this page is available."
        )
        assert len(page.evaluate(CACHE_NAMES)) == 2  # the new worker has precached, waiting

        with page.expect_navigation():
            page.click("tm-offline .update button")
        page.evaluate("window.tmbuild.ready")
        assert page.title() == "Shapes, version 2"
        page.wait_for_function(f"async () => (await {CACHE_NAMES}).length === 1")
        assert page.evaluate(CACHE_NAMES) != [old_cache]
        assert not page.is_visible("tm-offline .update")


@pytest.mark.browser
def test_without_offline_no_worker_is_registered(tmp_path):
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path / "dist"})
    build(config)
    assert not (tmp_path / "dist" / "sw.js").exists()
    with chromium() as context, serve_site(tmp_path / "dist") as url:
        page = context.new_page()
        page.goto(url + "/")
        page.evaluate("window.tmbuild.ready")
        assert page.evaluate("navigator.serviceWorker.getRegistrations()") == []
        assert not page.is_visible("tm-offline .tm-offline-ready")
