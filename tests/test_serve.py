"""`tmbuild serve`: real HTTP requests against the real server, on a free loopback port."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import brotli
import pytest
from click.testing import CliRunner
from conftest import ROOT, default_sigint

from tmbuild import serve as serve_module
from tmbuild.build import build
from tmbuild.cli import cli
from tmbuild.config import load_config
from tmbuild.serve import PreviewServer, choose_encoding, parse_headers_file
from tmbuild.watch import LiveReload, Rebuilder, is_loopback

SECRET = "not part of the site"


@contextlib.contextmanager
def running(server: PreviewServer) -> Iterator[PreviewServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.close()


def _address(server: PreviewServer | tuple[str, int]) -> tuple[str, int]:
    return server if isinstance(server, tuple) else server.server_address[:2]


def get(server, path: str, method: str = "GET", **headers) -> http.client.HTTPResponse:
    """One request with the path sent exactly as given (http.client does not normalise it)."""
    connection = http.client.HTTPConnection(*_address(server), timeout=10)
    connection.request(method, path, headers={k.replace("_", "-"): v for k, v in headers.items()})
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example site, and beside it a secret and a staging folder no request may reach."""
    folder = tmp_path_factory.mktemp("serve")
    config, _ = load_config(ROOT / "site.yaml", {"output": folder / "dist"})
    build(config)
    (folder / "secret.txt").write_text(SECRET)
    staging = folder / ".tmbuild-staging-dist-x"
    staging.mkdir()
    (staging / "index.html").write_text(SECRET)
    site = folder / "dist"
    (site / "link-out").symlink_to(folder / "secret.txt")
    (site / "folder-out").symlink_to(folder)
    (site / "link-in").symlink_to(site / "tmbuild-manifest.json")
    return site


@pytest.fixture(scope="module")
def server(site) -> Iterator[PreviewServer]:
    with running(PreviewServer("127.0.0.1", 0, site, "/")) as server:
        yield server


def _site_file(site: Path, suffix: str) -> str:
    return next(
        str(p.relative_to(site)) for p in sorted(site.rglob(f"*{suffix}")) if not p.is_symlink()
    )


def test_binds_loopback_by_default(server):
    assert server.server_address[0] == "127.0.0.1"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        (".html", "text/html; charset=utf-8"),
        (".wasm", "application/wasm"),
        (".js", "text/javascript; charset=utf-8"),
        ("model.json", "application/json; charset=utf-8"),
        (".bin", "application/octet-stream"),
        (".css", "text/css; charset=utf-8"),
        (".png", "image/png"),
        (".js.br", "application/octet-stream"),  # asked for by name: bytes, not a script
    ],
)
def test_content_types(site, server, suffix, expected):
    path = _site_file(site, suffix)
    response = get(server, "/" + path, Accept_Encoding="identity")
    assert response.status == 200
    assert response.getheader("Content-Type") == expected
    assert response.getheader("Content-Encoding") is None
    assert response.body == (site / path).read_bytes()


