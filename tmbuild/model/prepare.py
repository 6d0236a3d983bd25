"""The versioned, content-hashed model directory.

`models/<name>/<version>-<hash8>/` holds model.json (its weight paths rewritten to hashed shard
names), the re-sharded and optionally quantised weights, and metadata.json. Every name changes
when any byte of the model does, so all of it can be cached forever. For the page's plan runner
(tmbuild.model.plan) the batch norms are folded into their convolutions first
(tmbuild.model.fold): still a layers model, with fewer layers and weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tmbuild import __version__
from tmbuild.config.load import SiteConfig
from tmbuild.errors import ExportError
from tmbuild.export.layers import RETRAIN, ShapeMismatch
from tmbuild.export.read import Export
from tmbuild.hashes import hashed_name
from tmbuild.model.plan import Plan, build_plan
from tmbuild.untrusted import shown

if TYPE_CHECKING:
    from tmbuild.model.weights import Weight

DIRECTORY_HASH_LENGTH = 8

log = logging.getLogger("tmbuild")


@dataclass(frozen=True)
class ModelFiles:
    name: str  # URL slug
    directory: str  # models/<name>/<version>-<hash8>
    model_json_path: str
    metadata_path: str
    shards: list[str]
    weights_sha256: str  # of all shard bytes, in order: what `tmbuild diff` compares
    files: dict[str, bytes]
    # What the page runs without tf-layers (tmbuild.model.plan); None, and why, when it cannot.
    plan: dict | None = None
    no_plan_reason: str = ""
    quantize: str = "none"  # the weights' format: model.quantize, with auto resolved

    @property
    def total_bytes(self) -> int:
        """What the browser downloads for the model: model.json, metadata and the shards."""
        return sum(len(data) for data in self.files.values())

    @property
    def shard_bytes(self) -> int:
        return sum(len(self.files[path]) for path in self.shards)


def slugify(text: str) -> str:
    """A lowercase ASCII slug safe in URLs and file names ('Mask Model 2' → 'mask-model-2')."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:64].strip("-")


def model_slug(config: SiteConfig, export: Export) -> str:
    if config.model.name:
        return config.model.name
    return slugify(export.model_name) or "model"


def prepare_model(export: Export, config: SiteConfig) -> ModelFiles:
    """Re-shard (and quantise) the weights and rewrite model.json to point at hashed shards."""
    # Imported here: numpy takes ~50 ms to import, which a build whose model comes from the
    # cache (tmbuild.model.cache) never needs.
    from tmbuild.model.fold import fold_batch_norms
    from tmbuild.model.weights import encode_weights

    weights = export_weights(export)
    topology = export.model_json["modelTopology"]
    quantize = resolved_quantize(config)
    if quantize == "int8" and config.runtime.model_runner != "plan":
        where = config.display_path(config.config_path) if config.config_path else "site.yaml"
        raise ExportError(
            f"{where}: model.quantize: int8 weights run only on the page's plan, not with "
            "runtime.model_runner: tf-layers; use quantize: float16, or model_runner: plan"
        )
    per_channel: dict[str, int] = {}
    # uint8 keeps its norms: one scale per tensor would blur the per-channel scales a fold
    # multiplies into each kernel.
    if config.runtime.model_runner == "plan" and quantize != "uint8":
        unfolded, reason = _plan(export, topology, _manifest_of(weights))
        if unfolded is None and quantize == "int8":
            raise ExportError(
                f"{export.location}: model.quantize: int8 weights run only on the page's plan, "
                f"which this model cannot have ({reason}); build with quantize: float16"
            )
        if unfolded is not None:
            original = weights
            topology, weights, count = fold_batch_norms(topology, weights, unfolded)
            log.info("%s: %d batch norms folded into their convolutions", export.location, count)
            if quantize == "int8":
                weights, per_channel = _int8_ready(export, topology, weights, unfolded, original)
    entries, shard_data = encode_weights(
        weights, quantize, config.model.shard_size, per_channel=per_channel
    )
    folder = model_folder(export, config, topology, weights, entries, shard_data)
    plan, no_plan_reason = _plan(export, topology, entries)
    if config.runtime.model_runner == "tf-layers":
        plan, no_plan_reason = None, "runtime.model_runner is tf-layers"
    elif plan is None:
        # Not an error, but a slower, larger page than usual: worth a line, and a report.
        log.warning(
            "%s: the page will load tf-layers (86 kB more, slower predictions) to run this "
            "model: %s",
            export.location,
            no_plan_reason,
        )
    return dataclasses.replace(
        folder,
        plan=plan.as_json() if plan else None,
        no_plan_reason=no_plan_reason,
        quantize=quantize,
    )


def export_weights(export: Export) -> list[Weight]:
    """The export's weights, decoded, once none is NaN or infinite."""
    from tmbuild.model.weights import decode_weights

    weights = []
    for entries, data in export.weight_groups:
        weights.extend(decode_weights(entries, data))
    _check_finite(export, weights)
    return weights


