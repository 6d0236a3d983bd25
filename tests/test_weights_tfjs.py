"""Our weight files against tensorflowjs' own writer and reader, byte for byte."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from support.weights_helpers import (
    random_weights,
    real_weights_fixture,  # noqa: F401  (the `real_weights` fixture)
)

from tmbuild.model.weights import (
    TFJS_QUANTIZE,
    Weight,
    decode_weights,
    encode_weights,
    shard_names,
)

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
@pytest.mark.parametrize("quantize", TFJS_QUANTIZE)
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
