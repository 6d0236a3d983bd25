"""`tmbuild eval`: its perturbations in the page, its input errors, and its site.yaml options."""

from __future__ import annotations

import json
import shutil
import sys
import unicodedata

import pytest
import yaml
from conftest import real_export, write_export
from support.browser import chromium, serve_site
from support.eval_helpers import run

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.config.yamlfile import set_scalar, update_file
from tmbuild.errors import ConfigError, TmbuildError
from tmbuild.evaluate.labelled import match_folders
from tmbuild.evaluate.perturb import PERTURB_JS, PERTURBATIONS

# Each perturbation drawn on a real photo in the built page: the unchanged drawing predicts
# exactly what the photo does, and each change does what it says.
PERTURB_CHECK = (
    """async ({ src, specs, size }) => {
  const perturb = """
    + PERTURB_JS
    + """;
  const image = new Image();
  image.src = src;
  await image.decode();
  const mean = (canvas) => {
    const data = canvas.getContext("2d").getImageData(0, 0, size, size).data;
    const sums = [0, 0, 0];
    for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) sums[c] += data[i + c];
    return sums.map((sum) => sum / (data.length / 4));
  };
  const direct = (await window.tmbuild.classify(image)).predictions;
  const results = {};
  for (const [name, spec] of Object.entries(specs)) {
    const canvas = perturb(image, spec, size);
    const predictions = (await window.tmbuild.classify(canvas)).predictions;
    const byLabel = Object.fromEntries(predictions.map((p) => [p.label, p.probability]));
    results[name] = { mean: mean(canvas), size: [canvas.width, canvas.height],
      diff: Math.max(...direct.map((p) => Math.abs(p.probability - byLabel[p.label]))) };
  }
  return results;
}"""
)


@pytest.mark.browser
def test_perturbations_change_the_photo_as_they_say(tmp_path):
    export = real_export("epi-pt4-imgs")
    config, _ = load_config(None, {"model_path": export, "output": tmp_path / "dist"})
    build(config)
    photo = sorted((export.parent / "images" / "epi_completo").glob("*.jpg"))[0]
    (tmp_path / "dist" / "photo.jpg").write_bytes(photo.read_bytes())
    specs = {"unchanged": {}, **{p.name: p.spec for p in PERTURBATIONS}}
    with serve_site(tmp_path / "dist") as url, chromium() as context:
        page = context.new_page()
        page.goto(url + "/")
        page.evaluate("window.tmbuild.ready")
        results = page.evaluate(PERTURB_CHECK, {"src": "/photo.jpg", "specs": specs, "size": 224})
    unchanged = results["unchanged"]
    assert unchanged["diff"] == 0 and unchanged["size"] == [224, 224]
    brightness = sum(unchanged["mean"])
    assert sum(results["darker"]["mean"]) == pytest.approx(0.6 * brightness, rel=0.03)
    assert sum(results["brighter"]["mean"]) > 1.15 * brightness
    warm, cool = results["warm"]["mean"], results["cool"]["mean"]
    assert warm[0] > unchanged["mean"][0] and warm[2] < unchanged["mean"][2]
    assert cool[0] < unchanged["mean"][0] and cool[2] > unchanged["mean"][2]
    for perturbation in PERTURBATIONS:  # every change reaches the model
        assert results[perturbation.name]["mean"] != unchanged["mean"], perturbation.name
        assert results[perturbation.name]["diff"] > 0, perturbation.name


@pytest.mark.browser
def test_a_built_site_under_a_sub_path_without_site_yaml(tmp_path, monkeypatch, example_export):
    monkeypatch.chdir(tmp_path)
    built = run("build", "--model", example_export, "--base-url", "/demo/", "-o", "dist")
    assert built.exit_code == 0, built.output
    for sample in sorted((example_export.parent / "samples").glob("*.png")):
        label = sample.name.split("-")[0]
        (tmp_path / "holdout" / label).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample, tmp_path / "holdout" / label / sample.name)
    result = run("eval", "--site", "dist", "--images", "holdout", "--target-error", "0")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "eval.json").read_text("utf-8"))
    assert report["model"]["labels"] == ["circle", "square", "triangle", "star", "background"]
    assert report["images"]["labels_without_images"] == ["background"]
    assert report["accuracy"] == 1.0 and report["threshold"]["target_error"] == 0
    assert report["threshold"]["current"] == 0.7  # read from the built page
    assert "warning: no held-out images for 'background'" in result.stderr


