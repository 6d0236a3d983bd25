"""The site policy for servers you run: an nginx include file and an Apache `.htaccess`.

Both serve the pre-compressed `.br`/`.gz` siblings to browsers that accept them, with the type
of the file they compress, `Content-Encoding` and `Vary: Accept-Encoding`; both keep the hosts'
configuration files from being served. tests/test_nginx.py and tests/test_apache.py prove them
on Debian's servers.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from tmbuild.errors import TmbuildError
from tmbuild.hosts.policy import (
    CONTENT_TYPES,
    HASHED_DIRECTORIES,
    HOST_FILE_NAMES,
    IMMUTABLE,
    SIBLINGS,
    SitePolicy,
)

NGINX_NOTE = """\
# Written by tmbuild: caching, content types, security headers and the pre-compressed
# siblings for the site at {base}. Include it in the server block that serves it, with a
# root under which the site's files are at {base}:
#
#     server {{
#         root /srv/www;  # the built folder's files are in /srv/www{base}
#         include /srv/www{base}tmbuild-nginx.conf;
#     }}
#
# nginx drops a server's add_header lines in every location that has its own, so each
# location below repeats the security headers: add your own (such as HSTS) to each too.
"""
BROTLI_NOTE = """\
# brotli_static needs ngx_brotli's static module (Debian: libnginx-mod-http-brotli-static);
# without it, build with compress.brotli: false and this file serves the .gz siblings only.
"""


def _server_path(policy: SitePolicy, name: str) -> str:
    """The URL path servers match (%-escapes decoded), if a configuration file can name it."""
    base = policy.decoded_base_path
    if not re.fullmatch(r"/[A-Za-z0-9._~/ !&()*+,=:@-]*", base):
        raise TmbuildError(
            f"base_url: {policy.base_path} decodes to {base!r}, which {name} cannot name "
            "safely; choose a path of letters, digits and - . _ ~"
        )
    return base


def _mime_and_charset(content_type: str) -> tuple[str, bool]:
    mime, _, parameters = content_type.partition(";")
    return mime.strip(), "charset=utf-8" in parameters


def nginx_include(policy: SitePolicy, built: Collection[str]) -> bytes:
    """`tmbuild-nginx.conf`: one location for the site, nested ones for its cache classes."""
    base = _server_path(policy, "tmbuild-nginx.conf")
    brotli = any(path.endswith(".br") for path in built)
    types: dict[str, list[str]] = {}
    charset_types: list[str] = []
    for suffix, content_type in sorted(CONTENT_TYPES.items()):
        mime, has_charset = _mime_and_charset(content_type)
        types.setdefault(mime, []).append(suffix[1:])
        # charset_types always holds text/html: naming it again makes nginx warn.
        if has_charset and mime not in charset_types and mime != "text/html":
            charset_types.append(mime)
    # `always`: the security headers go on error pages too; Cache-Control does not, so that a
    # 404 for a hashed file (say, mid-deploy) is never cached for a year.
    security = [
        f"add_header {name} {_nginx_string(value)} always;"
        for name, value in policy.security.items()
    ]

    lines = [NGINX_NOTE.format(base=base) + (BROTLI_NOTE if brotli else "")]
    lines.append(f"location ^~ {_nginx_string(base)} {{")
    lines += ["    index index.html;", "    gzip_static on;"]
    lines += ["    brotli_static on;"] if brotli else []
    lines += [
        "    gzip_vary on;",
        "    # These replace the server's types for the site.",
        "    types {",
    ]
    lines += [f"        {mime} {' '.join(suffixes)};" for mime, suffixes in sorted(types.items())]
    lines += ["    }", "    default_type application/octet-stream;", "    charset utf-8;"]
    lines.append(f"    charset_types {' '.join(sorted(charset_types))};")
    lines += [f"    {line}" for line in security]

    def nested(match: str, path: str, body: list[str]) -> None:
        lines.append("")
        lines.append(f"    location {match} {_nginx_string(base + path)} {{")
        lines.extend(f"        {line}" for line in body)
        lines.append("    }")

    for directory in HASHED_DIRECTORIES:
        nested("^~", directory + "/", [f'add_header Cache-Control "{IMMUTABLE}";', *security])
    for path in policy.revalidated:
        if path:  # the folder itself is served as its index.html, revalidated below
            nested("=", path, ['add_header Cache-Control "no-cache";', *security])
    lines.append("")
    lines.append("    # The hosts' configuration files are not part of the site.")
    for name in HOST_FILE_NAMES:
        lines.append(f"    location = {_nginx_string(base + name)} {{ return 404; }}")
    lines.append("}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _nginx_string(text: str) -> str:
    if any(character in text for character in '$"\\'):
        raise ValueError(f"cannot write {text!r} in an nginx configuration")  # a bug, not input
    return text if re.fullmatch(r"[A-Za-z0-9/._~%:-]+", text) else f'"{text}"'


HTACCESS_NOTE = """\
# Written by tmbuild: caching, content types, security headers and the pre-compressed
# siblings for Apache httpd 2.4, for the site at {base}. It needs mod_rewrite and mod_headers
# (a2enmod rewrite headers) and, for this folder, AllowOverride FileInfo and
# Options FollowSymLinks (Debian's default). Without them Apache answers 500, which is better
# than a site served without its headers.
"""


def apache_htaccess(policy: SitePolicy) -> bytes:
    """`.htaccess`: rewrite to the sibling the browser accepts; headers by URL path."""
    base = _server_path(policy, ".htaccess")
    charset_suffixes = []
    lines = [HTACCESS_NOTE.format(base=base)]
    lines += [
        "# A sibling keeps the type of the file it compresses (app.js.br is JavaScript) and",
        "# says how it is encoded. Debian maps .br to the Breton language and .gz to a type.",
        "RemoveType .br .gz",
        "RemoveLanguage .br",
        "AddEncoding br .br",
        "AddEncoding gzip .gz",
    ]
    for suffix, content_type in sorted(CONTENT_TYPES.items()):
        mime, has_charset = _mime_and_charset(content_type)
        lines.append(f"AddType {mime} {suffix}")
        if has_charset:
            charset_suffixes.append(suffix)
    lines.append(f"AddCharset utf-8 {' '.join(charset_suffixes)}")

    host_files = "|".join(re.escape(name) for name in HOST_FILE_NAMES)
    lines += [
        "",
        "RewriteEngine On",
        f"RewriteBase {_apache_string(base, header=False)}",
        "# The hosts' configuration files are not part of the site.",
        f"RewriteRule ^(?:{host_files})$ - [R=404]",
        "# The pre-compressed sibling the browser accepts, Brotli first.",
    ]
    for encoding, suffix in SIBLINGS.items():
        lines += [
            rf"RewriteCond %{{HTTP:Accept-Encoding}} \b{encoding}\b",
            f"RewriteCond %{{REQUEST_FILENAME}}{suffix} -f",
            f"RewriteRule ^(.+)$ $1{suffix} [L]",
        ]
    lines += [
        "# Compressed already: keep mod_deflate and mod_brotli off them.",
        r"RewriteRule \.(?:br|gz)$ - [E=no-gzip:1,E=no-brotli:1]",
        "",
        "# `always`: on error pages too. Cache-Control is not, so that a 404 for a hashed file",
        "# (say, mid-deploy) is never cached for a year.",
    ]
    lines += [
        f"Header always set {name} {_apache_string(value)}"
        for name, value in policy.security.items()
    ]
    escaped_base = re.escape(base)
    # A file with siblings varies by Accept-Encoding whichever of them is sent.
    has_sibling = " || ".join(f"-f '%{{REQUEST_FILENAME}}{suffix}'" for suffix in SIBLINGS.values())
    lines.append(
        f'Header merge Vary Accept-Encoding "expr={has_sibling} || '
        '%{REQUEST_URI} =~ m#\\.(?:br|gz)$#"'
    )
    hashed = "|".join(re.escape(directory) for directory in HASHED_DIRECTORIES)
    lines.append(
        f'Header set Cache-Control "{IMMUTABLE}" '
        f'"expr=%{{REQUEST_URI}} =~ m#^{escaped_base}(?:{hashed})/#"'
    )
    revalidated = "|".join(re.escape(path) for path in policy.revalidated)
    lines.append(
        'Header set Cache-Control "no-cache" '
        f'"expr=%{{REQUEST_URI}} =~ m#^{escaped_base}(?:{revalidated})(?:\\.br|\\.gz)?$#"'
    )
    return ("\n".join(lines) + "\n").encode("utf-8")


def _apache_string(text: str, header: bool = True) -> str:
    if any(character in text for character in '"\\#\n'):
        raise ValueError(f"cannot write {text!r} in an .htaccess file")  # a bug, not input
    # mod_headers reads % as the start of a format specifier; %% is a literal one.
    return f'"{text.replace("%", "%%")}"' if header else f'"{text}"'
