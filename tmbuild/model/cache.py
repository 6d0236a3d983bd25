"""The prepared model directory, kept in the user cache from one build to the next.

Re-sharding, folding and quantising the weights (tmbuild.model.prepare) gives the same bytes on
every build of an unchanged export: ~30 ms for a MobileNet, and ~50 ms more to import numpy, of a
template-only rebuild that should take well under 0.3 s. An entry is keyed by everything the
preparation reads (the export's bytes, the model settings, and the source of the modules that
do the work), so an edited export or another tmbuild never gets an old preparation. The
warnings the preparation gave are kept with it and said again on every build that uses it.

An entry is a JSON header (the ModelFiles fields, the warnings, each file's name and length)
followed by the files' bytes: no pickle, so a cache entry can never run code.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import json
import logging
import threading
from importlib.resources import files
from pathlib import Path

from tmbuild import __version__
from tmbuild.cache import cache_root, keep_under_limit, mark_used, write_entry
from tmbuild.config.load import SiteConfig
from tmbuild.export.read import Export
from tmbuild.model.pose_model import prepare_pose_model
from tmbuild.model.prepare import ModelFiles, prepare_model

ENTRY_FORMAT = 1

log = logging.getLogger("tmbuild")


def default_model_cache_dir() -> Path:
    return cache_root() / "models"


def cached_model(export: Export, config: SiteConfig, directory: Path | None) -> ModelFiles:
    """`prepared(export, config)`, or what it gave before for the same inputs."""
    if directory is None:
        return prepared(export, config)
    path = directory / "entries" / entry_key(export, config)
    try:
        model, warnings = _read_entry(path.read_bytes())
    except (OSError, ValueError, KeyError, TypeError):
        pass  # none yet, or unreadable: prepare it again
    else:
        mark_used(path)
        for warning in warnings:
            log.warning("%s", warning)
        log.info("Model %s: prepared by an earlier build (%s)", model.directory, directory)
        return model
    # Warnings are kept only when they were being recorded: a build that silences them (a
    # library caller's logger at ERROR) must not leave an entry that would never say them.
    recording = log.isEnabledFor(logging.WARNING)
    recorder = _WarningRecorder()
    log.addHandler(recorder)
    try:
        model = prepared(export, config)
    finally:
        log.removeHandler(recorder)
    if recording:
        write_entry(path, _entry_bytes(model, recorder.messages))
        keep_under_limit(directory)
    return model


def prepared(export: Export, config: SiteConfig) -> ModelFiles:
    """The model folder: a pose model's holds PoseNet too (tmbuild.model.pose_model)."""
    if export.kind == "pose":
        return prepare_pose_model(export, config)
    return prepare_model(export, config)


def entry_key(export: Export, config: SiteConfig) -> str:
    digest = hashlib.sha256()

    def part(data: bytes) -> None:
        # Length-prefixed, so no two different sequences of parts hash alike.
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)

    part(f"tmbuild {__version__} entry {ENTRY_FORMAT}".encode())
    for source in preparing_sources():
        part(source)
    settings = {
        "model": {k: str(v) for k, v in dataclasses.asdict(config.model).items()},
        "model_runner": config.runtime.model_runner,
        "location": export.location,  # it is in the warnings' wording
        "model_name": export.model_name,
        "model_json": export.model_json,
        "manifests": [entries for entries, _ in export.weight_groups],
    }
    part(json.dumps(settings, sort_keys=True, ensure_ascii=False).encode())
    part(export.metadata_bytes)
    for _, data in export.weight_groups:
        part(data)
    return digest.hexdigest()


_SOURCES_LOCK = threading.Lock()


@functools.cache
def _preparing_sources() -> tuple[bytes, ...]:
    return tuple(_read_preparing_sources())


def preparing_sources() -> list[bytes]:
    """The sources below, read once a process: ast.parse is not safe in two threads at once
    (CPython 3.11 fails "AST constructor recursion depth mismatch"), and builds run in
    threads under `tmbuild serve` and in tests."""
    with _SOURCES_LOCK:
        return list(_preparing_sources())


def _read_preparing_sources() -> list[bytes]:
    """The source of every module that decides what a prepared model holds.

    That is every module of this package and every tmbuild module they import, found by
    reading their imports: a new preparing module, or a changed helper it calls, makes new keys.
    """
    package = files("tmbuild")
    pending = ["tmbuild.model"] + [
        f"tmbuild.model.{path.name[:-3]}"
        for path in package.joinpath("model").iterdir()
        if path.name.endswith(".py")
    ]
    sources: dict[str, bytes] = {}
    while pending:
        name = pending.pop()
        path = _module_file(name)
        if name in sources or path is None:
            continue  # seen, or a name imported from a module rather than a module
        sources[name] = path.read_bytes()
        for node in ast.walk(ast.parse(sources[name])):
            if isinstance(node, ast.Import):
                pending.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                pending.append(node.module)
                pending.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return [sources[name] for name in sorted(sources)]


def _module_file(name: str):
    """The file of module `name` if it is one of tmbuild's, else None."""
    parts = name.split(".")
    if parts[0] != "tmbuild":
        return None
    folder = files("tmbuild").joinpath(*parts[1:-1])
    for candidate in (
        folder.joinpath(f"{parts[-1]}.py"),
        folder.joinpath(parts[-1], "__init__.py"),
    ):
        if len(parts) > 1 and candidate.is_file():
            return candidate
    return files("tmbuild").joinpath("__init__.py") if len(parts) == 1 else None


class _WarningRecorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _entry_bytes(model: ModelFiles, warnings: list[str]) -> bytes:
    fields = {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}
    del fields["files"]
    header = {
        "format": ENTRY_FORMAT,
        "fields": fields,
        "warnings": warnings,
        "files": [[name, len(data)] for name, data in model.files.items()],
    }
    text = json.dumps(header, ensure_ascii=False).encode()
    return len(text).to_bytes(8, "little") + text + b"".join(model.files.values())


def _read_entry(entry: bytes) -> tuple[ModelFiles, list[str]]:
    size = int.from_bytes(entry[:8], "little")
    header = json.loads(entry[8 : 8 + size])
    if header["format"] != ENTRY_FORMAT:
        raise ValueError("another entry format")
    contents, offset = {}, 8 + size
    for name, length in header["files"]:
        contents[name] = entry[offset : offset + length]
        offset += length
    if offset != len(entry):
        raise ValueError("a truncated or padded entry")
    return ModelFiles(**header["fields"], files=contents), header["warnings"]
