"""Draw synthetic shapes and train the example model in Teachable Machine's export layout.

Writes ``examples/shapes/`` (``model.json``, ``weights.bin``, ``metadata.json``) and
``examples/samples/*.png``. Needs the heavy extra: ``pip install -e '.[tfjs]'``, then
``python examples/train_shapes.py``.

The model mirrors what Teachable Machine exports for an image project: an outer
``Sequential`` holding a truncated-MobileNet base (a functional ``Model`` followed by
``GlobalAveragePooling2D``) and a head (``Dense(100, relu)``, ``Dense(N, softmax)`` without
bias), input ``[null, 224, 224, 3]`` preprocessed as ``x / 127 - 1``. The base here is a small
MobileNetV1-style network trained from scratch, so the weights file stays well under 1 MB.
``model.json`` is written from the same layer list the Keras model is built from.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from shapes_drawing import LABELS, SIZE, draw, make_set, png_bytes

TRAIN_SEED, TEST_SEED, SAMPLE_SEED = 1, 2, 3
SAMPLES = ("circle", "circle", "square", "square", "triangle", "triangle", "star", "star")

# (stride, output channels) of each depthwise-separable block after the first convolution:
# 224 -> 112 (first convolution) -> 56 -> 56 -> 28 -> 28 -> 14 -> 7.
BLOCKS = ((2, 32), (1, 64), (2, 96), (1, 96), (2, 160), (2, 256))
FIRST_FILTERS = 16
BN_MOMENTUM = 0.99
BN_EPSILON = 0.001

# Teachable Machine's metadata fields, in its order. The time stamp is fixed so that two runs
# write the same file.
METADATA = {
    "tfjsVersion": "1.7.4",
    "tmVersion": "2.4.12",
    "packageVersion": "0.8.4-alpha2",
    "packageName": "@teachablemachine/image",
    "timeStamp": "2025-01-01T00:00:00.000Z",
    "userMetadata": {},
    "modelName": "shapes",
    "labels": list(LABELS),
    "imageSize": SIZE,
}

# --- The model, as tfjs-layers JSON -------------------------------------------------------


def initializer(class_name: str, **config: Any) -> dict:
    """Return an initializer as tfjs-layers serialises it."""
    return {"class_name": class_name, "config": config}


def nulls(*keys: str) -> dict:
    """Return ``{key: None}`` for the regularizers and constraints no layer here uses."""
    return dict.fromkeys(keys, None)


GLOROT_UNIFORM = initializer(
    "VarianceScaling", scale=1, mode="fan_avg", distribution="uniform", seed=None
)
LECUN_NORMAL = initializer(
    "VarianceScaling", scale=1, mode="fan_in", distribution="normal", seed=None
)
ZEROS, ONES = initializer("Zeros"), initializer("Ones")
BN_CONFIG = {
    "axis": -1,
    "momentum": BN_MOMENTUM,
    "epsilon": BN_EPSILON,
    "center": True,
    "scale": True,
    "beta_initializer": ZEROS,
    "gamma_initializer": ONES,
    "moving_mean_initializer": ZEROS,
    "moving_variance_initializer": ONES,
    **nulls("beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"),
}
PAD_CONFIG = {"padding": [[0, 1], [0, 1]], "data_format": "channels_last"}
RELU6_CONFIG = {"max_value": 6}


def spatial_config(kernel: int, strides: int, padding: str) -> dict:
    """Return the keys Conv2D and DepthwiseConv2D share (linear, no bias)."""
    return {
        "kernel_size": [kernel, kernel],
        "strides": [strides, strides],
        "padding": padding,
        "data_format": "channels_last",
        "dilation_rate": [1, 1],
        "activation": "linear",
        "use_bias": False,
        "bias_initializer": ZEROS,
        **nulls("bias_regularizer", "activity_regularizer", "bias_constraint"),
    }


def conv_config(filters: int, kernel: int, strides: int, padding: str) -> dict:
    """Return the config of a Conv2D."""
    return {
        "filters": filters,
        "kernel_initializer": GLOROT_UNIFORM,
        **nulls("kernel_regularizer", "kernel_constraint"),
        **spatial_config(kernel, strides, padding),
    }


def depthwise_config(strides: int, padding: str) -> dict:
    """Return the config of a 3x3 DepthwiseConv2D."""
    return {
        **spatial_config(3, strides, padding),
        "depth_multiplier": 1,
        "depthwise_initializer": GLOROT_UNIFORM,
        **nulls("depthwise_regularizer", "depthwise_constraint"),
    }


def functional_layer(name: str, class_name: str, config: dict, inbound: str | None) -> dict:
    """Return one layer of a functional ``Model``, inbound nodes in tfjs-layers 1.x style."""
    return {
        "name": name,
        "class_name": class_name,
        "config": {**config, "name": name, "trainable": True},
        "inbound_nodes": [[[inbound, 0, 0, {}]]] if inbound else [],
    }


def base_layers() -> list[dict]:
    """Return the layers of the truncated MobileNetV1-style base, input first."""
    input_config = {"batch_input_shape": [None, SIZE, SIZE, 3], "dtype": "float32", "sparse": False}
    layers = [functional_layer("input_1", "InputLayer", input_config, None)]
    del layers[0]["config"]["trainable"]  # an InputLayer has no "trainable" in tfjs' JSON

    def add(name: str, class_name: str, config: dict) -> None:
        layers.append(functional_layer(name, class_name, config, layers[-1]["name"]))

    # Stride-2 layers pad bottom and right by one and use "valid" padding, as Keras' MobileNets
    # (and so Teachable Machine's exports) do; on even sizes this equals TensorFlow's "same".
    add("conv1_pad", "ZeroPadding2D", PAD_CONFIG)
    add("conv1", "Conv2D", conv_config(FIRST_FILTERS, 3, 2, "valid"))
    add("conv1_bn", "BatchNormalization", BN_CONFIG)
    add("conv1_relu", "ReLU", RELU6_CONFIG)
    for i, (stride, filters) in enumerate(BLOCKS, start=1):
        if stride == 2:
            add(f"conv_pad_{i}", "ZeroPadding2D", PAD_CONFIG)
        add(
            f"conv_dw_{i}",
            "DepthwiseConv2D",
            depthwise_config(stride, "same" if stride == 1 else "valid"),
        )
        add(f"conv_dw_{i}_bn", "BatchNormalization", BN_CONFIG)
        add(f"conv_dw_{i}_relu", "ReLU", RELU6_CONFIG)
        add(f"conv_pw_{i}", "Conv2D", conv_config(filters, 1, 1, "same"))
        add(f"conv_pw_{i}_bn", "BatchNormalization", BN_CONFIG)
        add(f"conv_pw_{i}_relu", "ReLU", RELU6_CONFIG)
    return layers


def dense(name: str, units: int, activation: str, use_bias: bool) -> dict:
    """Return a Dense layer as a Sequential holds it (no name or inbound nodes outside)."""
    config = {
        "units": units,
        "activation": activation,
        "use_bias": use_bias,
        "kernel_initializer": LECUN_NORMAL,
        "bias_initializer": ZEROS,
        **nulls("kernel_regularizer", "bias_regularizer", "activity_regularizer"),
        **nulls("kernel_constraint", "bias_constraint"),
    }
    return {"class_name": "Dense", "config": {**config, "name": name, "trainable": True}}


def sequential(name: str, layers: list[dict]) -> dict:
    """Return a Sequential model as tfjs-layers serialises it."""
    return {"class_name": "Sequential", "config": {"name": name, "layers": layers}}


def topology() -> dict:
    """Return ``modelTopology``: Sequential(Sequential(Model, GAP), Sequential(Dense, Dense))."""
    base = base_layers()
    model = {
        "class_name": "Model",
        "config": {
            "name": "model1",
            "layers": base,
            "input_layers": [[base[0]["name"], 0, 0]],
            "output_layers": [[base[-1]["name"], 0, 0]],
        },
    }
    pooling = {
        "class_name": "GlobalAveragePooling2D",
        "config": {
            "data_format": "channels_last",
            "name": "global_average_pooling2d_GlobalAveragePooling2D1",
            "trainable": True,
        },
    }
    # The head is a model of its own, so its first layer declares the input shape.
    hidden = dense("dense_Dense1", 100, "relu", use_bias=True)
    hidden["config"] |= {"batch_input_shape": [None, BLOCKS[-1][1]], "dtype": "float32"}
    head = [hidden, dense("dense_Dense2", len(LABELS), "softmax", use_bias=False)]
    outer = sequential(
        "sequential_3",
        [sequential("sequential_1", [model, pooling]), sequential("sequential_2", head)],
    )
    return {**outer, "keras_version": "tfjs-layers 1.7.4", "backend": "tensor_flow.js"}


def flat_layers(topo: dict) -> list[dict]:
    """Return every layer of the topology in execution order (input layer excluded)."""
    base_seq, head_seq = topo["config"]["layers"]
    model, pooling = base_seq["config"]["layers"]
    return [*model["config"]["layers"][1:], pooling, *head_seq["config"]["layers"]]


# --- Keras --------------------------------------------------------------------------------


def keras_model(topo: dict) -> Any:
    """Build a flat Keras model from the layers of ``topo``: same names, same configs."""
    import keras

    inputs = keras.Input((SIZE, SIZE, 3), name="input_1")
    x = inputs
    for layer in flat_layers(topo):
        # Keras 3 reads tfjs-layers configs as they are, bar the head's own input shape.
        config = {k: v for k, v in layer["config"].items() if k != "batch_input_shape"}
        x = getattr(keras.layers, layer["class_name"]).from_config(config)(x)
    return keras.Model(inputs, x, name="shapes")


WEIGHT_SUFFIXES = {
    "Conv2D": ("kernel", "bias"),
    "DepthwiseConv2D": ("depthwise_kernel", "bias"),
    "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance"),
    "Dense": ("kernel", "bias"),
}


def layer_weight_names(layer: Any) -> list[str]:
    """Return the tfjs names (``<layer>/<weight>``) of a layer's weights, in Keras' order."""
    suffixes = WEIGHT_SUFFIXES.get(type(layer).__name__, ())
    return [f"{layer.name}/{s}" for s in suffixes[: len(layer.weights)]]


def write_export(model: Any, topo: dict, out: Path) -> None:
    """Write model.json, weights.bin and metadata.json the way Teachable Machine does."""
    weights = {}
    for layer in model.layers:
        weights.update(zip(layer_weight_names(layer), layer.get_weights(), strict=True))
    # Teachable Machine's order: trainable weights first, then the BatchNorm statistics.
    names = sorted(weights, key=lambda n: n.endswith(("/moving_mean", "/moving_variance")))
    data = b"".join(np.asarray(weights[n], dtype="<f4").tobytes() for n in names)
    manifest = [{"name": n, "shape": list(weights[n].shape), "dtype": "float32"} for n in names]
    model_json = {
        "modelTopology": topo,
        "weightsManifest": [{"paths": ["weights.bin"], "weights": manifest}],
    }
    compact = {"separators": (",", ":"), "ensure_ascii": False}
    out.mkdir(parents=True, exist_ok=True)
    (out / "weights.bin").write_bytes(data)
    (out / "model.json").write_text(json.dumps(model_json, **compact), encoding="utf-8")
    (out / "metadata.json").write_text(json.dumps(METADATA, **compact), encoding="utf-8")


def read_export(out: Path) -> Any:
    """Rebuild a Keras model from the written files alone (a check of the writer)."""
    model_json = json.loads((out / "model.json").read_text(encoding="utf-8"))
    model = keras_model(model_json["modelTopology"])
    (group,) = model_json["weightsManifest"]
    data = np.frombuffer((out / group["paths"][0]).read_bytes(), dtype="<f4")
    values, offset = {}, 0
    for spec in group["weights"]:
        size = math.prod(spec["shape"])
        values[spec["name"]] = data[offset : offset + size].reshape(spec["shape"])
        offset += size
    if offset != data.size:
        raise ValueError(f"{group['paths'][0]} holds {data.size} floats, the manifest {offset}")
    for layer in model.layers:
        if names := layer_weight_names(layer):
            layer.set_weights([values[n] for n in names])
    return model


# --- Training -----------------------------------------------------------------------------


def train(model: Any, images: np.ndarray, labels: np.ndarray, epochs: int) -> None:
    """Train end to end with Adam and a cosine-decayed learning rate."""
    import keras
    import tensorflow as tf

    batch = 32
    steps = epochs * math.ceil(len(images) / batch)
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, steps, warmup_target=None)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    data = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .shuffle(len(images), seed=TRAIN_SEED, reshuffle_each_iteration=True)
        .batch(batch)
        .map(lambda x, y: (tf.cast(x, tf.float32) / 127 - 1, y))
        .prefetch(2)
    )
    model.fit(data, epochs=epochs, shuffle=False, verbose=2)  # the dataset shuffles itself


def preprocess(images: np.ndarray) -> np.ndarray:
    """Scale uint8 pixels like Teachable Machine does: ``x / 127 - 1`` (127, not 127.5)."""
    return images.astype(np.float32) / 127 - 1


def predict(model: Any, images: np.ndarray) -> np.ndarray:
    """Return class probabilities for uint8 images."""
    return np.concatenate(
        [model.predict_on_batch(preprocess(images[i : i + 64])) for i in range(0, len(images), 64)]
    )


def write_samples(folder: Path) -> dict[str, np.ndarray]:
    """Draw the sample images (not in the training set) as ``<label>-<n>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    samples: dict[str, np.ndarray] = {}
    for i, label in enumerate(SAMPLES):
        name = f"{label}-{sum(n.startswith(label + '-') for n in samples) + 1}.png"
        # Noise-free, so that each PNG is a few kB instead of ~100 kB.
        samples[name] = draw(label, np.random.default_rng([SAMPLE_SEED, i]), noise=False)
        (folder / name).write_bytes(png_bytes(samples[name]))
    return samples


