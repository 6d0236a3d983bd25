"""Reading exports: every real variant accepted, every broken or foreign one refused clearly."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import pytest
from conftest import FIXTURES, IMAGE_EXPORTS, real_export, write_export

from tmbuild.errors import ExportError
from tmbuild.export.read import read_export

EXPECTED_LABELS = {
    "official-2class": ["Class 1", "Class 2"],
    "brands6-imgs": ["ADIDAS", "FERRARI", "NIKE", "OAKLEY", "PUMA", "nda"],
    "epi-pt4-imgs": ["epi_completo", "epi_incompleto", "sem_epi", "fundo_imagens"],
    "mask2-ko-twoexports": ["마스크", "마스크 X"],
}


@pytest.mark.parametrize("name", sorted(IMAGE_EXPORTS))
def test_real_image_exports_are_accepted(name):
    export = read_export(real_export(name))
    assert export.labels == EXPECTED_LABELS[name]
    assert export.image_size == 224
    assert export.grayscale is False
    # float32 MobileNet base + head: about 2.15 MB, exactly what the manifest describes.
    assert 2_100_000 < export.weight_bytes < 2_200_000


def test_old_export_without_image_size_assumes_224():
    export = read_export(real_export("official-2class"))
    assert "imageSize" not in export.metadata
    assert export.image_size == 224


@pytest.mark.parametrize(("name", "kind"), [("pose2-pt", "pose"), ("audio2-2020", "audio")])
def test_pose_and_audio_exports_are_recognised_by_content(name, kind, tmp_path):
    """Whatever the folder's name: an audio or pose export is read as one."""
    source = real_export(name)
    # Copy into a folder whose name says nothing, so only the content can tell.
    folder = tmp_path / "my-image-model"
    folder.mkdir()
    for path in source.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    manifest = json.loads((folder / "model.json").read_text())["weightsManifest"][0]
    floats = sum(math.prod(entry["shape"]) for entry in manifest["weights"])
    (folder / "weights.bin").write_bytes(bytes(4 * floats))
    assert read_export(folder).kind == kind


def test_pose_topology_refused_even_without_metadata_hint(tmp_path):
    source = real_export("pose2-pt")
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "model.json").write_bytes((source / "model.json").read_bytes())
    (folder / "metadata.json").write_text(json.dumps({"labels": ["a", "b"]}))
    with pytest.raises(ExportError, match="flat vector of 14739 numbers"):
        read_export(folder)


def test_zip_of_a_folder_export(tmp_path):
    folder = write_export(tmp_path / "export")
    archive = tmp_path / "converted.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, path.name)
    export = read_export(archive)
    assert export.labels == ["cat", "dog"]


def test_renamed_weights_and_dot_slash_paths(tmp_path):
    folder = write_export(tmp_path / "e", weights_name="model.weights.bin")
    model = json.loads((folder / "model.json").read_text())
    model["weightsManifest"][0]["paths"] = ["./model.weights.bin"]
    (folder / "model.json").write_text(json.dumps(model, indent=4))  # pretty-printed too
    assert read_export(folder).labels == ["cat", "dog"]


def test_export_nested_one_folder_down_with_extra_files(tmp_path):
    write_export(tmp_path / "download" / "my_model")
    (tmp_path / "download" / "index.html").write_text("<p>hi</p>")
    (tmp_path / "download" / "readme.txt").write_text("stray")
    assert read_export(tmp_path / "download").labels == ["cat", "dog"]


def test_path_to_model_json_itself(tmp_path):
    folder = write_export(tmp_path / "e")
    assert read_export(folder / "model.json").labels == ["cat", "dog"]


def test_tiny_grayscale_96px_variant(tmp_path):
    export = read_export(write_export(tmp_path / "e", image_size=96, grayscale=True))
    assert (export.image_size, export.grayscale) == (96, True)


def test_non_ascii_labels(tmp_path):
    labels = ["마스크", "マスク なし", "Sí, ção", "blåbær"]
    export = read_export(write_export(tmp_path / "e", labels=labels))
    assert export.labels == labels


# ---- refusals: one line naming the file and the fix ----------------------------------------


def _mutate(tmp_path: Path, change) -> Path:
    folder = write_export(tmp_path / "e")
    model = json.loads((folder / "model.json").read_text())
    metadata = json.loads((folder / "metadata.json").read_text())
    change(folder, model, metadata)
    if (folder / "model.json").exists():
        (folder / "model.json").write_text(json.dumps(model))
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return folder


def _refused(folder: Path, pattern: str) -> str:
    with pytest.raises(ExportError, match=pattern) as info:
        read_export(folder)
    message = str(info.value)
    assert "\n" not in message
    return message


def _set_paths(paths):
    def change(folder, model, metadata):
        model["weightsManifest"][0]["paths"] = paths

    return change


def test_unreadable_json(tmp_path):
    folder = write_export(tmp_path / "e")
    (folder / "model.json").write_text('{"modelTopology": {')
    message = _refused(folder, "invalid JSON at line 1 column 20")
    assert message.startswith(f"{folder}/model.json:")


