"""`tmbuild serve` keeps the rest of the disk private and survives malformed and silent clients."""

from __future__ import annotations

import contextlib
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
