"""A built site in headless Chromium, for `tmbuild eval`: the production page, loaded and ready.

The site is served by `tmbuild serve`'s own server (it applies `_headers`, so the page runs
cross-origin isolated under its real CSP, as on the host), and Chromium is driven by Playwright.
Playwright is an optional extra: it is imported only here, and only when eval runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tmbuild.errors import TmbuildError

CHROMIUM_ENV = "TMBUILD_CHROMIUM"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Quiet, offline and repeatable: no first-run UI, no background downloads, no QUIC probing.
# SwiftShader is allowed so that a site configured for `backend: webgl` still starts.
CHROMIUM_ARGS = [
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
]
PAGE_TIMEOUT_MS = 120_000  # loading a model on a slow machine; the model is a few MB

# What the page was built with, read from its own configuration element.
READ_PAGE_CONFIG = """() => {
  const element = document.getElementById("tmbuild-config");
  return element ? JSON.parse(element.textContent) : null;
}"""


@dataclass
class SitePage:
    """A loaded page of a built site: the Playwright page and what it reported when ready."""

    page: Any  # playwright.sync_api.Page
    labels: list[str]
    backend: str
    image_size: int
    threshold: float
    min_gap: float
    errors: list[str]  # script errors seen so far; classify results are suspect if any
    kind: str = "image"  # or "audio": clips go through classifyAudio instead


def find_chromium(explicit: str | None = None) -> str | None:
    """The Chromium to run: the option, then $TMBUILD_CHROMIUM, then one on the PATH.

    None means Playwright's own browser, if one was installed with `playwright install`.
    """
    given = explicit or os.environ.get(CHROMIUM_ENV)
    if given:
        if not Path(given).is_file():
            source = "--chromium" if explicit else f"${CHROMIUM_ENV}"
            raise TmbuildError(f"{source}: {given} does not exist; give the path of chromium")
        return given
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise TmbuildError(
            "tmbuild eval needs Playwright to drive Chromium: pip install 'tmbuild[eval]'"
        ) from None
    return sync_playwright


@contextlib.contextmanager
def chromium(executable: str | None = None) -> Iterator[Any]:
    """A headless Chromium browser; yields Playwright's Browser."""
    sync_playwright = _sync_playwright()
    path = find_chromium(executable)
    from playwright.sync_api import Error as PlaywrightError

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=path, headless=True, args=CHROMIUM_ARGS
            )
        except PlaywrightError as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else "no reason given"
            where = path or "Playwright's own Chromium"
            raise TmbuildError(
                f"cannot start Chromium ({where}): {first}; install it (apt install chromium) "
                f"or give its path with --chromium or ${CHROMIUM_ENV}"
            ) from None
        try:
            yield browser
        finally:
            browser.close()


def site_base_path(site: Path) -> str:
    """The URL path a built site expects to be served under, from its manifest ("/" without)."""
    manifest = site / "tmbuild-manifest.json"
    if not manifest.is_file():
        return "/"
    try:
        base_url = json.loads(manifest.read_text("utf-8")).get("base_url", "/")
    except (OSError, ValueError, AttributeError):
        return "/"
    if not isinstance(base_url, str) or not base_url.startswith("/") or base_url.startswith("//"):
        raise TmbuildError(
            f"{site}: built for {base_url!r}, whose pages load their files from that host; "
            "build it with a path base_url (such as /) or leave out --site so eval builds its own"
        )
    return base_url


@contextlib.contextmanager
def open_site(browser: Any, site: Path) -> Iterator[SitePage]:
    """Serve `site` on a free loopback port and open its page; yields it once the model is ready."""
    from tmbuild.preview.server import PreviewServer

    if not (site / "index.html").is_file():
        raise TmbuildError(f"{site}: no index.html; give a folder that tmbuild build wrote")
    server = PreviewServer("127.0.0.1", 0, site, site_base_path(site))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server.url)
        ready = _wait_ready(page, errors)
        config = page.evaluate(READ_PAGE_CONFIG) or {}
        classifier = config.get("classifier", {})
        yield SitePage(
            page=page,
            labels=list(ready["labels"]),
            backend=ready["backend"],
            image_size=int(ready.get("imageSize") or 0),  # an audio model has none
            threshold=float(classifier.get("threshold", 0.0)),
            min_gap=float(classifier.get("minGap", 0.0)),
            errors=errors,
            kind=ready.get("kind") or "image",
        )
    finally:
        context.close()
        server.shutdown()
        server.close()


def _wait_ready(page: Any, errors: list[str]) -> dict:
    from playwright.sync_api import Error as PlaywrightError

    try:
        has_api = page.evaluate("Boolean(window.tmbuild && window.tmbuild.ready)")
        if not has_api:
            raise TmbuildError(
                "the built page has no window.tmbuild API: does a custom template drop app.js?"
            )
        return page.evaluate("window.tmbuild.ready")
    except PlaywrightError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "no reason given"
        more = f" ({errors[0]})" if errors else ""
        raise TmbuildError(f"the built page did not start its model: {reason}{more}") from None
