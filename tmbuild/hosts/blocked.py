"""What a designer's templates load from other sites that the Content-Security-Policy blocks.

A web-font stylesheet or an analytics script added in `{% block head %}` builds fine and is
then blocked in every visitor's browser, with nothing but a console message to say so. The
build reads the templates folder's HTML for the elements that load from an address (scripts,
stylesheets, images, media, frames, forms) and warns, naming the template and its line, for
each address the policy would refuse, with the `csp:` key of site.yaml that would allow it.
"""

from __future__ import annotations

import html.parser
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from tmbuild.untrusted import printable

# (tag, attribute) → the directive that governs the request; link elements by their rel.
_LOADS = {
    ("script", "src"): "script-src",
    ("img", "src"): "img-src",
    ("video", "src"): "media-src",
    ("audio", "src"): "media-src",
    ("source", "src"): "media-src",
    ("video", "poster"): "img-src",
    ("iframe", "src"): "frame-src",
    ("form", "action"): "form-action",
}
_LINKS = {"stylesheet": "style-src", "icon": "img-src", "manifest": "manifest-src"}
_PRELOADS = {"script": "script-src", "style": "style-src", "font": "font-src", "image": "img-src"}
_FALLS_BACK = {"frame-src": "child-src", "child-src": "default-src"}
MAX_TEMPLATE_BYTES = 4 * 1024 * 1024  # the renderer refuses larger ones anyway


def blocked_loads(templates: Path | None, policy: str) -> list[str]:
    """One warning line for each address in the templates that `policy` would block."""
    if templates is None:
        return []
    directives = _parse_policy(policy)
    warnings = []
    for path in sorted(templates.rglob("*.html")):
        if not path.is_file() or path.stat().st_size > MAX_TEMPLATE_BYTES:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # the renderer says what is wrong with it
        for line, tag, url, directive in _references(text):
            if not _allowed(url, _sources(directives, directive)):
                origin = _origin(url)
                key = directive.replace("-", "_")
                warnings.append(
                    f"{_shown(path)}:{line}: <{tag}> loads {printable(url, 80)}, which the "
                    f"Content-Security-Policy blocks ({directive}); add {origin} to csp.{key} "
                    "in site.yaml"
                )
    return warnings


def _references(text: str) -> Iterator[tuple[int, str, str, str]]:
    """(line, tag, absolute URL, directive) of each element that loads from another site."""
    found: list[tuple[int, str, str, str]] = []

    class Parser(html.parser.HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = {name: value or "" for name, value in attrs}
            wanted = [(name, d) for (t, name), d in _LOADS.items() if t == tag]
            if tag == "link":
                rels = values.get("rel", "").lower().split()
                kind = values.get("as", "").lower()
                directive = next((_LINKS[r] for r in rels if r in _LINKS), None)
                if "preload" in rels and kind in _PRELOADS:
                    directive = _PRELOADS[kind]
                wanted = [("href", directive)] if directive else []
            for name, directive in wanted:
                url = values.get(name, "").strip()
                if url.startswith(("http://", "https://", "//")):
                    found.append((self.getpos()[0], tag, url, directive))

    parser = Parser(convert_charrefs=True)
    parser.feed(text)
    parser.close()
    return iter(found)


def _parse_policy(policy: str) -> dict[str, list[str]]:
    directives = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def _sources(directives: dict[str, list[str]], directive: str) -> list[str]:
    while directive not in directives and directive in _FALLS_BACK:
        directive = _FALLS_BACK[directive]
    return directives.get(directive, directives.get("default-src", []))


def _allowed(url: str, sources: list[str]) -> bool:
    """Whether CSP's source matching lets `url` through (an absolute URL on another site)."""
    target = urlsplit("https:" + url if url.startswith("//") else url)
    for source in sources:
        if source.endswith(":") and "/" not in source:  # a scheme source, such as https:
            if target.scheme == source[:-1]:
                return True
            continue
        if source.startswith("'"):
            continue  # 'self' is this site; 'none', hashes and the rest allow no address
        parts = urlsplit(source if "://" in source else f"//{source}")
        if parts.scheme and parts.scheme != target.scheme:
            continue
        if not parts.scheme and target.scheme not in ("https", "wss"):
            continue  # a scheme-less source allows the page's own, https, scheme
        host = parts.hostname or ""
        if host != "*" and not (
            target.hostname == host
            or host.startswith("*.")
            and (target.hostname or "").endswith(host[1:])
        ):
            continue
        if not _same_port(parts, target):
            continue
        if parts.path and parts.path != "/" and not target.path.startswith(parts.path):
            continue
        return True
    return False


def _same_port(source, target) -> bool:
    """A source's port (none: the scheme's default; *: any) against the URL's."""
    if source.netloc.endswith(":*"):
        return True
    defaults = {"http": 80, "https": 443, "ws": 80, "wss": 443}
    wanted = source.port or defaults.get(source.scheme or target.scheme)
    return wanted == (target.port or defaults.get(target.scheme))


def _origin(url: str) -> str:
    target = urlsplit("https:" + url if url.startswith("//") else url)
    return f"{target.scheme}://{target.netloc}"


def _shown(path: Path) -> str:
    return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
