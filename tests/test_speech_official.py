"""The official speech-commands recognizer runs the example audio model: the reference works.

tests/support/official_speech.py loads an export into `@tensorflow-models/speech-commands`
0.5.4 on TensorFlow.js 3.21.0, the library Teachable Machine's audio snippet uses, in a Chromium
whose fake microphone plays a WAV file. These tests hold the harness itself to account on the
example model (`examples/words/`) and one of its clips: it loads, `listen` hands back the raw
43×232 frames of every callback, the word is heard, and `recognize` on a callback's own frames
gives that callback's scores, so the two ways in agree and either can serve as the reference.

One Chromium for the module: loading the model compiles WebGL programs under SwiftShader for
several seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from support import official_speech
from support.official_speech import BINS, FRAMES

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "words"  # model.json, weights.bin, metadata.json
CLIPS = ROOT / "examples" / "words-clips"  # <label>/*.wav
BACKGROUND = "_background_noise_"
# A callback every round(43 * 0.25) = 11 frames (255 ms): over three passes of a looping clip,
# several windows hold the whole word.
OVERLAP = 0.75
PERIOD = 11
SECONDS = 3.5
# TensorFlow.js's own choice, as the snippet runs: WebGL (SwiftShader here, 10 s of compiling).
# `cpu` loads at once but blocks the page while it predicts and loses the frames meanwhile: on
# the example's clips it heard no whole word in left/1 and "stop" in a window of right/1.
BACKEND = None
# A window holds the whole word when its loud frames (mean level LOUD_DB above its quietest
# tenth: the clips' words stand 5 to 20 dB above their noise) keep EDGE frames off both edges.
LOUD_DB = 3
EDGE = 2


@dataclass
class Heard:
    labels: list[str]
    word: str
    info: dict
    listened: official_speech.Listened
    again: list[list[float]]  # recognize() on each callback's own frames


def example() -> tuple[Path, str, Path]:
    """The example model, a word and a clip of it; skip when the example is absent."""
    files = [EXAMPLE / name for name in ("model.json", "weights.bin", "metadata.json")]
    missing = [path.name for path in files if not path.is_file()]
    if missing:
        pytest.skip(f"the example audio model examples/words/ lacks {', '.join(missing)}")
    clips = sorted(p for p in CLIPS.glob("*/*.wav") if p.parent.name != BACKGROUND)
    if not clips:
        pytest.skip("examples/words-clips/ holds no clip of a word")
    return EXAMPLE, clips[0].parent.name, clips[0]


@pytest.fixture(scope="module")
def heard() -> Heard:
    model, word, clip = example()
    labels = json.loads((model / "metadata.json").read_text())["wordLabels"]
    # Without Chromium's voice processing, the frames are the clip's own spectrum.
    with official_speech.official_recognizer(model, clip, BACKEND) as recognizer:
        listened = recognizer.listen(SECONDS, OVERLAP, official_speech.UNPROCESSED)
        again = recognizer.recognize([call.frames for call in listened.callbacks])
        info = recognizer.info
    return Heard(labels, word, info, listened, again)


def test_the_recognizer_loads_the_example(heard: Heard):
    info = heard.info
    assert (info["tfjs"], info["speechCommands"]) == ("3.21.0", "0.5.4")
    assert info["labels"] == heard.labels
    assert info["inputShape"] == [FRAMES, BINS, 1]
    assert info["params"]["sampleRateHz"] == 44100 and info["params"]["fftSize"] == 1024


def test_listen_hands_back_the_raw_frames_of_every_callback(heard: Heard):
    audio, callbacks = heard.listened.audio, heard.listened.callbacks
    assert audio["sampleRate"] == 44100
    assert audio["state"] == audio["stateAtEnd"] == "running"  # no user gesture was needed
    assert audio["track"]["noiseSuppression"] is False
    # Every PERIOD-th frame fired, and every firing called back (threshold 0, noise included).
    assert len(callbacks) == audio["firings"] == audio["frames"] // PERIOD >= 4
    for index, call in enumerate(callbacks):
        assert call.frames.shape == (FRAMES, BINS) and np.isfinite(call.frames).all()
        assert len(call.scores) == len(heard.labels)
        assert sum(call.scores) == pytest.approx(1, abs=1e-5)
        # Until 43 frames are heard, the window is padded at the top with rows of zeros.
        padding = max(0, FRAMES - PERIOD * (index + 1))
        assert (call.frames[:padding] == 0).all()
        # Raw dB, not normalised: every heard value is below 0 dB, the mean far below zero.
        heard_rows = call.frames[padding:]
        assert (heard_rows < 0).all() and heard_rows.mean() < -20


def test_the_word_is_heard_in_the_windows_that_hold_it(heard: Heard):
    whole = []
    for call in heard.listened.callbacks[3:]:  # the fourth fires at 44 frames: no padding
        level = call.frames.mean(axis=1)
        loud = np.flatnonzero(level > np.percentile(level, 10) + LOUD_DB)
        if loud.size and loud[0] >= EDGE and loud[-1] < FRAMES - EDGE:
            whole.append(call)
    assert whole, "no window held the whole word"
    tops = [call.top(heard.labels) for call in whole]
    assert tops == [heard.word] * len(whole), [call.scores for call in whole]


def test_recognize_on_a_callbacks_frames_gives_its_scores(heard: Heard):
    for call, scores in zip(heard.listened.callbacks, heard.again, strict=True):
        assert np.abs(np.subtract(scores, call.scores)).max() <= 1e-5, (call.scores, scores)
