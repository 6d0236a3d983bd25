"""Visiting a page in Chromium: timings from the page, bytes and requests from the network.

Both pages are measured by the same init script, injected before any of the page's own code:
it starts decoding one real image at once, waits for the page's ready event (`tmbuild:ready`,
or `snippet:ready` from the snippet page), classifies the image and records `performance.now()`,
which counts from the start of navigation. Bytes are CDP `Network.loadingFinished`
`encodedDataLength` (headers and compressed body, as they crossed the wire); a request "hit the
network" unless Chromium answered it from its memory or disk cache, so a 304 counts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from common import BENCH_IMAGES, BenchError, chromium, fresh_profile, median, table

# What responseReceived says when Chromium answered without asking the server.
CACHE_FLAGS = {
    "fromDiskCache": "disk",
    "fromPrefetchCache": "prefetch",
    "fromServiceWorker": "service-worker",
}
TIMEOUT_MS = 180_000  # the snippet's CPU backend on a busy 2-core machine is slow, not stuck

HOOK = """(() => {
  if (window !== window.top) return;
  const image = new Image();
  const decoded = new Promise((resolve, reject) => {
    image.onload = resolve;
    image.onerror = () => reject(new Error("cannot load the timing image " + image.src));
  });
  image.src = %(image)s;
  let settle;
  const done = new Promise((resolve, reject) => { settle = { resolve, reject }; });
  const bench = { image, done, classify: null };
  window.__bench = bench;
  async function onReady(kind, classify, detail) {
    const readyMs = performance.now();
    bench.classify = classify;
    try {
      await decoded;
      const probabilities = await classify(image);
      settle.resolve({ kind, readyMs, firstPredictionMs: performance.now(), detail,
        probabilities });
    } catch (error) {
      settle.reject(error);
    }
  }
  addEventListener("tmbuild:ready", (event) => onReady("tmbuild", async (img) => {
    const result = await window.tmbuild.classify(img);
    return Object.fromEntries(result.predictions.map((p) => [p.label, p.probability]));
  }, event.detail), { once: true });
  // An embedded classifier (tmbuild.js) has no window-wide event: its element says when it
  // has a classifier, whose ready promise is the same moment as tmbuild:ready.
  document.addEventListener("tmbuild:classifier", (event) => {
    const classifier = event.detail;
    classifier.ready.then((info) => onReady("embedded", async (img) => {
      const result = await classifier.classify(img);
      return Object.fromEntries(result.predictions.map((p) => [p.label, p.probability]));
    }, info), (error) => settle.reject(error));
  }, { once: true });
  addEventListener("snippet:ready", (event) => onReady("snippet", async (img) => {
    const result = await window.snippet.predict(img);
    return Object.fromEntries(result.map((p) => [p.className, p.probability]));
  }, event.detail), { once: true });
  setTimeout(() => {
    const shown = document.getElementById("load-error");
    settle.reject(new Error("no prediction after %(timeout)d ms" +
      (shown && shown.textContent ? ": " + shown.textContent : "")));
  }, %(timeout)d);
})();"""

MARKS = """() => Object.fromEntries(
  performance.getEntriesByType("mark").map((mark) => [mark.name, mark.startTime]))"""

REPEAT_PREDICTIONS = """async (count) => {
  const { classify, image } = window.__bench;
  const times = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await classify(image);
    times.push(performance.now() - started);
  }
  return times;
}"""

CLASSIFY_URLS = """async (urls) => {
  const results = {};
  for (const url of urls) {
    const image = new Image();
    try {
      await new Promise((resolve, reject) => {
        image.onload = resolve;
        image.onerror = () => reject(new Error("the browser cannot decode it"));
        image.src = url;
      });
      results[url] = await window.__bench.classify(image);
    } catch (error) {
      results[url] = { error: error.message };
    }
  }
  return results;
}"""


class NetworkLog:
    """Every http(s) request of one page, from the DevTools protocol."""

    def __init__(self, cdp) -> None:
        self.requests: dict[str, dict] = {}
        # The status as it came over the wire, by request: after a 304, responseReceived shows
        # the cached 200. Extra-info events may come before requestWillBeSent.
        self.wire: dict[str, int] = {}
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.requestServedFromCache", lambda e: self._set(e, cache="memory"))
        cdp.on("Network.responseReceived", self._response)
        cdp.on(
            "Network.responseReceivedExtraInfo",
            lambda e: self.wire.__setitem__(e["requestId"], e["statusCode"]),
        )
        cdp.on(
            "Network.loadingFinished",
            lambda e: self._set(e, done=True, end=e["timestamp"], bytes=e["encodedDataLength"]),
        )
        cdp.on(
            "Network.loadingFailed",
            lambda e: self._set(e, done=True, end=e["timestamp"], error=e["errorText"]),
        )
        cdp.send("Network.enable")

    def _sent(self, event: dict) -> None:
        url = event["request"]["url"]
        if url.startswith("http"):
            self.requests[event["requestId"]] = {
                "path": urlsplit(url).path,
                "status": None,
                "cache": None,
                "bytes": 0,
                "done": False,
                "start": event["timestamp"],
                "end": None,
            }

    def _set(self, event: dict, **values) -> None:
        if event["requestId"] in self.requests:
            self.requests[event["requestId"]].update(values)

    def _response(self, event: dict) -> None:
        self._set(event, status=event["response"]["status"])
        for flag, cache in CACHE_FLAGS.items():
            if event["response"].get(flag):
                self._set(event, cache=cache)

    def pending(self) -> bool:
        return any(not entry["done"] for entry in self.requests.values())

    def summary(self, kind_of: Callable[[str], str]) -> dict:
        """Bytes and requests that hit the network, in total and by kind of file."""
        kinds: dict[str, dict] = {}
        entries = []
        # A waterfall in ms from the first request (the page's), to see what waits for what.
        origin = min((entry["start"] for entry in self.requests.values()), default=0)
        for request_id, entry in self.requests.items():
            entry = {
                **entry,
                "wire": self.wire.get(request_id),
                "start": round((entry["start"] - origin) * 1000),
                "end": None if entry["end"] is None else round((entry["end"] - origin) * 1000),
            }
            if entry["path"].startswith(BENCH_IMAGES):
                continue  # the harness's own image, not the page's
            kind = kind_of(entry["path"])
            network = entry["cache"] is None and (entry["status"] is not None or "error" in entry)
            totals = kinds.setdefault(kind, {"requests": 0, "bytes": 0})
            totals["requests"] += network
            totals["bytes"] += entry["bytes"]
            entries.append({**entry, "kind": kind, "network": network})
        return {
            "requests": sum(k["requests"] for k in kinds.values()),
            "bytes": sum(k["bytes"] for k in kinds.values()),
            "revalidated": sum(1 for e in entries if e["wire"] == 304),
            "by_kind": kinds,
            "entries": sorted(entries, key=lambda e: e["path"]),
        }


@dataclasses.dataclass
class Visit:
    page: object  # Playwright's Page
    network: NetworkLog
    done: dict  # what the init script's `window.__bench.done` resolved to
    problems: list[str]  # the page's errors and console errors


@contextlib.contextmanager
def open_page(
    profile: Path,
    url: str,
    label: str,
    extra_args: list[str],
    init_script: str,
    emulate: dict | None = None,
) -> Iterator[Visit]:
    """`url` in a newly launched Chromium on `profile`, once `window.__bench.done` has resolved.

    `init_script` runs before the page's own code and sets `window.__bench.done`; `emulate`
    (DevTools protocol method → parameters) is sent before the navigation, such as a throttled
    network and CPU. On leaving, the load event and late requests (favicon, lazy images) are
    waited for, 5 s at most, so that the network log is whole. `label` names the page in an
    error."""
    with chromium(profile, extra_args) as context:
        page = context.pages[0] if context.pages else context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        cdp = context.new_cdp_session(page)
        network = NetworkLog(cdp)
        for method, parameters in (emulate or {}).items():
            cdp.send(method, parameters)
        page.add_init_script(init_script)
        page.goto(url + "/", wait_until="domcontentloaded")
        try:
            done = page.evaluate("window.__bench.done")
        except Exception as error:  # Playwright's Error: the page's message, as one line
            message = str(error).splitlines()[0]
            raise BenchError(f"{label}: {message}; page errors: {problems or 'none'}") from None
        yield Visit(page, network, done, problems)
        page.wait_for_load_state("load")
        for _ in range(100):
            if not network.pending():
                break
            page.wait_for_timeout(50)


@contextlib.contextmanager
def cold_visit(
    url: str, label: str, extra_args: list[str], init_script: str, emulate: dict | None = None
) -> Iterator[Visit]:
    """`open_page` in a fresh profile, deleted afterwards: a first visit."""
    with (
        fresh_profile() as profile,
        open_page(profile, url, label, extra_args, init_script, emulate) as visit,
    ):
        yield visit


def _visit(
    profile: Path,
    url: str,
    image: str,
    extra_args: list[str],
    kind_of,
    predictions: int,
    after=None,
    emulate: dict | None = None,
) -> dict:
    """One navigation in a newly launched Chromium on `profile`; `after(page)` may do more.

    `emulate`: DevTools protocol commands (method → parameters) sent before the navigation."""
    script = HOOK % {"image": json.dumps(image), "timeout": TIMEOUT_MS}
    with open_page(profile, url, url, extra_args, script, emulate) as visit:
        page, first = visit.page, visit.done
        marks = page.evaluate(MARKS)
        times = page.evaluate(REPEAT_PREDICTIONS, predictions) if predictions else []
        extra = after(page) if after else None
    detail = first["detail"] or {}
    return {
        "backend": detail.get("backend"),
        "model_loaded_ms": marks.get("tmbuild:model-loaded", marks.get("snippet:model-loaded")),
        "ready_ms": first["readyMs"],
        "first_prediction_ms": first["firstPredictionMs"],
        "top1": max(first["probabilities"], key=first["probabilities"].get),
        "prediction_ms": times,
        "median_prediction_ms": median(times),
        "load_ms": detail.get("loadMs"),
        "warmup_ms": detail.get("warmupMs"),
        "network": visit.network.summary(kind_of),
        "marks": marks,
        "errors": visit.problems,
        "extra": extra,
    }


def measure(
    url: str,
    image: str,
    extra_args: list[str],
    kind_of,
    predictions: int,
    before_first_visit=None,
    emulate: dict | None = None,
) -> dict:
    """A first visit in a fresh profile, then a repeat visit in the same profile.

    Chromium is closed in between and launched again, so the repeat visit has only what a
    returning visitor has: the disk cache (and V8's code cache), nothing in memory. `emulate`
    applies to both visits (see `_visit`).
    """
    with fresh_profile() as profile:
        if before_first_visit:
            before_first_visit()
        first = _visit(profile, url, image, extra_args, kind_of, predictions, emulate=emulate)
        repeat = _visit(profile, url, image, extra_args, kind_of, 0, emulate=emulate)
    return {"first": first, "repeat": repeat}


def classify_all(
    url: str, image: str, image_urls: list[str], extra_args: list[str], kind_of, batch: int = 16
) -> dict[str, dict]:
    """Probabilities by label for every image, from one visit to the page."""

    def run(page) -> dict:
        results: dict[str, dict] = {}
        for start in range(0, len(image_urls), batch):
            results.update(page.evaluate(CLASSIFY_URLS, image_urls[start : start + batch]))
        return results

    with fresh_profile() as profile:
        return _visit(profile, url, image, extra_args, kind_of, 0, after=run)["extra"]


def summarize(measured: list[dict]) -> dict:
    """Medians over several `measure()` results of one page in one condition."""
    first = [v["first"] for v in measured]
    repeat = [v["repeat"] for v in measured]

    def requests_of(visit: dict, kinds: tuple[str, ...]) -> int:
        by_kind = visit["network"]["by_kind"]
        return sum(by_kind.get(kind, {}).get("requests", 0) for kind in kinds)

    return {
        "backend": first[0]["backend"],
        "model_loaded_ms": median([v["model_loaded_ms"] for v in first]),
        "warmup_ms": median([v["warmup_ms"] for v in first]),
        "ready_ms": median([v["ready_ms"] for v in first]),
        "first_prediction_ms": median([v["first_prediction_ms"] for v in first]),
        "median_prediction_ms": median([v["median_prediction_ms"] for v in first]),
        "first_bytes": median([v["network"]["bytes"] for v in first]),
        "first_requests": median([v["network"]["requests"] for v in first]),
        "repeat_ready_ms": median([v["ready_ms"] for v in repeat]),
        "repeat_first_prediction_ms": median([v["first_prediction_ms"] for v in repeat]),
        "repeat_bytes": median([v["network"]["bytes"] for v in repeat]),
        "repeat_requests": median([v["network"]["requests"] for v in repeat]),
        "repeat_runtime_model_requests": max(requests_of(v, ("runtime", "model")) for v in repeat),
    }


def kind_of_tmbuild(path: str) -> str:
    if path.startswith("/assets/tfjs/"):
        return "runtime"
    if path.startswith("/models/"):
        return "model"
    return "page" if path == "/" or path.endswith(".html") else "assets"


def kind_of_snippet(path: str) -> str:
    if path in ("/tf.min.js", "/teachablemachine-image.min.js"):
        return "runtime"
    if path.startswith("/my_model/"):
        return "model"
    return "page" if path == "/" or path.endswith(".html") else "assets"


# ---- sides that take turns (bench/audio.py, bench/pose.py) ----------------------------------


def take_turns(sides: tuple[str, ...], conditions: list[str], runs_of, visit) -> list[dict]:
    """Each condition's runs, every side once a run, the order reversed every other run.

    `runs_of(condition)` → how many runs; `visit(side, condition, run)` → one visit's figures.
    Returns the visits, each with its run and condition."""
    visited = []
    for condition in conditions:
        for run in range(runs_of(condition)):
            for side in sides if run % 2 == 0 else sides[::-1]:
                one = visit(side, condition, run)
                visited.append({"run": run, "condition": condition, **one})
    return visited


def by_condition(visited: list[dict], sides, conditions, summarize) -> dict:
    """{condition: {side: summarize(that side's visits in that condition)}}."""
    return {
        condition: {
            side: summarize(
                [v for v in visited if v["condition"] == condition and v["side"] == side]
            )
            for side in sides
        }
        for condition in conditions
    }


def sides_table(summary: dict[str, dict], keys) -> str:
    """Medians of several sides (columns) by key (rows), then each side's backend and first
    labels, as a Markdown table."""
    sides = list(summary.values())
    rows = [[key, *("–" if s[key] is None else f"{s[key]:,.1f}" for s in sides)] for key in keys]
    rows.append(["backend", *(f"{s['backend']} {s['runner'] or ''}" for s in sides)])
    rows.append(["first labels", *(", ".join(s["labels"]) for s in sides)])
    return table(["median", *summary], rows)


def site_sizes(built: dict) -> dict:
    """tmbuild's sites by side (BuildResults): raw, Brotli and model bytes."""
    return {
        side: {
            "raw_bytes": b.raw_bytes,
            "brotli_bytes": b.brotli_bytes,
            "model_bytes": b.model.total_bytes,
        }
        for side, b in built.items()
    }


def file_sizes(folder: Path) -> dict[str, int]:
    """Every file under `folder` (its path there → bytes)."""
    return {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
