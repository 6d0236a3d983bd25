"""Read, quantise and re-shard TensorFlow.js weights with numpy alone.

A layers model's `weightsManifest` is a list of groups, each naming its shard files and its
weights. A group's shards, concatenated, hold every weight's little-endian values in manifest
order; a quantised entry holds float16 values, or uint8/uint16 levels to be mapped back with
`level * scale + min`.

Writing follows `tensorflowjs.write_weights` (tensorflowjs 4.22) byte for byte, so a site built
here ships exactly what the official converter would have written. Reading follows
`decodeWeights` in TensorFlow.js 4.22, so what we decode is what the browser will compute.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from tmbuild.export.weights_manifest import (
    QUANTIZED_STORAGE,
    STORED_DTYPES,
    EntryLayout,
    entry_layout,
)
from tmbuild.export.weights_manifest import WeightsFormatError as WeightsFormatError  # for callers
from tmbuild.export.weights_manifest import entry_nbytes as entry_nbytes  # for callers
from tmbuild.model.int8 import decode_int8, encode_int8, int8_nbytes

# The manifest's storage dtypes as numpy dtypes, for decoding and encoding.
SUPPORTED_DTYPES: dict[str, np.dtype] = {k: np.dtype(v) for k, v in STORED_DTYPES.items()}
_STORAGE: dict[str, np.dtype] = {k: np.dtype(v) for k, v in QUANTIZED_STORAGE.items()}

# TensorFlow.js's own formats, written as tensorflowjs writes them; int8 is tmbuild's
# (tmbuild.model.int8), which only tmbuild's page reads.
TFJS_QUANTIZE = ("none", "float16", "uint8")
QUANTIZE_CHOICES = (*TFJS_QUANTIZE, "int8")

DEFAULT_SHARD_SIZE = 4 * 1024 * 1024  # tensorflowjs' default: the largest file browsers cache


@dataclass(frozen=True)
class Weight:
    """One named tensor, as TensorFlow.js holds it after loading."""

    name: str
    dtype: str  # logical dtype: "float32" | "int32" | "bool" | "complex64"
    array: np.ndarray  # values, shaped as in the manifest


def decode_weights(entries: list[dict], data: bytes) -> list[Weight]:
    """Decode the concatenated shard bytes of one group, dequantising quantised entries."""
    layouts = []
    for entry in entries:
        try:
            layouts.append(_int8_layout(entry) or entry_layout(entry))
        except WeightsFormatError as error:
            name = entry.get("name") if isinstance(entry, dict) else None
            which = f"weight {reprlib.repr(name)}" if isinstance(name, str) else "a manifest entry"
            raise WeightsFormatError(f"{which}: {error}") from None
    _refuse_duplicate_names([layout.name for layout in layouts])
    expected = sum(layout.nbytes for layout in layouts)
    if len(data) != expected:
        raise WeightsFormatError(
            f"the weights data is {len(data):,} bytes but its manifest describes {expected:,}"
        )
    view = memoryview(data)
    weights, offset = [], 0
    for layout in layouts:
        chunk = view[offset : offset + layout.nbytes]
        if isinstance(layout, _Int8Layout):
            values = decode_int8(chunk, layout.shape, layout.channels)
        else:
            values = _dequantize(np.frombuffer(chunk, dtype=layout.stored), layout)
            values = values.reshape(layout.shape)
        weights.append(Weight(layout.name, layout.dtype, values))
        offset += layout.nbytes
    return weights


def encode_weights(
    weights: list[Weight],
    quantize: str = "none",
    shard_size: int = DEFAULT_SHARD_SIZE,
    per_channel: dict[str, int] | None = None,
) -> tuple[list[dict], list[bytes]]:
    """Return manifest entries and shard contents, as tensorflowjs.write_weights writes them.

    The entries and shards form one manifest group; name the shards with `shard_names`.
    Only float32 weights are quantised; other dtypes are written as they are. With int8, only
    the kernels named in `per_channel` (with their output channels) are, in tmbuild's own
    format (tmbuild.model.int8); the rest stay float32.
    """
    if quantize not in QUANTIZE_CHOICES:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZE_CHOICES)}; got {quantize!r}")
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size <= 0:
        raise ValueError(f"shard_size must be a positive number of bytes; got {shard_size!r}")
    _refuse_duplicate_names([weight.name for weight in weights])
    entries, chunks = [], []
    for weight in weights:
        if quantize == "int8":
            entry, stored = _encode_int8(weight, (per_channel or {}).get(weight.name))
        else:
            entry, stored = _encode_one(weight, quantize)
        entries.append(entry)
        chunks.append(stored if isinstance(stored, bytes) else stored.tobytes())
    data = b"".join(chunks)
    # Shards cut the group's bytes at fixed offsets, so one weight may straddle two files;
    # a group with no bytes has no shards at all, as with tensorflowjs.
    shards = [data[start : start + shard_size] for start in range(0, len(data), shard_size)]
    return entries, shards


def shard_names(shard_count: int, group_number: int = 1) -> list[str]:
    """Return tensorflowjs' file names for a group's shards: group1-shard1of2.bin, ..."""
    return [f"group{group_number}-shard{i}of{shard_count}.bin" for i in range(1, shard_count + 1)]


def non_finite_weights(weights: list[Weight]) -> list[str]:
    """Return the names of floating-point weights holding NaN or infinity."""
    return [
        weight.name
        for weight in weights
        if np.issubdtype(np.asarray(weight.array).dtype, np.inexact)
        and not np.isfinite(weight.array).all()
    ]


def _dequantize(stored: np.ndarray, layout: EntryLayout) -> np.ndarray:
    quantization = layout.quantization
    if quantization is None:
        if layout.dtype == "bool":
            return stored != 0
        return stored.astype(SUPPORTED_DTYPES[layout.dtype].newbyteorder("="))
    if quantization["dtype"] == "float16":
        return stored.astype(np.float32)  # every float16 is exactly a float32
    # The browser computes level * scale + min in double precision, then stores the result in
    # a Float32Array (rounding to nearest) or, for int32, an Int32Array after Math.round.
    values = stored.astype(np.float64) * float(quantization["scale"]) + float(quantization["min"])
    if layout.dtype == "int32":
        return _js_round_to_int32(values)
    return values.astype(np.float32)


def _js_round_to_int32(values: np.ndarray) -> np.ndarray:
    # Math.round sends halves up (-2.5 -> -2), unlike numpy's round-half-to-even.
    floor = np.floor(values)
    rounded = floor + (values - floor >= 0.5)
    # Storing into an Int32Array wraps modulo 2**32 and turns non-finite values into 0.
    rounded = np.where(np.isfinite(rounded), rounded, 0.0)
    wrapped = np.fmod(rounded, 2.0**32)
    wrapped = np.where(wrapped >= 2.0**31, wrapped - 2.0**32, wrapped)
    wrapped = np.where(wrapped < -(2.0**31), wrapped + 2.0**32, wrapped)
    return wrapped.astype(np.int32)


def _encode_one(weight: Weight, quantize: str) -> tuple[dict, np.ndarray]:
    values = _as_declared_dtype(weight)
    entry: dict[str, Any] = {
        "name": weight.name,
        "shape": list(values.shape),
        "dtype": weight.dtype,
    }
    # tensorflowjs quantises float32 only; int32 and bool weights always pass through.
    if quantize == "none" or weight.dtype != "float32":
        return entry, values
    if quantize == "float16":
        # Values beyond float16's range become infinity, exactly as tensorflowjs casts them.
        with np.errstate(over="ignore"):
            stored = values.astype(_STORAGE["float16"])
        entry["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
        return entry, stored
    stored, minimum, scale = _affine_quantize(weight.name, values, _STORAGE[quantize])
    entry["quantization"] = {
        "dtype": quantize,
        "min": minimum,
        "scale": scale,
        "original_dtype": "float32",
    }
    return entry, stored


def _encode_int8(weight: Weight, channels: int | None) -> tuple[dict, np.ndarray | bytes]:
    if channels is None or weight.dtype != "float32":
        return _encode_one(weight, "none")
    values = _as_declared_dtype(weight)
    entry = {
        "name": weight.name,
        "shape": list(values.shape),
        "dtype": "float32",
        "quantization": {"dtype": "int8", "channels": channels, "original_dtype": "float32"},
    }
    return entry, encode_int8(values, channels)


@dataclass(frozen=True)
class _Int8Layout:
    name: str
    dtype: str
    shape: tuple[int, ...]
    channels: int

    @property
    def nbytes(self) -> int:
        return int8_nbytes(self.shape, self.channels)


def _int8_layout(entry: Any) -> _Int8Layout | None:
    """The layout of an entry in tmbuild's int8 format, or None for any other entry."""
    if not isinstance(entry, dict) or not isinstance(entry.get("quantization"), dict):
        return None
    quantization = entry["quantization"]
    if quantization.get("dtype") != "int8":
        return None
    shape, channels = entry.get("shape"), quantization.get("channels")
    if (
        entry.get("dtype") != "float32"
        or not isinstance(entry.get("name"), str)
        or not isinstance(shape, list)
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        or isinstance(channels, bool)
        or not isinstance(channels, int)
        or channels <= 0
        or int(np.prod(shape, dtype=np.int64)) % channels
    ):
        raise WeightsFormatError("an int8 entry needs a float32 shape its 'channels' divide")
    return _Int8Layout(entry["name"], "float32", tuple(shape), channels)


