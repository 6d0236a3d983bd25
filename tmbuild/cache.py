"""The user cache shared by every stage: verified runtime files and compressed outputs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_root() -> Path:
    """`$TMBUILD_CACHE_DIR`, else `$XDG_CACHE_HOME/tmbuild`, else `~/.cache/tmbuild`."""
    root = os.environ.get("TMBUILD_CACHE_DIR")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "tmbuild"


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
