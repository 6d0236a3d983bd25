"""Make spoken-word and noise clips with espeak-ng and sox, and the browser's spectrograms of them.

Words are spoken by Debian's ``espeak-ng`` (several voices, speeds and pitches) and resampled by
``sox`` to 44.1 kHz; noise is sox's own white, pink and brown noise. ``spectrogram`` computes
what @tensorflow-models/speech-commands feeds the model in the browser: the page gets the same
frames from the browser's own ``AnalyserNode``, this is the same arithmetic in numpy.
"""

from __future__ import annotations

import io
import subprocess
import wave
from concurrent.futures import ThreadPoolExecutor

import numpy as np

BACKGROUND = "_background_noise_"
WORDS = ("left", "right", "stop")
# speech-commands sorts its vocabulary (JavaScript's default sort), so the background class,
# "_" sorting before lower-case letters, is the model's first output.
LABELS = tuple(sorted((BACKGROUND, *WORDS)))

RATE = 44100  # speech-commands' AudioContext sample rate
FFT_SIZE = 2048  # AnalyserNode.fftSize: speech-commands sets twice its fftSize of 1024
HOP = 1024  # getFloatFrequencyData every fftSize / sampleRate = 23.2 ms
FRAMES, BINS = 43, 232  # the model's input: 43 frames of the first 232 bins
EPSILON = 1e-7  # tf.backend().epsilon() in speech-commands' normalize()
# Samples behind a 43-frame spectrogram: the first frame's window, then 42 hops.
SPAN = FFT_SIZE + (FRAMES - 1) * HOP

# Voices a model learns from, and voices (language and variant both) it never hears in
# training, for the held-out set and the committed clips.
TRAIN_LANGUAGES = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan")
TRAIN_VARIANTS = (
    *("", "m1", "m2", "m3", "m4", "m5", "f1", "f2", "f3", "klatt", "klatt2"),
    *("Alex", "Annie", "Andy", "john", "linda", "steph", "max", "rob", "grandma", "whisper"),
)
HELD_OUT_LANGUAGES = ("en-029", "en-gb-x-gbcwmd")
HELD_OUT_VARIANTS = ("f4", "f5", "m6", "m7", "Michael", "belinda", "paul", "edward")
TRAIN_NOISES = ("white", "pink", "brown")
HELD_OUT_NOISES = ("hum",)  # low-passed pink noise under a 120 Hz hum: a noise never trained on
NOISE_SECONDS = 30

# The analyser's window (Web Audio spec: Blackman, alpha 0.16, over N = fftSize samples).
_n = np.arange(FFT_SIZE)
WINDOW = (
    0.42 - 0.5 * np.cos(2 * np.pi * _n / FFT_SIZE) + 0.08 * np.cos(4 * np.pi * _n / FFT_SIZE)
).astype(np.float32)


# --- The browser's spectrogram ------------------------------------------------------------


def frequency_frames(audio: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Return getFloatFrequencyData's first 232 bins for frames ending at ``ends`` (dB).

    As the Web Audio spec has it with smoothingTimeConstant 0: the latest 2048 samples,
    Blackman-windowed, FFT, magnitude over 2048, 20 * log10. (Chromium's analyser gives the
    same frames to within 0.001 dB; a constant factor, which some FFTs add, would make no
    difference after speech-commands' normalisation.)
    """
    index = ends[:, None] - FFT_SIZE + np.arange(FFT_SIZE)[None, :]
    spectrum = np.fft.rfft(audio[index] * WINDOW, axis=1)[:, :BINS]
    with np.errstate(divide="ignore"):
        return (20 * np.log10(np.abs(spectrum) / FFT_SIZE)).astype(np.float32)


def normalise(frames: np.ndarray) -> np.ndarray:
    """Z-normalise a whole spectrogram as speech-commands' ``normalize`` does."""
    frames = frames.astype(np.float32)
    return (frames - frames.mean()) / (np.sqrt(frames.var()) + EPSILON)


def spectrogram(audio: np.ndarray, end: int, jitter: np.ndarray | None = None) -> np.ndarray:
    """Return the model's input for the 43 frames whose last one ends at sample ``end``.

    ``jitter`` (samples, one per frame) moves each frame a little, as the page's timer does.
    Frames whose bin 0 is -Infinity (digital silence) are dropped by speech-commands; the
    clips here always carry some noise, so none is.
    """
    ends = end - HOP * np.arange(FRAMES - 1, -1, -1)
    if jitter is not None:
        ends = ends + jitter
    return normalise(frequency_frames(audio, ends))[..., None]


# --- Sounds -------------------------------------------------------------------------------


def run(command: list[str], stdin: bytes | None = None) -> bytes:
    """Run a command and return its output, failing loudly."""
    return subprocess.run(command, input=stdin, capture_output=True, check=True).stdout


def speak(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """Return ``word`` spoken by espeak-ng, at 44.1 kHz, trimmed of silence, peak 1."""
    wav = run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word])
    # -R: repeatable (seeded) output; -G: guard against clipping in the resampler.
    raw = run(
        ["sox", "-R", "-G", "-t", "wav", "-", "-t", "f32", "-c", "1", "-", "rate", str(RATE)], wav
    )
    audio = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    loud = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max())
    audio = audio[max(loud[0] - 441, 0) : loud[-1] + 441]  # keep 10 ms either side
    return audio / np.abs(audio).max()


