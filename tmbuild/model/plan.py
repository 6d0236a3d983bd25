"""The model as a short list of fused steps, run by the page without tf-layers.

tf-layers turns model.json's Keras topology into TensorFlow.js ops in the browser. That costs
every visitor 86 kB (Brotli) of JavaScript, ~10 ms to run it, ~80 ms to build the layer
objects and a slow first prediction through ~150 separate ops. Real Teachable Machine exports
use a handful of layer kinds (MobileNet's convolutions, batch norm, ReLU6, zero padding,
residual adds, pooling and a dense head), so the build does that translation once, here:

- containers are flattened: the outer Sequential, the nested Sequentials and the functional
  MobileNet (followed through its `inbound_nodes`, in dependency order);
- each convolution takes the batch norm and the activation that follow it, when nothing else
  reads its output: the build folds the batch norm into the kernel and bias (tmbuild.model.fold)
  and the page runs one fused op per block, on its kernels or on TensorFlow.js;
- dropout disappears; every other layer becomes one step.

The page's runners (client/kernels.js, client/tfrunner.js) read the steps; each names its
inputs by value index (0 is the image batch, step i makes value i + 1) and the values to
dispose after it. The weights are the
model directory's own shards, described by the manifest entries carried in the plan, so the page
needs neither tf-layers nor model.json. A model with anything this module does not know (a
layer kind, a shared layer, a weight missing from the manifest) gets no plan: `build_plan`
returns None with the reason, and the page ships tf-layers and loads model.json as before.

A pose plan (tmbuild.model.pose_plan) has three things more, which both runners know:
- a `concat` step: its values (two or more, of the same height and width) joined on the
  channel axis, in the order of `in`;
- `input`: `{"shape": [h, w, c], "divisor": d, "offset": o}`, the frame the plan reads and its
  preprocessing `x / d + o` (PoseNet's 127.5 and -1); without it, an image plan reads
  Teachable Machine's imageSize square as `x / 127 - 1`, an audio plan its spectrogram;
- `outputs`: `{name: value}`, values the page reads besides `output` (the pose features,
  the displacement maps), which no step frees. `check_plan` says whether these are well formed.
"""

from __future__ import annotations

from dataclasses import dataclass

from tmbuild.export.layers import ShapeMismatch
from tmbuild.untrusted import printable, shown

# The format of the plan, which the page's configuration declares and the engine checks
# (client/engine.js PLAN_FORMAT): bumped whenever the steps or the weight entries change, so
# that an engine never runs a model it would run wrong (3: max pooling, for audio models; 4: a
# pose plan's concat step, input and outputs).
PLAN_FORMAT = 4

# Activations the runner can fuse into a convolution or dense step (TensorFlow.js's fused ops
# take these), and the ones it can also run as a step of their own.
FUSABLE_ACTIVATIONS = ("linear", "relu", "relu6", "sigmoid", "elu")
STANDALONE_ACTIVATIONS = (*FUSABLE_ACTIVATIONS, "softmax", "tanh")

_CONTAINERS = ("Sequential", "Model", "Functional")
_MAX_DEPTH = 32  # real exports nest three deep


class Unsupported(Exception):
    """Something the runner cannot run; the page falls back to tf-layers."""


@dataclass(frozen=True)
class Plan:
    steps: list[dict]
    weights: list[dict]  # manifest entries of the shards, in shard order
    output: int  # the value index of the probabilities

    def as_json(self) -> dict:
        return {"steps": self.steps, "weights": self.weights, "output": self.output}


def check_plan(plan: dict) -> None:
    """Raise Unsupported unless the plan's JSON is well formed for the runners.

    Every step reads values made before it; a concat joins two values or more; `input` is a
    frame of positive height, width and 1 or 3 channels with a finite, non-zero divisor and a
    finite offset; `outputs` name values some step makes and none frees.
    """
    try:
        _check_fields(plan)
    except (KeyError, TypeError, AttributeError) as error:
        raise Unsupported(f"a malformed plan ({type(error).__name__}: {error})") from None


