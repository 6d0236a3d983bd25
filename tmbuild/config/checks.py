"""The checks behind each site.yaml option: types, ranges, sizes, URLs, paths, output safety.

Each check takes the value as written (a yamlfile.Value) and the folder relative paths start
from, and returns the value to use or raises Invalid saying why it does not fit. tmbuild.config.load
pairs them with option names and defaults, as MkDocs pairs config_options with its schema.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from tmbuild.config.yamlfile import UNREADABLE, Value, describe, quote

KiB, MiB, GiB = 1024, 1024**2, 1024**3


def expecting(expects: str, choices: tuple[str, ...] = ()) -> Callable:
    """Label a check with what it accepts (and its choices), as the configuration reference says.

    The reference (tmbuild.config.reference) reads `check.expects` and `check.choices`, so the
    docs describe each option in the words its error message uses.
    """

    def label(check: Callable) -> Callable:
        check.expects, check.choices = expects, choices
        return check

    return label


class Invalid(Exception):
    """Why a value does not fit its option, as (where, message) pairs; None means at the key."""

    def __init__(self, message: str = "", problems: list[tuple[Value | None, str]] | None = None):
        super().__init__(message)
        self.problems = problems or [(None, message)]


def text(
    expected: str = "text",
    pattern: str | None = None,
    optional: bool = False,
    max_length: int = 1000,
):
    """Check for a non-empty string of at most `max_length` characters, matching `pattern`."""

    def check(v: Value, base: Path) -> str | None:
        if not isinstance(v.value, str):
            raise Invalid(f"expected {expected}; got {describe(v, want_text=True)}")
        if not v.value.strip():
            if optional:
                return None
            raise Invalid(f"expected {expected}; got an empty string")
        if len(v.value) > max_length:
            # Said here, not later by a host file's line limit or a page nobody can read.
            raise Invalid(
                f"expected {expected}, at most {max_length:,} characters; "
                f"got {len(v.value):,} characters"
            )
        try:
            v.value.encode("utf-8")
        except UnicodeEncodeError:
            # "\ud800" in double quotes is valid YAML, and no page or file can hold it.
            raise Invalid(
                f"expected {expected}; got {describe(v)}, which holds a lone surrogate"
            ) from None
        if pattern is not None and not re.fullmatch(pattern, v.value):
            raise Invalid(f"expected {expected}; got {describe(v)}")
        return v.value

    return expecting(expected)(check)


def one_of(choices: tuple[str, ...]):
    """Check for one of `choices`."""

    def check(v: Value, base: Path) -> str:
        if isinstance(v.value, str) and v.value in choices:
            return v.value
        raise Invalid(f"expected one of {', '.join(choices)}; got {describe(v)}")

    return expecting(f"one of {', '.join(choices)}", choices)(check)


def list_of(choices: tuple[str, ...], allow_empty: bool):
    """Check for a list of distinct items from `choices`, reporting each bad item at its line."""

    def check(v: Value, base: Path) -> tuple[str, ...]:
        if not isinstance(v.value, list):
            example = ", ".join(choices[:2])
            raise Invalid(f"expected a list such as [{example}]; got {describe(v)}")
        chosen: list[str] = []
        problems: list[tuple[Value | None, str]] = []
        for item in v.value:
            if item.value is UNREADABLE:
                continue
            if not isinstance(item.value, str) or item.value not in choices:
                problems.append(
                    (item, f"expected one of {', '.join(choices)}; got {describe(item)}")
                )
            elif item.value in chosen:
                problems.append((item, f"{item.value!r} is listed twice"))
            else:
                chosen.append(item.value)
        if not v.value and not allow_empty:
            problems.append((None, f"expected at least one of {', '.join(choices)}; got []"))
        if problems:
            raise Invalid(problems=problems)
        return tuple(chosen)

    at_least = "" if allow_empty else ", at least one"
    return expecting(f"a list of {', '.join(choices)}{at_least}", choices)(check)


# Content-Security-Policy sources (CSP Level 3): keywords, hashes, schemes and hosts. No ';',
# ',' or white space inside one, so a source can never end its directive or the header.
CSP_KEYWORDS = ("self", "none", "strict-dynamic", "report-sample", "wasm-unsafe-eval")
CSP_UNSAFE = ("unsafe-inline", "unsafe-eval", "unsafe-hashes")
_CSP_SOURCE = re.compile(
    r"'sha(256|384|512)-[A-Za-z0-9+/]+={0,2}'"  # a hash
    r"|(https?|wss?|data|blob|mediastream):"  # a scheme
    r"|((https?|wss?)://)?(\*|(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*)(:([0-9]{1,5}|\*))?"
    r"(/[A-Za-z0-9._~%!$&'()*+=:@/-]*)?"  # a host, with an optional port and path
)


def csp_source(text: str) -> str | None:
    """A source as a policy writes it (`self` → `'self'`), or None if it is not one."""
    bare = text.strip("'")
    if bare in CSP_KEYWORDS or bare in CSP_UNSAFE:
        return f"'{bare}'"
    return text if _CSP_SOURCE.fullmatch(text) else None


@expecting("a list of sources, such as ['self', https://fonts.example.com, data:]")
def csp_sources(v: Value, base: Path) -> tuple[str, ...]:
    """Check a Content-Security-Policy directive's extra sources, each at its line."""
    if not isinstance(v.value, list):
        raise Invalid(
            f"expected a list of sources such as [https://cdn.example.com]; got {describe(v)}"
        )
    sources: list[str] = []
    problems: list[tuple[Value | None, str]] = []
    for item in v.value:
        if item.value is UNREADABLE:
            continue
        source = csp_source(item.value) if isinstance(item.value, str) else None
        if source is None:
            problems.append(
                (
                    item,
                    "expected a source such as 'self', https://example.com or data:; "
                    f"got {describe(item)}",
                )
            )
        elif source not in sources:
            sources.append(source)
    if problems:
        raise Invalid(problems=problems)
    return tuple(sources)


