"""Text from an input never reaches a terminal or a CI log raw: no forged lines, no escapes.

An export's layer names and labels, and a manifest's file names, are quoted in warnings,
errors and reports; a newline in one must not start a line of its own (an `Error:` line a CI
log would believe), an escape sequence must not clear or retitle the terminal, and a
10,000-character name must not become a 10,000-character line.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner
from conftest import write_export

from tmbuild.cli import cli
from tmbuild.cli.common import TmbuildGroup
from tmbuild.errors import TmbuildError

FORGED = "Evil\nError: injected second line\x1b[2J\x1b]0;owned\x07"
MAX_LINE = 400


def _rename_dense(folder: Path, kind: str) -> Path:
    """The export in `folder` with its first Dense layer's class_name set to `kind`."""
    model = json.loads((folder / "model.json").read_text())

    def walk(node) -> bool:
        if isinstance(node, dict):
            if node.get("class_name") == "Dense":
                node["class_name"] = kind
                return True
            return any(walk(value) for value in node.values())
        return isinstance(node, list) and any(walk(value) for value in node)

    assert walk(model)
    (folder / "model.json").write_text(json.dumps(model))
    return folder


def _run(*args: str):
    result = CliRunner().invoke(cli, list(args))
    output = result.stdout + result.stderr
    assert "\x1b" not in output and "\x07" not in output, output
    assert all(len(line) <= MAX_LINE for line in output.splitlines()), output
    return result


def test_a_layer_name_cannot_forge_an_error_line(tmp_path):
    export = _rename_dense(write_export(tmp_path / "m"), FORGED)
    result = _run("build", "--model", str(export), "-o", str(tmp_path / "dist"))
    assert result.exit_code == 0, result.output
    [warning] = result.stderr.splitlines()
    assert warning.startswith("warning: ") and "layer kind Evil\\nError: injected" in warning
    assert not any(line.startswith("Error:") for line in result.stderr.splitlines())


def test_a_10000_character_layer_kind_is_cut_short(tmp_path):
    export = _rename_dense(write_export(tmp_path / "m"), "K" * 10_000)
    result = _run("check", "--model", str(export))
    assert result.exit_code == 0, result.output
    assert "KKKK…" in result.stderr


def test_check_shows_labels_on_its_one_line(tmp_path):
    export = write_export(tmp_path / "m", labels=["cat\nError: forged", "dog\x1b[2J"])
    result = _run("check", "--model", str(export))
    assert result.exit_code == 0, result.output
    [line] = result.stdout.splitlines()
    assert line.endswith("2 labels (cat\\nError: forged, dog\\x1b[2J)")


def test_diff_escapes_a_manifest_s_labels_and_file_names(tmp_path):
    export = write_export(tmp_path / "m")
    assert _run("build", "-q", "--model", str(export), "-o", str(tmp_path / "a")).exit_code == 0
    manifest = json.loads((tmp_path / "a" / "tmbuild-manifest.json").read_text())
    manifest["model"]["labels"] = [FORGED, "dog"]
    manifest["files"][0]["path"] = "index.html\nError: forged\x1b[2J"
    (tmp_path / "b.json").write_text(json.dumps(manifest))
    for output_format in ("text", "markdown"):
        result = _run(
            "diff", str(tmp_path / "a"), str(tmp_path / "b.json"), "--format", output_format
        )
        assert result.exit_code == 1, result.output
        assert "Evil" in result.stdout and "nError: injected second line" in result.stdout
        assert not any(line.startswith("Error:") for line in result.stdout.splitlines())


def test_an_error_with_a_newline_inside_is_one_line():
    @click.group(cls=TmbuildGroup)
    def group() -> None:
        pass

    @group.command()
    def fail() -> None:
        raise TmbuildError(f"m/model.json: layer {FORGED}: unknown")

    result = CliRunner().invoke(group, ["fail"])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "Error: m/model.json: layer Evil\\nError: injected second line\\x1b[2J\\x1b]0;owned\\x07"
        ": unknown\n"
    )
