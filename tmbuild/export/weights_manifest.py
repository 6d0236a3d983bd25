"""A weights manifest's entries, checked and sized without numpy.

Reading an export checks every entry and counts the bytes it takes before anything is decoded.
Nothing here needs numpy, so a build whose prepared model comes from the cache
(tmbuild.model.cache) never imports it: ~50 ms of a template-only rebuild.
"""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass
from typing import Any

from tmbuild.errors import TmbuildError

# Logical dtypes a layers model's weights can have, and how each is stored unquantised (as
# numpy dtype strings). `string` is left out: its byte size cannot be known from the shape, and
# no layers model (and no Teachable Machine export) has string weights.
STORED_DTYPES: dict[str, str] = {
    "float32": "<f4",
    "int32": "<i4",
    "bool": "?",
    "complex64": "<c8",  # interleaved real, imaginary float32 pairs
}

# How each quantisation dtype is stored, and which logical dtypes TensorFlow.js accepts for it.
QUANTIZED_STORAGE: dict[str, str] = {
    "float16": "<f2",
    "uint8": "u1",
    "uint16": "<u2",
}
_QUANTIZABLE_DTYPES = {
    "float16": {"float32"},
    "uint8": {"float32", "int32"},
    "uint16": {"float32", "int32"},
}
_ITEM_BYTES = {"<f4": 4, "<i4": 4, "?": 1, "<c8": 8, "<f2": 2, "u1": 1, "<u2": 2}

# Far beyond any real model (a Teachable Machine export holds ~540,000 values) and beyond what a
# browser allocates as one typed array: a shape this big means a damaged manifest.
MAX_ELEMENTS = 2**31 - 1


class WeightsFormatError(TmbuildError, ValueError):
    """A weights manifest entry or its data cannot be understood."""


@dataclass(frozen=True)
class EntryLayout:
    """Where one manifest entry's values sit in the shard data and how to read them."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    stored: str  # numpy dtype string
    quantization: dict[str, Any] | None

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * _ITEM_BYTES[self.stored]


def entry_nbytes(entry: dict) -> int:
    """Return the bytes this manifest entry occupies in the shard data.

    Raises WeightsFormatError for anything TensorFlow.js could not load. The message does not
    repeat the weight's name: callers say which weight and which file they were reading.
    """
    return entry_layout(entry).nbytes


def entry_layout(entry: Any) -> EntryLayout:
    if not isinstance(entry, dict):
        raise WeightsFormatError(f"a manifest entry must be an object, not {type(entry).__name__}")
    name, dtype, shape = entry.get("name"), entry.get("dtype"), entry.get("shape")
    if not isinstance(name, str):
        raise WeightsFormatError("the entry has no 'name'")
    # Values from a file we did not write are shown with reprlib: short, whatever their size.
    if not isinstance(dtype, str) or dtype not in STORED_DTYPES:
        raise WeightsFormatError(
            f"unknown dtype {reprlib.repr(dtype)}; expected one of {', '.join(STORED_DTYPES)}"
        )
    # bool is an int subclass, so `true` in a shape would otherwise count as 1.
    if not isinstance(shape, list) or not all(
        isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0 for dim in shape
    ):
        raise WeightsFormatError(
            f"shape must be a list of non-negative integers, not {reprlib.repr(shape)}"
        )
    count = _element_count(shape)
    if count is None or count > MAX_ELEMENTS:
        many = f"{count:,}" if count is not None and count.bit_length() <= 64 else "too many"
        raise WeightsFormatError(
            f"shape {reprlib.repr(shape)} has {many} elements, more than TensorFlow.js can hold"
        )
    quantization = _checked_quantization(entry, dtype)
    if quantization is not None:
        stored = QUANTIZED_STORAGE[quantization["dtype"]]
    elif dtype == "bool":
        stored = "u1"  # read raw bytes: any non-zero byte is true, as in the browser
    else:
        stored = STORED_DTYPES[dtype]
    return EntryLayout(name, dtype, tuple(shape), stored, quantization)


def _element_count(shape: list[int]) -> int | None:
    """The number of elements, or None once the count passes MAX_ELEMENTS before the last dim.

    Counting stops early because a hostile shape's product could run to millions of digits.
    """
    if 0 in shape:
        return 0
    count = 1
    for index, dim in enumerate(shape):
        count *= dim
        if count > MAX_ELEMENTS and index < len(shape) - 1:
            return None
    return count


def _checked_quantization(entry: dict, dtype: str) -> dict[str, Any] | None:
    if "quantization" not in entry:
        return None
    quantization = entry["quantization"]
    if not isinstance(quantization, dict):
        raise WeightsFormatError("'quantization' must be an object")
    kind = quantization.get("dtype")
    if not isinstance(kind, str) or kind not in QUANTIZED_STORAGE:
        raise WeightsFormatError(
            f"unknown quantization dtype {reprlib.repr(kind)}; "
            f"expected one of {', '.join(QUANTIZED_STORAGE)}"
        )
    if dtype not in _QUANTIZABLE_DTYPES[kind]:
        raise WeightsFormatError(f"{kind} quantization cannot hold {dtype} weights")
    if kind != "float16":
        for key in ("min", "scale"):
            value = quantization.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise WeightsFormatError(f"{kind} quantization needs a numeric {key!r}")
            # An integer too large for a double would become infinity in the browser.
            if not math.isfinite(value if isinstance(value, float) else _int_as_float(value)):
                raise WeightsFormatError(f"quantization {key!r} is {value}, not a finite number")
    return quantization


def _int_as_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf
