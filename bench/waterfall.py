"""Where a first visit's time goes: tmbuild's page as a request waterfall, with the page's marks.

One first visit per run, in a fresh profile, under a condition of bench/compare.py (mobile by
default), measured by the same init script as compare.py (it classifies one real image once the
page is ready). For each request: when Chromium sent it, when its headers came and when its last
byte did (DevTools protocol network events, which see the throttled network, unlike the page's
Resource Timing), from the page's own request; then the page's `performance` marks on the same
clock, from navigation. Issue 18 read its critical path from this.

    .venv/bin/python bench/waterfall.py [--exports NAME ...] [--runs N] [--quantize int8]
        [--condition mobile]
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import common
import compare
import visits

MARKS = """() => performance.getEntriesByType("mark").map((m) => [m.name, m.startTime])"""


def parse_args():
    parser = common.argument_parser(__doc__, ["brands6-imgs"], 2, "first visits", False)
    parser.add_argument("--condition", choices=list(compare.CONDITIONS), default="mobile")
    return parser.parse_args()


def _requests(events: list[tuple[str, dict]]) -> list[dict]:
    """Each request's times in ms from the first one (the page's), and its bytes on the wire."""
    requests: dict[str, dict] = {}
    for name, event in events:
        entry = requests.get(event["requestId"])
        if name == "requestWillBeSent":
            path = event["request"]["url"].split("/", 3)[-1]
            requests[event["requestId"]] = {"path": path, "sent": event["timestamp"]}
        elif entry is not None and name == "responseReceived":
            timing = event["response"].get("timing")
            entry["headers"] = (
                timing["requestTime"] + timing["receiveHeadersEnd"] / 1000
                if timing
                else event["timestamp"]
            )
        elif entry is not None and name == "loadingFinished":
            entry.update(end=event["timestamp"], bytes=event["encodedDataLength"])
    origin = min((entry["sent"] for entry in requests.values()), default=0)

    def ms(value):
        return None if value is None else round((value - origin) * 1000)

    return [
        {
            "path": "/" + entry["path"],
            "sent": ms(entry["sent"]),
            "headers": ms(entry.get("headers")),
            "end": ms(entry.get("end")),
            "bytes": entry.get("bytes"),
        }
        for entry in sorted(requests.values(), key=lambda entry: entry["sent"])
    ]


def visit(url: str, image: str, condition: str) -> dict:
    extra_args, emulate = compare.CONDITIONS[condition]
    with common.fresh_profile() as profile, common.chromium(profile, extra_args) as context:
        page = context.pages[0] if context.pages else context.new_page()
        cdp = context.new_cdp_session(page)
        events: list[tuple[str, dict]] = []
        for name in ("requestWillBeSent", "responseReceived", "loadingFinished"):
            cdp.on(f"Network.{name}", lambda event, name=name: events.append((name, event)))
        cdp.send("Network.enable")
        for method, parameters in (emulate or {}).items():
            cdp.send(method, parameters)
        page.add_init_script(visits.HOOK % {"image": json.dumps(image), "timeout": 180_000})
        page.goto(url + "/", wait_until="domcontentloaded")
        first = page.evaluate("window.__bench.done")
        marks = page.evaluate(MARKS)
    return {
        "ready_ms": first["readyMs"],
        "first_prediction_ms": first["firstPredictionMs"],
        "requests": _requests(events),
        "marks": sorted(marks, key=lambda mark: mark[1]),
        "load_average": os.getloadavg()[0],
    }


def _print(run: dict) -> None:
    print(
        f"\n  first prediction {run['first_prediction_ms']:.0f} ms, ready {run['ready_ms']:.0f} "
        f"ms (load {run['load_average']:.1f})"
    )
    cells = [
        [r["path"][:56], r["sent"], r["headers"], r["end"], r["bytes"]] for r in run["requests"]
    ]
    cells += [[f"mark {name}", "", "", round(time), ""] for name, time in run["marks"]]
    print(common.table(["request or mark", "sent ms", "headers ms", "end ms", "bytes"], cells))


def main() -> None:
    args = parse_args()
    results = {}
    for target in common.pick_targets(args.exports, ["brands6-imgs"]):
        with tempfile.TemporaryDirectory(prefix="tmbuild-bench-waterfall-") as work:
            common.build_tmbuild_site(target, Path(work), args.quantize)
            root, images = common.images_of(target, 20)
            image = common.timing_image(root, images)
            print(f"\n{target.name} ({args.quantize}, {args.condition})")
            with common.serve(Path(work), {common.BENCH_IMAGES: root}, True) as url:
                runs = [visit(url, image, args.condition) for _ in range(args.runs)]
        for run in runs:
            _print(run)
        results[target.name] = runs
    path = common.save("waterfall", {"settings": dict(vars(args)), "exports": results})
    print(f"\nSaved {path.relative_to(common.ROOT)}")


if __name__ == "__main__":
    common.main(main)