def _check_fields(plan: dict) -> None:
    steps = plan["steps"]
    for number, step in enumerate(steps):
        if not all(_count(value) and value <= number for value in step["in"]):
            raise Unsupported(f"step {number} reads {step['in']}, not values made before it")
        if step["op"] == "concat" and len(step["in"]) < 2:
            raise Unsupported(f"step {number} is a concat of {len(step['in'])} value")
    if not (_count(plan["output"]) and 0 < plan["output"] <= len(steps)):
        raise Unsupported(f"the output {plan['output']!r} is no step's value")
    frame = plan.get("input")
    if frame is not None:
        shape = frame.get("shape") if isinstance(frame, dict) else None
        numbers = [frame.get(key) for key in ("divisor", "offset")] if shape else []
        if not (
            isinstance(shape, list)
            and len(shape) == 3
            and all(_count(side) and side > 0 for side in shape)
            and shape[2] in (1, 3)
            and all(_number(value) for value in numbers)
            and numbers[0] != 0
        ):
            raise Unsupported(f"the input {printable(str(frame), 80)} is not a frame")
    outputs = plan.get("outputs", {})
    if not isinstance(outputs, dict):
        raise Unsupported("the outputs are not a mapping of names to values")
    freed = {value for step in steps for value in step.get("free", [])}
    for name, value in outputs.items():
        if not (isinstance(name, str) and _count(value) and 0 < value <= len(steps)):
            raise Unsupported(f"the output {printable(str(name), 40)} is no step's value")
        if value in freed:
            raise Unsupported(f"the output {printable(name, 40)} is freed by a step")


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and abs(value) < float("inf")  # neither infinite nor NaN
    )


def build_plan(topology: dict, entries: list[dict]) -> tuple[Plan | None, str]:
    """The plan for a layers model, or None and why the page must use tf-layers instead.

    Raises ShapeMismatch when a layer's weights disagree with the layer before it: no runner
    can run that model.
    """
    try:
        shapes = {entry["name"]: entry["shape"] for entry in entries}
        not_float = [entry["name"] for entry in entries if entry.get("dtype") != "float32"]
        if not_float:
            raise Unsupported(f"weight {not_float[0]} is not float32")
        builder = _Builder(shapes)
        output = builder.apply(topology, [0], depth=0)
        steps, output = _fuse(builder.steps, output)
        _check_shapes(steps, shapes)
        if builder.used != set(shapes):
            unused = sorted(set(shapes) - builder.used)[0]
            raise Unsupported(f"the manifest's weight {unused} belongs to no layer")
    except Unsupported as reason:
        return None, printable(str(reason), 200)  # it quotes the export's layer names
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        return None, printable(f"unexpected topology ({type(error).__name__}: {error})", 200)
    return Plan(steps=_with_disposal(steps, output), weights=entries, output=output), ""


