"""`quantize: auto`: int8 where it keeps float32's answers on labelled images, in the manifest
and in `tmbuild diff`; float16, said in one line, where there is nothing to measure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, real_export, write_export

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
    # The figure is measured, not fixed: any change within the bar keeps int8.
    said = (
        r"warning: model.quantize: auto chose int8 on 75 labelled images \(int8: top-1 "
        r"agreement 100.0%, largest probability change 0\.0[0-4]\d, keeps the answers\)"
    )
    assert any(re.fullmatch(said, line) for line in result.stderr.splitlines()), result.stderr
    model = _model(Path("auto"))
    assert model["quantize"] == "int8"
    choice = model["quantize_choice"]
    assert (choice["requested"], choice["chosen"], choice["measured"]) == ("auto", "int8", True)
    assert choice["images"] == 75
    assert 0 < choice["candidates"][0]["max_probability_change"] <= 0.05
    assert choice["candidates"] == [
        {
            "quantize": "int8",
            "top1_agreement": 1.0,
            "max_probability_change": choice["candidates"][0]["max_probability_change"],
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
    assert re.search(
        r"^  quantize: auto  \(none\) → int8 on 75 images \(int8 100\.0% top-1, ±0\.0[0-4]\d\)$",
        diff.output,
        re.MULTILINE,
    ), diff.output


@pytest.mark.browser
def test_auto_measures_on_eval_images_from_site_yaml(tmp_path, monkeypatch):
    export = real_export("brands6-imgs")
    monkeypatch.chdir(tmp_path)
    images = export.parent / "images"
    Path("site.yaml").write_text(
        f"model: {{path: '{export}', quantize: auto}}\neval: {{images: '{images}'}}\n",
        encoding="utf-8",
    )
    result = _run("build", "-q")
    assert result.exit_code == 0, result.output
    choice = _model(Path("dist"))["quantize_choice"]
    assert (choice["chosen"], choice["images"]) == ("int8", 75)


def test_eval_without_images_says_where_to_give_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_export(tmp_path / "m")
    result = _run("eval", "--model", "m")
    assert result.exit_code == 2
    assert "give --images, or eval.images in site.yaml" in result.output


@pytest.mark.browser
def test_auto_measures_an_audio_model_on_labelled_clips(tmp_path, monkeypatch):
    words = ROOT / "examples" / "words"
    clips = ROOT / "examples" / "words-clips"
    if not (words / "weights.bin").is_file() or not clips.is_dir():
        pytest.skip("the example audio model or its clips are absent")
    monkeypatch.chdir(tmp_path)
    args = ["build", "--model", str(words), "--quantize", "auto", "-o", "auto"]
    result = _run(*args, "--images", str(clips))
    assert result.exit_code == 0, result.output
    # Through the listening page, clip by clip: the word in each, and the background.
    said = r"warning: model.quantize: auto chose int8 on 7 labelled clips \(int8: top-1 agreement"
    assert any(re.match(said, line) for line in result.stderr.splitlines()), result.stderr
    assert _model(Path("auto"))["quantize"] == "int8"
