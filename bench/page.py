"""How fast tmbuild's page is, backend by backend (issue #3).

For the example site and one real export, the page is built once per `classifier.backend`
(auto, webgl, wasm, cpu), served with its `_headers` and Brotli siblings, and visited in a fresh
Chromium profile, then again in the same profile after a restart. `auto` is also measured
without WebGL (`--disable-gpu --disable-software-rasterizer`); the forced backends are not,
since `webgl` then has nothing to run on.

    .venv/bin/python bench/page.py [--exports NAME ...] [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import common
import visits

DEFAULT_EXPORTS = ["example", "brands6-imgs"]
CASES = [
    ("auto", "default"),
    ("webgl", "default"),
    ("wasm", "default"),
    ("cpu", "default"),
    ("auto", "no-webgl"),
]
NOTES = [
    "WebGL in the default condition is SwiftShader (software): `auto` prefers WASM over it.",
    "Timings from the page (performance.now() from navigation start): ready = tmbuild:ready "
    "(runtime, backend and model loaded, warmed up); first prediction = the first "
    "classify() of one real image (its decoding started at navigation) has returned.",
    "Bytes are CDP Network.loadingFinished encodedDataLength over Brotli-serving loopback; a "
    "request counts unless Chromium served it from its memory or disk cache (a 304 counts).",
    "Repeat visit: the same profile after closing and relaunching Chromium.",
]


def parse_args() -> argparse.Namespace:
    parser = common.argument_parser(
        __doc__, DEFAULT_EXPORTS, 3, "visits per case", predictions=True
    )
    parser.add_argument("--quick", action="store_true", help="1 run, 5 predictions")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.predictions = 1, 5
    if args.runs < 1 or args.predictions < 1:
        parser.error("--runs and --predictions must be at least 1")
    return args


def print_table(name: str, cases: dict[str, dict]) -> None:
    header = [
        "backend (asked → used)",
        "condition",
        "ready ms",
        "first prediction ms",
        "ms / prediction",
        "first visit kB (req)",
        "repeat: ready ms",
        "repeat: first prediction ms",
        "repeat kB (req; runtime+model)",
    ]
    rows = []
    for key, s in cases.items():
        asked, condition = key.split("/")
        rows.append(
            [
                f"{asked} → {s['backend']}",
                condition,
                f"{s['ready_ms']:.0f}",
                f"{s['first_prediction_ms']:.0f}",
                f"{s['median_prediction_ms']:.1f}",
                f"{s['first_bytes'] / 1000:.0f} ({s['first_requests']:.0f})",
                f"{s['repeat_ready_ms']:.0f}",
                f"{s['repeat_first_prediction_ms']:.0f}",
                f"{s['repeat_bytes'] / 1000:.1f} ({s['repeat_requests']:.0f}; "
                f"{s['repeat_runtime_model_requests']})",
            ]
        )
    print(f"\n## {name}\n")
    print(common.table(header, rows))


def measure_export(target: common.Target, args: argparse.Namespace, work: Path) -> dict:
    print(f"\n{target.name}: building the page for each backend", flush=True)
    sites = {}
    for backend in sorted({backend for backend, _ in CASES}):
        common.build_tmbuild_site(target, work / backend, args.quantize, backend=backend)
        sites[backend] = work / backend
    root, images = common.images_of(target, None)
    image = common.timing_image(root, images)
    mounts = {common.BENCH_IMAGES: root}
    results: dict[str, list[dict]] = {f"{b}/{c}": [] for b, c in CASES}
    with contextlib.ExitStack() as stack:
        urls = {
            b: stack.enter_context(common.serve(site, mounts, True)) for b, site in sites.items()
        }
        for run in range(args.runs):
            for backend, condition in CASES:
                measured = visits.measure(
                    urls[backend],
                    image,
                    common.CONDITIONS[condition],
                    visits.kind_of_tmbuild,
                    args.predictions,
                )
                results[f"{backend}/{condition}"].append(measured)
                first, repeat = measured["first"], measured["repeat"]
                print(
                    f"  run {run + 1} {backend:5} {condition:8} → {first['backend']:5} ready "
                    f"{first['ready_ms']:6.0f} ms, first prediction "
                    f"{first['first_prediction_ms']:6.0f} ms, "
                    f"{first['median_prediction_ms']:6.1f} ms/prediction; repeat "
                    f"{repeat['first_prediction_ms']:6.0f} ms",
                    flush=True,
                )
    cases = {key: visits.summarize(measured) for key, measured in results.items()}
    print_table(target.name, cases)
    return {"timing_image": image, "cases": cases, "runs": results}


def main() -> None:
    args = parse_args()
    common.measure_each_export("page", args, DEFAULT_EXPORTS, measure_export, NOTES)


if __name__ == "__main__":
    common.main(main)
