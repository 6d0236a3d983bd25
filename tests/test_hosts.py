"""Host configuration files: one policy in every format, base_url honoured, deterministic.

nginx and Apache are proven on real servers in test_nginx.py and test_apache.py; here the
header-rule formats are read back rule by rule and checked against the same policy, and the S3
upload script is run for real (in its --dry-run mode, as there is no S3 here).
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, write_export
from support.browser import parse_headers_file

from tmbuild.build import build
from tmbuild.cli import cli
from tmbuild.config.load import HOSTS, load_config
from tmbuild.errors import TmbuildError
from tmbuild.hosts.files import GITHUB_PAGES_NOTE, MAX_HEADER_RULES, netlify_headers
from tmbuild.hosts.policy import EXPLICIT_TYPES, HOST_FILE_NAMES, HOST_FILES, Rule, site_policy
from tmbuild.page.assemble import INLINE_SCRIPT_HASHES


def _build(tmp_path: Path, base_url: str = "/demo/", hosts=HOSTS, output: str = "dist"):
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path / output, "base_url": base_url})
    result = build(replace(config, hosts=hosts))
    policy = site_policy(result.files, config.base_url, None, INLINE_SCRIPT_HASHES)
    return result, policy, tmp_path / output


@pytest.fixture(scope="module")
def every_host(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("hosts"))


def test_every_host_in_site_yaml_has_its_files():
    assert set(HOST_FILES) == set(HOSTS)


def test_build_writes_each_hosts_files_and_only_those(tmp_path):
    for host in HOSTS:
        result, _, _ = _build(tmp_path, hosts=(host,), output=host)
        assert {p for p in result.files if p in HOST_FILE_NAMES} == set(HOST_FILES[host]), host
    result, _, site = _build(tmp_path, hosts=(), output="none")
    assert not any((site / name).exists() for name in HOST_FILE_NAMES)


def test_host_files_are_deterministic_and_name_no_local_path(tmp_path, monkeypatch, every_host):
    first, _, _ = every_host
    monkeypatch.chdir(tmp_path)
    second, _, _ = _build(tmp_path, output="again")
    for name in HOST_FILE_NAMES:
        assert first.files[name] == second.files[name], name
        assert str(tmp_path) not in second.files[name].decode(), name
        assert str(ROOT) not in second.files[name].decode(), name


def test_host_files_get_no_siblings_and_the_manifest_lists_them(every_host):
    result, _, _ = every_host
    assert not [p for p in result.files if p[:-3] in HOST_FILE_NAMES]
    manifest = json.loads(result.files["tmbuild-manifest.json"])
    assert set(HOST_FILE_NAMES) <= {entry["path"] for entry in manifest["files"]}


def _matching(rules: list[tuple[str, dict]], url: str, wildcard: str) -> dict[str, str]:
    """Every matching rule's headers, the way these hosts apply them; no header set twice."""
    headers: dict[str, str] = {}
    for pattern, rule_headers in rules:
        prefix = pattern[: -len(wildcard)] if pattern.endswith(wildcard) else None
        if url == pattern or (prefix is not None and url.startswith(prefix)):
            assert not set(headers) & set(rule_headers), (url, pattern)
            headers.update(rule_headers)
    return headers


def _expected(policy, path: str) -> dict[str, str]:
    """The policy's headers, Content-Type only where the rule formats name it (EXPLICIT_TYPES)."""
    headers = policy.headers(path)
    if Path(path).suffix not in EXPLICIT_TYPES:
        del headers["Content-Type"]
    return headers


def _header_rules(site: Path, name: str) -> tuple[list[tuple[str, dict]], str]:
    if name == "_headers":
        rules = parse_headers_file((site / "_headers").read_text())
        return [(pattern, dict(headers)) for pattern, headers in rules], "*"
    config = json.loads((site / name).read_text())
    entries = config["headers"] if name == "vercel.json" else config["hosting"]["headers"]
    rules = [(e["source"], {h["key"]: h["value"] for h in e["headers"]}) for e in entries]
    return rules, "(.*)" if name == "vercel.json" else "**"


@pytest.mark.parametrize("name", ["_headers", "vercel.json", "firebase.json"])
def test_header_rules_give_every_file_the_policy(every_host, name):
    _, policy, site = every_host
    rules, wildcard = _header_rules(site, name)
    for path in policy.files:
        assert _matching(rules, policy.url(path), wildcard) == _expected(policy, path), path
    # The folder itself is the page: revalidated, with the security headers.
    assert _matching(rules, "/demo/", wildcard) == {**policy.security, "Cache-Control": "no-cache"}


@pytest.mark.parametrize("base_url", ["/", "/demo/", "https://example.com/a/b/"])
def test_base_url_is_honoured_by_every_file(tmp_path, base_url):
    result, policy, _ = _build(tmp_path, base_url=base_url)
    base = policy.base_path
    text = {name: result.files[name].decode() for name in HOST_FILE_NAMES}
    assert all(line.startswith((base, "  ", "#")) for line in text["_headers"].splitlines())
    vercel = json.loads(text["vercel.json"])
    assert all(rule["source"].startswith(base) for rule in vercel["headers"])
    if base == "/":
        assert "rewrites" not in vercel
    else:
        assert vercel["rewrites"] == [{"source": f"{base}:path*", "destination": "/:path*"}]
    firebase = json.loads(text["firebase.json"])["hosting"]
    assert firebase["public"] == "."
    assert all(rule["source"].startswith(base) for rule in firebase["headers"])
    locations = re.findall(r"location (?:\^~|=) (\S+)", text["tmbuild-nginx.conf"])
    assert len(locations) > 10 and all(location.startswith(base) for location in locations)
    assert f'RewriteBase "{base}"' in text[".htaccess"]
    assert text[".htaccess"].count(f"%{{REQUEST_URI}} =~ m#^{re.escape(base)}") == 2
    keys = [entry["key"] for entry in json.loads(text["tmbuild-s3.json"])["objects"]]
    assert sorted(keys) == sorted(base[1:] + path for path in policy.files)


