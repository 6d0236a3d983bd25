"""`tmbuild diff` exit status, and bad input reported as one line with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from conftest import write_export
from support.diff_helpers import (
    run,
    sites_fixture,  # noqa: F401  (the `sites` fixture)
)

from tmbuild.cli import cli

# ---- exit status and bad input -------------------------------------------------------------------


def test_exit_status(sites):
    old, new = sites["base"], sites["label"]
    assert run("diff", old, new).exit_code == 1
    assert run("diff", old, new, "--exit-zero").exit_code == 0
    assert run("diff", old, new, "--exit-zero").output == run("diff", old, new).output
    quiet = run("diff", "-q", old, new)
    assert (quiet.exit_code, quiet.output) == (1, "")
    assert run("diff", "-q", old, sites["same"]).exit_code == 0
    assert run("diff", old, new, "--format", "xml").exit_code == 2
    assert run("diff", old).exit_code == 2


def _error(*args) -> str:
    result = CliRunner().invoke(cli, ["diff", *map(str, args)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    return line


def test_bad_input_is_one_line_and_exit_2(sites, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = sites["base"]
    assert _error("missing", base) == (
        "Error: missing: does not exist; give a built folder or its tmbuild-manifest.json"
    )
    write_export(tmp_path / "export")
    assert _error(base, "export") == (
        "Error: export: no tmbuild-manifest.json in this folder; give a folder tmbuild built "
        "(run tmbuild build first) or the manifest itself"
    )
    Path("broken.json").write_text('{"files": [\n  {"path": oops}\n]}\n')
    assert _error("broken.json", base) == (
        "Error: broken.json:2:12: invalid JSON (Expecting value); build again to rewrite it"
    )
    assert _error(base, "export/model.json") == (
        "Error: export/model.json: not a tmbuild manifest (no 'tmbuild_version' and 'files'); "
        "give the tmbuild-manifest.json a build wrote"
    )
    manifest = json.loads((base / "tmbuild-manifest.json").read_text())
    manifest["files"][2]["bytes"] = "2 kB"
    Path("future.json").write_text(json.dumps(manifest))
    assert _error(base, "future.json") == (
        "Error: future.json: unknown manifest format: files[2].bytes is not a whole number; "
        "build both sides with the same tmbuild version"
    )
    del manifest["model"]
    Path("future.json").write_text(json.dumps(manifest))
    assert _error("future.json", base) == (
        "Error: future.json: unknown manifest format: model is not a mapping; "
        "build both sides with the same tmbuild version"
    )
    Path("binary.json").write_bytes(b"\xff\xfe{}")
    assert _error("binary.json", base) == (
        "Error: binary.json: not UTF-8 text, not a tmbuild manifest"
    )
