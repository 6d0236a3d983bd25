"""A pose export built into a pose site: PoseNet and the head in one model folder and one plan,
the page and its configuration, the host files, and the settings refused by name.

The export is tests/support/pose_export.py's (seeded weights); PoseNet is the pinned one, read
from the cache or TMBUILD_POSENET_DIR and never fetched here.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import file_tree
from support.pose_export import page_config, pose_head_weights, write_pose_export

from tmbuild.cli import cli
from tmbuild.model.pose_plan import WEIGHT_PREFIX
from tmbuild.model.posenet import FOLDER_VARIABLE, cache_dir, posenet_files
from tmbuild.model.weights import decode_weights

LABELS = ("Standing", "Arms up", "Sitting")
# Seeded random weights do not compress: no siblings to wait for.
FAST = "compress:\n  gzip: false\n  brotli: false\n"


@pytest.fixture(scope="module")
def posenet():
    named = os.environ.get(FOLDER_VARIABLE)
    folder = Path(named).expanduser() if named else cache_dir()
    if not (folder / "posenet.bin").is_file():
        pytest.skip(f"PoseNet is not in {folder}; run `tmbuild fetch-runtime --pose` (145 MB)")
    return posenet_files(folder=folder)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    return write_pose_export(tmp_path_factory.mktemp("pose") / "my-poses", LABELS, seed=1)


def _build(
    tmp_path: Path, monkeypatch, export: Path, settings: str = "", output: str = "dist", model=""
):
    """`tmbuild build`; `model` holds lines of site.yaml's model: section."""
    (tmp_path / "site.yaml").write_text(
        f"model:\n  path: {export}\n{model}{FAST}{settings}", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(cli, ["build", "-q", "-o", output])


def _model_weights(site: Path, config: dict) -> dict[str, np.ndarray]:
    """The weights the page downloads, decoded by the plan's own manifest entries."""
    data = b"".join((site / url.lstrip("/")).read_bytes() for url in config["model"]["shards"])
    return {w.name: w.array for w in decode_weights(config["model"]["plan"]["weights"], data)}


def test_a_pose_export_builds_a_pose_page_with_posenet_inside(
    tmp_path, monkeypatch, export, posenet
):
    result = _build(tmp_path, monkeypatch, export)
    assert result.exit_code == 0, result.output
    site = tmp_path / "dist"
    page = (site / "index.html").read_text(encoding="utf-8")
    for element in ("tm-skeleton", "tm-webcam", "tm-upload", "tm-preview", "tm-result"):
        assert f"<{element}>" in page
    assert "<tm-microphone>" not in page
    assert "<title>Standing, Arms up, Sitting: a pose classifier</title>" in page
    config = page_config(page)
    model = config["model"]
    assert model["kind"] == "pose" and model["labels"] == list(LABELS)
    assert config["pose"] == {"minConfidence": 0.5}
    assert config["formats"]["plan"] == 4
    plan = model["plan"]
    assert plan["input"] == {"shape": [257, 257, 3], "divisor": 127.5, "offset": -1.0}
    assert set(plan["outputs"]) == {"features", "displacementFwd", "displacementBwd"}
    assert [s["op"] for s in plan["steps"][-4:]] == ["flatten", "dense", "dense", "activation"]
    # One manifest: PoseNet's weights first, then the head's, exactly as given (quantize: none).
    names = [entry["name"] for entry in plan["weights"]]
    head = pose_head_weights(len(LABELS), seed=1)
    assert names[-3:] == list(head) and all(n.startswith(WEIGHT_PREFIX) for n in names[:-3])
    weights = _model_weights(site, config)
    for name, values in head.items():
        assert np.array_equal(weights[name], values)
    [group] = json.loads(posenet.model_json)["weightsManifest"]
    first = group["weights"][0]
    original = np.frombuffer(posenet.weights, "<f4", int(np.prod(first["shape"])))
    assert np.array_equal(weights[WEIGHT_PREFIX + first["name"]].ravel(), original)
    assert model["weightBytes"] == len(posenet.weights) + sum(v.nbytes for v in head.values())
    # The page runs the plan: no tf-layers, and no request for model.json.
    assert not any(s["role"] == "layers" for s in config["runtime"]["scripts"])
    manifest = json.loads((site / "tmbuild-manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"]["kind"] == "pose" and manifest["model"]["runner"] == "plan"
    assert manifest["model"]["image_size"] == 257
    headers = (site / "_headers").read_text(encoding="utf-8")
    # The page may open the camera, and nothing may open the microphone.
    assert "Permissions-Policy: camera=(self), microphone=(), geolocation=()" in headers


def test_the_pose_page_follows_site_yaml(tmp_path, monkeypatch, export, posenet):
    settings = "lang: ja\npose:\n  min_confidence: 0.3\nclassifier:\n  inputs: [webcam]\n"
    result = _build(tmp_path, monkeypatch, export, settings)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "dist" / "index.html").read_text(encoding="utf-8")
    assert "<tm-upload>" not in page and "<tm-webcam>" in page
    assert "<title>Standing、Arms up、Sitting：ポーズ分類器</title>" in page
    assert page_config(page)["pose"] == {"minConfidence": 0.3}


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        ("pose:\n  min_confidence: 2\n", "pose.min_confidence: expected a number from 0 to 1"),
        (
            "runtime:\n  model_runner: tf-layers\n",
            "site.yaml: runtime.model_runner: tf-layers cannot run a pose model",
        ),
        ("", "site.yaml: model.quantize: uint8 (one scale per tensor) wrecks PoseNet's"),
    ],
)
def test_pose_settings_tmbuild_cannot_honour_are_refused_in_one_line(
    tmp_path, monkeypatch, export, posenet, settings, line
):
    uint8 = "" if settings else "  quantize: uint8\n"
    result = _build(tmp_path, monkeypatch, export, settings, model=uint8)
    assert result.exit_code == 1
    [said] = result.output.splitlines()
    assert line in said and "Traceback" not in result.output


