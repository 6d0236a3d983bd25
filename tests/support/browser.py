"""Helpers for the browser tests: a real Chromium, and the site served as its host would.

`serve_site` runs `tmbuild serve`'s own server, which honours the built `_headers` file the way
Netlify and Cloudflare Pages do (every matching rule's headers) and serves the .br/.gz files, so
the page is tested under the very CSP and encodings it ships with.
"""

from __future__ import annotations

import contextlib
import http.server
import shutil
import tempfile
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


@contextlib.contextmanager
def chromium(extra_args: list[str] | None = None) -> Iterator:
    """A fresh headless Chromium (new profile) driven by Playwright."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (scripts/test.sh installs it)")
    profile = tempfile.mkdtemp(prefix="tmbuild-chromium-")
    try:
        with playwright_api.sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS + (extra_args or []),
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


# Decode an image from a URL, then classify it through the page's public API.
CLASSIFY_SAMPLE = """async (src) => {
  const img = new Image();
  img.src = src;
  await img.decode();
  return window.tmbuild.classify(img);
}"""