def voices(held_out: bool) -> list[str]:
    """Return the espeak-ng voice names of one side of the split."""
    languages = HELD_OUT_LANGUAGES if held_out else TRAIN_LANGUAGES
    variants = HELD_OUT_VARIANTS if held_out else TRAIN_VARIANTS
    return [f"{lang}+{var}" if var else lang for lang in languages for var in variants]


def utterances(count: int, held_out: bool, seed: int) -> list[tuple[str, np.ndarray]]:
    """Return ``count`` (word, audio) pairs in random voices, speeds (wpm) and pitches."""
    rng = np.random.default_rng(seed)
    names = voices(held_out)
    jobs = [
        (
            WORDS[i % len(WORDS)],
            names[rng.integers(len(names))],
            int(rng.integers(110, 261)),
            int(rng.integers(15, 86)),
        )
        for i in range(count)
    ]
    with ThreadPoolExecutor(4) as pool:
        audio = list(pool.map(lambda job: speak(*job), jobs))
    return [(job[0], a) for job, a in zip(jobs, audio, strict=True)]


def noise(kind: str) -> np.ndarray:
    """Return NOISE_SECONDS of one kind of noise made by sox, at RMS 1."""
    seconds = str(NOISE_SECONDS)

    def synth(*effects: str) -> np.ndarray:
        command = ["sox", "-R", "-n", "-r", str(RATE), "-c", "1", "-t", "f32", "-"]
        raw = run([*command, "synth", seconds, *effects])
        audio = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        return audio / np.sqrt(np.mean(audio**2))

    if kind == "hum":
        mixed = synth("pinknoise", "lowpass", "2500") + 0.7 * synth("sine", "120")
        return (mixed / np.sqrt(np.mean(mixed**2))).astype(np.float32)
    return synth(f"{kind}noise").astype(np.float32)


