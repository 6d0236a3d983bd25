"""Rendering the page and client files from Jinja2 templates.

The designer's folder (site.yaml `templates:`) is searched first, then the built-in templates;
`default:NAME` always means the built-in one, so an override can extend what it replaces
(`{% extends "default:base.html" %}`), as datasette does. Undefined variables are errors, not
empty strings, so a typo in a template never ships a silently broken page.

A templates folder is treated as hostile (a theme downloaded from the web): templates render in
Jinja's immutable sandbox, so `cycler.__init__.__globals__` and the like, which reach Python's
`os` and `open` from a plain Environment, stop the build with one line naming the template.
"""

from __future__ import annotations

import json
import os
import stat
import time
import traceback
from pathlib import Path, PurePosixPath

import jinja2
import jinja2.sandbox

from tmbuild.errors import TmbuildError

# Files below a templates folder that are rendered as Jinja2 templates; anything else under
# `assets/` (a logo, a font) is copied byte for byte.
TEXT_SUFFIXES = {".html", ".js", ".css", ".svg", ".txt", ".json", ".webmanifest"}
PAGES = ("index.html",)
# A theme is a few hundred kB; these stop a runaway one (a 3 GB asset, a loop in a loop)
# with one line instead of filling the disk or running for ever.
MAX_ASSET_BYTES = 32 * 1024 * 1024
MAX_RENDERED_BYTES = 16 * 1024 * 1024
MAX_RENDER_SECONDS = 20


class _RenderLimit(Exception):
    """A template's output grew past MAX_RENDERED_BYTES or took past MAX_RENDER_SECONDS."""


class _ThemeSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """Jinja's sandbox, with a clock on loops and a size check on `*` and `**`.

    The sandbox already refuses Python's internals and a range over 100,000 items; a loop in a
    loop that prints nothing, or `"x" * 10**10`, would still run for ever or fill the memory.
    """

    intercepted_binops = frozenset(["*", "**"])
    deadline = float("inf")

    def call_binop(self, context, operator: str, left, right):
        if operator == "**" and isinstance(right, int) and abs(right) > 1000:
            raise _RenderLimit(f"raises a number to the power {right}, over 1000")
        if operator == "*":
            for times, item in ((left, right), (right, left)):
                sequence = isinstance(times, int) and isinstance(item, str | list | tuple)
                if sequence and times * len(item) > MAX_RENDERED_BYTES:
                    raise _RenderLimit(
                        f"makes a value over {MAX_RENDERED_BYTES // 2**20} MB with '*'"
                    )
        return super().call_binop(context, operator, left, right)

    def timed_range(self, *args: int):
        """The sandbox's range, which stops the render once its time is up."""
        for count, value in enumerate(jinja2.sandbox.safe_range(*args)):
            if count % 1024 == 0 and time.monotonic() > self.deadline:
                raise _RenderLimit(f"takes over {MAX_RENDER_SECONDS} s to render")
            yield value


def builtin_templates_dir() -> Path:
    """The templates shipped with tmbuild, beside this module in a checkout and in the wheel."""
    return Path(__file__).parent / "templates"


class TemplateError(TmbuildError):
    """A template cannot be loaded or rendered."""


