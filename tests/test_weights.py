"""Writing TensorFlow.js weights: float32/float16/uint8 round trips, quantising and sharding."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from support.weights_helpers import (
    random_weights,
    read_real_export,
    real_weights_fixture,  # noqa: F401  (the `real_weights` fixture)
)

from tmbuild.model.weights import (
    QUANTIZE_CHOICES,
    Weight,
    WeightsFormatError,
    decode_weights,
    encode_weights,
    entry_nbytes,
    non_finite_weights,
    shard_names,
)


@pytest.fixture(params=["random", "real"])
def sample_weights(request: pytest.FixtureRequest) -> list[Weight]:
    if request.param == "real":
        return request.getfixturevalue("real_weights")
    return random_weights()


def round_trip(
    weights: list[Weight], quantize: str, shard_size: int = 4 * 1024 * 1024
) -> tuple[list[dict], list[Weight]]:
    entries, shards = encode_weights(weights, quantize, shard_size)
    entries = json.loads(json.dumps(entries))  # the browser sees the manifest through JSON
    return entries, decode_weights(entries, b"".join(shards))


# --- round trips --------------------------------------------------------------------------


def test_float32_round_trip_is_bit_exact() -> None:
    weights = random_weights()
    entries, back = round_trip(weights, "none")
    assert [w.name for w in back] == [w.name for w in weights]
    for original, decoded, entry in zip(weights, back, entries, strict=True):
        assert "quantization" not in entry
        assert entry["shape"] == list(original.array.shape)
        assert decoded.dtype == original.dtype
        assert decoded.array.dtype == original.array.dtype
        assert decoded.array.tobytes() == original.array.tobytes()


def test_real_export_round_trip_reproduces_its_weights_file(real_weights: list[Weight]) -> None:
    entries, data = read_real_export()
    new_entries, shards = encode_weights(real_weights, "none", shard_size=len(data))
    assert new_entries == entries
    assert shards == [data]


def test_float16_error_is_at_most_half_a_float16_step(sample_weights: list[Weight]) -> None:
    # Round to nearest: relative error <= 2**-11 (half of float16's epsilon, 2**-10) for
    # normal values; below 2**-14 the spacing is the fixed subnormal step 2**-24.
    weights = sample_weights + [Weight("tiny", "float32", np.float32([3e-6, -7e-8, 1e-9]))]
    entries, back = round_trip(weights, "float16")
    for original, decoded, entry in zip(weights, back, entries, strict=True):
        assert decoded.dtype == original.dtype
        if original.dtype != "float32":
            continue
        assert entry["quantization"] == {"dtype": "float16", "original_dtype": "float32"}
        assert decoded.array.dtype == np.float32
        x = original.array.astype(np.float64)
        bound = np.maximum(np.abs(x) * 2.0**-11, 2.0**-25)
        assert np.all(np.abs(decoded.array - x) <= bound), original.name


def test_float16_overflow_becomes_infinity_and_is_reported() -> None:
    big = Weight("big", "float32", np.float32([1e5, -1.0]))
    _, (back,) = round_trip([big], "float16")
    assert back.array.tolist() == [math.inf, -1.0]
    assert non_finite_weights([back]) == ["big"]


def test_uint8_error_is_at_most_half_a_step_and_zero_is_exact(
    sample_weights: list[Weight],
) -> None:
    weights = sample_weights
    entries, back = round_trip(weights, "uint8")
    for original, decoded, entry in zip(weights, back, entries, strict=True):
        if original.dtype != "float32":
            continue
        quantization = entry["quantization"]
        assert quantization["dtype"] == "uint8"
        assert quantization["original_dtype"] == "float32"
        x = original.array.astype(np.float64)
        # Half a level from rounding, plus float32 rounding of the dequantised value.
        slack = 2.0**-23 * float(np.abs(x).max(initial=0.0)) + 1e-12
        assert np.all(np.abs(decoded.array - x) <= quantization["scale"] / 2 + slack), original.name
        assert np.all(decoded.array[x == 0.0] == 0.0), original.name
        if x.size and x.min() <= 0.0 <= x.max() and x.min() != x.max():
            # Some level dequantises to exactly 0.0, computed as the browser computes it.
            zero_level = round(-quantization["min"] / quantization["scale"])
            assert 0 <= zero_level <= 255
            assert zero_level * quantization["scale"] + quantization["min"] == 0.0


def test_uint8_matches_a_hand_computed_example() -> None:
    # The example in tensorflowjs' own docstring for quantised entries.
    data = np.float32([0.0, -0.1, 1.2])
    entries, shards = encode_weights([Weight("w", "float32", data)], "uint8")
    low, high = float(np.float32(-0.1)), float(np.float32(1.2))
    scale = (high - low) / 255
    assert shards == [bytes([20, 0, 255])]
    assert entries[0]["quantization"] == {
        "dtype": "uint8",
        "min": -20 * scale,
        "scale": scale,
        "original_dtype": "float32",
    }
    assert math.isclose(scale, 0.00509803940852, rel_tol=1e-9)


def test_uint8_keeps_ranges_without_zero_and_constants_exact() -> None:
    positive = np.float32([0.5, 0.8, 2.0])
    entries, shards = encode_weights(
        [
            Weight("positive", "float32", positive),
            Weight("constant", "float32", np.float32([-3.25] * 4)),
        ],
        "uint8",
    )
    first, constant = (entry["quantization"] for entry in entries)
    assert first["min"] == 0.5 and first["scale"] == 1.5 / 255  # no nudging without zero
    assert constant["min"] == -3.25 and constant["scale"] == 1.0
    assert shards == [bytes([0, 51, 255, 0, 0, 0, 0])]


def test_uint8_with_zero_minimum_writes_negative_zero_like_tensorflowjs() -> None:
    entries, _ = encode_weights([Weight("relu6", "float32", np.float32([0.0, 6.0]))], "uint8")
    assert json.dumps(entries[0]["quantization"]["min"]) == "-0.0"


def test_uint8_refuses_non_finite_values() -> None:
    weight = Weight("broken", "float32", np.float32([1.0, math.nan]))
    with pytest.raises(WeightsFormatError, match="'broken' holds NaN"):
        encode_weights([weight], "uint8")


@pytest.mark.parametrize("quantize", QUANTIZE_CHOICES)
def test_int32_and_bool_weights_are_never_quantised(quantize: str) -> None:
    weights = [w for w in random_weights() if w.dtype in ("int32", "bool")]
    entries, back = round_trip(weights, quantize)
    assert entries == [
        {"name": w.name, "shape": list(w.array.shape), "dtype": w.dtype} for w in weights
    ]
    for original, decoded in zip(weights, back, strict=True):
        assert decoded.array.dtype == original.array.dtype
        assert np.array_equal(decoded.array, original.array)


def test_complex64_round_trips_interleaved() -> None:
    value = np.complex64([1 + 2j, -3.5 - 0.25j])
    entries, shards = encode_weights([Weight("c", "complex64", value)], "uint8")
    assert "quantization" not in entries[0]
    assert shards == [np.float32([1, 2, -3.5, -0.25]).tobytes()]
    assert np.array_equal(decode_weights(entries, shards[0])[0].array, value)


def test_encode_narrows_within_a_kind_and_refuses_changing_kind() -> None:
    entries, shards = encode_weights([Weight("w", "float32", np.float64([0.1, 2.0]))])
    assert entries[0]["dtype"] == "float32" and shards == [np.float32([0.1, 2.0]).tobytes()]
    with pytest.raises(WeightsFormatError, match="float64 values cannot be stored as int32"):
        encode_weights([Weight("w", "int32", np.float64([0.5]))])
    with pytest.raises(WeightsFormatError, match="unknown dtype 'float64'"):
        encode_weights([Weight("w", "float64", np.float64([0.5]))])


def test_encode_refuses_bad_arguments() -> None:
    weights = [Weight("w", "float32", np.float32([1.0]))]
    with pytest.raises(ValueError, match="quantize must be one of none, float16, uint8"):
        encode_weights(weights, "fp16")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="shard_size must be a positive"):
            encode_weights(weights, shard_size=bad)
    with pytest.raises(WeightsFormatError, match="'w' appears twice"):
        encode_weights(weights * 2)


# --- sharding -----------------------------------------------------------------------------


def sharded(weights: list[Weight], shard_size: int) -> list[bytes]:
    entries, shards = encode_weights(weights, shard_size=shard_size)
    _, whole = encode_weights(weights, shard_size=1 << 30)
    assert b"".join(shards) == b"".join(whole)
    assert all(len(shard) == shard_size for shard in shards[:-1])
    assert 0 < len(shards[-1]) <= shard_size
    decoded = decode_weights(entries, b"".join(shards))
    assert all(np.array_equal(d.array, w.array) for d, w in zip(decoded, weights, strict=True))
    return shards


def test_weights_straddle_shard_boundaries() -> None:
    weights = [Weight(f"w{i}", "float32", np.arange(3, dtype=np.float32) + i) for i in range(5)]
    shards = sharded(weights, shard_size=16)  # 60 bytes: every third weight is cut in two
    assert [len(shard) for shard in shards] == [16, 16, 16, 12]


def test_a_weight_larger_than_a_shard_is_split() -> None:
    shards = sharded([Weight("big", "float32", np.ones(25, np.float32))], shard_size=7)
    assert len(shards) == math.ceil(100 / 7) and len(shards[-1]) == 100 % 7


def test_exact_multiple_leaves_no_empty_shard() -> None:
    shards = sharded([Weight("w", "int32", np.arange(16, dtype=np.int32))], shard_size=16)
    assert [len(shard) for shard in shards] == [16, 16, 16, 16]


def test_quantised_weights_are_sharded_after_quantising() -> None:
    weights = [Weight("w", "float32", np.linspace(-1, 1, 10, dtype=np.float32))]
    entries, shards = encode_weights(weights, "uint8", shard_size=4)
    assert [len(shard) for shard in shards] == [4, 4, 2]
    assert entry_nbytes(entries[0]) == 10


def test_no_weights_means_no_shards() -> None:
    assert encode_weights([]) == ([], [])


def test_shard_names_follow_tensorflowjs() -> None:
    assert shard_names(1) == ["group1-shard1of1.bin"]
    assert shard_names(2, group_number=3) == ["group3-shard1of2.bin", "group3-shard2of2.bin"]
