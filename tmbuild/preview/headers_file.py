"""Reading a Netlify / Cloudflare Pages `_headers` file back the way those hosts apply it.

tmbuild.hosts.files writes the file; `tmbuild serve` and the tests read it with this, so the
preview and the browser tests run under the very headers a deploy sends.
"""

from __future__ import annotations

import re
from functools import lru_cache


def parse_headers_file(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The rules of a Netlify / Cloudflare Pages `_headers` file: (URL pattern, headers)."""
    rules: list[tuple[str, list[tuple[str, str]]]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            rules.append((line.strip(), []))
        elif rules:
            name, _, value = line.strip().partition(":")
            rules[-1][1].append((name.strip(), value.strip()))
    return rules


@lru_cache(maxsize=512)
def _pattern(pattern: str) -> re.Pattern[str]:
    # `*` (the splat) matches anything, slashes included; `:name` matches one path segment.
    regex = ""
    for token in re.split(r"(\*|:[A-Za-z_]\w*)", pattern):
        if token == "*":
            regex += ".*"
        elif token.startswith(":") and len(token) > 1:
            regex += "[^/]+"
        else:
            regex += re.escape(token)
    return re.compile(regex)


def matching_headers(
    rules: list[tuple[str, list[tuple[str, str]]]], *paths: str
) -> list[tuple[str, str]]:
    """The headers of every rule matching one of `paths` (a URL path as sent and as decoded),
    in file order; a name set by two rules gets both values, joined."""
    merged: dict[str, tuple[str, str]] = {}
    for pattern, headers in rules:
        if not any(_pattern(pattern).fullmatch(path) for path in paths):
            continue
        for name, value in headers:
            key = name.lower()
            if key in merged and key != "content-type":
                merged[key] = (merged[key][0], f"{merged[key][1]}, {value}")
            else:
                merged[key] = (name, value)
    return list(merged.values())
