"""Labelled image folders (one folder per label) and how their names map to a model's labels.

`tmbuild eval` reads held-out images this way, `tmbuild split` makes them, and the agreement test
lists the shared exports' images with it. Every file is listed, whatever its name ends in: one the
browser cannot decode is reported by eval rather than silently left out. Only hidden files and the
thumbnail caches operating systems leave behind are passed over.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from tmbuild.errors import TmbuildError

# Written by file managers, never images: listing them as undecodable would only be noise.
SYSTEM_FILES = {"thumbs.db", "desktop.ini", "icon\r"}


@dataclass(frozen=True)
class LabelledImage:
    folder: str  # the label folder's name, as on disk
    relative: str  # the file inside it, with '/' (subfolders are allowed)
    path: Path

    @property
    def name(self) -> str:
        """The image as reports show it: relative to the images folder, with '/'."""
        return f"{self.folder}/{self.relative}"


@dataclass
class LabelledFolders:
    root: Path
    images: dict[str, list[LabelledImage]]  # folder name -> its files, both sorted
    loose: list[str] = field(default_factory=list)  # files directly in root, in no folder

    def all_images(self) -> list[LabelledImage]:
        return [image for folder in sorted(self.images) for image in self.images[folder]]


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name.lower() not in SYSTEM_FILES


def list_labelled(root: Path) -> LabelledFolders:
    """Every file under each folder of `root` (subfolders included), sorted by name."""
    if not root.exists():
        raise TmbuildError(f"{root}: no such folder; give a folder with one folder per label")
    if not root.is_dir():
        raise TmbuildError(f"{root}: is a file; give a folder with one folder per label")
    images: dict[str, list[LabelledImage]] = {}
    loose = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if not _visible(entry):
            continue
        if entry.is_dir():
            files = {
                path.relative_to(entry).as_posix(): path
                for path in entry.rglob("*")
                if path.is_file()
                and all(_visible(Path(part)) for part in path.relative_to(entry).parts)
            }
            images[entry.name] = [
                LabelledImage(entry.name, relative, files[relative]) for relative in sorted(files)
            ]
        elif entry.is_file():
            loose.append(entry.name)
    if not images:
        raise TmbuildError(
            f"{root}: holds no folders; put each label's images in a folder named after the "
            "label, such as images/cat/ and images/dog/"
        )
    return LabelledFolders(root, images, loose)


def _key(name: str) -> str:
    # macOS stores names decomposed (NFD) and metadata.json has them composed: compare both NFC.
    return unicodedata.normalize("NFC", name).strip().casefold()


@dataclass
class FolderMatch:
    labels: dict[str, str]  # folder -> model label
    unmatched: list[str]  # folders that match no label
    missing: list[str]  # model labels with no folder


def match_folders(
    folders: list[str], labels: list[str], aliases: dict[str, str], aliases_source: str
) -> FolderMatch:
    """Map folder names to labels: exactly, then ignoring case, then through `aliases`."""
    for folder, label in sorted(aliases.items()):
        if label not in labels:
            raise TmbuildError(
                f"{aliases_source}: {folder!r} maps to {label!r}, which is not a label of the "
                f"model (its labels: {', '.join(labels)})"
            )
    by_key: dict[str, str] = {}
    for label in labels:
        by_key.setdefault(_key(label), label)  # labels equal but for case: the first wins
    alias_by_key = {_key(folder): label for folder, label in aliases.items()}
    matched, unmatched = {}, []
    for folder in sorted(folders):
        if folder in labels:
            matched[folder] = folder
        elif folder in aliases:
            matched[folder] = aliases[folder]
        elif _key(folder) in by_key:
            matched[folder] = by_key[_key(folder)]
        elif _key(folder) in alias_by_key:
            matched[folder] = alias_by_key[_key(folder)]
        else:
            unmatched.append(folder)
    found = set(matched.values())
    return FolderMatch(matched, unmatched, [label for label in labels if label not in found])


def slug_of(name: str) -> str:
    """A name without case, accents' composition or punctuation, to find near-duplicates."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", name).casefold())
