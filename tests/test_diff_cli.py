"""`tmbuild diff` exit status, bad input reported as one line with exit status 2, and the
accuracy change tmbuild eval recorded beside each build."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_export
from support.diff_helpers import (
    run,
    sites_fixture,  # noqa: F401  (the `sites` fixture)
)

from tmbuild.cli import cli
from tmbuild.evaluate.intervals import difference, wilson
from tmbuild.evaluate.record import SUMMARY_NAME

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


def _record(site: Path, correct: int, count: int = 100, images: str = "a" * 64, **extra) -> None:
    """A tmbuild eval record beside a built site's manifest, as eval writes it."""
    manifest = json.loads((site / "tmbuild-manifest.json").read_text("utf-8"))
    record = {
        "weights_sha256": manifest["model"]["weights_sha256"],
        "images": {"sha256": images, "count": count},
        "correct": correct,
        "accuracy": correct / count,
        "accuracy_interval": list(wilson(correct, count)),
        **extra,
    }
    (site / SUMMARY_NAME).write_text(json.dumps(record), encoding="utf-8")


@pytest.fixture(name="evaluated")
def evaluated_fixture(sites, tmp_path):
    """Copies of two builds of different weights (float32 and float16), to record on."""
    return {name: shutil.copytree(sites[name], tmp_path / name) for name in ("base", "float16")}


def test_a_significant_accuracy_drop_fails_with_the_flag(evaluated):
    old, new = evaluated["base"], evaluated["float16"]
    _record(old, 95)
    _record(new, 80)
    result = run("diff", old, new, "--exit-zero", "--fail-on-accuracy-drop")
    assert result.exit_code == 1, result.output
    # 95/100 → 80/100: Newcombe's interval of the change, from the two Wilson intervals.
    low, high = difference(95, 100, 80, 100)
    assert high < 0
    assert result.output.splitlines()[1] == (
        "Accuracy: 95.0% (88.8–97.8%) → 80.0% (71.1–86.7%); -15.0 points (95% interval "
        f"{low * 100:+.1f} to {high * 100:+.1f}): a significant drop"
    )
    assert run("diff", old, new, "--exit-zero").exit_code == 0
    document = json.loads(run("diff", old, new, "--format", "json").output)["accuracy"]
    assert document["significant_drop"] is True and document["same_images"] is True
    assert document["change"] == pytest.approx(-0.15)
    assert document["change_interval"] == pytest.approx([low, high])
    markdown = run("diff", old, new, "--format", "markdown").output
    assert "| top-1 on the held-out images | 95.0% (88.8–97.8%) | 80.0% (71.1–86.7%) | **" in (
        markdown
    )


def test_an_accuracy_change_within_chance_or_on_other_images_does_not_fail(evaluated):
    old, new = evaluated["base"], evaluated["float16"]
    _record(old, 95)
    _record(new, 92)
    result = run("diff", old, new, "--exit-zero", "--fail-on-accuracy-drop")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].endswith(": within chance")
    _record(new, 50, images="b" * 64)
    result = run("diff", old, new, "--exit-zero", "--fail-on-accuracy-drop")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].endswith("; measured on different images: not comparable")


def test_a_record_of_another_model_is_not_shown(evaluated, sites):
    old, new = evaluated["base"], evaluated["float16"]
    _record(old, 95)
    (new / SUMMARY_NAME).write_text((old / SUMMARY_NAME).read_text("utf-8"), encoding="utf-8")
    result = run("diff", old, new, "--exit-zero", "--fail-on-accuracy-drop")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == (
        "Accuracy: 95.0% (88.8–97.8%) → (not evaluated); run tmbuild eval on both builds to compare"
    )
    # Without any record, the report is as it was.
    plain = run("diff", sites["base"], sites["float16"], "--format", "json").output
    assert "accuracy" not in json.loads(plain)
