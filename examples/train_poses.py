"""Draw posed people, run PoseNet on them and train the example pose model in TM's layout.

Writes ``examples/poses/`` (``model.json``, ``weights.bin``, ``metadata.json``),
``examples/poses-images/<label>/*.png`` and ``examples/poses-clip.y4m``. Needs numpy and the
PoseNet files tmbuild fetches once (``tmbuild.model.posenet.posenet_files``); run it from a
checkout: ``python examples/train_poses.py``. No TensorFlow: PoseNet runs in numpy (the
reference forward pass the tests hold the page to, tests/support/posenet_graph.py) and the head
is trained in numpy.

The model is what Teachable Machine 0.8.6 exports for a pose project: the head only,
``Dense(14739 -> 100, relu)``, ``Dropout(0.5)``, ``Dense(3, softmax)`` without bias, float32
weights, reading PoseNet's features as @teachablemachine/pose hands them over (the frame padded
to a square and resized to 257x257, MobileNetV1 0.75 at output stride 16, then per position the
17 sigmoid heatmap scores and the 34 offsets, flattened). It is trained as Teachable Machine
trains it: Adam at 0.001, batches of 16, 50 epochs, from the same initialisers.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from pose_clip import CLIP_FPS, clip_schedule, draw_clip, read_y4m
from pose_figures import LABELS, draw_sample, make_set
from shapes_drawing import png_bytes

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.pose_export import pose_metadata, pose_model_json, write_y4m  # noqa: E402
from tests.support.posenet_graph import (  # noqa: E402
    posenet_outputs,
    run_graph,
    single_pose,
    teachable_machine_input,
)
from tmbuild.model.posenet import INPUT_RESOLUTION, OUTPUT_STRIDE, posenet_files  # noqa: E402

TRAIN_SEED, TEST_SEED, SAMPLE_SEED, CLIP_SEED, INIT_SEED = 1, 2, 3, 4, 5
SAMPLES_PER_LABEL = 6
MIN_ACCURACY = 0.9
MIN_SAMPLE_PROBABILITY = 0.9  # committed images and clip frames are kept only this clear
HIDDEN = 100
# Teachable Machine's pose training settings (@teachablemachine/pose's defaults).
EPOCHS, BATCH, LEARNING_RATE, DROPOUT = 50, 16, 0.001, 0.5


# --- PoseNet ------------------------------------------------------------------------------


def posenet_input(image: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Return the 257x257 frame PoseNet reads, preprocessed, and (top, left, scale) to map back.

    As @teachablemachine/pose's ``padAndResizeTo``: pad the image to a square with black, as
    much on each side, then tf.image.resizeBilinear without aligned corners (tfjs 1.x maps
    output pixel i to input i * in/out), then posenet's ``x / 127.5 - 1``.
    """
    height, width, _ = image.shape
    # Math.round(0.5 * difference) on both sides, so an odd difference pads one pixel more.
    pad = int(np.floor(0.5 * abs(width - height) + 0.5))
    top, left = (pad, 0) if width > height else (0, pad)
    side = max(height, width) + (pad * 2 - abs(width - height))
    padded = np.zeros((side, side, 3), np.float32)
    padded[top : top + height, left : left + width] = image
    scale = side / INPUT_RESOLUTION
    source = np.arange(INPUT_RESOLUTION) * scale
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, side - 1)
    frac = (source - low).astype(np.float32)
    rows = padded[low] * (1 - frac)[:, None, None] + padded[high] * frac[:, None, None]
    frame = rows[:, low] * (1 - frac)[None, :, None] + rows[:, high] * frac[None, :, None]
    return frame / 127.5 - 1, (top, left, scale)


@functools.cache
def loaded_posenet():
    """Return PoseNet's files, read (and verified) once."""
    return posenet_files()


