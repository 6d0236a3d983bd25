"""PoseNet, and a pose model's whole path, as a plan the page runs on its kernels.

The pose page needs PoseNet's heatmaps and offsets for every frame. TensorFlow.js would run the
pinned graph model (tmbuild.model.posenet) through tfjs-converter, one more library for every
visitor; but the graph is only MobileNet's convolutions, the very steps an image model's plan is
made of (tmbuild.model.plan). So the build translates it once, here:

- each `_FusedConv2D` / `FusedDepthwiseConv2dNative` node (bias, then ReLU6 or nothing, fused
  by the converter) becomes one conv or depthwise step with its kernel and bias;
- the heatmap head takes a sigmoid, fused into its step, as posenet's `MobileNet.predict` does;
- a `concat` step puts, per position, the 17 scores before the 34 offsets: the [17, 17, 51]
  tensor that Teachable Machine's `poseOutputsToAray` concatenates (axis 2) and flattens into its
  classifier's 14,739 inputs, so the head reads it as it is;
- the two displacement heads stay: Teachable Machine draws the pose that
  `decodeMultiplePoses` finds, and that follows the displacements from part to part.

A plan of this module has what an image model's has (steps, weights, `output`) and two more
fields the runners must learn (see docs/pose.md, "How PoseNet runs"): `input`, the
preprocessing (posenet divides by 127.5 where image models divide by 127), and `outputs`, the
other values the page reads (the pose features, the displacements), which no step frees.

`pose_plan` then appends Teachable Machine's head, planned by tmbuild.model.plan, after a
flatten: one run gives the probabilities and everything the keypoints are decoded from.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field

from tmbuild.model.plan import Unsupported, build_plan
from tmbuild.model.plan import _with_disposal as plan_disposal
from tmbuild.model.posenet import INPUT_RESOLUTION, OUTPUTS
from tmbuild.untrusted import printable

# posenet 2.x's MobileNet preprocessing, `x / 127.5 - 1`; Teachable Machine's image models
# divide by 127, so this cannot be left to the runners' image path as it is today.
PREPROCESSING = {"divisor": 127.5, "offset": -1.0}
WEIGHT_PREFIX = "posenet/"  # keeps PoseNet's weight names apart from the head's

_OFFSETS, _HEATMAP, _FORWARD, _BACKWARD = OUTPUTS
# The fused ops a node may carry, and the activation each chain is in the plan's words.
_FUSED = {("BiasAdd",): "linear", ("BiasAdd", "Relu"): "relu", ("BiasAdd", "Relu6"): "relu6"}
_CONVOLUTIONS = {"_FusedConv2D": "conv", "FusedDepthwiseConv2dNative": "depthwise"}


@dataclass(frozen=True)
class PosePlan:
    """A plan with its input's preprocessing and the values the page reads besides `output`."""

    steps: list[dict]
    weights: list[dict]  # manifest entries, in the order of the bytes they describe
    output: int
    outputs: dict[str, int] = field(default_factory=dict)  # name → value index, never freed
    input: dict = field(default_factory=dict)  # {"shape", "divisor", "offset"}
    output_shape: list[int] = field(default_factory=list)  # for the build's checks, not the page

    def as_json(self) -> dict:
        return {
            "steps": self.steps,
            "weights": self.weights,
            "output": self.output,
            "outputs": self.outputs,
            "input": self.input,
        }


def posenet_plan(model_json: bytes, size: int = INPUT_RESOLUTION) -> PosePlan:
    """PoseNet's graph model as a plan over `size`×`size` RGB frames: output the pose features.

    The output is the [17, 17, 51] features (sigmoid scores, then offsets, per position); the
    `outputs` name them and the two displacement maps. The weights keep posenet.bin's order, so
    the file itself is the plan's only shard. Raises Unsupported for a graph with anything but
    fused convolutions, which would mean a different network than the pinned one.
    """
    try:
        model = json.loads(model_json)
        [group] = model["weightsManifest"]
        entries = group["weights"]
        nodes = model["modelTopology"]["node"]
        return _translate(nodes, entries, size)
    except Unsupported:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        raise Unsupported(f"unexpected graph model ({type(error).__name__}: {error})") from None


