"""`tmbuild serve` keeps the rest of the disk private and survives malformed and silent clients."""

from __future__ import annotations

import contextlib
import re
import socket
import time

import pytest
from support.serve_helpers import (
    SECRET,
    get,
    running,
    server_fixture,  # noqa: F401 (a fixture: the argument `server`)
    site_fixture,  # noqa: F401 (a fixture: the argument `site`)
)

from tmbuild.preview import server as serve_module
from tmbuild.preview.server import PreviewServer


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


def _statuses(answer: bytes) -> list[bytes]:
    # A second response starts right after the first one's body, on no line of its own.
    return re.findall(rb"HTTP/1\.[01] ([0-9]{3}) ", answer)


@pytest.mark.parametrize(
    ("byte_range", "status"),
    [
        (b"bytes=" + b"9" * 5000 + b"-", b"416"),
        (b"bytes=0-" + b"9" * 5000, b"206"),
        (b"bytes=-" + b"9" * 5000, b"206"),
        ("bytes=\u0661-".encode(), b"200"),  # an Arabic-Indic digit is not a byte position
    ],
    ids=["start", "end", "suffix", "arabic-digit"],
)
def test_a_range_of_thousands_of_digits_is_answered(server, byte_range, status):
    answer = _raw(server, b"GET / HTTP/1.1\r\nHost: x\r\nRange: " + byte_range + b"\r\n\r\n")
    assert _statuses(answer) == [status], answer[:200]
    assert get(server, "/").status == 200


def test_a_trickling_client_is_dropped_when_its_request_is_due(site, monkeypatch):
    monkeypatch.setattr(serve_module._Handler, "timeout", 1)
    with running(PreviewServer("127.0.0.1", 0, site, "/")) as server:
        with socket.create_connection(server.server_address[:2], timeout=10) as connection:
            started = time.monotonic()
            with contextlib.suppress(OSError):  # the server hangs up mid-header
                for byte in b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 100:
                    connection.sendall(bytes([byte]))
                    time.sleep(0.3)  # each byte well inside the 1 s read timeout
            with contextlib.suppress(OSError):
                assert connection.recv(100) == b""
            assert time.monotonic() - started < 4
        assert get(server, "/").status == 200


@pytest.mark.parametrize(
    ("headers", "statuses"),
    [
        (b"Content-Length: 28\r\n", [b"200"]),
        (b"Content-Length: 99999999999999999999999\r\n", [b"413"]),
        (b"Content-Length: -1\r\n", [b"400"]),
        (b"Transfer-Encoding: chunked\r\n", [b"501"]),
    ],
    ids=["length", "huge-length", "negative-length", "chunked"],
)
def test_the_body_of_a_get_is_never_a_second_request(server, headers, statuses):
    smuggled = b"GET /secret.txt HTTP/1.1\r\n\r\n"  # 28 bytes, sent as the body
    answer = _raw(server, b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + smuggled)
    assert _statuses(answer) == statuses, answer[:300]
    assert get(server, "/").status == 200