def main() -> None:
    """Draw the data, train, check and write the export and the sample images."""
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=5000, help="training images")
    parser.add_argument("--test", type=int, default=1000, help="held-out images")
    parser.add_argument("--epochs", type=int, default=6, help="passes over the training images")
    parser.add_argument("--out", type=Path, default=here, help="folder for shapes/ and samples/")
    parser.add_argument("--probs-out", type=Path, help="write the samples' Keras probabilities")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(TRAIN_SEED)
    tf.config.experimental.enable_op_determinism()

    started = time.perf_counter()
    train_x, train_y = make_set(args.train, TRAIN_SEED)
    test_x, test_y = make_set(args.test, TEST_SEED)
    seconds = time.perf_counter() - started
    print(f"Drew {len(train_x)} training and {len(test_x)} held-out images in {seconds:.0f} s")

    topo = topology()
    model = keras_model(topo)
    started = time.perf_counter()
    train(model, train_x, train_y, args.epochs)
    train_seconds = time.perf_counter() - started

    test_pred = predict(model, test_x).argmax(axis=1)
    accuracy = float((test_pred == test_y).mean())
    print(f"Trained in {train_seconds:.0f} s; held-out accuracy {accuracy:.2%} on {len(test_x)}")
    confusion = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    np.add.at(confusion, (test_y, test_pred), 1)
    print("Confusion (rows: true label; columns: predicted, same order):")
    for label, row in zip(LABELS, confusion, strict=True):
        print(f"  {label:>10}", *(f"{n:4d}" for n in row))
    if accuracy < 0.95:
        raise SystemExit("Held-out accuracy is below 95%: nothing written.")

    shapes_dir = args.out / "shapes"
    write_export(model, topo, shapes_dir)

    samples = write_samples(args.out / "samples")
    probs = predict(model, np.stack(list(samples.values())))
    reread = predict(read_export(shapes_dir), np.stack(list(samples.values())))
    if np.abs(probs - reread).max() > 1e-5:
        raise SystemExit("The written export does not reproduce the model's predictions.")
    for name, p in zip(samples, probs, strict=True):
        print(f"  {name:16} -> {LABELS[p.argmax()]} ({p.max():.3f})")
    if args.probs_out:
        table = {name: p.tolist() for name, p in zip(samples, probs, strict=True)}
        args.probs_out.write_text(json.dumps(table, indent=1), encoding="utf-8")

    size = sum(f.stat().st_size for f in shapes_dir.iterdir())
    print(f"Wrote {shapes_dir} ({size / 1e6:.2f} MB) and {len(samples)} samples")


if __name__ == "__main__":
    main()
