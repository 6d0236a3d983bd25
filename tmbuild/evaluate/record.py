"""`tmbuild-eval.json`: how well a build's model did, kept beside its manifest for `tmbuild diff`.

A few figures only: what was measured (the model's weights, its quantisation, the held-out
images' content hash), the accuracy as counts with its 95% interval, the thresholds and the
verdict. The file sits next to `tmbuild-manifest.json`; diff trusts it only where its weights
hash is the manifest's, so a rebuild with another model never shows the old model's accuracy.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tmbuild import __version__
from tmbuild.evaluate.labelled import LabelledImage
from tmbuild.evaluate.report import rounded

SUMMARY_NAME = "tmbuild-eval.json"
MAX_SUMMARY_BYTES = 1024 * 1024  # a summary is a few hundred bytes


def images_hash(images: list[LabelledImage], labels: dict[str, str]) -> str:
    """The held-out set's content: each image's label, name and bytes, in order. The same
    images give the same hash on any machine, whatever folder they are in."""
    digest = hashlib.sha256()
    for image in sorted(images, key=lambda i: (labels[i.folder], i.relative)):
        try:
            content = hashlib.sha256(image.path.read_bytes()).hexdigest()
        except OSError:
            content = "unreadable"
        digest.update(f"{labels[image.folder]}\0{image.relative}\0{content}\n".encode())
    return digest.hexdigest()


def summary_record(report: dict) -> dict:
    """What tmbuild-eval.json holds, from eval's report."""
    settings = report["threshold"]
    return {
        "tmbuild_version": __version__,
        "weights_sha256": report["model"]["weights_sha256"],
        "quantize": report["model"]["quantize"],
        "images": {"sha256": report["images"]["sha256"], "count": report["images"]["classified"]},
        "correct": sum(c["correct"] for c in report["classes"]),
        "accuracy": report["accuracy"],
        "accuracy_interval": report["accuracy_interval"],
        "threshold": settings["current"],
        "recommended_threshold": settings["recommended"],
        "target_error": settings["target_error"],
        "verdict": report["verdict"]["kind"],
    }


def write_record(record: dict, site: Path) -> Path | None:
    """Write the record beside the site's manifest if the site holds the model measured;
    None (nothing written) if it holds another, or is no build."""
    try:
        manifest = json.loads((site / "tmbuild-manifest.json").read_text("utf-8"))
        weights = manifest["model"]["weights_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if weights != record["weights_sha256"]:
        return None
    path = site / SUMMARY_NAME
    text = json.dumps(rounded(record), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def read_record(manifest: Path) -> dict | None:
    """The record beside a manifest, or None where there is none or it cannot be read."""
    path = manifest.with_name(SUMMARY_NAME)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_SUMMARY_BYTES + 1)
        record = json.loads(data.decode("utf-8")) if len(data) <= MAX_SUMMARY_BYTES else None
    except (OSError, ValueError, RecursionError):
        return None
    ok = isinstance(record, dict) and isinstance(record.get("images"), dict)
    ok = ok and all(isinstance(record.get(k), int) for k in ("correct",))
    ok = ok and isinstance(record["images"].get("count"), int) and record["images"]["count"] > 0
    return record if ok else None
