"""Three browser engines behind one small driver: Chromium, Firefox and WebKit.

Each engine opens a URL in a fresh tab, evaluates a JavaScript function (awaiting its promise),
uploads a file to an input and says what went wrong in the page:

- **Chromium** through Playwright with Debian's `chromium`, as tests/support/browser.py does;
- **Firefox** through WebDriver BiDi with Debian's `firefox-esr`: puppeteer-core in a Node.js
  process speaking JSON lines (`tests/support/firefox/bidi.mjs`), no geckodriver;
- **WebKit** through classic WebDriver with Debian's `WebKitWebDriver` and its MiniBrowser, on a
  private Xvfb display (WebKitGTK has no headless mode), driven by Selenium.

Every engine starts with a fake camera. `serve_watched` serves a site as `tmbuild serve` does and
also notes, from the server's side, every answer of 400 or more and every Content-Security-Policy
violation the browser reports: classic WebDriver cannot read WebKit's console, so these are what
the three engines are checked against alike.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.browser import _serving, chromium
from tmbuild.cache import cache_root
from tmbuild.preview import server as preview

ENGINES = ("chromium", "firefox", "webkit")
FIREFOX = "/usr/bin/firefox-esr"
WEBKIT_DRIVER = "/usr/bin/WebKitWebDriver"
XVFB = "/usr/bin/Xvfb"
NODE_PACKAGE = Path(__file__).parent / "firefox"
TIMEOUT_S = 60

# A camera without a camera: Chromium's flags, Firefox's preferences, MiniBrowser's settings
# (WebKit's automation session then grants the camera without asking).
CHROMIUM_FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
FIREFOX_FAKE_CAMERA = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
}
WEBKIT_FAKE_CAMERA = ["--enable-media-stream=true", "--enable-mock-capture-devices=true"]

# `(function)(argument)` as one expression every driver evaluates and awaits, its result as
# JSON text: the drivers pass values differently (BiDi sends an object met twice only once).
CALL = "Promise.resolve(({function})({argument})).then((v) => JSON.stringify(v ?? null))"
# Polls a predicate inside the page, so that waiting works alike in the three drivers. The
# predicate is written into the function, not passed as text: the page's policy forbids eval.
WAIT_FOR = """async (seconds) => {
  const test = %s;
  const deadline = performance.now() + seconds * 1000;
  for (;;) {
    const value = await test();
    if (value) return value;
    if (performance.now() > deadline) throw new Error("timed out waiting for " + test);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}"""


def node_tools() -> Path:
    """Where scripts/test.sh installs package-lock.json's tools: one folder per lock file."""
    lock = hashlib.sha256((NODE_PACKAGE / "package-lock.json").read_bytes()).hexdigest()
    return cache_root() / "test-deps" / f"node-{lock[:12]}"


def minibrowser() -> str | None:
    """WebKitGTK's MiniBrowser, which Debian keeps beside the library, not on the PATH."""
    found = sorted(glob.glob("/usr/lib/*/webkit2gtk-4.*/MiniBrowser"))
    return found[-1] if found else None


class Engine:
    """A browser with one tab at a time; `evaluate` takes a JavaScript function's source."""

    name = ""
    version = ""

    def open(self, url: str) -> None:
        raise NotImplementedError

    def reload(self) -> None:
        raise NotImplementedError

    def _evaluate(self, expression: str):
        raise NotImplementedError

    def upload(self, selector: str, file: Path) -> None:
        raise NotImplementedError

    def problems(self) -> list[str]:
        """Console errors, uncaught errors and failed responses seen in the open tab."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def evaluate(self, function: str, argument=None):
        """Call a JavaScript function with a JSON argument in the tab; its awaited result."""
        expression = CALL.format(function=function, argument=json.dumps(argument))
        return json.loads(self._evaluate(expression))

    def wait_for(self, predicate: str, seconds: float = 30):
        """Wait until a JavaScript function (of no argument) returns something true."""
        return self.evaluate(WAIT_FOR % predicate, seconds)


class Chromium(Engine):
    name = "chromium"

    def __init__(self) -> None:
        # A context of its own in the Chromium tests/support/browser.py keeps running.
        self._session = chromium(CHROMIUM_FAKE_CAMERA)
        self._context = self._session.__enter__()
        self.version = self._context.browser.version if self._context.browser else ""
        self._page = None
        self._problems: list[str] = []

    def open(self, url: str) -> None:
        if self._page is not None:
            self._page.close()
        self._problems = problems = []
        page = self._page = self._context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "response",
            lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.goto(url)

    def reload(self) -> None:
        self._page.reload()

    def _evaluate(self, expression: str):
        return self._page.evaluate(expression)

    def upload(self, selector: str, file: Path) -> None:
        self._page.set_input_files(selector, file)

    def problems(self) -> list[str]:
        return list(self._problems)

    def close(self) -> None:
        self._session.__exit__(None, None, None)


class Firefox(Engine):
    name = "firefox"

    def __init__(self) -> None:
        node = shutil.which("node")
        tools = node_tools()
        if not Path(FIREFOX).exists():
            pytest.skip("Debian firefox-esr is not installed (scripts/test.sh installs it)")
        if node is None or not (tools / "node_modules" / "puppeteer-core").is_dir():
            pytest.skip(f"puppeteer-core is not installed in {tools} (scripts/test.sh does it)")
        self._profile = tempfile.mkdtemp(prefix="tmbuild-firefox-")
        self._node = subprocess.Popen(
            [node, str(NODE_PACKAGE / "bidi.mjs")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={"PATH": "/usr/bin:/bin", "HOME": self._profile, "TMBUILD_NODE_TOOLS": str(tools)},
        )
        launch = {"executable": FIREFOX, "prefs": FIREFOX_FAKE_CAMERA, "profile": self._profile}
        self.version = self._call("launch", **launch)

    def _call(self, command: str, **arguments):
        assert self._node.stdin and self._node.stdout
        self._node.stdin.write(json.dumps({"command": command, **arguments}) + "\n")
        self._node.stdin.flush()
        line = self._node.stdout.readline()
        if not line:
            raise RuntimeError(f"the Firefox driver exited during {command}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"Firefox: {answer['error']}")
        return answer["value"]

    def open(self, url: str) -> None:
        self._call("open", url=url)

    def reload(self) -> None:
        self._call("reload")

    def _evaluate(self, expression: str):
        return self._call("evaluate", expression=expression, seconds=TIMEOUT_S)

    def upload(self, selector: str, file: Path) -> None:
        self._call("upload", selector=selector, file=str(file))

    def problems(self) -> list[str]:
        return self._call("problems")

    def close(self) -> None:
        try:
            with contextlib.suppress(RuntimeError, OSError):
                self._call("close")
            self._node.wait(timeout=30)
        finally:
            if self._node.poll() is None:
                self._node.kill()
            shutil.rmtree(self._profile, ignore_errors=True)


# What WebKit's tab can say about itself once loaded (classic WebDriver has no console).
WATCH_ERRORS = """() => {
  window.__engineProblems = [];
  const note = (text) => window.__engineProblems.push(text);
  addEventListener("error", (event) => note(event.message || "error: " + event.target));
  addEventListener("unhandledrejection", (event) => note(String(event.reason)));
  addEventListener("securitypolicyviolation", (event) =>
    note("CSP " + event.violatedDirective + " " + event.blockedURI));
}"""


class WebKit(Engine):
    name = "webkit"

    def __init__(self) -> None:
        webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (the test extra)")
        from selenium.webdriver.webkitgtk.options import Options
        from selenium.webdriver.webkitgtk.service import Service

        binary = minibrowser()
        if not Path(WEBKIT_DRIVER).exists() or binary is None:
            pytest.skip("Debian webkit2gtk-driver is not installed (scripts/test.sh installs it)")
        if not Path(XVFB).exists():
            pytest.skip("Xvfb is not installed (scripts/test.sh installs xvfb)")
        self._xvfb = subprocess.Popen(
            [XVFB, "-displayfd", "1", "-nolisten", "tcp", "-screen", "0", "1280x1024x24"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self._xvfb.stdout
        display = self._xvfb.stdout.readline().strip()
        options = Options()
        options.binary_location = binary
        for argument in ["--automation", *WEBKIT_FAKE_CAMERA]:
            options.add_argument(argument)
        service = Service(WEBKIT_DRIVER, env={"PATH": "/usr/bin:/bin", "DISPLAY": f":{display}"})
        try:
            with warnings.catch_warnings():
                # Selenium's own WebKitGTK class uses its deprecated remote_server_addr.
                warnings.simplefilter("ignore", DeprecationWarning)
                self._driver = webdriver.WebKitGTK(options=options, service=service)
        except Exception:
            self._xvfb.kill()
            raise
        self._driver.set_script_timeout(TIMEOUT_S)
        self.version = self._driver.capabilities.get("browserVersion", "")

    def open(self, url: str) -> None:
        self._driver.get(url)
        self.evaluate(WATCH_ERRORS)

    def reload(self) -> None:
        self._driver.refresh()
        self.evaluate(WATCH_ERRORS)

    def _evaluate(self, expression: str):
        answer = self._driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            f"Promise.resolve().then(() => {expression}).then("
            "(value) => done({ value: value === undefined ? null : value }),"
            "(error) => done({ error: String((error && error.message) || error) }));"
        )
        if "error" in answer:
            raise RuntimeError(f"WebKit: {answer['error']}")
        return answer["value"]

    def upload(self, selector: str, file: Path) -> None:
        from selenium.webdriver.common.by import By

        self._driver.find_element(By.CSS_SELECTOR, selector).send_keys(str(file))

    def problems(self) -> list[str]:
        return self.evaluate("() => window.__engineProblems || []")

    def close(self) -> None:
        try:
            self._driver.quit()
        finally:
            self._xvfb.terminate()
            self._xvfb.wait(timeout=30)


LAUNCHERS = {"chromium": Chromium, "firefox": Firefox, "webkit": WebKit}


def launch(name: str) -> Engine:
    """Start an engine by name; skips the test, saying why, when it is not installed."""
    return LAUNCHERS[name]()


# ---- the server's view --------------------------------------------------------------------

REPORTS = "/__csp-reports"  # where the browsers POST what the policy blocked (report-uri)


class _WatchedHandler(preview._Handler):
    def send_response(self, code: int, message: str | None = None) -> None:
        if code >= 400:
            self.server.seen.append(f"{code} {self.path}")
        super().send_response(code, message)

    def do_POST(self) -> None:
        if self.path != REPORTS:
            self.send_error(405)
            return
        length = int(self.headers.get("Content-Length") or 0)
        report = json.loads(self.rfile.read(length) or b"{}").get("csp-report", {})
        self.server.seen.append(
            f"CSP {report.get('violated-directive')} blocked {report.get('blocked-uri')}"
        )
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _WatchedServer(preview.PreviewServer):
    """`tmbuild serve`'s server, with report-uri added to the site's own policy."""

    def __init__(self, root: Path) -> None:
        super().__init__("127.0.0.1", 0, root, "/")
        self.RequestHandlerClass = _WatchedHandler
        self.seen: list[str] = []

    def rules(self, root: Path):
        def reported(name: str, value: str) -> str:
            if name.lower() == "content-security-policy":
                return f"{value}; report-uri {REPORTS}"
            return value

        return [
            (pattern, [(name, reported(name, value)) for name, value in headers])
            for pattern, headers in super().rules(root)
        ]


@contextlib.contextmanager
def serve_watched(root: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve a site built for / as `tmbuild serve` does; yields its URL and what went wrong."""
    server = _WatchedServer(root)
    with _serving(server, server.close) as url:
        yield url, server.seen
