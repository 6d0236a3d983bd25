"""`tmbuild serve` rebuilds on every save: the watch loop, the command line, the page reloading."""

from __future__ import annotations

import dataclasses
import http.client
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import brotli
import pytest
from conftest import default_sigint
from support.serve_helpers import _address, _copy_project, _write_template, get, running

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.preview.reload import LiveReload
from tmbuild.preview.server import PreviewServer
from tmbuild.preview.watch import Rebuilder


class _Events:
    """A client of /__tmbuild__/events: (event, data) pairs as the server sends them."""

    def __init__(self, server: PreviewServer | tuple[str, int]):
        self.connection = http.client.HTTPConnection(*_address(server), timeout=20)
        self.connection.request("GET", "/__tmbuild__/events")
        self.response = self.connection.getresponse()
        assert self.response.getheader("Content-Type") == "text/event-stream; charset=utf-8"

    def next(self) -> tuple[str, str]:
        event, data = "message", []
        while True:
            line = self.response.readline().decode("utf-8").rstrip("\n")
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
            elif line == "" and data:
                return event, "\n".join(data)

    def close(self) -> None:
        self.connection.close()


def _token(page: bytes) -> str:
    return re.search(rb'<script src="/__tmbuild__/reload.js" data-build="([^"]+)">', page)[
        1
    ].decode()


def test_rebuild_announces_the_new_build_and_keeps_the_last_good_one(tmp_path):
    project = _copy_project(tmp_path)

    def load():
        return load_config(project / "site.yaml")[0]

    config = load()
    live = LiveReload()
    lines: list[tuple[str, bool]] = []
    rebuilder = Rebuilder(load, config, live, lambda line, err=False: lines.append((line, err)))
    build(config)
    stop = threading.Event()
    watcher = threading.Thread(target=rebuilder.run, args=(stop,), daemon=True)
    with running(PreviewServer("127.0.0.1", 0, config.output, config.base_url, live)) as server:
        watcher.start()
        try:
            events = _Events(server)
            first_page = get(server, "/", Accept_Encoding="identity").body
            assert b'<h1 id="marker">first</h1>' in first_page
            event, first = events.next()
            assert (event, first) == ("built", _token(first_page))
            script = get(server, "/__tmbuild__/reload.js")
            assert script.getheader("Content-Type") == "text/javascript; charset=utf-8"
            assert b"new EventSource('/__tmbuild__/events')" in script.body
            assert not (config.output / "__tmbuild__").exists()  # never written to the site

            _write_template(project, "second")
            event, second = events.next()
            assert event == "built" and second != first
            page = get(server, "/", Accept_Encoding="br")
            assert page.getheader("Content-Encoding") == "br"
            html = brotli.decompress(page.body)
            assert b'<h1 id="marker">second</h1>' in html and _token(html) == second
            assert re.fullmatch(r"Rebuilt .*dist/ in \d+\.\d\d s", lines[-1][0])

            (project / "templates" / "index.html").write_text("{% block header %}\n")
            event, error = events.next()
            assert event == "failed"
            assert "index.html" in error and "template syntax error" in error
            assert any(err and line.startswith("Error: ") for line, err in lines)
            kept = get(server, "/", Accept_Encoding="identity").body
            assert b'<h1 id="marker">second</h1>' in kept  # the last good build

            _write_template(project, "third")
            event, third = events.next()
            assert event == "built" and third not in (first, second)
            assert b"third" in get(server, "/", Accept_Encoding="identity").body
            events.close()
        finally:
            stop.set()
            watcher.join(10)
    assert not [p.name for p in project.iterdir() if p.name.startswith(".tmbuild-")]


