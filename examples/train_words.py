"""Make spoken words with espeak-ng and sox and train the example audio model in TM's layout.

Writes ``examples/words/`` (``model.json``, ``weights.bin``, ``metadata.json``) and
``examples/words-clips/<label>/*.wav``. Needs Debian's ``espeak-ng`` and ``sox`` and the heavy
extra: ``pip install -e '.[tfjs]'``, then ``python examples/train_words.py``.

The model has the topology of a Teachable Machine audio export: speech-commands' "browser FFT"
network (input ``[null, 43, 232, 1]``, four Conv2D + MaxPooling2D blocks, Flatten, Dropout,
Dense 2000) as a functional ``Model`` whose last layer is a nested ``Sequential`` holding the
head, ``Dense(N, softmax)`` named ``NewHeadDense``. Teachable Machine trains only that head on
top of a pretrained network; there is none here, so the whole network is trained from scratch.
The weights are stored as TensorFlow.js' uint8 affine quantisation (``quantization`` entries in
the manifest), which tfjs-layers' loadLayersModel reads as it is.
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
from words_sounds import (
    BACKGROUND,
    BINS,
    FRAMES,
    HOP,
    LABELS,
    SPAN,
    make_set,
    spectrogram,
)

TRAIN_SEED, TEST_SEED = 1, 2

# speech-commands' metadata fields, in its order; the time stamp is fixed so that two runs
# write the same file.
METADATA = {
    "tfjsSpeechCommandsVersion": "0.4.0",
    "modelName": "TMv2",
    "timeStamp": "2025-01-01T00:00:00.000Z",
    "wordLabels": list(LABELS),
}

# --- The model, as tfjs-layers JSON -------------------------------------------------------


def initializer(class_name: str, **config: Any) -> dict:
    """Return an initializer as tfjs-layers serialises it."""
    return {"class_name": class_name, "config": config}


GLOROT_UNIFORM = initializer(
    "VarianceScaling", scale=1, mode="fan_avg", distribution="uniform", seed=None
)
GLOROT_NORMAL = initializer(
    "VarianceScaling", scale=1, mode="fan_avg", distribution="normal", seed=None
)
ZEROS = initializer("Zeros")
NO_EXTRAS = dict.fromkeys(
    ("bias_regularizer", "activity_regularizer", "bias_constraint"),
)

# (filters, kernel) of each Conv2D and (pool, strides) of the MaxPooling2D after it.
CONV_BLOCKS = (
    (8, [2, 8], [2, 2], [2, 2]),
    (32, [2, 4], [2, 2], [2, 2]),
    (32, [2, 4], [2, 2], [2, 2]),
    (32, [2, 4], [2, 2], [1, 2]),
)
DROPOUT, HIDDEN = 0.25, 2000


def conv(n: int, filters: int, kernel: list[int]) -> dict:
    """Return the config of speech-commands' n-th Conv2D (frozen, as TM exports it)."""
    return {
        "filters": filters,
        "kernel_initializer": GLOROT_UNIFORM,
        "kernel_regularizer": None,
        "kernel_constraint": None,
        "kernel_size": kernel,
        "strides": [1, 1],
        "padding": "valid",
        "data_format": "channels_last",
        "dilation_rate": [1, 1],
        "activation": "relu",
        "use_bias": True,
        "bias_initializer": ZEROS,
        **NO_EXTRAS,
        "name": f"conv2d_{n}",
        "trainable": False,
    }


def dense(name: str, units: int, activation: str, kernel: dict, trainable: bool) -> dict:
    """Return the config of a Dense layer."""
    return {
        "units": units,
        "activation": activation,
        "use_bias": True,
        "kernel_initializer": kernel,
        "bias_initializer": ZEROS,
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
        "name": name,
        "trainable": trainable,
    }


