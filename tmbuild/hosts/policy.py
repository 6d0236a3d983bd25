"""Host configuration files: one caching and security policy, written in each host's format.

The policy: hashed files (everything under assets/ and models/) are immutable for a year; the
pages, the scripts outside those folders (a service worker, an embedded classifier's
tmbuild.js) and the build manifest are revalidated on every visit; binary types are named explicitly
because some hosts guess wrong for `.bin` and `.wasm`; every response carries the security
headers. tmbuild.hosts.files writes it for each host that `hosts:` in site.yaml names.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from tmbuild.output.manifest import MANIFEST_NAME

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
HASHED_DIRECTORIES = ("assets", "models")
# `offline: true`: browsers look for a new service worker on every visit; a cached one would
# keep visitors on an old build.
SERVICE_WORKER = "sw.js"
SIBLINGS = {"br": ".br", "gzip": ".gz"}  # Content-Encoding -> suffix of the pre-compressed file

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
    ".gif": "image/gif",
}
# The types hosts are known to get wrong or leave out; named file by file in `_headers`.
EXPLICIT_TYPES = (".bin", ".wasm", ".json", ".js")

# Every host's own file, by host. None of them is part of the site: each format keeps them all
# from being served or uploaded where the host allows it.
HOST_FILES = {
    "netlify": ("_headers",),
    "cloudflare": ("_headers",),
    "vercel": ("vercel.json",),
    "firebase": ("firebase.json",),
    "nginx": ("tmbuild-nginx.conf",),
    "apache": (".htaccess",),
    "s3": ("tmbuild-s3.json", "tmbuild-s3.sh"),
    "github-pages": (".nojekyll",),
}
HOST_FILE_NAMES = tuple(sorted({name for names in HOST_FILES.values() for name in names}))


@dataclass(frozen=True)
class Rule:
    pattern: str  # URL path, may end in `*`
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SitePolicy:
    """What every host must send for the site's files, whatever its configuration format."""

    base_path: str  # the URL path the site is served under, as in base_url: "/" or "/demo/"
    files: tuple[str, ...]  # the site's files by path, sorted; no siblings, no host files
    security: dict[str, str]  # on every response, errors included

    def url(self, path: str) -> str:
        return self.base_path + path

    @property
    def decoded_base_path(self) -> str:
        """base_path with %-escapes decoded: what servers match and S3 keys are named by."""
        return unquote(self.base_path)

    @property
    def revalidated(self) -> tuple[str, ...]:
        """The paths revalidated on every visit; "" is the site's folder (its index.html).

        The manifest is among them: CI and `tmbuild diff` read it, so it is never cached stale.
        """
        return (
            "",
            *(
                p
                for p in self.files
                if p.endswith(".html")
                or p == MANIFEST_NAME
                or (p.endswith(".js") and p.split("/", 1)[0] not in HASHED_DIRECTORIES)
            ),
        )

    def cache_control(self, path: str) -> str | None:
        if path.split("/", 1)[0] in HASHED_DIRECTORIES:
            return IMMUTABLE
        return REVALIDATE if path in self.revalidated else None

    def content_type(self, path: str) -> str:
        return CONTENT_TYPES.get(PurePosixPath(path).suffix.lower(), "application/octet-stream")

    def headers(self, path: str) -> dict[str, str]:
        """The headers one file is served with (besides any Content-Encoding)."""
        headers = {"Content-Type": self.content_type(path), **self.security}
        cache = self.cache_control(path)
        if cache:
            headers["Cache-Control"] = cache
        return headers


