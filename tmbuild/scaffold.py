"""`tmbuild init`: a new site's commented site.yaml, and optionally the templates to edit.

The site.yaml it writes names every option with its default, commented out, so the file is
its own reference. Options, defaults and comments all come from tmbuild.config.schema (written
out by tmbuild.config.reference); tests uncomment every line and check that the result loads to
exactly the defaults.
"""

from __future__ import annotations

import os
import shlex
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tmbuild import __version__
from tmbuild.config import reference
from tmbuild.config.schema import OVERRIDES
from tmbuild.errors import TmbuildError

CONFIG_NAME = "site.yaml"
TEMPLATES_FOLDER = "templates"
EXPORT_FILES = {"model.json", "metadata.json"}

HEADER = """\
# Settings of a tmbuild site, written by `tmbuild init` (tmbuild {version}).
# Build the site with `tmbuild build`; check this file with `tmbuild check`.
#
# Paths are relative to the folder of this file. A line such as `# quantize: none` shows an
# option at its default: to change it, remove the '#' (and the '#' of its section, such as
# `# classifier:`). Unknown keys are warnings; `tmbuild check --strict` makes them errors.
# Command-line flags override this file:
# {flags}.

"""
TEMPLATES_NOTE = """\
Files in templates/ replace the built-in ones of the same name; delete a file to fall back to
the built-in one. A template can extend the one it replaces: {% extends "default:base.html" %}"""


@dataclass
class ScaffoldResult:
    directory: Path  # as the user gave it
    model_path: str | None  # as written in site.yaml
    exports_found: list[str]  # exports found in the directory, when no --model was given
    created: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # existing files left alone
    updated: list[str] = field(default_factory=list)  # settings added to an existing site.yaml

    def report(self) -> str:
        lines = [f"Created {path}" for path in self.created]
        lines += [f"Overwrote {path}" for path in self.overwritten]
        lines += [f"Kept {path} (--force replaces it)" for path in self.kept]
        lines += [f"Set {setting}" for setting in self.updated]
        if self.model_path == "unchanged":  # templates added to a site that has its site.yaml
            command = "tmbuild build" + (
                "" if self.directory == Path(".") else f" -c {_shown(self.directory / CONFIG_NAME)}"
            )
            lines.append(f"Next: edit the templates, then run {command}")
            return "\n".join(lines)
        config = _shown(self.directory / CONFIG_NAME)
        command = "tmbuild build" + ("" if self.directory == Path(".") else f" -c {config}")
        if self.model_path is not None:
            found = f" (the export found in {_shown(self.directory)})" if self.exports_found else ""
            lines.append(f"model.path: {self.model_path}{found}")
            lines.append(f"Next: {command}")
        elif len(self.exports_found) > 1:
            lines.append(
                f"Found {len(self.exports_found)} exports ({', '.join(self.exports_found)}): "
                f"set model.path in {config} to the one you want, then run {command}"
            )
        else:
            lines.append(
                f"Next: set model.path in {config} to your Teachable Machine export (Export "
                f"Model → Tensorflow.js → Download my model), then run {command}"
            )
        return "\n".join(lines)


def scaffold(
    directory: Path,
    model: Path | None = None,
    title: str | None = None,
    templates: bool = False,
    force: bool = False,
) -> ScaffoldResult:
    """Write a commented site.yaml (and the templates) into `directory`; overwrite if forced."""
    if title is not None and not title.strip():
        raise TmbuildError("--title: expected a title; got an empty string")
    if (directory / "model.json").is_file():
        beside = Path(os.path.relpath(directory.resolve().parent / "my-site"))
        raise TmbuildError(
            f"{_shown(directory)}: is a Teachable Machine export; make the site in a folder of "
            f"its own (tmbuild init {_shown(beside)} --model {_shown(directory)})"
        )
    found: list[Path] = []
    if model is None and directory.is_dir():
        found = find_exports(directory)
        if len(found) == 1:
            model = found[0]
    model_path = None if model is None else _relative(model, directory)
    for what, text in (("--title", title), ("model.path", model_path)):
        if text is not None and not _is_utf8(text):
            raise TmbuildError(f"{what}: not valid UTF-8 text; rename it or type it again")

    config = directory / CONFIG_NAME
    if templates and (config.exists() or config.is_symlink()):
        # An existing site keeps its site.yaml, even with --force: only `templates:` is added.
        return _add_templates(directory, config, force)
    files = {config: site_yaml(title, model_path, templates).encode("utf-8")}
    if templates:
        files.update(_template_copies(directory / TEMPLATES_FOLDER))
    existing = [path for path in files if path.exists() or path.is_symlink()]
    if existing and not force:
        shown = ", ".join(_shown(path) for path in existing[:3])
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise TmbuildError(
            f"{shown}{more}: already exist{'s' if len(existing) == 1 else ''}; nothing was "
            "written (pass --force to overwrite)"
        )

    result = ScaffoldResult(directory, model_path, [_shown(path) for path in found])
    for path, data in files.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():
                path.unlink()  # --force replaces the link, not a file it points to elsewhere
            path.write_bytes(data)
        except OSError as error:
            raise TmbuildError(f"{_shown(path)}: cannot write it: {error.strerror}") from None
        (result.overwritten if path in existing else result.created).append(_shown(path))
    return result