def test_headers_come_from_the_sites_headers_file(site, server):
    rules = parse_headers_file((site / "_headers").read_text())
    csp = next(v for _, headers in rules for k, v in headers if k == "Content-Security-Policy")
    assert "connect-src 'self'" in csp
    page = get(server, "/")
    assert page.getheader("Content-Security-Policy") == csp
    # Not isolated unless runtime.wasm_threads asks for it.
    assert page.getheader("Cross-Origin-Embedder-Policy") is None
    assert page.getheader("Cross-Origin-Opener-Policy") == "same-origin"
    assert page.getheader("Cache-Control") == "no-cache"
    weights = get(server, "/" + _site_file(site, ".bin"))
    assert weights.getheader("Cache-Control") == "public, max-age=31536000, immutable"
    assert weights.getheader("Content-Security-Policy") == csp
    # Each header once: the page's rules say Cache-Control only once per path.
    assert len(page.headers.get_all("Cache-Control")) == 1


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip, deflate, br", "br"),
        ("br", "br"),
        ("gzip", "gzip"),
        ("gzip, br;q=0", "gzip"),
        ("br;q=0.5, gzip;q=0.9", "gzip"),
        ("*", "br"),
        ("*, br;q=0", "gzip"),
        ("identity", None),
        ("", None),
        ("br;q=0, gzip;q=0", None),
    ],
)
def test_siblings_by_accept_encoding(site, server, accept, coding):
    path = _site_file(site, ".js")
    original = (site / path).read_bytes()
    response = get(server, "/" + path, Accept_Encoding=accept)
    assert response.status == 200
    assert response.getheader("Vary") == "Accept-Encoding"
    assert response.getheader("Content-Type") == "text/javascript; charset=utf-8"
    assert response.getheader("Content-Encoding") == coding
    suffix = {"br": ".br", "gzip": ".gz", None: ""}[coding]
    assert response.body == (site / (path + suffix)).read_bytes()
    decode = {"br": brotli.decompress, "gzip": gzip.decompress, None: bytes}[coding]
    assert decode(response.body) == original
    assert int(response.getheader("Content-Length")) == len(response.body)


def test_accept_encoding_parsing():
    assert choose_encoding("gzip;q=0.8, br;q=0.8", ["br", "gzip"]) == "br"
    assert choose_encoding("BR;Q=1", ["br", "gzip"]) == "br"
    assert choose_encoding("gzip;q=nonsense, br", ["br", "gzip"]) == "br"
    assert choose_encoding("br", ["gzip"]) is None  # only the siblings that exist


def test_head_has_the_headers_and_no_body(server):
    full = get(server, "/", Accept_Encoding="gzip")
    head = get(server, "/", method="HEAD", Accept_Encoding="gzip")
    assert head.status == 200 and head.body == b""
    assert head.getheader("Content-Length") == full.getheader("Content-Length")
    assert head.getheader("ETag") == full.getheader("ETag")


def test_revalidation_answers_304(server):
    first = get(server, "/", Accept_Encoding="br")
    etag = first.getheader("ETag")
    again = get(server, "/", Accept_Encoding="br", If_None_Match=etag)
    assert again.status == 304 and again.body == b""
    assert again.getheader("ETag") == etag
    assert again.getheader("Cache-Control") == "no-cache"
    other = get(server, "/", Accept_Encoding="gzip", If_None_Match=etag)
    assert other.status == 200  # another representation, another tag
    since = first.getheader("Last-Modified")
    assert get(server, "/", If_Modified_Since=since).status == 304
    assert get(server, "/", If_Modified_Since="Thu, 01 Jan 1970 00:00:00 GMT").status == 200
    assert get(server, "/", If_Modified_Since="yesterday").status == 200


def test_ranges(site, server):
    path = "/" + _site_file(site, ".bin")
    data = (site / path[1:]).read_bytes()
    part = get(server, path, Range="bytes=0-9", Accept_Encoding="identity")
    assert part.status == 206 and part.body == data[:10]
    assert part.getheader("Content-Range") == f"bytes 0-9/{len(data)}"
    tail = get(server, path, Range="bytes=-5", Accept_Encoding="identity")
    assert tail.status == 206 and tail.body == data[-5:]
    beyond = get(server, path, Range=f"bytes={len(data)}-", Accept_Encoding="identity")
    assert beyond.status == 416 and beyond.getheader("Content-Range") == f"bytes */{len(data)}"
    for malformed in (
        "bytes=abc",
        "bytes=9-1",
        "pages=1-2",
        "bytes=0-1,5-6",
        "bytes=" + "9" * 5000,
    ):
        whole = get(server, path, Range=malformed, Accept_Encoding="identity")
        assert whole.status == 200 and whole.body == data, malformed


