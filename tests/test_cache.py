"""The user cache: `tmbuild cache info` and `clean`, and its size limit, least recently used out."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import file_tree, write_export

from tmbuild.build import build
from tmbuild.cache import cache_root, entries, evict, size_limit
from tmbuild.cli import cli
from tmbuild.config.load import load_config
from tmbuild.output.compress import CompressionCache
from tmbuild.page.tfjs import TFJS_VERSION, cache_dir

KEY = "ab" * 32  # the shape of a sha256 hex digest, as every entry name has
OLD = 1_000_000_000  # 2001: older than anything a build writes


@pytest.fixture(name="root")
def cache_fixture(tmp_path, monkeypatch) -> Path:
    # A cache of its own, with the TensorFlow.js files a build needs from the usual one.
    runtime = os.environ.get("TMBUILD_TFJS_DIR") or str(cache_dir(TFJS_VERSION))
    monkeypatch.setenv("TMBUILD_TFJS_DIR", runtime)
    monkeypatch.setenv("TMBUILD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TMBUILD_CACHE_SIZE", raising=False)
    return tmp_path / "cache"


def _entry(root: Path, relative: str, size: int, used: int = OLD) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (used, used))
    return path


def _fill(root: Path) -> dict[str, Path]:
    """Entries of each kind, and files beside them that are not entries."""
    return {
        "gzip": _entry(root, f"compressed/ab/{KEY}.gz9", 100),
        "brotli": _entry(root, f"compressed/ab/{KEY}.br11", 50),
        "model": _entry(root, f"models/entries/{KEY}", 1500),
        "tfjs": _entry(root, f"tfjs/{TFJS_VERSION}/tf-core.min.js", 10),
        # A write in progress, a user's file, a staging folder: never entries.
        "partial": _entry(root, "compressed/ab/tmpk2x7_q", 7),
        "notes": _entry(root, "models/entries/notes.txt", 3),
        "staging": _entry(root, f"tfjs/.{TFJS_VERSION}-partial-x/tf-core.min.js", 10),
    }


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_info_says_where_the_cache_is_and_what_each_kind_holds(root):
    _fill(root)
    result = run("cache", "info")
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"Cache: {root}\n"
        "  compressed/      2 entries     150 B  gzip and Brotli siblings, by content\n"
        "  models/          1 entry      1.5 kB  prepared models\n"
        "  tfjs/            1 entry        10 B  TensorFlow.js files, never evicted\n"
        "Total: 4 entries, 1.7 kB; compressed/ and models/ are kept under 1.00 GB "
        "(TMBUILD_CACHE_SIZE)\n"
    )


def test_info_of_an_empty_cache_and_a_limit_set(root, monkeypatch):
    monkeypatch.setenv("TMBUILD_CACHE_SIZE", "300MB")
    result = run("cache", "info")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        "  compressed/      0 entries       0 B  gzip and Brotli siblings, by content",
        "  models/          0 entries       0 B  prepared models",
        "  tfjs/            0 entries       0 B  TensorFlow.js files, never evicted",
        "Total: 0 entries, 0 B; compressed/ and models/ are kept under 300.00 MB "
        "(TMBUILD_CACHE_SIZE)",
    ]
    assert not root.exists()  # looking creates nothing


def test_clean_removes_compressed_and_model_entries_and_nothing_else(root):
    files = _fill(root)
    result = run("cache", "clean")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "compressed/ removed 2 entries, 150 B\n"
        "models/     removed 1 entry, 1.5 kB\n"
        f"Removed 3 entries (1.6 kB) from {root}; kept tfjs/\n"
    )
    left = {name for name, path in files.items() if path.exists()}
    assert left == {"tfjs", "partial", "notes", "staging"}
    assert not (root / "compressed" / "ab" / f"{KEY}.gz9").exists()
    assert run("cache", "clean", "-q").output == ""


def test_clean_a_kind_by_name(root):
    files = _fill(root)
    result = run("cache", "clean", "tfjs")
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"tfjs/       removed 1 entry, 10 B\nRemoved 1 entry (10 B) from {root}\n"
    )
    assert not files["tfjs"].exists() and files["staging"].exists() and files["model"].exists()
    assert run("cache", "clean", "frobs").exit_code == 2


def test_clean_follows_no_symlink_out_of_the_cache(root, tmp_path):
    outside = _entry(tmp_path, f"elsewhere/{KEY}", 5)
    (root / "models").mkdir(parents=True)
    (root / "models" / "entries").symlink_to(outside.parent)
    (root / "compressed" / "cd").mkdir(parents=True)
    (root / "compressed" / "cd" / f"{KEY}.gz9").symlink_to(outside)
    result = run("cache", "clean")
    assert result.exit_code == 0, result.output
    assert outside.read_bytes() == b"x" * 5
    assert (root / "compressed" / "cd" / f"{KEY}.gz9").is_symlink()


@pytest.mark.parametrize("where", ["/", "/usr", "home", "above home", "~/.cache"])
def test_a_cache_dir_shared_with_other_files_is_refused(tmp_path, monkeypatch, where):
    home = tmp_path / "home" / "me"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    folder = {"home": str(home), "above home": str(home.parent), "~/.cache": "~/.cache"}
    monkeypatch.setenv("TMBUILD_CACHE_DIR", folder.get(where, where))
    precious = _entry(home, f"models/entries/{KEY}", 5)
    _entry(home, f".cache/models/entries/{KEY}", 5)
    for command in (["cache", "clean"], ["cache", "info"]):
        result = run(*command)
        assert result.exit_code == 1, result.output
        [line] = result.output.splitlines()
        assert line.startswith("Error: TMBUILD_CACHE_DIR is ")
        assert "a folder shared with other files; tmbuild removes entries from its cache" in line
    assert precious.exists() and (home / ".cache" / "models" / "entries" / KEY).exists()


@pytest.mark.parametrize(
    ("text", "size"),
    [("500MB", 500_000_000), ("2GiB", 2 * 1024**3), ("1.5 g", 1_500_000_000), ("0", 0)],
)
def test_the_size_limit_is_read_from_the_environment(root, monkeypatch, text, size):
    monkeypatch.setenv("TMBUILD_CACHE_SIZE", text)
    assert size_limit() == size


def test_a_bad_size_limit_is_one_line(root, monkeypatch):
    monkeypatch.setenv("TMBUILD_CACHE_SIZE", "a lot")
    result = run("cache", "info")
    assert result.exit_code == 1
    assert result.output == (
        "Error: TMBUILD_CACHE_SIZE is 'a lot': give a size such as 500MB, 2GB, or 0 to keep no "
        "compressed files and models\n"
    )


def test_eviction_removes_the_least_recently_used_first(root):
    oldest = _entry(root, f"compressed/ab/{KEY}.gz9", 100, used=OLD)
    model = _entry(root, f"models/entries/{KEY}", 100, used=OLD + 10)
    newest = _entry(root, f"compressed/ab/{KEY}.br11", 100, used=OLD + 20)
    removed = evict(root, limit=150)
    assert [entry.path for entry in removed] == [oldest, model]
    assert newest.exists() and [entry.path for entry in entries(root)] == [newest]
    assert evict(root, limit=100) == []


def test_a_hit_makes_an_entry_the_most_recently_used(root):
    hit = _entry(root, f"compressed/ab/{KEY}.gz9", 100, used=OLD)
    other = _entry(root, f"compressed/ab/{KEY}.br11", 100, used=OLD + 10)
    cache = CompressionCache(root / "compressed")

    def compress() -> bytes:
        raise AssertionError("a hit compresses nothing")

    assert cache.get_or_make(f"{KEY}.gz9", compress) == b"x" * 100
    assert cache.hits == 1 and hit.stat().st_mtime > time.time() - 60
    evict(root, limit=100)
    assert hit.exists() and not other.exists()


def _build(export: Path, output: Path):
    config, _ = load_config(None, {"model_path": export, "output": output})
    # gzip only: entries in compressed/ without seconds of Brotli at quality 11.
    return build(replace(config, compress=replace(config.compress, brotli=False)))


def test_a_build_keeps_the_cache_under_its_limit_and_never_evicts_tfjs(root, tmp_path, monkeypatch):
    export = write_export(tmp_path / "export")
    _build(export, tmp_path / "a")
    made = entries(root)
    assert {entry.kind for entry in made} == {"compressed", "models"}
    assert run("cache", "clean").exit_code == 0

    # Room for what the build writes, not for an older entry as well: the older one goes.
    monkeypatch.setenv("TMBUILD_CACHE_SIZE", str(sum(entry.size for entry in made)))
    runtime = _entry(root, f"tfjs/{TFJS_VERSION}/tf-core.min.js", 10, used=OLD - 10)
    stale = _entry(root, f"models/entries/{'cd' * 32}", 10_000, used=OLD)
    _build(export, tmp_path / "b")
    assert not stale.exists() and runtime.exists()
    assert {entry.path for entry in entries(root)} == {runtime, *(e.path for e in made)}

    monkeypatch.setenv("TMBUILD_CACHE_SIZE", "0")
    _build(write_export(tmp_path / "other", labels=["x", "y", "z"]), tmp_path / "c")
    assert [entry.path for entry in entries(root)] == [runtime]


def test_a_check_that_prepares_a_model_keeps_the_limit_too(root, tmp_path, monkeypatch):
    # `tmbuild check` prepares the model but compresses nothing.
    stale = _entry(root, f"compressed/ab/{KEY}.gz9", 100)
    monkeypatch.setenv("TMBUILD_CACHE_SIZE", "0")
    config, _ = load_config(None, {"model_path": write_export(tmp_path / "export")})
    build(config, write=False)
    assert not stale.exists() and entries(root) == []


def test_a_model_hit_is_a_use(root, tmp_path):
    export = write_export(tmp_path / "export")
    _build(export, tmp_path / "a")
    [model] = entries(root, ("models",))
    os.utime(model.path, (OLD, OLD))
    _build(export, tmp_path / "b")
    assert model.path.stat().st_mtime > time.time() - 60


def test_a_build_after_clean_makes_the_same_site(root, tmp_path):
    export = write_export(tmp_path / "export")
    _build(export, tmp_path / "a")
    made = {entry.path for entry in entries(root)}
    assert run("cache", "clean").exit_code == 0
    assert entries(root) == []
    result = _build(export, tmp_path / "b")
    assert result.cache_hits == 0 and {entry.path for entry in entries(root)} == made
    assert file_tree(tmp_path / "a") == file_tree(tmp_path / "b")
    assert cache_root() == root
