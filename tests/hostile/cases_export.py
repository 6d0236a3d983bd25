"""Hostile export folders: damaged JSON, lying manifests, links out, models of other kinds.

Each maker writes its export as `m/` in the project and returns the build arguments.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path

from conftest import copy_export, real_export, write_export
from harness import Case, registrar

CASES: list[Case] = []
case = registrar(CASES, "export")

ARGS = ["--model", "m", "-o", "dist"]
AGAIN = "download the export again"


def export(project: Path, **options) -> Path:
    return write_export(project / "m", **options)


def edit(folder: Path, name: str, change: Callable[[dict], object]) -> None:
    """Rewrite one JSON file of the export after `change` edits its parsed value."""
    path = folder / name
    value = json.loads(path.read_text(encoding="utf-8"))
    change(value)
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")


def set_weight(key: str, value: object, index: int = 0) -> Callable[[dict], None]:
    def change(model: dict) -> None:
        model["weightsManifest"][0]["weights"][index][key] = value

    return change


def set_paths(paths: list[str]) -> Callable[[dict], None]:
    def change(model: dict) -> None:
        model["weightsManifest"][0]["paths"] = paths

    return change


def set_metadata(key: str, value: object) -> Callable[[dict], None]:
    def change(metadata: dict) -> None:
        metadata[key] = value

    return change


def outside(project: Path) -> Path:
    """A folder beside the project: what links out of the export point at."""
    folder = project.parent / "outside"
    folder.mkdir(exist_ok=True)
    return folder


# ---- model.json: empty, damaged, huge, not a file -------------------------------------------


@case("model-json-empty", "m/model.json: ", f"empty file; {AGAIN}")
def model_json_empty(project: Path) -> list[str]:
    (export(project) / "model.json").write_bytes(b"")
    return ARGS


@case("model-json-truncated", "m/model.json: ", rf"invalid JSON at line 1 column \d+.*{AGAIN}")
def model_json_truncated(project: Path) -> list[str]:
    path = export(project) / "model.json"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return ARGS


@case("model-json-not-utf8", "m/model.json: ", rf"not UTF-8 text \(byte \d+\); {AGAIN}")
def model_json_not_utf8(project: Path) -> list[str]:
    path = export(project) / "model.json"
    path.write_bytes(path.read_text().replace("model1", "modèle").encode("latin-1"))
    return ARGS


@case("model-json-deeply-nested", "m/model.json: ", f"JSON nested too deeply.*; {AGAIN}")
def model_json_deeply_nested(project: Path) -> list[str]:
    (export(project) / "model.json").write_text("[" * 100_000 + "]" * 100_000)
    return ARGS


@case("model-json-50mb", "m/model.json: ", f"is 52,428,800 bytes, more than .* {AGAIN}")
def model_json_50mb(project: Path) -> list[str]:
    # A sparse file: 50 MB to every reader, no time or disk to write. Refused by its size,
    # before a byte is read.
    with open(export(project) / "model.json", "r+b") as file:
        file.truncate(50 * 1024 * 1024)
    return ARGS


@case("model-json-not-an-object", "m/model.json: ", f"expected a JSON object, got list; {AGAIN}")
def model_json_not_an_object(project: Path) -> list[str]:
    (export(project) / "model.json").write_text("[1, 2, 3]")
    return ARGS


@case("model-json-fifo", "m/model.json: ", "is not a regular file; .*export")
def model_json_fifo(project: Path) -> list[str]:
    # Opening a named pipe blocks until something writes to it: it must be refused unopened.
    path = export(project) / "model.json"
    path.unlink()
    os.mkfifo(path)
    return ARGS


@case("model-json-huge-integer", "m/model.json: ", f"holds a number too long.*; {AGAIN}")
def model_json_huge_integer(project: Path) -> list[str]:
    # Python refuses to turn more than 4,300 digits into an int (a denial-of-service guard).
    edit(export(project), "model.json", lambda model: model.update(extra=0))
    path = project / "m" / "model.json"
    path.write_text(path.read_text().replace('"extra": 0', '"extra": ' + "9" * 5000))
    return ARGS


@case("model-json-no-topology", "m/model.json: ", "no 'modelTopology'.*Download my model")
def model_json_no_topology(project: Path) -> list[str]:
    edit(export(project), "model.json", lambda model: model.pop("modelTopology"))
    return ARGS


# ---- weights: sizes, values, shapes, names, dtypes ------------------------------------------


@case("weights-shorter", "m/weights.bin: ", rf"\(4 missing\).*{AGAIN}")
def weights_shorter(project: Path) -> list[str]:
    path = export(project) / "weights.bin"
    path.write_bytes(path.read_bytes()[:-4])
    return ARGS


@case("weights-longer", "m/weights.bin: ", rf"\(8 extra\).*{AGAIN}")
def weights_longer(project: Path) -> list[str]:
    path = export(project) / "weights.bin"
    path.write_bytes(path.read_bytes() + b"\0" * 8)
    return ARGS


@case("weights-missing", "m/weights.bin: ", "missing; keep the whole export together")
def weights_missing(project: Path) -> list[str]:
    (export(project) / "weights.bin").unlink()
    return ARGS


def _poison_weights(project: Path, value: float, offset: int) -> None:
    path = export(project) / "weights.bin"
    data = bytearray(path.read_bytes())
    data[offset : offset + 4] = struct.pack("<f", value)
    path.write_bytes(bytes(data))


# The first value of the first weight, and one inside the third (after 3*3*3*8 + 8 floats).
@case("weights-nan", "m: ", "weight 'Conv1/kernel' holds NaN or infinity.*retrain")
def weights_nan(project: Path) -> list[str]:
    _poison_weights(project, float("nan"), 0)
    return ARGS


@case("weights-inf", "m: ", "'dense_Dense1/kernel' holds NaN or infinity.*retrain")
def weights_inf(project: Path) -> list[str]:
    _poison_weights(project, float("-inf"), (3 * 3 * 3 * 8 + 8) * 4)
    return ARGS


@case("weights-nan-uint8", "m: ", "'Conv1/kernel' holds NaN or infinity.*retrain")
def weights_nan_uint8(project: Path) -> list[str]:
    _poison_weights(project, float("nan"), 0)
    return [*ARGS, "--quantize", "uint8"]


@case("shape-negative", "m/model.json: ", rf"'Conv1/kernel': shape .*non-negative.*{AGAIN}")
def shape_negative(project: Path) -> list[str]:
    edit(export(project), "model.json", set_weight("shape", [-3, 3, 3, 8]))
    return ARGS


@case("shape-overflow", "m/model.json: ", rf"more than TensorFlow.js can hold; {AGAIN}")
def shape_overflow(project: Path) -> list[str]:
    edit(export(project), "model.json", set_weight("shape", [2**62, 2**62, 3, 8]))
    return ARGS


@case("shape-not-a-list", "m/model.json: ", rf"shape must be a list .*'3x3'; {AGAIN}")
def shape_not_a_list(project: Path) -> list[str]:
    edit(export(project), "model.json", set_weight("shape", "3x3"))
    return ARGS


@case("weight-names-duplicate", "m/model.json: ", f"'Conv1/kernel' is listed twice; .*{AGAIN}")
def weight_names_duplicate(project: Path) -> list[str]:
    edit(export(project), "model.json", set_weight("name", "Conv1/kernel", index=1))
    return ARGS


@case("dtype-unknown", "m/model.json: ", f"unknown dtype 'float64'; expected one of .*{AGAIN}")
def dtype_unknown(project: Path) -> list[str]:
    edit(export(project), "model.json", set_weight("dtype", "float64"))
    return ARGS


# ---- manifest paths that leave the export ---------------------------------------------------

BESIDE = "weight files must sit beside model.json"


@case("manifest-path-parent", "m/model.json: ", f"'../weights.bin' contains '..'.*; {BESIDE}")
def manifest_path_parent(project: Path) -> list[str]:
    (outside(project) / "weights.bin").write_bytes((export(project) / "weights.bin").read_bytes())
    edit(project / "m", "model.json", set_paths(["../weights.bin"]))
    return ARGS


@case("manifest-path-absolute", "m/model.json: ", f"'/etc/passwd' is an absolute path; {BESIDE}")
def manifest_path_absolute(project: Path) -> list[str]:
    edit(export(project), "model.json", set_paths(["/etc/passwd"]))
    return ARGS


@case("manifest-path-windows", "m/model.json: ", rf"'C:\\\\x' is an absolute path; {BESIDE}")
def manifest_path_windows(project: Path) -> list[str]:
    edit(export(project), "model.json", set_paths(["C:\\x"]))
    return ARGS


@case("manifest-path-url", "m/model.json: ", f"'https://evil.example/w.bin' is a URL.*; {BESIDE}")
def manifest_path_url(project: Path) -> list[str]:
    edit(export(project), "model.json", set_paths(["https://evil.example/w.bin"]))
    return ARGS


# A name that would print a fake all-clear line and recolour the terminal if shown raw.
FORGED = "w.bin\nBuilt dist/ in 0.1 s\x1b[32m"


@case("manifest-path-control-chars", r"m/w.bin\nBuilt dist/ in 0.1 s\x1b[32m: ", "missing; keep")
def manifest_path_control_chars(project: Path) -> list[str]:
    edit(export(project), "model.json", set_paths([FORGED]))
    return ARGS


@case("weights-symlink-out", "m/weights.bin: ", "is a link to .*outside the export folder; copy")
def weights_symlink_out(project: Path) -> list[str]:
    folder = export(project)
    target = outside(project) / "weights.bin"
    (folder / "weights.bin").rename(target)
    (folder / "weights.bin").symlink_to(target)
    return ARGS


@case("metadata-symlink-to-passwd", "m/metadata.json: ", "is a link to /etc/passwd, outside the")
def metadata_symlink_to_passwd(project: Path) -> list[str]:
    folder = export(project)
    (folder / "metadata.json").unlink()
    (folder / "metadata.json").symlink_to("/etc/passwd")
    return ARGS


@case("model-json-symlink-out", "m/model.json: ", "is a link to .*outside the export folder")
def model_json_symlink_out(project: Path) -> list[str]:
    folder = export(project)
    target = outside(project) / "model.json"
    (folder / "model.json").rename(target)
    (folder / "model.json").symlink_to(os.path.relpath(target, folder))
    return ARGS


@case("metadata-symlink-loop", "m/metadata.json: ", "is a link that loops back on itself; put")
def metadata_symlink_loop(project: Path) -> list[str]:
    folder = export(project)
    (folder / "metadata.json").unlink()
    (folder / "metadata.json").symlink_to("metadata.json")
    return ARGS


# ---- metadata.json and its labels -----------------------------------------------------------


@case("metadata-missing", "m/metadata.json: ", "missing; it holds the class labels — download")
def metadata_missing(project: Path) -> list[str]:
    (export(project) / "metadata.json").unlink()
    return ARGS


@case("metadata-invalid-json", "m/metadata.json: ", f"invalid JSON at line 1.*{AGAIN}")
def metadata_invalid_json(project: Path) -> list[str]:
    (export(project) / "metadata.json").write_text('{"labels": ["a", "b"')
    return ARGS


@case("metadata-empty-object", "m/metadata.json: ", f"'labels' must be a non-empty list.*{AGAIN}")
def metadata_empty_object(project: Path) -> list[str]:
    (export(project) / "metadata.json").write_text("{}")
    return ARGS


@case("labels-not-strings", "m/metadata.json: ", "labels\\[0\\] is 1; every label must be a")
def labels_not_strings(project: Path) -> list[str]:
    edit(export(project), "metadata.json", set_metadata("labels", [1, 2]))
    return ARGS


@case("labels-a-string", "m/metadata.json: ", f"'labels' must be a non-empty list.*{AGAIN}")
def labels_a_string(project: Path) -> list[str]:
    edit(export(project), "metadata.json", set_metadata("labels", "cat,dog"))
    return ARGS


@case("labels-blank", "m/metadata.json: ", "labels\\[0\\] is ' '; every label must be a non-empty")
def labels_blank(project: Path) -> list[str]:
    edit(export(project), "metadata.json", set_metadata("labels", [" ", "dog"]))
    return ARGS


@case("labels-duplicate", "m/metadata.json: ", "label 'cat' appears twice .*rename one class")
def labels_duplicate(project: Path) -> list[str]:
    export(project, labels=["cat", "cat"])
    return ARGS


@case("labels-none", "m/metadata.json: ", f"'labels' must be a non-empty list.*{AGAIN}")
def labels_none(project: Path) -> list[str]:
    edit(export(project), "metadata.json", set_metadata("labels", []))
    return ARGS


@case("labels-10000", "m/metadata.json: ", "10,000 labels; tmbuild accepts at most 1000.*")
def labels_10000(project: Path) -> list[str]:
    labels = [f"class {index}" for index in range(10_000)]
    edit(export(project), "metadata.json", set_metadata("labels", labels))
    return ARGS


@case("labels-count-mismatch", "m/metadata.json: ", "3 labels but the model has 2 outputs; .*")
def labels_count_mismatch(project: Path) -> list[str]:
    edit(export(project), "metadata.json", set_metadata("labels", ["a", "b", "c"]))
    return ARGS


@case("labels-huge-duplicate", "m/metadata.json: ", "label 'xxxx.*' appears twice")
def labels_huge_duplicate(project: Path) -> list[str]:
    # The label is repeated in the message: it must be cut short, not printed 1 MB long.
    export(project, labels=["x" * 1_000_000, "x" * 1_000_000])
    return ARGS


@case("image-size-absurd", "m/metadata.json: ", "'imageSize' must be a whole number of pixels")
def image_size_absurd(project: Path) -> list[str]:
    edit(export(project), "metadata.json", set_metadata("imageSize", 10**30))
    return ARGS


# ---- models of another kind -----------------------------------------------------------------


# Pose and audio exports are read and checked (tmbuild.export.pose, .audio); the fixtures have
# no weights.bin.
@case("pose-export", "m/weights.bin: ", "weights file named in model.json is missing")
def pose_export(project: Path) -> list[str]:
    copy_export(real_export("pose2-pt"), project / "m")
    return ARGS


@case("audio-export", "m/weights.bin: ", "weights file named in model.json is missing")
def audio_export(project: Path) -> list[str]:
    copy_export(real_export("audio2-2020"), project / "m")
    return ARGS


@case("pose-metadata", "m/metadata.json: ", "a pose model's metadata needs modelSettings.posenet")
def pose_metadata(project: Path) -> list[str]:
    package = set_metadata("packageName", "@teachablemachine/pose")
    edit(export(project), "metadata.json", package)
    return ARGS


@case(
    "audio-metadata",
    "m/model.json: ",
    "an audio model takes 43×232×1 spectrograms, this one has input \\[.*\\]; not a",
)
def audio_metadata(project: Path) -> list[str]:
    edit(export(project), "metadata.json", set_metadata("wordLabels", ["a", "b"]))
    return ARGS


@case("graph-model", "m/model.json: ", "graph model, not a layers model; .*Download my model")
def graph_model(project: Path) -> list[str]:
    edit(export(project), "model.json", lambda model: model.update(format="graph-model"))
    return ARGS


CONVERT = "holds a Keras model.*tensorflowjs_converter --input_format keras"


def _keras_export(folder: Path) -> Path:
    # What Teachable Machine's "Tensorflow → Keras" download holds.
    folder.mkdir()
    (folder / "keras_model.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    (folder / "labels.txt").write_text("0 cat\n1 dog\n")
    return folder


@case("keras-h5-folder", "m: ", CONVERT)
def keras_h5_folder(project: Path) -> list[str]:
    _keras_export(project / "m")
    return ARGS


@case("keras-h5-file", "m/keras_model.h5: ", CONVERT)
def keras_h5_file(project: Path) -> list[str]:
    _keras_export(project / "m")
    return ["--model", "m/keras_model.h5", "-o", "dist"]


@case("savedmodel-folder", "m: ", "holds a TensorFlow SavedModel.*export again")
def savedmodel_folder(project: Path) -> list[str]:
    folder = project / "m" / "model.savedmodel"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")
    return ARGS


@case("tflite-file", "model.tflite: ", "holds a TensorFlow Lite model; export again")
def tflite_file(project: Path) -> list[str]:
    (project / "model.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3")
    return ["--model", "model.tflite", "-o", "dist"]


@case("two-exports", "m: ", "holds 2 exports .*; point model.path at the one you want")
def two_exports(project: Path) -> list[str]:
    write_export(project / "m" / "a")
    write_export(project / "m" / "b")
    return ARGS


@case("model-path-missing", "--model: ", "'nope' does not exist")
def model_path_missing(project: Path) -> list[str]:
    return ["--model", "nope", "-o", "dist"]
