"""Pose exports and camera clips for the pose page's tests.

The shared pose fixture (`pose2-pt`) has no weights.bin (5.9 MB). `write_pose_export` writes a
whole export of Teachable Machine's shape (model.json, metadata.json, weights.bin) with seeded
weights, so a test builds and runs a real head. The scales are chosen from PoseNet's features on
a photo (their norm is ~10³: offsets in pixels dominate), so that the
probabilities move with the picture instead of sitting at 0 and 1.

`read_png` and `write_y4m` make a fake webcam clip (Chromium's
`--use-file-for-fake-video-capture`) from a photo without an imaging library.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np

PACKAGE = "@teachablemachine/pose"
FEATURES = 14_739  # 17×17 positions × (17 scores + 34 offsets)
HIDDEN = 100
POSENET_SETTINGS = {
    "architecture": "MobileNetV1",
    "outputStride": 16,
    "inputResolution": 257,
    "multiplier": 0.75,
}
# Keras's Dense settings a Teachable Machine export leaves null.
UNSET = (
    "kernel_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "bias_constraint",
)
# Standard deviations of the seeded weights (see the module's docstring).
KERNEL1_SCALE = 0.002
BIAS1_SCALE = 0.5
KERNEL2_SCALE = 0.1


def _dense(name: str, units: int, activation: str, bias: bool, input_shape=None) -> dict:
    config = {
        "units": units,
        "activation": activation,
        "use_bias": bias,
        "kernel_initializer": {
            "class_name": "VarianceScaling",
            "config": {"scale": 1, "mode": "fan_in", "distribution": "normal", "seed": None},
        },
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        **dict.fromkeys(UNSET, None),
        "name": name,
        "trainable": True,
    }
    if input_shape is not None:
        config["batch_input_shape"] = input_shape
        config["dtype"] = "float32"
    return {"class_name": "Dense", "config": config}


def pose_model_json(label_count: int) -> dict:
    """Teachable Machine's pose head, as its exports spell it (tfjs-layers 1.7.4)."""
    layers = [
        _dense("dense_Dense1", HIDDEN, "relu", True, [None, FEATURES]),
        {
            "class_name": "Dropout",
            "config": {
                "rate": 0.5,
                "noise_shape": None,
                "seed": None,
                "name": "dropout_Dropout1",
                "trainable": True,
            },
        },
        _dense("dense_Dense2", label_count, "softmax", False),
    ]
    return {
        "modelTopology": {
            "class_name": "Sequential",
            "config": {"name": "sequential_2", "layers": layers},
            "keras_version": "tfjs-layers 1.7.4",
            "backend": "tensor_flow.js",
        },
        "weightsManifest": [
            {
                "paths": ["weights.bin"],
                "weights": [
                    {
                        "name": "dense_Dense1/kernel",
                        "shape": [FEATURES, HIDDEN],
                        "dtype": "float32",
                    },
                    {"name": "dense_Dense1/bias", "shape": [HIDDEN], "dtype": "float32"},
                    {
                        "name": "dense_Dense2/kernel",
                        "shape": [HIDDEN, label_count],
                        "dtype": "float32",
                    },
                ],
            }
        ],
    }


def pose_metadata(labels, model_name: str = "my-pose-model") -> dict:
    return {
        "tfjsVersion": "1.7.4",
        "tmVersion": "0.8.6",
        "packageVersion": "0.8.6",
        "packageName": PACKAGE,
        "timeStamp": "2025-05-29T22:33:44.871Z",
        "userMetadata": {},
        "modelName": model_name,
        "labels": list(labels),
        "modelSettings": {"posenet": dict(POSENET_SETTINGS)},
    }


def pose_head_weights(label_count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The head's seeded weights by name, float32."""
    rng = np.random.default_rng(seed)
    return {
        "dense_Dense1/kernel": rng.normal(0, KERNEL1_SCALE, (FEATURES, HIDDEN)).astype("<f4"),
        "dense_Dense1/bias": rng.normal(0, BIAS1_SCALE, HIDDEN).astype("<f4"),
        "dense_Dense2/kernel": rng.normal(0, KERNEL2_SCALE, (HIDDEN, label_count)).astype("<f4"),
    }


def write_pose_export(folder: Path, labels=("Standing", "Arms up", "Sitting"), seed: int = 0):
    """A Teachable-Machine-shaped pose export in `folder`; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = pose_model_json(len(labels))
    weights = pose_head_weights(len(labels), seed)
    entries = model["weightsManifest"][0]["weights"]
    (folder / "model.json").write_text(json.dumps(model), encoding="utf-8")
    (folder / "metadata.json").write_text(json.dumps(pose_metadata(labels)), encoding="utf-8")
    (folder / "weights.bin").write_bytes(b"".join(weights[e["name"]].tobytes() for e in entries))
    return folder


def head_probabilities(weights: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    """The head in numpy (float64): Dense ReLU, Dense softmax; Dropout does nothing at run time."""
    hidden = np.maximum(
        features @ weights["dense_Dense1/kernel"].astype(np.float64) + weights["dense_Dense1/bias"],
        0,
    )
    logits = hidden @ weights["dense_Dense2/kernel"].astype(np.float64)
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def page_config(html: str) -> dict:
    """The tmbuild-config JSON a built page carries."""
    found = re.search(r'id="tmbuild-config">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


def read_png(path: Path) -> np.ndarray:
    """An 8-bit RGB or RGBA PNG (not interlaced) as an H×W×3 uint8 array."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    at, idat, header = 8, [], None
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        body = data[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        at += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"{path}: unsupported PNG"
    channels = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8)
    stride = width * channels
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), np.int32)
    previous = np.zeros(stride, np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            row = line
        elif kind == 2:
            row = (line + previous) & 255
        else:  # Sub, Average and Paeth read the pixel to the left: byte by byte
            row = np.zeros(stride, np.int32)
            for x in range(stride):
                left = row[x - channels] if x >= channels else 0
                up = previous[x]
                corner = previous[x - channels] if x >= channels else 0
                if kind == 1:
                    guess = left
                elif kind == 3:
                    guess = (left + up) // 2
                else:
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                row[x] = (line[x] + guess) & 255
        out[y] = row
        previous = row
    return out.reshape(height, width, channels)[:, :, :3].astype(np.uint8)


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """Frames (H×W×3 uint8, even sides) as a 4:2:0 y4m clip, BT.601 limited range."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            rgb = frame.astype(np.float64)
            r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
            y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
            u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
            v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
            u = u.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
            v = v.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
            out.write(b"FRAME\n")
            for plane in (y, u, v):
                out.write(np.clip(np.round(plane), 0, 255).astype(np.uint8).tobytes())
    return Path(path)


def photo_clip(photo: Path, path: Path, frames: int = 10, size: tuple[int, int] = (640, 480)):
    """A clip of `photo` centred on a grey canvas of `size` (W×H), the same frame repeated."""
    image = read_png(photo)
    width, height = size
    canvas = np.full((height, width, 3), 128, np.uint8)
    scale = min(width / image.shape[1], height / image.shape[0])
    new_w, new_h = int(image.shape[1] * scale) // 2 * 2, int(image.shape[0] * scale) // 2 * 2
    ys = (np.arange(new_h) / scale).astype(int).clip(0, image.shape[0] - 1)
    xs = (np.arange(new_w) / scale).astype(int).clip(0, image.shape[1] - 1)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = image[ys][:, xs]
    return write_y4m(path, [canvas] * frames)
