"""`tmbuild build`: the output contract, determinism, atomicity, quantisation and caching."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, file_tree, real_export, write_export

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.errors import TmbuildError
from tmbuild.export.read import read_export
from tmbuild.model.weights import decode_weights

HASHED_SHARD = re.compile(r"^models/shapes/v1-[0-9a-f]{8}/group1-shard1of1\.[0-9a-f]{12}\.bin$")


def _config(tmp_path: Path, **overrides):
    overrides.setdefault("output", tmp_path / "dist")
    config, _ = load_config(ROOT / "site.yaml", overrides)
    return config


def test_output_layout(example_site):
    files = file_tree(example_site)
    paths = set(files)
    assert "index.html" in paths and "_headers" in paths and "tmbuild-manifest.json" in paths
    assert any(re.fullmatch(r"assets/engine\.[0-9a-f]{12}\.js", p) for p in paths)
    assert any(re.fullmatch(r"assets/style\.[0-9a-f]{12}\.css", p) for p in paths)
    assert any(re.fullmatch(r"assets/tfjs/tf-core\.min\.[0-9a-f]{12}\.js", p) for p in paths)
    assert any(re.fullmatch(r"assets/tfjs/.*\.[0-9a-f]{12}\.wasm", p) for p in paths)
    shards = [p for p in paths if HASHED_SHARD.match(p)]
    assert len(shards) == 1
    directory = shards[0].rsplit("/", 1)[0]
    assert {f"{directory}/model.json", f"{directory}/metadata.json"} <= paths
    # Siblings: weights and text assets get .gz and .br, images do not.
    for path in [shards[0], f"{directory}/model.json", "index.html"]:
        assert path + ".gz" in paths and path + ".br" in paths, path
    assert not any(p.endswith(".png.gz") for p in paths)
    assert not any(".staging" in p or p.startswith(".tmbuild") for p in paths)


def test_model_json_points_at_the_hashed_shards(example_site):
    [model_json] = example_site.glob("models/shapes/*/model.json")
    model = json.loads(model_json.read_text())
    [group] = model["weightsManifest"]
    for name in group["paths"]:
        data = (model_json.parent / name).read_bytes()
        assert hashlib.sha256(data).hexdigest()[:12] in name
    assert model["format"] == "layers-model"
    # The batch norms are folded into the convolutions (tmbuild.model.fold): 13 fewer layers.
    topology = json.dumps(model["modelTopology"])
    assert '"BatchNormalization"' not in topology and '"Conv2D"' in topology


def test_with_tf_layers_the_model_is_untouched(tmp_path):
    config = _config(tmp_path)
    result = build(replace(config, runtime=replace(config.runtime, model_runner="tf-layers")))
    model = json.loads(result.files[result.model.model_json_path])
    original = read_export(ROOT / "examples" / "shapes")
    assert model["modelTopology"] == original.model_json["modelTopology"]
    shard = b"".join(result.files[path] for path in result.model.shards)
    # Unquantised weights are the original bytes, re-sharded but untouched.
    assert shard == original.weight_groups[0][1]


def test_manifest_lists_every_file_with_hashes(example_site):
    manifest = json.loads((example_site / "tmbuild-manifest.json").read_text())
    files = file_tree(example_site)
    listed = {entry["path"]: entry for entry in manifest["files"]}
    originals = {p for p in files if not p.endswith((".gz", ".br"))} - {"tmbuild-manifest.json"}
    assert set(listed) == originals
    for path, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(files[path]).hexdigest()
        assert entry["bytes"] == len(files[path])
        if path + ".br" in files:
            assert entry["brotli_bytes"] == len(files[path + ".br"])
    assert manifest["model"]["labels"] == ["circle", "square", "triangle", "star", "background"]


def test_headers_policy(example_site):
    headers = (example_site / "_headers").read_text()
    assert "/assets/*\n  Cache-Control: public, max-age=31536000, immutable" in headers
    assert "/models/*\n  Cache-Control: public, max-age=31536000, immutable" in headers
    assert "/\n  Cache-Control: no-cache" in headers
    assert "/index.html\n  Cache-Control: no-cache" in headers
    assert "/tmbuild-manifest.json\n  Cache-Control: no-cache" in headers
    assert "X-Content-Type-Options: nosniff" in headers
    assert "Permissions-Policy: camera=(self)" in headers
    # The page's one inline script (tmbuild.page.assemble.INLINE_SCRIPTS) is allowed by its
    # hash alone.
    assert re.search(
        r"script-src 'self' 'wasm-unsafe-eval' blob: 'sha256-[A-Za-z0-9+/]{43}=';", headers
    )
    wasm = next(example_site.glob("assets/tfjs/*.wasm")).relative_to(example_site).as_posix()
    assert f"/{wasm}\n  Content-Type: application/wasm" in headers
    blocks = [b for b in headers.split("\n/") if b.strip()]
    assert len(blocks) <= 100 and max(map(len, headers.splitlines())) <= 2000


def test_page_gets_labels_as_json_not_code(tmp_path):
    labels = ["</script><script>alert(1)</script>", "{{ 7*7 }}", "ok"]
    export = write_export(tmp_path / "e", labels=labels)
    config, _ = load_config(None, {"model_path": export, "output": tmp_path / "out"})
    build(config)
    page = (tmp_path / "out" / "index.html").read_text()
    assert "<script>alert(1)" not in page
    assert "{{ 7*7 }}" in page or "{{ 7*7 }}" in json.dumps(labels)
    match = re.search(r'<script type="application/json" id="tmbuild-config">(.*?)</script>', page)
    assert json.loads(match.group(1))["model"]["labels"] == labels


def test_builds_are_deterministic_from_any_directory(tmp_path, monkeypatch):
    first, second = tmp_path / "one", tmp_path / "two"
    build(_config(tmp_path, output=first))
    monkeypatch.chdir(tmp_path)
    build(_config(tmp_path, output=second))
    assert file_tree(first) == file_tree(second)
    # No absolute paths leak into the output.
    for data in file_tree(first).values():
        assert str(ROOT).encode() not in data and str(tmp_path).encode() not in data


def test_failed_build_leaves_previous_output_untouched(tmp_path):
    output = tmp_path / "dist"
    build(_config(tmp_path, output=output))
    before = file_tree(output)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "index.html").write_text(
        "{% extends 'base.html' %}{% block main %}{{ nope }}{% endblock %}"
    )
    config, _ = load_config(
        None,
        {"model_path": ROOT / "examples" / "shapes", "output": output},
    )
    config = replace(config, templates=templates)
    with pytest.raises(TmbuildError, match="'nope' is undefined"):
        build(config)
    assert file_tree(output) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmbuild")] == []


def test_check_mode_writes_nothing(tmp_path):
    config = _config(tmp_path)
    build(config, write=False)
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize(("quantize", "bound"), [("float16", 2**-11), ("uint8", None)])
def test_quantised_weights_within_bounds(tmp_path, quantize, bound):
    source = real_export("mask2-ko-twoexports")
    config, _ = load_config(
        None, {"model_path": source, "output": tmp_path / "q", "quantize": quantize}
    )
    # The weights as exported (no batch norm folded), to compare each with its original.
    result = build(replace(config, runtime=replace(config.runtime, model_runner="tf-layers")))
    [model_json] = (tmp_path / "q").glob("models/*/*/model.json")
    model = json.loads(model_json.read_text())
    [group] = model["weightsManifest"]
    data = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
    original = {w.name: w.array for w in decode_weights(*read_export(source).weight_groups[0])}
    for weight in decode_weights(group["weights"], data):
        entry = next(e for e in group["weights"] if e["name"] == weight.name)
        assert entry["quantization"]["dtype"] == quantize
        reference = original[weight.name].astype(np.float64)
        error = np.abs(weight.array.astype(np.float64) - reference)
        if bound:
            assert np.all(error <= np.maximum(np.abs(reference) * bound, 2**-24))
        else:
            assert np.all(error <= entry["quantization"]["scale"] / 2 + 1e-6)
    # Every weight of a Teachable Machine export is float32: 4 bytes become 2 or 1.
    shard_bytes = sum(len(result.files[path]) for path in result.model.shards)
    assert shard_bytes == 2_154_032 // (2 if quantize == "float16" else 4)


def test_rebuild_reuses_compressed_files(tmp_path):
    build(_config(tmp_path, output=tmp_path / "a"))
    second = build(_config(tmp_path, output=tmp_path / "b"))
    assert second.cache_misses == 0 and second.cache_hits > 0


def test_shard_size_splits_weights(tmp_path):
    config = _config(tmp_path)
    config = replace(config, model=replace(config.model, shard_size=128 * 1024))
    build(config)
    shards = sorted((tmp_path / "dist").glob("models/shapes/*/group1-shard*of4.*.bin"))
    assert len(shards) == 4
    assert os.path.getsize(shards[0]) == 128 * 1024


def test_cdn_runtime_uses_pinned_urls_with_integrity(tmp_path):
    config = _config(tmp_path)
    config = replace(config, runtime=replace(config.runtime, source="cdn"))
    build(config)
    site = tmp_path / "dist"
    assert not (site / "assets" / "tfjs").exists()
    page = (site / "index.html").read_text()
    client = json.loads(re.search(r'id="tmbuild-config">(.*?)</script>', page).group(1))
    core = next(s for s in client["runtime"]["scripts"] if s["role"] == "core")
    assert core["url"].startswith("https://cdn.jsdelivr.net/npm/@tensorflow/tfjs-core@4.22.0/")
    assert core["integrity"].startswith("sha384-")
    assert (
        "script-src 'self' 'wasm-unsafe-eval' blob: https://cdn.jsdelivr.net"
        in (site / "_headers").read_text()
    )


def test_racing_builds_never_mix_their_files(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    output = tmp_path / "dist"
    float32 = _config(tmp_path, output=output)
    float16 = replace(float32, model=replace(float32.model, quantize="float16"))
    build(float32)
    reference = {"none": file_tree(output)}
    build(float16)
    reference["float16"] = file_tree(output)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(build, [float32, float16] * 4))
    assert file_tree(output) in reference.values()
    assert [p.name for p in tmp_path.iterdir()] == ["dist"]
