"""tmbuild's page against Teachable Machine's export snippet, on the same export (issue #7).

For each export, two sites are served from loopback:

- the snippet page: the export dialog's code with `tf.min.js` from `@tensorflow/tfjs@4.22.0`
  and `teachablemachine-image.min.js` from `@teachablemachine/image@0.8.5` (verified `npm pack`
  tarballs), served by a plain static server in place of the CDN;
- tmbuild's page for the same export (`--quantize`, float16 by default), served with its
  `_headers`.

Both servers answer with the file's pre-made Brotli sibling when the browser accepts `br`, so
bytes on the wire compare Brotli with Brotli. Each page is measured in a fresh Chromium profile
(first visit), then again in the same profile after a browser restart (repeat visit), in turn,
in three conditions: default (WebGL is SwiftShader here), `--disable-gpu
--disable-software-rasterizer` (no WebGL), and Lighthouse's mobile profile (the default
browser, its network and CPU throttled through the DevTools protocol). Then the tmbuild page
and the float32 snippet classify the export's labelled images and their top-1 labels are
compared.

    .venv/bin/python bench/compare.py [--exports NAME ...] [--runs N] [--quantize int8]
        [--conditions default no-webgl mobile] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import common
import visits

SIDES = ("snippet", "tmbuild")
# Lighthouse's mobile profile ("Slow 4G" and a mid-range phone's CPU), as DevTools applies it:
# 150 ms round trip, 1.6 Mbps down and 750 kbps up (Lighthouse's kbit is 1,024 bits), CPU 4×
# slower. Both pages get the same, on both visits.
MOBILE = {
    "Network.emulateNetworkConditions": {
        "offline": False,
        "latency": 150,
        "downloadThroughput": 1.6 * 1024 * 1024 / 8,
        "uploadThroughput": 750 * 1024 / 8,
    },
    "Emulation.setCPUThrottlingRate": {"rate": 4},
}
# Condition → (Chromium arguments, DevTools protocol emulation).
CONDITIONS = {
    **{name: (args, None) for name, args in common.CONDITIONS.items()},
    "mobile": ([], MOBILE),
}
# (label, condition, summary key, target): a target is ("ratio", max tmbuild/snippet),
# ("zero", None): tmbuild's value must be 0, or None: for information.
ROWS = [
    ("first-visit bytes on the wire (br)", "default", "first_bytes", ("ratio", 0.50)),
    ("first-visit bytes on the wire (br)", "no-webgl", "first_bytes", None),
    ("first-visit requests", "default", "first_requests", None),
    ("model loaded (ms)", "default", "model_loaded_ms", None),
    ("model loaded (ms)", "no-webgl", "model_loaded_ms", None),
    ("ready (ms)", "default", "ready_ms", None),
    ("ready (ms)", "no-webgl", "ready_ms", None),
    ("time to first prediction (ms)", "default", "first_prediction_ms", ("ratio", 0.10)),
    ("time to first prediction (ms)", "no-webgl", "first_prediction_ms", ("ratio", 0.30)),
    ("median time per prediction (ms)", "default", "median_prediction_ms", ("ratio", 0.15)),
    ("median time per prediction (ms)", "no-webgl", "median_prediction_ms", ("ratio", 0.08)),
    ("repeat visit: requests", "default", "repeat_requests", None),
    (
        "repeat visit: runtime + model requests",
        "default",
        "repeat_runtime_model_requests",
        ("zero", None),
    ),
    (
        "repeat visit: runtime + model requests",
        "no-webgl",
        "repeat_runtime_model_requests",
        ("zero", None),
    ),
    ("repeat visit: bytes on the wire", "default", "repeat_bytes", None),
    (
        "repeat visit: time to first prediction (ms)",
        "default",
        "repeat_first_prediction_ms",
        ("ratio", 0.10),
    ),
    ("repeat visit: time to first prediction (ms)", "no-webgl", "repeat_first_prediction_ms", None),
    ("first-visit bytes on the wire (br)", "mobile", "first_bytes", None),
    ("time to first prediction (ms)", "mobile", "first_prediction_ms", ("ratio", 0.12)),
    ("median time per prediction (ms)", "mobile", "median_prediction_ms", None),
    ("repeat visit: time to first prediction (ms)", "mobile", "repeat_first_prediction_ms", None),
]
# Issue 18: with int8 weights a first visit downloads at most a quarter of the snippet's bytes.
INT8_BYTES_TARGET = ("ratio", 0.25)
AGREEMENT_TARGET = 0.995
NOTES = [
    "Brotli on both sides: each server sends a file's .br sibling (quality 11, kept only where "
    "smaller than the file) with Content-Encoding: br when the browser accepts br; the "
    "snippet's siblings are made by this script with tmbuild's own compression code.",
    "The snippet's server is plain (Last-Modified, 304s, no Cache-Control, like python -m "
    "http.server); its files are touched before each first visit, as if just published, so "
    "heuristic freshness (10% of the Last-Modified age) is ~0 and a repeat visit revalidates.",
    "Timings come from the page: performance.now() (from navigation start) when the page is "
    "ready (tmbuild:ready; the snippet: tmImage.load resolved) and when the first "
    "prediction on one real image (decoding started at navigation) has returned.",
    "Bytes are CDP Network.loadingFinished encodedDataLength (headers + body as sent); a "
    "request counts unless Chromium served it from its memory or disk cache, so a 304 counts. "
    "The harness's images under /bench-images/ are left out.",
    "Repeat visit: the same profile after closing and relaunching Chromium.",
    "Mobile: Lighthouse's mobile profile set through the DevTools protocol before each visit: "
    "Network.emulateNetworkConditions (150 ms latency, 209,715 B/s down, 96,000 B/s up) and "
    "Emulation.setCPUThrottlingRate 4, on the default browser.",
    "Top-1 agreement: the tmbuild page (its backend under `auto`) and the snippet (WebGL, "
    "SwiftShader here) classify the same images in the default condition.",
]


def parse_args() -> argparse.Namespace:
    parser = common.argument_parser(__doc__, None, 5, "alternating runs", predictions=True)
    parser.add_argument(
        "--images",
        type=int,
        default=100,
        help="labelled images per export for top-1 agreement (default 100)",
    )
    parser.add_argument("--all-images", action="store_true", help="every labelled image")
    parser.add_argument(
        "--conditions",
        nargs="+",
        choices=list(CONDITIONS),
        default=list(CONDITIONS),
        help="which conditions to measure (default: all three; mobile takes the longest)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 run, 5 predictions, 20 images: proves it works, measures little",
    )
    args = parser.parse_args()
    if args.quick:
        args.runs, args.predictions, args.images = 1, 5, 20
    if args.runs < 1 or args.predictions < 1 or args.images < 1:
        parser.error("--runs, --predictions and --images must be at least 1")
    return args


def summarize(runs: list[dict], conditions: list[str]) -> dict:
    """Medians over the runs, by condition and side."""
    return {
        condition: {
            side: visits.summarize(
                [r for r in runs if r["condition"] == condition and r["side"] == side]
            )
            for side in SIDES
        }
        for condition in conditions
    }


def agreement_of(ours: dict[str, dict], theirs: dict[str, dict]) -> dict:
    """How often tmbuild's top-1 label is the snippet's, and the largest probability gap."""
    same, compared, largest, differ, failed = 0, 0, 0.0, [], []
    for url, mine in ours.items():
        other = theirs[url]
        if "error" in mine or "error" in other:
            failed.append(url)
            continue
        compared += 1
        top_mine, top_other = max(mine, key=mine.get), max(other, key=other.get)
        largest = max(largest, max(abs(mine[label] - other[label]) for label in mine))
        if top_mine == top_other:
            same += 1
        else:
            differ.append({"image": url, "tmbuild": mine, "snippet": other})
    return {
        "images": compared,
        "same_top1": same,
        "rate": same / compared if compared else None,
        "max_abs_diff": largest,
        "disagreements": differ,
        "undecodable": failed,
    }


def verdicts(summary: dict, agreement: dict | None, quantize: str) -> list[dict]:
    rows = []
    for label, condition, key, target in ROWS:
        if condition not in summary:
            continue
        if key == "first_bytes" and condition == "default" and quantize == "int8":
            target = INT8_BYTES_TARGET
        snippet, ours = summary[condition]["snippet"][key], summary[condition]["tmbuild"][key]
        ratio = ours / snippet if snippet and ours is not None else None
        met = None
        if target and target[0] == "ratio":
            met = ratio is not None and ratio <= target[1]
        elif target and target[0] == "zero":
            met = ours == 0
        rows.append(
            {
                "metric": label,
                "condition": condition,
                "snippet": snippet,
                "tmbuild": ours,
                "ratio": ratio,
                "target": target,
                "met": met,
            }
        )
    if agreement is not None:
        rows.append(
            {
                "metric": f"top-1 agreement ({agreement['images']} images)",
                "condition": "default",
                "snippet": None,
                "tmbuild": agreement["rate"],
                "ratio": None,
                "target": ("at least", AGREEMENT_TARGET),
                "met": agreement["rate"] is not None and agreement["rate"] >= AGREEMENT_TARGET,
            }
        )
    return rows


def _number(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value < 1:
        return f"{value:.3f}"
    return f"{value:,.0f}"


def print_table(name: str, summary: dict, rows: list[dict]) -> None:
    backends = ", ".join(
        f"{c}: snippet {s['snippet']['backend']}, tmbuild {s['tmbuild']['backend']}"
        for c, s in summary.items()
    )
    print(f"\n## {name}  ({backends})\n")
    cells = []
    for row in rows:
        target = row["target"]
        wanted = (
            "–"
            if target is None
            else "tmbuild = 0"
            if target[0] == "zero"
            else f"≥ {target[1]:.1%}"
            if target[0] == "at least"
            else f"≤ {target[1]:.2f}"
        )
        met = {None: "", True: "yes", False: "NO"}[row["met"]]
        shown = (
            f"{row['tmbuild']:.1%}"
            if row["metric"].startswith("top-1") and row["tmbuild"] is not None
            else _number(row["tmbuild"])
        )
        cells.append(
            [
                row["metric"],
                row["condition"],
                _number(row["snippet"]),
                shown,
                "–" if row["ratio"] is None else f"{row['ratio']:.3f}",
                wanted,
                met,
            ]
        )
    header = ["metric", "condition", "snippet", "tmbuild", "ratio", "target", "met"]
    print(common.table(header, cells))


def _brief(side: str, visit: dict) -> str:
    first, repeat = visit["first"], visit["repeat"]
    return (
        f"{side:8} {first['backend']:6} ready {first['ready_ms']:7.0f} ms, first prediction "
        f"{first['first_prediction_ms']:7.0f} ms, {first['median_prediction_ms']:6.0f} ms/pred, "
        f"{first['network']['bytes'] / 1000:7.0f} kB in {first['network']['requests']} req; "
        f"repeat {repeat['network']['requests']} req, {repeat['first_prediction_ms']:.0f} ms"
    )


def measure_export(target: common.Target, args: argparse.Namespace, work: Path) -> dict:
    print(f"\n{target.name}: building both pages", flush=True)
    built = common.build_tmbuild_site(target, work / "tmbuild", args.quantize)
    snippet = common.build_snippet_site(target, work / "snippet")
    root, images = common.images_of(target, None if args.all_images else args.images)
    image = common.timing_image(root, images)
    sides = {
        "snippet": (visits.kind_of_snippet, lambda: common.touch_all(snippet)),
        "tmbuild": (visits.kind_of_tmbuild, None),
    }
    runs, agreement = [], None
    mounts = {common.BENCH_IMAGES: root}
    with (
        common.serve(work / "tmbuild", mounts, True) as ours,
        common.serve(snippet, mounts, False) as theirs,
    ):
        urls = {"snippet": theirs, "tmbuild": ours}
        for run in range(args.runs):
            order = SIDES if run % 2 == 0 else SIDES[::-1]  # neither side always goes first
            for condition in args.conditions:
                extra_args, emulate = CONDITIONS[condition]
                for side in order:
                    kind_of, before = sides[side]
                    measured = visits.measure(
                        urls[side], image, extra_args, kind_of, args.predictions, before, emulate
                    )
                    runs.append({"run": run, "condition": condition, "side": side, **measured})
                    print(f"  run {run + 1} {condition:8} {_brief(side, measured)}", flush=True)
        if target.images is not None:
            print(f"  top-1 agreement on {len(images)} images", flush=True)
            image_urls = [common.image_url(root, path) for path in images]
            agreement = agreement_of(
                visits.classify_all(ours, image, image_urls, [], visits.kind_of_tmbuild),
                visits.classify_all(theirs, image, image_urls, [], visits.kind_of_snippet),
            )
    summary = summarize(runs, args.conditions)
    rows = verdicts(summary, agreement, args.quantize)
    print_table(target.name, summary, rows)
    snippet_files = {
        p.relative_to(snippet).as_posix(): p.stat().st_size
        for p in sorted(snippet.rglob("*"))
        if p.is_file()
    }
    return {
        "export": str(target.export.relative_to(common.ROOT) if target.config else target.export),
        "timing_image": image,
        "tmbuild_site": {
            "raw_bytes": built.raw_bytes,
            "brotli_bytes": built.brotli_bytes,
            "model_bytes": built.model.total_bytes,
        },
        "snippet_files": snippet_files,
        "summary": summary,
        "targets": rows,
        "agreement": agreement,
        "runs": runs,
    }


def main() -> None:
    args = parse_args()
    targets = common.pick_targets(args.exports)
    results = {}
    with tempfile.TemporaryDirectory(prefix="tmbuild-bench-compare-") as work:
        for target in targets:
            results[target.name] = measure_export(target, args, Path(work) / target.name)
    settings = {key: value for key, value in vars(args).items()}
    path = common.save("compare", {"settings": settings, "notes": NOTES, "exports": results})
    missed = [
        f"{name}: {row['metric']} ({row['condition']})"
        for name, result in results.items()
        for row in result["targets"]
        if row["met"] is False
    ]
    print("\nTargets missed:" if missed else "\nEvery target met.")
    for line in missed:
        print(f"  {line}")
    print(f"\nSaved {path.relative_to(common.ROOT)}")


if __name__ == "__main__":
    common.main(main)
