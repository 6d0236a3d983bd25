"""Shared by the `tmbuild serve` tests: a running server, requests, the example site and project."""

from __future__ import annotations

import contextlib
import http.client
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.preview.server import PreviewServer

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


@pytest.fixture(scope="module", name="site")
def site_fixture(tmp_path_factory) -> Path:
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


@pytest.fixture(scope="module", name="server")
def server_fixture(site) -> Iterator[PreviewServer]:
    with running(PreviewServer("127.0.0.1", 0, site, "/")) as server:
        yield server


def _site_file(site: Path, suffix: str) -> str:
    return next(
        str(p.relative_to(site)) for p in sorted(site.rglob(f"*{suffix}")) if not p.is_symlink()
    )


# For the rebuild-and-reload loop: a copy of the example project with a templates folder.


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
