"""The output folder is never lost: a build replaces only a missing or empty folder, or its own.

Each data-loss case of issue 15 goes through the real `tmbuild build` (or `serve`): a refusal is
exit 1 and one line naming the folder and what to do, and the folder it protects is left byte
for byte as it was, with no staging folder beside it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import write_export

import tmbuild.build
from tmbuild.cli import cli
from tmbuild.config.load import load_config
from tmbuild.evaluate.run import _build_site
from tmbuild.preview.server import PreviewServer

NEVER = (
    "a build replaces the whole output folder, so this would delete it "
    "— choose a folder of its own, such as dist"
)
TAKE_OVER = (
    "a build replaces the whole output folder, so this would delete what is in it "
    "— choose a new or empty folder, or take this one over with tmbuild build --force"
)
NO_MANIFEST = "not empty, and not the output of an earlier build (it has no tmbuild-manifest.json)"


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry below `folder`: links by target, folders by mode, files by mode and bytes."""
    entries: dict[str, tuple] = {}
    for parent, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(parent, name)
            info = path.lstat()
            key = path.relative_to(folder).as_posix()
            if stat.S_ISLNK(info.st_mode):
                entries[key] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entries[key] = ("dir", info.st_mode)
            else:
                entries[key] = ("file", info.st_mode, path.read_bytes())
    return entries


def litter(folder: Path) -> list[str]:
    return sorted(str(path) for path in folder.rglob(".tmbuild-*"))


def build(*args: str) -> Result:
    return CliRunner().invoke(cli, ["build", *args])


def refused(result: Result, line: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr == f"Error: {line}\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A project folder with an export in m/, worked in."""
    project = tmp_path / "project"
    write_export(project / "m")
    monkeypatch.chdir(project)
    return project


def home_away(monkeypatch) -> None:
    """A home folder outside /tmp, /home and the project, so that none of them contains it."""
    monkeypatch.setenv("HOME", "/nonexistent/home")


def users_folder(folder: Path) -> Path:
    """A folder of the user's own, with something precious in it."""
    (folder / "notes").mkdir(parents=True)
    (folder / "precious.txt").write_text("years of work\n")
    (folder / "notes" / "todo.md").write_text("- back up\n")
    return folder


# ---- the cases of the issue ------------------------------------------------------------------


def test_an_existing_folder_of_the_users_is_refused(project: Path, tmp_path: Path):
    # `tmbuild build -o ../docs` replaced docs/ whole, precious.txt and all, with exit 0.
    docs = users_folder(tmp_path / "docs")
    before = snapshot(tmp_path)
    result = build("--model", "m", "-o", "../docs")
    refused(result, f"{docs}: {NO_MANIFEST}; {TAKE_OVER}")
    assert snapshot(tmp_path) == before
    assert litter(tmp_path) == []


def test_a_folder_inside_the_working_folder_is_named_as_typed(project: Path):
    users_folder(project / "dist")  # also where Python packaging puts its wheels
    before = snapshot(project)
    refused(build("--model", "m"), f"dist: {NO_MANIFEST}; {TAKE_OVER}")
    assert snapshot(project) == before


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
@pytest.mark.parametrize("with_site_yaml", [True, False], ids=["site.yaml", "no-site.yaml"])
def test_the_working_folder_is_never_replaced(
    project: Path, tmp_path: Path, monkeypatch, force: list[str], with_site_yaml: bool
):
    # `-o .` from another folder replaced the folder the user was working in.
    (project / "site.yaml").write_text("model: {path: m}\n")
    elsewhere = users_folder(tmp_path / "elsewhere")
    monkeypatch.chdir(elsewhere)
    config = ["-c", "../project/site.yaml"] if with_site_yaml else ["--model", "../project/m"]
    before = snapshot(tmp_path)
    result = build(*config, "-o", ".", *force)
    refused(result, f"--output: {elsewhere} is the current folder; {NEVER}")
    assert snapshot(tmp_path) == before


def test_a_symlink_is_judged_by_the_folder_it_points_to(project: Path, tmp_path: Path):
    # `-o link`, link pointing at a folder of the user's, emptied that folder.
    folder = users_folder(tmp_path / "photos")
    (project / "link").symlink_to(folder)
    before = snapshot(tmp_path)
    refused(build("--model", "m", "-o", "link"), f"{folder}: {NO_MANIFEST}; {TAKE_OVER}")
    assert snapshot(tmp_path) == before
    assert litter(tmp_path) == []


def test_a_symlink_to_a_system_folder_is_never_followed(project: Path):
    (project / "link").symlink_to("/usr")
    before = snapshot(project)
    result = build("--model", "m", "-o", "link", "--force")
    refused(result, f"--output: {Path('/usr').resolve()} is a system folder; {NEVER}")
    assert snapshot(project) == before


SYSTEM = ["/usr", "/etc", "/var", "/opt", "/home", "/root", "/bin", "/boot", "/dev", "/lib"]
SYSTEM += ["/proc", "/sbin", "/srv", "/sys", "/tmp", "/usr/local", "/var/lib"]


@pytest.mark.parametrize("folder", SYSTEM)
def test_system_folders_are_never_replaced_even_with_force(project, tmp_path, monkeypatch, folder):
    home_away(monkeypatch)
    result = build("--model", "m", "-o", folder, "--force")
    refused(result, f"--output: {Path(folder).resolve()} is a system folder; {NEVER}")


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("/", "is the root of the file system"),
        ("~", "is your home folder"),
        ("~/..", "contains your home folder"),
        ("/home/someone", "is a home folder"),
        ("..", "contains the project folder (where site.yaml is)"),
        ("m", "is the model export (model.path)"),
        ("m/site", "is inside the model export (model.path)"),
        ("theme", "is the templates folder"),
        ("pictures", "is the samples folder"),
    ],
)
def test_protected_folders_are_never_replaced_even_with_force(
    project: Path, tmp_path: Path, monkeypatch, output: str, reason: str
):
    if output.startswith("~"):
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        (tmp_path / "home").mkdir()
    else:
        home_away(monkeypatch)
    (project / "theme").mkdir()
    (project / "pictures").mkdir()
    (project / "site.yaml").write_text("model: {path: m}\ntemplates: theme\nsamples: pictures\n")
    before = snapshot(tmp_path)
    resolved = (project / os.path.expanduser(output)).resolve()
    refused(build("-o", output, "--force"), f"--output: {resolved} {reason}; {NEVER}")
    assert snapshot(tmp_path) == before


