"""The generated `.htaccess` on Debian's real Apache httpd: every file of the example site,
served under a sub-path through an Alias, with the policy's headers and the accepted sibling."""

from __future__ import annotations

import pytest
from support.servers import (
    BuiltSite,
    apache,
    build_example,
    check_every_file,
    classify_first_sample,
    ensure_packages,
    fetch,
    readable_folder,
)

from tmbuild.hosts.policy import HOST_FILE_NAMES, IMMUTABLE

BASE = "/demo/"


@pytest.fixture(scope="module")
def served() -> tuple[BuiltSite, str]:
    ensure_packages("apache2")
    with readable_folder() as folder:
        # Another folder name than the URL path: RewriteBase must come from base_url.
        site = build_example(folder / "built", BASE)
        with apache(site.folder, BASE, folder / "apache") as url:
            yield site, url


def test_every_file_negotiates_its_sibling(served):
    site, url = served
    # "gzip, deflate" meets Debian's mod_deflate too: the .gz sibling must not be gzipped again.
    encoded = check_every_file(site, url, BASE, ["br, gzip", "gzip, deflate", "deflate", None])
    assert encoded >= 20


def test_folder_is_its_revalidated_page(served):
    site, url = served
    for accept, sibling in (("br", ".br"), ("gzip", ".gz"), (None, "")):
        response = fetch(url, BASE, accept)
        assert response.status == 200
        assert response.body == site.read("index.html" + sibling)
        assert response.header("Cache-Control") == "no-cache"
        assert response.header("Content-Type") == "text/html; charset=utf-8"
        assert response.header("Content-Language") is None  # not Breton


def test_hashed_files_are_immutable_and_the_page_is_not(served):
    site, url = served
    shard = next(p for p in site.policy.files if p.endswith(".bin"))
    response = fetch(url, BASE + shard, "br")
    assert response.header("Cache-Control") == IMMUTABLE
    assert response.header("Content-Type") == "application/octet-stream"
    assert response.header("Content-Encoding") == "br"
    assert fetch(url, BASE + "index.html", "gzip").header("Cache-Control") == "no-cache"


@pytest.mark.parametrize("path", ["missing.html", "assets/missing.js", "models/x/missing.bin"])
def test_missing_files_are_404_with_security_headers_and_no_caching(served, path):
    site, url = served
    response = fetch(url, BASE + path, "br, gzip")
    assert response.status == 404
    assert response.header("Cache-Control") is None
    for name, value in site.policy.security.items():
        assert response.header(name) == value


def test_host_files_are_not_served(served):
    site, url = served
    assert all(site.has(name) for name in HOST_FILE_NAMES)
    for name in HOST_FILE_NAMES:
        assert fetch(url, BASE + name).status == 404, name


@pytest.mark.browser
def test_page_classifies_a_sample_in_chromium(served):
    site, url = served
    classify_first_sample(url + BASE)