def test_firebase_uploads_neither_host_files_nor_siblings(every_host):
    result, policy, site = every_host
    ignore = json.loads((site / "firebase.json").read_text())["hosting"]["ignore"]

    def ignored(path: str) -> bool:
        # Firebase matches ignore globs against paths in the public folder; ** spans folders.
        return any(
            fnmatch.fnmatchcase("/" + path, "/" + glob.replace("**/", "*/"))
            or fnmatch.fnmatchcase(path, glob.removeprefix("**/"))
            for glob in ignore
        )

    for path in result.files:
        expected = path not in policy.files
        assert ignored(path) == expected, path


def test_nginx_include_is_gzip_only_without_brotli_siblings(tmp_path):
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path / "dist"})
    config = replace(config, hosts=("nginx",), compress=replace(config.compress, brotli=False))
    include = build(config).files["tmbuild-nginx.conf"].decode()
    assert "gzip_static on;" in include and "brotli_static" not in include


def _s3(site: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(site / "tmbuild-s3.sh"), *arguments], capture_output=True, text=True
    )


@pytest.mark.parametrize("encoding", ["gzip", "br", "identity"])
def test_s3_script_uploads_each_object_once_with_its_headers(every_host, encoding):
    result, policy, site = every_host
    run = _s3(site, "s3://bucket/", encoding, "--dry-run")
    assert run.returncode == 0, run.stderr
    uploads = [re.findall(r"'([^']*)'", line) for line in run.stdout.splitlines()]
    assert [u[:3] for u in uploads] == [["aws", "s3", "cp"]] * len(policy.files)
    keys = [u[4] for u in uploads]
    assert sorted(keys) == sorted(f"s3://bucket/demo/{path}" for path in policy.files)
    assert keys[-1] == "s3://bucket/demo/index.html"  # the page last: its files are there first
    suffix = {"gzip": ".gz", "br": ".br"}.get(encoding)
    for upload in uploads:
        path = upload[4].removeprefix("s3://bucket/demo/")
        options = dict(zip(upload[5::2], upload[6::2], strict=True))
        assert options.pop("--content-type") == policy.content_type(path)
        assert options.pop("--cache-control") == policy.cache_control(path)
        if suffix and path + suffix in result.files:
            assert upload[3] == path + suffix
            assert options == {"--content-encoding": encoding}
        else:
            assert upload[3] == path and options == {}
        assert (site / upload[3]).is_file()


def test_s3_script_refuses_bad_arguments(every_host):
    _, _, site = every_host
    for arguments in [(), ("bucket",), ("s3://bucket", "zstd"), ("s3://b", "gzip", "--now")]:
        run = _s3(site, *arguments)
        assert run.returncode == 2 and run.stderr.startswith("usage: sh tmbuild-s3.sh"), arguments


def test_s3_plan_matches_the_script(every_host):
    result, policy, site = every_host
    plan = json.loads((site / "tmbuild-s3.json").read_text())
    assert plan["response_headers_policy"] == policy.security
    run = _s3(site, "s3://bucket", "br", "--dry-run")
    sent = [re.findall(r"'([^']*)'", line)[3] for line in run.stdout.splitlines()]
    assert sent == [entry["encoded"].get("br", entry["file"]) for entry in plan["objects"]]


def test_too_many_header_rules_is_one_clear_error():
    rules = [
        Rule(f"/file-{n}.bin", {"Content-Type": "application/octet-stream"})
        for n in range(MAX_HEADER_RULES + 1)
    ]
    with pytest.raises(TmbuildError, match="101 _headers rules.*raise model.shard_size"):
        netlify_headers(rules)


def test_github_pages_build_says_custom_headers_are_impossible(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_export(tmp_path / "model")
    (tmp_path / "site.yaml").write_text("model:\n  path: model\nhosts: [github-pages]\n")
    result = CliRunner().invoke(cli, ["build"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"warning: {GITHUB_PAGES_NOTE}\n" in result.output
    assert (tmp_path / "dist" / ".nojekyll").read_bytes() == b""
    assert not (tmp_path / "dist" / "_headers").exists()
    check = CliRunner().invoke(cli, ["check"], catch_exceptions=False)
    assert check.exit_code == 0 and GITHUB_PAGES_NOTE in check.output
    # Said once per output folder; -v says it again.
    again = CliRunner().invoke(cli, ["build"], catch_exceptions=False)
    assert again.exit_code == 0 and GITHUB_PAGES_NOTE not in again.output
    verbose = CliRunner().invoke(cli, ["build", "-v"], catch_exceptions=False)
    assert GITHUB_PAGES_NOTE in verbose.output
    quiet = CliRunner().invoke(cli, ["build", "-q", "-o", "elsewhere"], catch_exceptions=False)
    assert (quiet.exit_code, quiet.output) == (0, "")