# ---- what a build may replace ----------------------------------------------------------------


def test_a_missing_an_empty_and_an_earlier_output_are_replaced(project: Path):
    assert build("-q", "--model", "m", "-o", "new").exit_code == 0  # missing
    (project / "empty").mkdir()
    (project / "empty" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")  # a file browser looked in
    assert build("-q", "--model", "m", "-o", "empty").exit_code == 0
    assert not (project / "empty" / ".DS_Store").exists()
    first = snapshot(project / "new")
    write_export(project / "m", labels=["cat", "dog", "bird"])
    result = build("-q", "--model", "m", "-o", "new")  # an earlier build's
    assert result.exit_code == 0, result.output
    assert snapshot(project / "new") != first
    assert (project / "new" / "tmbuild-manifest.json").is_file()
    assert litter(project) == []


def test_force_takes_over_a_folder(project: Path, tmp_path: Path):
    docs = users_folder(tmp_path / "docs")
    result = build("-q", "--model", "m", "-o", "../docs", "--force")
    assert result.exit_code == 0, result.output
    assert not (docs / "precious.txt").exists()
    assert (docs / "index.html").is_file() and (docs / "tmbuild-manifest.json").is_file()
    # From now on it holds an earlier build: no --force needed.
    assert build("-q", "--model", "m", "-o", "../docs").exit_code == 0


def test_force_through_a_symlink_replaces_the_folder_and_keeps_the_link(project, tmp_path):
    folder = users_folder(tmp_path / "site")
    (project / "link").symlink_to(folder)
    assert build("-q", "--model", "m", "-o", "link", "--force").exit_code == 0
    assert (project / "link").is_symlink() and (folder / "index.html").is_file()


def test_a_single_file_builds_output_is_recognised_by_its_page(project: Path):
    # A single-file build writes one .html and no manifest: that page marks the folder as ours.
    assert build("-q", "--model", "m", "-o", "out", "--single-file").exit_code == 0
    [page] = (project / "out").iterdir()
    assert page.suffix == ".html"
    result = build("-q", "--model", "m", "-o", "out", "--single-file")
    assert result.exit_code == 0, result.output
    assert [path.name for path in (project / "out").iterdir()] == [page.name]
    assert build("-q", "--model", "m", "-o", "out").exit_code == 0  # a folder build over it
    assert build("-q", "--model", "m", "-o", "out", "--single-file").exit_code == 0  # and back


@pytest.mark.parametrize(
    ("files", "why"),
    [
        ({"index.html": "<!doctype html><p>my page</p>"}, "it has no tmbuild-manifest.json"),
        ({"page.html": "<p>a copy</p>", "notes.txt": "x"}, "it has no tmbuild-manifest.json"),
        ({"tmbuild-manifest.json": "{}", "a.txt": "x"}, "its tmbuild-manifest.json is not one "),
        ({"tmbuild-manifest.json": "[1,", "a.txt": "x"}, "its tmbuild-manifest.json is not one "),
    ],
    ids=["one-html-page", "html-and-more", "manifest-not-tmbuilds", "manifest-not-json"],
)
def test_what_only_looks_like_an_earlier_build_is_refused(project: Path, files: dict, why: str):
    (project / "out").mkdir()
    for name, text in files.items():
        (project / "out" / name).write_text(text)
    before = snapshot(project)
    why = why.replace("not one ", "not one tmbuild wrote")
    refused(
        build("--model", "m", "-o", "out", "--single-file"),
        f"out: not empty, and not the output of an earlier build ({why}); {TAKE_OVER}",
    )
    assert snapshot(project) == before


# ---- judged again when the site is written ---------------------------------------------------


def _while_building(monkeypatch, change) -> None:
    """Make `change` happen after the output was judged at the start, before the site is written."""
    compress_all = tmbuild.build.compress_all

    def compress_and_change(*args, **kwargs):
        change()
        return compress_all(*args, **kwargs)

    monkeypatch.setattr(tmbuild.build, "compress_all", compress_and_change)


def test_a_folder_filled_during_the_build_is_refused(project: Path, monkeypatch):
    def fill() -> None:
        users_folder(project / "dist")

    _while_building(monkeypatch, fill)
    result = build("--model", "m")
    refused(result, f"dist: {NO_MANIFEST}; {TAKE_OVER}")
    assert (project / "dist" / "precious.txt").read_text() == "years of work\n"
    assert litter(project) == []


def test_a_symlink_made_during_the_build_is_judged_even_with_force(project: Path, monkeypatch):
    _while_building(monkeypatch, lambda: (project / "dist").symlink_to(project / "m"))
    before = snapshot(project / "m")
    result = build("--model", "m", "--force")
    refused(result, f"{project / 'm'} is the model export (model.path); {NEVER}")
    assert snapshot(project / "m") == before
    assert litter(project) == []


# ---- serve builds into the output too --------------------------------------------------------


def test_serve_refuses_a_folder_of_the_users(project: Path, monkeypatch):
    # Were the folder taken, serving would end at once instead of running until Ctrl-C.
    monkeypatch.setattr(PreviewServer, "serve_forever", lambda self, *args, **kwargs: None)
    (project / "site.yaml").write_text("model: {path: m}\n")
    users_folder(project / "dist")
    before = snapshot(project)
    result = CliRunner().invoke(cli, ["serve", "-p", "0", "--no-watch"])
    refused(result, f"dist: {NO_MANIFEST}; {TAKE_OVER}")
    assert snapshot(project) == before


# ---- eval builds into a folder of its own ----------------------------------------------------


def test_eval_still_builds_into_its_temporary_folder(project: Path):
    config, _ = load_config(None, {"model_path": "m"})
    with tempfile.TemporaryDirectory(prefix="tmbuild-eval-") as scratch:
        site = _build_site(config, Path(scratch) / "site")
        assert (site / "index.html").is_file()
        assert _build_site(config, Path(scratch) / "quantized", "float16").is_dir()