def _as_declared_dtype(weight: Weight) -> np.ndarray:
    target = SUPPORTED_DTYPES.get(weight.dtype)
    if target is None:
        raise WeightsFormatError(
            f"weight {weight.name!r}: unknown dtype {weight.dtype!r}; "
            f"expected one of {', '.join(SUPPORTED_DTYPES)}"
        )
    array = np.asarray(weight.array)
    # Narrowing within a kind (float64 -> float32, int64 -> int32) is what tensorflowjs does
    # too; changing kind (float -> int) would silently corrupt the weight.
    if not np.can_cast(array.dtype, target, casting="same_kind"):
        raise WeightsFormatError(
            f"weight {weight.name!r}: {array.dtype} values cannot be stored as {weight.dtype}"
        )
    return array.astype(target, copy=False)


def _affine_quantize(
    name: str, values: np.ndarray, levels_dtype: np.dtype
) -> tuple[np.ndarray, float, float]:
    """Map float32 values onto evenly spaced integer levels, as tensorflowjs does.

    All arithmetic is float64, as tensorflowjs' numpy (>= 2) does it, so levels, min and scale
    come out bit for bit the same.
    """
    if values.size == 0:
        # tensorflowjs fails on an empty weight (the min of nothing); any min and scale will do.
        return values.astype(levels_dtype), 0.0, 1.0
    if not np.isfinite(values).all():
        raise WeightsFormatError(
            f"weight {name!r} holds NaN or infinity and cannot be quantised to {levels_dtype.name}"
        )
    top_level = np.iinfo(levels_dtype).max
    low, high = float(values.min()), float(values.max())
    if low == high:
        return np.zeros(values.shape, levels_dtype), low, 1.0
    scale = (high - low) / top_level
    if low <= 0.0 <= high:
        # Nudge the range (as TF Lite does) so that 0.0 is exactly one level and weights that
        # are exactly zero stay zero. `0.0 - low` and np.round (half to even, keeping the
        # float's sign) match tensorflowjs, down to writing -0.0 when the minimum is 0.
        zero_level = np.round((0.0 - low) / scale)
        low = float(-zero_level * scale)
        high = top_level * scale + low
    levels = np.round((values.astype(np.float64).clip(low, high) - low) / scale)
    return levels.astype(levels_dtype), low, scale


def _refuse_duplicate_names(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise WeightsFormatError(f"weight {name!r} appears twice; weight names must be unique")
        seen.add(name)
