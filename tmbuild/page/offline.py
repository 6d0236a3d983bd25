"""`offline: true`: a service worker that precaches the site, so it works without a network.

The worker is rendered from the `sw.js` template with the list of URLs to precache and a build
id made from the content of every one of them: any change to the site changes `sw.js`, which
is how browsers notice a new build.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from tmbuild.config.load import SiteConfig
from tmbuild.hosts.policy import SERVICE_WORKER
from tmbuild.page.render import Renderer

# What the page may fetch: itself, its assets (runtime, samples included) and the model files
# it loads. metadata.json is never fetched (the labels are in the page).
PRECACHED_DIRECTORIES = ("assets/", "models/")
PAGE = "index.html"


def precached_paths(files: dict[str, bytes]) -> list[str]:
    """The site's files the worker stores, by path, in a stable order."""
    return sorted(
        path
        for path in files
        if path == PAGE
        or (path.startswith(PRECACHED_DIRECTORIES) and not path.endswith("/metadata.json"))
    )


def service_worker(files: dict[str, bytes], config: SiteConfig) -> bytes:
    """`sw.js` for the site in `files` (before compression: the siblings are not fetched)."""
    site_path = urlsplit(config.base_url).path
    paths = precached_paths(files)
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path}\0{hashlib.sha256(files[path]).hexdigest()}\n".encode())
    context = {
        "site_path": site_path,
        "build_id": digest.hexdigest()[:16],
        # The page under its folder URL, the one visitors open.
        "precache": [site_path + ("" if path == PAGE else path) for path in paths],
    }
    return Renderer(config.templates).render(SERVICE_WORKER, context)
