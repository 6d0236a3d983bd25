"""Shared by the weights tests: the real export's weights and random weights of every kind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tmbuild.model.weights import Weight, decode_weights

REAL_EXPORT = (
    Path(__file__).resolve().parents[3] / "shared/fixtures/tm-exports/mask2-ko-twoexports/export"
)


def read_real_export() -> tuple[list[dict], bytes]:
    if not (REAL_EXPORT / "model.json").is_file():
        pytest.skip(f"real Teachable Machine export not found at {REAL_EXPORT}")
    model = json.loads((REAL_EXPORT / "model.json").read_text(encoding="utf-8"))
    (group,) = model["weightsManifest"]
    data = b"".join((REAL_EXPORT / path).read_bytes() for path in group["paths"])
    return group["weights"], data


@pytest.fixture(name="real_weights")
def real_weights_fixture() -> list[Weight]:
    entries, data = read_real_export()
    return decode_weights(entries, data)


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
