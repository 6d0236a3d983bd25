"""Draw the example pose model's people: shaded mannequins posed by joint angles (pose_clip.py
moves one through the poses for the camera clip).

There is no camera here and no licensed photo of whole people to train on, so the figures are
rendered: a head with a face (eyes, brows, nose, mouth, ears, hair), a neck, a torso in a shirt,
upper and lower arms, hands, legs in trousers and shoes, each a shaded solid under a light from
a random side, with random body proportions, skin, hair and clothes colours, in a room (a wall
with a gradient, a floor, a door or a picture) at a random scale, place and exposure, with mild
sensor noise on some. PoseNet finds its keypoints on them (train_poses.py measures how well).

A figure faces the camera, so its left side is on the image's right, as PoseNet names parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from shapes_drawing import inside_polygon

LABELS = ("arms up", "arms out", "arms down")
WIDTH, HEIGHT = 320, 240  # a webcam's 4:3
SS = 2  # supersampling, for anti-aliased edges

# PoseNet's keypoints, in its order.
PARTS = (
    "nose", "leftEye", "rightEye", "leftEar", "rightEar", "leftShoulder", "rightShoulder",
    "leftElbow", "rightElbow", "leftWrist", "rightWrist", "leftHip", "rightHip", "leftKnee",
    "rightKnee", "leftAnkle", "rightAnkle",
)  # fmt: skip

# Ranges of the upper arm's angle from hanging straight down (0°) outwards (90°: level with the
# shoulder; 180°: straight up), and of the elbow's bend added to it, for each label.
ARM_RANGES = {
    "arms up": ((135, 178), (-15, 20)),
    "arms out": ((78, 102), (-15, 20)),
    "arms down": ((4, 30), (-8, 35)),
}


@dataclass(frozen=True)
class Person:
    """A body's proportions (fractions of its height) and colours (RGB floats, 0-1)."""

    head: float  # head height
    shoulders: float  # between the shoulder joints
    hips: float  # between the hip joints
    torso: float  # shoulder joints to hip joints
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    girth: float  # limb thickness factor
    skin: np.ndarray
    hair: np.ndarray
    shirt: np.ndarray
    trousers: np.ndarray
    shoes: np.ndarray
    long_sleeves: bool
    long_hair: bool


@dataclass(frozen=True)
class Pose:
    """Joint angles in degrees; arms and legs are (right, left), the person's own sides."""

    upper: tuple[float, float]
    elbow: tuple[float, float]
    legs: tuple[float, float]  # each thigh's angle outwards from straight down
    knees: tuple[float, float]  # each shin's bend, inwards
    lean: float  # the whole body's tilt
    head_tilt: float


@dataclass(frozen=True)
class Scene:
    """Where the person stands and how the room and the light look."""

    height_px: float  # the person's height in the image (may run past its bottom edge)
    feet_x: float
    feet_y: float
    wall: tuple[np.ndarray, np.ndarray]
    floor: np.ndarray
    horizon: float  # the floor line, as a fraction of the image height
    props: tuple  # (kind, x0, y0, x1, y1, colour) rectangles on the wall
    light: np.ndarray  # direction, unit vector (x, y, z towards the camera)
    exposure: float
    tint: np.ndarray
    noise: float


def random_person(rng: np.random.Generator) -> Person:
    """Return a person with random proportions and colours."""
    tone = rng.uniform(0, 1)
    # Skin from dark brown to pale, hair from black to blond or grey.
    skin = np.array([0.36, 0.22, 0.14]) * (1 - tone) + np.array([0.96, 0.80, 0.69]) * tone
    skin = np.clip(skin * rng.uniform(0.92, 1.08, 3), 0, 1)
    hairs = ([0.08, 0.06, 0.05], [0.30, 0.18, 0.09], [0.75, 0.60, 0.35], [0.6, 0.6, 0.6])
    hair = np.array(hairs[rng.choice(4, p=[0.45, 0.3, 0.15, 0.1])]) * rng.uniform(0.8, 1.2)
    shirt = rng.uniform(0.05, 0.95, 3)
    trousers = rng.uniform(0.05, 0.6, 3) * rng.uniform(0.4, 1.0)
    shoes = rng.uniform(0.02, 0.3) * np.ones(3) + rng.uniform(0, 0.1, 3)
    return Person(
        head=rng.uniform(0.12, 0.15),
        shoulders=rng.uniform(0.19, 0.25),
        hips=rng.uniform(0.09, 0.13),
        torso=rng.uniform(0.28, 0.32),
        upper_arm=rng.uniform(0.16, 0.19),
        forearm=rng.uniform(0.14, 0.17),
        thigh=rng.uniform(0.22, 0.25),
        shin=rng.uniform(0.21, 0.24),
        girth=rng.uniform(0.8, 1.25),
        skin=skin,
        hair=np.clip(hair, 0, 1),
        shirt=shirt,
        trousers=trousers,
        shoes=shoes,
        long_sleeves=bool(rng.random() < 0.5),
        long_hair=bool(rng.random() < 0.35),
    )