def test_not_found_and_folders(site, server):
    missing = get(server, "/no-such-page")
    assert missing.status == 404 and missing.body == b"404 Not Found\n"
    assert missing.getheader("Content-Security-Policy")  # errors carry the policy too
    folder = _site_file(site, ".bin").rsplit("/", 1)[0]
    moved = get(server, f"/{folder}?x=1")
    assert moved.status == 301 and moved.getheader("Location") == f"/{folder}/?x=1"
    assert get(server, f"/{folder}/").status == 404  # never a listing
    assert get(server, "/index.html/").status == 404
    assert get(server, "/link-in").status == 200  # a link that stays inside is fine


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2f%2e%2e%2fetc/passwd",
        "/assets/../../secret.txt",
        "//etc/passwd",
        "///etc/passwd",
        "/..\\secret.txt",
        "/%5c..%5csecret.txt",
        "/%2e%2e%5csecret.txt",
        "/.%2e/secret.txt",
        "/..%252fsecret.txt",
        "/%00",
        "/index.html%00.png",
        "/%ff%fe",
        "/link-out",
        "/folder-out/secret.txt",
        "/folder-out/.tmbuild-staging-dist-x/index.html",
        "/../.tmbuild-staging-dist-x/index.html",
        "/_headers",
        "/.",
        "/..",
        "http://127.0.0.1/../secret.txt",
        "*",
    ],
)
def test_nothing_outside_the_site_is_served(server, path):
    response = get(server, path)
    assert response.status in (400, 404), (path, response.status)
    assert SECRET.encode() not in response.body
    assert b"root:" not in response.body


def _raw(server, payload: bytes, wait: float = 5) -> bytes:
    with socket.create_connection(server.server_address[:2], timeout=wait) as connection:
        connection.sendall(payload)
        connection.shutdown(socket.SHUT_WR)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"\x00\xff\xfe\xfd\r\n\r\n", b"400"),
        (b"GET / HTTP/9.9\r\n\r\n", b"505"),
        (b"GET / HTTP/1.1 extra words\r\n\r\n", b"400"),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", b"414"),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", b"431"),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n", b"431"),
        (b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", b"501"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=\xff\xff\r\n\r\n", b"200"),
        (b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", b"404"),
    ],
)
def test_malformed_requests_are_answered_and_the_server_stays_up(server, payload, status):
    answer = _raw(server, payload)
    assert answer.split(b" ", 2)[1] == status, answer[:200]
    assert get(server, "/").status == 200


def test_a_silent_client_is_dropped(site, monkeypatch):
    monkeypatch.setattr(serve_module._Handler, "timeout", 1)
    with running(PreviewServer("127.0.0.1", 0, site, "/")) as server:
        with socket.create_connection(server.server_address[:2], timeout=10) as connection:
            connection.sendall(b"GET / HTTP/1.1\r\n")  # and then nothing more
            started = time.monotonic()
            assert connection.recv(100) == b""  # the server hung up
            assert time.monotonic() - started < 5
        assert get(server, "/").status == 200


def test_port_in_use_names_the_port_and_the_option(site):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "-c", str(ROOT / "site.yaml"), "-p", str(port)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: port {port} on 127.0.0.1 is already in use: stop the other server or "
        "choose another port with --port (--port 0 picks a free one)\n"
    )


def test_no_build_needs_a_built_site(tmp_path):
    project = _copy_project(tmp_path)
    result = CliRunner().invoke(
        cli, ["serve", "-c", str(project / "site.yaml"), "--no-build", "-p", "0"]
    )
    assert result.exit_code == 1
    assert "there is no built site to serve; run tmbuild build, or drop --no-build" in result.output


def test_a_site_built_for_a_sub_path_is_served_there(tmp_path):
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path / "dist", "base_url": "/demo/"})
    build(config)
    with running(PreviewServer("127.0.0.1", 0, config.output, config.base_url)) as server:
        assert server.url.endswith("/demo/")
        for path in ("/", "/demo"):
            response = get(server, path)
            assert response.status == 302 and response.getheader("Location") == "/demo/"
        page = get(server, "/demo/", Accept_Encoding="identity")
        assert page.status == 200 and b'src="/demo/assets/app.' in page.body
        assert page.getheader("Cache-Control") == "no-cache"
        assert get(server, "/demo/index.html").status == 200
        assert get(server, "/index.html").status == 404
        assert get(server, "/demox/").status == 404


