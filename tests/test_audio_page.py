"""The listening page in Chromium: a recording and the fake microphone through the real page.

The frames the page computes are checked against the Web Audio specification worked out with
numpy (tests/support/audio.py), and the model against itself on the two paths. The example
audio model's tests (labels heard, live against file) are in tests/test_audio_example.py.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import real_export
from support.audio import (
    BINS,
    FRAMES,
    analyser_frames,
    audio_export,
    chirp_clip,
    read_wav,
    spectra_ending_at,
    windows_of,
    write_wav,
)
from support.browser import chromium, serve_site

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.config.schema import EmbedConfig

pytestmark = pytest.mark.browser

FAKE_MICROPHONE = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
MICROPHONE = "window.tmbuild.microphone"


def _build(folder, backend="auto"):
    export = audio_export(real_export("audio2-2020"), folder / "model", seed=3)
    config, _ = load_config(None, {"model_path": export, "output": folder / backend})
    # Seeded random weights compress to nothing: no .gz and .br siblings to wait for.
    build(
        replace(
            config,
            compress=replace(config.compress, gzip=False, brotli=False),
            classifier=replace(config.classifier, backend=backend),
        )
    )
    return folder / backend


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("audio"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("clip") / "chirp.wav", chirp_clip())


SPECTROGRAMS = """async (url) => {
  const data = await (await fetch(url)).arrayBuffer();
  const found = await window.tmbuild.spectrograms(data);
  return { duration: found.duration, windows: found.windows.map((w) =>
    ({ start: w.start, end: w.end, window: Array.from(w.window) })) };
}"""


def _serve_clip(site, clip):
    (site / clip.name).write_bytes(clip.read_bytes())
    return "/" + clip.name


def test_a_recordings_frames_are_the_analysers_as_the_web_audio_spec_defines_them(site, clip):
    url = _serve_clip(site, clip)
    with serve_site(site) as base, chromium() as context:
        page = context.new_page()
        page.goto(base + "/")
        info = page.evaluate("window.tmbuild.ready")
        assert info["kind"] == "audio"
        found = page.evaluate(SPECTROGRAMS, base + url)
    samples = read_wav(clip)
    expected = windows_of(analyser_frames(samples), overlap=0.5)
    assert found["duration"] == pytest.approx(samples.size / 44100)
    # Every 22 kept frames a window, once 43 are heard; the silent frames at the start are not
    # counted.
    assert len(found["windows"]) == len(expected) >= 3
    for got, want in zip(found["windows"], expected, strict=True):
        got = np.array(got["window"]).reshape(FRAMES, BINS)
        # The zeros a window has in front of its first frames are zeros on both sides.
        assert np.array_equal(got == 0, want == 0)
        # Within 0.001 dB where the sound is; the browser's float32 FFT blurs the bins 60 dB
        # and more under the loudest one by up to a few tenths of a dB.
        error = np.abs(got - want)
        assert error[want > -60].max() < 1e-3
        assert error[want > -90].max() < 0.5
    ends = [window["end"] for window in found["windows"]]
    assert np.allclose(np.diff(ends), 22 * 1024 / 44100)


def test_a_recording_shorter_than_a_window_gets_one_window_zeros_in_front(site, tmp_path):
    short = write_wav(tmp_path / "short.wav", chirp_clip(seconds=0.6))
    url = _serve_clip(site, short)
    with serve_site(site) as base, chromium() as context:
        page = context.new_page()
        page.goto(base + "/")
        page.evaluate("window.tmbuild.ready")
        found = page.evaluate(SPECTROGRAMS, base + url)
    [want] = windows_of(analyser_frames(read_wav(short)), overlap=0.5)
    [got] = [np.array(window["window"]).reshape(FRAMES, BINS) for window in found["windows"]]
    assert np.array_equal(got == 0, want == 0) and (want == 0).all(axis=1).sum() > 10
    assert np.abs(got - want)[want > -60].max() < 1e-3


def test_an_uploaded_recording_gets_a_timeline_and_the_same_answers_as_its_windows(site, clip):
    with serve_site(site) as base, chromium() as context:
        page = context.new_page()
        page.goto(base + "/")
        page.evaluate("window.tmbuild.ready")
        page.set_input_files("tm-upload input[type=file]", str(clip))
        page.wait_for_selector("tm-timeline:not([hidden])")
        rows = page.eval_on_selector_all(
            "tm-timeline li", "(rows) => rows.map((row) => row.dataset.label)"
        )
        heading = page.text_content("tm-timeline h2")
        # The same windows classified one by one through the public API give the same labels.
        labels = page.evaluate(
            """async (url) => {
              const data = await (await fetch(url)).arrayBuffer();
              const found = await window.tmbuild.spectrograms(data);
              const labels = [];
              for (const w of found.windows) {
                labels.push((await window.tmbuild.predictSpectrogram(w.window)).top.label);
              }
              return labels;
            }""",
            base + _serve_clip(site, clip),
        )
        assert page.text_content("tm-result .verdict") != ""
    assert heading == "What was heard in chirp.wav"
    assert rows == labels and len(rows) >= 3


def test_a_file_that_is_not_sound_is_named_in_one_line(site, tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("not a recording", encoding="utf-8")
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    with serve_site(site) as base, chromium() as context:
        page = context.new_page()
        page.goto(base + "/")
        page.evaluate("window.tmbuild.ready")
        page.set_input_files("tm-upload input[type=file]", str(text))
        page.wait_for_selector("tm-error:not([hidden])")
        unreadable = page.text_content("tm-error")
        page.set_input_files("tm-upload input[type=file]", str(image))
        page.wait_for_function(
            "() => document.querySelector('tm-error').textContent.includes('photo')"
        )
        not_sound = page.text_content("tm-error")
    assert unreadable == ("notes.wav is not a sound this browser can read. Try a WAV or MP3 file.")
    assert not_sound == "photo.png is not a recording: choose a WAV, MP3, Ogg, WebM or M4A file."


def test_the_microphone_listens_window_after_window_and_stops(site, clip):
    args = FAKE_MICROPHONE + [f"--use-file-for-fake-audio-capture={clip}"]
    with serve_site(site) as base, chromium(args) as context:
        page = context.new_page()
        page.goto(base + "/")
        page.evaluate("window.tmbuild.ready")
        page.evaluate(
            """() => { window.heard = []; window.tmbuild.addEventListener('result',
              (e) => window.heard.push(e.detail.source)); }"""
        )
        assert page.text_content("tm-microphone button") == "Start listening"
        page.click("tm-microphone button")
        page.wait_for_function(f"() => {MICROPHONE}.predictions >= 3", timeout=30_000)
        assert page.get_attribute("tm-microphone button", "aria-pressed") == "true"
        assert page.is_visible("tm-spectrogram canvas")
        assert page.text_content("tm-result .verdict") != ""
        stats = page.evaluate(f"({{...{MICROPHONE}}})")
        # A window every 22 frames; one in flight when the next is due is skipped, not queued.
        assert stats["frames"] >= 22 * stats["windows"]
        assert stats["predictions"] + stats["skipped"] <= stats["windows"]
        page.click("tm-microphone button")
        page.wait_for_function(f"() => !{MICROPHONE}.running")
        frames = page.evaluate(f"{MICROPHONE}.frames")
        page.wait_for_timeout(300)
        assert page.evaluate(f"{MICROPHONE}.frames") == frames
        assert set(page.evaluate("window.heard")) == {"microphone"}
        assert page.text_content("tm-microphone button") == "Start listening"


# A page served over plain http from another machine has no navigator.mediaDevices, as here.
INSECURE = "Object.defineProperty(Navigator.prototype, 'mediaDevices', { get: () => undefined })"


@pytest.mark.parametrize(
    ("args", "script", "message"),
    [
        # Headless Chromium answers the permission prompt with "deny".
        (["--use-fake-device-for-media-stream"], None, "The microphone is blocked."),
        # Permission given, but no device at all.
        (["--use-fake-ui-for-media-stream"], None, "No microphone could be opened on this"),
        (FAKE_MICROPHONE, INSECURE, "The microphone works only on a secure (https) page."),
    ],
)
def test_a_microphone_that_cannot_open_says_why(site, args, script, message):
    with serve_site(site) as base, chromium(args) as context:
        page = context.new_page()
        if script:
            page.add_init_script(script)
        page.goto(base + "/")
        page.evaluate("window.tmbuild.ready")
        page.click("tm-microphone button")
        page.wait_for_selector("tm-error:not([hidden])")
        assert page.text_content("tm-error").startswith(message)
        assert not page.evaluate(f"{MICROPHONE}.running")
        # Start is offered again: a visitor who fixes the cause can try once more.
        assert page.text_content("tm-microphone button") == "Start listening"


PROBABILITIES = """async (url) => {
  const info = await window.tmbuild.ready;
  const data = await (await fetch(url)).arrayBuffer();
  const found = await window.tmbuild.classifyAudio(data);
  return { runner: info.runner, backend: info.backend,
    windows: found.windows.map((w) => w.predictions.map((p) => [p.label, p.probability])) };
}"""


def test_the_kernels_and_tensorflow_give_the_same_probabilities(site, clip, tmp_path):
    tensorflow = _build(tmp_path, backend="cpu")
    answers = []
    for built in (site, tensorflow):
        url = _serve_clip(built, clip)
        with serve_site(built) as base, chromium() as context:
            page = context.new_page()
            page.goto(base + "/")
            answers.append(page.evaluate(PROBABILITIES, base + url))
    kernels, plain = answers
    assert (kernels["runner"], plain["runner"]) == ("kernels", "tensorflow")
    assert plain["backend"] == "cpu"
    assert len(kernels["windows"]) == len(plain["windows"]) >= 3
    for ours, theirs in zip(kernels["windows"], plain["windows"], strict=True):
        assert dict(ours).keys() == dict(theirs).keys()
        for label, probability in ours:
            assert probability == pytest.approx(dict(theirs)[label], abs=1e-5)


def _variant(tmp_path, output="out", **changes):
    """The same audio model, built as an offline site, a single file or an embeddable folder."""
    export = audio_export(real_export("audio2-2020"), tmp_path / "model", seed=3)
    config, _ = load_config(None, {"model_path": export, "output": tmp_path / output})
    build(replace(config, compress=replace(config.compress, gzip=False, brotli=False), **changes))
    return tmp_path / output


def test_a_single_file_listens_to_a_recording_from_disk(tmp_path, clip):
    out = _variant(tmp_path, single_file=True)
    [page_file] = out.glob("*.html")
    with chromium() as context:
        page = context.new_page()
        page.goto(page_file.as_uri())
        assert page.evaluate("window.tmbuild.ready")["kind"] == "audio"
        page.set_input_files("tm-upload input[type=file]", str(clip))
        page.wait_for_selector("tm-timeline:not([hidden])")
        assert page.locator("tm-timeline li").count() >= 3


def test_an_offline_listening_page_classifies_a_recording_with_the_server_down(tmp_path, clip):
    site = _variant(tmp_path, offline=True)
    with chromium() as context:
        page = context.new_page()
        with serve_site(site) as url:
            page.goto(url + "/")
            page.evaluate("window.tmbuild.ready")
            page.locator("tm-offline .tm-offline-ready").wait_for()
        # The server is gone: the worker answers for the page, the runtime and the model.
        page.reload()
        assert page.evaluate("window.tmbuild.ready")["kind"] == "audio"
        page.set_input_files("tm-upload input[type=file]", str(clip))
        page.wait_for_selector("tm-timeline:not([hidden])")
        assert page.locator("tm-timeline li").count() >= 3


def test_an_embedded_audio_classifier_gets_the_listening_parts(tmp_path, clip):
    _variant(tmp_path, "host/words", embed=EmbedConfig(mode="element", name="words"))
    host = tmp_path / "host"
    (host / "index.html").write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>A blog</title>"
        "<link rel='icon' href='data:,'></head><body><h1>My blog</h1>"
        '<script type="module" src="/words/tmbuild.js"></script>'
        '<tm-classifier name="words"></tm-classifier></body></html>',
        encoding="utf-8",
    )
    with serve_site(host) as base, chromium() as context:
        page = context.new_page()
        page.goto(base + "/")
        page.wait_for_selector("tm-classifier tm-microphone button:not([disabled])")
        for part in ("tm-microphone", "tm-upload", "tm-spectrogram", "tm-timeline"):
            assert page.locator(f"tm-classifier {part}").count() == 1
        assert page.locator("tm-classifier tm-webcam").count() == 0
        page.set_input_files("tm-classifier tm-upload input[type=file]", str(clip))
        page.wait_for_selector("tm-classifier tm-timeline:not([hidden])")


def test_the_microphone_hears_the_frames_a_file_gives(site, clip):
    """Live frames are the recording's own spectrum at some sample: what makes live and file
    answers agree. Chromium's fake microphone loops the clip (at 48 kHz, resampled into the
    page's 44.1 kHz) and the page's timer reads the analyser every ~23 ms."""
    args = FAKE_MICROPHONE + [f"--use-file-for-fake-audio-capture={clip}"]
    with serve_site(site) as base, chromium(args) as context:
        page = context.new_page()
        page.goto(base + "/")
        page.evaluate("window.tmbuild.ready")
        page.evaluate(
            """() => { window.frames = []; window.tmbuild.addEventListener('frame',
              (e) => window.frames.push(Array.from(e.detail.frame))); }"""
        )
        page.click("tm-microphone button")
        page.wait_for_function("() => window.frames.length >= 120", timeout=30_000)
        live = np.array(page.evaluate("window.frames.slice(20, 120)"))
    # Chromium resamples the clip to the device's rate and back, so a frame may end at any
    # sample of the looped clip: found on a 16-sample grid, then sample by sample around it.
    looped = np.tile(read_wav(clip), 2)
    distances = []
    coarse = np.arange(2048, looped.size, 16)
    grid = spectra_ending_at(looped, coarse)
    for frame in live[live.max(axis=1) > -60]:  # frames with the tone; silence says little
        best = coarse[np.argmin(_rms(grid, frame))]
        fine = spectra_ending_at(looped, np.arange(best - 16, min(best + 17, looped.size + 1)))
        distances.append(_rms(fine, frame).min())
    assert len(distances) > 50
    # dB, RMS over the 232 bins: 0.005 measured; 12 with Chromium's voice processing on.
    assert np.median(distances) < 0.1


def _rms(spectra, frame):
    audible = np.isfinite(spectra).all(axis=1)
    return np.where(audible, np.sqrt(np.mean((spectra - frame) ** 2, axis=1)), np.inf)


def test_listening_starts_while_the_model_loads_and_its_first_window_waits_for_it(site, clip):
    args = FAKE_MICROPHONE + [f"--use-file-for-fake-audio-capture={clip}"]
    with serve_site(site) as base, chromium(args) as context:
        page = context.new_page()
        release = []
        # The weights come only when the test says so: the model stays loading meanwhile.
        page.route("**/models/**", lambda route: release.append(route))
        page.goto(base + "/")
        page.click("tm-microphone button")  # offered at once
        page.wait_for_function(f"() => {MICROPHONE}.running && {MICROPHONE}.frames >= 50")
        assert page.evaluate("window.tmbuild.state") == "loading"
        assert page.evaluate(f"{MICROPHONE}.predictions") == 0
        assert page.is_visible("tm-spectrogram canvas")  # it shows what it hears meanwhile
        for route in release:
            route.continue_()
        page.unroute("**/models/**")
        page.wait_for_function(f"() => {MICROPHONE}.predictions >= 1", timeout=30_000)
        assert page.evaluate("window.tmbuild.state") == "ready"