def content_security_policy(
    cdn_origin: str | None = None,
    script_hashes: Sequence[str] = (),
    extra: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """A CSP the generated page works under: no inline code but the page's hashed scripts.

    `extra` adds the site's own sources per directive (site.yaml `csp:`); for
    frame-ancestors they replace 'none', since no other site may frame the page otherwise.
    """
    cdn = [cdn_origin] if cdn_origin else []
    directives = {
        "default-src": ["'self'"],
        # blob: too: the threaded WASM backend's workers load their script from one.
        "script-src": ["'self'", "'wasm-unsafe-eval'", "blob:", *cdn, *script_hashes],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:", "mediastream:"],
        "connect-src": ["'self'", *cdn],
        # The threaded WASM backend starts its workers from blob: URLs.
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
    for directive, sources in (extra or {}).items():
        if not sources:
            continue
        if directive == "frame-ancestors":
            directives[directive] = list(sources)
            continue
        present = directives.setdefault(directive, ["'self'"])
        present += [source for source in sources if source not in present]
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def security_headers(
    cdn_origin: str | None = None,
    script_hashes: Sequence[str] = (),
    isolated: bool = False,
    extra_sources: Mapping[str, Sequence[str]] | None = None,
    shared: bool = False,
    device: str = "camera",
) -> dict[str, str]:
    # The page may use its one device itself (the camera, or an audio model's microphone);
    # nothing else, and no embedding site may.
    allowed = {name: "(self)" if name == device else "()" for name in ("camera", "microphone")}
    headers = {
        "Content-Security-Policy": content_security_policy(
            cdn_origin, script_hashes, extra_sources
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": f"camera={allowed['camera']}, microphone={allowed['microphone']}, "
        "geolocation=()",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if isolated:
        # Cross-origin isolation lets the WASM backend use threads (runtime.wasm_threads). It
        # needs every resource to be same-origin (or opt in), so it is sent only when asked
        # for: otherwise a designer's cross-origin image or video would break for no gain.
        headers["Cross-Origin-Embedder-Policy"] = "require-corp"
    if shared:
        # embed: element: other sites' pages load the classifier's script, model and kernels
        # (module scripts and fetches are CORS requests); they are public, like any page.
        headers["Access-Control-Allow-Origin"] = "*"
        headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return headers


def site_policy(
    paths: Collection[str],
    base_url: str,
    cdn_origin: str | None = None,
    script_hashes: Sequence[str] = (),
    isolated: bool = False,
    extra_sources: Mapping[str, Sequence[str]] | None = None,
    shared: bool = False,
    device: str = "camera",
) -> SitePolicy:
    """The policy for a site of these files; siblings and host files in `paths` are left out.

    `script_hashes` are the CSP hashes of the inline scripts the pages hold
    (tmbuild.page.assemble.INLINE_SCRIPT_HASHES); `shared` lets other sites load the files
    (an embedded classifier); `device` is what the page may open: the camera, or an audio
    model's microphone. A full-URL base_url counts by its path alone:
    hosts match requests by path, and the browser asks for base_url's path.
    """
    known = set(paths)
    files = tuple(
        sorted(p for p in known if not _is_sibling(p, known) and p not in HOST_FILE_NAMES)
    )
    return SitePolicy(
        urlsplit(base_url).path or "/",
        files,
        security_headers(cdn_origin, script_hashes, isolated, extra_sources, shared, device),
    )


def _is_sibling(path: str, paths: Collection[str]) -> bool:
    return any(path.endswith(s) and path[: -len(s)] in paths for s in SIBLINGS.values())


def site_rules(policy: SitePolicy) -> list[Rule]:
    """The policy as path rules, each header set once; a request gets every matching rule."""
    rules = [Rule(policy.url("*"), dict(policy.security))]
    rules += [Rule(policy.url(path), {"Cache-Control": REVALIDATE}) for path in policy.revalidated]
    for directory in HASHED_DIRECTORIES:
        rules.append(Rule(policy.url(f"{directory}/*"), {"Cache-Control": IMMUTABLE}))
    for path in policy.files:
        if PurePosixPath(path).suffix in EXPLICIT_TYPES:
            rules.append(Rule(policy.url(path), {"Content-Type": policy.content_type(path)}))
    return rules
