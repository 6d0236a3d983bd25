"""Reading and checking a Teachable Machine image export.

Real exports vary (see the fixtures' README): old metadata without `imageSize`, renamed weight
files, pretty-printed JSON, extra files beside the model, a tiny grayscale 96×96 variant. Kinds
are told apart by content, never by folder names. Everything that is wrong is refused here, with
one line naming the file and the fix, so later stages can trust what they get.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from pathlib import Path

from tmbuild.errors import ExportError
from tmbuild.export import weights_manifest
from tmbuild.export.audio import AudioExport, audio_labels, check_audio_topology, is_audio
from tmbuild.export.layers import check_layers, inner_layers, leaf_layers, output_layer
from tmbuild.export.pose import PoseExport, check_pose_topology, is_pose, posenet_settings
from tmbuild.export.sources import (
    HOW_TO_EXPORT,
    ExportFiles,
    MissingFile,
    normalise,
    open_export_location,
    unsafe_path_reason,
    what_is_here_instead,
)
from tmbuild.untrusted import printable, shown

MAX_JSON_BYTES = 16 * 1024 * 1024  # a real model.json is ~92 KB, ~200 KB pretty-printed
MAX_LABELS = 1000
DEFAULT_IMAGE_SIZE = 224  # older exports have no imageSize; Teachable Machine used 224 then
AGAIN = "download the export again"
# Files of other model formats, given by mistake instead of the export's folder or .zip.
FOREIGN_MODEL_SUFFIXES = (".h5", ".hdf5", ".keras", ".tflite", ".pb")


@dataclass(frozen=True)
class ImageExport:
    """A checked Teachable Machine image model, ready for the build."""

    location: str  # how the user named it, for messages
    model_json: dict  # the parsed model.json, untouched
    weight_groups: list[tuple[list[dict], bytes]]  # manifest entries and their concatenated bytes
    metadata: dict
    metadata_bytes: bytes
    labels: list[str]
    image_size: int
    grayscale: bool
    model_name: str
    kind = "image"

    @property
    def weight_bytes(self) -> int:
        return sum(len(data) for _, data in self.weight_groups)


# What a build takes: a checked model of a kind tmbuild makes pages for.
Export = ImageExport | AudioExport | PoseExport


def read_export(path: Path, label: str | None = None) -> Export:
    """Open a folder or .zip, find its model.json and check everything its kind of model needs.

    Image, audio and pose models are returned, each as its own kind of export.
    """
    label = label or str(path)
    if path.suffix.lower() in FOREIGN_MODEL_SUFFIXES and path.is_file():
        raise ExportError(f"{label}: {what_is_here_instead([path.name])}")
    files = open_export_location(path, label)
    model_name = _find_model_json(files)
    base = posixpath.dirname(model_name)
    model_json = _read_json(files, model_name, "model.json")
    metadata_name = posixpath.join(base, "metadata.json")
    metadata_bytes = b"{}"
    metadata: dict = {}
    has_metadata = files.exists(metadata_name)
    if has_metadata:
        metadata_bytes = files.read(metadata_name, MAX_JSON_BYTES)
        metadata = _read_json(files, metadata_name, "metadata.json", metadata_bytes)

    kind = "pose" if is_pose(metadata) else None
    if is_audio(metadata, _input_shape(model_json.get("modelTopology"))):
        kind = "audio"
    _refuse_other_kinds(files, model_name, model_json, kind)
    if not has_metadata:
        raise ExportError(
            f"{files.display(metadata_name)}: missing; it holds the class labels — "
            f"download the whole export ({HOW_TO_EXPORT}) and keep metadata.json beside model.json"
        )
    if kind is not None:
        return read_other_kind(
            files, model_name, model_json, metadata_name, metadata, metadata_bytes, kind
        )
    topology = _topology(files, model_name, model_json)
    labels = _labels(files, metadata_name, metadata)
    image_size, grayscale = _image_format(files, metadata_name, metadata)
    _check_input_shape(files, model_name, metadata_name, topology, image_size, grayscale)
    groups = _checked_weights(files, model_name, model_json, topology, metadata_name, labels)
    model_title = metadata.get("modelName")
    return ImageExport(
        location=files.label,
        model_json=model_json,
        weight_groups=groups,
        metadata=metadata,
        metadata_bytes=metadata_bytes,
        labels=labels,
        image_size=image_size,
        grayscale=grayscale,
        model_name=model_title if isinstance(model_title, str) else "",
    )


def _find_model_json(files: ExportFiles) -> str:
    candidates = [name for name in files.names if posixpath.basename(name) == "model.json"]
    if not candidates:
        raise ExportError(f"{files.label}: {what_is_here_instead(files.names)}")
    if len(candidates) > 1:
        shallowest = min(name.count("/") for name in candidates)
        top = [name for name in candidates if name.count("/") == shallowest]
        if len(top) > 1:
            listed = ", ".join(printable(name, 60) for name in candidates[:4])
            raise ExportError(
                f"{files.label}: holds {len(candidates)} exports ({listed}); "
                "point model.path at the one you want"
            )
        return top[0]
    return candidates[0]


def _read_json(files: ExportFiles, name: str, kind: str, data: bytes | None = None) -> dict:
    where = files.display(name)
    if data is None:
        data = files.read(name, MAX_JSON_BYTES)
    if not data.strip():
        raise ExportError(f"{where}: empty file; download the export again")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ExportError(
            f"{where}: not UTF-8 text (byte {error.start}); download the export again"
        ) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ExportError(
            f"{where}: invalid JSON at line {error.lineno} column {error.colno} ({error.msg}); "
            "the file is damaged or truncated, download the export again"
        ) from None
    except RecursionError:
        raise ExportError(f"{where}: JSON nested too deeply to be a {kind}; {AGAIN}") from None
    except ValueError:  # an integer thousands of digits long, which Python refuses to read
        raise ExportError(f"{where}: holds a number too long to be a {kind}'s; {AGAIN}") from None
    if not isinstance(value, dict):
        raise ExportError(f"{where}: expected a JSON object, got {type(value).__name__}; {AGAIN}")
    return value


def _refuse_other_kinds(files: ExportFiles, model_name: str, model: dict, kind: str | None) -> None:
    """Models that are no Teachable Machine export at all; `kind`: audio or pose, if it is one."""
    where = files.display(model_name)
    if model.get("format") == "graph-model" or (
        isinstance(model.get("modelTopology"), dict) and "node" in model["modelTopology"]
    ):
        raise ExportError(
            f"{where}: a TensorFlow.js graph model, not a layers model; tmbuild needs the "
            f"Teachable Machine image export ({HOW_TO_EXPORT})"
        )
    shape = _input_shape(model.get("modelTopology"))
    if kind is None and shape is not None and len(shape) == 2:
        raise ExportError(
            f"{where}: the model takes a flat vector of {shown(shape[1])} numbers, not an image, "
            "and its metadata.json says no pose model (packageName @teachablemachine/pose); "
            "export the model from Teachable Machine again"
        )


def read_other_kind(
    files: ExportFiles,
    model_name: str,
    model_json: dict,
    metadata_name: str,
    metadata: dict,
    metadata_bytes: bytes,
    kind: str,
) -> AudioExport | PoseExport:
    """An audio or pose export checked as strictly as an image one: topology, labels, weights."""
    where = files.display(model_name)
    topology = _topology(files, model_name, model_json)
    kinds = [str(layer.get("class_name")) for layer in leaf_layers(topology)]
    made: type[AudioExport] | type[PoseExport]
    if kind == "audio":
        check_audio_topology(where, _input_shape(topology), kinds)
        labels = audio_labels(files.display(metadata_name), metadata)
        made = AudioExport
    else:
        posenet_settings(files.display(metadata_name), metadata)
        check_pose_topology(where, _input_shape(topology), kinds)
        labels = _labels(files, metadata_name, metadata)
        made = PoseExport
    groups = _checked_weights(files, model_name, model_json, topology, metadata_name, labels)
    title = metadata.get("modelName")
    return made(
        location=files.label,
        model_json=model_json,
        weight_groups=groups,
        metadata=metadata,
        metadata_bytes=metadata_bytes,
        labels=labels,
        model_name=title if isinstance(title, str) else "",
    )


def _checked_weights(
    files: ExportFiles,
    model_name: str,
    model_json: dict,
    topology: dict,
    metadata_name: str,
    labels: list[str],
) -> list[tuple[list[dict], bytes]]:
    """The weight groups, once the outputs match the labels and every weight its layer."""
    _check_output_units(files, model_name, metadata_name, topology, len(labels))
    groups = _read_weight_groups(files, model_name, model_json)
    entries = [entry for group_entries, _ in groups for entry in group_entries]
    check_layers(topology, entries, files.display(model_name))
    return groups


def _topology(files: ExportFiles, model_name: str, model: dict) -> dict:
    topology = model.get("modelTopology")
    where = files.display(model_name)
    if not isinstance(topology, dict) or "class_name" not in topology:
        raise ExportError(
            f"{where}: no 'modelTopology' with a Keras layers model; not a TensorFlow.js layers "
            f"model ({HOW_TO_EXPORT})"
        )
    if topology.get("class_name") not in ("Sequential", "Model", "Functional"):
        raise ExportError(
            f"{where}: modelTopology is a {shown(topology.get('class_name'))}, not a Sequential "
            f"model; {HOW_TO_EXPORT}"
        )
    return topology


def _labels(files: ExportFiles, metadata_name: str, metadata: dict) -> list[str]:
    where = files.display(metadata_name)
    labels = metadata.get("labels")
    if not isinstance(labels, list) or not labels:
        raise ExportError(
            f"{where}: 'labels' must be a non-empty list of class names; download the export again"
        )
    if len(labels) > MAX_LABELS:
        raise ExportError(
            f"{where}: {len(labels):,} labels; tmbuild accepts at most {MAX_LABELS} — is this "
            "the metadata.json of an image model?"
        )
    for index, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip():
            raise ExportError(
                f"{where}: labels[{index}] is {shown(label)}; every label must be a non-empty "
                "string — name every class in Teachable Machine and export again"
            )
        if not _is_text(label):
            # JSON can spell a lone surrogate (\ud800); no page or file can hold one.
            raise ExportError(
                f"{where}: labels[{index}] is {shown(label)}, which holds a lone surrogate "
                "and is not text; rename the class in Teachable Machine and export again"
            )
    seen: dict[str, int] = {}
    for index, label in enumerate(labels):
        if label in seen:
            raise ExportError(
                f"{where}: label {shown(label)} appears twice (labels[{seen[label]}] and "
                f"labels[{index}]); rename one class in Teachable Machine and export again"
            )
        seen[label] = index
    return labels


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _image_format(files: ExportFiles, metadata_name: str, metadata: dict) -> tuple[int, bool]:
    where = files.display(metadata_name)
    size = metadata.get("imageSize", DEFAULT_IMAGE_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 2048:
        raise ExportError(
            f"{where}: 'imageSize' must be a whole number of pixels, got {shown(size)}; {AGAIN}"
        )
    grayscale = metadata.get("grayscale", False)
    if not isinstance(grayscale, bool):
        raise ExportError(
            f"{where}: 'grayscale' must be true or false, got {shown(grayscale)}; {AGAIN}"
        )
    return size, grayscale


def _input_shape(topology: object) -> list | None:
    """The model's input shape: follow the first layer down through nested models."""
    layer = topology
    for _ in range(32):  # real exports nest three deep; a loop bound beats recursion on junk
        if not isinstance(layer, dict):
            return None
        config = layer.get("config")
        if isinstance(config, dict):
            shape = config.get("batch_input_shape")
            if isinstance(shape, list):
                return shape
        inner = inner_layers(layer)
        if not isinstance(inner, list) or not inner:
            return None
        if layer.get("class_name") in ("Model", "Functional"):
            inputs = [
                item
                for item in inner
                if isinstance(item, dict) and item.get("class_name") == "InputLayer"
            ]
            layer = inputs[0] if inputs else inner[0]
        else:
            layer = inner[0]
    return None


