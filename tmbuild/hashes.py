"""Content hashes: the names of hashed files, Subresource Integrity values, manifest digests."""

from __future__ import annotations

import base64
import hashlib
from pathlib import PurePosixPath

HASH_LENGTH = 12  # hex digits in a content-hashed file name: 48 bits, collisions are not a worry


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sri(data: bytes) -> str:
    """The Subresource Integrity value of these bytes."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


def hashed_name(name: str, data: bytes, length: int = HASH_LENGTH) -> str:
    """`app.js` → `app.<hash>.js`: the name changes whenever the content does."""
    path = PurePosixPath(name)
    suffix = "".join(path.suffixes[-1:])
    stem = path.name[: -len(suffix)] if suffix else path.name
    hashed = f"{stem}.{sha256_hex(data)[:length]}{suffix}"
    return str(path.with_name(hashed))
