"""The site policy (tmbuild.hosts.policy) written as each host's configuration file.

Platforms that compress on their own (Netlify, Cloudflare Pages, Vercel, Firebase) get header
rules; nginx and Apache (tmbuild.hosts.servers) serve the pre-compressed siblings; S3 cannot
negotiate, so its plan uploads one chosen encoding under each file's own name. Every file is
deterministic: sorted, no timestamps, no absolute paths.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Collection, Sequence

from tmbuild.errors import TmbuildError
from tmbuild.hosts.policy import HOST_FILE_NAMES, HOST_FILES, SIBLINGS, Rule, SitePolicy, site_rules
from tmbuild.hosts.servers import apache_htaccess, nginx_include

# Cloudflare Pages' documented limits for `_headers`.
MAX_HEADER_RULES = 100
MAX_HEADER_LINE = 2000

GITHUB_PAGES_NOTE = (
    "hosts: GitHub Pages cannot send custom headers: the site gets GitHub's caching "
    "(10 minutes for every file), no Content-Security-Policy and no cross-origin isolation "
    "(the WASM backend runs on one thread)"
)


def host_files(
    hosts: Sequence[str], policy: SitePolicy, built: Collection[str]
) -> dict[str, bytes]:
    """The configuration files the chosen hosts read, by path in the built site.

    `built` is every path of the site so far, the pre-compressed siblings included.
    """
    writers = {
        "_headers": lambda: netlify_headers(site_rules(policy)),
        "vercel.json": lambda: vercel_json(policy),
        "firebase.json": lambda: firebase_json(policy),
        "tmbuild-nginx.conf": lambda: nginx_include(policy, built),
        ".htaccess": lambda: apache_htaccess(policy),
        "tmbuild-s3.json": lambda: s3_plan(policy, built),
        "tmbuild-s3.sh": lambda: s3_script(policy, built),
        ".nojekyll": lambda: b"",
    }
    names = sorted({name for host in hosts for name in HOST_FILES[host]})
    return {name: writers[name]() for name in names}


def host_notes(hosts: Sequence[str]) -> list[str]:
    """What the build summary must say about the chosen hosts."""
    return [GITHUB_PAGES_NOTE] if "github-pages" in hosts else []


def netlify_headers(rules: list[Rule]) -> bytes:
    """`_headers` for Netlify and Cloudflare Pages (a request gets every matching rule)."""
    if len(rules) > MAX_HEADER_RULES:
        raise TmbuildError(
            f"hosts: the site needs {len(rules)} _headers rules and Cloudflare Pages accepts "
            f"{MAX_HEADER_RULES}: raise model.shard_size so that the weights fit in fewer files"
        )
    lines = ["# Written by tmbuild: caching and security headers for Netlify / Cloudflare Pages."]
    for rule in rules:
        lines.append(rule.pattern)
        lines.extend(f"  {name}: {value}" for name, value in rule.headers.items())
    too_long = [line for line in lines if len(line) > MAX_HEADER_LINE]
    if too_long:
        raise TmbuildError(
            f"hosts: a _headers line is over Cloudflare's {MAX_HEADER_LINE} characters: "
            f"{too_long[0][:60]}"
        )
    return ("\n".join(lines) + "\n").encode("utf-8")


def vercel_json(policy: SitePolicy) -> bytes:
    """`vercel.json`: header rules (path-to-regexp sources) and, under a sub-path, a rewrite."""
    headers = [
        {"source": _pattern(rule.pattern, "(.*)"), "headers": _key_values(rule.headers)}
        for rule in site_rules(policy)
    ]
    config: dict = {"headers": headers}
    if policy.base_path != "/":
        # The folder is deployed as the domain's root, and the page asks for base_url's path.
        config["rewrites"] = [{"source": policy.url(":path*"), "destination": "/:path*"}]
    return _json(config)


def firebase_json(policy: SitePolicy) -> bytes:
    """`firebase.json`: public is the folder it sits in; headers by glob; siblings not uploaded.

    Firebase compresses on its own, so the .br/.gz siblings would only cost upload time.
    """
    ignore = sorted(f"**/{name}" for name in HOST_FILE_NAMES if not name.startswith("."))
    ignore += ["**/.*", *sorted(f"**/*{suffix}" for suffix in SIBLINGS.values())]
    headers = [
        {"source": _pattern(rule.pattern, "**"), "headers": _key_values(rule.headers)}
        for rule in site_rules(policy)
    ]
    return _json({"hosting": {"public": ".", "ignore": ignore, "headers": headers}})


def _pattern(pattern: str, wildcard: str) -> str:
    return pattern[:-1] + wildcard if pattern.endswith("*") else pattern


def _key_values(headers: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": name, "value": value} for name, value in headers.items()]


def _json(data: dict) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


# --- S3 ------------------------------------------------------------------------------------------


def s3_objects(policy: SitePolicy, built: Collection[str]) -> list[dict]:
    """Every object to upload, hashed files first and the page last.

    A visitor arriving mid-upload then never gets a page that names files not there yet.
    """
    objects = []
    for path in policy.files:
        headers = policy.headers(path)
        siblings = {
            encoding: path + suffix
            for encoding, suffix in SIBLINGS.items()
            if path + suffix in built
        }
        objects.append(
            {
                "file": path,
                "key": policy.decoded_base_path.lstrip("/") + path,
                "content_type": headers["Content-Type"],
                "cache_control": headers.get("Cache-Control"),
                "encoded": siblings,
            }
        )
    objects.sort(key=lambda o: (o["file"] in policy.revalidated, o["file"].endswith(".html")))
    return objects


def s3_plan(policy: SitePolicy, built: Collection[str]) -> bytes:
    """`tmbuild-s3.json`: what tmbuild-s3.sh uploads, for other tools to read."""
    return _json(
        {
            "written_by": "tmbuild; upload with tmbuild-s3.sh, or read this from your own tool",
            "objects": s3_objects(policy, built),
            # S3 sends only Content-Type, Cache-Control and Content-Encoding of these.
            "response_headers_policy": policy.security,
        }
    )


S3_SCRIPT_HEAD = """\
#!/bin/sh
# Written by tmbuild: upload the site to S3 with each file's Content-Type and Cache-Control
# (the objects of tmbuild-s3.json). S3 cannot choose an encoding per request, so choose one:
#   gzip      (default) the .gz siblings, sent as Content-Encoding: gzip; every browser takes it
#   br        the .br siblings: smaller, but browsers ask for br over HTTPS only (CloudFront)
#   identity  the files as they are
# Usage: sh tmbuild-s3.sh s3://BUCKET[/PREFIX] [gzip|br|identity] [--dry-run]
# --dry-run prints the aws commands instead of running them. The security headers in
# tmbuild-s3.json's response_headers_policy need a CloudFront response headers policy.
set -eu
usage="usage: sh tmbuild-s3.sh s3://BUCKET[/PREFIX] [gzip|br|identity] [--dry-run]"
case ${1:-} in s3://?*) ;; *) echo "$usage" >&2; exit 2 ;; esac
target=${1%/}
encoding=${2:-gzip}
case $encoding in gzip | br | identity) ;; *) echo "$usage" >&2; exit 2 ;; esac
dry_run=${3:-}
case $dry_run in "" | --dry-run) ;; *) echo "$usage" >&2; exit 2 ;; esac
cd "$(dirname "$0")"