def _check_input_shape(
    files: ExportFiles,
    model_name: str,
    metadata_name: str,
    topology: dict,
    image_size: int,
    grayscale: bool,
) -> None:
    shape = _input_shape(topology)
    where = files.display(model_name)
    if shape is None:
        raise ExportError(f"{where}: no input layer with a batch_input_shape; damaged export?")
    if len(shape) != 4 or not all(isinstance(n, int) for n in shape[1:]):
        raise ExportError(
            f"{where}: input shape {shown(shape)} is not an image batch [null, H, W, C]; "
            "tmbuild builds sites for image models only"
        )
    channels = 1 if grayscale else 3
    expected = [image_size, image_size, channels]
    if shape[1:] != expected:
        raise ExportError(
            f"{where}: input shape {shape} does not match {files.display(metadata_name)} "
            f"(imageSize {image_size}, grayscale {str(grayscale).lower()} → "
            f"[null, {image_size}, {image_size}, {channels}]); the two files are from different "
            "exports?"
        )


def _check_output_units(
    files: ExportFiles, model_name: str, metadata_name: str, topology: dict, label_count: int
) -> None:
    last = output_layer(topology) or {}
    config = last.get("config") if isinstance(last.get("config"), dict) else {}
    units = config.get("units")
    where = files.display(model_name)
    if last.get("class_name") != "Dense" or not isinstance(units, int):
        raise ExportError(
            f"{where}: the model does not end in a Dense classification layer; not a Teachable "
            "Machine classifier"
        )
    if units != label_count:
        raise ExportError(
            f"{files.display(metadata_name)}: {label_count} labels but the model has {units} "
            "outputs; metadata.json and model.json are from different exports"
        )


