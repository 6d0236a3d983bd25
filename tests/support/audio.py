"""Audio for the listening page's tests: an audio export with weights, clips, and the frames a
Web Audio AnalyserNode computes, worked out with numpy from the Web Audio specification.

The shared audio fixtures have no weights.bin (5.7 MB); `audio_export` writes one of seeded
random values of the sizes its manifest declares, so the page runs a real network of Teachable
Machine's audio topology whose answers are not all equal.
"""

from __future__ import annotations

import json
import math
import wave
from pathlib import Path

import numpy as np

SAMPLE_RATE = 44100
HOP = 1024
POINTS = 2048  # the analyser's fftSize, as speech-commands sets it
BINS = 232
FRAMES = 43


def audio_export(source: Path, folder: Path, seed: int = 0, labels: list[str] | None = None):
    """A copy of the audio export at `source` (model.json, metadata.json) with random weights."""
    folder.mkdir(parents=True, exist_ok=True)
    model = json.loads((source / "model.json").read_text(encoding="utf-8"))
    metadata = json.loads((source / "metadata.json").read_text(encoding="utf-8"))
    rng = np.random.default_rng(seed)
    parts = []
    for entry in model["weightsManifest"][0]["weights"]:
        count = math.prod(entry["shape"])
        fan_in = math.prod(entry["shape"][:-1]) or 1
        if entry["name"].endswith("kernel"):
            values = rng.standard_normal(count) * math.sqrt(2 / fan_in)
        else:
            values = rng.standard_normal(count) * 0.05
        parts.append(values.astype("<f4").tobytes())
    if labels:
        metadata["wordLabels"] = labels
    (folder / "model.json").write_text(json.dumps(model), encoding="utf-8")
    (folder / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    (folder / "weights.bin").write_bytes(b"".join(parts))
    return folder


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """16-bit mono PCM, as Chromium's fake microphone reads it."""
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as clip:
        assert clip.getsampwidth() == 2 and clip.getnchannels() == 1
        pcm = np.frombuffer(clip.readframes(clip.getnframes()), "<i2")
    return pcm.astype(np.float64) / 32768


def chirp_clip(seconds: float = 3.0, silence: float = 0.1, seed: int = 1) -> np.ndarray:
    """Digital silence, then a rising tone over noise: frames of every level, and skipped ones."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * (300 * t + 900 * t * t))
    sound = tone * np.clip(np.sin(np.pi * t / seconds) * 2, 0, 1) + 0.02 * rng.standard_normal(
        t.size
    )
    # The values a 16-bit file can hold, so that the page decodes exactly these samples.
    sound = np.round(np.clip(sound, -1, 1) * 32767) / 32768
    return np.concatenate([np.zeros(int(silence * SAMPLE_RATE)), sound])


def analyser_frames(samples: np.ndarray) -> list[np.ndarray | None]:
    """The dB spectrum an AnalyserNode (2048 points, no smoothing) gives at every 1024th sample.

    Web Audio: the last fftSize samples, a Blackman window (alpha 0.16), a DFT scaled by 1/N,
    20·log10 of the magnitudes. None where the first bin is -Infinity (only silence so far),
    which speech-commands drops.
    """
    n = np.arange(POINTS)
    blackman = 0.42 - 0.5 * np.cos(2 * np.pi * n / POINTS) + 0.08 * np.cos(4 * np.pi * n / POINTS)
    padded = np.concatenate([np.zeros(POINTS), samples])
    frames: list[np.ndarray | None] = []
    for k in range(1, samples.size // HOP + 1):
        end = POINTS + k * HOP
        spectrum = np.fft.rfft(padded[end - POINTS : end] * blackman)[:BINS] / POINTS
        magnitude = np.abs(spectrum)
        if magnitude[0] == 0:
            frames.append(None)
            continue
        with np.errstate(divide="ignore"):
            frames.append(20 * np.log10(magnitude))
    return frames


def spectra_ending_at(samples: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The analyser's dB spectrum of the 2048 samples before each of `ends` (rows)."""
    n = np.arange(POINTS)
    blackman = 0.42 - 0.5 * np.cos(2 * np.pi * n / POINTS) + 0.08 * np.cos(4 * np.pi * n / POINTS)
    rows = []
    for start in range(0, len(ends), 1024):  # in blocks: 1024 windows at a time
        block = samples[ends[start : start + 1024, None] - POINTS + n] * blackman
        magnitude = np.abs(np.fft.rfft(block, axis=1)[:, :BINS]) / POINTS
        with np.errstate(divide="ignore"):
            rows.append(20 * np.log10(magnitude))
    return np.concatenate(rows)


def windows_of(frames: list[np.ndarray | None], overlap: float) -> list[np.ndarray]:
    """The page's windows: speech-commands' (every round(43 × (1 − overlap)) kept frames) once
    43 frames are heard; a recording shorter than that, its one window with zeros in front."""
    period = max(1, math.floor(FRAMES * (1 - overlap) + 0.5))  # JavaScript's Math.round
    count = 0
    kept: list[np.ndarray] = []
    windows = []
    for frame in frames:
        if frame is None:
            continue
        kept = (kept + [frame])[-FRAMES:]
        count += 1
        if count % period == 0 and len(kept) == FRAMES:
            windows.append(np.array(kept))
    if not windows and kept:
        window = np.zeros((FRAMES, BINS))
        window[FRAMES - len(kept) :] = np.array(kept)
        windows.append(window)
    return windows
