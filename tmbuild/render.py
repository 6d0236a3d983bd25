"""Rendering the page and client files from Jinja2 templates.

The designer's folder (site.yaml `templates:`) is searched first, then the built-in templates;
`default:NAME` always means the built-in one, so an override can extend what it replaces
(`{% extends "default:base.html" %}`), as datasette does. Undefined variables are errors, not
empty strings, so a typo in a template never ships a silently broken page.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import jinja2

from tmbuild.errors import TmbuildError

# Files below a templates folder that are rendered as Jinja2 templates; anything else under
# `assets/` (a logo, a font) is copied byte for byte.
TEXT_SUFFIXES = {".html", ".js", ".css", ".svg", ".txt", ".json", ".webmanifest"}
PAGES = ("index.html",)


def builtin_templates_dir() -> Path:
    """The templates shipped with tmbuild: inside the wheel, or at the root of a checkout."""
    packaged = Path(__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).parent.parent / "templates"


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
            loaders.append(jinja2.FileSystemLoader(str(override_dir)))
        loaders.append(builtin)
        self.environment = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(["html", "svg"], default_for_string=False),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.filters["json_script"] = json_for_script

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
            return template.render(context).encode("utf-8")
        except jinja2.TemplateSyntaxError as error:
            where = _template_location(error.filename, error.name or name, error.lineno)
            raise TemplateError(f"{where}: template syntax error: {error.message}") from None
        except jinja2.UndefinedError as error:
            raise TemplateError(
                f"{self._origin(name)}: {error.message}; check the variable name "
                "(the variables a template can use are listed in the README)"
            ) from None
        except jinja2.TemplateNotFound as error:
            raise TemplateError(
                f"{self._origin(name)}: template {error.name!r} not found (templates may only "
                "include files from the templates folders; use 'default:NAME' for built-ins)"
            ) from None
        except jinja2.TemplateError as error:
            raise TemplateError(f"{self._origin(name)}: {error}") from None

    def _origin(self, name: str) -> str:
        if self.override_dir is not None and (self.override_dir / name).is_file():
            return str(self.override_dir / name)
        return f"built-in template {name}"


def is_template(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in TEXT_SUFFIXES


def json_for_script(value: object) -> str:
    """JSON that is safe inside <script type="application/json">: no '</script>' or '<!--'."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    # U+2028/2029 are valid in JSON but end a line in older JavaScript parsers.
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return jinja2.utils.markupsafe.Markup(text)


def _template_location(filename: str | None, name: str, line: int | None) -> str:
    where = filename or name
    return f"{where}:{line}" if line else where