def _read_weight_groups(
    files: ExportFiles, model_name: str, model: dict
) -> list[tuple[list[dict], bytes]]:
    where = files.display(model_name)
    manifest = model.get("weightsManifest")
    if not isinstance(manifest, list) or not manifest:
        raise ExportError(f"{where}: 'weightsManifest' must be a non-empty list; {AGAIN}")
    base = posixpath.dirname(model_name)
    groups, names = [], set()
    for group_index, group in enumerate(manifest):
        field = f"weightsManifest[{group_index}]"
        if not isinstance(group, dict):
            raise ExportError(f"{where}: {field} must be an object; {AGAIN}")
        paths, entries = group.get("paths"), group.get("weights")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise ExportError(f"{where}: {field}.paths must be a list of file names; {AGAIN}")
        if not isinstance(entries, list):
            raise ExportError(f"{where}: {field}.weights must be a list; {AGAIN}")
        expected = 0
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise ExportError(f"{where}: {field}.weights[{index}] needs a 'name'; {AGAIN}")
            weight = shown(entry["name"])
            if entry["name"] in names:
                raise ExportError(f"{where}: weight {weight} is listed twice; damaged? {AGAIN}")
            names.add(entry["name"])
            try:
                expected += weights_manifest.entry_nbytes(entry)
            except weights_manifest.WeightsFormatError as error:
                raise ExportError(f"{where}: weight {weight}: {error}; {AGAIN}") from None
        data = b"".join(_read_shard(files, where, base, path) for path in paths)
        if len(data) != expected:
            difference = len(data) - expected
            shards = printable(", ".join(paths), 80)
            raise ExportError(
                f"{files.display(posixpath.join(base, normalise(paths[-1])))}: {shards} hold "
                f"{len(data):,} bytes but model.json describes {expected:,} "
                f"({abs(difference):,} {'extra' if difference > 0 else 'missing'}); the weights "
                "do not belong to this model.json or were truncated — download the export again"
            )
        groups.append((entries, data))
    return groups


def _read_shard(files: ExportFiles, where: str, base: str, path: str) -> bytes:
    reason = unsafe_path_reason(path)
    if reason:
        raise ExportError(
            f"{where}: weights path {shown(path)} {reason}; weight files must sit beside model.json"
        )
    name = normalise(posixpath.join(base, path))
    try:
        return files.read(name)
    except MissingFile:
        raise ExportError(
            f"{files.display(name)}: weights file named in model.json is missing; keep the "
            "whole export together (model.json, metadata.json and the weights)"
        ) from None
