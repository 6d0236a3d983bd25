"""The page shows what went wrong, and how to fix it, instead of "Loading model…" forever."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ROOT
from support.browser import CLASSIFY_SAMPLE, chromium, parse_headers_file, serve_site

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.page.assemble import INLINE_SCRIPT_HASHES, csp_hash

browser = pytest.mark.browser

# What a rejected `window.tmbuild.ready` says, without failing page.evaluate.
READY_ERROR = "window.tmbuild.ready.then(() => null, (error) => error.message)"


def _build(output: Path, **changes) -> Path:
    config, _ = load_config(ROOT / "site.yaml", {"output": output})
    build(replace(config, **changes))
    return output


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("site") / "dist")


@pytest.fixture(scope="module")
def tensorflow_site(tmp_path_factory, site) -> Path:
    """The example without tmbuild's kernels: the page loads TensorFlow.js's WASM backend."""
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path_factory.mktemp("tf") / "dist"})
    build(replace(config, runtime=replace(config.runtime, kernels=False)))
    return config.output


def _csp(site: Path) -> str:
    rules = parse_headers_file((site / "_headers").read_text())
    return next(v for _, headers in rules for k, v in headers if k == "Content-Security-Policy")


def test_csp_allows_the_inline_script_by_its_hash(site):
    page = (site / "index.html").read_text()
    inline = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert len(inline) == 1
    script_src = next(d for d in _csp(site).split("; ") if d.startswith("script-src "))
    # Hashed here from the page's bytes, as the browser does, not with tmbuild's own helper.
    digest = base64.b64encode(hashlib.sha256(inline[0].encode("utf-8")).digest()).decode()
    assert script_src.endswith(f" 'sha256-{digest}'")
    assert (csp_hash(inline[0]),) == INLINE_SCRIPT_HASHES
    assert "'unsafe-inline'" not in script_src


def test_an_unhashed_inline_script_in_a_template_is_warned_about(tmp_path, caplog, monkeypatch):
    # The CLI gives the logger its own handler and stops propagation; caplog listens at the root.
    monkeypatch.setattr(logging.getLogger("tmbuild"), "propagate", True)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "index.html").write_text(
        '{% extends "default:index.html" %}\n'
        "{% block head %}<script>console.log('hi')</script>{% endblock %}\n"
    )
    with caplog.at_level(logging.WARNING, logger="tmbuild"):
        _build(tmp_path / "dist", templates=templates)
    # A set: after the CLI tests have set up the tmbuild logger, a record can arrive twice.
    [warning] = {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
    assert warning.startswith("index.html: the Content-Security-Policy tmbuild writes blocks")
    assert "console.log('hi')" in warning


@browser
def test_page_opened_from_a_file_says_how_to_serve_it(site):
    with chromium() as context:
        page = context.new_page()
        page.goto((site / "index.html").as_uri())
        message = page.locator("#served-only")
        message.wait_for()
        assert message.inner_text().startswith("This page must be served over HTTP")
        assert "tmbuild serve" in message.inner_text()
        assert "http://127.0.0.1:8000/" in message.inner_text()
        assert not page.is_visible("tm-loading")


@browser
def test_without_javascript_the_page_says_so(site):
    with serve_site(site) as url, chromium() as context:
        page = context.new_page()
        # What Playwright's java_script_enabled=False does, for this page only.
        context.new_cdp_session(page).send("Emulation.setScriptExecutionDisabled", {"value": True})
        page.goto(url + "/")
        assert page.is_visible("noscript p")
        assert "needs JavaScript" in page.inner_text("noscript p")
        # Shown by the page's first script, so hidden here: no promise that nothing keeps.
        assert not page.is_visible("tm-loading")


@browser
@pytest.mark.parametrize(
    ("blocked", "kernels"),
    [("**/group1-shard*.bin", True), ("**/tf-core.min.*.js", False)],
    ids=["shard", "runtime-script"],
)
def test_download_failure_offers_a_retry_that_works(site, tensorflow_site, blocked, kernels):
    with serve_site(site if kernels else tensorflow_site) as url, chromium() as context:
        page = context.new_page()
        aborted: list[str] = []

        def fail_once(route):
            if aborted:
                route.continue_()
            else:
                aborted.append(route.request.url)
                route.abort("internetdisconnected")

        page.route(blocked, fail_once)
        page.goto(url + "/")
        page.locator("tm-load-error button").wait_for()
        assert aborted
        # Words for the visitor; what failed behind a "Details" disclosure, for developers.
        error = page.inner_text("tm-load-error .tm-load-error-text")
        assert error == "Could not download the model. Check your connection."
        assert page.inner_text("tm-load-error button") == "Retry"
        assert page.text_content("tm-load-error details").startswith("Detailscould not load ")
        assert page.evaluate(READY_ERROR)
        assert not page.is_visible("tm-loading")

        page.evaluate("""() => {
          window.readyEvents = [];
          addEventListener('tmbuild:ready', (event) => readyEvents.push(event.detail.backend));
        }""")
        page.click("tm-load-error button")
        info = page.evaluate("window.tmbuild.ready")
        assert info["backend"] == "wasm"
        assert info["runner"] == ("kernels" if kernels else "tensorflow")
        assert page.evaluate("window.readyEvents") == ["wasm"]
        assert not page.is_visible("tm-load-error")
        # `auto` runs on WASM, and says so only to whoever opens "About this classifier".
        assert page.inner_text("tm-backend") == "About this classifier"
        assert page.text_content("tm-backend .tm-backend-text") == (
            "It runs on this device's processor."
        )
        assert page.get_attribute("tm-backend", "backend") == "wasm"
        assert not page.is_visible("tm-notice")  # nothing is wrong: no warning
        circle = page.get_attribute(".sample >> nth=0", "data-tm-sample")
        assert page.evaluate(CLASSIFY_SAMPLE, circle)["top"]["label"] == "circle"


@browser
@pytest.mark.parametrize("script", ["engine", "page"])
def test_a_page_script_that_did_not_download_is_reported(site, script):
    with serve_site(site) as url, chromium() as context:
        page = context.new_page()
        page.route(f"**/assets/{script}.*.js", lambda route: route.abort("internetdisconnected"))
        page.goto(url + "/")
        page.locator("#script-failed").wait_for()
        assert page.inner_text("#script-failed") == (
            "The page's script did not download: check your connection, then reload the page."
        )
        assert not page.is_visible("tm-loading")
        page.unroute(f"**/assets/{script}.*.js")
        page.reload()
        assert page.evaluate("window.tmbuild.ready")["labels"]
        assert not page.is_visible("#script-failed")


@browser
def test_no_backend_that_starts_is_named(tmp_path):
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path / "dist"})
    # Without tmbuild's kernels: a page with them that cannot fetch them says to check the
    # connection (test_download_failure_offers_a_retry_that_works).
    site = _build(
        tmp_path / "dist",
        classifier=replace(config.classifier, backend="wasm"),
        runtime=replace(config.runtime, kernels=False),
    )
    with serve_site(site) as url, chromium() as context:
        page = context.new_page()
        page.route("**/*.wasm", lambda route: route.abort())
        page.goto(url + "/")
        page.locator("tm-load-error").wait_for()
        error = page.inner_text("tm-load-error .tm-load-error-text")
        assert error == (
            "This browser cannot run the model. Retry, or open the page in another browser."
        )
        assert page.text_content("tm-load-error .tm-details-text") == (
            "no TensorFlow.js backend started; tried WebAssembly (did not start, see the "
            "browser console)"
        )
        assert page.evaluate(READY_ERROR).startswith("no TensorFlow.js backend started")