def test_without_posenet_the_build_says_where_to_get_it_in_one_line(tmp_path, monkeypatch, export):
    empty = tmp_path / "no-posenet"
    empty.mkdir()
    monkeypatch.setenv(FOLDER_VARIABLE, str(empty))
    # Another model name: a cached preparation would not need PoseNet at all.
    result = _build(tmp_path, monkeypatch, export, model="  name: missing\n")
    assert result.exit_code == 1
    [said] = result.output.splitlines()
    assert f"{FOLDER_VARIABLE} {empty} has neither posenet.json and posenet.bin" in said


@pytest.mark.parametrize("quantize", ["float16", "int8"])
def test_quantised_pose_weights_are_smaller_and_stay_close(
    tmp_path, monkeypatch, export, posenet, quantize
):
    result = _build(tmp_path, monkeypatch, export, model=f"  quantize: {quantize}\n")
    assert result.exit_code == 0, result.output
    site = tmp_path / "dist"
    config = page_config((site / "index.html").read_text(encoding="utf-8"))
    full = len(posenet.weights) + sum(v.nbytes for v in pose_head_weights(3, 1).values())
    assert config["model"]["weightBytes"] < full * (0.55 if quantize == "float16" else 0.3)
    weights = _model_weights(site, config)
    for name, values in pose_head_weights(len(LABELS), seed=1).items():
        step = np.abs(values).max() / (127 if quantize == "int8" else 1000)
        assert np.abs(weights[name] - values).max() <= step
    manifest = json.loads((site / "tmbuild-manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"]["quantize"] == quantize
    if quantize == "int8":  # per output channel, PoseNet's kernels as the head's
        kinds = {e["name"]: e.get("quantization", {}).get("dtype") for e in config["model"][
            "plan"]["weights"]}  # fmt: skip
        assert kinds["dense_Dense1/kernel"] == "int8" and kinds["dense_Dense1/bias"] is None
        # MobileNet's first convolution and 13 pointwise ones, the 4 heads, the 2 dense layers;
        # the 13 depthwise kernels stay float32 (int8 broke the example model's answers).
        assert sum(kind == "int8" for kind in kinds.values()) == 1 + 13 + 4 + 2
        depthwise = [
            s["kernel"] for s in config["model"]["plan"]["steps"] if s["op"] == "depthwise"
        ]
        assert len(depthwise) == 13 and not any(kinds[name] for name in depthwise)


def test_two_pose_builds_are_byte_identical(tmp_path, monkeypatch, export, posenet):
    first = _build(tmp_path, monkeypatch, export, output="one")
    second = _build(tmp_path, monkeypatch, export, output="two")
    assert first.exit_code == second.exit_code == 0
    assert file_tree(tmp_path / "one") == file_tree(tmp_path / "two")


def test_check_and_diff_name_a_pose_model(tmp_path, monkeypatch, export, posenet):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check", "--model", str(export)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        f"OK: {export}: pose model, PoseNet MobileNetV1 0.75 bundled, 257×257 frames, 3 labels "
        "(Standing, Arms up, Sitting)"
    )
    assert _build(tmp_path, monkeypatch, export, output="old").exit_code == 0
    assert _build(tmp_path, monkeypatch, export, "", "new", "  quantize: int8\n").exit_code == 0
    diff = CliRunner().invoke(cli, ["diff", "old", "new", "--exit-zero"])
    assert diff.exit_code == 0, diff.output
    assert re.search(r"quantisation\s+none → int8", diff.output)


def test_a_retrained_model_reuses_posenets_shards(tmp_path, monkeypatch, export, posenet):
    retrained = write_pose_export(tmp_path / "retrained", LABELS, seed=2)
    assert _build(tmp_path, monkeypatch, export, output="one").exit_code == 0
    assert _build(tmp_path, monkeypatch, retrained, output="two").exit_code == 0
    shards = []
    for output in ("one", "two"):
        config = page_config((tmp_path / output / "index.html").read_text(encoding="utf-8"))
        shards.append(config["model"]["shards"])
    # PoseNet's shards first, in a folder of their own and unchanged; the head's are new.
    posenet_shards = [url for url in shards[0] if url.startswith("/models/posenet/")]
    assert posenet_shards and shards[1][: len(posenet_shards)] == posenet_shards
    assert set(shards[0]) - set(posenet_shards) != set(shards[1]) - set(posenet_shards)
    assert all((tmp_path / "two" / url.lstrip("/")).is_file() for url in shards[1])
