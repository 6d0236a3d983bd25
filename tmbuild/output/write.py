"""Writing the built site: into a temporary folder, then swapped in whole.

A build that fails or is interrupted leaves the previous output exactly as it was, and two
builds racing for one folder each swap in a complete site rather than mixing their files. The
folder is replaced only if tmbuild.output.safety says a build may: it is judged before anything
is written and again just before the swap.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path, PurePosixPath

from tmbuild.errors import TmbuildError
from tmbuild.output.safety import OutputGuard

STAGING_PREFIX = ".tmbuild-staging-"
OLD_PREFIX = ".tmbuild-old-"
RACE_ATTEMPTS = 5


def write_site(files: dict[str, bytes], output: Path, guard: OutputGuard | None = None) -> None:
    """Replace `output` (a symlink: the folder it points to) with exactly these files."""
    guard = guard or OutputGuard()
    output = guard.check(output)
    parent = output.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX + output.name + "-", dir=parent))
    except OSError as error:
        raise TmbuildError(f"{output}: cannot create the output folder: {error.strerror}") from None
    try:
        for path in sorted(files):
            target = staging.joinpath(*_safe_parts(path))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[path])
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a site is meant to be served
        _swap(staging, output, guard)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, OSError):
            raise TmbuildError(f"{output}: cannot write the site: {error}") from None
        raise


def _safe_parts(path: str) -> tuple[str, ...]:
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"refusing to write outside the site: {path!r}")  # a bug, not user error
    return parts


def _swap(staging: Path, output: Path, guard: OutputGuard) -> None:
    old = Path(tempfile.mkdtemp(prefix=OLD_PREFIX + output.name + "-", dir=output.parent))
    try:
        # Two renames: the output is missing only for the instant between them, never
        # half-written. A build racing us may swap its own site in between; then try again,
        # so the last build to finish wins whole and the two never mix.
        for attempt in range(RACE_ATTEMPTS):
            _judge(output, guard)  # the last look before the old folder is moved away
            moved: Path | None = old / f"{output.name}-{attempt}"
            try:
                try:
                    os.rename(output, moved)
                except FileNotFoundError:
                    moved = None
                os.rename(staging, output)
                return
            except OSError:
                if output.exists():
                    continue  # another build swapped its site in first: go round again
                _put_back(moved, output)
                raise
            except BaseException:
                # Ctrl-C or SIGTERM between the two renames: the previous site goes back
                # before `old` is deleted.
                _put_back(moved, output)
                raise
        raise TmbuildError(f"{output}: another build keeps replacing it; run the build again")
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _judge(output: Path, guard: OutputGuard) -> None:
    # One lstat, not exists() then is_dir(): a racing build may rename the folder in between.
    try:
        is_folder = stat.S_ISDIR(os.lstat(output).st_mode)  # a symlink is not a folder here
    except FileNotFoundError:
        return
    if not is_folder:
        raise TmbuildError(f"{output}: exists and is not a folder; choose another output")
    guard.check(output)


def _put_back(moved: Path | None, output: Path) -> None:
    """Return the previous site to its place, unless a site is already there."""
    if moved is not None and os.path.lexists(moved) and not os.path.lexists(output):
        os.rename(moved, output)
