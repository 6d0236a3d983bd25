"""`tmbuild serve`'s preview loop: build, serve, notice changed inputs, rebuild, reload pages.

Changes are found by polling sizes and modification times twice a second: no new dependency,
and it works the same on every platform and on network or container-mounted folders, where
change notifications are unreliable. A project has a few dozen input files, so a poll is cheap.
Open pages learn of each rebuild through server-sent events (tmbuild.preview.reload).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tmbuild.build import build
from tmbuild.config.load import SiteConfig
from tmbuild.errors import TmbuildError
from tmbuild.preview.reload import LiveReload
from tmbuild.preview.server import PreviewServer

log = logging.getLogger("tmbuild")

POLL_SECONDS = 0.5
# An editor saves a file in several steps; wait until the inputs hold still before building.
SETTLE_SECONDS = 0.1
SETTLE_LIMIT = 2.0

Snapshot = dict[str, tuple[int, int] | None]


def watched_paths(config: SiteConfig) -> list[Path]:
    """What a build reads: site.yaml, the model, the templates (the user's and the built-in
    ones, which change when working on tmbuild itself) and the sample images."""
    from tmbuild.page.render import builtin_templates_dir

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