def posenet(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the head's input (14,739 floats) and the single pose: (17, 3) score, x, y."""
    files = loaded_posenet()
    frame, (top, left, scale) = posenet_input(image)
    outputs = posenet_outputs(run_graph(files.model_json, files.weights, frame))
    flat = teachable_machine_input(outputs["scores"], outputs["offsets"])
    pose = np.array(single_pose(outputs["scores"], outputs["offsets"], OUTPUT_STRIDE))
    points = np.stack([pose[:, 0], pose[:, 2] * scale - left, pose[:, 1] * scale - top], 1)
    return flat, points


def keypoint_report(points: np.ndarray, truth: np.ndarray, shape: tuple) -> tuple[float, float]:
    """Return the mean score and median pixel error of the keypoints inside the image."""
    height, width = shape[:2]
    inside = (truth[..., 0] >= 0) & (truth[..., 0] < width)
    inside &= (truth[..., 1] >= 0) & (truth[..., 1] < height)
    error = np.hypot(points[..., 1] - truth[..., 0], points[..., 2] - truth[..., 1])
    return float(points[..., 0][inside].mean()), float(np.median(error[inside]))


def features_of(images: list[np.ndarray], cache: Path | None, key: str) -> tuple:
    """Return the head inputs and PoseNet's poses of ``images``, cached under ``key``."""
    path = cache / f"{key}.npz" if cache else None
    if path and path.exists():
        saved = np.load(path)
        return saved["features"], saved["poses"]
    started = time.perf_counter()
    results = [posenet(image) for image in images]
    features = np.stack([r[0] for r in results]).astype(np.float32)
    poses = np.stack([r[1] for r in results])
    print(f"  PoseNet on {len(images)} images in {time.perf_counter() - started:.0f} s")
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, features=features, poses=poses)
    return features, poses


# --- The head -----------------------------------------------------------------------------


def init_head(rng: np.random.Generator, inputs: int, labels: int) -> dict[str, np.ndarray]:
    """Return the head's weights from TM's initialisers (VarianceScaling, fan_in, normal)."""

    # tfjs' truncated normal for VarianceScaling(normal) has std sqrt(scale / fan_in) / .8796.
    def kernel(fan_in: int, fan_out: int) -> np.ndarray:
        std = np.sqrt(1 / fan_in) / 0.87962566103423978
        return np.clip(rng.normal(0, std, (fan_in, fan_out)), -2 * std, 2 * std)

    return {
        "dense_Dense1/kernel": kernel(inputs, HIDDEN),
        "dense_Dense1/bias": np.zeros(HIDDEN),
        "dense_Dense2/kernel": kernel(HIDDEN, labels),
    }


def head_forward(weights: dict, x: np.ndarray, keep: np.ndarray | None = None) -> tuple:
    """Return the probabilities and the hidden layer; ``keep`` is the dropout mask, if training."""
    hidden = np.maximum(x @ weights["dense_Dense1/kernel"] + weights["dense_Dense1/bias"], 0)
    if keep is not None:
        hidden = hidden * keep / (1 - DROPOUT)
    logits = hidden @ weights["dense_Dense2/kernel"]
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True), hidden


