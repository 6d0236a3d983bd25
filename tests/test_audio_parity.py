"""The listening page against the official speech-commands recognizer, on the example model.

Issue 21's bar: the page and `@tensorflow-models/speech-commands` 0.5.4 (what Teachable
Machine's audio snippet runs), loaded with the same export, give the same top label on every
test clip and probabilities within 1e-3; the page's file path gives the same answers as its
live path. The probabilities are compared window by window on the same frames (the page's
windows of each clip, handed to the recognizer's `recognize`), since two live listeners never
read their analysers at the same instants; the live paths are compared by the label they hear,
each on Chromium's fake microphone playing the clip.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support import official_speech
from support.audio import read_wav, write_wav
from support.browser import chromium, serve_site

from tmbuild.build import build
from tmbuild.config.load import load_config

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "words"
CLIPS = ROOT / "examples" / "words-clips"
BACKGROUND = "_background_noise_"
OVERLAP = 0.75  # a window every 11 frames: several hold the whole word on each pass
LISTEN_SECONDS = 3.0


def _clips() -> list[Path]:
    if not (EXAMPLE / "weights.bin").is_file():
        pytest.skip("the example audio model examples/words/ is absent")
    clips = sorted(CLIPS.glob("*/*.wav"))
    if not clips:
        pytest.skip("examples/words-clips/ holds no clip")
    return clips


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    _clips()
    folder = tmp_path_factory.mktemp("parity")
    config, _ = load_config(None, {"model_path": EXAMPLE, "output": folder / "dist"})
    build(replace(config, audio=replace(config.audio, overlap=OVERLAP)))
    for clip in _clips():
        target = folder / "dist" / "clips" / clip.parent.name / clip.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(clip.read_bytes())
    # Every clip after the other: a recording of many windows, across words and between them.
    medley = np.concatenate([read_wav(clip) for clip in _clips()])
    write_wav(folder / "dist" / "clips" / "medley.wav", medley)
    return folder / "dist"


WINDOWS = """async (urls) => {
  await window.tmbuild.ready;
  const out = [];
  for (const url of urls) {
    const data = await (await fetch(url)).arrayBuffer();
    const found = await window.tmbuild.spectrograms(data);
    const clip = [];
    for (const w of found.windows) {
      const result = await window.tmbuild.predictSpectrogram(w.window);
      clip.push({ frames: Array.from(w.window),
        probabilities: window.tmbuild.labels.map((label) =>
          result.predictions.find((p) => p.label === label).probability) });
    }
    out.push(clip);
  }
  return out;
}"""


def test_the_same_frames_get_the_official_recognizers_probabilities(site):
    clips = _clips()
    urls = [f"/clips/{clip.parent.name}/{clip.name}" for clip in clips] + ["/clips/medley.wav"]
    with serve_site(site) as base, chromium() as context:
        page = context.new_page()
        page.goto(base + "/")
        ours = page.evaluate(WINDOWS, [base + url for url in urls])
    windows = [np.array(w["frames"]).reshape(43, 232) for clip in ours for w in clip]
    theirs = official_speech.official_recognize(EXAMPLE, windows)
    mine = [w["probabilities"] for clip in ours for w in clip]
    assert len(mine) == len(theirs) >= 30
    differences = np.abs(np.array(mine) - np.array(theirs))
    assert differences.max() <= 1e-3
    assert [int(np.argmax(p)) for p in mine] == [int(np.argmax(p)) for p in theirs]


def _heard(labels: list[str], scores: list[list[float]]) -> str:
    """What a listener heard on a clip: its most frequent word, else background noise."""
    words = [labels[int(np.argmax(s))] for s in scores]
    counted = Counter(word for word in words if word != BACKGROUND)
    return counted.most_common(1)[0][0] if counted else BACKGROUND


LIVE = """async ([seconds]) => {
  await window.tmbuild.ready;
  const scores = [];
  window.tmbuild.addEventListener("result", (event) => {
    const r = event.detail.result;
    scores.push(window.tmbuild.labels.map((l) => r.predictions.find((p) => p.label === l)
      .probability));
  });
  await window.tmbuild.microphone.start();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  window.tmbuild.microphone.stop();
  return scores;
}"""

FILE = """async (url) => {
  const data = await (await fetch(url)).arrayBuffer();
  const found = await window.tmbuild.classifyAudio(data);
  return found.windows.map((w) => window.tmbuild.labels.map((l) =>
    w.predictions.find((p) => p.label === l).probability));
}"""


def _live_clips() -> list[Path]:
    """A word and the background: each live comparison costs two browsers and ~40 s, so CI
    listens to these two; every clip's windows are compared above, and locally
    TMBUILD_LIVE_CLIPS=all listens to one clip of every label."""
    first: dict[str, Path] = {}
    for clip in sorted(CLIPS.glob("*/*.wav")):
        first.setdefault(clip.parent.name, clip)
    if os.environ.get("TMBUILD_LIVE_CLIPS") == "all":
        return list(first.values())
    return [first[label] for label in (BACKGROUND, "left") if label in first]


@pytest.mark.parametrize("clip", _live_clips(), ids=lambda clip: clip.name)
def test_live_the_page_hears_what_the_recognizer_hears_and_what_the_file_says(site, clip):
    url = f"/clips/{clip.parent.name}/{clip.name}"
    args = official_speech.FAKE_MICROPHONE + [f"--use-file-for-fake-audio-capture={clip}"]
    with serve_site(site) as base, chromium(args) as context:
        page = context.new_page()
        page.goto(base + "/")
        labels = page.evaluate("window.tmbuild.ready.then(() => window.tmbuild.labels)")
        live = page.evaluate(LIVE, [LISTEN_SECONDS])
        from_file = page.evaluate(FILE, base + url)
    # The recognizer hears the same samples: without Chromium's voice processing, as the page.
    official = official_speech.official_listen(
        EXAMPLE, clip, LISTEN_SECONDS, OVERLAP, constraints=official_speech.UNPROCESSED
    )
    # Its callbacks of the first second read windows with zeros in front, which the page does
    # not classify (docs/audio.md): they are left out, as the page leaves them out.
    full = [call["scores"] for call in official if not (call["frames"] == 0).all(axis=1).any()]
    theirs = _heard(labels, full)
    assert len(live) >= 5 and len(official) >= 5
    assert _heard(labels, live) == theirs == _heard(labels, from_file) == clip.parent.name
