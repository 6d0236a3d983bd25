"""The official speech-commands recognizer, fetched for the tests, and a page that runs it.

Teachable Machine's audio export is run with `@tensorflow-models/speech-commands` (its snippet:
`speechCommands.create("BROWSER_FFT", undefined, modelURL, metadataURL)`, then
`recognizer.listen(callback, {...})`). Version 0.5.4 asks for TensorFlow.js ^3 as peers; it runs
here on the last 3.x `tf.min.js`. The tarballs come from `npm pack` at test time, are checked
against the sha512 pinned below and are kept in official_tm's cache folder (`test-deps/`), by
official_tm's own `tarball()`, with the two scripts the page runs unpacked beside them (checked
by sha256 on every use); none of it is copied into the repository.

`official_recognizer()` loads an export in that page in a fresh Chromium whose microphone plays
a WAV file, and offers `recognize(spectrograms)` (the network on given frames: the reference for
probabilities) and `listen(seconds, overlap_factor)` (the live path, every callback with the
frames it was given): tests/test_audio_parity.py holds it to account and uses both.

How speech-commands 0.5.4 turns sound into scores (read from its dist/ and checked here):

- Audio: `getUserMedia({audio: true, video: false})` (or `audioTrackConstraints`), then
  `new AudioContext({sampleRate: 44100})` → MediaStreamSource → AnalyserNode with
  `fftSize = 2048` (twice the library's `fftSize` of 1024) and `smoothingTimeConstant = 0`.
  Headless Chromium gives a running context at 44100 Hz with no user gesture (even under
  `--autoplay-policy=user-gesture-required`); the library never calls `resume()`, so where a
  context starts suspended no frame is read and no callback comes. Chromium resamples a
  track at another rate (48 kHz, below) into the 44.1 kHz context; Firefox has refused such a
  MediaStreamSource (not checked here).
- `{audio: true}` leaves Chromium's echo cancellation, noise suppression and automatic gain
  control ON (the fake microphone then runs at 48 kHz, mono): the frames are NOT the file's
  spectrum (7 dB RMS apart on a chirp in white noise). With `{echoCancellation: false,
  noiseSuppression: false, autoGainControl: false}` they are, to 0.01 dB RMS.
- A frame: `getFloatFrequencyData` of the latest 2048 samples: Blackman window (a0 0.42, a1 0.5,
  a2 0.08), FFT, |X| / 2048, `20 * log10` (no other constant: 0.000 dB offset from numpy), the
  first 232 bins kept (the model's input width; bins of 44100 / 2048 = 21.5 Hz, 0 to 4.99 kHz).
- Hop: a `setInterval` of 1024 / 44100 s = 23.2 ms reads the analyser; it is not tied to the
  audio clock. The analyser's samples move in the audio device's bursts (10 ms here), so frame
  ends fall on the 128-sample render quantum and consecutive frames measured 896 or 1280 samples
  apart (1024 on average while the timer keeps time), 1792 to 3968 when it ran late (one
  window on WebGL: mean hop 1134). A main thread blocked by the model (the `cpu` backend:
  100-280 ms a call on a busy machine) loses the frames of that time outright, so its windows
  splice sound that was never adjacent (on the example's clips it heard "stop" in a window of
  "right"); WebGL (SwiftShader here) kept the timer within 39 ms and every window right.
  Fitting each live frame to the clip's own spectrum (unprocessed track) found it at these
  ends to 0.01-0.15 dB RMS.
- Skipped frames: a read whose bin 0 is -Infinity (all 2048 samples exactly zero: digital
  silence, or before sound arrives) is dropped: not queued, not counted.
- Window: the last 43 frames (43 × 23.2 ms = 998 ms). While fewer than 43 were heard, the
  missing LEADING rows are zeros (0 dB, where a real frame stays below -7.5 dB: the window's
  mean 0.42 at full scale), so the first callback at the default overlap sees 21 rows of zeros.
- When: a counter of kept frames fires every `period = max(1, round(43 * (1 - overlapFactor)))`
  frames: 22 at the default 0.5 (`Math.round(21.5)`), 11 at 0.75, 43 at 0. Suppression: after a
  callback that counts as a detection, no firing until `counter - onset > round(
  suppressionTimeMillis / 23.22)`; listen's default `suppressionTimeMillis` is 0. A detection:
  max score >= `probabilityThreshold` (default 0) and, unless `invokeCallbackOnNoiseAndUnknown`,
  a top label other than `_background_noise_` and `_unknown_` (those get no callback).
- Normalisation (listen, and recognize() with no argument): over the whole [1, 43, 232, 1]
  tensor, `(x - mean) / (sqrt(variance) + EPSILON)`, variance the population one (tf.moments).
  EPSILON is `tf.backend().epsilon()`, read once at the first normalize and cached: 1e-7 on
  `cpu`, 1e-4 on `webgl` in TensorFlow.js 3.21 (its floatPrecision() answers 16
  whenever float32 rendering IS enabled, so on any ordinary GPU too).
- `recognizer.recognize(x)` with an explicit spectrogram does NOT normalise it: it runs
  `model.predict(x)` as given. This page's `recognize` normalises raw frames with the library's
  own `speechCommands.utils.normalize` first (so it reproduces listen's scores), unless told the
  frames are normalised already.
- Callback: `scores` is the softmax output (labels in metadata `wordLabels` order);
  `spectrogram.data` (with `includeSpectrogram`) is the RAW frames, the tensor before
  normalisation (dB, zero-padded rows included), `frameSize` 232. Callbacks are not awaited and
  predictions overlap on an async backend, so two may come a few ms apart.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from support import official_tm
from support.browser import _Handler, chromium, run_server

SPEECH_COMMANDS = ("@tensorflow-models/speech-commands", "0.5.4")
# Its peerDependencies ask for tfjs-core, tfjs-layers and tfjs-data ^3; the umbrella package's
# tf.min.js holds all three (the bundle reads the globals `tf` and `tf.data`). 3.21.0 is the
# last 3.x.
TFJS_3 = ("@tensorflow/tfjs", "3.21.0")
# `npm pack` of each, hashed with hashlib; npm's own `integrity` for them said the same.
PINNED_SHA512 = {
    SPEECH_COMMANDS: "sha512-r0c/MvC15/09xWujx1pKe6mA0nta+4jQWDXGkqfSVkXLo8ARrwcZ4mTGLlfvT43ySfidiveUo0m+P51+UK821Q==",  # noqa: E501
    TFJS_3: "sha512-khcARd3/872llL/oF4ouR40qlT71mylU66PGT8kHP/GJ5YKj44sv8lDRjU7lOVlJK7jsJFWEsNVHI3eMc/GWNQ==",  # noqa: E501
}
# official_tm fetches, verifies and caches by this table; the pins stay here, with their user.
official_tm.PINNED_SHA512.update(PINNED_SHA512)
# The two files the page runs, kept unpacked beside the tarballs: hashing the 28 MB TensorFlow.js
# tarball and finding tf.min.js in it took 5 s a session on a busy machine.
PAGE_FILES = {
    "tf.min.js": (TFJS_3, "a184b4eb763bf152e9bf52598ec3210c8a5f32baf4c050660c88bd82ef6be3cf"),
    "speech-commands.min.js": (
        SPEECH_COMMANDS,
        "03e3b553ae4a326f85447677283e9cf86e20ca31a1296cfefb4a075f19366a7d",
    ),
}

PAGE = Path(__file__).parent / "speech"  # index.html and official.js
FRAMES, BINS = 43, 232  # the model's input: [1, FRAMES, BINS, 1]
# A fake microphone, allowed without a prompt; with --use-file-for-fake-audio-capture it plays
# that WAV file in a loop, from its start when a capture starts (the fourth frame listen() heard
# was the file's frame ending at sample 5319; the first two matched no stretch of the file).
FAKE_MICROPHONE = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
# The frames are the file's own spectrum only without Chromium's voice processing.
UNPROCESSED = {"echoCancellation": False, "noiseSuppression": False, "autoGainControl": False}


@dataclass
class Callback:
    """One call of listen()'s callback: when, the scores, and the raw frames it was given."""

    ms: float  # since listen() was called
    scores: list[float]
    frames: np.ndarray  # float32 [FRAMES, BINS], raw dB as the analyser gave them

    def top(self, labels: Sequence[str]) -> str:
        """The label of the highest score."""
        return labels[int(np.argmax(self.scores))]