def number(low: float, high: float, whole: bool = False):
    """Check for a number (or a whole number) from `low` to `high`."""

    expected = f"{'a whole number' if whole else 'a number'} from {low} to {high}"

    def check(v: Value, base: Path) -> float | int:
        x = v.value
        is_number = isinstance(x, int) if whole else isinstance(x, int | float)
        if isinstance(x, bool) or not is_number or not low <= x <= high:  # NaN fails the range too
            hint = " — remove the quotes" if isinstance(x, str) and _is_number(x) else ""
            raise Invalid(f"expected {expected}; got {describe(v)}{hint}")
        return x if whole else float(x)

    return expecting(expected)(check)


def _is_number(raw: str) -> bool:
    try:
        float(raw)
    except ValueError:
        return False
    return True


@expecting("a mapping of folder: label")
def aliases(v: Value, base: Path) -> tuple[tuple[str, str], ...]:
    """Check a mapping of folder names to labels; return its pairs sorted by folder."""
    if not isinstance(v.value, dict):
        example = "such as {dogs: dog}"
        raise Invalid(f"expected a mapping of folder: label, {example}; got {describe(v)}")
    pairs, problems = [], []
    for name, (_, value) in v.value.items():
        if value.value is UNREADABLE:
            continue
        if not isinstance(value.value, str) or not value.value.strip():
            problems.append((value, f"{quote(name)}: expected a label; got {describe(value)}"))
        else:
            pairs.append((name, value.value))
    if problems:
        raise Invalid(problems=problems)
    return tuple(sorted(pairs))


@expecting("a mapping of message key: text, such as {not_sure: 'Maybe {label}?'}")
def messages(v: Value, base: Path) -> tuple[tuple[str, str], ...]:
    """Check a mapping of the page's message keys to the words to show; pairs sorted by key.

    Which keys exist is the page's to say (tmbuild.page.client.words): a build names an
    unknown one. Here each text must be one line of text, {placeholders} and all.
    """
    if not isinstance(v.value, dict):
        raise Invalid(
            "expected a mapping of message key: text, such as {retry: Try again}; "
            f"got {describe(v)}"
        )
    pairs, problems = [], []
    for name, (_, value) in v.value.items():
        if value.value is UNREADABLE:
            continue
        if not isinstance(value.value, str) or not value.value.strip():
            problems.append(
                (value, f"{quote(name)}: expected the words to show; got {describe(value)}")
            )
        elif len(value.value) > 1000 or not value.value.isprintable():
            problems.append(
                (value, f"{quote(name)}: expected one line of at most 1,000 characters")
            )
        else:
            pairs.append((name, value.value))
    if problems:
        raise Invalid(problems=problems)
    return tuple(sorted(pairs))


