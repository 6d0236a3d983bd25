"""Audio (speech commands) and pose exports: recognised by content, read and checked like
image ones (tests/test_pose_build.py builds pose sites).

The shared fixtures have model.json and metadata.json but no weights.bin (5.7 and 5.9 MB); the
tests that need weights write a weights.bin of the size its manifest declares.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import real_export

from tmbuild.cli import cli
from tmbuild.errors import ExportError
from tmbuild.export.read import read_export


def kind_export(tmp_path: Path, fixture: str, weights: bool = True, **changes) -> Path:
    """A copy of a fixture in a folder whose name says nothing, with weights."""
    source = real_export(fixture)
    folder = tmp_path / "my-model"
    folder.mkdir()
    model = json.loads((source / "model.json").read_text(encoding="utf-8"))
    metadata = json.loads((source / "metadata.json").read_text(encoding="utf-8"))
    metadata.update(changes.pop("metadata", {}))
    if "edit" in changes:
        changes.pop("edit")(model)
    (folder / "model.json").write_text(json.dumps(model), encoding="utf-8")
    (folder / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    if weights:
        entries = model["weightsManifest"][0]["weights"]
        count = sum(math.prod(entry["shape"]) for entry in entries)
        (folder / "weights.bin").write_bytes(bytes(4 * count))
    return folder


def audio_export(tmp_path: Path, weights: bool = True, **changes) -> Path:
    return kind_export(tmp_path, "audio2-2020", weights, **changes)


def pose_export(tmp_path: Path, weights: bool = True, **changes) -> Path:
    return kind_export(tmp_path, "pose2-pt", weights, **changes)


def test_a_complete_audio_export_is_checked_and_named(tmp_path):
    folder = audio_export(tmp_path)
    result = CliRunner().invoke(cli, ["check", "--model", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        f"OK: {folder}: audio model, 43×232 spectrograms (1 s at 44.1 kHz), 2 labels "
        "(A, _background_noise_)"
    )


def test_a_complete_pose_export_is_read_as_a_pose_model(tmp_path):
    folder = pose_export(tmp_path)
    export = read_export(folder)
    assert export.kind == "pose" and export.labels == ["Matheus", "Iara"]
    assert export.summary() == (
        "pose model (PoseNet MobileNetV1 0.75, 257 px), 2 labels (Matheus, Iara)"
    )


@pytest.mark.parametrize("make", [audio_export, pose_export])
def test_without_weights_the_line_names_the_missing_weights_bin(tmp_path, make):
    folder = make(tmp_path, weights=False)
    with pytest.raises(ExportError, match=r"my-model/weights.bin: weights file named in"):
        read_export(folder)


def _input(shape):
    def edit(model):
        model["modelTopology"]["config"]["layers"][0]["config"]["batch_input_shape"] = shape

    return edit


def _head_units(units):
    def edit(model):
        model["modelTopology"]["config"]["layers"][-1]["config"]["layers"][0]["config"]["units"] = (
            units
        )

    return edit


def _extra_layer(model):
    layers = model["modelTopology"]["config"]["layers"]
    layers.insert(2, {"class_name": "LSTM", "config": {"name": "lstm_1"}, "name": "lstm_1"})


def _kernel_shape(model):
    # The same number of floats, the wrong shape for conv2d_1's 2×8 kernel of 8 filters.
    model["weightsManifest"][0]["weights"][2]["shape"] = [8, 2, 1, 8]


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        ({"metadata": {"wordLabels": ["A", "A"]}}, "the label 'A' appears twice in wordLabels"),
        ({"metadata": {"wordLabels": ["A"]}}, "one label only"),
        ({"metadata": {"wordLabels": "A,B"}}, "needs 'wordLabels', the list of its labels"),
        ({"metadata": {"wordLabels": ["A", ""]}}, r"wordLabels\[1\] is '', not a label"),
        ({"metadata": {"wordLabels": ["A", "B", "C"]}}, "3 labels but the model has 2 outputs"),
        ({"edit": _input([None, 43, 100, 1])}, r"has input \[43, 100, 1\]"),
        ({"edit": _head_units(3)}, "2 labels but the model has 3 outputs"),
        ({"edit": _extra_layer}, "a LSTM layer, which Teachable Machine's audio models"),
        ({"edit": _kernel_shape}, "conv2d_1"),
    ],
)
def test_a_damaged_audio_export_is_refused_in_one_line(tmp_path, changes, line):
    folder = audio_export(tmp_path, **changes)
    result = CliRunner().invoke(cli, ["check", "--model", str(folder)])
    assert result.exit_code == 1
    [shown] = result.output.splitlines()
    assert shown.startswith("Error: ") and "Traceback" not in result.output
    assert re.search(line, shown), shown


def _posenet(**settings):
    return {"metadata": {"modelSettings": {"posenet": settings}}}


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        (_posenet(architecture="ResNet50"), r"modelSettings.posenet.architecture is 'ResNet50'"),
        (_posenet(multiplier=1.0), r"modelSettings.posenet.multiplier is 1.0; tmbuild bundles"),
        (_posenet(outputStride=8), r"modelSettings.posenet.outputStride is 8"),
        ({"metadata": {"modelSettings": {"posenet": "on"}}}, "needs modelSettings.posenet"),
        ({"metadata": {"labels": ["a", "b", "c"]}}, "3 labels but the model has 2 outputs"),
        ({"edit": _input([None, 100])}, r"PoseNet's 14,739 numbers, this one has input \[100\]"),
    ],
)
def test_a_pose_export_tmbuild_cannot_run_is_refused_by_name(tmp_path, changes, line):
    folder = pose_export(tmp_path, **changes)
    result = CliRunner().invoke(cli, ["check", "--model", str(folder)])
    assert result.exit_code == 1
    [shown] = result.output.splitlines()
    assert re.search(line, shown), shown
