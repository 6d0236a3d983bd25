"""`tmbuild eval` end to end on the shared labelled exports, checked against an independent count.

The eval command classifies through the built page (images sent as Blobs, like uploads). The
tests build the same site themselves, serve the images over HTTP, classify each one through the
page's public API with the shared CLASSIFY_SAMPLE snippet, and count accuracy, the confusion
matrix and the operating points with their own code. The HTML report is opened in Chromium.
"""

from __future__ import annotations

import json
import shutil
import sys
import unicodedata
import urllib.parse
from pathlib import Path

import official_tm
import pytest
from browser import CLASSIFY_SAMPLE, chromium, serve_site
from click.testing import CliRunner
from conftest import real_export, write_export

from tmbuild.build import build
from tmbuild.cli import cli
from tmbuild.config import load_config
from tmbuild.errors import ConfigError, TmbuildError
from tmbuild.labelled import list_labelled, match_folders
from tmbuild.perturb import PERTURB_JS, PERTURBATIONS
from tmbuild.yamlfile import set_scalar, update_file

SITE_YAML = """\
# My classifier (a comment that must survive --write-threshold)
title: Held-out test
model:
  path: {export}
classifier:
  inputs: [upload]
  threshold: 0.70            # top probability below this -> "uncertain"
  top_k: 3
eval:
  aliases: {{{alias}: {label}}}
"""


def run(*args: str):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def _held_out(images: Path, target: Path, per_label: int | None = None) -> dict[str, str]:
    """Copy the labelled images into `target` as a user's folder would be: one folder in lower
    case, one under another name (for an alias), one that is no label, and a broken file."""
    labels = sorted(path.name for path in images.iterdir() if path.is_dir())
    folders = {label: label for label in labels}
    folders[labels[0]] = labels[0].lower()  # matched ignoring case
    folders[labels[1]] = "my " + labels[1]  # matched through eval.aliases
    for label, folder in folders.items():
        files = sorted((images / label).iterdir())[:per_label]
        (target / folder).mkdir(parents=True)
        for file in files:
            shutil.copyfile(file, target / folder / file.name)
    (target / folders[labels[2]] / "broken.jpg").write_bytes(b"\xff\xd8 not really a JPEG")
    (target / "unsorted").mkdir()
    some_photo = sorted((images / labels[0]).iterdir())[0]
    shutil.copyfile(some_photo, target / "unsorted" / some_photo.name)
    (target / ".DS_Store").write_bytes(b"\0")
    return folders


def _classify_independently(site: Path, images: Path, labels: list[str]) -> dict[str, dict]:
    """Each image of `images` through the page of `site`, loaded over HTTP: name -> result."""
    results = {}
    with official_tm.serve(site, {"/images/": images}) as url, chromium() as context:
        page = context.new_page()
        page.goto(url + "/")
        ready = page.evaluate("window.tmbuild.ready")
        assert ready["labels"] == labels
        for image in list_labelled(images).all_images():
            src = "/images/" + urllib.parse.quote(image.name)
            result = page.evaluate(CLASSIFY_SAMPLE, src)
            by_label = {p["label"]: p["probability"] for p in result["predictions"]}
            results[image.name] = {
                "probabilities": [by_label[label] for label in labels],
                "status": result["status"],
            }
    return results


