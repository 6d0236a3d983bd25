"""A pose model's folder: PoseNet and Teachable Machine's head as one plan, one set of weights.

A pose export holds only the head (Dense 14,739 → 100 → labels); the page needs PoseNet too. The
build takes the pinned PoseNet (tmbuild.model.posenet), translates it and the head into one plan
(tmbuild.model.pose_plan) and writes one weights manifest: PoseNet's weights, named
`posenet/...`, then the head's. PoseNet's shards are written to `models/posenet/`, named by
their content, and the head's to the model's own folder: a retrained model changes only the
head's, so a returning visitor downloads PoseNet once. Both are quantised alike: `float16` as
TensorFlow.js stores it, `int8` per output channel on every convolution and dense kernel of the
plan (tmbuild.model.int8). PoseNet's batch norms were folded by Google's converter long ago, so
int8 has no batch-norm statistics to correct its biases with. `uint8`, one scale per tensor, is
refused: on a photo it moved keypoints by up to 198 px of 257 and changed every top label
(docs/pose.md has the figures).

The page always runs the plan, on tmbuild's kernels or on TensorFlow.js's ops:
`runtime.model_runner: tf-layers` has no layers model to load (PoseNet is a graph model) and is
refused.
"""

from __future__ import annotations

import dataclasses
import logging

from tmbuild.config.load import SiteConfig
from tmbuild.errors import ExportError
from tmbuild.export.pose import PoseExport
from tmbuild.hashes import hashed_name
from tmbuild.model.plan import Unsupported, check_plan
from tmbuild.model.pose_plan import WEIGHT_PREFIX, pose_plan, posenet_plan
from tmbuild.model.posenet import posenet_files
from tmbuild.model.prepare import ModelFiles, export_weights, model_folder, resolved_quantize

log = logging.getLogger("tmbuild")

# Where a site keeps PoseNet's shards, named by their content, whatever model reads them.
POSENET_FOLDER = "models/posenet"


def prepare_pose_model(export: PoseExport, config: SiteConfig) -> ModelFiles:
    """PoseNet and the export's head, encoded as `model.quantize` says, in one model folder."""
    from tmbuild.model.int8 import per_channel_kernels
    from tmbuild.model.weights import Weight, decode_weights, encode_weights

    where = config.display_path(config.config_path) if config.config_path else "site.yaml"
    if config.runtime.model_runner == "tf-layers":
        raise ExportError(
            f"{where}: runtime.model_runner: tf-layers cannot run a pose model (PoseNet is no "
            "layers model); leave model_runner at plan, which runs on TensorFlow.js where "
            "tmbuild's kernels cannot"
        )
    if config.model.quantize == "uint8":
        # Measured on a photo: keypoints moved by up to 198 px of 257 and no top label held.
        raise ExportError(
            f"{where}: model.quantize: uint8 (one scale per tensor) wrecks PoseNet's keypoints "
            "and labels; use int8, as small and one scale per channel, or float16"
        )
    head = export_weights(export)
    posenet = posenet_files()
    try:
        network = posenet_plan(posenet.model_json)
    except Unsupported as error:  # the pinned file is verified: only a tmbuild bug gets here
        raise ExportError(f"{posenet.folder}: PoseNet cannot be planned: {error}") from None
    raw = [dict(entry, name=entry["name"].removeprefix(WEIGHT_PREFIX)) for entry in network.weights]
    weights = [
        Weight(WEIGHT_PREFIX + weight.name, weight.dtype, weight.array)
        for weight in decode_weights(raw, posenet.weights)
    ] + head
    topology = export.model_json["modelTopology"]
    float_entries = [
        {"name": w.name, "shape": list(w.array.shape), "dtype": w.dtype} for w in weights
    ]
    plan = _whole_plan(export, network, topology, float_entries)
    quantize = resolved_quantize(config)
    per_channel = per_channel_kernels(plan.as_json()) if quantize == "int8" else {}
    # PoseNet's depthwise kernels stay float32 under int8: nine weights per channel leave int8
    # no room, and with no batch norms left to correct biases from they broke the example
    # model (top-1 agreement with float32 72%, a probability moving by 0.999; 100% and 0.025
    # with them kept). They are 30k of PoseNet's 1.26M weights, ~90 kB more than int8.
    for step in plan.steps:
        if step["op"] == "depthwise" and step["kernel"].startswith(WEIGHT_PREFIX):
            per_channel.pop(step["kernel"], None)
    # PoseNet's shards apart from the head's, in a folder of their own: a retrained model, or
    # another pose model of the same site, reuses what a visitor has already downloaded.
    count = len(network.weights)
    entries, shard_data, leading = [], [], {}
    for part in (weights[:count], weights[count:]):
        part_entries, part_data = encode_weights(
            part, quantize, config.model.shard_size, per_channel=per_channel
        )
        entries += part_entries
        if not leading:
            total = len(part_data)
            leading = {
                f"{POSENET_FOLDER}/{hashed_name(f'posenet-shard{i}of{total}.bin', data)}": data
                for i, data in enumerate(part_data, start=1)
            }
        else:
            shard_data = part_data
    plan = _whole_plan(export, network, topology, entries)
    folder = model_folder(export, config, topology, weights, entries, shard_data, leading)
    log.info(
        "%s: PoseNet (%d weights) and the head in one plan of %d steps",
        export.location,
        len(network.weights),
        len(plan.steps),
    )
    return dataclasses.replace(folder, plan=plan.as_json(), quantize=quantize)


def _whole_plan(export: PoseExport, network, topology: dict, entries: list[dict]):
    """PoseNet's plan, with `entries`' first weights, then the head on the rest."""
    count = len(network.weights)
    network = dataclasses.replace(network, weights=entries[:count])
    plan, reason = pose_plan(network, topology, entries[count:])
    if plan is None:
        raise ExportError(
            f"{export.location}: the head cannot run after PoseNet ({reason}); export the pose "
            "model from Teachable Machine again"
        )
    try:
        check_plan(plan.as_json())
    except Unsupported as error:
        raise ExportError(f"{export.location}: a malformed pose plan: {error}") from None
    return plan
