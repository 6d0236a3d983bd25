"""Pre-compressed siblings of the files a build writes.

gzip and Brotli output depends only on the input bytes and the settings (gzip's header time is
fixed at 0), so siblings are byte-reproducible and can be cached by content: a rebuild after a
template edit does not spend seconds re-compressing unchanged weights at Brotli quality 11.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import brotli

from tmbuild.cache import cache_root, keep_under_limit, mark_used, write_entry
from tmbuild.hashes import sha256_hex

# Files worth compressing; images and already-compressed formats are not.
COMPRESSIBLE_SUFFIXES = {".html", ".js", ".css", ".json", ".bin", ".wasm", ".svg", ".txt", ".map"}


def is_compressible(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in COMPRESSIBLE_SUFFIXES


@dataclass(frozen=True)
class CompressionSettings:
    gzip: bool = True
    brotli: bool = True
    gzip_level: int = 9
    brotli_quality: int = 11


@dataclass(frozen=True)
class Compressed:
    gzip: bytes | None
    brotli: bytes | None


def default_cache_dir() -> Path:
    return cache_root() / "compressed"


class CompressionCache:
    """Compressed bytes stored under the sha256 of their input and the codec settings."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self.hits = 0
        self.misses = 0

    def get_or_make(self, key: str, make: Callable[[], bytes]) -> bytes:
        if self.directory is None:
            return make()
        path = self.directory / key[:2] / key
        try:
            cached = path.read_bytes()
        except OSError:
            pass
        else:
            mark_used(path)
            self.hits += 1
            return cached
        data = make()
        self.misses += 1
        write_entry(path, data)
        return data

    def keep_under_limit(self) -> None:
        """Evict the least recently used entries of the user cache, if this build wrote any."""
        if self.directory is not None and self.misses:
            keep_under_limit(self.directory)


def compress_one(data: bytes, settings: CompressionSettings, cache: CompressionCache) -> Compressed:
    digest = sha256_hex(data)
    gz = br = None
    if settings.gzip:
        gz = cache.get_or_make(
            f"{digest}.gz{settings.gzip_level}",
            lambda: gzip.compress(data, compresslevel=settings.gzip_level, mtime=0),
        )
    if settings.brotli:
        br = cache.get_or_make(
            f"{digest}.br{settings.brotli_quality}",
            lambda: brotli.compress(data, quality=settings.brotli_quality),
        )
    return Compressed(gz, br)


def compress_all(
    files: Iterable[tuple[str, bytes]],
    settings: CompressionSettings,
    cache: CompressionCache,
    on_done: Callable[[int, int], None] | None = None,
) -> dict[str, Compressed]:
    """Compress every compressible file, in parallel (both codecs release the GIL)."""
    todo = [(path, data) for path, data in files if is_compressible(path)]
    # Largest first, so one big weight shard does not start last and keep a core idle.
    todo.sort(key=lambda item: (-len(item[1]), item[0]))
    results: dict[str, Compressed] = {}
    workers = max(1, min(len(todo), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {path: pool.submit(compress_one, data, settings, cache) for path, data in todo}
        try:
            for done, (path, future) in enumerate(futures.items(), start=1):
                results[path] = future.result()
                if on_done:
                    on_done(done, len(futures))
        except BaseException:
            # Interrupted, or a compressor failed: drop the queue, so the build stops now and
            # not after every queued Brotli pass; only the calls already running finish.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    cache.keep_under_limit()
    return results
