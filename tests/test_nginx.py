"""The generated nginx include file on Debian's real nginx: every file of the example site,
served under a sub-path, with the policy's headers and the sibling the request accepts."""

from __future__ import annotations

import pytest
from support.servers import (
    NGINX_BROTLI_MODULE,
    BuiltSite,
    build_example,
    check_every_file,
    classify_first_sample,
    ensure_packages,
    fetch,
    nginx,
    readable_folder,
)

from tmbuild.hosts.policy import HOST_FILE_NAMES, IMMUTABLE

BASE = "/demo/"


@pytest.fixture(scope="module")
def brotli() -> bool:
    ensure_packages("nginx")
    # Debian ships ngx_brotli's static module as a package of its own; without it, gzip only.
    return ensure_packages("libnginx-mod-http-brotli-static", required=False) and (
        NGINX_BROTLI_MODULE.exists()
    )


@pytest.fixture(scope="module")
def served(brotli) -> tuple[BuiltSite, str]:
    with readable_folder() as folder:
        site = build_example(folder / "www" / "demo", BASE, brotli=brotli)
        include = site.folder / "tmbuild-nginx.conf"
        with nginx(folder / "www", include, folder / "nginx", brotli) as url:
            yield site, url


def test_every_file_negotiates_its_sibling(served):
    site, url = served
    accepts = ["br, gzip", "gzip, deflate", "deflate", None]  # no .br siblings without brotli
    encoded = check_every_file(site, url, BASE, accepts)
    assert encoded >= 20  # the page, scripts, WASM, weights: not a site of images only


def test_brotli_when_debian_ships_the_module(served, brotli):
    if not brotli:
        pytest.skip("Debian's libnginx-mod-http-brotli-static could not be installed: gzip only")
    site, url = served
    response = fetch(url, BASE, "gzip, deflate, br")
    assert response.header("Content-Encoding") == "br"
    assert response.body == site.read("index.html.br")


def test_site_at_the_root(brotli):
    with readable_folder() as folder:
        site = build_example(folder / "www", "/", brotli=brotli)
        with nginx(
            site.folder, site.folder / "tmbuild-nginx.conf", folder / "nginx", brotli
        ) as url:
            page = fetch(url, "/", "gzip")
            assert page.body == site.read("index.html.gz")
            assert page.header("Cache-Control") == "no-cache"
            shard = next(p for p in site.policy.files if p.endswith(".bin"))
            assert fetch(url, "/" + shard, "gzip").header("Cache-Control") == IMMUTABLE
            assert fetch(url, "/tmbuild-nginx.conf").status == 404


def test_folder_is_its_revalidated_page(served):
    site, url = served
    response = fetch(url, BASE, "gzip")
    assert response.status == 200
    assert response.body == site.read("index.html.gz")
    assert response.header("Cache-Control") == "no-cache"
    assert response.header("Content-Type") == "text/html; charset=utf-8"


def test_hashed_files_are_immutable_and_the_page_is_not(served):
    site, url = served
    shard = next(p for p in site.policy.files if p.endswith(".bin"))
    assert fetch(url, BASE + shard).header("Cache-Control") == IMMUTABLE
    assert fetch(url, BASE + shard).header("Content-Type") == "application/octet-stream"
    wasm = next(p for p in site.policy.files if p.endswith(".wasm"))
    assert fetch(url, BASE + wasm).header("Content-Type") == "application/wasm"
    assert fetch(url, BASE + "index.html").header("Cache-Control") == "no-cache"
    manifest = fetch(url, BASE + "tmbuild-manifest.json")
    assert manifest.header("Cache-Control") == "no-cache"
    assert manifest.header("Content-Type") == "application/json; charset=utf-8"


@pytest.mark.parametrize("path", ["missing.html", "assets/missing.js", "models/x/missing.bin"])
def test_missing_files_are_404_with_security_headers_and_no_caching(served, path):
    site, url = served
    response = fetch(url, BASE + path, "br, gzip")
    assert response.status == 404
    assert response.header("Cache-Control") is None  # a 404 is never cached for a year
    for name, value in site.policy.security.items():
        assert response.header(name) == value


def test_host_files_are_not_served(served):
    site, url = served
    present = [name for name in HOST_FILE_NAMES if site.has(name)]
    assert len(present) == len(HOST_FILE_NAMES)  # built for every host: each file is there
    for name in present:
        assert fetch(url, BASE + name).status == 404, name


@pytest.mark.browser
def test_page_classifies_a_sample_in_chromium(served):
    site, url = served
    classify_first_sample(url + BASE)