@expecting("true or false")
def flag(v: Value, base: Path) -> bool:
    """Check for true or false."""
    if isinstance(v.value, bool):
        return v.value
    raise Invalid(f"expected true or false; got {describe(v)}")


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?", re.IGNORECASE)
_UNITS = {"b": 1, "kib": KiB, "mib": MiB, "gib": GiB}
MIN_SHARD, MAX_SHARD = 4 * KiB, GiB  # smaller shards mean thousands of requests for one model


@expecting("a size in bytes, or with KiB, MiB or GiB, from 4KiB to 1GiB")
def size(v: Value, base: Path) -> int:
    """Check a shard size, in bytes or with a binary unit, and return it in bytes."""
    expected = 'expected a size in bytes such as 4194304, "4MiB" or "512KiB"'
    x = v.value
    if isinstance(x, str):
        match = _SIZE.fullmatch(x.strip())
        if match is None:
            raise Invalid(f"{expected}; got {describe(v)}")
        unit = (match[2] or "B").lower()
        if unit not in _UNITS:
            # TF.js calls 4 MiB shards "4MB", so a decimal reading would silently differ.
            raise Invalid(f"{quote(x)} is ambiguous; write KiB/MiB/GiB (powers of 1024) or bytes")
        n = float(match[1]) * _UNITS[unit]
    elif isinstance(x, int) and not isinstance(x, bool):
        n = x
    else:
        raise Invalid(f"{expected}; got {describe(v)}")
    if not MIN_SHARD <= n <= MAX_SHARD:
        raise Invalid(f"expected a size from 4KiB to 1GiB; got {describe(v)}")
    if n != int(n):
        raise Invalid(f"expected a whole number of bytes; got {describe(v)}")
    return int(n)


# What each kind of path option accepts, in the words of the configuration reference.
_PATH_KINDS = {
    "model": "a path to a folder or .zip file",
    "folder": "a path to a folder",
    "output": "a path to a folder, made if missing",
}


def path(kind: str):
    """Check a path and resolve it against `base`.

    kind: "model" (must exist), "folder" (must be a folder) or "output" (need not exist).
    """

    def check(v: Value, base: Path) -> Path:
        raw = os.fspath(v.value) if isinstance(v.value, os.PathLike) else v.value
        # Control, format and line-separator characters (U+2028, U+202E) would break the
        # one-line messages every later stage prints the path in.
        if not isinstance(raw, str) or not raw.strip() or not raw.isprintable():
            raise Invalid(f"expected a path; got {describe(v, want_text=True)}")
        try:
            resolved = (base / os.path.expanduser(raw)).resolve()
            exists, is_dir = resolved.exists(), resolved.is_dir()
        except (OSError, RuntimeError, ValueError) as exc:  # too long, a symlink loop, ...
            raise Invalid(f"cannot use {quote(raw)} as a path: {exc}") from None
        if kind != "output" and not exists:
            raise Invalid(f"{quote(raw)} does not exist (looked for {resolved})")
        if kind == "folder" and not is_dir:
            raise Invalid(f"{quote(raw)} is a file, not a folder ({resolved})")
        if kind == "output" and exists and not is_dir:
            raise Invalid(f"{quote(raw)} is a file, not a folder ({resolved})")
        return resolved

    return expecting(_PATH_KINDS[kind])(check)


# Only characters that need no escaping in HTML, headers and every host's config file.
_URL_PATH = re.compile(r"/[A-Za-z0-9._~%/-]*")
_URL_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?")