def topology() -> dict:
    """Return ``modelTopology``: a functional Model ending in a Sequential with the head."""
    input_shape = [None, FRAMES, BINS, 1]
    layers: list[dict] = [
        {
            "name": "conv2d_1_input",
            "class_name": "InputLayer",
            "config": {
                "batch_input_shape": input_shape,
                "dtype": "float32",
                "sparse": False,
                "name": "conv2d_1_input",
            },
            "inbound_nodes": [],
        }
    ]

    def add(class_name: str, config: dict) -> None:
        inbound = [[[layers[-1]["name"], 0, 0, {}]]]
        layers.append(
            {
                "name": config["name"],
                "class_name": class_name,
                "config": config,
                "inbound_nodes": inbound,
            }
        )

    for n, (filters, kernel, pool, strides) in enumerate(CONV_BLOCKS, start=1):
        config = conv(n, filters, kernel)
        if n == 1:
            config |= {"batch_input_shape": input_shape, "dtype": "float32"}
        add("Conv2D", config)
        pooling = {
            "pool_size": pool,
            "padding": "valid",
            "strides": strides,
            "data_format": "channels_last",
            "name": f"max_pooling2d_{n}",
            "trainable": False,
        }
        add("MaxPooling2D", pooling)
    add("Flatten", {"name": "flatten_1", "trainable": False})
    dropout = {"rate": DROPOUT, "noise_shape": None, "seed": None}
    add("Dropout", {**dropout, "name": "dropout_1", "trainable": False})
    add("Dense", dense("dense_1", HIDDEN, "relu", GLOROT_UNIFORM, trainable=False))
    head = dense("NewHeadDense", len(LABELS), "softmax", GLOROT_NORMAL, trainable=True)
    head |= {"batch_input_shape": [None, HIDDEN], "dtype": "float32"}
    sequential = {"name": "sequential_3", "layers": [{"class_name": "Dense", "config": head}]}
    add("Sequential", sequential)
    return {
        "class_name": "Model",
        "config": {
            "name": "model1",
            "layers": layers,
            "input_layers": [["conv2d_1_input", 0, 0]],
            # Node 1: a Sequential's node 0 is its own, made when it is built; calling it on
            # dense_1 makes node 1 (so tfjs-layers finds the output where TM's exports put it).
            "output_layers": [["sequential_3", 1, 0]],
        },
        "keras_version": "tfjs-layers 1.3.1",
        "backend": "tensor_flow.js",
    }


def flat_layers(topo: dict) -> list[dict]:
    """Return every layer config in execution order, the head's Dense last (input excluded)."""
    *base, sequential = topo["config"]["layers"][1:]
    return [*base, *sequential["config"]["layers"]]


# --- Keras --------------------------------------------------------------------------------


def keras_model(topo: dict) -> Any:
    """Build a flat Keras model from the layers of ``topo``: same names, same configs."""
    import keras

    inputs = keras.Input((FRAMES, BINS, 1), name="conv2d_1_input")
    x = inputs
    for layer in flat_layers(topo):
        # Everything is trained here; the JSON keeps TM's frozen base all the same.
        drop = ("batch_input_shape", "dtype")
        config = {k: v for k, v in layer["config"].items() if k not in drop} | {"trainable": True}
        x = getattr(keras.layers, layer["class_name"]).from_config(config)(x)
    return keras.Model(inputs, x, name="words")


# The manifest's order in Teachable Machine's audio exports: the new head, then the base.
WEIGHT_LAYERS = ("NewHeadDense", "conv2d_1", "conv2d_2", "conv2d_3", "conv2d_4", "dense_1")


def quantised(values: np.ndarray) -> tuple[bytes, dict]:
    """Return uint8 levels and their manifest entry's quantization, as tensorflowjs makes them."""
    from tensorflowjs.quantization import quantize_weights

    levels, meta = quantize_weights(values.astype(np.float32), np.uint8)
    entry = {"dtype": "uint8", "min": float(meta["min"]), "scale": float(meta["scale"])}
    return levels.tobytes(), entry | {"original_dtype": "float32"}