def random_pose(label: str, rng: np.random.Generator) -> Pose:
    """Return joint angles for ``label``, each arm drawn on its own within the label's range."""
    (up0, up1), (el0, el1) = ARM_RANGES[label]
    upper = (rng.uniform(up0, up1), rng.uniform(up0, up1))
    elbow = (rng.uniform(el0, el1), rng.uniform(el0, el1))
    return Pose(
        upper=upper,
        elbow=elbow,
        legs=(rng.uniform(2, 14), rng.uniform(2, 14)),
        knees=(rng.uniform(-4, 8), rng.uniform(-4, 8)),
        lean=rng.uniform(-5, 5),
        head_tilt=rng.uniform(-10, 10),
    )


def random_scene(rng: np.random.Generator, width: int = WIDTH, height: int = HEIGHT) -> Scene:
    """Return a room, a placement and a light; three in ten people are cut at the thighs."""
    if rng.random() < 0.3:
        height_px = height * rng.uniform(1.0, 1.25)  # closer to the camera: legs cut off
    else:
        height_px = height * rng.uniform(0.55, 0.8)
    # Room above the head for raised hands (they reach about a sixth of the height above it).
    feet_y = rng.uniform(0.17, 0.24) * height_px + height_px
    # Keep outstretched hands inside the frame: arms out span about the person's height.
    margin = min(0.45 * height_px, width / 2)
    feet_x = rng.uniform(margin, width - margin)
    wall = rng.uniform(0.25, 0.95, 3)
    wall2 = np.clip(wall * rng.uniform(0.7, 1.1) + rng.uniform(-0.08, 0.08, 3), 0, 1)
    props = []
    for _ in range(rng.integers(0, 3)):
        x0 = rng.uniform(-0.1, 0.9) * width
        w = rng.uniform(0.1, 0.3) * width
        y0 = rng.uniform(0.05, 0.4) * height
        h = rng.uniform(0.15, 0.6) * height
        props.append((x0, y0, x0 + w, y0 + h, rng.uniform(0.1, 0.9, 3)))
    side = rng.uniform(-0.8, 0.8)
    light = np.array([side, rng.uniform(-0.6, 0.1), 1.0])
    return Scene(
        height_px=height_px,
        feet_x=feet_x,
        feet_y=feet_y,
        wall=(wall, wall2),
        floor=rng.uniform(0.15, 0.7, 3),
        horizon=rng.uniform(0.6, 0.85),
        props=tuple(props),
        light=light / np.linalg.norm(light),
        exposure=rng.uniform(0.7, 1.2),
        tint=1 + rng.uniform(-0.08, 0.08, 3),
        noise=float(rng.uniform(0.005, 0.03)) if rng.random() < 0.5 else 0.0,
    )