@pytest.mark.browser
@pytest.mark.parametrize("name", ["brands6-imgs", "epi-pt4-imgs"])
def test_eval_matches_an_independent_count(tmp_path, monkeypatch, name):
    export = real_export(name)
    images = export.parent / "images"
    monkeypatch.chdir(tmp_path)
    folders = _held_out(images, tmp_path / "holdout")
    labels = json.loads((export / "metadata.json").read_text())["labels"]
    aliased = sorted(folders)[1]
    site_yaml = SITE_YAML.format(export=export, alias=json.dumps(folders[aliased]), label=aliased)
    Path("site.yaml").write_text(site_yaml, encoding="utf-8")

    result = run("eval", "--images", "holdout", "-o", "report", "--write-threshold")
    assert result.exit_code == 0, result.output
    report = json.loads(Path("report/eval.json").read_text("utf-8"))
    decodable = sum(len(list((images / label).iterdir())) for label in folders)
    assert result.stdout.startswith(f"Classified {decodable + 1} images in ")
    assert "wasm)" in result.stdout.splitlines()[0]
    assert report["backend"] == "wasm"
    assert report["images"]["unmatched_folders"] == ["unsorted"]
    assert "folders that match no label were left out: unsorted" in result.stderr
    [broken] = report["images"]["undecodable"]  # every real JPEG, PNG, WebP, AVIF, .jfif decodes
    assert broken["image"] == f"{folders[sorted(folders)[2]]}/broken.jpg"
    assert broken["reason"] == "the browser cannot decode it as an image"
    assert report["images"]["folders"][folders[aliased]] == {
        "label": aliased,
        "files": len(list((images / aliased).iterdir())),
    }

    # The threshold written back is what the next build gives the page.
    recommended = report["threshold"]["recommended"]
    written = Path("site.yaml").read_text("utf-8")
    assert written == site_yaml.replace("threshold: 0.70 ", f"threshold: {recommended:.2f} ")
    assert f"Set classifier.threshold: {recommended:.2f} in site.yaml" in result.stdout
    config, _ = load_config(Path("site.yaml"), {"output": tmp_path / "dist"})
    assert config.classifier.threshold == recommended
    build(config)

    # The same images, independently: served over HTTP, classified one by one, counted here.
    independent = _classify_independently(config.output, images, labels)
    predicted = {p["image"]: p for p in report["predictions"]}
    by_folder = {folder: label for label, folder in folders.items()}
    assert sorted(predicted) == sorted(
        f"{folders[name.split('/')[0]]}/{name.split('/', 1)[1]}" for name in independent
    )
    confusion = [[0] * len(labels) for _ in labels]
    correct = accepted = accepted_wrong = 0
    for image, ours in independent.items():
        label, file = image.split("/", 1)
        theirs = predicted[f"{folders[label]}/{file}"]
        assert by_folder[theirs["image"].split("/")[0]] == label == theirs["truth"]
        assert (
            max(
                abs(a - b)
                for a, b in zip(ours["probabilities"], theirs["probabilities"], strict=True)
            )
            < 2e-6
        )
        top = max(range(len(labels)), key=lambda i: ours["probabilities"][i])
        confusion[labels.index(label)][top] += 1
        correct += labels[top] == label
        ranked = sorted(ours["probabilities"], reverse=True)
        confident = ranked[0] >= recommended and ranked[0] - ranked[1] >= 0.15
        assert confident == (ours["status"] == "confident")  # the page's own verdict agrees
        accepted += confident
        accepted_wrong += confident and labels[top] != label
    assert report["confusion"] == confusion
    assert report["accuracy"] == round(correct / len(independent), 6)
    at_recommended = report["threshold"]["at_recommended"]
    assert (at_recommended["accepted"], at_recommended["errors"]) == (accepted, accepted_wrong)
    for entry, row in zip(report["classes"], confusion, strict=True):
        index = labels.index(entry["label"])
        assert entry["support"] == sum(row)
        column = sum(line[index] for line in confusion)
        assert entry["precision"] == (round(row[index] / column, 6) if column else None)
    print(
        f"\n{name}: accuracy {report['accuracy']:.3f}, recommended threshold {recommended}, "
        f"{result.stdout.splitlines()[0]}"
    )

    _check_html_report(tmp_path / "report" / "eval.html", labels)


