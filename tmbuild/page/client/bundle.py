"""One ES module per entry (engine.js, page.js), joined from the client's modules.

The sources are ES modules that run in a browser as they are; a visit downloads one script per
entry instead of a chain of imports. Each site's entries carry its model kind's code only: the
entries import none of it, and a kind's modules register themselves (kinds.js, page-kinds.js)
when they run, so they are bundled as dependencies evaluated before the entry's body.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

CLIENT_DIR = Path(__file__).parent
# Entry → the asset name it ships as (content-hashed by the build).
ENTRIES = {"engine.js": "engine.js", "page.js": "page.js"}
# What a model kind adds to each entry: an image model needs neither audio nor pose code
# (~10 kB Brotli of the two entries).
KIND_MODULES = {
    "image": {},
    "audio": {"engine.js": ("sound.js",), "page.js": ("page-audio.js",)},
    "pose": {"engine.js": ("pose.js",), "page.js": ("page-pose.js",)},
}

_IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"\./([\w-]+)\.js";\n', re.MULTILINE)
_EXPORT_DECLARATION = re.compile(
    r"^export (?:async )?(?:function\*?|const|class) (\w+)", re.MULTILINE
)
_EXPORT_LIST = re.compile(r"^export\s*\{([^}]*)\};\n", re.MULTILINE)


class BundleError(Exception):
    """A client module that `bundle` cannot join: a bug in tmbuild, caught by its tests."""


def client_files() -> list[str]:
    """Every file of the client code, by name: what a templates folder may not replace."""
    owned = (".js", ".json", ".css")
    return sorted(path.name for path in CLIENT_DIR.iterdir() if path.suffix in owned)


@cache
def bundle(entry: str, kind: str = "image") -> bytes:
    """`entry`, the modules it imports and a `kind` of model's, as one ES module.

    Each module keeps a scope of its own. An imported module becomes a constant holding its
    exports, evaluated before the modules that import it, as a browser would: `import { a }
    from "./x.js"` reads `const { a } = x`. The kind's modules come first: engine.js starts the
    page's classifier when it runs, and they must have registered by then.
    """
    if kind not in KIND_MODULES:
        raise BundleError(f"{kind}: not a kind of model ({', '.join(KIND_MODULES)})")
    order: list[str] = []
    for module in KIND_MODULES[kind].get(entry, ()):
        _visit(module, order, [])
    _visit(entry, order, [])
    parts = [f"/* tmbuild {ENTRIES.get(entry, entry)}: bundled from {', '.join(order)} */\n"]
    for name in order:
        text = (CLIENT_DIR / name).read_text(encoding="utf-8")
        text = _IMPORT.sub(_import_as_constant, text)
        if name == entry:
            parts.append(text)
            continue
        exported = _EXPORT_DECLARATION.findall(text)
        for names in _EXPORT_LIST.findall(text):
            exported += [part.strip() for part in names.split(",") if part.strip()]
        text = _EXPORT_LIST.sub("", text)
        text = re.sub(r"^export (?=(?:async )?(?:function|const|class) )", "", text, flags=re.M)
        if re.search(r"^export\b", text, re.MULTILINE):
            raise BundleError(f"{name}: an export other than a function, class or constant")
        scope = f"return {{ {', '.join(exported)} }};"
        parts.append(f"const {_scope(name)} = (() => {{\n{text}\n{scope}\n}})();\n")
    return "\n".join(parts).encode("utf-8")


def _visit(name: str, order: list[str], path: list[str]) -> None:
    if name in order:
        return
    if name in path:
        raise BundleError(f"{name}: imported in a cycle ({' → '.join([*path, name])})")
    text = (CLIENT_DIR / name).read_text(encoding="utf-8")
    for _, dependency in _IMPORT.findall(text):
        _visit(dependency + ".js", order, [*path, name])
    order.append(name)


def _scope(name: str) -> str:
    return "__tmbuild_" + re.sub(r"\W", "_", name.removesuffix(".js"))


def _import_as_constant(match: re.Match) -> str:
    names = [part.strip().replace(" as ", ": ") for part in match[1].split(",") if part.strip()]
    return f"const {{ {', '.join(names)} }} = {_scope(match[2] + '.js')};\n"