def rotate(v: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate an image-space vector (y down) by ``degrees`` clockwise as seen."""
    a = math.radians(degrees)
    return np.array(
        [v[0] * math.cos(a) - v[1] * math.sin(a), v[0] * math.sin(a) + v[1] * math.cos(a)]
    )


def skeleton(person: Person, pose: Pose, scene: Scene) -> dict[str, np.ndarray]:
    """Return every joint's image position (x, y) in pixels, keypoints and drawing points."""
    h = scene.height_px
    down = rotate(np.array([0.0, 1.0]), pose.lean)  # the body's own "down"
    side = np.array([down[1], -down[0]])  # towards the image's right: the person's left
    # Ankles sit a little above the soles.
    mid_ankles = np.array([scene.feet_x, scene.feet_y]) - down * 0.03 * h
    leg = (person.thigh + person.shin) * h
    pelvis = mid_ankles - down * leg * 0.99
    neck_base = pelvis - down * person.torso * h
    j: dict[str, np.ndarray] = {"pelvis": pelvis, "neck": neck_base}
    for s, name in ((-1, "right"), (1, "left")):
        i = 0 if s < 0 else 1
        shoulder = neck_base + side * s * person.shoulders * h / 2
        # Outwards is -x for the right arm (image left), +x for the left arm.
        upper_dir = rotate(down, -s * pose.upper[i])
        elbow = shoulder + upper_dir * person.upper_arm * h
        fore_dir = rotate(down, -s * (pose.upper[i] + pose.elbow[i]))
        wrist = elbow + fore_dir * person.forearm * h
        hip = pelvis + side * s * person.hips * h / 2
        thigh_dir = rotate(down, -s * pose.legs[i])
        knee = hip + thigh_dir * person.thigh * h
        shin_dir = rotate(down, -s * (pose.legs[i] - pose.knees[i]))
        ankle = knee + shin_dir * person.shin * h
        j |= {f"{name}Shoulder": shoulder, f"{name}Elbow": elbow, f"{name}Wrist": wrist}
        j |= {f"{name}Hip": hip, f"{name}Knee": knee, f"{name}Ankle": ankle}
        j[f"{name}Hand"] = wrist + fore_dir * 0.035 * h
    head_down = rotate(down, pose.head_tilt)
    head_side = np.array([head_down[1], -head_down[0]])
    hh = person.head * h
    centre = neck_base - down * 0.055 * h - head_down * hh * 0.5
    j |= {"headCentre": centre, "headDown": head_down, "headSide": head_side}
    j["nose"] = centre + head_down * hh * 0.12
    for s, name in ((-1, "right"), (1, "left")):
        j[f"{name}Eye"] = centre + head_side * s * hh * 0.17 - head_down * hh * 0.05
        j[f"{name}Ear"] = centre + head_side * s * hh * 0.37
    return j


def keypoints(joints: dict[str, np.ndarray]) -> np.ndarray:
    """Return the 17 keypoints (x, y) in PoseNet's order."""
    return np.stack([joints[part] for part in PARTS])


class Canvas:
    """An RGB float image drawn at SS× resolution, painted part by part (painter's order)."""

    def __init__(self, image: np.ndarray, light: np.ndarray) -> None:
        self.image = image
        self.light = light
        self.height, self.width = image.shape[:2]

    def window(self, points: np.ndarray, pad: float):
        """Return the pixel grid (in output pixels) of the box around ``points`` grown by pad."""
        x0 = max(int((points[:, 0].min() - pad) * SS), 0)
        x1 = min(int(math.ceil((points[:, 0].max() + pad) * SS)) + 1, self.width)
        y0 = max(int((points[:, 1].min() - pad) * SS), 0)
        y1 = min(int(math.ceil((points[:, 1].max() + pad) * SS)) + 1, self.height)
        if x0 >= x1 or y0 >= y1:
            return None
        xs = (np.arange(x0, x1) + 0.5) / SS
        ys = (np.arange(y0, y1) + 0.5) / SS
        px, py = np.meshgrid(xs, ys)
        return (slice(y0, y1), slice(x0, x1)), px, py

    def shade(self, nx: np.ndarray, ny: np.ndarray) -> np.ndarray:
        """Return Lambert shading with ambient light for unit normals (nx, ny, nz towards us)."""
        nz = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0, 1))
        lx, ly, lz = self.light
        return 0.45 + 0.6 * np.clip(nx * lx + ny * ly + nz * lz, 0, 1)

    def put(self, where, mask: np.ndarray, colour: np.ndarray, light: np.ndarray | float = 1.0):
        """Paint ``colour`` (times ``light``) where ``mask`` holds inside the window ``where``."""
        region = self.image[where]
        value = np.asarray(colour)[None, None, :] * np.asarray(light)[..., None]
        region[mask] = np.broadcast_to(value, region.shape)[mask]

    def limb(self, a: np.ndarray, b: np.ndarray, r0: float, r1: float, colour: np.ndarray) -> None:
        """Paint a tapered capsule from ``a`` (radius r0) to ``b`` (radius r1), shaded round."""
        got = self.window(np.stack([a, b]), max(r0, r1) + 1)
        if got is None:
            return
        where, px, py = got
        d = b - a
        length2 = float(d @ d) + 1e-9
        t = np.clip(((px - a[0]) * d[0] + (py - a[1]) * d[1]) / length2, 0, 1)
        cx, cy = a[0] + t * d[0], a[1] + t * d[1]
        r = r0 + (r1 - r0) * t
        ox, oy = px - cx, py - cy
        dist = np.hypot(ox, oy)
        mask = dist <= r
        self.put(where, mask, colour, self.shade(ox / r * 0.95, oy / r * 0.95))

    def ellipse(self, c, axis_x, axis_y, rx, ry, colour, shaded=True, clip=None) -> None:
        """Paint an ellipse with half-axes rx along ``axis_x`` and ry along ``axis_y``."""
        got = self.window(c[None, :], max(rx, ry) + 1)
        if got is None:
            return
        where, px, py = got
        u = ((px - c[0]) * axis_x[0] + (py - c[1]) * axis_x[1]) / rx
        v = ((px - c[0]) * axis_y[0] + (py - c[1]) * axis_y[1]) / ry
        mask = u * u + v * v <= 1
        if clip is not None:
            mask &= clip(u, v)
        light = 1.0
        if shaded:
            nx = (u * axis_x[0] + v * axis_y[0]) * 0.9
            ny = (u * axis_x[1] + v * axis_y[1]) * 0.9
            light = self.shade(nx, ny)
        self.put(where, mask, colour, light)

    def polygon(self, points: np.ndarray, colour: np.ndarray, across: tuple) -> None:
        """Paint a polygon shaded like a cylinder whose axis runs along ``across``'s normal."""
        got = self.window(points, 1)
        if got is None:
            return
        where, px, py = got
        mask = inside_polygon(px, py, points)
        centre, direction, half = across
        s = ((px - centre[0]) * direction[0] + (py - centre[1]) * direction[1]) / half
        s = np.clip(s, -1, 1) * 0.9
        self.put(where, mask, colour, self.shade(s * direction[0], s * direction[1]))


