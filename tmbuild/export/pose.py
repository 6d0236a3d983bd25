"""What a Teachable Machine pose export is, and its checks.

A pose export holds only Teachable Machine's classifier head: Dense 100 (ReLU), Dropout, Dense
softmax over the labels. Its input is PoseNet's output on one frame, flattened: at input
resolution 257 and output stride 16, 17×17 positions × (17 heatmaps + 34 offsets) = 14,739
numbers. metadata.json has `packageName: "@teachablemachine/pose"`, `labels`, and
`modelSettings.posenet`, the PoseNet the head was trained on. tmbuild.export.read reads a pose
export as strictly as an image one, with these checks; the build then bundles PoseNet with the
head (tmbuild.model.pose_model) and writes the pose page.
"""

from __future__ import annotations

from dataclasses import dataclass

from tmbuild.errors import ExportError
from tmbuild.untrusted import listed, printable, shown

PACKAGE = "@teachablemachine/pose"
# The PoseNet Teachable Machine trains pose heads on, the only one tmbuild will bundle.
POSENET = {
    "architecture": "MobileNetV1",
    "outputStride": 16,
    "inputResolution": 257,
    "multiplier": 0.75,
}
KEYPOINTS = 17
LAYER_KINDS = {"InputLayer", "Dense", "Dropout"}
AGAIN = "export the pose model from Teachable Machine again"


@dataclass(frozen=True)
class PoseExport:
    """A checked Teachable Machine pose model (its head; PoseNet comes from elsewhere)."""

    location: str
    model_json: dict
    weight_groups: list[tuple[list[dict], bytes]]
    metadata: dict
    metadata_bytes: bytes
    labels: list[str]
    model_name: str
    kind = "pose"
    # The frame PoseNet reads, square and RGB: what the manifest and the page call image size.
    image_size = POSENET["inputResolution"]
    grayscale = False

    def summary(self) -> str:
        """What was found, in one line."""
        return (
            f"pose model (PoseNet {POSENET['architecture']} {POSENET['multiplier']}, "
            f"{POSENET['inputResolution']} px), {len(self.labels)} labels ({listed(self.labels)})"
        )


def is_pose(metadata: dict) -> bool:
    """A pose export, by its metadata."""
    settings = metadata.get("modelSettings")
    return metadata.get("packageName") == PACKAGE or (
        isinstance(settings, dict) and "posenet" in settings
    )


def input_length(settings: dict) -> int:
    """How many numbers PoseNet gives the head: positions × (heatmaps + 2 offsets each)."""
    side = (settings["inputResolution"] - 1) // settings["outputStride"] + 1
    return side * side * KEYPOINTS * 3


def posenet_settings(where: str, metadata: dict) -> dict:
    """modelSettings.posenet, each setting the one tmbuild bundles PoseNet for."""
    settings = metadata.get("modelSettings")
    posenet = settings.get("posenet") if isinstance(settings, dict) else None
    if not isinstance(posenet, dict):
        raise ExportError(
            f"{where}: a pose model's metadata needs modelSettings.posenet, the PoseNet it was "
            f"trained on; {AGAIN}"
        )
    for name, wanted in POSENET.items():
        value = posenet.get(name, wanted)  # Teachable Machine's default when left out
        if value != wanted or isinstance(value, bool):
            raise ExportError(
                f"{where}: modelSettings.posenet.{name} is {shown(value)}; tmbuild bundles the "
                f"PoseNet Teachable Machine uses ({name} {wanted}) and cannot run another"
            )
    return dict(POSENET)


def check_pose_topology(where: str, input_shape: list | None, kinds: list[str]) -> None:
    """The head takes PoseNet's flattened output and is built of Dense and Dropout layers."""
    wanted = input_length(POSENET)
    if input_shape is None or list(input_shape[1:]) != [wanted]:
        got = "no input shape" if input_shape is None else f"input {shown(input_shape[1:])}"
        raise ExportError(
            f"{where}: a pose model takes PoseNet's {wanted:,} numbers, this one has {got}; "
            f"not a Teachable Machine pose export"
        )
    foreign = sorted({kind for kind in kinds if kind not in LAYER_KINDS})
    if foreign:
        raise ExportError(
            f"{where}: a {printable(foreign[0], 40)} layer, which Teachable Machine's pose "
            f"models do not have; {AGAIN}"
        )
