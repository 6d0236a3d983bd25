"""tmbuild's WebAssembly kernels: the plan (tmbuild.model.plan) run without TensorFlow.js.

Where the page would run on TensorFlow.js's WASM backend, it runs the plan on a module of its
own instead (tmbuild/model/wasm/kernels.c, 9 kB, carried in the page's configuration in base64):
convolution, depthwise convolution, dense, padding, add, mean and per-channel scale in 128-bit
SIMD, and Teachable Machine's preprocessing. That spares the visitor TensorFlow.js core and its
WASM backend (~110 kB Brotli, ~50 ms to run them) and XNNPACK's weight packing (~50 ms of
warm-up), which were most of the wait before the first prediction on a machine without a GPU.

The page still loads TensorFlow.js where it picks WebGL (a hardware GPU), where the browser has
no WASM SIMD or the module does not start, with `runtime.wasm_threads: true`, and where
`kernels_refusal` finds a step the module cannot run.
"""

from __future__ import annotations

from importlib.resources import files

from tmbuild.config.load import SiteConfig

KERNELS_NAME = "kernels.wasm"
# The interface of kernels.c as client/kernels.js calls it (its KERNELS_FORMAT), declared by
# the page and checked by the engine: bumped whenever the exports or the memory layout change
# (3: `pixels` takes the divisor and offset of a plan's `input`, for pose plans).
KERNELS_FORMAT = 3
_MAX_TAPS = 64  # kernels.c's depthwise keeps the taps of one pixel in a 64-entry array


def kernels_binary() -> bytes:
    """The compiled module, as committed next to its source."""
    return files("tmbuild.model").joinpath("wasm", KERNELS_NAME).read_bytes()


def page_uses_kernels(config: SiteConfig, plan: dict | None) -> bool:
    """Whether the page ships the kernels: a plan they run, on a backend choice that has WASM.

    A site that opts into WASM threads asked for TensorFlow.js's threaded backend: the kernels
    run on one thread.
    """
    return (
        config.runtime.kernels
        and not config.runtime.wasm_threads
        and plan is not None
        and config.classifier.backend in ("auto", "wasm")
        and kernels_refusal(plan) is None
    )


def kernels_refusal(plan: dict) -> str | None:
    """Why the kernels cannot run this plan (as tmbuild.model.plan's JSON), or None when they can.

    They run every step tmbuild.model.plan makes (it already refuses depth multipliers) but for a
    depthwise convolution of more than 64 taps and a max pooling with "same" padding, which none
    of Teachable Machine's models has.
    """
    shapes = {entry["name"]: entry["shape"] for entry in plan["weights"]}
    for number, step in enumerate(plan["steps"]):
        if step["op"] == "maxpool" and step["pad"] != "valid":
            return f"step {number} is a max pooling with padding, which the kernels do not have"
        if step["op"] == "depthwise":
            kernel_h, kernel_w = shapes[step["kernel"]][:2]
            if kernel_h * kernel_w > _MAX_TAPS:
                return (
                    f"step {number} is a {kernel_h}×{kernel_w} depthwise convolution (8×8 at most)"
                )
    return None
