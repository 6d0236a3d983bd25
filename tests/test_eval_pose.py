"""`tmbuild eval` on a pose site: the example pose model's labelled images through the built page.

One site of examples/poses serves the module. Checked: the plain report (accuracy, labels, each
image's pose score, the same bytes twice); the robustness changes made inside PoseNet's padded
frame (the padding stays black, each framing change moves the picture, none is a no-op); and a
held-out image with no person in it, counted as "no pose" rather than crashing the run.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from support.browser import chromium, serve_site
from support.eval_helpers import run

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.evaluate.pose_perturb import POSE_PERTURB_JS, POSE_PERTURBATIONS
from tmbuild.model.posenet import FOLDER_VARIABLE, cache_dir

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
EXPORT = ROOT / "examples" / "poses"
IMAGES = ROOT / "examples" / "poses-images"


def _empty_room(width: int = 320, height: int = 240) -> bytes:
    """A photo of an empty room, a wall over a floor with no one in it, as a 24-bit BMP (the
    browser decodes it as a photo; no image library needed)."""
    wall, floor = bytes((136, 84, 93)), bytes((76, 106, 47))  # blue, green, red
    rows = [(floor if y < 50 else wall) * width for y in range(height)]  # the bottom row first
    size = 54 + 3 * width * height
    header = b"BM" + struct.pack("<IHHI", size, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, size - 54, 2835, 2835, 0, 0)
    return header + info + b"".join(rows)


FRAMING = ("rotate-left", "rotate-right", "farther", "closer", "off-centre-left")
FRAMING += ("off-centre-right", "mirrored")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if not (EXPORT / "weights.bin").is_file() or not IMAGES.is_dir():
        pytest.skip("the example pose model (examples/poses, examples/poses-images) is absent")
    named = os.environ.get(FOLDER_VARIABLE)
    if not ((Path(named).expanduser() if named else cache_dir()) / "posenet.bin").is_file():
        pytest.skip("PoseNet is not on disk; `tmbuild fetch-runtime --pose` fetches it")
    output = tmp_path_factory.mktemp("pose-eval") / "site"
    config, _ = load_config(None, {"model_path": EXPORT, "output": output, "base_url": "/"})
    build(replace(config, compress=replace(config.compress, gzip=False, brotli=False)))
    return output


def _labels() -> list[str]:
    return json.loads((EXPORT / "metadata.json").read_text("utf-8"))["labels"]


@pytest.fixture(scope="module")
def plain(site: Path, tmp_path_factory) -> tuple[dict, str]:
    """eval on all of the example's images: eval.json and eval.html."""
    out = tmp_path_factory.mktemp("pose-eval-plain")
    result = run("eval", "--site", site, "--images", IMAGES, "-o", out)
    assert result.exit_code == 0, result.output
    return json.loads((out / "eval.json").read_text("utf-8")), (out / "eval.html").read_text()


def test_the_example_images_give_the_report(plain: tuple[dict, str]):
    report, html = plain
    assert report["model"]["labels"] == _labels()
    assert report["images"]["classified"] == len(list(IMAGES.glob("*/*.png")))
    assert report["images"]["no_pose"] == []
    assert all(p["pose_score"] > 0.1 for p in report["predictions"])
    # Every image right: the example keeps images its model labels (train_poses.write_samples).
    assert report["accuracy"] == 1.0, [
        (p["image"], p["predicted"]) for p in report["predictions"] if p["predicted"] != p["truth"]
    ]
    for label in _labels():
        assert f"<td>{label}</td>" in html
    assert 'id="no-pose"' not in html


# For each change: the brightest channel value in PoseNet's padding (rows `[0, top)` and
# `[bottom, 257)`), and how far the picture's pixels moved from the unchanged frame, on average.
MEASURE_JS = (
    """async ({ url, specs, top, bottom }) => {
  const perturb = """
    + POSE_PERTURB_JS
    + """;
  const image = new Image();
  image.src = url;
  await image.decode();
  const original = window.tmbuild.preprocess(image).data;
  return specs.map((spec) => {
    const data = perturb(image, spec, 257).getContext("2d").getImageData(0, 0, 257, 257).data;
    let padding = 0, moved = 0, count = 0;
    for (let i = 0; i < data.length; i++) {
      if (i % 4 === 3) continue;
      const row = Math.floor(i / (4 * 257));
      if (row < top || row >= bottom) padding = Math.max(padding, data[i]);
      else { moved += Math.abs(data[i] - original[i]); count++; }
    }
    return { padding, moved: moved / count };
  });
}"""
)


def test_changes_are_made_inside_posenets_frame(site: Path):
    photo = sorted((IMAGES / _labels()[1]).glob("*.png"))[0]  # 320×240: padded above and below
    specs = [{}] + [p.spec for p in POSE_PERTURBATIONS]
    # preprocess() needs the page's configuration only, not the model: no waiting for PoseNet.
    with chromium() as context, serve_site(site) as url:
        page = context.new_page()
        page.route("**/held-out.png", lambda route: route.fulfill(path=str(photo)))
        page.goto(url + "/")
        page.wait_for_function("() => window.tmbuild && window.tmbuild.preprocess")
        # 40 rows of padding above and below the 240: rows 0-31 and 226-256 of 257 are black.
        found = page.evaluate(
            MEASURE_JS, {"url": "/held-out.png", "specs": specs, "top": 32, "bottom": 226}
        )
    unchanged, *changed = found
    assert unchanged == {"padding": 0, "moved": 0}  # PoseNet's own frame: the photo's answer
    for perturbation, measured in zip(POSE_PERTURBATIONS, changed, strict=True):
        assert measured["padding"] == 0, f"{perturbation.name} changed PoseNet's padding"
        least = 3 if perturbation.name in FRAMING else 0.5
        assert measured["moved"] > least, f"{perturbation.name} hardly changes the picture"


def test_robustness_and_an_image_with_no_person(site: Path, plain: tuple, tmp_path: Path):
    held_out = tmp_path / "held-out"
    for label in _labels():
        (held_out / label).mkdir(parents=True)
        first = sorted((IMAGES / label).glob("*.png"))[0]
        shutil.copyfile(first, held_out / label / first.name)
    (held_out / _labels()[0] / "empty room.bmp").write_bytes(_empty_room())
    out = tmp_path / "report"
    result = run("eval", "--site", site, "--images", held_out, "--robustness", "-o", out)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "eval.json").read_text("utf-8"))
    name = f"{_labels()[0]}/empty room.bmp"
    assert report["images"]["classified"] == 4  # it still gets the page's answer
    assert report["images"]["no_pose"] == [name]
    assert "no pose found in 1 of 4 images" in result.output
    rows = {row["name"]: row for row in report["robustness"]["perturbations"]}
    assert list(rows) == ["original"] + [p.name for p in POSE_PERTURBATIONS]
    assert all(row["accuracy"] is not None and row["no_pose"] >= 1 for row in rows.values())
    assert rows["original"]["no_pose"] == 1
    html = (out / "eval.html").read_text("utf-8")
    assert f"<li>{name}</li>" in html and "farther (70% size)" in html
    # The same images in another browser give the same answers, to the report's last digit:
    # eval on a pose site writes the same bytes twice.
    before = {p["image"]: p for p in plain[0]["predictions"]}
    for entry in report["predictions"]:
        if entry["image"] != name:
            assert entry == before[entry["image"]]
