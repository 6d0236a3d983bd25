"""`tmbuild serve`: real HTTP requests against the real server, on a free loopback port."""

from __future__ import annotations

import gzip
import socket

import brotli
import pytest
from click.testing import CliRunner
from conftest import ROOT
from support.serve_helpers import (
    _copy_project,
    _site_file,
    get,
    running,
    server_fixture,  # noqa: F401 (a fixture: the argument `server`)
    site_fixture,  # noqa: F401 (a fixture: the argument `site`)
)

from tmbuild.build import build
from tmbuild.cli import cli
from tmbuild.config.load import load_config
from tmbuild.preview.server import PreviewServer, choose_encoding, parse_headers_file
from tmbuild.preview.watch import is_loopback


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


def test_a_site_built_for_a_sub_path_is_served_there(tmp_path):
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path / "dist", "base_url": "/demo/"})
    build(config)
    with running(PreviewServer("127.0.0.1", 0, config.output, config.base_url)) as server:
        assert server.url.endswith("/demo/")
        for path in ("/", "/demo"):
            response = get(server, path)
            assert response.status == 302 and response.getheader("Location") == "/demo/"
        page = get(server, "/demo/", Accept_Encoding="identity")
        assert page.status == 200 and b'src="/demo/assets/engine.' in page.body
        assert page.getheader("Cache-Control") == "no-cache"
        assert get(server, "/demo/index.html").status == 200
        assert get(server, "/index.html").status == 404
        assert get(server, "/demox/").status == 404


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


def test_a_single_file_site_is_not_served_but_explained(tmp_path):
    (tmp_path / "site.yaml").write_text(
        f"model: {{path: {ROOT / 'examples' / 'shapes'}}}\nsingle_file: true\n"
    )
    result = CliRunner().invoke(cli, ["serve", "-c", str(tmp_path / "site.yaml"), "-p", "0"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: single_file: a single-file build opens from disk")
    assert not (tmp_path / "dist").exists()
