"""What a Teachable Machine audio (speech commands) export is, and its checks.

Teachable Machine's audio projects export speech-commands' "browser FFT" network with a head of
their own: an input of 43 spectrogram frames of 232 frequency bins (about one second at 44.1 kHz
with a 1024-point FFT), four Conv2D + MaxPooling2D blocks, Flatten, Dropout, Dense 2000, then a
nested Sequential holding the Dense softmax over the labels. metadata.json names the labels
`wordLabels` (one of them `_background_noise_`) and carries `tfjsSpeechCommandsVersion` instead
of `tmVersion`. tmbuild.export.read reads an audio export as strictly as an image one, with
these checks, and the build makes a listening page of it (docs/audio.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from tmbuild.errors import ExportError
from tmbuild.untrusted import listed, printable, shown

SPECTROGRAM_SHAPE = [43, 232, 1]  # frames, frequency bins, channels
BACKGROUND_NOISE = "_background_noise_"
MAX_LABELS = 1000
# The layers of speech-commands' network and Teachable Machine's head, and nothing else.
LAYER_KINDS = {"InputLayer", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"}
AGAIN = "export the audio model from Teachable Machine again"


@dataclass(frozen=True)
class AudioExport:
    """A checked Teachable Machine audio model."""

    location: str  # how the user named it, for messages
    model_json: dict
    weight_groups: list[tuple[list[dict], bytes]]
    metadata: dict
    metadata_bytes: bytes
    labels: list[str]  # wordLabels, in the model's output order
    model_name: str
    kind = "audio"

    @property
    def weight_bytes(self) -> int:
        return sum(len(data) for _, data in self.weight_groups)

    def summary(self) -> str:
        """What was found, in one line for `tmbuild check`."""
        return (
            f"audio model (speech commands, {SPECTROGRAM_SHAPE[0]}×{SPECTROGRAM_SHAPE[1]} "
            f"spectrograms), {len(self.labels)} labels ({listed(self.labels)})"
        )


def is_audio(metadata: dict, input_shape: list | None) -> bool:
    """An audio export, by its metadata or by the spectrogram its model takes."""
    if "wordLabels" in metadata or "tfjsSpeechCommandsVersion" in metadata:
        return True
    return input_shape is not None and list(input_shape[1:]) == SPECTROGRAM_SHAPE


def audio_labels(where: str, metadata: dict) -> list[str]:
    """metadata.json's wordLabels: two or more distinct, non-empty texts."""
    labels = metadata.get("wordLabels")
    if not isinstance(labels, list) or not labels:
        raise ExportError(
            f"{where}: an audio model's metadata needs 'wordLabels', the list of its labels; "
            f"{AGAIN}"
        )
    if len(labels) > MAX_LABELS:
        raise ExportError(f"{where}: {len(labels):,} wordLabels, more than {MAX_LABELS:,}; {AGAIN}")
    for index, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip():
            raise ExportError(
                f"{where}: wordLabels[{index}] is {shown(label)}, not a label; {AGAIN}"
            )
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            raise ExportError(
                f"{where}: the label {printable(label, 60)!r} appears twice in wordLabels; "
                "rename one class in Teachable Machine and export again"
            )
        seen.add(label)
    if len(labels) < 2:
        raise ExportError(f"{where}: one label only; a classifier needs two or more; {AGAIN}")
    return labels


def check_audio_topology(where: str, input_shape: list | None, kinds: list[str]) -> None:
    """The model takes 43×232 spectrograms and is built of speech-commands' layer kinds."""
    if input_shape is None or list(input_shape[1:]) != SPECTROGRAM_SHAPE:
        got = "no input shape" if input_shape is None else f"input {shown(input_shape[1:])}"
        raise ExportError(
            f"{where}: an audio model takes 43×232×1 spectrograms, this one has {got}; "
            "not a Teachable Machine audio export"
        )
    foreign = sorted({kind for kind in kinds if kind not in LAYER_KINDS})
    if foreign:
        raise ExportError(
            f"{where}: a {printable(foreign[0], 40)} layer, which Teachable Machine's audio "
            f"models do not have; {AGAIN}"
        )