def crop(track: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Return a random stretch of a noise track."""
    start = int(rng.integers(len(track) - length))
    return track[start : start + length]


def as_pcm16(audio: np.ndarray) -> np.ndarray:
    """Return audio as a 16-bit file (and the fake microphone) would carry it."""
    return np.round(np.clip(audio, -1, 1) * 32767).astype(np.float32) / 32767


def mix(
    speech: np.ndarray | None,
    length: int,
    at: int,
    tracks: list[np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """Return ``length`` samples: noise, with ``speech`` (if any) starting at sample ``at``.

    ``at`` may be negative, or so late that the word ends after the last sample.
    """
    track = tracks[rng.integers(len(tracks))]
    if speech is None:
        # Background: noise only, from near-silence (a few 16-bit steps) to loud.
        level = 10 ** rng.uniform(-3.5, -0.6)
        audio = crop(track, length, rng) * level
        if rng.random() < 0.3:  # the noise rises or falls across the second
            audio = audio * np.linspace(*rng.uniform(0.1, 1, 2), length)
    else:
        snr = 60.0 if rng.random() < 0.15 else rng.uniform(0, 30)  # some nearly clean
        audio = crop(track, length, rng) * 10 ** (-snr / 20)
        active = speech[np.abs(speech) > 0.05]
        speech = speech / np.sqrt(np.mean(active**2))
        speech = speech[max(-at, 0) : length - at]  # a word may start before the second
        at = max(at, 0)
        audio[at : at + len(speech)] += speech
        audio = audio * 10 ** rng.uniform(-2, -0.3) / np.abs(audio).max()  # the input gain
    # A microphone's own hiss, a few 16-bit steps: a real input is never digital silence.
    audio = audio + rng.normal(0, 10 ** rng.uniform(-4.2, -3.6), length)
    return as_pcm16(audio.astype(np.float32))


# --- WAV files ----------------------------------------------------------------------------


def wav_bytes(audio: np.ndarray) -> bytes:
    """Return a 16-bit mono 44.1 kHz WAV file of ``audio``."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.round(np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def read_wav(data: bytes) -> np.ndarray:
    """Read a 16-bit mono WAV file as floats."""
    with wave.open(io.BytesIO(data), "rb") as source:
        if (source.getnchannels(), source.getsampwidth()) != (1, 2):
            raise ValueError("expected a 16-bit mono WAV file")
        return np.frombuffer(source.readframes(source.getnframes()), "<i2") / np.float32(32767)


# --- Data sets ----------------------------------------------------------------------------

JITTER = 256  # the page's timer fires every 23.2 ms, give or take a few audio blocks
REUSE = 3
PARTIAL = 0.3


def make_set(per_label: int, held_out: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``per_label`` spectrograms of each label and their label indices.

    Each spoken word is used ``REUSE`` times, at different places in the second and under
    different noise. Background examples are noise alone or, one in ``PARTIAL``, noise with the
    edge of a word: a listener's window catches words coming and going, and should name a word
    only when it holds the word.
    """
    rng = np.random.default_rng(seed)
    spoken = utterances(-(-len(WORDS) * per_label // REUSE), held_out, seed)
    tracks = [noise(kind) for kind in (HELD_OUT_NOISES if held_out else TRAIN_NOISES)]
    length, end = SPAN + 2 * JITTER, SPAN + JITTER
    x = np.empty((len(LABELS) * per_label, FRAMES, BINS, 1), np.float32)
    y = np.empty(len(x), np.int64)
    jobs = [(BACKGROUND, None)] * per_label + [
        spoken[i % len(spoken)] for i in range(len(WORDS) * per_label)
    ]
    for i, (label, speech) in enumerate(jobs):
        at = 0
        if speech is not None:
            speech = speech[:SPAN]
            at = JITTER + int(rng.integers(SPAN - len(speech) + 1))
        elif rng.random() < PARTIAL:
            speech = spoken[rng.integers(len(spoken))][1][:SPAN]
            inside = round(rng.uniform(0.05, 0.35) * len(speech))  # the share in the window
            at = JITTER - len(speech) + inside if rng.random() < 0.5 else JITTER + SPAN - inside
        audio = mix(speech, length, at, tracks, rng)
        jitter = None if held_out else rng.integers(-JITTER, JITTER + 1, FRAMES)
        x[i] = spectrogram(audio, end, jitter)
        y[i] = LABELS.index(label)
    order = rng.permutation(len(x))
    return x[order], y[order]


CLIP_SECONDS = 1.2


def make_clip(label: str, track: np.ndarray, rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """Return the voice (or noise) and audio of a clip: a word in the middle, or noise alone.

    Give a held-out noise ``track`` and the voice is a held-out one too, so that no clip is like
    any training example.
    """
    length = round(CLIP_SECONDS * RATE)
    if label == BACKGROUND:
        audio = crop(track, length, rng) * 0.05
        name = HELD_OUT_NOISES[0]
    else:
        names = voices(held_out=True)
        name = names[rng.integers(len(names))]
        speech = speak(label, name, int(rng.integers(130, 221)), int(rng.integers(25, 76)))
        speech = speech[: length // 2]
        at = (length - len(speech)) // 2 + int(rng.integers(-2205, 2206))  # +-50 ms
        audio = crop(track, length, rng) * 10 ** (-rng.uniform(12, 24) / 20)
        active = speech[np.abs(speech) > 0.05]
        audio[at : at + len(speech)] += speech / np.sqrt(np.mean(active**2))
        audio = audio * 0.5 / np.abs(audio).max()
    audio = audio + rng.normal(0, 10**-3.8, length)
    return name.replace("+", "-"), as_pcm16(audio.astype(np.float32))
