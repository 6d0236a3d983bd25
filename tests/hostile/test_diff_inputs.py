"""`tmbuild diff` on inputs no build wrote: one line and exit status 2, never a traceback."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from click.testing import CliRunner

from tmbuild.cli import cli


def _diff(*args: str):
    result = CliRunner().invoke(cli, ["diff", *args])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    return line


def test_a_manifest_nested_100000_deep_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert _diff("deep.json", "deep.json") == (
        "Error: deep.json: nested too deeply, not a tmbuild manifest"
    )


def test_a_fifo_named_like_a_manifest_is_refused_without_blocking(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkfifo("tmbuild-manifest.json")
    lines: list[str] = []
    # Opening a FIFO for reading blocks until a writer comes: run it where a hang can be seen.
    worker = threading.Thread(target=lambda: lines.append(_diff("tmbuild-manifest.json", ".")))
    worker.start()
    worker.join(10)
    if worker.is_alive():  # unblock the reader so that the test run can end
        os.close(os.open("tmbuild-manifest.json", os.O_WRONLY | os.O_NONBLOCK))
        worker.join(5)
    assert lines == [
        "Error: tmbuild-manifest.json: not a regular file; give a built folder or its manifest"
    ]
