"""`tmbuild diff`: what changed between two builds, read from their `tmbuild-manifest.json`.

Hashed names change with their content (`assets/app.3f2a….js` becomes `assets/app.9b1c….js`),
so files are paired by their logical name, the path with its content hashes taken out: a
template edit reads as one changed `assets/app.js`, not as one file added and another removed.

Sizes are compared three ways: raw, and as served by a host that uses the `.gz` or `.br`
siblings (raw where the build wrote none). "First visit" estimates what a new visitor downloads.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tmbuild.diff.accuracy import AccuracyChange, accuracy_change
from tmbuild.errors import TmbuildError
from tmbuild.evaluate.record import read_record
from tmbuild.hashes import HASH_LENGTH
from tmbuild.model.prepare import DIRECTORY_HASH_LENGTH
from tmbuild.output.manifest import MANIFEST_NAME

MAX_MANIFEST_BYTES = 64 * 1024 * 1024  # a real manifest is a few kB; this is not one
KINDS = ("changed", "added", "removed", "moved")  # the order files are listed in
SIZES = ("raw", "gzip", "br")
TOTALS = ("files", "raw", "gzip", "br", "first_visit")
TOTAL_TITLES = {"first_visit": "first visit"}
# Model fields worth a line in a pull request, in the order shown, with their titles.
MODEL_FIELDS = {
    "name": "name",
    "version": "version",
    "labels": "labels",
    "image_size": "input size",
    "grayscale": "grayscale",
    "quantize": "quantisation",
    "quantize_choice": "quantize: auto",
    "weights_sha256": "weights",
    "bytes": "model bytes",
    "runner": "model runner",
}
SITE_FIELDS = (
    "base_url",
    "runtime.source",
    "runtime.tfjs_version",
    "runtime.kernels",
    "tmbuild_version",
)

_HASHED_FILE = re.compile(rf"^(?P<stem>.+)\.[0-9a-f]{{{HASH_LENGTH}}}(?P<suffix>\.[^.]+)?$")
_MODEL_FOLDER = re.compile(rf"^(models/[^/]+)/[^/]+-[0-9a-f]{{{DIRECTORY_HASH_LENGTH}}}/(.+)$")
# A new visitor with hardware WebGL fetches TensorFlow.js core (and layers, which a site ships
# only for a model without a plan) and the WebGL backend with its CPU fallback, never the
# WebAssembly files (tmbuild.page.tfjs explains the choice). Without WebGL in the site, the
# WebAssembly backend with the SIMD binary every current browser takes.
_WEBGL_SCRIPT = "assets/tfjs/tf-backend-webgl.min.js"
_WASM_SCRIPT = "assets/tfjs/tf-backend-wasm.min.js"
_USUAL_WASM_BINARY = "assets/tfjs/tfjs-backend-wasm-simd.wasm"


class ManifestError(TmbuildError):
    """A path given to `tmbuild diff` is not a readable tmbuild manifest."""

    exit_status = 2  # 1 means "the builds differ"


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    raw: int
    gzip: int  # bytes served with the .gz sibling, or raw without one
    br: int


@dataclass(frozen=True)
class Manifest:
    files: dict[str, FileEntry]  # by path
    model: dict
    site: dict[str, object]  # SITE_FIELDS
    evaluation: dict | None = None  # tmbuild eval's record of this build's model, if any


@dataclass(frozen=True)
class FileChange:
    kind: str  # one of KINDS
    name: str  # logical name, content hashes taken out
    old: FileEntry | None
    new: FileEntry | None

    def delta(self, size: str) -> int:
        return _size(self.new, size) - _size(self.old, size)


@dataclass(frozen=True)
class FieldChange:
    name: str
    old: object
    new: object


@dataclass(frozen=True)
class DiffResult:
    files: list[FileChange]
    model: list[FieldChange]
    site: list[FieldChange]
    old_totals: dict[str, int]  # by TOTALS
    new_totals: dict[str, int]
    accuracy: AccuracyChange | None = None  # where either build has an eval record

    @property
    def identical(self) -> bool:
        return not (self.files or self.model or self.site)

    def count(self, kind: str) -> int:
        return sum(1 for change in self.files if change.kind == kind)


def _size(entry: FileEntry | None, size: str) -> int:
    return 0 if entry is None else getattr(entry, size)


# ---- reading ------------------------------------------------------------------------------------


def load_manifest(path: Path) -> Manifest:
    """Read a built folder's manifest, or a manifest file, checking it is one tmbuild wrote."""
    label = str(path)
    try:
        if path.is_dir():
            if not (path / MANIFEST_NAME).is_file():
                raise ManifestError(
                    f"{path}: no {MANIFEST_NAME} in this folder; give a folder tmbuild built "
                    "(run tmbuild build first) or the manifest itself"
                )
            path = path / MANIFEST_NAME
            label = str(path)
        elif path.exists() and not path.is_file():
            # A FIFO or a device would block the read or never end it.
            raise ManifestError(f"{label}: not a regular file; give a built folder or its manifest")
        with path.open("rb") as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError(
            f"{label}: does not exist; give a built folder or its {MANIFEST_NAME}"
        ) from None
    except OSError as error:
        raise ManifestError(f"{label}: cannot read it: {error.strerror}") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{label}: over 64 MB, not a tmbuild manifest")
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ManifestError(f"{label}: not UTF-8 text, not a tmbuild manifest") from None
    except json.JSONDecodeError as error:
        raise ManifestError(
            f"{label}:{error.lineno}:{error.colno}: invalid JSON ({error.msg}); build again "
            "to rewrite it"
        ) from None
    except RecursionError:
        # A manifest is a few levels deep; thousands of nested brackets are not one.
        raise ManifestError(f"{label}: nested too deeply, not a tmbuild manifest") from None
    if not isinstance(document, dict) or not {"tmbuild_version", "files"} <= set(document):
        raise ManifestError(
            f"{label}: not a tmbuild manifest (no 'tmbuild_version' and 'files'); give the "
            f"{MANIFEST_NAME} a build wrote"
        )
    manifest = _read_manifest(document, label)
    record = read_record(path)
    # A record of another model (the build was redone since eval ran) says nothing of this one.
    if record is not None and record.get("weights_sha256") == manifest.model.get("weights_sha256"):
        return dataclasses.replace(manifest, evaluation=record)
    return manifest