# The rebuild-and-reload loop, on a copy of the example project with a templates folder.


def _copy_project(tmp_path: Path, marker: str = "first") -> Path:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "shapes", project / "examples" / "shapes")
    shutil.copytree(ROOT / "examples" / "samples", project / "examples" / "samples")
    text = (ROOT / "site.yaml").read_text()
    (project / "site.yaml").write_text(text + "templates: templates\n")
    (project / "templates").mkdir()
    _write_template(project, marker)
    return project


def _write_template(project: Path, marker: str) -> None:
    page = project / "templates" / "index.html"
    page.write_text(
        '{% extends "default:index.html" %}\n'
        f'{{% block header %}}<h1 id="marker">{marker}</h1>{{% endblock %}}\n'
    )


class _Events:
    """A client of /__tmbuild__/events: (event, data) pairs as the server sends them."""

    def __init__(self, server: PreviewServer | tuple[str, int]):
        self.connection = http.client.HTTPConnection(*_address(server), timeout=20)
        self.connection.request("GET", "/__tmbuild__/events")
        self.response = self.connection.getresponse()
        assert self.response.getheader("Content-Type") == "text/event-stream; charset=utf-8"

    def next(self) -> tuple[str, str]:
        event, data = "message", []
        while True:
            line = self.response.readline().decode("utf-8").rstrip("\n")
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
            elif line == "" and data:
                return event, "\n".join(data)

    def close(self) -> None:
        self.connection.close()


def _token(page: bytes) -> str:
    return re.search(rb'<script src="/__tmbuild__/reload.js" data-build="([^"]+)">', page)[
        1
    ].decode()


def test_rebuild_announces_the_new_build_and_keeps_the_last_good_one(tmp_path):
    project = _copy_project(tmp_path)

    def load():
        return load_config(project / "site.yaml")[0]

    config = load()
    live = LiveReload()
    lines: list[tuple[str, bool]] = []
    rebuilder = Rebuilder(load, config, live, lambda line, err=False: lines.append((line, err)))
    build(config)
    stop = threading.Event()
    watcher = threading.Thread(target=rebuilder.run, args=(stop,), daemon=True)
    with running(PreviewServer("127.0.0.1", 0, config.output, config.base_url, live)) as server:
        watcher.start()
        try:
            events = _Events(server)
            first_page = get(server, "/", Accept_Encoding="identity").body
            assert b'<h1 id="marker">first</h1>' in first_page
            event, first = events.next()
            assert (event, first) == ("built", _token(first_page))
            script = get(server, "/__tmbuild__/reload.js")
            assert script.getheader("Content-Type") == "text/javascript; charset=utf-8"
            assert b"new EventSource('/__tmbuild__/events')" in script.body
            assert not (config.output / "__tmbuild__").exists()  # never written to the site

            _write_template(project, "second")
            event, second = events.next()
            assert event == "built" and second != first
            page = get(server, "/", Accept_Encoding="br")
            assert page.getheader("Content-Encoding") == "br"
            html = brotli.decompress(page.body)
            assert b'<h1 id="marker">second</h1>' in html and _token(html) == second
            assert re.fullmatch(r"Rebuilt .*dist/ in \d+\.\d\d s", lines[-1][0])

            (project / "templates" / "index.html").write_text("{% block header %}\n")
            event, error = events.next()
            assert event == "failed"
            assert "index.html" in error and "template syntax error" in error
            assert any(err and line.startswith("Error: ") for line, err in lines)
            kept = get(server, "/", Accept_Encoding="identity").body
            assert b'<h1 id="marker">second</h1>' in kept  # the last good build

            _write_template(project, "third")
            event, third = events.next()
            assert event == "built" and third not in (first, second)
            assert b"third" in get(server, "/", Accept_Encoding="identity").body
            events.close()
        finally:
            stop.set()
            watcher.join(10)
    assert not [p.name for p in project.iterdir() if p.name.startswith(".tmbuild-")]