class Renderer:
    def __init__(self, override_dir: Path | None):
        builtin = jinja2.FileSystemLoader(str(builtin_templates_dir()))
        loaders: list[jinja2.BaseLoader] = [
            jinja2.PrefixLoader({"default": builtin}, delimiter=":")
        ]
        self.override_dir = override_dir
        if override_dir is not None:
            _check_folder(override_dir)
            loaders.append(jinja2.FileSystemLoader(str(override_dir)))
        loaders.append(builtin)
        self.environment = _ThemeSandbox(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(["html", "svg"], default_for_string=False),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.filters["json_script"] = json_for_script
        self.environment.globals["range"] = self.environment.timed_range

    def asset_names(self) -> list[str]:
        """Every file under `assets/` in the built-in and override folders, sorted."""
        names: set[str] = set()
        for root in (builtin_templates_dir(), self.override_dir):
            if root is None or not (root / "assets").is_dir():
                continue
            for path in (root / "assets").rglob("*"):
                if path.is_file() and not path.name.startswith("."):
                    names.add(path.relative_to(root).as_posix())
        return sorted(names)

    def source_bytes(self, name: str) -> bytes:
        """The raw bytes of a non-template asset, from the override folder first."""
        for root in (self.override_dir, builtin_templates_dir()):
            if root is not None and (root / name).is_file():
                return (root / name).read_bytes()
        raise TemplateError(f"{name}: template asset not found")

    def render(self, name: str, context: dict) -> bytes:
        try:
            template = self.environment.get_template(name)
            self.environment.deadline = time.monotonic() + MAX_RENDER_SECONDS
            return _limited(template.generate(context), self.environment.deadline)
        except _RenderLimit as error:
            raise TemplateError(f"{self._where(name, error)}: {error}; fix the template") from None
        except jinja2.TemplateSyntaxError as error:
            where = self._shown(error.filename) if error.filename else (error.name or name)
            line = f":{error.lineno}" if error.lineno else ""
            raise TemplateError(f"{where}{line}: template syntax error: {error.message}") from None
        except jinja2.UndefinedError as error:
            raise TemplateError(
                f"{self._where(name, error)}: {error.message}; check the variable name "
                "(the variables a template can use are listed in the README)"
            ) from None
        except jinja2.sandbox.SecurityError as error:
            raise TemplateError(
                f"{self._where(name, error)}: not allowed in a template: {str(error).rstrip('.')} "
                "(templates are "
                "sandboxed: they can use the variables tmbuild passes, not Python's internals)"
            ) from None
        except jinja2.TemplateNotFound as error:
            raise TemplateError(
                f"{self._where(name, error)}: template {error.name!r} not found (templates may "
                "only include files from the templates folders; use 'default:NAME' for built-ins)"
            ) from None
        except jinja2.TemplateError as error:
            raise TemplateError(f"{self._where(name, error)}: {error}") from None
        except Exception as error:  # the template's own code failed: `1 // 0`, endless include
            raise TemplateError(
                f"{self._where(name, error)}: {type(error).__name__}: {error}; fix the template"
            ) from None

    def _where(self, name: str, error: Exception) -> str:
        """Where the error was raised: template file and line, else the template rendered."""
        # Jinja rewrites tracebacks so that template code shows as frames of the template file.
        roots = [str(root) for root in (self.override_dir, builtin_templates_dir()) if root]
        frames = [
            frame
            for frame in traceback.extract_tb(error.__traceback__)
            if frame.filename.startswith(tuple(roots))
        ]
        if frames:
            return f"{self._shown(frames[-1].filename)}:{frames[-1].lineno}"
        if self.override_dir is not None and (self.override_dir / name).is_file():
            return self._shown(str(self.override_dir / name))
        return f"built-in template {name}"

    def _shown(self, filename: str) -> str:
        """A template file as the user knows it: relative to where they are, or built-in."""
        path = Path(filename)
        builtin = builtin_templates_dir()
        if builtin in path.parents:
            return f"built-in template {path.relative_to(builtin).as_posix()}"
        return _relative(path)


def _limited(chunks, deadline: float) -> bytes:
    """Join a template's output as it is made, stopping it once it is too big or too slow."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        parts.append(chunk.encode("utf-8"))
        size += len(parts[-1])
        if size > MAX_RENDERED_BYTES:
            raise _RenderLimit(f"renders over {MAX_RENDERED_BYTES // 2**20} MB")
        if time.monotonic() > deadline:
            raise _RenderLimit(f"takes over {MAX_RENDER_SECONDS} s to render")
    return b"".join(parts)


def is_template(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in TEXT_SUFFIXES


def json_for_script(value: object) -> str:
    """JSON that is safe inside <script type="application/json">: no '</script>' or '<!--'."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    # U+2028/2029 are valid in JSON but end a line in older JavaScript parsers.
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return jinja2.utils.markupsafe.Markup(text)


def _check_folder(folder: Path) -> None:
    """Refuse a templates folder that would make the site include files from outside it.

    A theme downloaded from the web could hold a link to ~/.ssh/id_rsa as an "asset", or a named
    pipe that blocks reading forever; each file's real path and type is checked before any is
    read. Templates must be UTF-8, so that an error can name the file.
    """
    root = folder.resolve()
    for dirpath, dirnames, filenames in os.walk(folder):  # links to folders: listed, not entered
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            shown = _relative(path)
            try:
                real = path.resolve()
            except (OSError, RuntimeError):  # pathlib raises RuntimeError for a link loop
                raise TemplateError(f"{shown}: is a link that loops back on itself") from None
            if real != root and root not in real.parents:
                raise TemplateError(
                    f"{shown}: is a link to {real}, outside the templates folder; copy the file "
                    "into the templates folder instead"
                )
            if name in dirnames:
                continue
            try:
                info = real.stat()
            except OSError as error:
                raise TemplateError(f"{shown}: cannot read: {error.strerror}") from None
            if not stat.S_ISREG(info.st_mode):
                raise TemplateError(f"{shown}: is not a regular file; remove it")
            if info.st_size > MAX_ASSET_BYTES:
                raise TemplateError(
                    f"{shown}: {info.st_size / 2**20:,.0f} MB, over the "
                    f"{MAX_ASSET_BYTES // 2**20} MB a template or asset may have; make it smaller"
                )
            if is_template(name):
                try:
                    real.read_bytes().decode("utf-8")
                except UnicodeDecodeError as error:
                    raise TemplateError(
                        f"{shown}: not UTF-8 text (byte {error.start}); save it as UTF-8"
                    ) from None


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)
