"""The wheel carries the built-in templates (they live at the repository root)."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from conftest import ROOT


def test_wheel_ships_the_templates(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("tmbuild-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    built_in = {
        "tmbuild/templates/" + path.relative_to(ROOT / "templates").as_posix()
        for path in (ROOT / "templates").rglob("*")
        if path.is_file()
    }
    assert built_in and built_in <= names
    assert "tmbuild/cli.py" in names
    assert not any(name.startswith(("tests/", "examples/")) for name in names)