def train(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Train the head with Adam on cross-entropy, seeded (shuffles, dropout, initial weights)."""
    rng = np.random.default_rng(seed)
    weights = init_head(rng, x.shape[1], len(LABELS))
    x = x.astype(np.float64)
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in weights.items()}
    beta1, beta2, eps, step = 0.9, 0.999, 1e-7, 0
    for epoch in range(EPOCHS):
        order = rng.permutation(len(x))
        losses = []
        for start in range(0, len(x), BATCH):
            batch = order[start : start + BATCH]
            xb, yb = x[batch], y[batch]
            keep = rng.random((len(batch), HIDDEN)) >= DROPOUT
            probs, hidden = head_forward(weights, xb, keep)
            losses.append(-np.log(probs[np.arange(len(batch)), yb] + 1e-12).mean())
            grad_logits = probs.copy()
            grad_logits[np.arange(len(batch)), yb] -= 1
            grad_logits /= len(batch)
            grad_hidden = grad_logits @ weights["dense_Dense2/kernel"].T
            grad_hidden *= (hidden > 0) * keep / (1 - DROPOUT)
            grads = {
                "dense_Dense2/kernel": hidden.T @ grad_logits,
                "dense_Dense1/kernel": xb.T @ grad_hidden,
                "dense_Dense1/bias": grad_hidden.sum(axis=0),
            }
            step += 1
            for name, grad in grads.items():
                m, v = moments[name]
                m *= beta1
                m += (1 - beta1) * grad
                v *= beta2
                v += (1 - beta2) * grad * grad
                lr = LEARNING_RATE * np.sqrt(1 - beta2**step) / (1 - beta1**step)
                weights[name] -= lr * m / (np.sqrt(v) + eps)
        if epoch % 10 == 9 or epoch == EPOCHS - 1:
            accuracy = (predict(weights, x).argmax(axis=1) == y).mean()
            print(
                f"  epoch {epoch + 1}: loss {np.mean(losses):.4f}, training accuracy {accuracy:.1%}"
            )
    return {k: v.astype(np.float32) for k, v in weights.items()}


def predict(weights: dict, x: np.ndarray) -> np.ndarray:
    """Return the head's probabilities (float64), as at run time (no dropout)."""
    as64 = {k: v.astype(np.float64) for k, v in weights.items()}
    return head_forward(as64, np.asarray(x, np.float64))[0]


def write_export(weights: dict[str, np.ndarray], out: Path) -> None:
    """Write model.json, weights.bin and metadata.json as Teachable Machine 0.8.6 does."""
    model = pose_model_json(len(LABELS))
    entries = model["weightsManifest"][0]["weights"]
    compact = {"separators": (",", ":"), "ensure_ascii": False}
    metadata = pose_metadata(LABELS, "poses") | {"timeStamp": "2025-01-01T00:00:00.000Z"}
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.json").write_text(json.dumps(model, **compact), encoding="utf-8")
    (out / "metadata.json").write_text(json.dumps(metadata, **compact), encoding="utf-8")
    data = b"".join(np.asarray(weights[e["name"]], "<f4").tobytes() for e in entries)
    (out / "weights.bin").write_bytes(data)


def read_export(out: Path) -> dict[str, np.ndarray]:
    """Read the head's weights back from the written files alone (a check of the writer)."""
    model = json.loads((out / "model.json").read_text(encoding="utf-8"))
    data, offset, weights = (out / "weights.bin").read_bytes(), 0, {}
    for entry in model["weightsManifest"][0]["weights"]:
        count = int(np.prod(entry["shape"]))
        weights[entry["name"]] = np.frombuffer(data, "<f4", count, offset).reshape(entry["shape"])
        offset += 4 * count
    if offset != len(data):
        raise ValueError(f"weights.bin holds {len(data)} bytes, the manifest {offset}")
    return weights


# --- Samples and the clip -----------------------------------------------------------------


def write_samples(weights: dict, folder: Path) -> dict:
    """Write SAMPLES_PER_LABEL clear images per label; return what was tried and PoseNet's marks.

    An image is kept when the model gives its label at least MIN_SAMPLE_PROBABILITY: the
    committed images are for tests that expect their label, not a measure of the model.
    """
    tried, kept, marks = 0, dict.fromkeys(LABELS, 0), []
    for label in LABELS:
        (folder / label).mkdir(parents=True, exist_ok=True)
        for stale in (folder / label).glob("*.png"):
            stale.unlink()
    index = 0
    while min(kept.values()) < SAMPLES_PER_LABEL:
        label = LABELS[index % len(LABELS)]
        if kept[label] < SAMPLES_PER_LABEL:
            tried += 1
            image, truth = draw_sample(label, SAMPLE_SEED, index)
            flat, points = posenet(image)
            probs = predict(weights, flat[None])[0]
            if probs[LABELS.index(label)] >= MIN_SAMPLE_PROBABILITY:
                kept[label] += 1
                (folder / label / f"{index:03d}.png").write_bytes(png_bytes(image))
                marks.append(keypoint_report(points, truth, image.shape))
        index += 1
    return {"tried": tried, "marks": np.array(marks)}


def write_clip(weights: dict, path: Path) -> int:
    """Write the clip from the first seed whose held frames all read as their label; return it."""
    schedule = clip_schedule()
    for seed in range(CLIP_SEED, CLIP_SEED + 50):
        write_y4m(path, draw_clip(seed), CLIP_FPS)
        frames = read_y4m(path.read_bytes())  # what the camera shows, after YUV's rounding
        ok = True
        for frame, label in zip(frames, schedule, strict=True):
            if label is not None:
                probs = predict(weights, posenet(frame)[0][None])[0]
                ok = probs[LABELS.index(label)] >= MIN_SAMPLE_PROBABILITY
                if not ok:
                    break
        if ok:
            return seed
        print(f"  clip seed {seed}: a held frame is not clearly its label; next seed")
    raise SystemExit("No clip seed gave clear labels: clip not written.")


def source_hash() -> str:
    """Return a hash of the drawing module, so cached features follow its changes."""
    text = (Path(__file__).parent / "pose_figures.py").read_bytes()
    return hashlib.sha256(text).hexdigest()[:12]


def main() -> None:
    """Draw, run PoseNet, train, check, then write the export, the images and the clip."""
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=450, help="training images")
    parser.add_argument("--test", type=int, default=150, help="held-out images")
    parser.add_argument("--out", type=Path, default=here, help="folder for poses/ and the rest")
    parser.add_argument("--cache", type=Path, help="folder to keep PoseNet's features in")
    args = parser.parse_args()

    started = time.perf_counter()
    tag = source_hash()
    sets = {}
    for name, count, seed in (
        ("training", args.train, TRAIN_SEED),
        ("held-out", args.test, TEST_SEED),
    ):
        images, truth, labels = make_set(count, seed)
        features, poses = features_of(images, args.cache, f"{tag}-{seed}-{count}")
        score, error = keypoint_report(poses, truth, images[0].shape)
        print(f"{name}: {count} images; PoseNet's keypoints: mean score {score:.2f}, "
              f"median error {error:.1f} px")  # fmt: skip
        sets[name] = (features, labels)
    train_x, train_y = sets["training"]
    test_x, test_y = sets["held-out"]

    weights = train(train_x, train_y, INIT_SEED)
    guess = predict(weights, test_x).argmax(axis=1)
    accuracy = float((guess == test_y).mean())
    print(f"Held-out accuracy {accuracy:.1%} ({(guess == test_y).sum()} of {len(test_y)})")
    for k, label in enumerate(LABELS):
        mistaken = ", ".join(
            f"{np.sum(guess[test_y == k] == other)} as {LABELS[other]}"
            for other in range(len(LABELS))
            if other != k and np.any(guess[test_y == k] == other)
        )
        print(f"  {label}: {np.sum(guess[test_y == k] == k)} of {np.sum(test_y == k)} right"
              + (f" ({mistaken})" if mistaken else ""))  # fmt: skip
    if accuracy < MIN_ACCURACY:
        raise SystemExit(f"Held-out accuracy is below {MIN_ACCURACY:.0%}: nothing written.")

    export = args.out / "poses"
    write_export(weights, export)
    reread = read_export(export)
    if np.abs(predict(reread, test_x) - predict(weights, test_x)).max() > 1e-6:
        raise SystemExit("The written export does not reproduce the model's predictions.")
    samples = write_samples(reread, args.out / "poses-images")
    score, error = samples["marks"].mean(axis=0)
    print(f"Images: kept {len(samples['marks'])} of {samples['tried']} tried; PoseNet's "
          f"keypoints: mean score {score:.2f}, median error {error:.1f} px")  # fmt: skip
    seed = write_clip(reread, args.out / "poses-clip.y4m")
    print(f"Clip: seed {seed}, {(args.out / 'poses-clip.y4m').stat().st_size / 1e6:.2f} MB")
    print(f"Done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
