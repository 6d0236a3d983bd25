"""`tmbuild-manifest.json`: every file of the build with its size, hashes and compressed sizes.

CI jobs diff two manifests to see what a change did to a bundle, so the file is sorted and has
no timestamps or absolute paths.
"""

from __future__ import annotations

import json

from tmbuild import __version__
from tmbuild.config.load import SiteConfig
from tmbuild.export.read import Export
from tmbuild.hashes import sha256_hex, sri
from tmbuild.model.kernels import page_uses_kernels
from tmbuild.model.prepare import ModelFiles

MANIFEST_NAME = "tmbuild-manifest.json"  # named here only: the hosts and `tmbuild diff` import it
SIBLING_SUFFIXES = (".gz", ".br")


def build_manifest(
    files: dict[str, bytes],
    export: Export,
    model: ModelFiles,
    config: SiteConfig,
    quantize_choice: dict | None = None,
) -> bytes:
    """The manifest; `quantize_choice` is what `quantize: auto` measured and chose, if it ran."""
    entries = []
    for path in sorted(files):
        if path.endswith(SIBLING_SUFFIXES) and path[:-3] in files:
            continue
        data = files[path]
        gz, br = files.get(path + ".gz"), files.get(path + ".br")
        entries.append(
            {
                "path": path,
                "bytes": len(data),
                "sha256": sha256_hex(data),
                "sri": sri(data),
                "gzip_bytes": len(gz) if gz is not None else None,
                "brotli_bytes": len(br) if br is not None else None,
            }
        )
    manifest = {
        "tmbuild_version": __version__,
        "model": {
            "name": model.name,
            "version": config.model.version,
            "directory": model.directory,
            "kind": export.kind,
            "labels": export.labels,
            # An audio model reads spectrograms: no image size.
            "image_size": getattr(export, "image_size", None),
            "grayscale": getattr(export, "grayscale", False),
            "quantize": model.quantize,
            "weights_sha256": model.weights_sha256,
            "bytes": model.total_bytes,
            # plan: the page runs tmbuild.model.plan's steps; tf-layers: it loads model.json.
            "runner": "plan" if model.plan else "tf-layers",
        },
        "runtime": {
            "source": config.runtime.source,
            "tfjs_version": config.runtime.tfjs_version,
            # true: where the page takes WASM it runs tmbuild's kernels, without TensorFlow.js.
            "kernels": page_uses_kernels(config, model.plan),
        },
        "base_url": config.base_url,
        "files": entries,
        "totals": {
            "files": len(entries),
            "bytes": sum(entry["bytes"] for entry in entries),
            "brotli_bytes": sum(entry["brotli_bytes"] or entry["bytes"] for entry in entries),
        },
    }
    if quantize_choice is None and config.model.quantize == "auto":
        # Nothing measured (no labelled images): the weights are float16, and the manifest says
        # so, as the build's log line did.
        quantize_choice = {"requested": "auto", "chosen": model.quantize, "measured": False}
    if quantize_choice is not None:
        # auto's choice and its figures against float32 (tmbuild.evaluate.choose)
        manifest["model"]["quantize_choice"] = quantize_choice
    text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    return text.encode("utf-8")