def test_a_poll_rebuilds_only_when_an_input_changed(tmp_path):
    project = _copy_project(tmp_path)

    def load():
        return load_config(project / "site.yaml")[0]

    lines: list[str] = []
    rebuilder = Rebuilder(load, load(), LiveReload(), lambda line, err=False: lines.append(line))
    build(load())
    assert rebuilder.poll() is False  # the build's own output is not a change
    (project / "templates" / ".index.html.swp").write_text("an editor's swap file")
    assert rebuilder.poll() is False
    _write_template(project, "changed")
    assert rebuilder.poll() is True and lines[-1].startswith("Rebuilt ")
    assert b"changed" in (project / "dist" / "index.html").read_bytes()
    assert rebuilder.poll() is False
    os.utime(project / "examples" / "shapes" / "metadata.json", ns=(1, 1))  # the model counts
    assert rebuilder.poll() is True
    text = (project / "site.yaml").read_text()
    (project / "site.yaml").write_text(text.replace("title: Shape sorter", "title: Renamed"))
    assert rebuilder.poll() is True and lines[-1].startswith("Rebuilt "), lines[-3:]
    assert b"<title>Renamed</title>" in (project / "dist" / "index.html").read_bytes()
    (project / "site.yaml").write_text(text.replace("quantize: none", "quantize: fp16"))
    assert rebuilder.poll() is True
    assert lines[-2].startswith("Error: site.yaml:") and "model.quantize" in lines[-2], lines
    assert lines[-1] == "The last good build is still served; fix the problem and save again."
    assert b"<title>Renamed</title>" in (project / "dist" / "index.html").read_bytes()


def test_a_new_event_stream_says_which_build_is_served_then_what_failed():
    # A page names its build; a stream opened after a newer build must not look current.
    live = LiveReload()
    old = live.state().token
    live.built()
    live.failed("templates/index.html:1: template syntax error: unexpected end\nsecond line")
    chunks: list[bytes] = []
    threading.Timer(0.5, live.close).start()
    live.stream(chunks.append, heartbeat=0.1)
    assert live.state().token != old
    assert (
        chunks[0]
        == (
            f"event: built\ndata: {live.state().token}\n\n"
            "event: failed\n"
            "data: templates/index.html:1: template syntax error: unexpected end\n"
            "data: second line\n\n"
        ).encode()
    )
    assert set(chunks[1:]) == {b": still here\n\n"}  # until it was closed
    assert len(chunks) > 1


# The command line, end to end, in its own process.


def _start(project: Path, *args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tmbuild", "serve", "--port", "0", *args],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        preexec_fn=default_sigint,
    )
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.fullmatch(
            r"Serving dist/ at (http://127\.0\.0\.1:\d+/) \(Ctrl-C to stop\)\n", line
        )
        if match:
            return process, match[1]
    process.kill()
    raise AssertionError(f"no Serving line: {lines} {process.stderr.read()}")


class _Lines:
    """A process's output, line by line, read on a thread so that a wait can have a deadline."""

    def __init__(self, stream) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)  # the end of the output

    def next(self, timeout: float = 60) -> str | None:
        return self.lines.get(timeout=timeout)

    def rest(self, timeout: float = 30) -> list[str]:
        """Every line until the process closes its output."""
        rest = []
        while (line := self.next(timeout)) is not None:
            rest.append(line)
        return rest


def _save_template(project: Path, marker: str) -> None:
    """Replace the template in one rename, as editors save: no poll sees it half written."""
    draft = project.parent / "draft"  # outside the project: never an input
    (draft / "templates").mkdir(parents=True, exist_ok=True)
    _write_template(draft, marker)
    (draft / "templates" / "index.html").replace(project / "templates" / "index.html")


def test_cli_serves_rebuilds_and_stops_cleanly_on_ctrl_c(tmp_path):
    project = _copy_project(tmp_path)
    process, url = _start(project)
    output = _Lines(process.stdout)
    try:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        server = ("127.0.0.1", port)
        assert b'<h1 id="marker">first</h1>' in get(server, "/", Accept_Encoding="identity").body
        _save_template(project, "edited")
        # Wait for the event, not the clock: the line is said once the new build is served.
        rebuilt = output.next()
        assert rebuilt and re.fullmatch(r"Rebuilt dist/ in \d+\.\d\d s\n", rebuilt), rebuilt
        assert b"edited" in get(server, "/", Accept_Encoding="identity").body
        events = _Events(server)  # an open event stream must not hold up the exit
        process.send_signal(signal.SIGINT)
        assert output.rest() == ["Stopped.\n"]
        process.wait(timeout=30)
        err = process.stderr.read()
        events.close()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert not [p.name for p in project.iterdir() if p.name.startswith(".tmbuild-")]
    # The reload script lives in the server only: no built file mentions it.
    assert not [
        p for p in (project / "dist").rglob("*") if p.is_file() and b"__tmbuild__" in p.read_bytes()
    ]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    with socket.socket() as again:  # the port is free again (closed connections may linger)
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


