"""An audio export built into a listening page: the page, its configuration, its host files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import file_tree, real_export
from support.audio import audio_export

from tmbuild.cli import cli

# Seeded random weights do not compress: no siblings to wait for.
FAST = "compress:\n  gzip: false\n  brotli: false\n"


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    return audio_export(real_export("audio2-2020"), tmp_path_factory.mktemp("audio") / "model")


def _build(tmp_path: Path, monkeypatch, export: Path, settings: str = "", output: str = "dist"):
    (tmp_path / "site.yaml").write_text(
        f"model:\n  path: {export}\n{FAST}{settings}", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(cli, ["build", "-q", "-o", output])


def _config(page: str) -> dict:
    found = re.search(r'id="tmbuild-config">(.*?)</script>', page, re.S)
    return json.loads(found.group(1))


def test_an_audio_export_builds_a_listening_page(tmp_path, monkeypatch, export):
    result = _build(tmp_path, monkeypatch, export)
    assert result.exit_code == 0, result.output
    site = tmp_path / "dist"
    page = (site / "index.html").read_text(encoding="utf-8")
    for element in ("tm-microphone", "tm-upload", "tm-spectrogram", "tm-timeline", "tm-result"):
        assert f"<{element}>" in page
    assert "<tm-webcam>" not in page and "data-tm-sample" not in page
    assert "<title>A: a sound classifier</title>" in page
    assert "sounds never leave this device" in page
    config = _config(page)
    assert config["model"]["kind"] == "audio"
    assert "imageSize" not in config["model"]
    assert config["audio"] == {"inputs": ["microphone", "upload"], "overlap": 0.5}
    assert config["model"]["labels"] == ["A", "_background_noise_"]
    # speech-commands' network as the plan's steps: four convolutions, each with its pooling.
    ops = [step["op"] for step in config["model"]["plan"]["steps"]]
    assert ops.count("conv") == 4 and ops.count("maxpool") == 4
    assert config["formats"]["plan"] == 4
    manifest = json.loads((site / "tmbuild-manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"]["kind"] == "audio" and manifest["model"]["image_size"] is None
    headers = (site / "_headers").read_text(encoding="utf-8")
    # The page may open the microphone, and nothing may open the camera.
    assert "Permissions-Policy: camera=(), microphone=(self), geolocation=()" in headers


def test_the_listening_page_follows_site_yaml(tmp_path, monkeypatch, export):
    settings = "lang: ko\naudio:\n  inputs: [upload]\n  overlap: 0.25\n"
    result = _build(tmp_path, monkeypatch, export, settings)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "dist" / "index.html").read_text(encoding="utf-8")
    assert "<tm-microphone>" not in page and "<tm-upload>" in page
    assert "<title>A: 소리 분류기</title>" in page
    assert _config(page)["audio"] == {"inputs": ["upload"], "overlap": 0.25}


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        (
            "audio:\n  overlap: 1\n",
            "site.yaml:7:3: audio.overlap: expected a number from 0 to 0.95; got 1",
        ),
        (
            "audio:\n  inputs: [webcam]\n",
            "site.yaml:7:12: audio.inputs: expected one of micro",
        ),
    ],
)
def test_bad_audio_settings_are_refused_at_their_line(
    tmp_path, monkeypatch, export, settings, line
):
    result = _build(tmp_path, monkeypatch, export, settings)
    assert result.exit_code == 1
    assert line in result.output and "Traceback" not in result.output


def test_a_designers_listen_html_shapes_the_audio_page(tmp_path, monkeypatch, export):
    templates = tmp_path / "theme"
    templates.mkdir()
    (templates / "listen.html").write_text(
        '{% extends "base.html" %}{% block main %}<p class="mine">{{ model.kind }}</p>'
        "<tm-microphone></tm-microphone><tm-result></tm-result>{% endblock %}",
        encoding="utf-8",
    )
    result = _build(tmp_path, monkeypatch, export, "templates: theme\n")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "dist" / "index.html").read_text(encoding="utf-8")
    assert '<p class="mine">audio</p>' in page
    assert "warning" not in result.output  # the page keeps its contract


def test_two_audio_builds_are_byte_identical(tmp_path, monkeypatch, export):
    first = _build(tmp_path, monkeypatch, export, output="one")
    second = _build(tmp_path, monkeypatch, export, output="two")
    assert first.exit_code == second.exit_code == 0
    assert file_tree(tmp_path / "one") == file_tree(tmp_path / "two")
