"""The pose page in Chromium: the fake camera and an uploaded photo through the real page.

The camera is Chromium's fake one playing a y4m clip: the example's (examples/poses-clip.y4m)
when it is there, else a clip of the astronaut photo made here. What is checked is what a
visitor sees: labels with probabilities, and the skeleton drawn over the video or the photo
(the canvas's own pixels, and the keypoints <tm-skeleton> says it drew), also offline with
the server gone. The engine's numbers against @teachablemachine/pose are
tests/test_pose_engine_browser.py's.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from support.browser import chromium, serve_site
from support.pose_export import photo_clip, write_pose_export

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.config.schema import EmbedConfig
from tmbuild.model.posenet import FOLDER_VARIABLE, cache_dir

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
PHOTO = Path("/tmp/helper-posenet/skimg/astronaut.png")
EXAMPLE_CLIP = ROOT / "examples" / "poses-clip.y4m"
LABELS = ("Standing", "Arms up", "Sitting")
FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
# Pixels of the skeleton's colour, aqua, on its canvas; and the canvas against what it covers.
SKELETON = """() => {
  const element = document.querySelector("tm-skeleton");
  const canvas = element.querySelector("canvas");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let aqua = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] < 40 && data[i + 1] > 215 && data[i + 2] > 215 && data[i + 3] > 200) aqua++;
  }
  const box = (e) => { const r = e.getBoundingClientRect();
    return [r.left, r.top, r.width, r.height]; };
  const video = document.querySelector("tm-webcam video");
  const image = document.querySelector("tm-preview img");
  return { aqua, width: canvas.width, height: canvas.height, hidden: canvas.hidden,
    drawn: Number(element.getAttribute("keypoints")), canvas: box(canvas),
    video: video && !video.hidden ? [video.videoWidth, video.videoHeight, ...box(video)] : null,
    image: image && image.naturalWidth ? [image.naturalWidth, image.naturalHeight, ...box(image)]
      : null };
}"""
# The last result the page announced, as the visitor's elements got it.
WATCH = """() => { window.seen = []; window.tmbuild.addEventListener("result", (e) =>
  window.seen.push({ source: e.detail.source, pose: e.detail.result.pose,
    top: e.detail.result.top.label })); }"""


def _posenet_present() -> None:
    named = os.environ.get(FOLDER_VARIABLE)
    folder = Path(named).expanduser() if named else cache_dir()
    if not (folder / "posenet.bin").is_file():
        pytest.skip(f"PoseNet is not in {folder}; run `tmbuild fetch-runtime --pose` (145 MB)")


def _site(folder: Path, output: str = "site", **changes) -> Path:
    _posenet_present()
    export = write_pose_export(folder / "model", LABELS, seed=1)
    config, _ = load_config(None, {"model_path": export, "output": folder / output})
    # Seeded random weights compress to nothing: no .gz and .br siblings to wait for.
    build(replace(config, compress=replace(config.compress, gzip=False, brotli=False), **changes))
    return folder / output


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return _site(tmp_path_factory.mktemp("pose"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    if EXAMPLE_CLIP.is_file():
        return EXAMPLE_CLIP
    if not PHOTO.is_file():
        pytest.skip(f"no camera clip: neither {EXAMPLE_CLIP} nor the photo {PHOTO}")
    return photo_clip(PHOTO, tmp_path_factory.mktemp("clip") / "astronaut.y4m")


def _camera(clip: Path) -> list[str]:
    return FAKE_CAMERA + [f"--use-file-for-fake-video-capture={clip}"]


def _start_webcam(page) -> None:
    page.wait_for_selector("tm-webcam button.tm-webcam-toggle:not([disabled])")
    page.click("tm-webcam button.tm-webcam-toggle")
    page.wait_for_function(
        "() => window.seen.filter((s) => s.source === 'webcam' && s.pose).length >= 2",
        timeout=60_000,
    )


def _over(canvas: list[float], shown: list[float]) -> bool:
    """The canvas covers the picture: same place and size, within a pixel."""
    return all(abs(a - b) <= 1 for a, b in zip(canvas, shown, strict=True))


def test_the_webcam_gets_labels_and_a_skeleton_drawn_over_the_video(site, clip):
    with serve_site(site) as base, chromium(_camera(clip)) as context:
        page = context.new_page()
        page.goto(base + "/")
        info = page.evaluate("window.tmbuild.ready")
        page.evaluate(WATCH)
        _start_webcam(page)
        verdict = page.text_content("tm-result .verdict")
        labels = page.eval_on_selector_all(
            "tm-result .label", "(labels) => labels.map((label) => label.textContent)"
        )
        drawn = page.evaluate(SKELETON)
        poses = page.evaluate("window.seen.filter((s) => s.pose).map((s) => s.pose)")
        mirrored = page.evaluate("window.tmbuild.webcam.mirrored")
        photo = None
        if clip != EXAMPLE_CLIP:  # the clip is the photo: its pose, found in the photo itself
            page.click("tm-webcam button.tm-webcam-toggle")
            page.evaluate("window.seen = []")
            page.set_input_files("tm-upload input[type=file]", str(PHOTO))
            page.wait_for_function("() => window.seen.some((s) => s.source === 'image')")
            photo = page.evaluate("window.seen.find((s) => s.source === 'image').pose")
    assert info["kind"] == "pose" and info["labels"] == list(LABELS)
    assert sorted(labels) == sorted(LABELS) and verdict
    pose = poses[-1]
    assert [k["part"] for k in pose["keypoints"][:3]] == ["nose", "leftEye", "rightEye"]
    sure = [k for k in pose["keypoints"] if k["score"] >= 0.5]
    assert len(sure) >= 3
    assert drawn["drawn"] == len(sure) and drawn["aqua"] > 50 * len(sure)
    width, height, *video = drawn["video"]
    # A canvas of the video's own size, over the (mirrored) video.
    assert (drawn["width"], drawn["height"]) == (width, height) and not drawn["hidden"]
    assert _over(drawn["canvas"], video) and mirrored
    if photo:
        # The astronaut's face: PoseNet is sure of the nose and the eyes.
        assert {"nose", "leftEye", "rightEye"} <= {k["part"] for k in sure}
        # photo_clip puts the 512 px photo at 480 px in the middle of 640×480; mirrored, the
        # nose is where the photo's nose is, seen in a mirror.
        [nose] = [k["position"] for k in pose["keypoints"] if k["part"] == "nose"]
        [seen] = [k["position"] for k in photo["keypoints"] if k["part"] == "nose"]
        assert abs(nose["x"] - (640 - (80 + seen["x"] * 480 / 512))) < 8
        assert abs(nose["y"] - seen["y"] * 480 / 512) < 8


def test_an_uploaded_photo_gets_its_skeleton_drawn_over_it(site):
    if not PHOTO.is_file():
        pytest.skip(f"the photo {PHOTO} is absent")
    with serve_site(site) as base, chromium() as context:
        page = context.new_page()
        page.goto(base + "/")
        page.evaluate("window.tmbuild.ready")
        page.evaluate(WATCH)
        page.set_input_files("tm-upload input[type=file]", str(PHOTO))
        page.wait_for_function("() => window.seen.length >= 1")
        page.wait_for_selector("tm-skeleton[keypoints]")
        drawn = page.evaluate(SKELETON)
        [seen] = page.evaluate("window.seen")
        verdict = page.text_content("tm-result .verdict")
    assert seen["source"] == "image" and seen["pose"] and verdict
    width, height, *image = drawn["image"]
    assert (width, height) == (512, 512) == (drawn["width"], drawn["height"])
    assert _over(drawn["canvas"], image)
    sure = [k for k in seen["pose"]["keypoints"] if k["score"] >= 0.5]
    assert drawn["drawn"] == len(sure) >= 3 and drawn["aqua"] > 50 * len(sure)


def test_min_confidence_decides_what_is_drawn(tmp_path):
    if not PHOTO.is_file():
        pytest.skip(f"the photo {PHOTO} is absent")
    site = _site(tmp_path)
    strict = _site(tmp_path, "strict")  # the same model, drawing only what PoseNet is sure of
    config = (strict / "index.html").read_text(encoding="utf-8")
    (strict / "index.html").write_text(
        config.replace('"minConfidence":0.5', '"minConfidence":0.99'), encoding="utf-8"
    )
    counts = []
    for built in (site, strict):
        with serve_site(built) as base, chromium() as context:
            page = context.new_page()
            page.goto(base + "/")
            page.evaluate("window.tmbuild.ready")
            page.set_input_files("tm-upload input[type=file]", str(PHOTO))
            page.wait_for_selector("tm-skeleton[keypoints]")
            counts.append(page.evaluate(SKELETON)["drawn"])
    assert counts[0] > counts[1]


def test_an_offline_pose_page_classifies_the_webcam_with_the_server_down(tmp_path, clip):
    site = _site(tmp_path, offline=True)
    requests: list[str] = []
    with chromium(_camera(clip)) as context:
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        with serve_site(site) as url:
            page.goto(url + "/")
            page.evaluate("window.tmbuild.ready")
            page.locator("tm-offline .tm-offline-ready").wait_for()
        # The server is gone: the worker answers for the page, PoseNet and the head.
        requests.clear()
        page.reload()
        assert page.evaluate("window.tmbuild.ready")["kind"] == "pose"
        page.evaluate(WATCH)
        _start_webcam(page)
        drawn = page.evaluate(SKELETON)
    assert drawn["drawn"] >= 3
    outside = [r for r in requests if not r.startswith((url, "data:", "blob:"))]
    assert requests and outside == []


def test_an_embedded_pose_classifier_gets_the_skeleton(tmp_path, clip):
    _site(tmp_path, "host/poses", embed=EmbedConfig(mode="element", name="poses"))
    host = tmp_path / "host"
    (host / "index.html").write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>A blog</title>"
        "<link rel='icon' href='data:,'></head><body><h1>My blog</h1>"
        '<script type="module" src="/poses/tmbuild.js"></script>'
        '<tm-classifier name="poses"></tm-classifier></body></html>',
        encoding="utf-8",
    )
    with serve_site(host) as base, chromium(_camera(clip)) as context:
        page = context.new_page()
        page.goto(base + "/")
        page.wait_for_selector("tm-classifier tm-webcam button:not([disabled])")
        assert page.locator("tm-classifier tm-skeleton tm-webcam").count() == 1
        page.click("tm-classifier tm-webcam button.tm-webcam-toggle")
        page.wait_for_selector("tm-classifier tm-skeleton[keypoints]", timeout=60_000)
        assert page.text_content("tm-classifier tm-result .verdict")


def test_a_single_file_pose_page_draws_a_photos_skeleton_from_disk(tmp_path):
    if not PHOTO.is_file():
        pytest.skip(f"the photo {PHOTO} is absent")
    out = _site(tmp_path, single_file=True)
    [page_file] = out.glob("*.html")
    with chromium() as context:
        page = context.new_page()
        page.goto(page_file.as_uri())
        assert page.evaluate("window.tmbuild.ready")["kind"] == "pose"
        page.set_input_files("tm-upload input[type=file]", str(PHOTO))
        page.wait_for_selector("tm-skeleton[keypoints]")
        assert page.evaluate(SKELETON)["drawn"] >= 3