def _add_templates(directory: Path, config: Path, force: bool) -> ScaffoldResult:
    """The templates for a site that has its site.yaml: copied, and named in it if need be.

    site.yaml keeps every other character; a template file already there is kept unless
    forced, so that `init --templates` can be run again to get the files an upgrade added.
    """
    from tmbuild.config.yamlfile import Report, parse, read_text, update_file

    # Only its templates key is read: a site.yaml still without model.path is fine here.
    label = _shown(config)
    entries = parse(read_text(config, label), Report(label, strict=False))
    named = entries.get("templates", (None, None))[1]
    named = named.value if named is not None and isinstance(named.value, str) else None
    folder = directory / (named or TEMPLATES_FOLDER)
    result = ScaffoldResult(directory, None, [])
    result.model_path = "unchanged"
    for path, data in _template_copies(folder).items():
        if path.exists() and not force:
            result.kept.append(_shown(path))
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            existed = path.exists()
            path.write_bytes(data)
        except OSError as error:
            raise TmbuildError(f"{_shown(path)}: cannot write it: {error.strerror}") from None
        (result.overwritten if existed else result.created).append(_shown(path))
    if named is None:
        update_file(config, "", "templates", TEMPLATES_FOLDER)
        result.updated.append(f"{_shown(config)}: templates: {TEMPLATES_FOLDER}")
    return result


def site_yaml(title: str | None, model_path: str | None, templates: bool) -> str:
    """The text of a commented site.yaml: every option of tmbuild.config.schema, with its help."""
    values: dict = {"model": {"path": model_path}}
    if title:
        values = {"title": title, **values}
    notes = {}
    if templates:
        values["templates"] = TEMPLATES_FOLDER
        notes["templates"] = TEMPLATES_NOTE
    flags = ", ".join(flag for _, _, flag in OVERRIDES.values())
    body = reference.site_yaml(values, defaults=True, notes=notes)
    return HEADER.format(version=__version__, flags=flags) + body


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")  # a file name that is not UTF-8 arrives with lone surrogates
    except UnicodeEncodeError:
        return False
    return True


def find_exports(directory: Path) -> list[Path]:
    """Teachable Machine exports right inside `directory`: folders and .zip files."""
    found = []
    for child in sorted(directory.iterdir()):
        if child.name.startswith("."):
            continue
        is_folder_export = child.is_dir() and all((child / name).is_file() for name in EXPORT_FILES)
        is_zip_export = child.suffix.lower() == ".zip" and child.is_file() and _zip_holds(child)
        if is_folder_export or is_zip_export:
            found.append(child)
    return found


def _zip_holds(path: Path) -> bool:
    """Whether a .zip holds a model.json and a metadata.json (at any depth, as read_export)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = {PurePosixPath(name).name for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile, ValueError, NotImplementedError):
        return False  # damaged: not an export init can name
    return names >= EXPORT_FILES


def _template_copies(target: Path) -> dict[Path, bytes]:
    from tmbuild.page.render import builtin_templates_dir

    source = builtin_templates_dir()
    copies = {}
    for path in sorted(source.rglob("*")):
        parts = path.relative_to(source).parts
        if path.is_file() and not any(part.startswith((".", "__")) for part in parts):
            copies[target.joinpath(*parts)] = path.read_bytes()
    return copies


def _relative(path: Path, directory: Path) -> str:
    """`path` as site.yaml must name it: relative to the folder the file is in."""
    relative = os.path.relpath(path.resolve(), directory.resolve())
    return Path(relative).as_posix()


def _shown(path: Path) -> str:
    return shlex.quote(str(path)) if path != Path(".") else "."
