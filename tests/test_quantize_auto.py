"""`quantize: auto`: int8 where it keeps float32's answers on labelled images, in the manifest
and in `tmbuild diff`; float16, said in one line, where there is nothing to measure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import real_export, write_export

from tmbuild.cli import cli
from tmbuild.diff.format import quantize_choice_text


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _model(site: Path) -> dict:
    return json.loads((site / "tmbuild-manifest.json").read_text("utf-8"))["model"]


def test_auto_without_images_builds_float16_and_says_so_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TMBUILD_CACHE_DIR", str(tmp_path / "cache"))
    export = write_export(tmp_path / "export")
    result = _run("build", "--model", str(export), "--quantize", "auto", "-o", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if "auto" in line]
    assert said == [
        "warning: model.quantize: auto: no labelled images to measure int8 on (tmbuild build "
        "--images DIR), so the weights are float16"
    ]
    model = _model(tmp_path / "o")
    assert model["quantize"] == "float16"
    assert model["quantize_choice"] == {
        "requested": "auto",
        "chosen": "float16",
        "measured": False,
    }


def test_the_choice_reads_in_a_few_words():
    choice = {
        "requested": "auto",
        "chosen": "int8",
        "measured": True,
        "images": 75,
        "candidates": [
            {"quantize": "int8", "top1_agreement": 1.0, "max_probability_change": 0.0493}
        ],
    }
    assert quantize_choice_text(choice) == "int8 on 75 images (int8 100.0% top-1, ±0.049)"
    assert quantize_choice_text({"chosen": "float16"}) == "float16, nothing measured"
    hostile = {"measured": True, "candidates": [{"top1_agreement": "x"}]}
    assert quantize_choice_text(hostile).startswith("{")


@pytest.mark.browser
def test_auto_with_labelled_images_chooses_int8_and_diff_shows_it(tmp_path, monkeypatch):
    export = real_export("brands6-imgs")
    monkeypatch.chdir(tmp_path)
    before = _run("build", "--model", str(export), "--quantize", "float16", "-o", "f16", "-q")
    assert before.exit_code == 0, before.output
    args = ["build", "--model", str(export), "--quantize", "auto", "-o", "auto"]
    result = _run(*args, "--images", str(export.parent / "images"))
    assert result.exit_code == 0, result.output
    assert (
        "warning: model.quantize: auto chose int8 on 75 labelled images (int8: top-1 agreement "
        "100.0%, largest probability change 0.049, keeps the answers)"
    ) in result.stderr.splitlines()
    model = _model(Path("auto"))
    assert model["quantize"] == "int8"
    choice = model["quantize_choice"]
    assert (choice["requested"], choice["chosen"], choice["measured"]) == ("auto", "int8", True)
    assert choice["images"] == 75
    assert choice["candidates"] == [
        {
            "quantize": "int8",
            "top1_agreement": 1.0,
            "max_probability_change": pytest.approx(0.0493, abs=5e-4),
            "keeps_answers": True,
        }
    ]
    # The same inputs, the same site: auto's measurement does not leak into the bytes.
    again = _run(*args[:-1], "auto2", "--images", str(export.parent / "images"), "-q")
    assert again.exit_code == 0
    assert (Path("auto") / "tmbuild-manifest.json").read_bytes() == (
        Path("auto2") / "tmbuild-manifest.json"
    ).read_bytes()

    diff = _run("diff", "f16", "auto", "--exit-zero")
    assert "  quantisation    float16 → int8\n" in diff.output
    assert "  quantize: auto  (none) → int8 on 75 images (int8 100.0% top-1, ±0.049)\n" in (
        diff.output
    )
