"""A plan run in numpy, step by step as the page's runners run it: plans tested without a browser.

float32 (or float64) throughout, batch 1, values in HWC (a vector after flatten, mean or
dense). Windows and padding are computed as client/kernels.js `convWindow` does (TensorFlow.js's
rule), and the taps outside the image are skipped: this reads as the kernels do, not as a graph.
"""

from __future__ import annotations

import numpy as np

from tmbuild.model.weights import decode_weights


def plan_weights(entries: list[dict], data: bytes) -> dict[str, np.ndarray]:
    """The plan's weights by name, decoded from the bytes its entries describe, in order."""
    return {w.name: np.asarray(w.array, np.float32) for w in decode_weights(entries, data)}


def preprocess(pixels: np.ndarray, divisor: float, offset: float) -> np.ndarray:
    """RGB bytes as the plan's input, in float32 as TensorFlow.js computes `x / d + o`."""
    return pixels.astype(np.float32) / np.float32(divisor) + np.float32(offset)


def run_plan(plan: dict, weights: dict, image: np.ndarray, dtype=np.float32) -> list[np.ndarray]:
    """Every value of the plan (0 the input), so a test can read any output; freed ones too.

    float64 takes rounding out of a comparison, leaving only what the plan computes.
    """
    weights = {name: array.astype(dtype) for name, array in weights.items()}
    values = [np.asarray(image, dtype)]
    for step in plan["steps"]:
        inputs = [values[index] for index in step["in"]]
        values.append(_step(step, weights, inputs).astype(dtype))
    return values


def _step(step: dict, weights: dict[str, np.ndarray], inputs: list[np.ndarray]) -> np.ndarray:
    x = inputs[0]
    op = step["op"]
    if op in ("conv", "depthwise", "dense"):
        kernel = weights[step["kernel"]]
        units = kernel.shape[2] if op == "depthwise" else kernel.shape[-1]
        bias = weights[step["bias"]] if step.get("bias") else np.zeros(units, kernel.dtype)
        if step.get("batchnorm"):
            kernel, bias = _fold(step["batchnorm"], weights, kernel, bias, op == "depthwise")
        if op == "dense":
            y = x @ kernel + bias
        else:
            y = _convolve(x, kernel, bias, step, depthwise=op == "depthwise")
        return _activate(y, step.get("activation", "linear"))
    if op == "batchnorm":
        return _normalise(step, weights, x)
    if op == "activation":
        return _activate(x, step["activation"])
    if op == "pad":
        (top, bottom), (left, right) = step["padding"]
        return np.pad(x, ((top, bottom), (left, right), (0, 0)))
    if op == "add":
        return x + inputs[1]
    if op == "concat":  # over the channels, in the order of `in`
        return np.concatenate(inputs, axis=-1)
    if op == "mean":
        return x.mean(axis=(0, 1))
    if op == "flatten":
        return x.reshape(-1)
    if op == "maxpool":
        return _max_pool(x, step)
    raise ValueError(f"unknown step {op}")


def _window(size: int, kernel: int, stride: int, dilation: int, pad: str) -> tuple[int, int]:
    """(output size, padding before), as kernels.js `convWindow`."""
    span = (kernel - 1) * dilation + 1
    if pad == "valid":
        return -(-(size - span + 1) // stride), 0
    out = -(-size // stride)
    return out, max((out - 1) * stride + span - size, 0) // 2


def _convolve(x, kernel, bias, step, depthwise: bool) -> np.ndarray:
    """Sum over the taps: each tap one strided slice of the input, zero where it falls outside."""
    height, width, channels = x.shape
    kernel_h, kernel_w = kernel.shape[:2]
    (stride_h, stride_w), (dilation_h, dilation_w) = step["strides"], step["dilations"]
    rows, top = _window(height, kernel_h, stride_h, dilation_h, step["pad"])
    cols, left = _window(width, kernel_w, stride_w, dilation_w, step["pad"])
    # Padded so that every tap's slice exists; the zeros are the taps kernels.c skips.
    bottom = max((rows - 1) * stride_h + (kernel_h - 1) * dilation_h + 1 - height - top, 0)
    right = max((cols - 1) * stride_w + (kernel_w - 1) * dilation_w + 1 - width - left, 0)
    padded = np.pad(x, ((top, bottom), (left, right), (0, 0)))
    out = np.zeros((rows, cols, channels if depthwise else kernel.shape[3]), x.dtype)
    for ky in range(kernel_h):
        for kx in range(kernel_w):
            y0, x0 = ky * dilation_h, kx * dilation_w
            tap = padded[y0 : y0 + (rows - 1) * stride_h + 1 : stride_h,
                         x0 : x0 + (cols - 1) * stride_w + 1 : stride_w]  # fmt: skip
            if depthwise:
                out += tap * kernel[ky, kx, :, 0]
            else:
                out += tap @ kernel[ky, kx]
    return out + bias


def _fold(norm: dict, weights, kernel, bias, depthwise: bool):
    """A batch norm folded into the kernel and bias before it, as tmbuild.model.fold does."""
    scale, shift = _scale_shift(norm, weights)
    kernel = kernel * (scale[:, None] if depthwise else scale)
    return kernel, bias * scale + shift


def _scale_shift(norm: dict, weights) -> tuple[np.ndarray, np.ndarray]:
    mean, variance = weights[norm["mean"]], weights[norm["variance"]]
    gamma = weights[norm["gamma"]] if norm.get("gamma") else np.ones_like(mean)
    beta = weights[norm["beta"]] if norm.get("beta") else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance + np.float32(norm["epsilon"]))
    return scale, beta - mean * scale


def _normalise(step: dict, weights, x: np.ndarray) -> np.ndarray:
    scale, shift = _scale_shift(step, weights)
    return x * scale + shift


def _activate(x: np.ndarray, activation: str) -> np.ndarray:
    if activation == "linear":
        return x
    if activation == "relu":
        return np.maximum(x, 0)
    if activation == "relu6":
        return np.clip(x, 0, 6)
    if activation == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if activation == "elu":
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))
    if activation == "tanh":
        return np.tanh(x)
    if activation == "softmax":
        shifted = np.exp(x - x.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    raise ValueError(f"unknown activation {activation}")


def _max_pool(x: np.ndarray, step: dict) -> np.ndarray:
    (pool_h, pool_w), (stride_h, stride_w) = step["pool"], step["strides"]
    rows, top = _window(x.shape[0], pool_h, stride_h, 1, step["pad"])
    cols, left = _window(x.shape[1], pool_w, stride_w, 1, step["pad"])
    bottom = max((rows - 1) * stride_h + pool_h - x.shape[0] - top, 0)
    right = max((cols - 1) * stride_w + pool_w - x.shape[1] - left, 0)
    padded = np.pad(x, ((top, bottom), (left, right), (0, 0)), constant_values=-np.inf)
    out = np.full((rows, cols, x.shape[2]), -np.inf, x.dtype)
    for ky in range(pool_h):
        for kx in range(pool_w):
            tap = padded[ky : ky + (rows - 1) * stride_h + 1 : stride_h,
                         kx : kx + (cols - 1) * stride_w + 1 : stride_w]  # fmt: skip
            out = np.maximum(out, tap)
    return out
