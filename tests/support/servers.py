"""Real web servers for the host tests: Debian's nginx and Apache httpd, run privately.

Each server is installed with apt-get when missing (through sudo when not root; the test is
skipped, saying why, only when that is impossible), then started in the foreground with its own
configuration, pid file and logs in a private folder, on a free loopback port, and stopped at the
end. Nothing under /etc is changed and no system service is started or stopped.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import ROOT

from tmbuild.build import build
from tmbuild.config.load import HOSTS, load_config
from tmbuild.hosts.policy import SIBLINGS, SitePolicy, site_policy
from tmbuild.page.assemble import INLINE_SCRIPT_HASHES

NGINX = "/usr/sbin/nginx"
NGINX_BROTLI_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_static_module.so")
APACHE = "/usr/sbin/apache2"
APACHE_MODULES = Path("/usr/lib/apache2/modules")
STARTUP_SECONDS = 10


# --- installing -----------------------------------------------------------------------------------


def _installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
    )
    return result.returncode == 0 and result.stdout.endswith(" installed")


def ensure_packages(*packages: str, required: bool = True) -> bool:
    """Install the Debian packages that are missing; skip the test (or say False) if we cannot."""
    missing = [package for package in packages if not _installed(package)]
    if not missing:
        return True
    if shutil.which("apt-get") is None or shutil.which("dpkg-query") is None:
        reason = f"cannot install {', '.join(missing)}: this is not a Debian system"
        return _cannot(reason, required)
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            return _cannot(f"cannot install {', '.join(missing)}: not root and no sudo", required)
        prefix = ["sudo", "-n"]
    apt = [*prefix, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-qq"]
    install = [*apt, "-o", "DPkg::Lock::Timeout=120", "install", "-y", "--no-install-recommends"]
    result = subprocess.run([*install, *missing], capture_output=True, text=True)
    if result.returncode != 0:  # a fresh machine has no package lists yet
        subprocess.run([*apt, "update"], capture_output=True, text=True)
        result = subprocess.run([*install, *missing], capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        return _cannot(f"apt-get could not install {', '.join(missing)}: {detail[0]}", required)
    return True


def _cannot(reason: str, required: bool) -> bool:
    if required:
        pytest.skip(reason)
    return False


# --- a site to serve ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltSite:
    folder: Path  # the built files
    policy: SitePolicy

    def read(self, path: str) -> bytes:
        return (self.folder / path).read_bytes()

    def has(self, path: str) -> bool:
        return (self.folder / path).is_file()


@contextlib.contextmanager
def readable_folder() -> Iterator[Path]:
    """A private temporary folder that a server's unprivileged workers can read."""
    # pytest's tmp_path sits in a folder only its user can enter, and a server started as root
    # reads files as nobody or www-data.
    folder = Path(tempfile.mkdtemp(prefix="tmbuild-server-"))
    try:
        folder.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def build_example(output: Path, base_url: str, brotli: bool = True) -> BuiltSite:
    """Build the example site (ROOT/site.yaml) at base_url, with every host's files."""
    config, _ = load_config(ROOT / "site.yaml", {"output": output, "base_url": base_url})
    # With WASM threads, so the host files also carry the cross-origin isolation headers.
    config = replace(
        config,
        hosts=HOSTS,
        compress=replace(config.compress, brotli=brotli),
        runtime=replace(config.runtime, wasm_threads=True),
    )
    result = build(config)
    policy = site_policy(result.files, config.base_url, None, INLINE_SCRIPT_HASHES, isolated=True)
    return BuiltSite(output, policy)