@dataclass
class Listened:
    """What listen() heard: every callback, and the AudioContext that heard it."""

    callbacks: list[Callback]
    # sampleRate, state, stateAtEnd, baseLatency, track (its settings), frames (analyser reads
    # that were not silent), firings (predictions started, all awaited before returning)
    audio: dict
    # Every analyser read: (ms since listen() was called, the AudioContext's currentTime in
    # seconds, whether it was silent and so skipped), to see the hop the timer really kept.
    reads: list[tuple[float, float, bool]]


class OfficialRecognizer:
    """The loaded reference page: `info` is what it reported once the model was ready."""

    def __init__(self, page, info: dict) -> None:
        self.page = page
        self.info = info
        self.labels: list[str] = info["labels"]

    def recognize(
        self, spectrograms: Sequence[np.ndarray], normalized: bool = False
    ) -> list[list[float]]:
        """The recognizer's scores for each [FRAMES, BINS] spectrogram (raw dB unless told)."""
        encoded = [_encode(frames) for frames in spectrograms]
        return self.page.evaluate(
            "([s, n]) => window.officialRecognize(s, n)", [encoded, normalized]
        )

    def listen(
        self, seconds: float, overlap_factor: float = 0.5, constraints: dict | None = None
    ) -> Listened:
        """recognizer.listen() on the fake microphone for `seconds`, then stopListening().

        `constraints` become listen()'s `audioTrackConstraints`; None keeps the library's
        `getUserMedia({audio: true})`, under which Chromium processes the sound (see above).
        """
        result = self.page.evaluate(
            "([s, o, c]) => window.officialListen(s, o, c ?? undefined)",
            [seconds, overlap_factor, constraints],
        )
        callbacks = []
        for call in result["callbacks"]:
            assert call["frameSize"] == BINS, call["frameSize"]
            frames = np.frombuffer(base64.b64decode(call["frames"]), dtype="<f4")
            callbacks.append(Callback(call["ms"], call["scores"], frames.reshape(FRAMES, BINS)))
        reads = [tuple(read) for read in result["reads"]]
        return Listened(callbacks, result["audio"], reads)