run() {
  if [ -n "$dry_run" ]; then
    printf "'%s' " "$@" && echo
  else
    "$@"
  fi
}

# put FILE KEY CONTENT-TYPE CACHE-CONTROL BR-SIBLING GZIP-SIBLING (empty: none)
put() {
  file=$1 sent=
  case $encoding in
    br) [ -z "$5" ] || file=$5 sent=br ;;
    gzip) [ -z "$6" ] || file=$6 sent=gzip ;;
  esac
  run aws s3 cp "$file" "$target/$2" --content-type "$3" ${4:+--cache-control "$4"} \\
    ${sent:+--content-encoding "$sent"}
}

"""


def s3_script(policy: SitePolicy, built: Collection[str]) -> bytes:
    """`tmbuild-s3.sh`: the plan as POSIX sh calling the standard AWS CLI, one object a line."""
    lines = []
    for entry in s3_objects(policy, built):
        arguments = [
            entry["file"],
            entry["key"],
            entry["content_type"],
            entry["cache_control"] or "",
            entry["encoded"].get("br", ""),
            entry["encoded"].get("gzip", ""),
        ]
        lines.append("put " + " ".join(shlex.quote(argument) for argument in arguments))
    return (S3_SCRIPT_HEAD + "\n".join(lines) + "\n").encode("utf-8")