def _check_html_report(path: Path, labels: list[str]) -> None:
    """The report opens offline in Chromium, asks for nothing else, and draws its charts."""
    with chromium() as context:
        page = context.new_page()
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(path.as_uri())
        assert requests == [path.as_uri()] and problems == []
        assert page.locator("script").count() == 0
        charts = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll("svg")]
          .map((svg) => [svg.id, { width: svg.getBoundingClientRect().width,
            rects: svg.querySelectorAll("rect").length,
            points: [...svg.querySelectorAll("polyline")].map(
              (line) => line.getAttribute("points").split(" ").length) }]))""")
        assert sorted(charts) == ["class-chart", "confusion-chart", "threshold-chart"]
        assert all(chart["width"] > 300 for chart in charts.values())
        assert charts["confusion-chart"]["rects"] == len(labels) ** 2
        assert charts["class-chart"]["rects"] == 3 * len(labels)
        assert charts["threshold-chart"]["points"][0] == 101  # automation at every threshold
        accuracy = page.text_content("#accuracy .value")
        assert accuracy.endswith("%")


@pytest.mark.browser
def test_compare_quantized_and_robustness_on_a_subset(tmp_path, monkeypatch):
    export = real_export("brands6-imgs")
    monkeypatch.chdir(tmp_path)
    images = export.parent / "images"
    subset = tmp_path / "subset"
    for label in sorted(path.name for path in images.iterdir()):
        (subset / label).mkdir(parents=True)
        for file in sorted((images / label).iterdir())[:2]:
            shutil.copyfile(file, subset / label / file.name)
    result = run(
        "eval",
        "--model",
        export,
        "--images",
        subset,
        "-o",
        "report",
        "--compare-quantized",
        "float16",
        "--robustness",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Classified 10 images ({10 * 15} classifications) in ")
    report = json.loads(Path("report/eval.json").read_text("utf-8"))

    quantized = report["quantized"]
    assert quantized["quantize"] == "float16" and quantized["images"] == 10
    # Half the weights; model.json, the same in both, is counted too.
    assert 0.5 < quantized["model_bytes"] / report["model"]["bytes"] < 0.55
    # Independently: the float16 site, built here, classifies the same images.
    config, _ = load_config(
        None, {"model_path": export, "quantize": "float16", "output": tmp_path / "f16"}
    )
    build(config)
    labels = report["model"]["labels"]
    half = _classify_independently(config.output, subset, labels)
    float_top = {p["image"]: p["predicted"] for p in report["predictions"]}
    half_top = {
        name: labels[max(range(len(labels)), key=r["probabilities"].__getitem__)]
        for name, r in half.items()
    }
    agree = sum(float_top[name] == half_top[name] for name in half_top) / len(half_top)
    assert quantized["top1_agreement"] == round(agree, 6)
    truth = {name: name.split("/")[0] for name in half_top}
    half_accuracy = sum(half_top[n] == truth[n] for n in half_top) / len(half_top)
    assert quantized["accuracy"] == round(half_accuracy, 6)
    assert quantized["accuracy_change"] == pytest.approx(
        half_accuracy - report["accuracy"], abs=2e-6
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("float16 "))
    assert line.startswith("float16 weights (2.2 MB → 1.2 MB): top-1 agreement ")

    robustness = report["robustness"]
    rows = robustness["perturbations"]
    assert [row["name"] for row in rows] == ["original"] + [p.name for p in PERTURBATIONS]
    assert rows[0]["accuracy"] == report["accuracy"] == robustness["baseline"]
    assert all(round(row["accuracy"] * 10, 4) % 1 == 0 for row in rows)  # k of 10 images
    assert robustness["worst"]["drop"] == max(row["drop"] for row in rows[1:])
    html = Path("report/eval.html").read_text("utf-8")
    assert '<svg id="robustness-chart"' in html and 'id="quantized"' in html
    assert html.count('class="bar-') >= 3 * len(labels) + len(rows)


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
    ],
)  # fmt: skip
def test_threshold_is_rewritten_in_place(before, after):
    assert set_scalar(before, "classifier", "threshold", "0.62") == after


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