def resolved_quantize(config: SiteConfig) -> str:
    """model.quantize, with `auto` that nothing measured taken as float16."""
    if config.model.quantize != "auto":
        return config.model.quantize
    # `tmbuild build --images` measures and chooses before the build (tmbuild.evaluate.choose);
    # what reaches here has nothing measured.
    log.warning(
        "model.quantize: auto: no labelled images to measure int8 on (tmbuild build --images "
        "DIR), so the weights are float16"
    )
    return "float16"


def model_folder(
    export: Export,
    config: SiteConfig,
    topology: dict,
    weights: list[Weight],
    entries: list[dict],
    shard_data: list[bytes],
    leading: dict[str, bytes] | None = None,
) -> ModelFiles:
    """The model directory of encoded weights: hashed shards, model.json and metadata.json.

    `weights` are what was encoded, to refuse float16 that turned a weight into infinity.
    `leading`: shards kept elsewhere in the site (by path) whose bytes come first in the
    manifest, before `shard_data`; a pose model's PoseNet, shared by every version of it.
    """
    from tmbuild.model.weights import decode_weights, non_finite_weights

    leading = leading or {}
    every = [*leading.values(), *shard_data]
    if entries and any(e.get("quantization", {}).get("dtype") == "float16" for e in entries):
        quantised = decode_weights(entries, b"".join(every))
        overflowed = set(non_finite_weights(quantised)) - set(non_finite_weights(weights))
        if overflowed:
            raise ExportError(
                f"{export.location}: weight {shown(sorted(overflowed)[0])} holds values beyond "
                "float16's range, which would become infinity; build with quantize: none"
            )
    count = len(shard_data)
    shard_names = [
        hashed_name(f"group1-shard{index}of{count}.bin", data)
        for index, data in enumerate(shard_data, start=1)
    ]
    # The model folder is three deep (models/<name>/<version>-<hash>): the others' paths from it.
    paths = [f"../../../{path}" for path in leading] + shard_names
    model_json = _rewritten_model_json(export.model_json, topology, entries, paths)
    name = model_slug(config, export)
    version = config.model.version
    directory_hash = hashlib.sha256(model_json + b"\0" + export.metadata_bytes).hexdigest()
    directory = f"models/{name}/{version}-{directory_hash[:DIRECTORY_HASH_LENGTH]}"

    files = {f"{directory}/model.json": model_json}
    files[f"{directory}/metadata.json"] = export.metadata_bytes
    files.update(leading)
    for shard_name, data in zip(shard_names, shard_data, strict=True):
        files[f"{directory}/{shard_name}"] = data
    digest = hashlib.sha256()
    for data in every:
        digest.update(data)
    return ModelFiles(
        name=name,
        directory=directory,
        model_json_path=f"{directory}/model.json",
        metadata_path=f"{directory}/metadata.json",
        shards=[*leading, *(f"{directory}/{shard}" for shard in shard_names)],
        weights_sha256=digest.hexdigest(),
        files=files,
    )


def _int8_ready(
    export: Export, topology: dict, weights: list[Weight], unfolded: Plan, original: list
) -> tuple[list[Weight], dict[str, int]]:
    """The folded weights with int8's bias correction, and the kernels to store as int8."""
    from tmbuild.model.bias_correction import bias_corrected
    from tmbuild.model.int8 import per_channel_kernels

    folded, _ = _plan(export, topology, _manifest_of(weights))
    per_channel = per_channel_kernels(folded.as_json() if folded else None)
    if folded is None:
        return weights, per_channel
    arrays = {weight.name: weight.array for weight in original}
    return bias_corrected(unfolded, arrays, folded, weights, per_channel), per_channel


def _plan(export: Export, topology: dict, entries: list[dict]) -> tuple[Plan | None, str]:
    try:
        return build_plan(topology, entries)
    except ShapeMismatch as mismatch:
        raise ExportError(f"{export.location}: {mismatch}; {RETRAIN}") from None


def _manifest_of(weights: list[Weight]) -> list[dict]:
    return [{"name": w.name, "shape": list(w.array.shape), "dtype": w.dtype} for w in weights]


def _check_finite(export: Export, weights: list[Weight]) -> None:
    """Refuse NaN or infinite weights: a broken training run, and NaN for every prediction."""
    from tmbuild.model.weights import non_finite_weights

    broken = non_finite_weights(weights)
    if broken:
        raise ExportError(
            f"{export.location}: weight {shown(broken[0])} holds NaN or infinity, so every "
            f"prediction would be NaN; {RETRAIN}"
        )


def _rewritten_model_json(
    original: dict, topology: dict, entries: list[dict], shard_names: list[str]
) -> bytes:
    """model.json with one weight group pointing at the hashed shards, and `topology`."""
    rewritten: dict = {"format": "layers-model"}
    if "generatedBy" in original:
        rewritten["generatedBy"] = original["generatedBy"]
    rewritten["convertedBy"] = f"tmbuild {__version__}"
    rewritten["modelTopology"] = topology
    rewritten["weightsManifest"] = [{"paths": shard_names, "weights": entries}]
    # Compact and key-ordered as given: the same export always gives the same bytes.
    text = json.dumps(rewritten, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")
