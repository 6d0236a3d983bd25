"""The command line: exit codes, one clear line per error, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, real_export, write_export

from tmbuild import __version__
from tmbuild.cli import cli
from tmbuild.page.tfjs import TFJS_VERSION, cache_dir


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_version_and_help():
    assert run("--version").output.strip() == f"tmbuild, version {__version__}"
    assert run("-V").exit_code == 0
    for command in ([], ["build"], ["check"], ["fetch-runtime"], ["cache"], ["cache", "clean"]):
        result = run(*command, "-h")
        assert result.exit_code == 0 and "Usage:" in result.output


def test_usage_errors_exit_2():
    assert run("build", "--no-such-flag").exit_code == 2
    assert run("build", "--quantize", "fp16").exit_code == 2
    assert run("frobnicate").exit_code == 2


def test_build_without_site_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    export = write_export(tmp_path / "my_model")
    result = run("build", "--model", str(export), "--output", "out")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Built out/ in ")
    assert (tmp_path / "out" / "index.html").is_file()


def test_build_quiet_prints_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    export = write_export(tmp_path / "my_model")
    result = run("build", "-q", "--model", str(export), "-o", "out")
    assert result.exit_code == 0 and result.output == ""


WARNING = "warning: site.yaml:3:1: unknown key 'frobnicate'\n"


def _site_with_a_warning(folder: Path) -> Path:
    """site.yaml with a key tmbuild does not know, which it warns about, and its export."""
    export = write_export(folder / "m")
    (folder / "site.yaml").write_text("model:\n  path: m\nfrobnicate: 1\n")
    return export


@pytest.mark.parametrize("command", [["build", "-o", "{}"], ["check"]])
def test_quiet_prints_no_warning(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    _site_with_a_warning(tmp_path)
    loud = CliRunner().invoke(cli, [arg.format("loud") for arg in command])
    assert loud.exit_code == 0 and WARNING in loud.stderr and loud.stdout, loud.output
    quiet = CliRunner().invoke(cli, [*(arg.format("quiet") for arg in command), "-q"])
    assert quiet.exit_code == 0, quiet.output
    assert (quiet.stdout, quiet.stderr) == ("", "")


def test_quiet_prints_the_error_line_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    export = _site_with_a_warning(tmp_path)
    (export / "weights.bin").write_bytes(b"\0" * 10)
    error = "Error: m/weights.bin: weights.bin hold 10 bytes"
    loud = CliRunner().invoke(cli, ["build", "-o", "out"])
    assert loud.exit_code == 1 and loud.stderr.startswith(WARNING + error), loud.output
    quiet = CliRunner().invoke(cli, ["build", "-q", "-o", "out"])
    assert quiet.exit_code == 1 and quiet.stdout == ""
    [line] = quiet.stderr.splitlines()
    assert line.startswith(error)


def test_every_command_is_silent_with_quiet(tmp_path, monkeypatch):
    # `serve -q` runs a server: tests/test_serve_reload.py; `eval` needs Chromium, and says its
    # figures only `if not quiet`, as these do.
    monkeypatch.chdir(tmp_path)
    runtime = os.environ.get("TMBUILD_TFJS_DIR") or str(cache_dir(TFJS_VERSION))
    monkeypatch.setenv("TMBUILD_TFJS_DIR", runtime)
    write_export(tmp_path / "m")
    for label in ("cat", "dog"):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for n in range(3):
            (tmp_path / "photos" / label / f"{n}.jpg").write_bytes(f"{label} {n}".encode())
    assert run("build", "-q", "--model", "m", "-o", "a").output == ""
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    commands = [
        ["init", "{}", "--model", "m"],
        ["split", "photos", "-o", "{}"],
        ["diff", "a", "b"],
        ["fetch-runtime"],
    ]
    for command in commands:
        loud = CliRunner().invoke(cli, [arg.format(f"loud-{command[0]}") for arg in command])
        assert loud.exit_code == 0 and loud.stdout, (command, loud.output)
        quiet = CliRunner().invoke(cli, [*(a.format(f"quiet-{command[0]}") for a in command), "-q"])
        assert quiet.exit_code == 0, (command, quiet.output)
        assert (quiet.stdout, quiet.stderr) == ("", ""), command


def test_bad_export_is_one_line_and_exit_1(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    export = write_export(tmp_path / "m", labels=["a", "b"])
    (export / "weights.bin").write_bytes(b"\0" * 10)
    result = CliRunner().invoke(cli, ["build", "--model", "m", "-o", "out"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: m/weights.bin: weights.bin hold 10 bytes")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["pose2-pt", "audio2-2020"])
def test_check_names_the_missing_weights_of_the_pose_and_audio_fixtures(name):
    # Both are read as what they are and checked: their weights.bin (~6 MB) is not there.
    result = CliRunner().invoke(cli, ["check", "--model", str(real_export(name))])
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith("Error: ") and line.endswith(
        f"{name}/export/weights.bin: weights file named in model.json is missing; keep "
        "the whole export together (model.json, metadata.json and the weights)"
    )


def test_check_accepts_zip_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("check", "--model", str(real_export("official-2class")))
    assert result.exit_code == 0, result.output
    assert "image model, 224×224 RGB, 2 labels (Class 1, Class 2)" in result.output
    assert list(tmp_path.iterdir()) == []


def test_config_errors_point_at_lines(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(
        f"model:\n  path: {ROOT / 'examples' / 'shapes'}\n  quantize: fp16\n"
        "classifier:\n  threshold: high\n"
    )
    result = CliRunner().invoke(cli, ["check", "-c", str(site)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in result.output
    assert lines[0].startswith("Error: ") and ":3:3: model.quantize: expected one of" in lines[0]
    assert ":5:3: classifier.threshold:" in lines[1]


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "tmbuild", "--version"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0 and __version__ in result.stdout