def pose_plan(
    posenet: PosePlan, topology: dict, entries: list[dict]
) -> tuple[PosePlan | None, str]:
    """PoseNet's plan followed by a pose export's head: output the probabilities.

    `topology` and `entries` are the export's model.json (Dense 14,739 → 100 → labels). The
    weights are PoseNet's entries then the head's, so the page reads posenet.bin and then the
    export's shards as one stream. None and the reason when the head cannot be planned.
    """
    head, reason = build_plan(topology, entries)
    if head is None:
        return None, reason
    features = posenet.output
    clash = {entry["name"] for entry in entries} & {entry["name"] for entry in posenet.weights}
    if clash:
        return None, printable(f"the head's weight {sorted(clash)[0]} has a PoseNet name", 200)
    count = math.prod(posenet.output_shape)
    first = head.steps[0] if head.steps else {}
    reads = [e["shape"][0] for e in entries if e["name"] == first.get("kernel")]
    if first.get("op") != "dense" or reads != [count]:
        return None, f"the head does not start with a dense layer reading {count:,} features"
    steps = [dict(step) for step in posenet.steps]
    steps.append({"op": "flatten", "in": [features]})
    flat = len(steps)  # the head's value 0, the flattened features; its value v is flat + v
    for step in head.steps:  # their frees are made again for the whole plan
        steps.append({**step, "in": [flat + v for v in step["in"]]})
    outputs = {**posenet.outputs, "features": flat}
    output = flat + head.output
    weights = [*posenet.weights, *head.weights]
    plan = PosePlan(_with_disposal(steps, output, outputs), weights, output, outputs,
                    posenet.input, [_units(entries, head.steps)])  # fmt: skip
    return plan, ""


def _translate(nodes: list[dict], entries: list[dict], size: int) -> PosePlan:
    shapes = {entry["name"]: entry["shape"] for entry in entries}
    not_float = [entry["name"] for entry in entries if entry.get("dtype") != "float32"]
    if not_float:
        raise Unsupported(f"PoseNet's weight {not_float[0]} is not float32")
    names = {entry["name"]: WEIGHT_PREFIX + entry["name"] for entry in entries}
    values: dict[str, int] = {}
    channels: dict[str, int] = {}
    sizes: dict[str, int] = {}  # the side of each node's square output
    steps: list[dict] = []
    used: set[str] = set()
    by_name = {node["name"]: node for node in nodes}
    for node in nodes:
        if node["op"] == "Const":
            continue
        if node["op"] == "Placeholder":
            if values:
                raise Unsupported("a graph with several inputs")
            values[node["name"]], channels[node["name"]] = 0, 3
            sizes[node["name"]] = size
            continue
        kind = _CONVOLUTIONS.get(node["op"])
        if kind is None:
            raise Unsupported(f"graph node {node['name']} is a {node['op']}")
        source, kernel, bias = node["input"]
        if source not in values:  # the converter writes nodes after their inputs
            raise Unsupported(f"graph node {node['name']} comes before its input {source}")
        for weight in (kernel, bias):
            if by_name.get(weight, {}).get("op") != "Const" or weight not in shapes:
                raise Unsupported(f"graph node {node['name']} reads {weight}, not a weight")
        step = _convolution(node, kind, shapes[kernel], shapes[bias], channels[source])
        step.update({"in": [values[source]], "kernel": names[kernel], "bias": names[bias]})
        used |= {kernel, bias}
        steps.append(step)
        values[node["name"]] = len(steps)
        channels[node["name"]] = shapes[bias][0]
        sizes[node["name"]] = _side(sizes[source], shapes[kernel][0], step)
    missing = [name for name in OUTPUTS if name not in values]
    if missing:
        raise Unsupported(f"the graph has no output {missing[0]}")
    if used != set(shapes):
        raise Unsupported(f"PoseNet's weight {sorted(set(shapes) - used)[0]} belongs to no node")
    if 2 * channels[_HEATMAP] != channels[_OFFSETS]:
        raise Unsupported(
            f"{channels[_HEATMAP]} heatmaps but {channels[_OFFSETS]} offsets: expected twice"
        )
    heads = {name: values[name] for name in OUTPUTS}
    if len(set(heads.values())) != len(heads) or not all(
        _reads_only(steps, index) for index in heads.values()
    ):
        raise Unsupported("an output of the graph is read by another node")
    steps[heads[_HEATMAP] - 1]["activation"] = "sigmoid"  # posenet's heatmapScores
    steps.append({"op": "concat", "in": [heads[_HEATMAP], heads[_OFFSETS]]})
    features = len(steps)
    outputs = {"displacementFwd": heads[_FORWARD], "displacementBwd": heads[_BACKWARD]}
    preprocessing = {"shape": [size, size, 3], **PREPROCESSING}
    grid = sizes[_HEATMAP]
    return PosePlan(_with_disposal(steps, features, outputs), [dict(e, name=names[e["name"]])
                    for e in entries], features, outputs, preprocessing,
                    [grid, grid, 3 * channels[_HEATMAP]])  # fmt: skip


