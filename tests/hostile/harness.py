"""What every hostile case is checked against, whatever the bad input is.

A failed build must: exit 1; print exactly one line, `Error: <the file>: <what is wrong and what
to do>`; show no traceback; write nothing anywhere (no file outside the output folder, no
staging folder left behind); and leave the previous dist/ byte for byte as it was. A case may
instead expect a warning and a successful build (NaN weights): then everything but dist/ must
be untouched and dist/ must hold the new site whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

from tmbuild.cli import cli

HANG_SECONDS = 30  # a case that takes longer than this has hung: the slowest takes ~0.3 s
MAX_LINE = 400  # one clear line: untrusted names and values must be cut short in messages
HASH_LIMIT = 8 * 1024 * 1024  # bigger inputs (the 50 MB model.json) are compared by size/mtime
PROJECT = "project"  # the working directory, inside the watched folder; dist/ is built in it


@dataclass(frozen=True)
class Case:
    """A bad input, and the start of the one line it must be refused with."""

    id: str
    make: Callable[[Path], list[str]]  # writes the input under the project; returns build args
    names: str  # what the line starts with after "Error: ": the file (and line:col)
    says: str  # a regex the rest of the line must match: what is wrong and what to do
    warns: bool = False  # a warning and a successful build instead of an error


def registrar(cases: list[Case], group: str):
    """A decorator that adds the decorated maker function to `cases` as a Case."""

    def case(id: str, names: str, says: str, warns: bool = False):
        def register(make: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
            cases.append(Case(f"{group}-{id}", make, names, says, warns))
            return make

        return register

    return case


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry below root: type, mode and content hash; symlinks are not followed."""
    entries: dict[str, tuple] = {}
    for folder, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            key = os.path.relpath(path, root)
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISLNK(info.st_mode):
                entries[key] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entries[key] = ("dir", mode)
            elif stat.S_ISREG(info.st_mode) and info.st_size <= HASH_LIMIT:
                entries[key] = ("file", mode, _sha256(path))
            elif stat.S_ISREG(info.st_mode):
                entries[key] = ("big file", mode, info.st_size, info.st_mtime_ns)
            else:  # a FIFO: never opened, or the snapshot itself would hang
                entries[key] = ("special", stat.S_IFMT(info.st_mode))
    return entries


def _sha256(path: str) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def stray_folders(*folders: Path) -> list[str]:
    """Staging or old-site folders a build left next to these folders' contents."""
    return [
        str(folder / name)
        for folder in folders
        if folder.is_dir()
        for name in os.listdir(folder)
        if name.startswith(".tmbuild-")
    ]


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail a case that hangs instead of hanging the whole test run."""

    def hung(signum, frame):
        raise TimeoutError(f"the build did not finish in {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(args: list[str]) -> Result:
    with deadline(HANG_SECONDS):
        return CliRunner().invoke(cli, args, catch_exceptions=True)


def check_case(case: Case, project: Path, watched: Path, neighbours: list[Path]) -> None:
    """Run `tmbuild build` on the case's input in `project` and check all five promises.

    `watched` is the folder that must come out unchanged apart from dist/ (it holds the
    project, its dist/ and anything outside the project a case points at).
    """
    args = case.make(project)
    before, strays = snapshot(watched), stray_folders(*neighbours)
    result = run_cli(["build", *args])

    # 1. No traceback: the only exception is the SystemExit of a clean exit.
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{case.id}: {type(result.exception).__name__}: {result.exception}\n{result.output}"
    )
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    after = snapshot(watched)
    assert stray_folders(*neighbours) == strays

    if case.warns:
        # 2. A warning, and the build succeeds.
        assert result.exit_code == 0, result.output
        assert len(lines) == 1 and lines[0].startswith("warning: " + case.names), lines
        assert re.search(case.says, lines[0][len("warning: " + case.names) :]), lines[0]
        assert result.stdout.startswith("Built dist/ in "), result.stdout
        # 3. Nothing outside dist/ was touched; dist/ holds the new site, whole.
        outside = {k: v for k, v in before.items() if not _in_dist(k)}
        assert {k: v for k, v in after.items() if not _in_dist(k)} == outside
        assert (project / "dist" / "index.html").is_file()
        assert (project / "dist" / "tmbuild-manifest.json").is_file()
        return

    # 2. Exit 1 and exactly one line, naming the file, saying what is wrong and what to do.
    assert result.exit_code == 1, f"{case.id}: exit {result.exit_code}\n{result.output}"
    assert result.stdout == ""
    assert len(lines) == 1, f"{case.id}: {len(lines)} lines:\n{result.stderr}"
    [line] = lines
    assert line.startswith("Error: " + case.names), f"{case.id}: {line}"
    assert re.search(case.says, line[len("Error: " + case.names) :]), f"{case.id}: {line}"
    assert len(line) <= MAX_LINE and line.isprintable(), f"{case.id}: {line!r}"
    # 3-5. Nothing was written anywhere watched: dist/ is byte-identical, no staging is left.
    assert after == before, _difference(before, after)


def _in_dist(key: str) -> bool:
    return key == f"{PROJECT}/dist" or key.startswith(f"{PROJECT}/dist/")


def _difference(before: dict, after: dict) -> str:
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return "changed: " + ", ".join(changed[:10])