@expecting("a path starting with / or an http(s) URL")
def base_url(v: Value, base: Path) -> str:
    """Check a site path or http(s) URL and return it ending in "/"."""
    raw = v.value
    if not isinstance(raw, str):
        raise Invalid(f"expected a path such as /models/; got {describe(v, want_text=True)}")
    example = "such as /models/ or https://example.com/models/"
    if raw.lower().startswith(("http://", "https://")):
        parts = urlsplit(raw)
        if not _URL_HOST.fullmatch(parts.netloc) or any(c in raw for c in "?#"):
            raise Invalid(f"expected an http(s) URL {example} (a host, no query); got {quote(raw)}")
        prefix, url_path = f"{parts.scheme.lower()}://{parts.netloc.lower()}", parts.path or "/"
    elif raw.startswith("/") and not raw.startswith("//"):  # "//host" would be another site
        prefix, url_path = "", raw
    else:
        raise Invalid(
            f"expected a path starting with '/' or a full URL, {example}; got {quote(raw)}"
        )
    segments = url_path.split("/")[1:-1]
    if not _URL_PATH.fullmatch(url_path) or any(s in ("", ".", "..") for s in segments):
        raise Invalid(
            "expected URL path segments of letters, digits and - . _ ~ % (no '..' or '//'), "
            f"{example}; got {quote(raw)}"
        )
    return prefix + url_path + ("" if url_path.endswith("/") else "/")


# Folders no build may replace, even with --force: the system's own and their like. Each is
# compared as written and resolved (/etc is /private/etc on macOS, /lib is /usr/lib where /usr
# is merged). Folders inside them (/var/www/site, /tmp/build) are ordinary outputs.
SYSTEM_FOLDERS = (
    # Linux
    "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media",
    "/mnt", "/nix", "/opt", "/proc", "/root", "/run", "/sbin", "/snap", "/srv", "/sys", "/tmp",
    "/usr", "/var", "/usr/bin", "/usr/include", "/usr/lib", "/usr/lib64", "/usr/libexec",
    "/usr/local", "/usr/local/bin", "/usr/local/lib", "/usr/local/share", "/usr/sbin",
    "/usr/share", "/usr/src", "/var/cache", "/var/lib", "/var/log", "/var/mail", "/var/spool",
    "/var/tmp",
    # macOS
    "/Applications", "/Library", "/System", "/Users", "/Volumes", "/cores", "/opt/homebrew",
    "/private", "/private/etc", "/private/tmp", "/private/var",
)  # fmt: skip
HOMES = ("/home", "/Users")  # every folder directly in them is someone's home
NEVER_REPLACED = (
    "a build replaces the whole output folder, so this would delete it "
    "— choose a folder of its own, such as dist"
)


def output_danger(
    output: Path,
    root: Path | None,
    has_file: bool,
    *,
    model: Path | None = None,
    templates: Path | None = None,
    samples: Path | None = None,
    runtime_dir: Path | None = None,
) -> str | None:
    """Say why no build may replace `output` (resolved), even with --force; None if one may.

    root is the project folder (None: no project to protect); the inputs are the folders or
    files the build reads, which the output may neither be, contain, nor lie inside.
    """
    if output == Path(output.anchor):
        return "is the root of the file system"
    try:
        home = Path.home().resolve()
    except (OSError, RuntimeError):  # no HOME and no passwd entry: nothing to protect there
        home = None
    if home is not None and output == home:
        return "is your home folder"
    if home is not None and output in home.parents:
        return "contains your home folder"
    system = {Path(folder) for folder in SYSTEM_FOLDERS}
    if output in system or output in {folder.resolve() for folder in system}:
        return "is a system folder"
    if str(output.parent) in HOMES:
        return "is a home folder"
    try:
        cwd: Path | None = Path.cwd()
    except OSError:  # deleted under us: nothing is left there to lose
        cwd = None
    project = "the project folder (where site.yaml is)" if has_file else "the current folder"
    # The output may lie inside these two (dist/ is in the project), never above them.
    for what, folder in [(project, root), ("the current folder", cwd)]:
        if folder is None:
            continue
        if output == folder:
            return f"is {what}"
        if output in folder.parents:
            return f"contains {what}"
    inputs = [
        ("the model export (model.path)", model),
        ("the templates folder", templates),
        ("the samples folder", samples),
        ("the TF.js runtime folder (runtime.dir)", runtime_dir),
    ]
    for what, given in inputs:
        if given is None:
            continue
        if output == given:
            return f"is {what}"
        if output in given.parents:
            return f"contains {what}"
        if given in output.parents:
            return f"is inside {what}"
    return None
