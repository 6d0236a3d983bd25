"""Where an export's files come from: a folder on disk or a Teachable Machine .zip download.

Both are presented as the same small read-only view, so the export checks never care which one
the user gave. Every path that comes out of a file we did not write (zip member names, manifest
paths) is checked here before anything is read.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import zipfile
from pathlib import Path, PurePosixPath

from tmbuild.errors import ExportError
from tmbuild.untrusted import printable

HOW_TO_EXPORT = "in Teachable Machine use Export Model → Tensorflow.js → Download my model"

# A real export is ~2.3 MB; the caps leave room for big custom models while stopping a zip bomb
# long before it fills the disk or memory.
MAX_MEMBER_BYTES = 256 * 1024 * 1024
MAX_TOTAL_BYTES = 512 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200
MAX_MEMBERS = 10_000
# Folders of training images sometimes sit beside an export; two levels down is enough to find a
# model.json nested in a download folder (`download/my_model/model.json`).
MAX_FOLDER_DEPTH = 2


class MissingFile(ExportError):
    """A file the export names is not there."""


_WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:|^[\\/]{2}")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Files macOS and Windows add to zips; never part of an export.
_JUNK = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$)")


def unsafe_path_reason(path: str) -> str | None:
    """Why a relative path taken from an untrusted file may not be used, or None if it is safe."""
    if not path:
        return "is empty"
    if "\x00" in path:
        return "contains a NUL byte"
    if _URL.match(path) or path.startswith("data:"):
        return "is a URL, not a file beside model.json"
    if path.startswith("/") or _WINDOWS_ABSOLUTE.match(path):
        return "is an absolute path"
    if "\\" in path:
        return "contains a backslash"
    if ".." in PurePosixPath(path).parts:
        return "contains '..' and would leave the export"
    return None


def normalise(path: str) -> str:
    """Collapse `./x` and `a//b` into the plain relative form used as a key."""
    return posixpath.normpath(path).lstrip("/") if path not in ("", ".") else ""


class ExportFiles:
    """A read-only view of the files of one export location."""

    def __init__(self, label: str, names: list[str]):
        self.label = label  # how the user knows this location, for error messages
        self.names = sorted(names)

    def read(self, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
        raise NotImplementedError

    def size(self, name: str) -> int:
        raise NotImplementedError

    def display(self, name: str) -> str:
        """How to name a file inside this location in a message."""
        raise NotImplementedError

    def exists(self, name: str) -> bool:
        return normalise(name) in self._name_set

    @property
    def _name_set(self) -> set[str]:
        cached = getattr(self, "_names_cache", None)
        if cached is None:
            cached = self._names_cache = set(self.names)
        return cached


class FolderFiles(ExportFiles):
    """Files below a folder; symlinks are followed only while they stay inside it."""

    def __init__(self, root: Path, label: str):
        self.root = root.resolve()
        super().__init__(label, _list_files(root, MAX_FOLDER_DEPTH))

    def _resolve(self, name: str) -> Path:
        reason = unsafe_path_reason(name)
        if reason:
            raise ExportError(f"{self.display(name)}: path {reason}")
        try:
            real = (self.root / name).resolve()
        except (OSError, RuntimeError):  # pathlib raises RuntimeError for a link loop
            raise ExportError(
                f"{self.display(name)}: is a link that loops back on itself; put the file from "
                "the export there instead"
            ) from None
        if real != self.root and self.root not in real.parents:
            raise ExportError(
                f"{self.display(name)}: is a link to {real}, outside the export folder; "
                "copy the file into the export instead"
            )
        return real

    def exists(self, name: str) -> bool:
        real = self._resolve(name)  # a link out of the export is refused, not called missing
        try:
            return real.is_file()
        except OSError:
            return False

    def size(self, name: str) -> int:
        return self._resolve(name).stat().st_size

    def read(self, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
        real = self._resolve(name)
        try:
            info = real.stat()
            if not stat.S_ISREG(info.st_mode):
                # A named pipe or a device would block or never end: it is never opened.
                raise ExportError(
                    f"{self.display(name)}: is not a regular file; put the file from the "
                    "Teachable Machine export there"
                )
            if info.st_size > limit:
                raise ExportError(
                    f"{self.display(name)}: is {info.st_size:,} bytes, more than the "
                    f"{limit:,} bytes tmbuild accepts for it; a Teachable Machine export is "
                    "far smaller — download the export again"
                )
            return real.read_bytes()
        except FileNotFoundError:
            raise MissingFile(f"{self.display(name)}: file not found") from None
        except OSError as error:
            raise ExportError(f"{self.display(name)}: cannot read: {error.strerror}") from None

    def display(self, name: str) -> str:
        return f"{self.label}/{printable(name)}" if name else self.label


def _list_files(root: Path, depth: int) -> list[str]:
    """Relative names of the files up to `depth` folders below root, without following links."""
    names: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        relative_dir = Path(dirpath).relative_to(root)
        if len(relative_dir.parts) >= depth:
            dirnames.clear()
        names.extend((relative_dir / name).as_posix() for name in filenames)
    return names


class ZipFiles(ExportFiles):
    """Members of a zip archive, read into memory with every size checked as it is read."""

    def __init__(self, path: Path, label: str):
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
            infos = self._zip.infolist()
        # NotImplementedError: a damaged directory entry claiming a zip version from the future.
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as error:
            raise ExportError(
                f"{label}: not a readable zip file ({printable(str(error))}); download the "
                "export from Teachable Machine again"
            ) from None
        if len(infos) > MAX_MEMBERS:
            raise ExportError(f"{label}: holds {len(infos):,} files; an export has three")
        self._infos: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            if _JUNK.search(info.filename) or info.is_dir():
                continue
            member = f"member '{printable(info.filename)}'"
            reason = unsafe_path_reason(info.filename)
            if reason:
                raise ExportError(
                    f"{label}: {member} {reason} (a 'zip slip' archive); refusing to read it"
                )
            if info.flag_bits & 0x1:
                raise ExportError(
                    f"{label}: {member} is encrypted; export the model from Teachable Machine "
                    "again without a password"
                )
            if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
                # Unzipped, it would be a link to wherever it names; its bytes are not the file.
                raise ExportError(
                    f"{label}: {member} is a symbolic link; zip the files themselves, or "
                    "download the export from Teachable Machine again"
                )
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if (
                info.file_size > MAX_MEMBER_BYTES
                or total > MAX_TOTAL_BYTES
                or (ratio > MAX_COMPRESSION_RATIO and info.file_size > 1024 * 1024)
            ):
                raise ExportError(
                    f"{label}: {member} would unpack to {info.file_size:,} bytes "
                    f"(a zip bomb?); tmbuild reads at most {MAX_TOTAL_BYTES:,} bytes from a zip"
                )
            key = normalise(info.filename)
            if key in self._infos:
                # Zip tools disagree on which copy wins; the export would be ambiguous.
                raise ExportError(
                    f"{label}: {member} appears twice; download the export from Teachable "
                    "Machine again"
                )
            self._infos[key] = info
        super().__init__(label, list(self._infos))

    def size(self, name: str) -> int:
        return self._infos[normalise(name)].file_size

    def read(self, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
        key = normalise(name)
        reason = unsafe_path_reason(name)
        if reason:
            raise ExportError(f"{self.display(name)}: path {reason}")
        if key not in self._infos:
            raise MissingFile(f"{self.display(name)}: file not found in the zip")
        # The header's sizes can lie: count what actually comes out of the decompressor.
        chunks, read = [], 0
        try:
            with self._zip.open(self._infos[key]) as member:
                while chunk := member.read(1024 * 1024):
                    read += len(chunk)
                    if read > limit:
                        raise ExportError(
                            f"{self.display(name)}: unpacks to more than {limit:,} bytes "
                            "(a zip bomb?); refusing to read it"
                        )
                    chunks.append(chunk)
        except ExportError:
            raise
        # Each decompressor fails its own way (zlib.error, lzma.LZMAError, OSError from bz2,
        # NotImplementedError for an unknown method): all mean the member cannot be read.
        except Exception as error:
            raise ExportError(
                f"{self.display(name)}: damaged zip member ({printable(str(error))}); "
                "download the export again"
            ) from None
        return b"".join(chunks)

    def display(self, name: str) -> str:
        return f"{self.label}:{printable(name)}" if name else self.label


def open_export_location(path: Path, label: str) -> ExportFiles:
    """A view of the folder or zip the user named; a path to model.json means its folder."""
    if not path.exists():
        raise ExportError(f"{label}: not found; set model.path in site.yaml or pass --model")
    if path.is_dir():
        return FolderFiles(path, label)
    if not path.is_file():
        # /dev/zero never ends and a FIFO blocks until someone writes: read neither.
        raise ExportError(
            f"{label}: not a regular file (a device or a pipe); point model.path at the folder "
            "or .zip of your Teachable Machine export"
        )
    if zipfile.is_zipfile(path):
        return ZipFiles(path, label)
    if path.suffix.lower() == ".zip":
        raise ExportError(
            f"{label}: not a readable zip file (truncated or damaged?); download the export "
            "from Teachable Machine again"
        )
    if path.name == "model.json":
        return FolderFiles(path.parent, str(Path(label).parent))
    raise ExportError(
        f"{label}: not a folder or .zip; point model.path at the folder (or .zip) that "
        "Teachable Machine's 'Export Model → Tensorflow.js → Download my model' gave you"
    )


def what_is_here_instead(names: list[str]) -> str:
    """Explain, for the usual wrong inputs, what was given and how to get an export."""
    lower = [name.lower() for name in names]
    if any(name.endswith((".h5", ".hdf5", ".keras")) for name in lower):
        return (
            "holds a Keras model, not a TensorFlow.js export; convert it with "
            "`tensorflowjs_converter --input_format keras model.h5 out/` (pip install "
            "'tmbuild[tfjs]') or export again from Teachable Machine as Tensorflow.js"
        )
    if any(posixpath.basename(name).endswith(".pb") for name in lower):
        return (
            "holds a TensorFlow SavedModel, not a TensorFlow.js layers export; export again "
            "from Teachable Machine as Tensorflow.js"
        )
    if any(name.endswith(".tflite") for name in lower):
        return "holds a TensorFlow Lite model; export again from Teachable Machine as Tensorflow.js"
    if any(name.endswith(".zip") for name in lower):
        return (
            "holds no model.json but another .zip; unzip the outer archive and point "
            "model.path at the Teachable Machine .zip or folder inside"
        )
    return f"no model.json found; {HOW_TO_EXPORT}, then point model.path at the folder or .zip"
