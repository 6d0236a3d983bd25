"""int8 weights: tmbuild's per-channel format, its round trip, its bias correction, its builds."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import file_tree, real_export, write_export

from tmbuild.cli import cli
from tmbuild.model.int8 import INT8_LEVELS, decode_int8, encode_int8, int8_nbytes
from tmbuild.model.weights import Weight, decode_weights, encode_weights


def _kernel(seed: int = 0, shape=(3, 3, 4, 6)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Channels of very different sizes: one scale per tensor would flatten the small ones.
    sizes = np.array([1e-4, 1e-2, 0.5, 3.0, 40.0, 0.05])[: shape[-1]]
    return (rng.standard_normal(shape) * sizes).astype(np.float32)


def test_round_trip_is_within_one_level_of_each_channels_own_scale() -> None:
    kernel = _kernel()
    data = encode_int8(kernel, 6)
    assert len(data) == int8_nbytes(kernel.shape, 6) == 6 * 4 + kernel.size
    scales = np.frombuffer(data[:24], "<f4")
    back = decode_int8(data, kernel.shape, 6)
    assert back.dtype == np.float32 and back.shape == kernel.shape
    error = np.abs(back - kernel).reshape(-1, 6).max(axis=0)
    # Half a level from rounding, half more where a channel's sum is kept exact.
    assert (error <= scales * 1.0 + 1e-12).all()
    relative = error / np.abs(kernel).reshape(-1, 6).max(axis=0)
    assert relative.max() < 1 / INT8_LEVELS


def test_each_output_channel_has_its_own_scale() -> None:
    kernel = _kernel()
    data = encode_int8(kernel, 6)
    scales = np.frombuffer(data[:24], "<f4")
    largest = np.abs(kernel).reshape(-1, 6).max(axis=0)
    assert scales.tolist() == (largest / INT8_LEVELS).astype(np.float32).tolist()
    levels = np.frombuffer(data[24:], np.int8).reshape(-1, 6)
    assert (np.abs(levels).max(axis=0) >= INT8_LEVELS - 1).all()  # each channel uses its range


def test_a_channel_of_zeros_decodes_to_zeros() -> None:
    kernel = _kernel()
    kernel[..., 2] = 0
    back = decode_int8(encode_int8(kernel, 6), kernel.shape, 6)
    assert (back[..., 2] == 0).all()


def test_the_bytes_are_as_documented() -> None:
    kernel = np.array([[1.0, -2.0], [-0.25, 0.75]], np.float32)  # dense [in 2, out 2]
    data = encode_int8(kernel, 2)
    assert data[:8] == struct.pack("<2f", np.float32(1 / 127), np.float32(2 / 127))
    assert list(np.frombuffer(data[8:], np.int8)) == [127, -127, -32, 48]


def test_encode_weights_stores_only_the_named_kernels_as_int8() -> None:
    kernel = Weight("conv/kernel", "float32", _kernel())
    bias = Weight("conv/bias", "float32", np.arange(6, dtype=np.float32))
    entries, shards = encode_weights([kernel, bias], "int8", per_channel={"conv/kernel": 6})
    assert entries[0]["quantization"] == {
        "dtype": "int8",
        "channels": 6,
        "original_dtype": "float32",
    }
    assert "quantization" not in entries[1]  # biases stay float32
    back = decode_weights(json.loads(json.dumps(entries)), b"".join(shards))
    assert back[1].array.tobytes() == bias.array.tobytes()
    assert np.abs(back[0].array - kernel.array).max() <= np.abs(kernel.array).max() / 127


def test_decode_refuses_a_damaged_int8_entry() -> None:
    entry = {"name": "k", "shape": [3, 5], "dtype": "float32"}
    entry["quantization"] = {"dtype": "int8", "channels": 4}  # 15 values are not 4 channels
    with pytest.raises(ValueError, match="channels"):
        decode_weights([entry], bytes(31))


def _build(tmp_path: Path, export: Path, name: str, *extra: str):
    output = tmp_path / name
    args = ["build", "--model", str(export), "-o", str(output), "-q", *extra]
    result = CliRunner().invoke(cli, args)
    return result, output


def test_an_int8_build_is_byte_identical_every_time(tmp_path, monkeypatch) -> None:
    export = real_export("brands6-imgs")
    monkeypatch.setenv("TMBUILD_CACHE_DIR", str(tmp_path / "cache"))  # prepared twice
    first, one = _build(tmp_path / "a", export, "site", "--quantize", "int8")
    monkeypatch.setenv("TMBUILD_CACHE_DIR", str(tmp_path / "cache2"))
    second, two = _build(tmp_path / "b", export, "site", "--quantize", "int8")
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert file_tree(one) == file_tree(two)
    manifest = json.loads((one / "tmbuild-manifest.json").read_text())
    assert manifest["model"]["quantize"] == "int8"
    float16, _ = _build(tmp_path / "c", export, "f16", "--quantize", "float16")
    assert float16.exit_code == 0
    f16 = json.loads((tmp_path / "c" / "f16" / "tmbuild-manifest.json").read_text())
    # A quarter of float32, against float16's half: 2.12 MB → about 0.62 MB.
    assert manifest["model"]["bytes"] < 0.6 * f16["model"]["bytes"]


def test_int8_corrects_the_biases_for_the_rounding(tmp_path) -> None:
    """The bias correction moves the biases, and only those of int8 kernels."""
    export = real_export("brands6-imgs")
    _, none = _build(tmp_path, export, "none")
    _, int8 = _build(tmp_path, export, "int8", "--quantize", "int8")

    def weights(site: Path) -> dict[str, np.ndarray]:
        model = next(site.glob("models/*/*/model.json"))
        group = json.loads(model.read_text())["weightsManifest"][0]
        data = b"".join((model.parent / path).read_bytes() for path in group["paths"])
        return {w.name: w.array for w in decode_weights(group["weights"], data)}

    exact, rounded = weights(none), weights(int8)
    assert exact.keys() == rounded.keys()
    biases = [name for name in exact if name.endswith("/bias")]
    moved = [name for name in biases if not np.array_equal(exact[name], rounded[name])]
    assert len(moved) > 0.9 * len(biases)
    for name in moved:  # a correction, not a different model
        assert np.abs(exact[name] - rounded[name]).max() < 0.05 * np.abs(exact[name]).max() + 0.05


def test_int8_with_tf_layers_is_one_clear_line(tmp_path) -> None:
    export = write_export(tmp_path / "export")
    config = tmp_path / "site.yaml"
    config.write_text(
        f"model:\n  path: {export}\n  quantize: int8\nruntime:\n  model_runner: tf-layers\n"
    )
    result = CliRunner().invoke(cli, ["build", "-c", str(config), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1
    assert "model.quantize: int8" in result.output and "tf-layers" in result.output
    assert "Traceback" not in result.output