def write_export(model: Any, topo: dict, out: Path) -> None:
    """Write model.json, weights.bin (uint8) and metadata.json as a TM audio export."""
    data, manifest = [], []
    for name in WEIGHT_LAYERS:
        for suffix, values in zip(
            ("kernel", "bias"), model.get_layer(name).get_weights(), strict=True
        ):
            levels, quantization = quantised(values)
            data.append(levels)
            manifest.append(
                {
                    "name": f"{name}/{suffix}",
                    "shape": list(values.shape),
                    "dtype": "float32",
                    "quantization": quantization,
                }
            )
    model_json = {
        "modelTopology": topo,
        "weightsManifest": [{"paths": ["weights.bin"], "weights": manifest}],
    }
    compact = {"separators": (",", ":"), "ensure_ascii": False}
    out.mkdir(parents=True, exist_ok=True)
    (out / "weights.bin").write_bytes(b"".join(data))
    (out / "model.json").write_text(json.dumps(model_json, **compact), encoding="utf-8")
    (out / "metadata.json").write_text(json.dumps(METADATA, **compact), encoding="utf-8")


def read_export(out: Path) -> Any:
    """Rebuild a Keras model from the written files alone (a check of the writer)."""
    model_json = json.loads((out / "model.json").read_text(encoding="utf-8"))
    model = keras_model(model_json["modelTopology"])
    (group,) = model_json["weightsManifest"]
    data = (out / group["paths"][0]).read_bytes()
    values, offset = {}, 0
    for spec in group["weights"]:
        size, q = math.prod(spec["shape"]), spec["quantization"]
        levels = np.frombuffer(data, np.uint8, size, offset).astype(np.float64)
        # As tfjs does it: level * scale + min, stored as float32.
        values[spec["name"]] = (levels * q["scale"] + q["min"]).astype(np.float32)
        values[spec["name"]] = values[spec["name"]].reshape(spec["shape"])
        offset += size
    if offset != len(data):
        raise ValueError(f"{group['paths'][0]} holds {len(data)} bytes, the manifest {offset}")
    for name in WEIGHT_LAYERS:
        model.get_layer(name).set_weights([values[f"{name}/kernel"], values[f"{name}/bias"]])
    return model


# --- Training -----------------------------------------------------------------------------


def train(model: Any, x: np.ndarray, y: np.ndarray, epochs: int) -> None:
    """Train end to end with Adam and a cosine-decayed learning rate."""
    import keras
    import tensorflow as tf

    batch = 64
    steps = epochs * math.ceil(len(x) / batch)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    data = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=TRAIN_SEED, reshuffle_each_iteration=True)
        .batch(batch)
        .prefetch(2)
    )
    model.fit(data, epochs=epochs, shuffle=False, verbose=2)  # the dataset shuffles itself


def predict(model: Any, x: np.ndarray) -> np.ndarray:
    """Return class probabilities for spectrograms."""
    return np.concatenate(
        [np.asarray(model.predict_on_batch(x[i : i + 256])) for i in range(0, len(x), 256)]
    )


def confusion(truth: np.ndarray, guess: np.ndarray) -> None:
    """Print a confusion table."""
    table = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    np.add.at(table, (truth, guess), 1)
    print("Confusion (rows: true label; columns: predicted, same order):")
    for label, row in zip(LABELS, table, strict=True):
        print(f"  {label:>18}", *(f"{n:5d}" for n in row))


# --- Clips --------------------------------------------------------------------------------


def streamed(model: Any, audio: np.ndarray, loops: int = 3) -> np.ndarray:
    """Return the probabilities of every 43-frame window of a looped clip, a hop apart.

    A fake microphone plays a clip in a loop; the page classifies what the last second holds.
    """
    looped = np.tile(audio, loops)
    ends = range(SPAN, len(looped) + 1, HOP)
    return predict(model, np.stack([spectrogram(looped, end) for end in ends]))


def centred(model: Any, audio: np.ndarray) -> np.ndarray:
    """Return the probabilities of the window centred on a clip."""
    end = (len(audio) + SPAN) // 2
    return predict(model, spectrogram(audio, end)[None])[0]


