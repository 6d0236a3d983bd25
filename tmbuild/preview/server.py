"""`tmbuild serve`'s server: the built site, served the way the production host serves it.

It applies the site's `_headers` as Netlify and Cloudflare Pages do (every matching rule), picks
the `.br` or `.gz` sibling by Accept-Encoding, and serves nothing outside the site folder. With
watching on, pages get a small script from `/__tmbuild__/` (never written to the site) that
reloads them after each rebuild; it is an ordinary same-origin script, so the strict CSP holds.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import gzip
import http.server
import logging
import mimetypes
import re
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import brotli

from tmbuild import __version__
from tmbuild.errors import TmbuildError
from tmbuild.hosts.policy import CONTENT_TYPES, HOST_FILE_NAMES, SIBLINGS
from tmbuild.preview.headers_file import matching_headers, parse_headers_file
from tmbuild.preview.reload import RELOAD_PREFIX, RELOAD_SCRIPT, LiveReload, inject_reload_script

log = logging.getLogger("tmbuild")

# Hosts' configuration files: hosts read them and do not serve them (tmbuild.hosts.policy).
UNSERVED = frozenset({*HOST_FILE_NAMES, "_redirects"})
REQUEST_TIMEOUT = 15  # seconds a request may take to arrive, whole; a slow client is dropped
MAX_BODY = 1024 * 1024  # a GET's body is read and dropped; a preview needs none at all
MAX_DIGITS = 18  # a byte position with more digits is past the end of any file
SWAP_WAIT = 1.0  # a rebuild swaps the output in with two renames; it is missing for an instant


def choose_encoding(accept_encoding: str | None, available: list[str]) -> str | None:
    """The coding to send: the acceptable one of `available` with the highest q, br on a tie."""
    weights: dict[str, float] = {}
    for item in (accept_encoding or "").lower().split(","):
        coding, _, params = item.partition(";")
        q = re.fullmatch(r"\s*q\s*=\s*(\d+(?:\.\d*)?)\s*", params)
        weights[coding.strip()] = float(q[1]) if q else 0.0 if params.strip() else 1.0
    weight = {coding: weights.get(coding, weights.get("*", 0.0)) for coding in available}
    best = max(available, key=weight.__getitem__, default=None)  # the first of equals
    return best if best is not None and weight[best] > 0 else None


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    kind, encoding = mimetypes.guess_type(name, strict=False)
    # `page.html.br` asked for by name is bytes, not a page: no Content-Encoding goes with it.
    return kind if kind and not encoding else "application/octet-stream"


def url_segments(path: str) -> list[str] | None:
    """The segments of a URL path, percent-decoded once; None if the path is unsafe."""
    try:
        decoded = urllib.parse.unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not decoded.startswith("/") or any(ord(c) < 32 or c in "\\\x7f" for c in decoded):
        return None
    segments = decoded[1:].split("/")
    # Empty segments only at the end (`dir/`); never `.` or `..`, which would climb out.
    if any(s in ("", ".", "..") for s in segments[:-1]) or segments[-1] in (".", ".."):
        return None
    return segments


class PreviewServer(http.server.ThreadingHTTPServer):
    """Serves one built site; `live` (a LiveReload) turns on the reload script."""

    daemon_threads = True
    allow_reuse_port = False  # two servers on one port would split the requests between them

    def __init__(
        self, host: str, port: int, root: Path, base_url: str, live: LiveReload | None = None
    ):
        self.set_site(root, base_url)
        self.live = live
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._rules_cache: tuple[tuple, list] = ((), [])
        if ":" in host:
            self.address_family = socket.AF_INET6
        try:
            super().__init__((host, port), _Handler)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise TmbuildError(
                    f"port {port} on {host} is already in use: stop the other server or "
                    "choose another port with --port (--port 0 picks a free one)"
                ) from None
            raise TmbuildError(f"cannot serve on {host} port {port}: {error.strerror}") from None

    def server_bind(self) -> None:
        # HTTPServer's own looks the host name up in DNS, which can stall without a network.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def set_site(self, root: Path, base_url: str) -> None:
        self.root = Path(root).absolute()
        # A site built for https://example.org/demo/ is served under /demo/.
        self.url_base = urllib.parse.urlsplit(base_url).path or "/"
        self.base_path = urllib.parse.unquote(self.url_base)  # what decoded paths start with

    @property
    def url(self) -> str:
        host = self.server_name
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.server_port}{self.url_base}"

    def site_root(self) -> Path | None:
        """The site folder as it is now; waits out the instant a rebuild swaps it."""
        deadline = time.monotonic() + SWAP_WAIT
        while True:
            if self.root.is_dir():
                return self.root.resolve()
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def rules(self, root: Path) -> list[tuple[str, list[tuple[str, str]]]]:
        path = root / "_headers"
        try:
            info = path.stat()
        except OSError:
            return []
        key = (str(root), info.st_ino, info.st_mtime_ns, info.st_size)
        if self._rules_cache[0] != key:
            self._rules_cache = (key, parse_headers_file(path.read_text("utf-8")))
        return self._rules_cache[1]

    def process_request(self, request, client_address) -> None:
        with self._lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        # A client that hangs up mid-response is normal; anything else is a bug worth a line.
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            log.error("answering %s: %s: %s", client_address[0], type(error).__name__, error)
        log.debug("The request from %s failed", client_address[0], exc_info=True)

    def close(self) -> None:
        """Stop serving and close every socket, the event streams' included."""
        if self.live is not None:
            self.live.close()
        self.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: PreviewServer
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT
    # Errors in a request line that cannot be read are answered with a status line, not HTTP/0.9.
    default_request_version = "HTTP/1.0"

    def version_string(self) -> str:
        return f"tmbuild/{__version__}"

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.address_string(), format % args)  # -vv shows every request

    def handle_one_request(self) -> None:
        # `timeout` bounds each read; the watchdog bounds the whole request, so that a client
        # sending one header byte every few seconds cannot hold a thread either.
        self._watchdog = threading.Timer(self.timeout, self._hang_up)
        self._watchdog.daemon = True
        self._watchdog.start()
        try:
            super().handle_one_request()
        finally:
            self._watchdog.cancel()

    def _hang_up(self) -> None:
        with contextlib.suppress(OSError):  # the client left already
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _drop_body(self) -> bool:
        """Read a request's body and drop it, so that it is never taken for the next request."""
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            self.send_error(501, "A body sent in chunks is not supported")
            return False
        length = (self.headers.get("Content-Length") or "0").strip()
        if not length.isascii() or not length.isdigit():
            self.close_connection = True
            self.send_error(400, "Bad Content-Length")
            return False
        if len(length) > MAX_DIGITS or int(length) > MAX_BODY:
            self.close_connection = True
            self.send_error(413, "A preview server takes no request body")
            return False
        if int(length):
            self.rfile.read(int(length))
        return True

    def _answer(self, send_body: bool) -> None:
        if not self._drop_body():
            return
        self._watchdog.cancel()  # the request is in; answering may take as long as it takes
        target = self.path
        if not target.startswith("/"):
            target = urllib.parse.urlsplit(target).path  # absolute form: http://host/path
        path = target.split("?", 1)[0].split("#", 1)[0]
        if path.startswith(RELOAD_PREFIX) and self.server.live is not None:
            self._live_reload(path[len(RELOAD_PREFIX) :], send_body)
            return
        segments = url_segments(path)
        if segments is None:
            self.send_error(400, "Bad path")
            return
        decoded = "/" + "/".join(segments)
        self.url_paths = (path, decoded)  # `_headers` rules may be written either way
        base = self.server.base_path
        if not decoded.startswith(base):
            if decoded in ("/", base.rstrip("/")):
                self._redirect(self.server.url_base)
            else:
                self._not_found(send_body)
            return
        root = self.server.site_root()
        if root is None:
            self.send_error(503, "The site is being rebuilt")
            return
        relative = decoded[len(base) :]
        if any(s.startswith(".") for s in relative.split("/")) or relative in UNSERVED:
            self._not_found(send_body)  # hidden files, staging folders, host files
            return
        try:
            file = self._inside(root, root / relative)
            if file is not None and file.is_dir():
                if not decoded.endswith("/"):
                    query = self.path.partition("?")[2]
                    self._redirect(path + "/" + (f"?{query}" if query else ""), status=301)
                    return
                file = self._inside(root, file / "index.html")  # folders are never listed
            elif decoded.endswith("/"):
                file = None  # `page.html/` is not a folder
            if file is None or not file.is_file():
                self._not_found(send_body)
                return
        except (OSError, RuntimeError):  # a name too long for the system, a symlink loop
            self._not_found(send_body)
            return
        self._send_file(root, file, send_body)

    @staticmethod
    def _inside(root: Path, path: Path) -> Path | None:
        """`path` with links resolved, if that is still inside the site."""
        resolved = path.resolve()
        return resolved if resolved.is_relative_to(root) else None

    def _send_file(self, root: Path, file: Path, send_body: bool) -> None:
        headers = matching_headers(self.server.rules(root), *self.url_paths)
        kind = next((v for k, v in headers if k.lower() == "content-type"), None)
        kind = kind or content_type(file.name)
        siblings = {}
        for coding, suffix in SIBLINGS.items():  # br first: it is the smaller
            sibling = self._inside(root, file.with_name(file.name + suffix))
            if sibling is not None and sibling.is_file():
                siblings[coding] = sibling
        coding = choose_encoding(self.headers.get("Accept-Encoding"), list(siblings))
        live = self.server.live
        inject = live is not None and kind.startswith("text/html")
        # The reload script changes the page, so its compressed bytes are made afresh.
        source = file if inject else siblings.get(coding, file)
        try:
            info = source.stat()
            body = source.read_bytes()
        except OSError:  # replaced by a rebuild under our feet
            self._not_found(send_body)
            return
        tag = f"{info.st_ino:x}-{info.st_mtime_ns:x}-{info.st_size:x}"
        if inject:
            token = live.state().token
            body = _compress(inject_reload_script(body, token), coding)
            tag = f"{tag}-{coding}-{token}"
        etag = f'"{tag}"'
        sent = [(k, v) for k, v in headers if k.lower() != "content-type"]
        if siblings:
            sent.append(("Vary", "Accept-Encoding"))
        if coding:
            sent.append(("Content-Encoding", coding))
        sent.append(("ETag", etag))
        sent.append(("Last-Modified", email.utils.formatdate(info.st_mtime, usegmt=True)))
        if self._not_modified(etag, info.st_mtime):
            self.send_response(304)
            for name, value in sent:
                self.send_header(name, value)
            self.end_headers()
            return
        status, body, content_range = self._range(body, etag)
        sent.append(("Accept-Ranges", "bytes"))
        if content_range:
            sent.append(("Content-Range", content_range))
        self._send_bytes(status, kind, body, sent, send_body)

    def _not_modified(self, etag: str, mtime: float) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
            return etag in tags or "*" in tags
        since = self.headers.get("If-Modified-Since")
        if since:
            try:
                return int(mtime) <= email.utils.parsedate_to_datetime(since).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                return False
        return False

    def _range(self, body: bytes, etag: str) -> tuple[int, bytes, str | None]:
        """One byte range, as browsers ask for media; anything malformed gets the whole file."""
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if not wanted or (if_range is not None and if_range.strip() != etag):
            return 200, body, None
        match = re.fullmatch(r"\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*", wanted)
        if not match or match.groups() == ("", ""):
            return 200, body, None
        # Past MAX_DIGITS a number is as good as infinite, and int() of 5,000 digits raises.
        first, last = (str(10**MAX_DIGITS) if len(n) > MAX_DIGITS else n for n in match.groups())
        size = len(body)
        if first:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
            if last and int(last) < start:
                return 200, body, None  # invalid, so ignored (RFC 9110 14.1.1)
        else:
            start, end = max(size - int(last), 0), size - 1
        if start >= size or (not first and int(last) == 0):
            return 416, b"", f"bytes */{size}"
        return 206, body[start : end + 1], f"bytes {start}-{end}/{size}"

    def _not_found(self, send_body: bool) -> None:
        root = self.server.site_root()
        page = None if root is None else self._inside(root, root / "404.html")
        if page is not None and page.is_file():
            body, kind = page.read_bytes(), "text/html; charset=utf-8"
        else:
            body, kind = b"404 Not Found\n", "text/plain; charset=utf-8"
        rules = [] if root is None else matching_headers(self.server.rules(root), *self.url_paths)
        headers = [(k, v) for k, v in rules if k.lower() not in ("content-type", "cache-control")]
        headers.append(("Cache-Control", "no-store"))
        self._send_bytes(404, kind, body, headers, send_body)

    def _send_bytes(
        self, status: int, kind: str, body: bytes, headers: list, send_body: bool
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _redirect(self, location: str, status: int = 302) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _live_reload(self, name: str, send_body: bool) -> None:
        if name == "reload.js":
            headers = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]
            body = RELOAD_SCRIPT.encode("utf-8")
            self._send_bytes(200, "text/javascript; charset=utf-8", body, headers, send_body)
        elif name == "events":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")  # the stream ends when the connection does
            self.end_headers()
            self.close_connection = True
            if send_body:
                self.server.live.stream(self.wfile.write)
        else:
            self._send_bytes(404, "text/plain; charset=utf-8", b"404 Not Found\n", [], send_body)


def _compress(data: bytes, coding: str | None) -> bytes:
    # Preview speed over size: a page is a few kB, and this happens on every request.
    if coding == "br":
        return brotli.compress(data, quality=5)
    if coding == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    return data