def test_not_utf8_and_empty(tmp_path):
    folder = write_export(tmp_path / "e")
    (folder / "model.json").write_bytes(b"\xff\xfe{}")
    _refused(folder, "not UTF-8")
    (folder / "model.json").write_bytes(b"")
    _refused(folder, "empty file")


def test_not_a_layers_model(tmp_path):
    def graph(folder, model, metadata):
        model["format"] = "graph-model"
        model["modelTopology"] = {"node": []}

    _refused(_mutate(tmp_path, graph), "graph model, not a layers model")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/etc/passwd", "absolute path"),
        ("../weights.bin", "contains '..'"),
        ("sub/../../x.bin", "contains '..'"),
        ("C:\\weights.bin", "absolute path"),
        ("https://example.com/w.bin", "is a URL"),
    ],
)
def test_manifest_paths_that_leave_the_export(tmp_path, path, reason):
    message = _refused(_mutate(tmp_path, _set_paths([path])), reason)
    assert "model.json" in message


def test_symlink_out_of_the_export(tmp_path):
    outside = tmp_path / "outside.bin"
    folder = write_export(tmp_path / "e")
    outside.write_bytes((folder / "weights.bin").read_bytes())
    (folder / "weights.bin").unlink()
    (folder / "weights.bin").symlink_to(outside)
    _refused(folder, "outside the export folder")


def test_missing_weights_file(tmp_path):
    folder = write_export(tmp_path / "e")
    (folder / "weights.bin").unlink()
    _refused(folder, "weights.bin: weights file named in model.json is missing")


@pytest.mark.parametrize(("delta", "word"), [(-4, "missing"), (8, "extra")])
def test_weights_shorter_or_longer_than_manifest(tmp_path, delta, word):
    folder = write_export(tmp_path / "e")
    data = (folder / "weights.bin").read_bytes()
    (folder / "weights.bin").write_bytes(data[:delta] if delta < 0 else data + b"\0" * delta)
    _refused(folder, f"\\({abs(delta)} {word}\\)")


def test_unsupported_dtype(tmp_path):
    def dtype(folder, model, metadata):
        model["weightsManifest"][0]["weights"][0]["dtype"] = "float64"

    _refused(_mutate(tmp_path, dtype), "Conv1/kernel")


def test_duplicate_weight_names(tmp_path):
    def duplicate(folder, model, metadata):
        entries = model["weightsManifest"][0]["weights"]
        entries[1]["name"] = entries[0]["name"]

    _refused(_mutate(tmp_path, duplicate), "listed twice")


def test_label_count_differs_from_output_units(tmp_path):
    def more_labels(folder, model, metadata):
        metadata["labels"] = ["a", "b", "c"]

    _refused(_mutate(tmp_path, more_labels), "3 labels but the model has 2 outputs")


def test_input_shape_inconsistent_with_metadata(tmp_path):
    def bigger(folder, model, metadata):
        metadata["imageSize"] = 224

    _refused(_mutate(tmp_path, bigger), r"input shape \[None, 32, 32, 3\] does not match")

    def grayscale(folder, model, metadata):
        metadata["grayscale"] = True

    _refused(_mutate(tmp_path / "g", grayscale), "grayscale true")


@pytest.mark.parametrize(
    ("labels", "pattern"),
    [([], "non-empty list"), (["a", 3], "labels\\[1\\] is 3"), (["a", "a"], "appears twice")],
)
def test_bad_labels(tmp_path, labels, pattern):
    def change(folder, model, metadata):
        metadata["labels"] = labels

    _refused(_mutate(tmp_path, change), pattern)


def test_metadata_missing(tmp_path):
    folder = write_export(tmp_path / "e")
    (folder / "metadata.json").unlink()
    _refused(folder, "metadata.json: missing; it holds the class labels")


def test_no_model_json_and_keras_h5(tmp_path):
    (tmp_path / "empty").mkdir()
    _refused(tmp_path / "empty", "no model.json found")
    (tmp_path / "keras").mkdir()
    (tmp_path / "keras" / "keras_model.h5").write_bytes(b"\x89HDF\r\n")
    _refused(tmp_path / "keras", "tensorflowjs_converter --input_format keras")


def test_two_exports_side_by_side(tmp_path):
    write_export(tmp_path / "both" / "a")
    write_export(tmp_path / "both" / "b")
    _refused(tmp_path / "both", "holds 2 exports")


def test_zip_slip_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../evil.txt", "x")
        zf.writestr("model.json", "{}")
    _refused(archive, "zip slip")


def test_zip_bomb_is_refused(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("weights.bin", b"\0" * (600 * 1024 * 1024))
    _refused(archive, "zip bomb")


def test_fixture_folder_is_read_only_and_untouched():
    if not FIXTURES.exists():
        pytest.skip("shared fixtures absent")
    before = {p: p.stat().st_mtime_ns for p in FIXTURES.rglob("*") if p.is_file()}
    read_export(real_export("brands6-imgs"))
    assert before == {p: p.stat().st_mtime_ns for p in FIXTURES.rglob("*") if p.is_file()}
