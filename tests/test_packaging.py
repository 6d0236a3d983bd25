"""The wheel: every package file, the pinned TensorFlow.js files, and a build from a fresh venv.

`pip install tmbuild` must be enough: no Node.js, no network, no download for a CDN build. The
wheel is built once here, installed into a new virtual environment, and run with an empty cache,
a PATH that holds nothing but that environment, and (where `unshare` can) no network at all.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import EXAMPLE_EXPORT, ROOT

from tmbuild.page import tfjs


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [built] = folder.glob("tmbuild-*.whl")
    return built


def test_wheel_ships_every_package_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(
        ["git", "ls-files", "tmbuild"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    assert "tmbuild/page/templates/index.html" in tracked
    assert "tmbuild/model/wasm/kernels.wasm" in tracked
    assert set(tracked) <= names
    assert not any(name.startswith(("tests/", "examples/", "docs/", "bench/")) for name in names)


def test_wheel_carries_the_pinned_tensorflow_files(wheel):
    archive = zipfile.ZipFile(wheel)
    folder = f"tmbuild/page/tfjs_files/{tfjs.TFJS_VERSION}/"
    carried = {n[len(folder) :] for n in archive.namelist() if n.startswith(folder)}
    pins = tfjs.runtime_files(tfjs.TFJS_VERSION, "auto", local=False)
    assert carried == {pin.name for pin in pins}
    for pin in pins:
        data = archive.read(folder + pin.name)
        assert hashlib.sha256(data).hexdigest() == pin.sha256, pin.name


@pytest.fixture(scope="module")
def fresh_venv(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # Dependencies come from the package index (or pip's own cache); tmbuild from the wheel.
    subprocess.run(
        [venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
        capture_output=True,
    )
    return venv


def _offline() -> list[str]:
    """A command prefix that takes the network away, or [] where this machine cannot."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--net", "true"], capture_output=True).returncode == 0:
        return [unshare, "--net"]
    return []


def _build(venv: Path, project: Path, source: str) -> subprocess.CompletedProcess:
    shutil.copytree(EXAMPLE_EXPORT, project / "model")
    (project / "site.yaml").write_text(f"model:\n  path: model\nruntime:\n  source: {source}\n")
    home = project / "home"
    home.mkdir()
    # No node or npm on PATH, an empty cache, a home with nothing in it: a new user's machine.
    env = {"PATH": str(venv / "bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    env["TMBUILD_CACHE_DIR"] = str(project / "cache")
    assert shutil.which("npm", path=env["PATH"]) is None
    command = [*_offline(), str(venv / "bin" / "tmbuild"), "build", "-q"]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)


@pytest.mark.parametrize("source", ["bundled", "cdn"])
def test_a_fresh_venv_builds_without_node_or_network(fresh_venv, tmp_path, source):
    result = _build(fresh_venv, tmp_path, source)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
    shipped = sorted(p.name for p in (tmp_path / "dist" / "assets" / "tfjs").glob("*"))
    page = (tmp_path / "dist" / "index.html").read_text()
    if source == "cdn":
        assert shipped == [] and "cdn.jsdelivr.net/npm/@tensorflow/tfjs-core@" in page
    else:
        assert any(name.startswith("tf-core.") for name in shipped)
    # Nothing was fetched or cached for the runtime: the wheel had it, or the CDN serves it.
    assert not (tmp_path / "cache" / "tfjs").exists()
