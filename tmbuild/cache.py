"""The user cache shared by every stage: verified runtime files, prepared models, compressed files.

Each kind of entry has a folder of the cache root, and every entry is one file two levels down:

- `compressed/<2 hex>/<sha256>.<codec><level>`: gzip and Brotli siblings (tmbuild.output.compress)
- `models/entries/<sha256>`: prepared models (tmbuild.model.cache)
- `tfjs/<version>/<file>`: the verified TensorFlow.js files (tmbuild.page.tfjs)

compressed/ and models/ together are kept under a size limit (TMBUILD_CACHE_SIZE, default 1 GB):
after a build writes entries, the least recently used go first. An entry's modification time is
its last use, set again on every hit, because many file systems are mounted noatime. tfjs/ is
never evicted: a build needs those files, and an offline machine may not fetch them again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tmbuild.errors import TmbuildError
from tmbuild.sizes import format_size

KINDS = ("compressed", "models", "tfjs")
EVICTABLE = ("compressed", "models")  # what a build makes again from its inputs
# Each kind's (folder, file) names: a file that does not match is never an entry, so neither a
# write in progress (its temporary name) nor anything else in the folder is ever removed.
_ENTRY_NAMES = {
    "compressed": (r"[0-9a-f]{2}", r"[0-9a-f]{64}\.(gz|br)[0-9]+"),
    "models": (r"entries", r"[0-9a-f]{64}"),
    "tfjs": (r"[0-9]+\.[0-9]+\.[0-9]+", r"tf(js)?-[a-z0-9.-]+\.(js|wasm)"),
}
SIZE_VARIABLE = "TMBUILD_CACHE_SIZE"
DEFAULT_SIZE_LIMIT = "1GB"

log = logging.getLogger("tmbuild")


@dataclass(frozen=True)
class Entry:
    kind: str
    path: Path
    size: int
    used_ns: int  # last written or hit


def cache_root() -> Path:
    """`$TMBUILD_CACHE_DIR`, else `$XDG_CACHE_HOME/tmbuild`, else `~/.cache/tmbuild`."""
    size_limit()  # a bad TMBUILD_CACHE_SIZE is said by any use of the cache, before its work
    root = os.environ.get("TMBUILD_CACHE_DIR")
    if root:
        path = Path(root).expanduser()
        _refuse_shared_folder(path)
        return path
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "tmbuild"


def _refuse_shared_folder(path: Path) -> None:
    """Refuse a cache root that other files live in: tmbuild writes and deletes in it."""
    resolved = path.resolve()
    home = Path.home().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    shared = {home / ".cache", *([Path(xdg).resolve()] if xdg and Path(xdg).is_absolute() else [])}
    # The file-system root, its top folders (/usr, /etc, /home, /tmp ...), the home folder and
    # what holds it, and the cache folder every program shares.
    if len(resolved.parts) <= 2 or resolved in (home, *home.parents) or resolved in shared:
        raise TmbuildError(
            f"TMBUILD_CACHE_DIR is {path}, a folder shared with other files; tmbuild removes "
            f"entries from its cache, so point it at a folder of its own, such as "
            f"{resolved / 'tmbuild'}"
        )


def write_entry(path: Path, data: bytes) -> None:
    """Store one cache entry; a read-only or full cache only costs time, never correctness."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a build killed mid-write never leaves a truncated entry.
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, path)
    except OSError:
        pass


def mark_used(path: Path) -> None:
    """Make a hit the entry's last use, for the least-recently-used eviction."""
    # Gone (another build evicted it meanwhile) or read-only: there is nothing to keep fresh.
    with contextlib.suppress(OSError):
        os.utime(path)


def entries(root: Path, kinds: tuple[str, ...] = KINDS) -> list[Entry]:
    """The cache's entries of these kinds, least recently used first.

    Only regular files named as the kind names its entries count; symlinks are never followed.
    """
    found = []
    for kind in kinds:
        folder_name, file_name = _ENTRY_NAMES[kind]
        for folder in _scan(root / kind):
            if not re.fullmatch(folder_name, folder.name) or folder.is_symlink():
                continue
            for file in _scan(Path(folder.path)):
                if not re.fullmatch(file_name, file.name):
                    continue
                try:
                    info = file.stat(follow_symlinks=False)
                except OSError:
                    continue  # removed since the listing
                if stat.S_ISREG(info.st_mode):
                    found.append(Entry(kind, Path(file.path), info.st_size, info.st_mtime_ns))
    return sorted(found, key=lambda entry: (entry.used_ns, str(entry.path)))


def _scan(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as listing:
            return list(listing)
    except OSError:
        return []  # absent, or not a folder


def remove(chosen: list[Entry], strict: bool = True) -> list[Entry]:
    """Delete these entries, and the folders they leave empty; return those deleted.

    Not `strict`, an entry that cannot be deleted is left: a build's eviction must never fail
    the build, as a read-only cache only costs time.
    """
    done = []
    for entry in chosen:
        try:
            entry.path.unlink()
        except FileNotFoundError:
            continue  # another build evicted it first
        except OSError as error:
            if strict:
                raise TmbuildError(f"cannot remove {entry.path} ({error.strerror})") from None
            continue
        done.append(entry)
    # The entry's folder, then the kind's folder, when they are empty; never the root.
    for folder in sorted({entry.path.parent for entry in done}, reverse=True):
        for empty in (folder, folder.parent):
            try:
                empty.rmdir()
            except OSError:
                break  # not empty: another entry, or a write in progress
    return done


def size_limit() -> int:
    """The bytes compressed/ and models/ may hold together: `$TMBUILD_CACHE_SIZE`, else 1 GB."""
    text = os.environ.get(SIZE_VARIABLE) or DEFAULT_SIZE_LIMIT
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(?:([kmgt])(i?))?b?\s*", text, re.I)
    if match is None:
        raise TmbuildError(
            f"{SIZE_VARIABLE} is {text!r}: give a size such as 500MB, 2GB, or 0 to keep no "
            f"compressed files and models"
        )
    number, unit, binary = match.groups()
    power = "kmgt".index(unit.lower()) + 1 if unit else 0
    return int(float(number) * (1024 if binary else 1000) ** power)


def evict(root: Path, limit: int) -> list[Entry]:
    """Remove the least recently used compressed and model entries until `limit` holds."""
    found = entries(root, EVICTABLE)
    excess = sum(entry.size for entry in found) - limit
    chosen = []
    for entry in found:
        if excess <= 0:
            break
        chosen.append(entry)
        excess -= entry.size
    removed = remove(chosen, strict=False)
    if removed:
        log.info(
            "Cache: removed the %d least recently used entries (%s) to stay under %s",
            len(removed),
            shown_size(sum(entry.size for entry in removed)),
            shown_size(limit),
        )
    return removed


def keep_under_limit(directory: Path) -> None:
    """Evict after a build wrote entries into `directory`, if it is a kind of the user cache.

    A folder a caller chose itself (a test's, a library user's) is theirs, and left alone.
    """
    root = cache_root()
    if directory.name in EVICTABLE and directory.parent.absolute() == root.absolute():
        evict(root, size_limit())


def shown_size(size: int) -> str:
    """A size as the build summary says it, and in GB past a thousand MB."""
    return f"{size / 10**9:.2f} GB" if size >= 999_995_000 else format_size(size)
