"""`tmbuild eval` records the accuracy beside a build, and `tmbuild diff` shows its change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import real_export
from support.eval_helpers import run

from tmbuild.evaluate.intervals import difference


@pytest.mark.browser
def test_diff_shows_the_accuracy_change_between_two_models(tmp_path, monkeypatch):
    export = real_export("epi-pt4-imgs")
    images = export.parent / "images"
    monkeypatch.chdir(tmp_path)
    reports = {}
    for name, quantize in (("float", "none"), ("uint8", "uint8")):
        built = run("build", "-q", "--model", export, "--quantize", quantize, "-o", name)
        assert built.exit_code == 0, built.output
        result = run("eval", "--site", name, "--images", images, "-o", f"{name}-report")
        assert result.exit_code == 0, result.output
        assert f"Recorded the accuracy for tmbuild diff in {name}/tmbuild-eval.json" in (
            result.stdout
        )
        reports[name] = json.loads(Path(f"{name}-report/eval.json").read_text("utf-8"))
        record = json.loads(Path(name, "tmbuild-eval.json").read_text("utf-8"))
        assert record["accuracy"] == reports[name]["accuracy"]
        assert record["accuracy_interval"] == reports[name]["accuracy_interval"]
        assert record["quantize"] == quantize and record["images"]["count"] == 107
    # A build starts without one: rebuilt over a copy of the evaluated site, the record goes.
    shutil.copytree("float", "rebuilt")
    assert Path("rebuilt/tmbuild-eval.json").exists()
    assert run("build", "-q", "--model", export, "-o", "rebuilt").exit_code == 0
    assert Path("rebuilt/tmbuild-eval.json").exists() is False

    counts = {name: round(report["accuracy"] * 107) for name, report in reports.items()}
    change = (counts["uint8"] - counts["float"]) / 107
    low, high = difference(counts["float"], 107, counts["uint8"], 107)
    text = run("diff", "float", "uint8", "--exit-zero")
    assert text.exit_code == 0, text.output
    line = text.output.splitlines()[1]
    assert line.startswith(
        f"Accuracy: {reports['float']['accuracy'] * 100:.1f}% "
        f"({reports['float']['accuracy_interval'][0] * 100:.1f}–"
    )
    assert f"(95% interval {low * 100:+.1f} to {high * 100:+.1f})" in line
    document = json.loads(run("diff", "float", "uint8", "--format", "json").output)
    assert document["accuracy"]["change"] == pytest.approx(change, abs=2e-6)
    assert document["accuracy"]["significant_drop"] is (high < 0)
    markdown = run("diff", "float", "uint8", "--format", "markdown").output
    assert "| top-1 on the held-out images |" in markdown
    flagged = run("diff", "float", "uint8", "--exit-zero", "--fail-on-accuracy-drop")
    assert flagged.exit_code == (1 if high < 0 else 0)
    print(f"\nfloat32 → uint8: {line}")
