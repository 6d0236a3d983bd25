"""Live reload for `tmbuild serve`: the script injected into served pages and its event stream.

The rebuild loop (tmbuild.preview.watch) announces each build here; the server
(tmbuild.preview.server) streams the announcements to open pages as server-sent events.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

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


def inject_reload_script(page: bytes, token: str) -> bytes:
    tag = f'<script src="{RELOAD_PREFIX}reload.js" data-build="{token}"></script>\n'.encode()
    end = page.lower().rfind(b"</body>")
    return page + tag if end < 0 else page[:end] + tag + page[end:]