# --- running a server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def run_server(command: list[str], port: int, log: Path) -> Iterator[str]:
    """Run a server in the foreground until the block ends; yields http://127.0.0.1:port."""
    with open(log, "ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{command[0]} exited: {log.read_text(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{command[0]} did not listen on {port}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get_all(name)
        assert values is None or len(values) == 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None


def fetch(base: str, path: str, accept_encoding: str | None = None) -> Response:
    """GET a path with exactly this Accept-Encoding (None: no such header); nothing decoded."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        # skip_accept_encoding: http.client would otherwise send "identity" of its own.
        connection.putrequest("GET", path, skip_accept_encoding=True)
        if accept_encoding is not None:
            connection.putheader("Accept-Encoding", accept_encoding)
        connection.endheaders()
        response = connection.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        connection.close()


def expected_encoding(site: BuiltSite, path: str, accept: str | None) -> str | None:
    """The sibling a server should send for this Accept-Encoding: the first accepted one."""
    for encoding in (accept or "").replace(" ", "").split(","):
        if encoding in SIBLINGS and site.has(path + SIBLINGS[encoding]):
            return encoding
    return None


def check_every_file(site: BuiltSite, url: str, base: str, accepts: list) -> int:
    """Fetch every file of the site with each Accept-Encoding and check it all; say how many
    responses were encoded."""
    encoded = 0
    for path in site.policy.files:
        has_siblings = any(site.has(path + suffix) for suffix in SIBLINGS.values())
        for accept in accepts:
            response = fetch(url, base + path, accept)
            encoding = expected_encoding(site, path, accept)
            where = (path, accept)
            assert response.status == 200, where
            assert response.body == site.read(path + SIBLINGS.get(encoding, "")), where
            assert response.header("Content-Encoding") == encoding, where
            assert response.header("Content-Type") == site.policy.content_type(path), where
            assert response.header("Cache-Control") == site.policy.cache_control(path), where
            assert response.header("Vary") == ("Accept-Encoding" if has_siblings else None), where
            for name, value in site.policy.security.items():
                assert response.header(name) == value, (*where, name)
            encoded += encoding is not None
    return encoded


def classify_first_sample(page_url: str) -> None:
    """Open the page in Chromium and classify its first sample image through the page's API."""
    from support.browser import CLASSIFY_SAMPLE, chromium

    with chromium() as context:
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on(
            "response",
            lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.goto(page_url)
        page.evaluate("window.tmbuild.ready")
        src = page.get_attribute(".sample >> nth=0", "data-tm-sample")
        assert src.startswith(urlsplit(page_url).path)
        result = page.evaluate(CLASSIFY_SAMPLE, src)
        assert result["top"]["label"] == Path(src).name.split("-")[0], result
        # The server's headers reached the page: COOP and COEP make it cross-origin isolated.
        assert page.evaluate("crossOriginIsolated") is True
        assert problems == []


# --- nginx ----------------------------------------------------------------------------------------


def nginx_config(root: Path, include: Path, port: int, prefix: Path, brotli: bool) -> str:
    """A whole nginx.conf around the generated include, close to Debian's own defaults."""
    temp = {name: prefix / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
    load = f"load_module {NGINX_BROTLI_MODULE};\n" if brotli else ""
    return f"""{load}{user}daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    gzip on;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root "{root}";
        include "{include}";
    }}
}}
"""


@contextlib.contextmanager
def nginx(root: Path, include: Path, prefix: Path, brotli: bool) -> Iterator[str]:
    """Debian's nginx serving `root` with the generated include file; yields its base URL."""
    port = free_port()
    prefix.mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(nginx_config(root, include, port, prefix, brotli))
    check = subprocess.run(
        [NGINX, "-t", "-p", str(prefix), "-c", str(config)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    # nginx -t says "[warn]" for what it accepts but finds wrong (a duplicate type, say).
    assert "[warn]" not in check.stderr, check.stderr
    command = [NGINX, "-p", str(prefix), "-c", str(config)]
    with run_server(command, port, prefix / "output.log") as url:
        yield url


# --- Apache httpd ---------------------------------------------------------------------------------

APACHE_MODULE_NAMES = (
    "mpm_event",
    "authz_core",
    "alias",
    "dir",
    "mime",
    "filter",
    "deflate",
    "headers",
    "rewrite",
)


def apache_config(site: Path, base_path: str, port: int, prefix: Path) -> str:
    """A whole httpd.conf serving `site` at base_path through an Alias, with Debian's defaults.

    Debian's own mime, deflate and dir settings are read in, so the `.htaccess` meets Debian's
    `.br` (Breton) and `.gz` mappings and mod_deflate, as it would on a Debian server.
    """
    modules = "\n".join(
        f"LoadModule {name}_module {APACHE_MODULES}/mod_{name}.so" for name in APACHE_MODULE_NAMES
    )
    user = "User nobody\nGroup nogroup\n" if os.geteuid() == 0 else ""
    debian = "\n".join(
        f"Include /etc/apache2/mods-available/{name}.conf" for name in ("mime", "deflate", "dir")
    )
    return f"""ServerRoot {prefix}
{modules}
{user}ServerName localhost
Listen 127.0.0.1:{port}
PidFile {prefix}/httpd.pid
DefaultRuntimeDir {prefix}
ErrorLog {prefix}/error.log
LogLevel warn
{debian}
DocumentRoot {prefix}/empty
<Directory />
    AllowOverride None
    Require all denied
</Directory>
Alias "{base_path}" "{site}/"
<Directory "{site}">
    Options FollowSymLinks
    AllowOverride FileInfo
    Require all granted
</Directory>
"""


@contextlib.contextmanager
def apache(site: Path, base_path: str, prefix: Path) -> Iterator[str]:
    """Debian's Apache httpd serving `site` at base_path with its `.htaccess`; yields the URL."""
    port = free_port()
    (prefix / "empty").mkdir(parents=True, exist_ok=True)
    config = prefix / "httpd.conf"
    config.write_text(apache_config(site, base_path, port, prefix))
    command = [APACHE, "-d", str(prefix), "-f", str(config)]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    # nginx -t says "[warn]" for what it accepts but finds wrong (a duplicate type, say).
    assert "[warn]" not in check.stderr, check.stderr
    with run_server([*command, "-DFOREGROUND"], port, prefix / "output.log") as url:
        yield url