class _Builder:
    """Walks the topology and appends unfused steps; values are numbered as they appear."""

    def __init__(self, shapes: dict[str, list]):
        self.shapes = shapes
        self.steps: list[dict] = []
        self.used: set[str] = set()

    def emit(self, step: dict) -> int:
        self.steps.append(step)
        return len(self.steps)  # step i makes value i + 1

    def weight(self, layer: str, name: str) -> str:
        full = f"{layer}/{name}"
        if full not in self.shapes:
            raise Unsupported(f"weight {full} is not in the manifest")
        self.used.add(full)
        return full

    def apply(self, layer: dict, inputs: list[int], depth: int) -> int:
        if depth > _MAX_DEPTH:
            raise Unsupported("models nested too deep")
        kind = layer["class_name"]
        config = layer["config"]
        if kind == "Sequential":
            inner = config["layers"] if isinstance(config, dict) else config
            (value,) = inputs
            for item in inner:
                value = self.apply(item, [value], depth + 1)
            return value
        if kind in ("Model", "Functional"):
            return self._functional(config, inputs, depth)
        (value,) = inputs
        return self._layer(kind, config, value)

    def _functional(self, config: dict, inputs: list[int], depth: int) -> int:
        layers = {item.get("name") or item["config"]["name"]: item for item in config["layers"]}
        input_names = [entry[0] for entry in config["input_layers"]]
        output_names = config["output_layers"]
        if len(input_names) != len(inputs) or len(output_names) != 1:
            raise Unsupported("a functional model with several inputs or outputs")
        values = dict(zip(input_names, inputs, strict=True))
        pending = [name for name in layers if name not in values]
        while pending:  # Keras lists layers in creation order; resolve them by dependency
            progressed = False
            for name in list(pending):
                sources = self._sources(layers[name])
                if all(source in values for source in sources):
                    item = layers[name]
                    if item["class_name"] in _CONTAINERS:
                        values[name] = self.apply(item, [values[s] for s in sources], depth + 1)
                    elif item["class_name"] == "Add":
                        values[name] = self._add([values[s] for s in sources])
                    elif len(sources) == 1:
                        values[name] = self._layer(
                            item["class_name"], item["config"], values[sources[0]]
                        )
                    else:
                        raise Unsupported(f"layer {name} takes {len(sources)} inputs")
                    pending.remove(name)
                    progressed = True
            if not progressed:
                raise Unsupported("the functional model's layers do not connect")
        name, node, tensor = output_names[0][:3]
        # A nested Sequential that declares its own input shape made node 0 when it was built
        # alone; applied here it makes node 1 (speech-commands' head in audio exports).
        own_input = layers[name]["class_name"] in _CONTAINERS and node == 1
        if (node != 0 and not own_input) or tensor != 0:
            raise Unsupported("a model output from a shared layer")
        return values[name]

    @staticmethod
    def _sources(item: dict) -> list[str]:
        nodes = item.get("inbound_nodes") or []
        if item["class_name"] == "InputLayer" or not nodes:
            raise Unsupported(f"layer {item.get('name')} has no inputs")
        if len(nodes) != 1:
            raise Unsupported(f"layer {item.get('name')} is shared")
        sources = []
        for entry in nodes[0]:
            if entry[1] != 0 or entry[2] != 0:
                raise Unsupported(f"layer {item.get('name')} reads a shared layer")
            sources.append(entry[0])
        return sources

    def _add(self, inputs: list[int]) -> int:
        if len(inputs) != 2:
            raise Unsupported("an Add of more than two inputs")
        return self.emit({"op": "add", "in": inputs})

    def _layer(self, kind: str, config: dict, value: int) -> int:
        name = config["name"]
        if kind == "InputLayer":
            return value
        if kind == "Dropout":
            return value  # identity at inference
        if kind in ("Conv2D", "DepthwiseConv2D"):
            return self._convolution(kind, config, value)
        if kind == "BatchNormalization":
            if config.get("axis", -1) not in (-1, 3, [-1], [3]):
                raise Unsupported(f"batch norm {name} is not over channels")
            step = {"op": "batchnorm", "in": [value], "epsilon": float(config["epsilon"])}
            if config.get("scale", True):
                step["gamma"] = self.weight(name, "gamma")
            if config.get("center", True):
                step["beta"] = self.weight(name, "beta")
            step["mean"] = self.weight(name, "moving_mean")
            step["variance"] = self.weight(name, "moving_variance")
            return self.emit(step)
        if kind == "ReLU":
            if config.get("negative_slope") or config.get("threshold"):
                raise Unsupported(f"ReLU {name} with a slope or threshold")
            maximum = config.get("max_value")
            if maximum not in (None, 6, 6.0):
                raise Unsupported(f"ReLU {name} with max_value {maximum}")
            return self._activation("relu" if maximum is None else "relu6", value)
        if kind == "Activation":
            return self._activation(config["activation"], value)
        if kind == "ZeroPadding2D":
            padding = config["padding"]
            if isinstance(padding, int):
                padding = [[padding, padding], [padding, padding]]
            elif isinstance(padding[0], int):
                padding = [[padding[0], padding[0]], [padding[1], padding[1]]]
            self._channels_last(config)
            return self.emit({"op": "pad", "in": [value], "padding": padding})
        if kind == "GlobalAveragePooling2D":
            self._channels_last(config)
            return self.emit({"op": "mean", "in": [value]})
        if kind == "Flatten":
            self._channels_last(config)
            return self.emit({"op": "flatten", "in": [value]})
        if kind == "MaxPooling2D":  # speech-commands' network, under audio exports
            self._channels_last(config)
            pool = list(config.get("pool_size", [2, 2]))
            padding = config.get("padding", "valid")
            if padding not in ("same", "valid"):
                raise Unsupported(f"max pooling {name} with padding {padding}")
            strides = config.get("strides") or pool
            step = {"op": "maxpool", "in": [value], "pool": pool, "strides": list(strides)}
            return self.emit({**step, "pad": padding})
        if kind == "Dense":
            step = {"op": "dense", "in": [value], "kernel": self.weight(name, "kernel")}
            if config.get("use_bias", True):
                step["bias"] = self.weight(name, "bias")
            value = self.emit(step)
            return self._activation(config.get("activation", "linear"), value)
        raise Unsupported(f"layer kind {kind} ({name})")

    def _convolution(self, kind: str, config: dict, value: int) -> int:
        name = config["name"]
        self._channels_last(config)
        if config.get("groups", 1) != 1:
            raise Unsupported(f"grouped convolution {name}")
        depthwise = kind == "DepthwiseConv2D"
        if depthwise and config.get("depth_multiplier", 1) != 1:
            raise Unsupported(f"depthwise convolution {name} with a depth multiplier")
        padding = config.get("padding", "valid")
        if padding not in ("same", "valid"):
            raise Unsupported(f"convolution {name} with padding {padding}")
        step = {
            "op": "depthwise" if depthwise else "conv",
            "in": [value],
            "kernel": self.weight(name, "depthwise_kernel" if depthwise else "kernel"),
            "strides": list(config.get("strides", [1, 1])),
            "pad": padding,
            "dilations": list(config.get("dilation_rate", [1, 1])),
        }
        if config.get("use_bias", True):
            step["bias"] = self.weight(name, "bias")
        value = self.emit(step)
        return self._activation(config.get("activation", "linear"), value)

    def _activation(self, activation: str, value: int) -> int:
        if activation == "linear":
            return value
        if activation not in STANDALONE_ACTIVATIONS:
            raise Unsupported(f"activation {activation}")
        return self.emit({"op": "activation", "in": [value], "activation": activation})

    @staticmethod
    def _channels_last(config: dict) -> None:
        if config.get("data_format", "channels_last") != "channels_last":
            raise Unsupported(f"layer {config['name']} is channels_first")


