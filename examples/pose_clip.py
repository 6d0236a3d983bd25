"""The example pose model's camera clip: one figure of pose_figures.py moving through the poses.

Written as y4m (tests/support/pose_export.py's write_y4m) for Chromium's fake camera; read_y4m
decodes it back as Chromium shows it, for the tests.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from pose_figures import Pose, random_person, random_pose, random_scene, render

# The clip: each pose held for eight frames, then two frames moving to the next one, at 10
# frames a second (3 s, looped by Chromium's fake camera). None marks the moving frames.
CLIP_SIZE = (192, 144)
CLIP_FPS = 10
CLIP_POSES = ("arms down", "arms out", "arms up")
HOLD, MOVE = 8, 2


def clip_schedule() -> list[str | None]:
    """Return each frame's label in the clip, None while the arms move."""
    return [f for label in CLIP_POSES for f in [label] * HOLD + [None] * MOVE]


def blend(a: Pose, b: Pose, t: float) -> Pose:
    """Return the pose ``t`` of the way from ``a`` to ``b``."""
    mix = lambda x, y: tuple(np.add(np.multiply(x, 1 - t), np.multiply(y, t)))  # noqa: E731
    return Pose(
        upper=mix(a.upper, b.upper), elbow=mix(a.elbow, b.elbow), legs=mix(a.legs, b.legs),
        knees=mix(a.knees, b.knees), lean=a.lean * (1 - t) + b.lean * t,
        head_tilt=a.head_tilt * (1 - t) + b.head_tilt * t,
    )  # fmt: skip


def draw_clip(seed: int) -> list[np.ndarray]:
    """Draw the clip's frames: one person in one room moving through CLIP_POSES and back."""
    rng = np.random.default_rng(seed)
    width, height = CLIP_SIZE
    person = random_person(rng)
    scene = replace(random_scene(rng, width, height), noise=0.0)
    poses = [random_pose(label, rng) for label in CLIP_POSES]
    # Legs, lean and head stay put: only the arms move between poses.
    poses = [
        replace(p, legs=poses[0].legs, knees=poses[0].knees, lean=poses[0].lean) for p in poses
    ]
    frames = []
    for k, pose in enumerate(poses):
        following = poses[(k + 1) % len(poses)]
        steps = [pose] * HOLD + [blend(pose, following, (m + 1) / (MOVE + 1)) for m in range(MOVE)]
        frames += [render(person, p, scene, rng, width, height)[0] for p in steps]
    return frames


def read_y4m(data: bytes) -> list[np.ndarray]:
    """Decode a 4:2:0 y4m clip to RGB frames as Chromium shows them (BT.601, limited range)."""
    header, _, body = data.partition(b"\n")
    fields = {f[:1]: f[1:] for f in header.split()[1:]}
    width, height = int(fields[b"W"]), int(fields[b"H"])
    size = width * height * 3 // 2
    frames = []
    for start in range(0, len(body), size + 6):
        assert body[start : start + 6] == b"FRAME\n"
        raw = np.frombuffer(body, np.uint8, size, start + 6).astype(np.float64)
        y = raw[: width * height].reshape(height, width) - 16
        u, v = (
            raw[width * height + k * size // 6 : width * height + (k + 1) * size // 6]
            .reshape(height // 2, width // 2).repeat(2, 0).repeat(2, 1) - 128
            for k in (0, 1)
        )  # fmt: skip
        rgb = np.stack(
            [1.164 * y + 1.596 * v, 1.164 * y - 0.392 * u - 0.813 * v, 1.164 * y + 2.017 * u], -1
        )
        frames.append(np.clip(np.round(rgb), 0, 255).astype(np.uint8))
    return frames
