"""Helpers for the browser tests: a real Chromium, and the site served as its host would.

`serve_site` runs `tmbuild serve`'s own server, which honours the built `_headers` file the way
Netlify and Cloudflare Pages do (every matching rule's headers) and serves the .br/.gz files, so
the page is tested under the very CSP and encodings it ships with.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tmbuild.evaluate import headless
from tmbuild.preview.server import PreviewServer, matching_headers
from tmbuild.preview.server import (
    parse_headers_file as parse_headers_file,
)  # the tests import it here

CHROMIUM = "/usr/bin/chromium"
# tmbuild eval's own flags (quiet, offline, SwiftShader allowed), and no sandbox: CI runs as root.
CHROMIUM_ARGS = ["--no-sandbox", *headless.CHROMIUM_ARGS]
NO_WEBGL_ARGS = ["--disable-gpu", "--disable-software-rasterizer"]


class _Handler(http.server.SimpleHTTPRequestHandler):
    """A plain static server applying `_headers` rules, for tests that mount more folders."""

    rules: list = []
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".json": "application/json",
    }

    def _matching(self) -> list[tuple[str, str]]:
        return matching_headers(self.rules, self.path.split("?", 1)[0])

    def guess_type(self, path) -> str:
        # A `_headers` Content-Type replaces the server's guess, as on Netlify.
        for name, value in self._matching():
            if name.lower() == "content-type":
                return value
        return super().guess_type(path)

    def end_headers(self) -> None:
        for name, value in self._matching():
            if name.lower() != "content-type":
                self.send_header(name, value)
        super().end_headers()

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serve_site(root: Path) -> Iterator[str]:
    """Serve a site built for base_url / on a free loopback port, as `tmbuild serve --no-watch`
    would; yields the base URL (no trailing slash)."""
    server = PreviewServer("127.0.0.1", 0, root, "/")
    with _serving(server, server.close) as url:
        yield url


@contextlib.contextmanager
def run_server(handler: type, root: Path) -> Iterator[str]:
    """Run an HTTP handler class for `root` on a free loopback port; yields the base URL."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(handler, directory=str(root))
    )
    with _serving(server, server.server_close) as url:
        yield url


@contextlib.contextmanager
def _serving(server, close) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        close()


class _Running:
    """One Playwright for the session, and the last few Chromiums it launched, by arguments.

    Starting Playwright's driver and then a Chromium took 2.5-3 s a test on a loaded 2-core
    machine; a new context in a running Chromium takes 0.5 s and shares nothing with the
    contexts before it (cookies, storage, caches, service workers, permissions), as a fresh
    profile did.
    A thread can run one sync Playwright at a time, so once `chromium()` has run, the
    `sync_playwright()` of other code (tmbuild eval in-process, a test's own) is this one too:
    see _Borrowed.
    """

    KEEP = 2  # Chromiums left running: a module's conditions alternate between a few

    def __init__(self) -> None:
        self._playwright = None
        self._browsers: dict[tuple[str, ...], object] = {}  # oldest first
        self.in_use = 0

    def playwright(self, start):
        if self._playwright is None:
            self._playwright = start().start()
        return self._playwright

    def browser(self, start, args: tuple[str, ...]):
        playwright = self.playwright(start)
        browser = self._browsers.pop(args, None)
        if browser is None or not browser.is_connected():
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=list(args)
            )
        self._browsers[args] = browser
        idle = [key for key, running in self._browsers.items() if not running.contexts]
        for key in idle[: max(0, len(self._browsers) - self.KEEP)]:
            with contextlib.suppress(Exception):
                self._browsers.pop(key).close()
        return browser

    def stop(self) -> None:
        browsers, self._browsers = list(self._browsers.values()), {}
        playwright, self._playwright = self._playwright, None
        for browser in browsers:
            with contextlib.suppress(Exception):
                browser.close()
        if playwright is not None:
            with contextlib.suppress(Exception):
                playwright.stop()


RUNNING = _Running()


class _Borrowed:
    """`playwright.sync_api.sync_playwright()` for other code once `chromium()` has run.

    `with sync_playwright() as playwright` (tmbuild eval's way) gets the session's Playwright
    and leaves it running: the browsers it launches are its own, and it closes them. `.start()`,
    whose caller stops what it gets, gets a Playwright of its own once the session's is stopped.
    """

    def __init__(self, original) -> None:
        self._original = original

    def __enter__(self):
        return RUNNING.playwright(self._original)

    def __exit__(self, *exception) -> None:
        return None

    def start(self):
        if RUNNING.in_use:
            raise RuntimeError("a sync Playwright started inside `with chromium()`")
        RUNNING.stop()
        return self._original().start()


def _sharing_ours(api) -> None:
    """Route `playwright.sync_api.sync_playwright()` to _Borrowed, once."""
    if getattr(api.sync_playwright, "original", None) is not None:
        return
    original = api.sync_playwright

    def sync_playwright():
        return _Borrowed(original)

    sync_playwright.original = original
    api.sync_playwright = sync_playwright


@contextlib.contextmanager
def chromium(extra_args: list[str] | None = None) -> Iterator:
    """A fresh headless Chromium context (nothing shared with any other) driven by Playwright:
    a new context of a Chromium launched with these arguments, kept running across tests."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (scripts/test.sh installs it)")
    _sharing_ours(playwright_api)
    args = tuple(CHROMIUM_ARGS + (extra_args or []))
    context = RUNNING.browser(playwright_api.sync_playwright.original, args).new_context()
    RUNNING.in_use += 1
    try:
        yield context
    finally:
        RUNNING.in_use -= 1
        context.close()


# Decode an image from a URL, then classify it through the page's public API.
CLASSIFY_SAMPLE = """async (src) => {
  const img = new Image();
  img.src = src;
  await img.decode();
  return window.tmbuild.classify(img);
}"""