def clip_is_clear(label: str, probs: np.ndarray, stream: np.ndarray) -> bool:
    """Whether a clip makes a good test: right in the middle, never another word anywhere."""
    target = LABELS.index(label)
    allowed = {target, LABELS.index(BACKGROUND)}
    return probs.argmax() == target and probs.max() >= 0.9 and set(stream.argmax(1)) <= allowed


def write_clips(model: Any, folder: Path, per_label: int, seed: int) -> list[str]:
    """Write held-out clips the model hears clearly; return one line about each."""
    from words_sounds import HELD_OUT_NOISES, make_clip, noise, wav_bytes

    rng = np.random.default_rng(seed)
    track = noise(HELD_OUT_NOISES[0])
    report = []
    for label in LABELS:
        kept, tried, heard = 0, 0, set()
        count = 1 if label == BACKGROUND else per_label
        while kept < count:
            tried += 1
            if tried > 40:
                raise SystemExit(f"Too few clear held-out clips of {label!r} in 40 tries.")
            name, audio = make_clip(label, track, rng)
            probs, stream = centred(model, audio), streamed(model, audio)
            if name in heard or not clip_is_clear(label, probs, stream):
                continue  # a voice already kept for this label, or unclear
            kept += 1
            heard.add(name)
            path = folder / label / f"{kept}-{name}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(wav_bytes(audio))
            share = float((stream.argmax(1) == LABELS.index(label)).mean())
            report.append(
                f"  {label}/{path.name}: middle {probs.max():.3f}; "
                f"{share:.0%} of {len(stream)} looped windows; clip {kept} of {tried} tried"
            )
    return report


def main() -> None:
    """Make the data, train, check and write the export and the clips."""
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1600, help="training examples per label")
    parser.add_argument("--test", type=int, default=300, help="held-out examples per label")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training set")
    parser.add_argument("--clips", type=int, default=2, help="clips per word")
    parser.add_argument("--out", type=Path, default=here, help="folder for words/, words-clips/")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(TRAIN_SEED)
    tf.config.experimental.enable_op_determinism()

    started = time.perf_counter()
    train_x, train_y = make_set(args.train, held_out=False, seed=TRAIN_SEED)
    test_x, test_y = make_set(args.test, held_out=True, seed=TEST_SEED)
    seconds = time.perf_counter() - started
    print(f"Made {len(train_x)} training and {len(test_x)} held-out examples in {seconds:.0f} s")

    topo = topology()
    model = keras_model(topo)
    started = time.perf_counter()
    train(model, train_x, train_y, args.epochs)
    train_seconds = time.perf_counter() - started

    test_pred = predict(model, test_x).argmax(axis=1)
    accuracy = float((test_pred == test_y).mean())
    print(f"Trained in {train_seconds:.0f} s; held-out accuracy {accuracy:.2%} on {len(test_x)}")
    confusion(test_y, test_pred)
    if accuracy < 0.9:
        raise SystemExit("Held-out accuracy is below 90%: nothing written.")

    words_dir = args.out / "words"
    write_export(model, topo, words_dir)
    stored = read_export(words_dir)
    stored_pred = predict(stored, test_x).argmax(axis=1)
    stored_accuracy = float((stored_pred == test_y).mean())
    print(
        f"As stored (uint8): held-out accuracy {stored_accuracy:.2%}; "
        f"{int((stored_pred != test_pred).sum())} answers differ from float32"
    )
    if stored_accuracy < accuracy - 0.01:
        raise SystemExit("The stored (uint8) model is worse than the trained one.")

    clips_dir = args.out / "words-clips"
    for line in write_clips(stored, clips_dir, args.clips, seed=TEST_SEED + 1):
        print(line)
    size = sum(f.stat().st_size for f in words_dir.iterdir())
    clip_size = sum(f.stat().st_size for f in clips_dir.rglob("*.wav"))
    print(f"Wrote {words_dir} ({size / 1e6:.2f} MB) and clips ({clip_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
