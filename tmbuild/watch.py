"""`tmbuild serve`'s preview loop: build, serve, notice changed inputs, rebuild, reload pages.

Changes are found by polling sizes and modification times twice a second: no new dependency,
and it works the same on every platform and on network or container-mounted folders, where
change notifications are unreliable. A project has a few dozen input files, so a poll is cheap.
Open pages learn of each rebuild through server-sent events (tmbuild.serve serves them).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tmbuild.config import SiteConfig
from tmbuild.errors import TmbuildError

log = logging.getLogger("tmbuild")

POLL_SECONDS = 0.5
# An editor saves a file in several steps; wait until the inputs hold still before building.
SETTLE_SECONDS = 0.1
SETTLE_LIMIT = 2.0

Snapshot = dict[str, tuple[int, int] | None]

RELOAD_PREFIX = "/__tmbuild__/"  # served by `tmbuild serve`, never written to the site
RELOAD_SCRIPT = """\
// tmbuild serve: reload after each rebuild; show why a rebuild failed. Not part of the site.
(() => {
  const build = document.currentScript && document.currentScript.dataset.build;
  let banner = null;
  const reload = () => {
    // An offline service worker would answer with the previous build from its cache, and this
    // script would reload again and again: drop it; the new page registers the new build's.
    const workers = navigator.serviceWorker;
    if (!workers) return location.reload();
    workers.getRegistrations()
      .then((all) => Promise.all(all.map((registration) => registration.unregister())))
      .finally(() => location.reload());
  };
  const events = new EventSource('/__tmbuild__/events');
  events.addEventListener('built', (event) => {
    if (event.data !== build) reload();
  });
  events.addEventListener('failed', (event) => {
    if (!banner) {
      banner = document.createElement('pre');
      banner.id = 'tmbuild-serve-error';
      banner.setAttribute('role', 'alert');
      // Through the CSSOM: the site's CSP (style-src 'self') blocks style attributes.
      Object.assign(banner.style, {
        position: 'fixed', left: '0', right: '0', bottom: '0', zIndex: '2147483647',
        margin: '0', padding: '0.75em 1em', background: '#9b1c1c', color: '#fff',
        font: '14px/1.4 ui-monospace, monospace', whiteSpace: 'pre-wrap',
      });
      document.body.append(banner);
    }
    banner.textContent = 'tmbuild serve: the rebuild failed; this is the last good build.\\n'
      + event.data;
  });
})();
"""


def watched_paths(config: SiteConfig) -> list[Path]:
    """What a build reads: site.yaml, the model, the templates (the user's and the built-in
    ones, which change when working on tmbuild itself) and the sample images."""
    from tmbuild.render import builtin_templates_dir

    paths = [config.config_path, config.model.path, config.templates, config.samples]
    paths.append(builtin_templates_dir())
    return [path for path in paths if path is not None]


def snapshot(paths: list[Path]) -> Snapshot:
    """(mtime, size) of every file under `paths`; None for a path that is missing.

    The output is never among them: site.yaml may not put it inside an input folder."""
    state: Snapshot = {}
    for root in paths:
        try:
            info = os.stat(root)
        except OSError:
            state[str(root)] = None
            continue
        if not stat.S_ISDIR(info.st_mode):
            state[str(root)] = (info.st_mtime_ns, info.st_size)
            continue
        for folder, subfolders, names in os.walk(root):
            # Hidden entries are editors' swap files and version control, not inputs.
            subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
            for name in sorted(names):
                if name.startswith("."):
                    continue
                path = os.path.join(folder, name)
                try:
                    info = os.stat(path)
                except OSError:
                    continue  # deleted between the listing and the stat: the next poll sees it
                state[path] = (info.st_mtime_ns, info.st_size)
    return state


def changed_paths(before: Snapshot, after: Snapshot) -> list[str]:
    paths = before.keys() | after.keys()
    return sorted(path for path in paths if before.get(path) != after.get(path))


@dataclass(frozen=True)
class BuildState:
    serial: int  # goes up with every rebuild, good or failed
    token: str  # names the build being served; a page from another build should reload
    error: str | None  # the last rebuild's error, while the previous build is still served


class LiveReload:
    """Where the rebuild loop announces builds and the server's event streams wait for them."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        # Unique per run, so a page left open across a restart of the server reloads too.
        self._session = f"{time.time_ns():x}"
        self._builds = 1
        self._serial = 0
        self._error: str | None = None
        self.closed = False

    def state(self) -> BuildState:
        with self._condition:
            return BuildState(self._serial, f"{self._session}-{self._builds}", self._error)

    def built(self) -> None:
        with self._condition:
            self._builds += 1
            self._serial += 1
            self._error = None
            self._condition.notify_all()

    def failed(self, message: str) -> None:
        with self._condition:
            self._serial += 1
            self._error = message
            self._condition.notify_all()

    def wait(self, seen_serial: int, timeout: float) -> BuildState:
        """The state once it differs from `seen_serial`, or after `timeout` seconds."""
        with self._condition:
            self._condition.wait_for(
                lambda: self.closed or self._serial != seen_serial, timeout=timeout
            )
        return self.state()

    def close(self) -> None:
        with self._condition:
            self.closed = True
            self._condition.notify_all()

    def stream(self, write: Callable[[bytes], object], heartbeat: float = 10) -> None:
        """Write server-sent events until closed: `built` with the token of each new build,
        `failed` with the error of a failed one. Raises OSError once the client is gone."""
        seen = -1
        while True:
            state = self.wait(seen, timeout=heartbeat)
            if self.closed:
                return
            message = ": still here\n\n"  # a comment: finds clients that left
            if state.serial != seen:
                message = ""
                # A new client first learns which build is served, even if a later one failed.
                if seen == -1 or state.error is None:
                    message = f"event: built\ndata: {state.token}\n\n"
                if state.error is not None:
                    lines = state.error.splitlines() or [""]
                    data = "".join(f"data: {line}\n" for line in lines)
                    message += f"event: failed\n{data}\n"
            seen = state.serial
            write(message.encode("utf-8"))