def background(scene: Scene, width: int, height: int) -> np.ndarray:
    """Return the room at SS× resolution: a wall with a gradient and props, then the floor."""
    ys = (np.arange(height * SS) + 0.5) / (height * SS)
    t = ys[:, None, None]
    wall0, wall1 = scene.wall
    image = np.broadcast_to(wall0 * (1 - t) + wall1 * t, (height * SS, width * SS, 3)).copy()
    for x0, y0, x1, y1, colour in scene.props:
        image[int(y0 * SS) : int(y1 * SS), max(int(x0 * SS), 0) : max(int(x1 * SS), 0)] = colour
    floor = int(scene.horizon * height * SS)
    shade = np.linspace(0.85, 1.1, height * SS - floor)[:, None, None]
    image[floor:] = scene.floor * shade
    return image


def render(
    person: Person, pose: Pose, scene: Scene, rng: np.random.Generator,
    width: int = WIDTH, height: int = HEIGHT,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Draw the person; return the uint8 image (height, width, 3) and its 17 keypoints (x, y)."""
    j = skeleton(person, pose, scene)
    h = scene.height_px
    canvas = Canvas(background(scene, width, height), scene.light)
    g = person.girth
    arm_r, leg_r = 0.028 * h * g, 0.042 * h * g
    # Legs and shoes first, then the torso over the hips, the arms, the neck and the head.
    for name in ("right", "left"):
        hip, knee, ankle = j[f"{name}Hip"], j[f"{name}Knee"], j[f"{name}Ankle"]
        canvas.limb(hip, knee, leg_r * 1.15, leg_r, person.trousers)
        canvas.limb(knee, ankle, leg_r, leg_r * 0.75, person.trousers)
        toe = ankle + np.array([0.0, 0.02 * h])
        canvas.ellipse(
            toe, np.array([1.0, 0]), np.array([0, 1.0]), 0.045 * h, 0.022 * h, person.shoes
        )
    down = (j["pelvis"] - j["neck"]) / np.linalg.norm(j["pelvis"] - j["neck"])
    side = np.array([-down[1], down[0]])
    half_shoulders = person.shoulders * h / 2 + arm_r * 0.9
    half_hips = person.hips * h / 2 + leg_r * 1.1
    waist = j["neck"] + down * person.torso * h * 0.6
    torso = np.stack([
        j["neck"] - side * half_shoulders - down * arm_r * 0.6,
        j["neck"] + side * half_shoulders - down * arm_r * 0.6,
        waist + side * half_hips * 0.95,
        j["pelvis"] + side * half_hips + down * leg_r * 0.6,
        j["pelvis"] - side * half_hips + down * leg_r * 0.6,
        waist - side * half_hips * 0.95,
    ])  # fmt: skip
    trousers_top = np.stack(
        [waist - side * half_hips, waist + side * half_hips, torso[3], torso[4]]
    )
    canvas.polygon(torso, person.shirt, (j["neck"], side, half_shoulders))
    canvas.polygon(trousers_top, person.trousers, (j["pelvis"], side, half_hips))
    neck_top = j["headCentre"] + j["headDown"] * person.head * h * 0.35
    canvas.limb(j["neck"] - down * 0.01 * h, neck_top, 0.028 * h * g, 0.026 * h * g, person.skin)
    for name in ("right", "left"):
        shoulder, elbow, wrist = j[f"{name}Shoulder"], j[f"{name}Elbow"], j[f"{name}Wrist"]
        canvas.limb(shoulder, elbow, arm_r * 1.15, arm_r, person.shirt)
        sleeve = person.shirt if person.long_sleeves else person.skin
        canvas.limb(elbow, wrist, arm_r, arm_r * 0.75, sleeve)
        if person.long_sleeves:
            canvas.limb(wrist, wrist, arm_r * 0.72, arm_r * 0.72, person.skin)
        canvas.ellipse(j[f"{name}Hand"], np.array([1.0, 0]), np.array([0, 1.0]),
                       0.026 * h, 0.026 * h, person.skin)  # fmt: skip
    draw_head(canvas, j, person, h)
    image = canvas.image.reshape(height, SS, width, SS, 3).mean(axis=(1, 3))
    image = image * scene.exposure * scene.tint
    if scene.noise:
        image = image + rng.normal(0, scene.noise, image.shape)
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8), keypoints(j)


def draw_head(canvas: Canvas, j: dict[str, np.ndarray], person: Person, h: float) -> None:
    """Paint the head: hair behind, ears, the face, eyes, brows, nose, mouth and the hair on top."""
    c, down, side = j["headCentre"], j["headDown"], j["headSide"]
    hh = person.head * h
    rx, ry = hh * 0.38, hh * 0.5
    if person.long_hair:
        back = c + down * hh * 0.15
        canvas.ellipse(back, side, down, rx * 1.25, ry * 1.05, person.hair)
    for name in ("right", "left"):
        canvas.ellipse(j[f"{name}Ear"], side, down, hh * 0.07, hh * 0.12, person.skin * 0.92)
    canvas.ellipse(c, side, down, rx, ry, person.skin)
    # Hair: the top of the head, down to a fringe above the brows.
    canvas.ellipse(c - down * hh * 0.04, side, down, rx * 1.06, ry * 1.02, person.hair,
                   clip=lambda u, v: v < -0.42 + 0.08 * np.cos(u * 6))  # fmt: skip
    white = np.array([0.95, 0.95, 0.93])
    for name in ("right", "left"):
        eye = j[f"{name}Eye"]
        canvas.ellipse(eye, side, down, hh * 0.075, hh * 0.04, white, shaded=False)
        canvas.ellipse(
            eye, side, down, hh * 0.035, hh * 0.035, np.array([0.12, 0.08, 0.05]), shaded=False
        )
        brow = eye - down * hh * 0.09
        canvas.ellipse(brow, side, down, hh * 0.08, hh * 0.018, person.hair * 0.8, shaded=False)
    nose = j["nose"]
    canvas.ellipse(nose, side, down, hh * 0.05, hh * 0.035, person.skin * 0.78, shaded=False)
    canvas.ellipse(nose - down * hh * 0.05, side, down, hh * 0.025, hh * 0.07, person.skin * 0.9,
                   shaded=False)  # fmt: skip
    mouth = c + down * hh * 0.27
    lips = np.array([0.6, 0.25, 0.25]) * 0.5 + person.skin * 0.4
    canvas.ellipse(mouth, side, down, hh * 0.1, hh * 0.03, lips, shaded=False)


def draw(label: str, rng: np.random.Generator, width: int = WIDTH, height: int = HEIGHT):
    """Draw one random person in a random ``label`` pose; return (image, keypoints)."""
    person = random_person(rng)
    pose = random_pose(label, rng)
    scene = random_scene(rng, width, height)
    return render(person, pose, scene, rng, width, height)


def make_set(count: int, seed: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Draw ``count`` people with balanced labels; image ``i`` depends only on (seed, i).

    Returns the images, their keypoints (count, 17, 2) and label indices.
    """
    images, points = [], []
    labels = np.arange(count) % len(LABELS)
    for i, label in enumerate(labels):
        image, keypoints_xy = draw(LABELS[label], np.random.default_rng([seed, i]))
        images.append(image)
        points.append(keypoints_xy)
    return images, np.stack(points), labels


def draw_sample(label: str, seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw a sample image: as ``draw`` does, without sensor noise (a PNG of ~20 kB, not 200)."""
    rng = np.random.default_rng([seed, index])
    person, pose = random_person(rng), random_pose(label, rng)
    scene = replace(random_scene(rng), noise=0.0)
    return render(person, pose, scene, rng)
