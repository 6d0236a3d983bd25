"""`tmbuild diff`: what changed between two builds, read from their `tmbuild-manifest.json`.

Hashed names change with their content (`assets/app.3f2a….js` becomes `assets/app.9b1c….js`),
so files are paired by their logical name, the path with its content hashes taken out: a
template edit reads as one changed `assets/app.js`, not as one file added and another removed.

Sizes are compared three ways: raw, and as served by a host that uses the `.gz` or `.br`
siblings (raw where the build wrote none). "First visit" estimates what a new visitor downloads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tmbuild.assets import HASH_LENGTH
from tmbuild.errors import TmbuildError
from tmbuild.manifest import MANIFEST_NAME
from tmbuild.model import DIRECTORY_HASH_LENGTH

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
    "weights_sha256": "weights",
    "bytes": "model bytes",
}
SITE_FIELDS = ("base_url", "runtime.source", "runtime.tfjs_version", "tmbuild_version")

_HASHED_FILE = re.compile(rf"^(?P<stem>.+)\.[0-9a-f]{{{HASH_LENGTH}}}(?P<suffix>\.[^.]+)?$")
_MODEL_FOLDER = re.compile(rf"^(models/[^/]+)/[^/]+-[0-9a-f]{{{DIRECTORY_HASH_LENGTH}}}/(.+)$")
# A new visitor with hardware WebGL fetches TensorFlow.js core, layers, and the WebGL backend with
# its CPU fallback, never the WebAssembly files (tmbuild.runtime explains the choice). Without
# WebGL in the site, the WebAssembly backend with the SIMD binary every current browser takes.
_WEBGL_SCRIPT = "assets/tfjs/tf-backend-webgl.min.js"
_WASM_SCRIPT = "assets/tfjs/tf-backend-wasm.min.js"
_USUAL_WASM_BINARY = "assets/tfjs/tfjs-backend-wasm-simd.wasm"


class ManifestError(TmbuildError):
    """A path given to `tmbuild diff` is not a readable tmbuild manifest (exit status 2)."""


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
    if not isinstance(document, dict) or not {"tmbuild_version", "files"} <= set(document):
        raise ManifestError(
            f"{label}: not a tmbuild manifest (no 'tmbuild_version' and 'files'); give the "
            f"{MANIFEST_NAME} a build wrote"
        )
    return _read_manifest(document, label)


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
    return DiffResult(changes, model, site, _totals(old.files), _totals(new.files))


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


def _totals(files: dict[str, FileEntry]) -> dict[str, int]:
    entries = list(files.values())
    totals = {"files": len(entries)}
    totals.update((size, sum(getattr(entry, size) for entry in entries)) for size in SIZES)
    named = [(logical_name(entry.path), entry) for entry in entries]
    has_webgl = any(name == _WEBGL_SCRIPT for name, _ in named)
    totals["first_visit"] = sum(
        entry.br for name, entry in named if _fetched_on_first_visit(name, has_webgl)
    )
    return totals


def _fetched_on_first_visit(name: str, has_webgl: bool) -> bool:
    """Whether a new visitor's browser downloads this file on opening the page.

    It does the page, its scripts, styles and images, the runtime it needs, model.json and the
    weight shards; never metadata.json (the labels are in the page) or the host's files
    (`_headers`, `.nojekyll`, ...).
    """
    if name.startswith("assets/tfjs/") and name.endswith(".wasm"):
        return not has_webgl and name == _USUAL_WASM_BINARY
    if name == _WASM_SCRIPT:
        return not has_webgl
    if name.startswith("models/"):
        return name.endswith(("/model.json", ".bin"))
    # At the top: pages and scripts (a service worker must live there), not host configuration.
    return name.startswith("assets/") or ("/" not in name and name.endswith((".html", ".js")))


# ---- formatting ---------------------------------------------------------------------------------


def format_size(size: int) -> str:
    """1234 → '1.2 kB', in decimal units as browsers' network panels show them."""
    size = abs(size)
    if size < 1000:
        return f"{size} B"
    if size < 999_950:  # what would round to "1000.0 kB" reads better as "1.00 MB"
        return f"{size / 1000:.1f} kB"
    return f"{size / 1_000_000:.2f} MB"


def format_delta(delta: int) -> str:
    if delta == 0:
        return "0 B"
    return ("+" if delta > 0 else "-") + format_size(delta)


def format_total_delta(old: int, new: int, field: str) -> str:
    delta = new - old
    shown = (f"{delta:+d}" if delta else "0") if field == "files" else format_delta(delta)
    if old and abs(delta / old) >= 0.0005:  # "+0.0%" would only be noise
        shown += f" ({delta / old * 100:+.1f}%)"
    return shown


def _total(value: int, field: str) -> str:
    return str(value) if field == "files" else format_size(value)


def _value(field: str, value: object) -> str:
    """A model or site value as a reader wants to see it."""
    if value is None:
        return "(none)"
    if field == "labels" and isinstance(value, list):
        return ", ".join(_printable(str(label)) for label in value)
    if field == "image_size":
        return f"{value}×{value}"
    if field == "weights_sha256" and isinstance(value, str):
        return value[:HASH_LENGTH]
    if field == "bytes" and isinstance(value, int):
        return format_size(value)
    return _printable(str(value).lower() if isinstance(value, bool) else str(value))


def _printable(text: str) -> str:
    # Labels are the user's text: a newline in one must not break the report's layout.
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m[0]):02x}", text)