def test_a_poll_rebuilds_only_when_an_input_changed(tmp_path):
    project = _copy_project(tmp_path)

    def load():
        return load_config(project / "site.yaml")[0]

    lines: list[str] = []
    rebuilder = Rebuilder(load, load(), LiveReload(), lambda line, err=False: lines.append(line))
    build(load())
    assert rebuilder.poll() is False  # the build's own output is not a change
    (project / "templates" / ".index.html.swp").write_text("an editor's swap file")
    assert rebuilder.poll() is False
    _write_template(project, "changed")
    assert rebuilder.poll() is True and lines[-1].startswith("Rebuilt ")
    assert b"changed" in (project / "dist" / "index.html").read_bytes()
    assert rebuilder.poll() is False
    os.utime(project / "examples" / "shapes" / "metadata.json", ns=(1, 1))  # the model counts
    assert rebuilder.poll() is True
    text = (project / "site.yaml").read_text()
    (project / "site.yaml").write_text(text.replace("title: Shape sorter", "title: Renamed"))
    assert rebuilder.poll() is True and lines[-1].startswith("Rebuilt "), lines[-3:]
    assert b"<title>Renamed</title>" in (project / "dist" / "index.html").read_bytes()
    (project / "site.yaml").write_text(text.replace("quantize: none", "quantize: fp16"))
    assert rebuilder.poll() is True
    assert lines[-2].startswith("Error: site.yaml:") and "model.quantize" in lines[-2], lines
    assert lines[-1] == "The last good build is still served; fix the problem and save again."
    assert b"<title>Renamed</title>" in (project / "dist" / "index.html").read_bytes()


def test_a_new_event_stream_says_which_build_is_served_then_what_failed():
    # A page names its build; a stream opened after a newer build must not look current.
    live = LiveReload()
    old = live.state().token
    live.built()
    live.failed("templates/index.html:1: template syntax error: unexpected end\nsecond line")
    chunks: list[bytes] = []
    threading.Timer(0.5, live.close).start()
    live.stream(chunks.append, heartbeat=0.1)
    assert live.state().token != old
    assert (
        chunks[0]
        == (
            f"event: built\ndata: {live.state().token}\n\n"
            "event: failed\n"
            "data: templates/index.html:1: template syntax error: unexpected end\n"
            "data: second line\n\n"
        ).encode()
    )
    assert set(chunks[1:]) == {b": still here\n\n"}  # until it was closed
    assert len(chunks) > 1


# The command line, end to end, in its own process.


def _start(project: Path, *args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tmbuild", "serve", "--port", "0", *args],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        preexec_fn=default_sigint,
    )
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.fullmatch(
            r"Serving dist/ at (http://127\.0\.0\.1:\d+/) \(Ctrl-C to stop\)\n", line
        )
        if match:
            return process, match[1]
    process.kill()
    raise AssertionError(f"no Serving line: {lines} {process.stderr.read()}")


def test_cli_serves_rebuilds_and_stops_cleanly_on_ctrl_c(tmp_path):
    project = _copy_project(tmp_path)
    process, url = _start(project)
    try:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        server = ("127.0.0.1", port)
        assert b'<h1 id="marker">first</h1>' in get(server, "/", Accept_Encoding="identity").body
        _write_template(project, "edited")
        deadline = time.monotonic() + 20
        while b"edited" not in get(server, "/", Accept_Encoding="identity").body:
            assert time.monotonic() < deadline, "the edit was not rebuilt"
            time.sleep(0.2)
        events = _Events(server)  # an open event stream must not hold up the exit
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        events.close()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    rebuilt, stopped = out.splitlines()  # what followed the Serving line
    assert re.fullmatch(r"Rebuilt dist/ in \d+\.\d\d s", rebuilt) and stopped == "Stopped."
    assert "Traceback" not in err
    assert not [p.name for p in project.iterdir() if p.name.startswith(".tmbuild-")]
    # The reload script lives in the server only: no built file mentions it.
    assert not [
        p for p in (project / "dist").rglob("*") if p.is_file() and b"__tmbuild__" in p.read_bytes()
    ]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    with socket.socket() as again:  # the port is free again (closed connections may linger)
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