def _read_manifest(document: dict, label: str) -> Manifest:
    def unknown(where: str, expected: str) -> ManifestError:
        return ManifestError(
            f"{label}: unknown manifest format: {where} is not {expected}; build both sides "
            "with the same tmbuild version"
        )

    if not isinstance(document["files"], list):
        raise unknown("files", "a list")
    if not isinstance(document.get("model"), dict):
        raise unknown("model", "a mapping")
    runtime = document.get("runtime") or {}
    if not isinstance(runtime, dict):
        raise unknown("runtime", "a mapping")
    files: dict[str, FileEntry] = {}
    for index, item in enumerate(document["files"]):
        where = f"files[{index}]"
        if not isinstance(item, dict):
            raise unknown(where, "a mapping")
        for key in ("path", "sha256"):
            if not isinstance(item.get(key), str):
                raise unknown(f"{where}.{key}", "a string")
        if not _is_whole(item.get("bytes")):
            raise unknown(f"{where}.bytes", "a whole number")
        for key in ("gzip_bytes", "brotli_bytes"):
            if item.get(key) is not None and not _is_whole(item[key]):
                raise unknown(f"{where}.{key}", "a whole number or null")
        if item["path"] in files:
            raise unknown(f"{where}.path", f"unique ({item['path']!r} is listed twice)")
        raw = item["bytes"]
        gzip, br = item.get("gzip_bytes") or raw, item.get("brotli_bytes") or raw
        files[item["path"]] = FileEntry(item["path"], item["sha256"], raw, gzip, br)
    site = {
        "base_url": document.get("base_url"),
        "runtime.source": runtime.get("source"),
        "runtime.tfjs_version": runtime.get("tfjs_version"),
        # Manifests from before tmbuild's kernels have none: their pages always ran TensorFlow.js.
        "runtime.kernels": runtime.get("kernels", False),
        "tmbuild_version": document["tmbuild_version"],
    }
    return Manifest(files, document["model"], site)


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def logical_name(path: str) -> str:
    """The path without content hashes: `assets/app.<hash>.js` → `assets/app.js`.

    `models/shapes/v1-<hash8>/group1-shard1of1.<hash>.bin` → `models/shapes/group1-shard1of1.bin`
    """
    folder = _MODEL_FOLDER.match(path)
    if folder:
        path = f"{folder[1]}/{folder[2]}"
    posix = PurePosixPath(path)
    hashed = _HASHED_FILE.match(posix.name)
    if hashed:
        return str(posix.with_name(hashed["stem"] + (hashed["suffix"] or "")))
    return path


