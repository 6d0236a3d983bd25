"""Batch norms folded into the convolutions before them, in model.json and in the weights.

At inference a batch norm right after a convolution is a scale and a shift per output channel,
so it can live inside the convolution: kernel × s and (bias − mean) × s + beta as the bias,
where s = gamma / sqrt(variance + epsilon). MobileNetV2 has 52 of them. Folding them at build
time leaves a model.json that tf-layers still loads and runs to the same predictions (within
float32 rounding), with 52 fewer layers and a quarter of their weights: the four vectors of
each norm become one bias, ~42 kB less to download for a float16 Teachable Machine model.

The plan (tmbuild.model.plan) says which norms qualify: those it fuses into a convolution, i.e. the
convolution has no activation of its own and nothing else reads its output.
"""

from __future__ import annotations

import copy

import numpy as np

from tmbuild.model.plan import Plan
from tmbuild.model.weights import Weight


def fold_batch_norms(
    topology: dict, weights: list[Weight], plan: Plan
) -> tuple[dict, list[Weight], int]:
    """The topology and weights with every norm the plan fuses folded; and how many were."""
    by_name = {weight.name: weight for weight in weights}
    folded: dict[str, str] = {}  # batch norm layer → the convolution it folds into
    replaced: dict[str, np.ndarray] = {}  # weight name → new values
    dropped: set[str] = set()
    for step in plan.steps:
        norm = step.get("batchnorm")
        if norm is None:
            continue
        conv = step["kernel"].rsplit("/", 1)[0]
        folded[norm["mean"].rsplit("/", 1)[0]] = conv
        kernel, bias = _folded(step, norm, by_name)
        replaced[step["kernel"]] = kernel
        replaced[f"{conv}/bias"] = bias
        dropped.update(name for key, name in norm.items() if key != "epsilon")
    if not folded:
        return topology, weights, 0

    result: list[Weight] = []
    for weight in weights:
        if weight.name in dropped:
            continue
        if weight.name in replaced:
            result.append(Weight(weight.name, "float32", replaced.pop(weight.name)))
            bias = weight.name.rsplit("/", 1)[0] + "/bias"
            if bias in replaced and bias not in by_name:
                result.append(Weight(bias, "float32", replaced.pop(bias)))  # right after it
            continue
        result.append(weight)
    topology = copy.deepcopy(topology)
    _rewire(topology, folded)
    return topology, result, len(folded)


def _folded(step: dict, norm: dict, weights: dict[str, Weight]) -> tuple[np.ndarray, np.ndarray]:
    kernel = weights[step["kernel"]].array.astype(np.float64)
    channels = kernel.shape[2] * kernel.shape[3] if step["op"] == "depthwise" else kernel.shape[3]
    ones, zeros = np.ones(channels), np.zeros(channels)

    def vector(name: str | None, default: np.ndarray) -> np.ndarray:
        return default if name is None else weights[name].array.astype(np.float64).reshape(-1)

    scale = vector(norm.get("gamma"), ones) / np.sqrt(
        vector(norm["variance"], ones) + norm["epsilon"]
    )
    shift = (
        vector(norm.get("beta"), zeros)
        + (vector(step.get("bias"), zeros) - vector(norm["mean"], zeros)) * scale
    )
    # Output channel c of a [h, w, in, out] kernel is its last index; of a depthwise
    # [h, w, in, multiplier] kernel, in × multiplier + m: the last two axes, flattened.
    shaped = kernel.reshape(-1, channels) * scale
    return shaped.reshape(kernel.shape).astype(np.float32), shift.astype(np.float32)


def _rewire(layer: dict, folded: dict[str, str]) -> None:
    """Drop the folded norms from every container; their readers read the convolution."""
    config = layer.get("config")
    inner = config.get("layers") if isinstance(config, dict) else config
    if not isinstance(inner, list):
        return
    inner[:] = [item for item in inner if _name(item) not in folded]
    for item in inner:
        if _name(item) in folded.values():
            item["config"]["use_bias"] = True
        for node in item.get("inbound_nodes") or []:
            for entry in node:
                entry[0] = folded.get(entry[0], entry[0])
        _rewire(item, folded)
    if isinstance(config, dict) and isinstance(config.get("output_layers"), list):
        for entry in config["output_layers"]:
            entry[0] = folded.get(entry[0], entry[0])


def _name(item: dict) -> str | None:
    config = item.get("config")
    return item.get("name") or (config.get("name") if isinstance(config, dict) else None)
