"""Bias correction: int8's rounding, cancelled where a kernel's input is on average.

Rounding a kernel to int8 levels moves each output channel by sum(error × input). Over the
inputs the model sees, its mean part, sum(error × mean input), is the same every time: a shift
that layer after layer adds up (on the brands6 fixture, the median probability moved 8× more
without this correction, and one image's by 0.34). Each bias absorbs that shift (Nagel et al.,
"Data-Free Quantization", 2019), with the mean inputs read from the batch norms' statistics, so
no image is needed: the build's output depends on the export alone.
"""

from __future__ import annotations

from math import erf, exp, pi, sqrt

import numpy as np

from tmbuild.model.int8 import decode_int8, encode_int8, output_channels
from tmbuild.model.plan import Plan
from tmbuild.model.weights import Weight


def bias_corrected(
    unfolded: Plan,
    original: dict[str, np.ndarray],
    folded: Plan,
    weights: list[Weight],
    per_channel: dict[str, int],
) -> list[Weight]:
    """The folded weights with each int8 kernel's bias corrected for its rounding.

    `unfolded` is the plan before folding (its steps name the batch norms), `original` the
    weights it reads; `folded` the plan of `weights`, whose kernels `per_channel` names.
    """
    means = expected_inputs(unfolded.as_json(), original)
    by_name = {weight.name: weight for weight in weights}
    biases = {}
    for step in folded.steps:
        kernel, bias = step.get("kernel"), step.get("bias")
        if kernel in per_channel and bias and kernel in means:
            biases[bias] = corrected_bias(
                step["op"],
                by_name[kernel].array,
                per_channel[kernel],
                by_name[bias].array,
                means[kernel],
            )
    return [Weight(w.name, w.dtype, biases.get(w.name, w.array)) for w in weights]


def expected_inputs(plan_json: dict, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each kernel's expected input, per input channel, from the batch norms' statistics.

    A batch norm's output has, per channel, mean beta and deviation |gamma| (what training
    normalised it to); through a ReLU6 that is a clipped normal, whose mean is known in closed
    form. Adds sum their inputs' means; padding and pooling keep them; the image's is taken as 0.
    A dense layer's output mean is its weights times its input's (its spread is unknown).
    """
    means: dict[int, np.ndarray | None] = {0: None}
    found: dict[str, np.ndarray] = {}
    for index, step in enumerate(plan_json["steps"], start=1):
        source = means.get(step["in"][0])
        op = step["op"]
        mean = None
        if op in ("conv", "depthwise", "dense"):
            if source is not None:
                found[step["kernel"]] = source
            norm = step.get("batchnorm")
            if norm is not None:
                beta = arrays[norm["beta"]] if norm.get("beta") else 0.0
                gamma = arrays[norm["gamma"]] if norm.get("gamma") else 1.0
                channels = output_channels(op, arrays[step["kernel"]].shape)
                mu = np.broadcast_to(np.asarray(beta, np.float64), (channels,))
                sigma = np.broadcast_to(np.abs(np.asarray(gamma, np.float64)), (channels,))
                mean = _activated_mean(mu, sigma, step.get("activation", "linear"))
            elif op == "dense" and source is not None:
                pre = source @ arrays[step["kernel"]].astype(np.float64)
                if step.get("bias"):
                    pre = pre + arrays[step["bias"]]
                activation = step.get("activation", "linear")
                mean = np.maximum(pre, 0) if activation in ("relu", "relu6") else pre
                mean = np.minimum(mean, 6) if activation == "relu6" else mean
                mean = mean if activation in ("linear", "relu", "relu6") else None
        elif op == "add":
            other = means.get(step["in"][1])
            mean = None if source is None or other is None else source + other
        elif op in ("pad", "mean"):
            mean = source
        means[index] = mean
    return found


def _activated_mean(mu: np.ndarray, sigma: np.ndarray, activation: str) -> np.ndarray | None:
    if activation == "linear":
        return mu.copy()
    if activation not in ("relu", "relu6"):
        return None
    top = 6.0 if activation == "relu6" else np.inf
    result = np.empty_like(mu)
    for c, (m, s) in enumerate(zip(mu, sigma, strict=True)):
        s = max(float(s), 1e-6)
        a = (0.0 - m) / s
        if top == np.inf:
            result[c] = m * (1 - _cdf(a)) + s * _pdf(a)
        else:
            b = (top - m) / s
            result[c] = m * (_cdf(b) - _cdf(a)) + s * (_pdf(a) - _pdf(b)) + top * (1 - _cdf(b))
    return result


def corrected_bias(
    op: str, kernel: np.ndarray, channels: int, bias: np.ndarray, mean: np.ndarray
) -> np.ndarray:
    """The bias that cancels, on an input of this mean, what rounding the kernel shifted."""
    quantised = decode_int8(encode_int8(kernel, channels), kernel.shape, channels)
    error = quantised.astype(np.float64) - kernel.astype(np.float64)
    if op == "depthwise":
        shift = (error.reshape(-1, channels) * np.repeat(mean, kernel.shape[3])).sum(axis=0)
    elif op == "dense":
        shift = mean @ error
    else:
        shift = np.einsum("hwio,i->o", error, mean)
    return (bias.astype(np.float64) - shift).astype(np.float32)


def _cdf(z: float) -> float:
    return 0.5 * (1 + erf(z / sqrt(2)))


def _pdf(z: float) -> float:
    return exp(-z * z / 2) / sqrt(2 * pi)
