"""Tests for tmbuild.weights: decoding, quantising and re-sharding TensorFlow.js weights."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from tmbuild.weights import (
    QUANTIZE_CHOICES,
    SUPPORTED_DTYPES,
    Weight,
    WeightsFormatError,
    decode_weights,
    encode_weights,
    entry_nbytes,
    non_finite_weights,
    shard_names,
)

REAL_EXPORT = (
    Path(__file__).resolve().parents[2] / "shared/fixtures/tm-exports/mask2-ko-twoexports/export"
)


def read_real_export() -> tuple[list[dict], bytes]:
    if not (REAL_EXPORT / "model.json").is_file():
        pytest.skip(f"real Teachable Machine export not found at {REAL_EXPORT}")
    model = json.loads((REAL_EXPORT / "model.json").read_text(encoding="utf-8"))
    (group,) = model["weightsManifest"]
    data = b"".join((REAL_EXPORT / path).read_bytes() for path in group["paths"])
    return group["weights"], data


@pytest.fixture
def real_weights() -> list[Weight]:
    entries, data = read_real_export()
    return decode_weights(entries, data)


@pytest.fixture(params=["random", "real"])
def sample_weights(request: pytest.FixtureRequest) -> list[Weight]:
    if request.param == "real":
        return request.getfixturevalue("real_weights")
    return random_weights()


def random_weights(seed: int = 0) -> list[Weight]:
    """Weights covering every case the quantisers treat differently."""
    rng = np.random.default_rng(seed)

    def floats(*shape: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
        return rng.uniform(low, high, shape).astype(np.float32)

    with_zeros = floats(7, 5)
    with_zeros[2, 3] = with_zeros[0, 0] = 0.0
    return [
        Weight("conv/kernel", "float32", floats(3, 3, 4, 8, low=-0.7, high=0.3)),
        Weight("with_zeros", "float32", with_zeros),
        Weight("all_positive", "float32", floats(33, low=0.5, high=2.0)),
        Weight("all_negative", "float32", floats(2, 9, low=-3.0, high=-0.25)),
        Weight(
            "starts_at_zero",
            "float32",
            np.concatenate([np.float32([0.0]), floats(10, low=0, high=1)]),
        ),
        Weight("constant", "float32", np.full((4, 2), 0.375, np.float32)),
        Weight("wide_range", "float32", floats(50, low=-1e4, high=3e3)),
        Weight("scalar", "float32", np.array(1.5, np.float32)),
        Weight("empty", "float32", np.zeros((0, 3), np.float32)),
        Weight("steps", "int32", rng.integers(-(2**31), 2**31 - 1, (5, 3), dtype=np.int32)),
        Weight("mask", "bool", rng.integers(0, 2, 13).astype(bool)),
        Weight("moving_variance", "float32", floats(16, low=0.01, high=40.0)),
    ]


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


# --- byte-for-byte against tensorflowjs ---------------------------------------------------

TFJS_MAPS = {"none": None, "float16": {"float16": True}, "uint8": {"uint8": True}}


@pytest.fixture(scope="module")
def tensorflowjs() -> object:
    # Under pytest's captured output TensorFlow Decision Forests (imported by tensorflowjs)
    # believes it runs in a notebook and imports IPython to greet; this turns the greeting off.
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
    pytest.importorskip("tensorflowjs")
    import tensorflowjs.read_weights
    import tensorflowjs.write_weights

    return tensorflowjs


def write_with_tensorflowjs(
    tfjs: object, weights: list[Weight], quantize: str, shard_size: int, directory: Path
) -> tuple[dict, list[bytes]]:
    groups = [[{"name": w.name, "data": np.asarray(w.array)} for w in weights]]
    tfjs.write_weights.write_weights(  # type: ignore[attr-defined]
        groups,
        str(directory),
        shard_size_bytes=shard_size,
        quantization_dtype_map=TFJS_MAPS[quantize],
    )
    (group,) = json.loads((directory / "weights_manifest.json").read_text())
    return group, [(directory / path).read_bytes() for path in group["paths"]]


@pytest.mark.tfjs
@pytest.mark.parametrize("quantize", QUANTIZE_CHOICES)
@pytest.mark.parametrize(
    ("source", "shard_size"),
    [("real", 4 * 1024 * 1024), ("real", 500_000), ("random", 4 * 1024 * 1024), ("random", 97)],
)
def test_matches_tensorflowjs_write_weights(
    tensorflowjs: object,
    source: str,
    shard_size: int,
    quantize: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    if source == "real":
        weights = request.getfixturevalue("real_weights")
    else:
        # tensorflowjs fails on the min of an empty weight, so leave that one out.
        weights = [w for w in random_weights(7) if w.array.size]

    theirs, their_shards = write_with_tensorflowjs(
        tensorflowjs, weights, quantize, shard_size, tmp_path
    )
    entries, shards = encode_weights(weights, quantize, shard_size)

    if shard_size < 1_000_000:
        assert len(shards) > 1
    assert theirs["paths"] == shard_names(len(shards))
    assert [len(s) for s in shards] == [len(s) for s in their_shards]
    assert shards == their_shards
    assert json.loads(json.dumps(entries)) == theirs["weights"]
    assert json.dumps(entries) == json.dumps(theirs["weights"])  # same keys, order and floats

    # Dequantising as tensorflowjs' own reader does gives our decoded values, bit for bit.
    (their_values,) = tensorflowjs.read_weights.decode_weights(  # type: ignore[attr-defined]
        [theirs], [b"".join(their_shards)]
    )
    ours = decode_weights(theirs["weights"], b"".join(shards))
    for mine, their in zip(ours, their_values, strict=True):
        assert mine.name == their["name"]
        assert mine.array.dtype == their["data"].dtype
        assert mine.array.tobytes() == their["data"].tobytes()
