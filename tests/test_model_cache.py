"""The prepared model kept in the user cache: the same site, its warnings again, and no numpy."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import file_tree, write_export

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.model.cache import default_model_cache_dir
from tmbuild.page.tfjs import TFJS_VERSION, cache_dir


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    # A cache of its own for each test, with the TensorFlow.js files from the usual one.
    runtime = os.environ.get("TMBUILD_TFJS_DIR") or str(cache_dir(TFJS_VERSION))
    monkeypatch.setenv("TMBUILD_TFJS_DIR", runtime)
    monkeypatch.setenv("TMBUILD_CACHE_DIR", str(tmp_path / "cache"))


def _build(export: Path, output: Path, quantize: str = "none", name: str | None = None):
    config, _ = load_config(None, {"model_path": export, "output": output, "quantize": quantize})
    # Uncompressed: the compression cache is empty in every test, and Brotli would take seconds.
    compress = replace(config.compress, gzip=False, brotli=False)
    return build(replace(config, model=replace(config.model, name=name), compress=compress))


def _entries() -> list[Path]:
    return sorted((default_model_cache_dir() / "entries").glob("*"))


def test_a_second_build_takes_the_prepared_model_and_writes_the_same_bytes(tmp_path, caplog):
    export = write_export(tmp_path / "export")
    _build(export, tmp_path / "a", quantize="float16")
    assert len(_entries()) == 1
    caplog.set_level(logging.INFO, logger="tmbuild")
    _build(export, tmp_path / "b", quantize="float16")
    assert any("prepared by an earlier build" in r.getMessage() for r in caplog.records)
    assert file_tree(tmp_path / "a") == file_tree(tmp_path / "b")
    assert len(_entries()) == 1


def test_whatever_the_preparation_reads_makes_a_new_entry(tmp_path):
    export = write_export(tmp_path / "export")
    _build(export, tmp_path / "a")
    _build(export, tmp_path / "b", quantize="uint8")
    _build(export, tmp_path / "c", name="another-slug")
    weights = export / "weights.bin"
    data = bytearray(weights.read_bytes())
    data[0] ^= 1
    weights.write_bytes(bytes(data))
    _build(export, tmp_path / "d")
    assert len(_entries()) == 4
    assert file_tree(tmp_path / "a") != file_tree(tmp_path / "d")


def test_its_warnings_are_said_again_on_every_build(tmp_path, caplog):
    export = write_export(tmp_path / "export")
    # An activation tmbuild's runner lacks: the preparation warns that the page needs tf-layers.
    model = json.loads((export / "model.json").read_text())
    model["modelTopology"]["config"]["layers"][1]["config"]["layers"][0]["config"]["activation"] = (
        "selu"
    )
    (export / "model.json").write_text(json.dumps(model))
    for output in ("a", "b"):
        caplog.clear()
        _build(export, tmp_path / output)
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "will load tf-layers" in warnings[0]
    assert len(_entries()) == 1


def test_a_build_that_silences_warnings_leaves_no_entry(tmp_path):
    # A later build would take the entry and never say the warnings nobody recorded.
    logger = logging.getLogger("tmbuild")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        _build(write_export(tmp_path / "export"), tmp_path / "a")
    finally:
        logger.setLevel(level)
    assert _entries() == []


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_entry_is_prepared_again(tmp_path, damage):
    export = write_export(tmp_path / "export")
    _build(export, tmp_path / "a")
    [entry] = _entries()
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\xff" * 64)
    _build(export, tmp_path / "b")
    assert file_tree(tmp_path / "a") == file_tree(tmp_path / "b")
    assert entry.read_bytes() == data


def test_a_build_from_the_cache_does_not_import_numpy(tmp_path):
    # numpy costs ~50 ms to import: a quarter of a template-only rebuild.
    export = write_export(tmp_path / "export")
    _build(export, tmp_path / "a")
    script = (
        "import sys\n"
        "from dataclasses import replace\n"
        "from tmbuild.build import build\n"
        "from tmbuild.config.load import load_config\n"
        f"config, _ = load_config(None, {{'model_path': {str(export)!r},"
        f" 'output': {str(tmp_path / 'b')!r}}})\n"
        "build(replace(config, compress=replace(config.compress, gzip=False, brotli=False)))\n"
        "print('numpy' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert file_tree(tmp_path / "a") == file_tree(tmp_path / "b")