# ---- comparing ----------------------------------------------------------------------------------


def compare(old: Manifest, new: Manifest) -> DiffResult:
    """Pair the files of two builds by logical name and list what differs."""
    old_files, new_files = _by_logical_name(old.files), _by_logical_name(new.files)
    changes = []
    for name in sorted(old_files.keys() | new_files.keys()):
        before, after = old_files.get(name), new_files.get(name)
        if before is None:
            changes.append(FileChange("added", name, None, after))
        elif after is None:
            changes.append(FileChange("removed", name, before, None))
        elif before.sha256 != after.sha256:
            changes.append(FileChange("changed", name, before, after))
        elif before.path != after.path:
            # Same bytes at a new URL: returning visitors download it again.
            changes.append(FileChange("moved", name, before, after))
    changes.sort(key=lambda change: KINDS.index(change.kind))  # stable: names stay sorted
    model = [
        FieldChange(field, old.model.get(field), new.model.get(field))
        for field in MODEL_FIELDS
        if old.model.get(field) != new.model.get(field)
    ]
    site = [
        FieldChange(field, old.site[field], new.site[field])
        for field in SITE_FIELDS
        if old.site[field] != new.site[field]
    ]
    accuracy = accuracy_change(old.evaluation, new.evaluation)
    return DiffResult(changes, model, site, _totals(old), _totals(new), accuracy)


def _by_logical_name(files: dict[str, FileEntry]) -> dict[str, FileEntry]:
    names: dict[str, list[FileEntry]] = {}
    for path in sorted(files):
        names.setdefault(logical_name(path), []).append(files[path])
    paired = {}
    for name, entries in names.items():
        if len(entries) == 1:
            paired[name] = entries[0]
        else:  # two files that only differ by a hash-like part: keep their own names
            paired.update((entry.path, entry) for entry in entries)
    return paired


def _totals(manifest: Manifest) -> dict[str, int]:
    entries = list(manifest.files.values())
    totals = {"files": len(entries)}
    totals.update((size, sum(getattr(entry, size) for entry in entries)) for size in SIZES)
    named = [(logical_name(entry.path), entry) for entry in entries]
    has_webgl = any(name == _WEBGL_SCRIPT for name, _ in named)
    # Manifests from before the plan have no runner: their pages loaded model.json.
    planned = manifest.model.get("runner") == "plan"
    kernels = manifest.site["runtime.kernels"] is True
    totals["first_visit"] = sum(
        entry.br
        for name, entry in named
        if _fetched_on_first_visit(name, has_webgl, planned, kernels)
    )
    return totals


def _fetched_on_first_visit(name: str, has_webgl: bool, planned: bool, kernels: bool) -> bool:
    """Whether a new visitor's browser downloads this file on opening the page.

    It does the page, its scripts, styles and images, the runtime it needs, the weight shards
    and, without a plan (tmbuild.model.plan), model.json; never metadata.json (the labels are in the
    page) or the host's files (`_headers`, `.nojekyll`, ...). A page with tmbuild's kernels
    (tmbuild.model.kernels) preloads them, and where it takes WASM it runs them, not TensorFlow.js.
    """
    if name.startswith("assets/tfjs/") and kernels and not has_webgl:
        return False
    if name.startswith("assets/tfjs/") and name.endswith(".wasm"):
        return not has_webgl and name == _USUAL_WASM_BINARY
    if name == _WASM_SCRIPT:
        return not has_webgl
    if name.startswith("models/"):
        return name.endswith(".bin") or (not planned and name.endswith("/model.json"))
    # At the top: pages and scripts (a service worker must live there), not host configuration.
    return name.startswith("assets/") or ("/" not in name and name.endswith((".html", ".js")))


# ---- formatting ---------------------------------------------------------------------------------