@pytest.mark.browser
def test_no_folder_named_after_a_label(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_export(tmp_path / "model", labels=["cat", "dog"])
    (tmp_path / "holdout" / "Katzen").mkdir(parents=True)
    (tmp_path / "holdout" / "Katzen" / "a.png").write_bytes(b"")
    result = run("eval", "--model", "model", "--images", "holdout")
    assert result.exit_code == 1
    assert result.output == (
        "Error: holdout: no folder is named after a label of the model (folders: Katzen); "
        "rename them or map them in site.yaml under eval: aliases: {folder: label}\n"
    )
    assert not (tmp_path / "eval.json").exists()


# ---- without a browser ---------------------------------------------------------------------


def test_eval_without_playwright_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_export(tmp_path / "model")
    (tmp_path / "holdout" / "cat").mkdir(parents=True)
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # as if it were not installed
    result = run("eval", "--model", "model", "--images", "holdout")
    assert result.exit_code == 1
    assert result.output == (
        "Error: tmbuild eval needs Playwright to drive Chromium: pip install 'tmbuild[eval]'\n"
    )


def test_eval_usage_and_input_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_export(tmp_path / "model")
    (tmp_path / "holdout" / "cat").mkdir(parents=True)
    result = run("eval", "--model", "model", "--images", "holdout", "--write-threshold")
    assert result.exit_code == 2 and "--write-threshold needs a site.yaml" in result.output
    result = run("eval", "--model", "model", "--images", "nowhere")
    assert result.exit_code == 1
    assert result.output == (
        "Error: nowhere: no such folder; give a folder with one folder per label\n"
    )
    monkeypatch.setenv("TMBUILD_CHROMIUM", str(tmp_path / "no-chromium"))
    pytest.importorskip("playwright.sync_api")
    result = run("eval", "--model", "model", "--images", "holdout")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: $TMBUILD_CHROMIUM: {tmp_path / 'no-chromium'} does not exist; "
        "give the path of chromium\n"
    )


def test_folders_match_labels_ignoring_case_and_unicode_form():
    labels = ["Cat", "Dog", "마스크 X", "nda"]
    nfd = unicodedata.normalize("NFD", "마스크 X")  # the same label, as macOS writes names
    match = match_folders(["cats", "CAT", nfd, "dogs", "junk"], labels, {"dogs": "Dog"}, "x")
    assert match.labels == {"CAT": "Cat", nfd: "마스크 X", "dogs": "Dog"}
    assert match.unmatched == ["cats", "junk"]
    assert match.missing == ["nda"]
    with pytest.raises(TmbuildError) as error:
        match_folders(["a"], labels, {"a": "Bird"}, "site.yaml: eval.aliases")
    assert str(error.value) == (
        "site.yaml: eval.aliases: 'a' maps to 'Bird', which is not a label of the model "
        "(its labels: Cat, Dog, 마스크 X, nda)"
    )


