"""Every weight of an export checked against the layer that uses it.

A model.json edited by hand or by a broken converter can declare a dense kernel [50, 4] where
its layer needs [100, 2]: the bytes are the same length, tf-layers loads it, and the page's
probabilities no longer sum to 1. A batch norm's epsilon of NaN or -1 turns hundreds of weights
into NaN when it is folded. Each is refused here with one line naming the file, the layer and
the weight, instead of shipping a page that predicts nonsense or blames the network.

Only what a layer's own config says is checked here (kernel size, filters, units, epsilon);
the plan (tmbuild.model.plan) checks that each layer's input channels agree with the output of
the layer before it.
"""

from __future__ import annotations

import math

from tmbuild.errors import ExportError
from tmbuild.untrusted import printable, shown

RETRAIN = "retrain the model in Teachable Machine and export it again"
_CONTAINERS = ("Sequential", "Model", "Functional")
_MAX_DEPTH = 32
_NORM_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")


class ShapeMismatch(Exception):
    """A weight's shape disagrees with its layer; the message names both."""


def check_layers(topology: dict, entries: list[dict], where: str) -> None:
    """Refuse weights whose shapes disagree with their layers, and non-finite layer settings."""
    shapes = {entry["name"]: entry["shape"] for entry in entries}
    for layer in _layers(topology, depth=0):
        kind = layer.get("class_name")
        config = layer.get("config")
        if not isinstance(config, dict) or not isinstance(config.get("name"), str):
            continue  # the export's own checks, or tf-layers, say what is wrong with it
        try:
            _check_layer(kind, config, shapes)
        except ShapeMismatch as mismatch:
            raise ExportError(f"{where}: {mismatch}; {RETRAIN}") from None


def _check_layer(kind: str, config: dict, shapes: dict[str, list]) -> None:
    name = config["name"]
    layer = f"layer {shown(name)} ({printable(str(kind), 40)})"
    if kind == "BatchNormalization":
        epsilon = config.get("epsilon", 1e-3)
        finite = isinstance(epsilon, int | float) and math.isfinite(epsilon)
        if not finite or epsilon <= 0:
            raise ShapeMismatch(
                f"{layer}: epsilon is {epsilon!r}; it must be a small positive number"
            )
        present = {w: shapes[f"{name}/{w}"] for w in _NORM_WEIGHTS if f"{name}/{w}" in shapes}
        lengths = {tuple(shape) for shape in present.values()}
        if len(lengths) > 1 or any(len(shape) != 1 for shape in lengths):
            described = ", ".join(f"{w} {shape}" for w, shape in present.items())
            raise ShapeMismatch(f"{layer}: its weights need one length each; got {described}")
        return
    for weight, wanted in _expected(kind, config).items():
        shape = shapes.get(f"{name}/{weight}")
        if shape is None:
            continue  # a missing weight is the plan's and tf-layers' to report
        agrees = len(shape) == len(wanted) and all(
            want is None or want == have for want, have in zip(wanted, shape, strict=True)
        )
        if not agrees:
            need = "[" + ", ".join("any" if w is None else str(w) for w in wanted) + "]"
            raise ShapeMismatch(
                f"{layer}: weight {shown(f'{name}/{weight}')} has shape {shape}, "
                f"but the layer needs {need}"
            )


def _expected(kind: str, config: dict) -> dict[str, list]:
    """Each weight of a layer and its shape from the layer's config; None: any size."""
    if kind in ("Conv2D", "DepthwiseConv2D"):
        size = config.get("kernel_size", [1, 1])
        size = [size, size] if isinstance(size, int) else list(size)
        if kind == "Conv2D":
            filters = config.get("filters")
            expected = {"kernel": [*size, None, filters]}
            bias = filters
        else:
            expected = {"depthwise_kernel": [*size, None, config.get("depth_multiplier", 1)]}
            bias = None  # input channels × multiplier: the plan checks it
        if config.get("use_bias", True):
            expected["bias"] = [bias]
        return expected
    if kind == "Dense":
        units = config.get("units")
        expected = {"kernel": [None, units]}
        if config.get("use_bias", True):
            expected["bias"] = [units]
        return expected
    return {}


def leaf_layers(topology: dict) -> list[dict]:
    """Every layer of a topology that is not a container, in order."""
    return list(_layers(topology, depth=0))


def _layers(node: dict, depth: int):
    """Every layer of a topology, inside its Sequential and functional containers."""
    if depth > _MAX_DEPTH or not isinstance(node, dict):
        return
    if node.get("class_name") in _CONTAINERS:
        config = node.get("config")
        layers = config.get("layers") if isinstance(config, dict) else config
        for item in layers if isinstance(layers, list) else []:
            yield from _layers(item, depth + 1)
        return
    yield node


def output_layer(topology: dict) -> dict | None:
    """The layer that produces the model's output, looking inside nested Sequentials."""
    layer = topology
    for _ in range(32):
        inner = inner_layers(layer)
        kind = layer.get("class_name")
        if kind not in ("Sequential", "Model", "Functional") or not inner:
            return layer
        last = inner[-1]
        if kind != "Sequential":  # a functional model: the layer its output_layers names
            outputs = (
                layer["config"].get("output_layers") if isinstance(layer["config"], dict) else None
            )
            named = (
                outputs[0][0] if outputs and isinstance(outputs[0], list) and outputs[0] else None
            )
            last = next((x for x in inner if isinstance(x, dict) and x.get("name") == named), None)
            if last is None:
                return layer
        layer = last if isinstance(last, dict) else {}
    return None


def inner_layers(layer: dict) -> list | None:
    """A container's layers; Keras 2.0-era exports store a Sequential's config as the list."""
    config = layer.get("config")
    inner = config.get("layers") if isinstance(config, dict) else config
    return inner if isinstance(inner, list) else None