def test_cli_serve_quiet_prints_nothing_through_a_rebuild(tmp_path):
    project = _copy_project(tmp_path)
    with socket.socket() as probe:  # -q says no Serving line to read the port from
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tmbuild", "serve", "-q", "--port", str(port)],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # until it answers: the first build comes before the server listens
            try:
                events = _Events(("127.0.0.1", port))
                break
            except ConnectionRefusedError:
                assert process.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.1)
        assert events.next()[0] == "built"  # the build being served
        _save_template(project, "edited")
        assert events.next()[0] == "built"  # the rebuild
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        events.close()
    finally:
        if process.poll() is None:
            process.kill()
    assert (process.returncode, out, err) == (0, "", "")


def test_cli_stops_cleanly_on_sigterm_without_watching(tmp_path):
    project = _copy_project(tmp_path)
    process, url = _start(project, "--no-watch")
    try:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        server = ("127.0.0.1", port)
        page = get(server, "/", Accept_Encoding="identity").body
        assert b"__tmbuild__" not in page  # nothing to reload without watching
        assert page == (project / "dist" / "index.html").read_bytes()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert out == "Stopped.\n"


# What the page would report to a CSP `report-to`: collected before any of its own scripts run.
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (event) => window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`));
"""


@pytest.mark.browser
def test_the_page_reloads_itself_after_a_rebuild(tmp_path):
    from support.browser import chromium

    project = _copy_project(tmp_path)
    process, url = _start(project)
    try:
        with chromium() as context:
            page = context.new_page()
            page.add_init_script(RECORD_CSP_VIOLATIONS)
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            navigations: list[str] = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))
            page.goto(url)
            info = page.evaluate("window.tmbuild.ready")
            assert info["labels"] == ["circle", "square", "triangle", "star", "background"]
            assert page.inner_text("#marker") == "first"

            # A broken template: the page says why, and keeps the last good build.
            (project / "templates" / "index.html").write_text("{% block header %}\n")
            banner = page.locator("#tmbuild-serve-error")
            banner.wait_for(timeout=20_000)
            assert banner.inner_text().startswith(
                "tmbuild serve: the rebuild failed; this is the last good build.\n"
            )
            assert "template syntax error" in banner.inner_text()
            assert page.inner_text("#marker") == "first"
            assert page.evaluate("window.cspViolations") == []

            _write_template(project, "second")
            page.locator("#marker", has_text="second").wait_for(timeout=20_000)
            # The marker is there once the reloaded page is parsed; its module scripts (the
            # engine makes window.tmbuild) have run by its load event.
            page.wait_for_load_state("load")
            page.evaluate("window.tmbuild.ready")
            assert navigations == [url, url]  # reloaded once, by itself
            assert page.evaluate("performance.getEntriesByType('navigation')[0].type") == "reload"
            assert not page.locator("#tmbuild-serve-error").count()
            assert page.evaluate("window.cspViolations") == []
            assert problems == []
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Error: " in err and "template syntax error" in err


@pytest.mark.browser
def test_an_offline_service_worker_does_not_keep_the_previous_build(tmp_path):
    from support.browser import chromium

    from tmbuild.config.load import SiteConfig

    if "offline" not in {field.name for field in dataclasses.fields(SiteConfig)}:
        pytest.skip("this tmbuild has no offline: option")
    project = _copy_project(tmp_path)
    with (project / "site.yaml").open("a") as config:
        config.write("offline: true\n")
    process, url = _start(project)
    try:
        with chromium() as context:
            page = context.new_page()
            navigations: list[str] = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))
            page.goto(url)
            page.evaluate("window.tmbuild.ready")
            # Once the worker controls the page, it answers the page from its cache.
            page.wait_for_function("() => navigator.serviceWorker.controller !== null")
            _write_template(project, "second")
            page.locator("#marker", has_text="second").wait_for(timeout=20_000)
            # The marker is there once the reloaded page is parsed; its module scripts (the
            # engine makes window.tmbuild) have run by its load event.
            page.wait_for_load_state("load")
            page.evaluate("window.tmbuild.ready")
            time.sleep(2)  # a reload loop would show here
            assert navigations == [url, url]
            assert page.inner_text("#marker") == "second"
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
