"""site.yaml's `csp:`: sources checked, added to every host's policy, and the templates
checked against it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_export

from tmbuild.cli import cli
from tmbuild.hosts.blocked import _allowed
from tmbuild.hosts.policy import content_security_policy

FONTS = '<link rel="stylesheet" href="https://fonts.googleapis.com/css2?family=Inter">'


def _site(tmp_path: Path, csp: str = "", head: str | None = None, hosts: str = "netlify") -> None:
    write_export(tmp_path / "m")
    text = f"model:\n  path: m\nhosts: [{hosts}]\n" + (f"csp:\n{csp}" if csp else "")
    if head is not None:
        (tmp_path / "templates").mkdir()
        (tmp_path / "templates" / "index.html").write_text(
            '{% extends "default:index.html" %}\n{% block head %}\n' + head + "\n{% endblock %}\n"
        )
        text += "templates: templates\n"
    (tmp_path / "site.yaml").write_text(text)


def _build(tmp_path: Path, monkeypatch, *args: str):
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(cli, ["build", *args])


def test_the_default_policy_is_unchanged():
    assert content_security_policy() == content_security_policy(extra={"style-src": ()})
    assert content_security_policy().endswith("frame-ancestors 'none'")


def test_extra_sources_reach_every_host_file(tmp_path, monkeypatch):
    csp = (
        "  style_src: [https://fonts.googleapis.com, self]\n"
        "  font_src: [https://fonts.gstatic.com]\n"
        "  frame_ancestors: [self, https://www.example.org]\n"
    )
    _site(tmp_path, csp, hosts="netlify, vercel, firebase, nginx, apache")
    result = _build(tmp_path, monkeypatch, "-q")
    assert result.exit_code == 0, result.output
    wanted = (
        "style-src 'self' https://fonts.googleapis.com;",
        "frame-ancestors 'self' https://www.example.org;",
        "font-src 'self' https://fonts.gstatic.com",
    )
    vercel = json.loads((tmp_path / "dist" / "vercel.json").read_text())
    firebase = json.loads((tmp_path / "dist" / "firebase.json").read_text())
    policies = [
        (tmp_path / "dist" / "_headers").read_text(),
        (tmp_path / "dist" / "tmbuild-nginx.conf").read_text(),
        (tmp_path / "dist" / ".htaccess").read_text(),
        json.dumps(vercel),
        json.dumps(firebase),
    ]
    for text in policies:
        assert all(part in text for part in wanted), text[:300]


@pytest.mark.parametrize(
    ("csp", "line"),
    [
        (
            '  script_src: ["bad source;x"]\n',
            "Error: site.yaml:5:16: csp.script_src: expected a source such as 'self', "
            "https://example.com or data:; got 'bad source;x'",
        ),
        (
            '  script_src: ["unsafe-inline"]\n',
            "Error: site.yaml:5:3: csp.script_src: 'unsafe-inline' undoes much of what the "
            "policy protects against; remove it, or write csp: {allow_unsafe: true} to mean it",
        ),
        (
            '  img_src: ["*"]\n',
            "Error: site.yaml:5:3: csp.img_src: * undoes much of what the policy protects "
            "against; remove it, or write csp: {allow_unsafe: true} to mean it",
        ),
    ],
)
def test_bad_or_unsafe_sources_are_refused_at_their_line(tmp_path, monkeypatch, csp, line):
    _site(tmp_path, csp)
    result = _build(tmp_path, monkeypatch)
    assert (result.exit_code, result.stderr) == (1, line + "\n")
    assert not (tmp_path / "dist").exists()


def test_unsafe_sources_pass_when_written_out(tmp_path, monkeypatch):
    _site(tmp_path, '  script_src: ["unsafe-eval"]\n  allow_unsafe: true\n')
    result = _build(tmp_path, monkeypatch, "-q")
    assert result.exit_code == 0, result.output
    assert (
        "script-src 'self' 'wasm-unsafe-eval' blob: "
        in (tmp_path / "dist" / "_headers").read_text()
    )
    assert "'unsafe-eval'" in (tmp_path / "dist" / "_headers").read_text()


def test_a_template_loading_what_the_policy_blocks_gets_a_warning(tmp_path, monkeypatch):
    _site(tmp_path, head=FONTS)
    result = _build(tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "warning: templates/index.html:3: <link> loads "
        "https://fonts.googleapis.com/css2?family=Inter, which the Content-Security-Policy "
        "blocks (style-src); add https://fonts.googleapis.com to csp.style_src in site.yaml\n"
    )


def test_no_warning_once_the_policy_allows_it(tmp_path, monkeypatch):
    _site(tmp_path, "  style_src: [https://fonts.googleapis.com]\n", head=FONTS)
    result = _build(tmp_path, monkeypatch)
    assert (result.exit_code, result.stderr) == (0, "")


@pytest.mark.parametrize(
    ("url", "sources", "allowed"),
    [
        ("https://fonts.googleapis.com/css", ["'self'"], False),
        ("https://fonts.googleapis.com/css", ["https://fonts.googleapis.com"], True),
        ("https://fonts.googleapis.com/css", ["fonts.googleapis.com"], True),
        ("http://fonts.googleapis.com/css", ["fonts.googleapis.com"], False),
        ("https://a.cdn.example/x.js", ["*.cdn.example"], True),
        ("https://cdn.example/x.js", ["*.cdn.example"], False),
        ("https://cdn.example/lib/x.js", ["https://cdn.example/lib/"], True),
        ("https://cdn.example/other/x.js", ["https://cdn.example/lib/"], False),
        ("https://cdn.example:8443/x.js", ["https://cdn.example"], False),
        ("https://anything.example/", ["https:"], True),
        ("//cdn.example/x.js", ["https://cdn.example"], True),
    ],
)
def test_source_matching(url, sources, allowed):
    assert _allowed(url, sources) is allowed
