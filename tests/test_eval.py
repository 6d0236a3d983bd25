"""`tmbuild eval` end to end on the shared labelled exports, checked against an independent count.

The eval command classifies through the built page (images sent as Blobs, like uploads). The
tests build the same site themselves, serve the images over HTTP, classify each one through the
page's public API with the shared CLASSIFY_SAMPLE snippet, and count accuracy, the confusion
matrix and the operating points with their own code. The HTML report is opened in Chromium.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
from pathlib import Path

import pytest
from conftest import real_export
from support import official_tm
from support.browser import CLASSIFY_SAMPLE, chromium
from support.eval_helpers import reference, run

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.evaluate.labelled import list_labelled
from tmbuild.evaluate.perturb import PERTURBATIONS

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


def _classify_independently(
    context, site: Path, images: Path, labels: list[str]
) -> dict[str, dict]:
    """Each image of `images` through the page of `site`, loaded over HTTP in a new tab of the
    Chromium `context`: name -> result."""
    results = {}
    with official_tm.serve(site, {"/images/": images}) as url:
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
        page.close()
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
    assert "thumbnails" not in report  # eval.html's alone
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
    # The report opens in the same Chromium, in a tab of its own.
    with chromium() as context:
        independent = _classify_independently(context, config.output, images, labels)
        _check_html_report(context, tmp_path / "report" / "eval.html", labels)
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
    # Each figure's 95% interval is the reference's, on the counts made here.
    assert report["accuracy_interval"] == pytest.approx(
        reference(correct, len(independent)), abs=2e-6
    )
    at_recommended = report["threshold"]["at_recommended"]
    assert (at_recommended["accepted"], at_recommended["errors"]) == (accepted, accepted_wrong)
    assert at_recommended["error_interval"] == pytest.approx(
        reference(accepted_wrong, accepted), abs=2e-6
    )
    assert at_recommended["automation_interval"] == pytest.approx(
        reference(accepted, len(independent)), abs=2e-6
    )
    for entry, row in zip(report["classes"], confusion, strict=True):
        index = labels.index(entry["label"])
        assert entry["support"] == sum(row)
        column = sum(line[index] for line in confusion)
        assert entry["precision"] == (round(row[index] / column, 6) if column else None)
        if sum(row):
            assert entry["recall_interval"] == pytest.approx(
                reference(row[index], sum(row)), abs=2e-6
            )
        if column:
            assert entry["precision_interval"] == pytest.approx(
                reference(row[index], column), abs=2e-6
            )
    print(
        f"\n{name}: accuracy {report['accuracy']:.3f}, recommended threshold {recommended}, "
        f"{result.stdout.splitlines()[0]}"
    )


def _check_html_report(context, path: Path, labels: list[str]) -> None:
    """The report opens offline in Chromium, asks for nothing else, and draws its charts."""
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
    # Thumbnails of the most confident mistakes and the least confident right answers:
    # small JPEGs inside the file, decoded by the browser, asking for nothing.
    thumbnails = page.evaluate("""() => [...document.querySelectorAll("img.thumb")].map(
      (img) => ({ src: img.src.slice(0, 23), width: img.naturalWidth,
        height: img.naturalHeight, row: img.closest("table").id }))""")
    assert {t["row"] for t in thumbnails} <= {"mistakes", "least-sure"}
    assert any(t["row"] == "least-sure" for t in thumbnails)
    assert all(t["src"] == "data:image/jpeg;base64," for t in thumbnails)
    assert all(0 < max(t["width"], t["height"]) <= 96 for t in thumbnails)


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
    with chromium() as context:
        half = _classify_independently(context, config.output, subset, labels)
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
    assert line.startswith("float16 weights (2.12 MB → 1.09 MB): top-1 agreement ")

    robustness = report["robustness"]
    rows = robustness["perturbations"]
    assert [row["name"] for row in rows] == ["original"] + [p.name for p in PERTURBATIONS]
    assert rows[0]["accuracy"] == report["accuracy"] == robustness["baseline"]
    assert all(round(row["accuracy"] * 10, 4) % 1 == 0 for row in rows)  # k of 10 images
    assert robustness["worst"]["drop"] == max(row["drop"] for row in rows[1:])
    html = Path("report/eval.html").read_text("utf-8")
    assert '<svg id="robustness-chart"' in html and 'id="quantized"' in html
    assert html.count('class="bar-') >= 3 * len(labels) + len(rows)


@pytest.mark.browser
def test_verdict_and_threshold_refusal_on_a_starved_and_a_good_hold_out(tmp_path, monkeypatch):
    export = real_export("epi-pt4-imgs")
    images = export.parent / "images"
    monkeypatch.chdir(tmp_path)
    assert run("init", "-q", "--model", export).exit_code == 0  # defaults commented out
    before = Path("site.yaml").read_text("utf-8")
    starved = tmp_path / "starved"
    for label in sorted(path.name for path in images.iterdir()):
        (starved / label).mkdir(parents=True)
        for file in sorted((images / label).iterdir())[:3]:
            shutil.copyfile(file, starved / label / file.name)

    # 12 images: whatever they score, a threshold chosen on them is a guess.
    result = run("eval", "--images", starved, "-o", "report", "--write-threshold")
    assert result.exit_code == 1, result.output
    report = json.loads(Path("report/eval.json").read_text("utf-8"))
    point = report["threshold"]["at_recommended"]
    low, high = point["error_interval"]
    assert high - low > 0.10
    verdict = result.stdout.splitlines()[1]
    assert verdict == report["verdict"]["text"]
    assert verdict.startswith(f"Not enough evidence at threshold {point['threshold']:.2f}: ")
    assert verdict.endswith("more images per label would decide it")
    error = result.stderr.splitlines()[-1]
    assert error.startswith(f"Error: threshold {point['threshold']:.2f} not written: ")
    assert error.endswith(" more images per label would narrow it (--force writes it anyway)")
    assert Path("site.yaml").read_text("utf-8") == before

    # --force writes it, in place of the commented default, and the report says it was forced.
    result = run("eval", "--images", starved, "-o", "report", "--write-threshold", "--force")
    assert result.exit_code == 0, result.output
    threshold = f"{point['threshold']:.2f}"
    assert f"Set classifier.threshold: {threshold} in site.yaml (forced: " in result.stdout
    after = Path("site.yaml").read_text("utf-8")
    changed = [
        (old, new)
        for old, new in zip(before.splitlines(), after.splitlines(), strict=True)
        if old != new
    ]
    assert [new.split("#")[0].rstrip() for _, new in changed] == [
        "classifier:",
        f"  threshold: {threshold}",
    ]
    written = json.loads(Path("report/eval.json").read_text("utf-8"))["threshold"]["written"]
    assert written["forced"] is True and written["threshold"] == point["threshold"]
    assert "with <code>--force</code>" in Path("report/eval.html").read_text("utf-8")

    # All 107 images, against a 10% target: the interval's worst is within it.
    result = run("eval", "--images", images, "-o", "report", "--target-error", "0.1")
    assert result.exit_code == 0, result.output
    report = json.loads(Path("report/eval.json").read_text("utf-8"))
    assert report["verdict"]["kind"] == "ship"
    assert report["verdict"]["right_interval"][0] >= 0.9
    assert result.stdout.splitlines()[1].startswith(
        f"Ready at threshold {report['threshold']['recommended']:.2f}: "
    )
    html = Path("report/eval.html").read_text("utf-8")
    assert html.index('id="verdict"') < html.index('id="accuracy"')