def _field_note(change: FieldChange) -> str:
    """What a reader wants to know beyond old → new: which labels, how many bytes."""
    if change.name == "labels" and isinstance(change.old, list) and isinstance(change.new, list):
        added = [label for label in change.new if label not in change.old]
        removed = [label for label in change.old if label not in change.new]
        notes = [f"added {_value('labels', added)}"] if added else []
        notes += [f"removed {_value('labels', removed)}"] if removed else []
        return "; ".join(notes) or "order changed"
    if change.name == "bytes" and isinstance(change.old, int) and isinstance(change.new, int):
        return format_delta(change.new - change.old)
    return ""


def _file_sizes(change: FileChange) -> list[str]:
    if change.kind == "moved":
        return ["same content, new path"]
    return [format_delta(change.delta(size)) for size in SIZES]


def summary(result: DiffResult) -> str:
    counts = ", ".join(f"{result.count(kind)} {kind}" for kind in KINDS)
    old, new = result.old_totals["first_visit"], result.new_totals["first_visit"]
    first_visit = f"{format_size(old)} → {format_size(new)} ({format_delta(new - old)})"
    return f"{counts}; first visit {first_visit}"


def format_text(result: DiffResult) -> str:
    """A report for a terminal or a CI log."""
    if result.identical:
        return _no_differences(result) + "\n"
    lines = [summary(result)]
    fields = _fields(result)
    if fields:
        lines += ["", "Model and site"]
        width = max(len(title) for title, _ in fields)
        for title, change in fields:
            note = _field_note(change)
            line = f"  {title:<{width}}  {_value(change.name, change.old)} → "
            lines.append(line + _value(change.name, change.new) + (f" ({note})" if note else ""))
    if result.files:
        rows = [["  " + c.kind, c.name, *_file_sizes(c)] for c in result.files]
        lines += ["", *_columns([["Files", "", *SIZES], *rows], left=2)]
    rows = [["  " + TOTAL_TITLES.get(f, f), *_total_cells(result, f)] for f in TOTALS]
    lines += ["", *_columns([["Totals", "old", "new", "change"], *rows], left=1)]
    return "\n".join(lines) + "\n"


def _no_differences(result: DiffResult) -> str:
    totals = result.new_totals
    return (
        f"No differences: {totals['files']} files, first visit "
        f"{format_size(totals['first_visit'])}."
    )


def _fields(result: DiffResult) -> list[tuple[str, FieldChange]]:
    return [(MODEL_FIELDS[c.name], c) for c in result.model] + [(c.name, c) for c in result.site]


def _total_cells(result: DiffResult, field: str) -> list[str]:
    old, new = result.old_totals[field], result.new_totals[field]
    return [_total(old, field), _total(new, field), format_total_delta(old, new, field)]


def _columns(rows: list[list[str]], left: int) -> list[str]:
    """Align a table: `left` columns of names, then numbers; a shorter row ends with a note."""
    count = len(rows[0])
    widths = [
        max(len(row[i]) for row in rows if i < len(row) - 1 or len(row) == count)
        for i in range(count)
    ]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(widths[i]) if i < left or len(row) < count else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def format_markdown(result: DiffResult) -> str:
    """A report for a pull-request comment."""
    lines = ["### tmbuild diff", ""]
    if result.identical:
        return "\n".join([*lines, _no_differences(result)]) + "\n"
    lines += [summary(result), ""]
    fields = _fields(result)
    if fields:
        lines += ["| model and site | old | new | note |", "|---|---|---|---|"]
        for title, change in fields:
            cells = [_value(change.name, change.old), _value(change.name, change.new)]
            lines.append(_md_row([title, *map(_md, cells), _md(_field_note(change))]))
        lines.append("")
    if result.files:
        lines += ["| file | change | raw | gzip | br |", "|---|---|--:|--:|--:|"]
        for change in result.files:
            if change.kind == "moved":
                cells = ["moved (same content, new path)", "0 B", "0 B", "0 B"]
            else:
                cells = [change.kind, *_file_sizes(change)]
            lines.append(_md_row([_md_code(change.name), *cells]))
        lines.append("")
    lines += ["| total | old | new | change |", "|---|--:|--:|--:|"]
    for field in TOTALS:
        lines.append(_md_row([TOTAL_TITLES.get(field, field), *_total_cells(result, field)]))
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    # Labels and paths are the user's text: they must not turn into links, HTML or table cells.
    return re.sub(r"([\\`*_\[\]<>|~&])", r"\\\1", text)


def _md_code(text: str) -> str:
    return f"`{text}`" if "`" not in text and "|" not in text else _md(text)


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def as_json(result: DiffResult) -> dict:
    files = []
    for change in result.files:
        entry = {"change": change.kind, "name": change.name}
        for side, file in (("old", change.old), ("new", change.new)):
            entry[f"{side}_path"] = file.path if file else None
        for size in SIZES:
            sizes = [getattr(file, size) if file else None for file in (change.old, change.new)]
            entry[size] = _old_new(*sizes)
        files.append(entry)
    return {
        "identical": result.identical,
        "summary": {kind: result.count(kind) for kind in KINDS},
        "files": files,
        "model": {c.name: {"old": c.old, "new": c.new} for c in result.model},
        "site": {c.name: {"old": c.old, "new": c.new} for c in result.site},
        "totals": {f: _old_new(result.old_totals[f], result.new_totals[f]) for f in TOTALS},
    }


def _old_new(old: int | None, new: int | None) -> dict:
    return {"old": old, "new": new, "delta": (new or 0) - (old or 0)}


def format_json(result: DiffResult) -> str:
    """The whole comparison as sorted JSON, for scripts."""
    return json.dumps(as_json(result), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


FORMATTERS = {"text": format_text, "markdown": format_markdown, "json": format_json}