def _convolution(node: dict, kind: str, kernel: list, bias: list, reads: int) -> dict:
    """One fused convolution node as a step without its inputs; Unsupported if it is not one."""
    attr = node.get("attr", {})
    name = node["name"]
    fused = tuple(_text(value) for value in attr.get("fused_ops", {}).get("list", {}).get("s", []))
    if fused not in _FUSED:
        raise Unsupported(f"graph node {name} fuses {'+'.join(fused) or 'nothing'}")
    if _text(attr.get("data_format", {}).get("s", "TkhXQw==")) != "NHWC":
        raise Unsupported(f"graph node {name} is not NHWC")
    padding = _text(attr.get("padding", {}).get("s", ""))
    if padding not in ("SAME", "VALID") or attr.get("explicit_paddings", {}).get("list"):
        raise Unsupported(f"graph node {name} has padding {padding or 'explicit'}")
    strides = _four(attr, "strides", name)
    dilations = _four(attr, "dilations", name)
    if len(kernel) != 4 or (kind == "depthwise" and kernel[3] != 1):
        raise Unsupported(f"graph node {name} has a kernel of shape {kernel}")
    if kernel[2] != reads:
        raise Unsupported(f"graph node {name} reads {kernel[2]} channels of {reads}")
    out = kernel[2] if kind == "depthwise" else kernel[3]
    if bias != [out]:
        raise Unsupported(f"graph node {name} has a bias of shape {bias}, expected [{out}]")
    step = {"op": kind, "strides": strides, "pad": padding.lower(), "dilations": dilations}
    activation = _FUSED[fused]
    return step if activation == "linear" else {**step, "activation": activation}


def _side(size: int, kernel: int, step: dict) -> int:
    """A convolution's output side, by TensorFlow's rule for SAME and VALID."""
    [stride, _], [dilation, _] = step["strides"], step["dilations"]
    if step["pad"] == "same":
        return -(-size // stride)
    return -(-(size - (kernel - 1) * dilation) // stride)


def _units(entries: list[dict], steps: list[dict]) -> int:
    """How many probabilities the head gives: the units of its last dense step."""
    last = [step["kernel"] for step in steps if step["op"] == "dense"][-1]
    return next(entry["shape"][-1] for entry in entries if entry["name"] == last)


def _four(attr: dict, key: str, name: str) -> list[int]:
    """A node's [1, h, w, 1] strides or dilations as the plan's [h, w]."""
    values = [int(v) for v in attr.get(key, {}).get("list", {}).get("i", ["1", "1", "1", "1"])]
    if len(values) != 4 or values[0] != 1 or values[3] != 1:
        raise Unsupported(f"graph node {name} has {key} {values}")
    return values[1:3]


def _text(value: str) -> str:
    """A graph model's string attribute: base64 in the JSON, as the converter writes it."""
    try:
        return base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, TypeError):
        raise Unsupported(f"graph attribute {printable(str(value), 40)} is not base64") from None


def _reads_only(steps: list[dict], value: int) -> bool:
    """Whether no step reads `value`: PoseNet's heads are leaves, nothing reads them."""
    return all(value not in step["in"] for step in steps)


def _with_disposal(steps: list[dict], output: int, outputs: dict[str, int]) -> list[dict]:
    """Each step with the values no later step reads, except those the page reads at the end."""
    kept = set(outputs.values())
    result = []
    for step in plan_disposal([{k: v for k, v in s.items() if k != "free"} for s in steps], output):
        done = [value for value in step.pop("free", []) if value not in kept]  # step is a copy
        result.append({**step, "free": done} if done else step)
    return result
