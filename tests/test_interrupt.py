"""Interrupted or crashing builds leave the previous dist/ exactly as it was, and no litter.

The signals are real, sent to a real `python -m tmbuild build` at a moment chosen by watching
the file system: while it compresses (an empty compression cache makes Brotli quality 11 take
seconds), and while it writes the staging folder (writes slowed down in that process only).
Racing builds into one folder are tested in test_build.py.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import default_sigint, file_tree, write_export

from tmbuild.cache import cache_root
from tmbuild.cli import cli
from tmbuild.output import write as output_module
from tmbuild.output.write import STAGING_PREFIX, write_site
from tmbuild.page.tfjs import TFJS_VERSION, cache_dir

# Runs tmbuild with every file write into the site sleeping a little, so that the staging
# folder exists long enough to be caught.
SLOW_WRITES = """
import sys, time
from pathlib import Path
write_bytes = Path.write_bytes
def slow_write_bytes(self, data):
    time.sleep(0.05)
    return write_bytes(self, data)
Path.write_bytes = slow_write_bytes
from tmbuild.cli import main
sys.argv[0] = "tmbuild"
main()
"""


def _litter(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith(".tmbuild-"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A project with a good dist/ and a different export `new/` to build over it."""
    project = tmp_path / "project"
    write_export(project / "old")
    write_export(project / "new", labels=["cat", "dog", "bird"])
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["build", "-q", "--model", "old", "-o", "dist"])
    assert result.exit_code == 0, result.output
    return project


def _runtime_dir() -> Path:
    folder = Path(os.environ.get("TMBUILD_TFJS_DIR") or cache_dir(TFJS_VERSION))
    if not folder.is_dir():
        pytest.skip(f"no TensorFlow.js files in {folder}; run `tmbuild fetch-runtime`")
    return folder


def _start(project: Path, cache: Path, *python_args: str) -> subprocess.Popen:
    env = dict(os.environ, TMBUILD_CACHE_DIR=str(cache), TMBUILD_TFJS_DIR=str(_runtime_dir()))
    return subprocess.Popen(
        [sys.executable, *python_args, "build", "--model", "new", "-o", "dist"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )


def _wait_for(condition, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the build ended before {what}: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {what} after 60 s")
        time.sleep(0.005)


def _check_interrupted(process: subprocess.Popen, sent: signal.Signals, project: Path, before):
    stdout, stderr = process.communicate(timeout=120)
    expected = {signal.SIGINT: (130, "Interrupted"), signal.SIGTERM: (143, "Terminated")}
    code, word = expected[sent]
    assert (process.returncode, stdout) == (code, ""), stderr
    assert stderr.splitlines() == [f"{word}: the previous output was left as it was."]
    assert file_tree(project / "dist") == before
    assert _litter(project) == []


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_compressing(project: Path, tmp_path: Path, sent):
    before = file_tree(project / "dist")
    cache = tmp_path / "empty-cache"
    process = _start(project, cache, "-m", "tmbuild")
    # The first compressed file in the cache: compression has begun and has seconds to go.
    compressed = cache / "compressed"
    _wait_for(lambda: any(compressed.glob("*/*")), process, "compressed file in the cache")
    process.send_signal(sent)
    _check_interrupted(process, sent, project, before)
    # The cache holds only whole entries: each is written to a temporary file, then renamed.
    assert not [path for path in compressed.glob("*/*") if path.name.startswith("tmp")]


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_writing_the_staging_folder(project: Path, sent):
    before = file_tree(project / "dist")
    # The user's cache: compression is done from cache in no time, so writing starts at once.
    cache = cache_root()
    process = _start(project, cache, "-c", SLOW_WRITES)

    def staging_has_files() -> bool:
        return any(path.is_file() for path in project.glob(f"{STAGING_PREFIX}*/**/*"))

    _wait_for(staging_has_files, process, "file in the staging folder")
    process.send_signal(sent)
    _check_interrupted(process, sent, project, before)


def test_interrupt_between_the_two_renames(project: Path, monkeypatch):
    # The old site has been moved aside and the new one not yet moved in: an interrupt here
    # must put the old one back, not delete it with the temporary folder it sits in.
    before = file_tree(project / "dist")
    rename = os.rename

    def interrupted_rename(source, target):
        if Path(source).name.startswith(STAGING_PREFIX):
            raise KeyboardInterrupt
        return rename(source, target)

    monkeypatch.setattr(output_module.os, "rename", interrupted_rename)
    with pytest.raises(KeyboardInterrupt):
        write_site({"index.html": b"new"}, project / "dist")
    assert file_tree(project / "dist") == before
    assert _litter(project) == []


def test_crash_in_a_compressor(project: Path, tmp_path: Path, monkeypatch):
    import brotli

    def crash(data, **options):
        raise MemoryError("brotli ran out of memory")

    monkeypatch.setenv("TMBUILD_TFJS_DIR", str(_runtime_dir()))
    monkeypatch.setenv("TMBUILD_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(brotli, "compress", crash)
    before = file_tree(project / "dist")
    result = CliRunner().invoke(cli, ["build", "--model", "new", "-o", "dist"])
    # A crash is a bug, so it may end in a traceback; the previous site must survive it.
    assert isinstance(result.exception, MemoryError)
    assert file_tree(project / "dist") == before
    assert _litter(project) == []


def test_disk_full_while_writing(project: Path, monkeypatch):
    before = file_tree(project / "dist")
    write_bytes, written = Path.write_bytes, []

    def fill_up(self, data):
        if len(written) == 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        written.append(self)
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", fill_up)
    result = CliRunner().invoke(cli, ["build", "--model", "new", "-o", "dist"])
    assert result.exit_code == 1, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and "No space left on device" in line
    assert file_tree(project / "dist") == before
    assert _litter(project) == []