def _fuse(steps: list[dict], output: int) -> tuple[list[dict], int]:
    """Fold each batch norm and activation into the convolution (or dense) right before it."""
    readers: dict[int, int] = {output: 1}
    for step in steps:
        for value in step["in"]:
            readers[value] = readers.get(value, 0) + 1
    fused: list[dict] = []
    renumber: dict[int, int] = {0: 0}  # old value → new value
    for index, step in enumerate(steps, start=1):
        step = {**step, "in": [renumber[value] for value in step["in"]]}
        previous = fused[-1] if fused else None
        source = step["in"][0]
        alone = (
            previous is not None
            and source == len(fused)
            and readers[_old_value(renumber, source)] == 1
        )
        if alone and _can_absorb(previous, step):
            if step["op"] == "batchnorm":
                previous["batchnorm"] = {k: v for k, v in step.items() if k not in ("op", "in")}
            else:
                previous["activation"] = step["activation"]
            renumber[index] = len(fused)
            continue
        fused.append(step)
        renumber[index] = len(fused)
    return fused, renumber[output]


def _check_shapes(steps: list[dict], shapes: dict[str, list]) -> None:
    """Kernels of the right rank, each reading as many channels as the step before it gives,
    and a bias and batch norm value for each output channel.

    A kernel of the wrong rank is something the runner cannot run (tf-layers may); a kernel
    that disagrees with the step before it is a broken model, refused as ShapeMismatch.
    """
    channels: dict[int, int | None] = {0: None}  # value → its channels (or features), if known
    for index, step in enumerate(steps, start=1):
        sources = [channels[value] for value in step["in"]]
        known = [count for count in sources if count is not None]
        if step["op"] == "add" and len(set(known)) > 1:
            raise ShapeMismatch(f"an Add of {known[0]} and {known[1]} channels")
        channels[index] = known[0] if known and step["op"] != "flatten" else None
        if step["op"] not in ("conv", "depthwise", "dense"):
            continue
        kernel = shapes[step["kernel"]]
        if len(kernel) != (2 if step["op"] == "dense" else 4):
            raise Unsupported(f"weight {step['kernel']} has shape {kernel}")
        reads = kernel[0] if step["op"] == "dense" else kernel[2]
        if sources[0] is not None and reads != sources[0]:
            raise ShapeMismatch(
                f"weight {shown(step['kernel'])} has shape {kernel}: it reads {reads} "
                f"{'features' if step['op'] == 'dense' else 'channels'}, but the layer before "
                f"it gives {sources[0]}"
            )
        channels[index] = kernel[2] * kernel[3] if step["op"] == "depthwise" else kernel[-1]
        vectors = [step.get("bias"), *step.get("batchnorm", {}).values()]
        for name in vectors:
            if isinstance(name, str) and shapes[name] != [channels[index]]:
                raise Unsupported(
                    f"weight {name} has shape {shapes[name]}, expected [{channels[index]}]"
                )


def _old_value(renumber: dict[int, int], new: int) -> int:
    """The last old value that maps to `new` (the one a fused chain ends with)."""
    return max(old for old, value in renumber.items() if value == new)


def _can_absorb(previous: dict, step: dict) -> bool:
    if previous["op"] not in ("conv", "depthwise", "dense") or "activation" in previous:
        return False
    if step["op"] == "batchnorm":
        return previous["op"] != "dense" and "batchnorm" not in previous
    return step["op"] == "activation" and step["activation"] in FUSABLE_ACTIVATIONS


def _with_disposal(steps: list[dict], output: int) -> list[dict]:
    """Add to each step the values no later step reads, so the runner can free them at once."""
    last_read: dict[int, int] = {}
    for index, step in enumerate(steps):
        for value in step["in"]:
            last_read[value] = index
    result = []
    for index, step in enumerate(steps):
        done = sorted(v for v, last in last_read.items() if last == index and v not in (0, output))
        result.append({**step, "free": done} if done else dict(step))
    return result