def test_eval_section_of_site_yaml(tmp_path):
    site = tmp_path / "site.yaml"
    write_export(tmp_path / "model")
    site.write_text(
        "model: {path: model}\neval:\n  aliases: {dogs: dog, cats: cat}\n  target_error: 0.02\n"
    )
    config, warnings = load_config(site)
    assert config.eval.aliases == (("cats", "cat"), ("dogs", "dog"))
    assert config.eval.target_error == 0.02 and warnings == []
    site.write_text(
        "model: {path: model}\neval:\n  aliases: [dog]\n  target_error: 5\n  treshold: 1\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config(site)
    assert error.value.problems == [
        "site.yaml:3:3: eval.aliases: expected a mapping of folder: label, such as "
        "{dogs: dog}; got a list",
        "site.yaml:4:3: eval.target_error: expected a number from 0 to 1; got 5",
        "site.yaml:5:3: eval: unknown key 'treshold'",
    ]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # In place, the comment and the other keys as they were.
        ("classifier:\n  threshold: 0.70   # why\n  top_k: 3\n",
         "classifier:\n  threshold: 0.62   # why\n  top_k: 3\n"),
        ('title: "Café ☕"\nclassifier: {threshold: "0.7", top_k: 3}\n',
         'title: "Café ☕"\nclassifier: {threshold: 0.62, top_k: 3}\n'),
        # Absent: the section's first key, at its indentation; or a new section at the end.
        ("classifier:\n    top_k: 3\n", "classifier:\n    threshold: 0.62\n    top_k: 3\n"),
        ("classifier: {top_k: 3}\n", "classifier: {threshold: 0.62, top_k: 3}\n"),
        ("classifier:   # later\nhosts: []\n",
         "classifier:   # later\n  threshold: 0.62\nhosts: []\n"),
        ("title: x\nmodel:\n    path: m", "title: x\nmodel:\n    path: m\nclassifier:\n"
         "    threshold: 0.62\n"),
        ("classifier:\r\n  top_k: 3\r\n", "classifier:\r\n  threshold: 0.62\r\n  top_k: 3\r\n"),
        ("", "classifier:\n  threshold: 0.62\n"),
        # Commented out, as `tmbuild init` writes defaults: the commented line becomes the key
        # (its comment kept at its column), never a second key or a second section.
        ("classifier:\n  top_k: 3\n  # threshold: 0.70   # why\n",
         "classifier:\n  top_k: 3\n  threshold: 0.62     # why\n"),
        ("classifier:\n#   threshold: 0.70   # why\nhosts: []\n",
         "classifier:\n  threshold: 0.62     # why\nhosts: []\n"),
        ("# classifier:  # the page\n#   top_k: 3\n#   threshold: 0.70\n\nhosts: []\n",
         "classifier:    # the page\n#   top_k: 3\n  threshold: 0.62\n\nhosts: []\n"),
        ("# classifier:\n#   top_k: 3\n\nhosts: []\n",
         "classifier:\n  threshold: 0.62\n#   top_k: 3\n\nhosts: []\n"),
        # A commented threshold of another section is left alone.
        ("# eval:\n#   threshold: 0.1\nclassifier:\n  top_k: 3\n",
         "# eval:\n#   threshold: 0.1\nclassifier:\n  threshold: 0.62\n  top_k: 3\n"),
    ],
)  # fmt: skip
def test_threshold_is_rewritten_in_place(before, after):
    assert set_scalar(before, "classifier", "threshold", "0.62") == after


def test_threshold_in_the_site_yaml_init_writes_is_uncommented_in_place():
    from tmbuild.scaffold import site_yaml

    before = site_yaml(None, "model", False)
    after = set_scalar(before, "classifier", "threshold", "0.62")
    changed = [
        (old, new)
        for old, new in zip(before.splitlines(), after.splitlines(), strict=True)
        if old != new
    ]
    assert changed == [
        (
            "# classifier:                 # what the page offers and how it reads the predictions",
            "classifier:                   # what the page offers and how it reads the predictions",
        ),
        (
            '#   threshold: 0.7            # top probability below this → "uncertain"',
            '  threshold: 0.62             # top probability below this → "uncertain"',
        ),
    ]
    assert [line for line in after.splitlines() if line.startswith("classifier:")] == [
        changed[0][1]
    ]
    assert yaml.safe_load(after)["classifier"] == {"threshold": 0.62}


def test_update_file_keeps_a_byte_order_mark_and_reports_a_bad_file(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_bytes(b"\xef\xbb\xbfclassifier:\n  threshold: 0.5\n")
    update_file(site, "classifier", "threshold", "0.8")
    assert site.read_bytes() == b"\xef\xbb\xbfclassifier:\n  threshold: 0.8\n"
    site.write_text("classifier: [a, b]\n")
    with pytest.raises(ConfigError) as error:
        update_file(site, "classifier", "threshold", "0.8")
    assert str(error.value) == (
        f"{site}: cannot update classifier.threshold: classifier is not a mapping"
    )
    assert [path.name for path in tmp_path.iterdir()] == ["site.yaml"]