def test_cli_stops_cleanly_on_sigterm_without_watching(tmp_path):
    project = _copy_project(tmp_path)
    process, url = _start(project, "--no-watch")
    try:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        server = ("127.0.0.1", port)
        page = get(server, "/", Accept_Encoding="identity").body
        assert b"__tmbuild__" not in page  # nothing to reload without watching
        assert page == (project / "dist" / "index.html").read_bytes()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert out == "Stopped.\n"


# What the page would report to a CSP `report-to`: collected before any of its own scripts run.
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (event) => window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`));
"""


@pytest.mark.browser
def test_the_page_reloads_itself_after_a_rebuild(tmp_path):
    from browser import chromium

    project = _copy_project(tmp_path)
    process, url = _start(project)
    try:
        with chromium() as context:
            page = context.new_page()
            page.add_init_script(RECORD_CSP_VIOLATIONS)
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            navigations: list[str] = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))
            page.goto(url)
            info = page.evaluate("window.tmbuild.ready")
            assert info["labels"] == ["circle", "square", "triangle", "star", "background"]
            assert page.inner_text("#marker") == "first"

            # A broken template: the page says why, and keeps the last good build.
            (project / "templates" / "index.html").write_text("{% block header %}\n")
            banner = page.locator("#tmbuild-serve-error")
            banner.wait_for(timeout=20_000)
            assert banner.inner_text().startswith(
                "tmbuild serve: the rebuild failed; this is the last good build.\n"
            )
            assert "template syntax error" in banner.inner_text()
            assert page.inner_text("#marker") == "first"
            assert page.evaluate("window.cspViolations") == []

            _write_template(project, "second")
            page.locator("#marker", has_text="second").wait_for(timeout=20_000)
            page.evaluate("window.tmbuild.ready")
            assert navigations == [url, url]  # reloaded once, by itself
            assert page.evaluate("performance.getEntriesByType('navigation')[0].type") == "reload"
            assert not page.locator("#tmbuild-serve-error").count()
            assert page.evaluate("window.cspViolations") == []
            assert problems == []
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Error: " in err and "template syntax error" in err


@pytest.mark.browser
def test_an_offline_service_worker_does_not_keep_the_previous_build(tmp_path):
    from browser import chromium

    from tmbuild.config import SiteConfig

    if "offline" not in {field.name for field in dataclasses.fields(SiteConfig)}:
        pytest.skip("this tmbuild has no offline: option")
    project = _copy_project(tmp_path)
    with (project / "site.yaml").open("a") as config:
        config.write("offline: true\n")
    process, url = _start(project)
    try:
        with chromium() as context:
            page = context.new_page()
            navigations: list[str] = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))
            page.goto(url)
            page.evaluate("window.tmbuild.ready")
            # Once the worker controls the page, it answers the page from its cache.
            page.wait_for_function("() => navigator.serviceWorker.controller !== null")
            _write_template(project, "second")
            page.locator("#marker", has_text="second").wait_for(timeout=20_000)
            page.evaluate("window.tmbuild.ready")
            time.sleep(2)  # a reload loop would show here
            assert navigations == [url, url]
            assert page.inner_text("#marker") == "second"
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err


def test_a_single_file_site_is_not_served_but_explained(tmp_path):
    (tmp_path / "site.yaml").write_text(
        f"model: {{path: {ROOT / 'examples' / 'shapes'}}}\nsingle_file: true\n"
    )
    result = CliRunner().invoke(cli, ["serve", "-c", str(tmp_path / "site.yaml"), "-p", "0"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: single_file: a single-file build opens from disk")
    assert not (tmp_path / "dist").exists()
