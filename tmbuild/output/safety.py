"""Which folder a build may replace: a missing or empty one, or an earlier build's.

A build replaces its output folder whole, so before it does, the folder is judged:
- never, not even with --force: `/`, a home folder, a system folder (/usr, /etc ...), a
  folder that is or contains the project or the working folder, or one that is, contains or
  lies inside an input (tmbuild.config.checks.output_danger, also applied when site.yaml is
  read);
- freely: a missing folder, an empty one (the .DS_Store and Thumbs.db that file browsers leave
  do not count), a folder build's output (it holds tmbuild's `tmbuild-manifest.json`), or a
  single-file build's (its only file is an .html page carrying tmbuild's embedded model);
- anything else only with --force.
A symlink is judged by the folder it points to. The folder is judged before the build and
again when the site is written, just before the swap: it may change while the site is built.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tmbuild.config.checks import NEVER_REPLACED, output_danger
from tmbuild.config.load import SiteConfig
from tmbuild.errors import TmbuildError
from tmbuild.output.manifest import MANIFEST_NAME

# What file browsers write into any folder they show; losing it loses nothing.
LITTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
# The block tmbuild.page.single_file puts in every single-file page: no hand-made page has it.
SINGLE_FILE_MARK = b'<script type="application/json" id="tmbuild-model">'
MAX_MANIFEST = 64 * 1024**2  # a manifest lists a site's files: a few KB, not this
MAX_PAGE = 1024**3  # a single-file page holds the runtime and the model: MBs, not this
CHUNK = 1024**2
TAKE_OVER = "or take this one over with tmbuild build --force"


@dataclass(frozen=True)
class OutputGuard:
    """What a build may replace; `check` refuses anything else with one line saying why."""

    config: SiteConfig | None = None  # its project and input folders are never replaced
    force: bool = False  # take over a folder that holds something other than an earlier build

    def check(self, output: Path) -> Path:
        """Return `output` resolved, or raise TmbuildError if a build may not replace it."""
        try:
            resolved = output.resolve()
        except (OSError, RuntimeError) as error:  # a symlink loop, a name too long
            raise TmbuildError(f"{output}: cannot use it as the output folder: {error}") from None
        danger = self._danger(resolved)
        if danger:
            raise TmbuildError(f"{resolved} {danger}; {NEVER_REPLACED}")
        if self.force:
            return resolved
        try:
            why = _not_an_earlier_build(resolved)
        except (FileNotFoundError, NotADirectoryError):
            return resolved  # missing (a file in its place is refused when it is swapped)
        except OSError as error:
            raise TmbuildError(
                f"{_shown(resolved)}: cannot tell whether it holds an earlier build "
                f"({error.strerror}); choose a new or empty folder, {TAKE_OVER}"
            ) from None
        if why:
            raise TmbuildError(
                f"{_shown(resolved)}: not empty, and not the output of an earlier build ({why}); "
                "a build replaces the whole output folder, so this would delete what is in it "
                f"— choose a new or empty folder, {TAKE_OVER}"
            )
        return resolved

    def _danger(self, output: Path) -> str | None:
        config = self.config
        if config is None:
            return output_danger(output, None, False)
        return output_danger(
            output,
            config.root,
            config.config_path is not None,
            model=config.model.path,
            templates=config.templates,
            samples=config.samples,
            runtime_dir=config.runtime.dir,
        )


def _not_an_earlier_build(folder: Path) -> str | None:
    """Say why `folder` is not empty and not an earlier build's output; None if it is either."""
    # Everything is read through one descriptor of the folder: another build may swap a new
    # output in under the same name meanwhile, and a listing of one folder checked against the
    # files of the next would call a build's own output foreign.
    folder_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        with os.scandir(folder_fd) as scan:
            entries = [
                e for e in scan if not (e.name in LITTER and e.is_file(follow_symlinks=False))
            ]
        if not entries:
            return None
        if any(entry.name == MANIFEST_NAME for entry in entries):
            if _is_manifest(MANIFEST_NAME, folder_fd):
                return None
            return f"its {MANIFEST_NAME} is not one tmbuild wrote"
        [first, *others] = entries
        if (
            not others
            and first.name.endswith(".html")
            and _is_single_file_page(first.name, folder_fd)
        ):
            return None
        return f"it has no {MANIFEST_NAME}"
    finally:
        os.close(folder_fd)


def _is_manifest(name: str, folder_fd: int) -> bool:
    file = _open_regular(name, folder_fd, MAX_MANIFEST)
    if file is None:
        return False
    with file:
        try:
            manifest = json.loads(file.read())
        except (OSError, ValueError, RecursionError):
            return False
    return isinstance(manifest, dict) and "tmbuild_version" in manifest


def _is_single_file_page(name: str, folder_fd: int) -> bool:
    file = _open_regular(name, folder_fd, MAX_PAGE)
    if file is None:
        return False
    with file:
        tail = b""
        while chunk := file.read(CHUNK):
            if SINGLE_FILE_MARK in tail + chunk:
                return True
            tail = chunk[-len(SINGLE_FILE_MARK) :]
    return False


def _open_regular(name: str, folder_fd: int, limit: int) -> BinaryIO | None:
    """Open a regular file of at most `limit` bytes; never a link, and never wait on a FIFO."""
    try:
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(name, flags, dir_fd=folder_fd)
    except OSError:
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


def _shown(path: Path) -> str:
    """The folder as the user would type it: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)
