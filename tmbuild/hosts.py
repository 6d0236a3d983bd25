"""Host configuration files: one caching and security policy, written in each host's format.

The policy: hashed files (everything under assets/ and models/) are immutable for a year; the
page and the build manifest are revalidated on every visit; binary types are named explicitly
because some hosts guess wrong for `.bin` and `.wasm`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
HASHED_DIRECTORIES = ("assets", "models")
MANIFEST = "tmbuild-manifest.json"  # CI and `tmbuild diff` read it; never cache it stale

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".bin": "application/octet-stream",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
# The types hosts are known to get wrong or leave out; named file by file in `_headers`.
EXPLICIT_TYPES = (".bin", ".wasm", ".json", ".js")

# Cloudflare Pages' documented limits for `_headers`.
MAX_HEADER_RULES = 100
MAX_HEADER_LINE = 2000


@dataclass(frozen=True)
class Rule:
    pattern: str  # URL path, may end in `*`
    headers: dict[str, str] = field(default_factory=dict)


def content_security_policy(
    cdn_origin: str | None = None, script_hashes: Sequence[str] = ()
) -> str:
    """A CSP the generated page works under: no inline code but the page's hashed scripts."""
    extra = f" {cdn_origin}" if cdn_origin else ""
    hashes = "".join(f" {source}" for source in script_hashes)
    return "; ".join(
        [
            "default-src 'self'",
            # blob: too: the threaded WASM backend's workers load their script from one.
            f"script-src 'self' 'wasm-unsafe-eval' blob:{extra}{hashes}",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob: mediastream:",
            f"connect-src 'self'{extra}",
            # The threaded WASM backend starts its workers from blob: URLs.
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(
    cdn_origin: str | None = None, script_hashes: Sequence[str] = ()
) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(cdn_origin, script_hashes),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # The page may use the camera itself; nothing else, and no embedding site may.
        "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if cdn_origin is None:
        # Cross-origin isolation lets the WASM backend use threads. It needs every resource
        # to be same-origin (or opt in), which holds only when the runtime is bundled.
        headers["Cross-Origin-Embedder-Policy"] = "require-corp"
    return headers


def site_rules(
    paths: list[str],
    base_url: str,
    cdn_origin: str | None = None,
    script_hashes: Sequence[str] = (),
) -> list[Rule]:
    """The site's policy as path rules; `paths` are the files of the built site.

    `script_hashes` are the CSP hashes of the inline scripts the pages hold
    (tmbuild.page.INLINE_SCRIPT_HASHES).
    """
    rules = [Rule(f"{base_url}*", security_headers(cdn_origin, script_hashes))]
    rules.append(Rule(base_url, {"Cache-Control": REVALIDATE}))
    for path in paths:
        if path.endswith(".html") or path == MANIFEST:
            rules.append(Rule(base_url + path, {"Cache-Control": REVALIDATE}))
    for directory in HASHED_DIRECTORIES:
        rules.append(Rule(f"{base_url}{directory}/*", {"Cache-Control": IMMUTABLE}))
    for path in paths:
        suffix = PurePosixPath(path).suffix
        if suffix in EXPLICIT_TYPES:
            rules.append(Rule(base_url + path, {"Content-Type": CONTENT_TYPES[suffix]}))
    return rules


def netlify_headers(rules: list[Rule]) -> bytes:
    """`_headers` for Netlify and Cloudflare Pages (a request gets every matching rule)."""
    if len(rules) > MAX_HEADER_RULES:
        raise ValueError(f"{len(rules)} header rules; Cloudflare Pages accepts {MAX_HEADER_RULES}")
    lines = ["# Written by tmbuild: caching and security headers for Netlify / Cloudflare Pages."]
    for rule in rules:
        lines.append(rule.pattern)
        lines.extend(f"  {name}: {value}" for name, value in rule.headers.items())
    too_long = [line for line in lines if len(line) > MAX_HEADER_LINE]
    if too_long:
        raise ValueError(
            f"a _headers line is over {MAX_HEADER_LINE} characters: {too_long[0][:60]}"
        )
    return ("\n".join(lines) + "\n").encode("utf-8")


# Hosts whose configuration files are written today; the rest are accepted in site.yaml and
# reported as not written yet, so a build never pretends to have configured them.
WRITTEN_HOSTS = ("netlify", "cloudflare", "github-pages")


def host_files(hosts: tuple[str, ...], rules: list[Rule]) -> dict[str, bytes]:
    """The configuration files the chosen hosts read, by path in the built site."""
    files: dict[str, bytes] = {}
    if {"netlify", "cloudflare"} & set(hosts):
        files["_headers"] = netlify_headers(rules)
    if "github-pages" in hosts:
        files[".nojekyll"] = b""
    return files