def _encode(frames: np.ndarray) -> str:
    data = np.asarray(frames, dtype="<f4")
    assert data.size == FRAMES * BINS, f"a spectrogram is {FRAMES}×{BINS}, got {data.shape}"
    return base64.b64encode(data.tobytes()).decode("ascii")


def page_file(name: str) -> Path:
    """A script of the page, unpacked once from its verified tarball and checked every time."""
    package, sha256 = PAGE_FILES[name]
    path = official_tm.cache_dir() / f"{package[0].lstrip('@').replace('/', '-')}-{package[1]}"
    path = path / name
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256:
        return path
    data = official_tm.member(package, f"dist/{name}")
    assert hashlib.sha256(data).hexdigest() == sha256, f"{package} dist/{name}: not the pinned file"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)
    return path


def write_page(folder: Path, export: Path, backend: str | None) -> Path:
    """Write the reference page, its scripts and a copy of the export (`model/`) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("index.html", "official.js"):
        shutil.copyfile(PAGE / name, folder / name)
    for name in PAGE_FILES:
        shutil.copyfile(page_file(name), folder / name)
    config = {"backend": backend}
    (folder / "config.js").write_text(f"window.officialConfig = {json.dumps(config)};\n")
    model = folder / "model"
    shutil.copytree(export, model)
    for path in [model, *model.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # shared/ is read-only
    return folder


@contextlib.contextmanager
def official_recognizer(
    export: Path, clip: Path | None = None, backend: str | None = None
) -> Iterator[OfficialRecognizer]:
    """The reference page in a fresh Chromium whose microphone plays `clip` (a WAV file).

    `backend` None leaves TensorFlow.js's own choice, as the snippet does (WebGL: here
    SwiftShader, whose first prediction compiles for 7-11 s, done before this yields); "cpu"
    loads at once and suits `recognize`, but loses frames while listening (see above).
    Without `clip` the fake microphone plays Chromium's built-in beeps.
    """
    args = list(FAKE_MICROPHONE)
    if clip is not None:
        args.append(f"--use-file-for-fake-audio-capture={Path(clip).resolve()}")
    with tempfile.TemporaryDirectory(prefix="tmbuild-speech-") as temporary:
        site = write_page(Path(temporary) / "site", Path(export), backend)
        with run_server(_Handler, site) as url, chromium(args) as context:
            page = context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(url + "/index.html")
            info = page.evaluate("window.official")
            assert problems == [], problems
            yield OfficialRecognizer(page, info)
            assert problems == [], problems
