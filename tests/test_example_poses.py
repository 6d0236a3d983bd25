"""The example pose model (examples/poses) and its images and clip: consistent with each other,
with Teachable Machine's export shape, and reproduced by examples/pose_figures.py and
examples/train_poses.py where that is cheap (the drawings; PoseNet and the head in numpy on the
committed images and on the clip's held poses; the training's determinism). Retraining the
committed model itself takes PoseNet over 600 images: the script does that, not the tests.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.pose_export import POSENET_SETTINGS, pose_model_json, read_png, write_y4m
from tmbuild.model.posenet import FOLDER_VARIABLE, cache_dir

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EXPORT = EXAMPLES / "poses"
IMAGES = EXAMPLES / "poses-images"
CLIP = EXAMPLES / "poses-clip.y4m"
FIXTURE = ROOT.parent / "shared" / "fixtures" / "tm-exports" / "pose2-pt" / "export"

sys.path.insert(0, str(EXAMPLES))
pose_figures = pytest.importorskip("pose_figures")
pose_clip = pytest.importorskip("pose_clip")
train_poses = pytest.importorskip("train_poses")

pytestmark = pytest.mark.skipif(
    not (EXPORT / "weights.bin").exists(), reason="examples/poses has not been generated"
)


def _images() -> list[tuple[str, Path]]:
    return [
        (label, path)
        for label in pose_figures.LABELS
        for path in sorted((IMAGES / label).glob("*.png"))
    ]


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    """The example head's weights; skips where PoseNet is not already on disk (never fetched)."""
    named = os.environ.get(FOLDER_VARIABLE)
    if not ((Path(named).expanduser() if named else cache_dir()) / "posenet.bin").is_file():
        pytest.skip("PoseNet is not on disk; `tmbuild fetch-runtime --pose` fetches it")
    return train_poses.read_export(EXPORT)


def test_export_is_shaped_as_teachable_machine_writes_it():
    model = json.loads((EXPORT / "model.json").read_text(encoding="utf-8"))
    metadata = json.loads((EXPORT / "metadata.json").read_text(encoding="utf-8"))
    labels = metadata["labels"]
    assert labels == list(pose_figures.LABELS)
    assert model == pose_model_json(len(labels))
    if FIXTURE.is_dir():  # a real export's topology, bar the number of labels
        real = json.loads((FIXTURE / "model.json").read_text(encoding="utf-8"))
        real_meta = json.loads((FIXTURE / "metadata.json").read_text(encoding="utf-8"))
        real["modelTopology"]["config"]["layers"][2]["config"]["units"] = len(labels)
        real["weightsManifest"][0]["weights"][2]["shape"][1] = len(labels)
        assert model == real
        assert metadata.keys() == real_meta.keys()
        assert metadata["modelSettings"] == real_meta["modelSettings"]
    assert metadata["packageName"] == "@teachablemachine/pose"
    assert metadata["modelSettings"] == {"posenet": POSENET_SETTINGS}
    values = 14_739 * 100 + 100 + 100 * len(labels)
    assert (EXPORT / "weights.bin").stat().st_size == 4 * values  # float32, nothing else


def test_image_folders_are_the_labels_and_small():
    assert sorted(p.name for p in IMAGES.iterdir() if p.is_dir()) == sorted(pose_figures.LABELS)
    for label in pose_figures.LABELS:
        assert len(list((IMAGES / label).glob("*.png"))) >= 3, label
    for _, path in _images():
        assert read_png(path).shape == (240, 320, 3)
        assert path.stat().st_size < 60_000, path


def test_images_are_what_pose_figures_draws():
    for label, path in _images():
        drawn, _ = pose_figures.draw_sample(label, train_poses.SAMPLE_SEED, int(path.stem))
        # Rounding to 8 bits may tip the other way on another CPU's floating point.
        assert np.abs(drawn.astype(int) - read_png(path)).max() <= 1, path


def test_posenet_finds_the_figures_joints_and_the_head_their_pose(weights):
    scores, errors = [], []
    for label, path in _images():
        image = read_png(path)
        _, truth = pose_figures.draw_sample(label, train_poses.SAMPLE_SEED, int(path.stem))
        features, points = train_poses.posenet(image)
        score, error = train_poses.keypoint_report(points, truth, image.shape)
        scores.append(score)
        errors.append(error)
        probabilities = train_poses.predict(weights, features[None])[0]
        assert pose_figures.LABELS[probabilities.argmax()] == label, path
        assert probabilities.max() >= train_poses.MIN_SAMPLE_PROBABILITY, (path, probabilities)
    # PoseNet sees people: its keypoints sit near the drawn joints (in 320×240 images).
    assert np.mean(scores) > 0.5 and np.median(errors) < 12, (scores, errors)


def test_clip_moves_through_the_poses(weights):
    data = CLIP.read_bytes()
    width, height = pose_clip.CLIP_SIZE
    header = f"YUV4MPEG2 W{width} H{height} F{pose_clip.CLIP_FPS}:1 Ip A1:1 C420jpeg\n"
    assert data.startswith(header.encode())
    assert len(data) < 1_500_000
    frames = pose_clip.read_y4m(data)
    schedule = pose_clip.clip_schedule()
    assert len(frames) == len(schedule)
    seen, starts = [], range(0, len(schedule), pose_clip.HOLD + pose_clip.MOVE)
    for start in starts:
        middle = start + pose_clip.HOLD // 2
        features, _ = train_poses.posenet(frames[middle])
        probabilities = train_poses.predict(weights, features[None])[0]
        seen.append(pose_figures.LABELS[probabilities.argmax()])
    assert seen == [schedule[start] for start in starts]
    assert len(set(seen)) == len(pose_figures.LABELS)  # the page's top label changes


def test_y4m_reading_inverts_writing(tmp_path):
    frame = np.random.default_rng(0).integers(0, 256, (8, 8, 3), np.uint8)
    frame = frame.repeat(2, 0).repeat(2, 1)  # flat 2×2 blocks: 4:2:0 loses nothing
    [back] = pose_clip.read_y4m(write_y4m(tmp_path / "clip.y4m", [frame]).read_bytes())
    assert np.abs(back.astype(int) - frame).max() <= 2


def test_training_is_seeded_and_learns():
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    features = rng.normal(0, 1, (60, 40)) + np.eye(3)[labels] @ rng.normal(0, 3, (3, 40))
    first = train_poses.train(features, labels, seed=7)
    again = train_poses.train(features, labels, seed=7)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert (train_poses.predict(first, features).argmax(axis=1) == labels).mean() > 0.95
