"""tmbuild's int8 weights: symmetric, one scale per output channel, for the plan's kernels.

`quantize: int8` stores each convolution, depthwise and dense kernel of the plan as 8-bit levels
and one float32 scale per output channel; every other weight (biases, and the batch-norm shifts
folded into them) stays float32. TensorFlow.js has no such format, so only tmbuild's page reads
it (client/weights.js), decoding it into float32 for both of its runners: one download serves
the WASM kernels and TensorFlow.js alike.

A manifest entry in this format (PLAN_FORMAT 2 of tmbuild.model.plan):

    {"name": ..., "shape": [...], "dtype": "float32",
     "quantization": {"dtype": "int8", "channels": C, "original_dtype": "float32"}}

Its bytes: C little-endian float32 scales, then one signed byte (two's complement, -127..127)
per value in the kernel's own order. Value i is `level[i] × scale[i mod C]`, computed exactly (in
double precision) and rounded once to float32. Output channel c of a [h, w, in, out] convolution
or an [in, out] dense kernel is its last index; of a [h, w, in, multiplier] depthwise kernel,
in × multiplier + m, the last two axes flattened: in all three, the index modulo C.

Per channel, because one scale per tensor (the `uint8` format) gives a channel of small weights
the step of the tensor's largest and blurs it away; here each channel's largest weight is 127
levels. Other byte orders were tried on the fixture exports (Brotli 11): channel-major levels
saved 0.07%, zigzag or offset levels saved nothing; the kernel's own order is kept.
"""

from __future__ import annotations

import numpy as np

INT8_LEVELS = 127  # symmetric: -127..127, so that -x is always a level when x is
SCALE_BYTES = 4


def output_channels(op: str, shape: list[int] | tuple[int, ...]) -> int:
    """The number of output channels (scales) of a plan step's kernel of this shape."""
    if op == "depthwise":
        return int(shape[2]) * int(shape[3])
    return int(shape[-1])


def encode_int8(values: np.ndarray, channels: int) -> bytes:
    """The scales and levels of a float32 kernel whose index modulo `channels` is its channel."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1, channels).astype(np.float64)
    largest = np.abs(flat).max(axis=0) if flat.size else np.zeros(channels)
    scales = (largest / INT8_LEVELS).astype(np.float32)
    # A channel of zeros gets scale 0 and levels 0; dividing by 1 keeps numpy quiet about it.
    divisor = np.where(scales == 0, 1.0, scales.astype(np.float64))
    exact = flat / divisor
    levels = _sum_preserving(exact, np.clip(np.rint(exact), -INT8_LEVELS, INT8_LEVELS))
    return scales.astype("<f4").tobytes() + levels.astype(np.int8).tobytes()


def _sum_preserving(exact: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Round each channel's values so that the channel's sum is as near its exact sum as whole
    levels allow: the channel then answers a constant input (most of what a post-ReLU input
    is) exactly, and rounding errors stop adding up layer after layer."""
    levels = levels.copy()
    residual = exact.sum(axis=0) - levels.sum(axis=0)  # per channel, in levels
    for channel in np.nonzero(np.abs(residual) >= 0.5)[0]:
        steps = int(np.rint(residual[channel]))
        direction = 1 if steps > 0 else -1
        column = levels[:, channel]
        # The values whose rounding went furthest the other way flip first.
        error = (exact[:, channel] - column) * direction
        room = np.abs(column + direction) <= INT8_LEVELS
        order = np.argsort(np.where(room, -error, np.inf), kind="stable")
        for index in order[: abs(steps)]:
            if room[index]:
                column[index] += direction
    return levels


def int8_nbytes(shape: list[int] | tuple[int, ...], channels: int) -> int:
    """The bytes one int8 entry of this shape takes in the shard data."""
    return channels * SCALE_BYTES + int(np.prod(shape, dtype=np.int64))


def decode_int8(data: bytes, shape: list[int] | tuple[int, ...], channels: int) -> np.ndarray:
    """The float32 values of one int8 entry's bytes, as the page decodes them."""
    scales = np.frombuffer(data[: channels * SCALE_BYTES], dtype="<f4").astype(np.float64)
    levels = np.frombuffer(data[channels * SCALE_BYTES :], dtype=np.int8).astype(np.float64)
    values = levels.reshape(-1, channels) * scales
    return values.astype(np.float32).reshape(shape)


def per_channel_kernels(plan_json: dict | None) -> dict[str, int]:
    """The plan's convolution, depthwise and dense kernels, each with its output channels."""
    if not plan_json:
        return {}
    shapes = {entry["name"]: entry["shape"] for entry in plan_json["weights"]}
    return {
        step["kernel"]: output_channels(step["op"], shapes[step["kernel"]])
        for step in plan_json["steps"]
        if step["op"] in ("conv", "depthwise", "dense")
    }
