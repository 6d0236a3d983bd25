"""The webcam in Chromium, fed by a generated `.y4m` clip through the fake capture device."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, real_export
from support.browser import chromium, serve_site

from tmbuild.build import build
from tmbuild.config.load import load_config

pytestmark = pytest.mark.browser

FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
WEBCAM = "window.tmbuild.webcam"


def write_clip(path: Path, frames: int = 60, width: int = 320, height: int = 240) -> Path:
    """A YUV 4:2:0 clip of a white disc moving over grey: Chromium loops it as the camera."""
    rows, columns = np.mgrid[0:height, 0:width]
    chroma = np.full((height // 2) * (width // 2) * 2, 128, np.uint8).tobytes()
    with path.open("wb") as clip:
        clip.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for frame in range(frames):
            centre = (height / 2, width / 4 + width / 2 * frame / frames)
            disc = (rows - centre[0]) ** 2 + (columns - centre[1]) ** 2 < (height / 4) ** 2
            luma = np.where(disc, 235, 100).astype(np.uint8)
            clip.write(b"FRAME\n" + luma.tobytes() + chroma)
    return path


def _site(tmp_path: Path, **classifier) -> Path:
    overrides = {"output": tmp_path / "dist"}
    model = classifier.pop("model_path", None)
    if model:
        overrides["model_path"] = model
    config, _ = load_config(None if model else ROOT / "site.yaml", overrides)
    build(replace(config, classifier=replace(config.classifier, **classifier)))
    return tmp_path / "dist"


def _start(page, url: str) -> None:
    page.goto(url + "/")
    page.evaluate("window.tmbuild.ready")
    page.click("tm-webcam .tm-webcam-toggle")
    page.wait_for_function(f"() => {WEBCAM}.predictions >= 3")


def _frames_at_least(page, count: int, predictions: int = 0) -> dict:
    page.wait_for_function(
        f"() => {WEBCAM}.frames >= {count} && {WEBCAM}.predictions >= {predictions}",
        timeout=60_000,
    )
    return page.evaluate(f"({{...{WEBCAM}}})")


def test_300_frames_skip_while_busy_and_leak_no_tensors(tmp_path):
    clip = write_clip(tmp_path / "clip.y4m")
    # A real MobileNet on WebGL (SwiftShader here: ~300 ms a prediction, computed off the main
    # thread), so animation frames keep coming while a prediction is in flight. (On WASM a
    # prediction blocks the main thread, and the browser drops the frames itself.)
    site = _site(tmp_path, model_path=real_export("mask2-ko-twoexports"), backend="webgl")
    args = FAKE_CAMERA + [f"--use-file-for-fake-video-capture={clip}"]
    with serve_site(site) as url, chromium(args) as context:
        page = context.new_page()
        page.goto(url + "/")
        page.evaluate("window.tmbuild.ready")
        tensors = page.evaluate("tf.memory().numTensors")  # nothing in flight yet
        page.click("tm-webcam .tm-webcam-toggle")
        # Predictions keep coming: 11 at least, however long a loaded machine takes for them.
        stats = _frames_at_least(page, 300, predictions=11)
        assert stats["running"] and stats["predictions"] > 10
        # Frames that arrived while a prediction ran were skipped, not queued.
        assert stats["skipped"] > 0
        assert stats["predictions"] + stats["skipped"] + stats["throttled"] <= stats["frames"]
        assert page.text_content("tm-result .verdict") != ""
        assert page.get_attribute("tm-webcam video", "class") == "mirrored"  # mirror_webcam: true
        assert page.evaluate("document.querySelector('tm-webcam video').muted")
        assert page.get_attribute("tm-webcam video", "playsinline") is not None
        # One fake camera: nothing to switch to.
        assert not page.is_visible("tm-webcam .tm-webcam-switch")

        page.click("tm-webcam .tm-webcam-toggle")
        assert page.evaluate(
            "() => !window.tmbuild.webcam.running"
            " && !document.querySelector('tm-webcam video').srcObject"
        )
        # Once the last prediction has come back, every tensor it made is gone.
        page.wait_for_function(f"() => !{WEBCAM}.busy")
        assert page.evaluate("tf.memory().numTensors") == tensors
        frames = page.evaluate(f"{WEBCAM}.frames")
        page.wait_for_timeout(300)
        assert page.evaluate(f"{WEBCAM}.frames") == frames  # the loop ended with the stream
        assert page.text_content("tm-webcam .tm-webcam-toggle") == "Start webcam"


def test_the_camera_stops_in_a_hidden_tab_and_resumes(tmp_path):
    site = _site(tmp_path)
    with serve_site(site) as url, chromium(FAKE_CAMERA) as context:
        page = context.new_page()
        _start(page, url)
        track_state = page.evaluate_handle(
            """() => {
              const tracks = document.querySelector('tm-webcam video').srcObject.getTracks();
              return () => tracks.map((track) => track.readyState);
            }"""
        )
        # Playwright's pages are always visible: play the tab switch the browser would.
        set_hidden = """(hidden) => {
          Object.defineProperty(document, 'hidden', { value: hidden, configurable: true });
          document.dispatchEvent(new Event('visibilitychange'));
        }"""
        page.evaluate(set_hidden, True)
        assert page.evaluate("(states) => states()", track_state) == ["ended"]
        assert not page.evaluate(f"{WEBCAM}.running")
        page.evaluate(set_hidden, False)
        predictions = page.evaluate(f"{WEBCAM}.predictions")
        page.wait_for_function(f"() => {WEBCAM}.predictions > {predictions}")
        assert page.evaluate(f"{WEBCAM}.running")


def test_max_fps_caps_the_predictions(tmp_path):
    site = _site(tmp_path, max_fps=4)
    with serve_site(site) as url, chromium(FAKE_CAMERA) as context:
        page = context.new_page()
        _start(page, url)
        first = page.evaluate(f"({{...{WEBCAM}}})")
        page.wait_for_timeout(2000)
        last = page.evaluate(f"({{...{WEBCAM}}})")
        # 4 per second at most: 8 in two seconds, plus one for the edges of the window.
        assert last["predictions"] - first["predictions"] <= 9
        assert last["throttled"] > first["throttled"]


def test_slow_predictions_warn_that_live_video_lags(tmp_path):
    # A MobileNet on the plain CPU backend, with the CPU slowed down 4×, as on an old phone:
    # a second or more a prediction, whatever the load of the machine running the test.
    site = _site(tmp_path, model_path=real_export("mask2-ko-twoexports"), backend="cpu")
    with serve_site(site) as url, chromium(FAKE_CAMERA) as context:
        page = context.new_page()
        page.goto(url + "/")
        page.evaluate("window.tmbuild.ready")
        context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": 4})
        page.click("tm-webcam .tm-webcam-toggle")
        page.wait_for_function(f"() => {WEBCAM}.predictions >= 5", timeout=60_000)
        notice = page.text_content("tm-notice")
        assert "too slow for smooth live video" in notice, notice
        # The median of the predictions so far when the warning was shown.
        assert int(re.search(r"takes about (\d+) ms", notice).group(1)) > 250, notice


def test_an_insecure_page_says_the_webcam_needs_https(tmp_path):
    site = _site(tmp_path)
    # A name other than localhost or 127.0.0.1 over plain HTTP is not a secure context.
    args = FAKE_CAMERA + ["--host-resolver-rules=MAP insecure.test 127.0.0.1"]
    with serve_site(site) as url, chromium(args) as context:
        page = context.new_page()
        page.goto(url.replace("127.0.0.1", "insecure.test") + "/")
        page.evaluate("window.tmbuild.ready")
        assert page.evaluate("window.isSecureContext") is False
        page.click("tm-webcam .tm-webcam-toggle")
        page.locator("tm-error").wait_for()
        assert page.text_content("tm-error") == (
            "The webcam works only on a secure page: open this site over https:// "
            "(or from http://localhost while testing)."
        )
