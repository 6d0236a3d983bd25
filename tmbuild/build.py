"""`tmbuild build`: a Teachable Machine export in, a deployable static site out.

The build reads as a recipe, one stage per step. Every file is assembled in memory (a site is a
few MB), then written to a temporary folder beside the output and swapped in at the end, so a
failed or interrupted build never leaves a half-written `dist/`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tmbuild.config.load import SiteConfig
from tmbuild.export.read import Export, read_export
from tmbuild.hosts.blocked import blocked_loads
from tmbuild.hosts.files import host_files, host_notes
from tmbuild.hosts.policy import SERVICE_WORKER, SitePolicy, site_policy
from tmbuild.model.cache import cached_model, default_model_cache_dir
from tmbuild.model.prepare import ModelFiles
from tmbuild.output.compress import (
    CompressionCache,
    CompressionSettings,
    compress_all,
    default_cache_dir,
)
from tmbuild.output.manifest import MANIFEST_NAME, build_manifest
from tmbuild.output.safety import OutputGuard
from tmbuild.output.write import write_site
from tmbuild.page.assemble import INLINE_SCRIPT_HASHES, render_site
from tmbuild.page.offline import precached_paths, service_worker
from tmbuild.page.single_file import single_file_page
from tmbuild.page.tfjs import runtime_files

log = logging.getLogger("tmbuild")


@dataclass
class BuildResult:
    files: dict[str, bytes]  # every file of the site, by path, siblings included
    export: Export
    model: ModelFiles
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    cache_hits: int = 0
    cache_misses: int = 0

    @property
    def raw_bytes(self) -> int:
        return sum(len(d) for p, d in self.files.items() if not p.endswith((".gz", ".br")))

    @property
    def brotli_bytes(self) -> int:
        """What a first visit costs where the host serves the .br siblings."""
        total = 0
        for path, data in self.files.items():
            if path.endswith((".gz", ".br")):
                continue
            total += len(self.files.get(path + ".br", data))
        return total


def load_export(config: SiteConfig) -> Export:
    return read_export(config.model.path, config.display_path(config.model.path))


def build(
    config: SiteConfig,
    write: bool = True,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
    quantize_choice: dict | None = None,
) -> BuildResult:
    """Build the site described by `config`; with write=False, check it all but write nothing.

    force: replace an output folder that holds something other than an earlier build.
    quantize_choice: what `quantize: auto` measured and chose (tmbuild.evaluate.choose), for
    the manifest.
    """
    started = time.perf_counter()
    guard = OutputGuard(config, force)
    if write:
        guard.check(config.output)  # before the work; write_site looks again before the swap
    export = load_export(config)
    if export.kind in ("audio", "pose"):
        log.info("Read %s: %s model, %d labels", export.location, export.kind, len(export.labels))
    else:
        size = export.image_size
        log.info("Read %s: %d labels, %s px", export.location, len(export.labels), size)

    model = cached_model(export, config, default_model_cache_dir())
    log.info(
        "Model %s: %d shard(s), quantize: %s",
        model.directory,
        len(model.shards),
        config.model.quantize,
    )

    runtime = runtime_files(
        config.runtime.tfjs_version,
        config.classifier.backend,
        config.runtime.dir,
        with_layers=model.plan is None,
        local=config.runtime.source == "bundled",  # a CDN build links the pinned files
    )
    log.info("TensorFlow.js %s: %d runtime files", config.runtime.tfjs_version, len(runtime))

    files = dict(model.files)
    files.update(render_site(config, export, model, runtime))
    log.info("Rendered the page and %d site files", len(files))
    if config.single_file:
        return _single_file(config, export, model, files, write, started, guard)
    if config.offline:
        files[SERVICE_WORKER] = service_worker(files, config)
        log.info("Service worker: %d files precached", len(precached_paths(files)))

    # The manifest is written last (it lists every other file) but gets its rules now.
    policy = site_policy(
        [*files, MANIFEST_NAME],
        config.base_url,
        _cdn_origin(config),
        script_hashes=INLINE_SCRIPT_HASHES,
        # Threads need it, and a CDN runtime cannot have it.
        isolated=config.runtime.wasm_threads and config.runtime.source == "bundled",
        extra_sources=csp_sources(config),
        shared=config.embed.mode == "element",
        device="microphone" if export.kind == "audio" else "camera",
    )
    csp = policy.security["Content-Security-Policy"]
    for blocked in blocked_loads(config.templates, csp):
        log.warning(blocked)
    warnings = host_notes(config.hosts)
    # Said once per output folder: a folder that holds the .nojekyll of an earlier GitHub Pages
    # build has been told; -v says it again, CI logs are not nagged on every build.
    told = write and (config.output / ".nojekyll").is_file()
    for note in warnings:
        (log.info if told else log.warning)(note)

    if not write:
        # `tmbuild check`: everything is read, prepared and rendered; nothing is compressed.
        files.update(_host_files(config, policy, files))
        return BuildResult(
            files=files,
            export=export,
            model=model,
            seconds=time.perf_counter() - started,
            warnings=warnings,
        )

    cache = CompressionCache(default_cache_dir())
    settings = CompressionSettings(
        gzip=config.compress.gzip,
        brotli=config.compress.brotli,
        gzip_level=config.compress.gzip_level,
        brotli_quality=config.compress.brotli_quality,
    )
    compressed = compress_all(sorted(files.items()), settings, cache, progress)
    log.info(
        "Compressed %d files (%d of %d results from cache)",
        len(compressed),
        cache.hits,
        cache.hits + cache.misses,
    )

    for path, result in compressed.items():
        # A sibling that is not smaller than the original would only cost hosts disk space.
        if result.gzip is not None and len(result.gzip) < len(files[path]):
            files[path + ".gz"] = result.gzip
        if result.brotli is not None and len(result.brotli) < len(files[path]):
            files[path + ".br"] = result.brotli

    # After the siblings: the S3 plan names them, and host files get none of their own.
    files.update(_host_files(config, policy, files))
    files[MANIFEST_NAME] = build_manifest(files, export, model, config, quantize_choice)

    write_site(files, config.output, guard)
    log.info("Wrote %s", config.output)
    return BuildResult(
        files=files,
        export=export,
        model=model,
        seconds=time.perf_counter() - started,
        warnings=warnings,
        cache_hits=cache.hits,
        cache_misses=cache.misses,
    )


def _host_files(config: SiteConfig, policy: SitePolicy, files: dict[str, bytes]) -> dict:
    written = host_files(config.hosts, policy, [*files, MANIFEST_NAME])
    log.info("Host files for %s: %s", ", ".join(config.hosts) or "no host", ", ".join(written))
    return written


def _single_file(
    config: SiteConfig,
    export: Export,
    model: ModelFiles,
    files: dict[str, bytes],
    write: bool,
    started: float,
    guard: OutputGuard,
) -> BuildResult:
    """Fold the rendered site into one page, the only file of the output folder."""
    name = f"{model.name}.html"
    page = {name: single_file_page(files, model, config.base_url)}
    if write:
        write_site(page, config.output, guard)
        log.info("Wrote %s/%s", config.output, name)
    return BuildResult(
        files=page, export=export, model=model, seconds=time.perf_counter() - started
    )


def csp_sources(config: SiteConfig) -> dict[str, tuple[str, ...]]:
    """site.yaml's `csp:` by directive name: `script_src` → `script-src`."""
    chosen = dataclasses.asdict(config.csp)
    chosen.pop("allow_unsafe")
    return {name.replace("_", "-"): tuple(sources) for name, sources in chosen.items()}


def _cdn_origin(config: SiteConfig) -> str | None:
    return "https://cdn.jsdelivr.net" if config.runtime.source == "cdn" else None
