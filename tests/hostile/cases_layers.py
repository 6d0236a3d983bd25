"""Weights that disagree with their layers, and layer settings that make NaN.

Each of these used to build with exit 0 and ship a page that predicted NaN, or probabilities
that no longer sum to 1, or blamed the network for a shape mismatch in tf-layers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from conftest import EXAMPLE_EXPORT, copy_export, write_export
from harness import Case, registrar

CASES: list[Case] = []
case = registrar(CASES, "layers")

ARGS = ["--model", "m", "-o", "dist"]
RETRAIN = "retrain the model in Teachable Machine and export it again"


def _edit_model(folder: Path, change: Callable[[dict], None]) -> None:
    path = folder / "model.json"
    model = json.loads(path.read_text(encoding="utf-8"))
    change(model)
    path.write_text(json.dumps(model), encoding="utf-8")


def _layer_configs(node):
    """Every layer config of a topology, in order."""
    if isinstance(node, dict):
        if isinstance(node.get("config"), dict) and "class_name" in node:
            yield node["class_name"], node["config"]
        for value in node.values():
            yield from _layer_configs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _layer_configs(value)


def _example_with_epsilon(project: Path, epsilon: float) -> list[str]:
    """The example's MobileNet with its first batch norm's epsilon set to `epsilon`."""
    folder = copy_export(EXAMPLE_EXPORT, project / "m")

    def change(model: dict) -> None:
        norm = next(c for k, c in _layer_configs(model) if k == "BatchNormalization")
        norm["epsilon"] = epsilon

    _edit_model(folder, change)
    return ARGS


def _shapes(project: Path, shapes: dict[str, list[int]]) -> list[str]:
    """The tiny export with these weights declared in other shapes of the same size."""
    folder = write_export(project / "m")

    def change(model: dict) -> None:
        for entry in model["weightsManifest"][0]["weights"]:
            entry["shape"] = shapes.get(entry["name"], entry["shape"])

    _edit_model(folder, change)
    return ARGS


NORM = "layer 'conv1_bn' \\(BatchNormalization\\): epsilon is {}; it must be a small positive"


@case("epsilon-nan", "m/model.json: ", NORM.format("nan") + f".*{RETRAIN}")
def epsilon_nan(project: Path) -> list[str]:
    return _example_with_epsilon(project, float("nan"))


@case("epsilon-negative", "m/model.json: ", NORM.format("-1"))
def epsilon_negative(project: Path) -> list[str]:
    return _example_with_epsilon(project, -1)


@case("epsilon-infinity", "m/model.json: ", NORM.format("inf"))
def epsilon_infinity(project: Path) -> list[str]:
    return _example_with_epsilon(project, float("inf"))


@case(
    "dense-kernel-50x4",
    "m/model.json: ",
    "layer 'dense_Dense2' \\(Dense\\): weight 'dense_Dense2/kernel' has shape \\[50, 4\\], but "
    f"the layer needs \\[any, 2\\]; {RETRAIN}",
)
def dense_kernel_50x4(project: Path) -> list[str]:
    return _shapes(project, {"dense_Dense2/kernel": [50, 4]})


@case(
    "conv-kernel-transposed",
    "m/model.json: ",
    "layer 'Conv1' \\(Conv2D\\): weight 'Conv1/kernel' has shape \\[3, 3, 8, 3\\], but the "
    "layer needs \\[3, 3, any, 8\\]",
)
def conv_kernel_transposed(project: Path) -> list[str]:
    return _shapes(project, {"Conv1/kernel": [3, 3, 8, 3]})


@case(
    "dense-reads-the-wrong-width",
    "m: ",
    "weight 'dense_Dense1/kernel' has shape \\[4, 100\\]: it reads 4 features, but the layer "
    f"before it gives 8; {RETRAIN}",
)
def dense_reads_the_wrong_width(project: Path) -> list[str]:
    # The same 1,324 numbers as the real shapes, and each layer's own config agrees: only the
    # widths flowing from layer to layer tell that they cannot be right.
    return _shapes(project, {"dense_Dense1/kernel": [4, 100], "dense_Dense2/kernel": [300, 2]})


@case("no-plan-warns", "m: ", "the page will load tf-layers .*activation selu", warns=True)
def no_plan_warns(project: Path) -> list[str]:
    # Still a working model: tf-layers runs an activation tmbuild's runner does not.
    folder = write_export(project / "m")

    def change(model: dict) -> None:
        dense = next(c for k, c in _layer_configs(model) if k == "Dense")
        dense["activation"] = "selu"

    _edit_model(folder, change)
    return ARGS
