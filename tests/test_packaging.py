"""The wheel carries every file of the package: templates, the kernels' binary, the eval report."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from conftest import ROOT


def test_wheel_ships_every_package_file(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("tmbuild-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(
        ["git", "ls-files", "tmbuild"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    assert "tmbuild/page/templates/index.html" in tracked
    assert "tmbuild/model/wasm/kernels.wasm" in tracked
    assert set(tracked) <= names
    assert not any(name.startswith(("tests/", "examples/", "docs/", "bench/")) for name in names)
