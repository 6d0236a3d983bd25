"""Reading TensorFlow.js weights: manifest entries, their refusals, and decoding shards."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.weights_helpers import (
    read_real_export,
    real_weights_fixture,  # noqa: F401  (the `real_weights` fixture)
)

from tmbuild.model.weights import (
    SUPPORTED_DTYPES,
    Weight,
    WeightsFormatError,
    decode_weights,
    entry_nbytes,
    non_finite_weights,
)

# --- reading manifests --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "nbytes"),
    [
        ({"name": "w", "shape": [3, 4], "dtype": "float32"}, 48),
        ({"name": "w", "shape": [], "dtype": "int32"}, 4),
        ({"name": "w", "shape": [5], "dtype": "bool"}, 5),
        ({"name": "w", "shape": [2, 0, 7], "dtype": "float32"}, 0),
        ({"name": "w", "shape": [3], "dtype": "complex64"}, 24),
        (
            {
                "name": "w",
                "shape": [3, 4],
                "dtype": "float32",
                "quantization": {"dtype": "float16"},
            },
            24,
        ),
        (
            {
                "name": "w",
                "shape": [3, 4],
                "dtype": "float32",
                "quantization": {"dtype": "uint8", "min": -1, "scale": 0.5},
            },
            12,
        ),
        (
            {
                "name": "w",
                "shape": [3],
                "dtype": "int32",
                "quantization": {"dtype": "uint16", "min": 0.0, "scale": 2.0},
            },
            6,
        ),
    ],
)
def test_entry_nbytes(entry: dict, nbytes: int) -> None:
    assert entry_nbytes(entry) == nbytes


def entry_with(**changes: object) -> dict:
    entry = {"name": "w", "shape": [3, 4], "dtype": "float32"}
    entry.update(changes)
    return entry


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (entry_with(dtype="float64"), "unknown dtype 'float64'; expected one of float32, int32"),
        (entry_with(dtype="string"), "unknown dtype 'string'"),
        (entry_with(dtype=None), "unknown dtype None"),
        (
            entry_with(shape=[3, -1]),
            r"shape must be a list of non-negative integers, not \[3, -1\]",
        ),
        (entry_with(shape=[2.0, 3]), "shape must be a list of non-negative integers"),
        (entry_with(shape=["3"]), "shape must be a list of non-negative integers"),
        (entry_with(shape=[True, 2]), "shape must be a list of non-negative integers"),
        (entry_with(shape=None), "shape must be a list of non-negative integers, not None"),
        (entry_with(shape=[65536, 32768]), "2,147,483,648 elements, more than TensorFlow.js"),
        (entry_with(shape=[10**30, 10**30]), "more than TensorFlow.js can hold"),
        (entry_with(name=None), "the entry has no 'name'"),
        (["w", [3], "float32"], "a manifest entry must be an object, not list"),
        (entry_with(quantization=None), "'quantization' must be an object"),
        (entry_with(quantization={"dtype": "int8"}), "unknown quantization dtype 'int8'"),
        (
            entry_with(dtype="int32", quantization={"dtype": "float16"}),
            "float16 quantization cannot hold int32 weights",
        ),
        (
            entry_with(dtype="bool", quantization={"dtype": "uint8", "min": 0, "scale": 1}),
            "uint8 quantization cannot hold bool weights",
        ),
        (entry_with(quantization={"dtype": "uint8", "min": 0.0}), "needs a numeric 'scale'"),
        (
            entry_with(quantization={"dtype": "uint8", "min": "0", "scale": 1.0}),
            "needs a numeric 'min'",
        ),
        (
            entry_with(quantization={"dtype": "uint8", "min": 0.0, "scale": math.nan}),
            "'scale' is nan, not a finite number",
        ),
        (
            entry_with(quantization={"dtype": "uint16", "min": 10**400, "scale": 1.0}),
            "not a finite number",
        ),
    ],
)
def test_entry_nbytes_refuses(entry: object, message: str) -> None:
    with pytest.raises(WeightsFormatError, match=message):
        entry_nbytes(entry)  # type: ignore[arg-type]


def test_weights_format_error_is_a_value_error() -> None:
    assert issubclass(WeightsFormatError, ValueError)


def test_decode_refuses_a_size_mismatch() -> None:
    entries = [entry_with(shape=[2])]
    with pytest.raises(WeightsFormatError, match="is 9 bytes but its manifest describes 8"):
        decode_weights(entries, bytes(9))
    with pytest.raises(WeightsFormatError, match="is 7 bytes"):
        decode_weights(entries, bytes(7))


def test_decode_names_the_broken_entry_and_refuses_duplicates() -> None:
    with pytest.raises(WeightsFormatError, match="weight 'w': unknown dtype 'half'"):
        decode_weights([entry_with(dtype="half")], b"")
    with pytest.raises(WeightsFormatError, match="'w' appears twice"):
        decode_weights([entry_with(shape=[1]), entry_with(shape=[1])], bytes(8))


def test_decode_int32_from_levels_rounds_halves_up_like_math_round() -> None:
    entry = entry_with(
        shape=[6], dtype="int32", quantization={"dtype": "uint8", "min": -2.5, "scale": 1.0}
    )
    (weight,) = decode_weights([entry], bytes(range(6)))  # -2.5, -1.5, ..., 2.5
    assert weight.array.dtype == np.int32
    assert weight.array.tolist() == [-2, -1, 0, 1, 2, 3]


def test_decode_uint16_levels() -> None:
    entry = entry_with(shape=[3], quantization={"dtype": "uint16", "min": -1.0, "scale": 0.5})
    (weight,) = decode_weights([entry], np.uint16([0, 2, 65535]).astype("<u2").tobytes())
    assert weight.array.tolist() == [-1.0, 0.0, 32766.5]


def test_decode_bool_treats_any_non_zero_byte_as_true() -> None:
    (weight,) = decode_weights([entry_with(shape=[3], dtype="bool")], bytes([0, 1, 7]))
    assert weight.array.dtype == np.bool_ and weight.array.tolist() == [False, True, True]


def test_decoded_arrays_are_writable_and_native() -> None:
    (weight,) = decode_weights([entry_with(shape=[2])], np.float32([1, 2]).tobytes())
    assert weight.array.flags.writeable and weight.array.dtype == np.float32
    weight.array[0] = 5.0


def test_real_export_decodes_to_its_manifest(real_weights: list[Weight]) -> None:
    entries, _ = read_real_export()
    assert len(real_weights) == len(entries) == 263
    assert real_weights[0].name == "Conv1/kernel"
    for weight, entry in zip(real_weights, entries, strict=True):
        assert weight.name == entry["name"]
        assert weight.dtype == entry["dtype"] == "float32"
        assert list(weight.array.shape) == entry["shape"]
    assert non_finite_weights(real_weights) == []


def test_non_finite_weights_names_only_float_weights_with_nan_or_inf() -> None:
    weights = [
        Weight("fine", "float32", np.float32([1, 2])),
        Weight("nan", "float32", np.float32([1, math.nan])),
        Weight("inf", "float32", np.float32([[-math.inf]])),
        Weight("count", "int32", np.int32([2**31 - 1])),
        Weight("flag", "bool", np.array([True])),
        Weight("complex", "complex64", np.complex64([complex(0, math.inf)])),
        Weight("empty", "float32", np.zeros(0, np.float32)),
    ]
    assert non_finite_weights(weights) == ["nan", "inf", "complex"]


def test_supported_dtypes_cover_tfjs_layers_weights() -> None:
    assert {"float32", "int32", "bool"} <= set(SUPPORTED_DTYPES)