class Rebuilder:
    """Polls the inputs of the site and rebuilds it when one changes."""

    def __init__(
        self,
        load: Callable[[], SiteConfig],
        config: SiteConfig,
        live: LiveReload,
        echo: Callable[..., None],  # click.echo's signature: (message, err=False)
        on_config: Callable[[SiteConfig], None] = lambda config: None,
    ):
        self.load = load  # reads site.yaml again, with the command line's overrides
        self.config = config
        self.live = live
        self.echo = echo
        self.on_config = on_config  # told when a new site.yaml moves the output or base_url
        self.paths = watched_paths(config)
        self.state = snapshot(self.paths)

    def run(self, stop: threading.Event | None = None) -> None:
        """Poll until `stop` is set (or forever); Ctrl-C ends it with KeyboardInterrupt."""
        stop = stop or threading.Event()
        while not stop.wait(POLL_SECONDS):
            self.poll()

    def poll(self) -> bool:
        """Rebuild if an input changed since the last poll; say whether it did."""
        current = snapshot(self.paths)
        if current == self.state:
            return False
        deadline = time.monotonic() + SETTLE_LIMIT
        while time.monotonic() < deadline:
            time.sleep(SETTLE_SECONDS)
            settled = snapshot(self.paths)
            if settled == current:
                break
            current = settled
        changed = changed_paths(self.state, current)
        self.state = current
        self.rebuild(changed)
        return True

    def rebuild(self, changed: list[str]) -> None:
        from tmbuild.build import build

        log.info("Changed: %s", ", ".join(changed))
        started = time.perf_counter()
        try:
            config = self.load()
            # site.yaml may now name another model or templates folder: watch those instead,
            # even if this build fails, so that fixing them is noticed.
            self._watch(watched_paths(config))
            build(config)
        except TmbuildError as error:
            self._failed(str(error))
            return
        except Exception as error:  # a bug; the server keeps going on the last good build
            log.debug("The rebuild failed", exc_info=True)
            self._failed(f"rebuild failed: {error.__class__.__name__}: {error}")
            return
        if config.output != self.config.output or config.base_url != self.config.base_url:
            self.on_config(config)
        self.config = config
        seconds = time.perf_counter() - started
        self.echo(f"Rebuilt {config.display_path(config.output)}/ in {seconds:.2f} s")
        self.live.built()

    def _watch(self, paths: list[Path]) -> None:
        if paths != self.paths:
            self.paths = paths
            self.state = snapshot(paths)

    def _failed(self, message: str) -> None:
        for line in message.splitlines() or [message]:
            self.echo(f"Error: {line}", err=True)
        self.echo("The last good build is still served; fix the problem and save again.", err=True)
        self.live.failed(message)


def inject_reload_script(page: bytes, token: str) -> bytes:
    tag = f'<script src="{RELOAD_PREFIX}reload.js" data-build="{token}"></script>\n'.encode()
    end = page.lower().rfind(b"</body>")
    return page + tag if end < 0 else page[:end] + tag + page[end:]


def preview(
    load: Callable[[], SiteConfig],
    host: str = "127.0.0.1",
    port: int = 8000,
    build_first: bool = True,
    watch: bool = True,
    open_browser: bool = False,
    echo: Callable[..., None] = print,
) -> None:
    """Build, serve and rebuild on changes until Ctrl-C, which arrives as KeyboardInterrupt.

    `load` reads site.yaml (again, on each change); `echo` prints a line, like click.echo.
    """
    from tmbuild.build import build
    from tmbuild.serve import PreviewServer

    config = load()
    if config.single_file:
        raise TmbuildError(
            "single_file: a single-file build opens from disk and needs no server; run "
            "tmbuild build and open the .html it writes, or set single_file: false to preview"
        )
    shown = f"{config.display_path(config.output)}/"
    live = LiveReload() if watch else None
    # The port first: if it is taken, say so before spending time on a build.
    server = PreviewServer(host, port, config.output, config.base_url, live)
    thread = threading.Thread(target=server.serve_forever, name="tmbuild-serve", daemon=True)
    try:
        if not is_loopback(host):
            log.warning("serving on %s: anyone who can reach this machine can open the site", host)

        def moved(new: SiteConfig) -> None:
            server.set_site(new.output, new.base_url)
            echo(f"Serving {new.display_path(new.output)}/ at {server.url}")

        # Watched from before the first build, so an edit made during it is not missed.
        rebuilder = None if live is None else Rebuilder(load, config, live, echo, moved)
        if build_first:
            result = build(config)
            echo(f"Built {shown} in {result.seconds:.2f} s")
        elif not config.output.is_dir():
            raise TmbuildError(
                f"{shown}: there is no built site to serve; run tmbuild build, or drop --no-build"
            )
        thread.start()
        echo(f"Serving {shown} at {server.url} (Ctrl-C to stop)")
        if open_browser:
            import webbrowser

            webbrowser.open(server.url)
        if rebuilder is not None:
            rebuilder.run()
        while thread.is_alive():
            thread.join(0.5)
    finally:
        if thread.is_alive():
            server.shutdown()
        server.close()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
