"""tmbuild's pose page against Teachable Machine's pose snippet, on the same export (#22).

Three sides, served from loopback and visited in turn, each in a fresh Chromium profile whose
fake camera plays a clip of a person in a loop:

- the snippet: the export dialog's pose code with `tf.min.js` 1.3.1 and
  `teachablemachine-pose.min.js` 0.8.6 (the verified `npm pack` files of
  tests/support/official_pose.py) and the export, on a plain static server; PoseNet, which the
  library fetches from Google's storage, from a second loopback server with the same bytes;
- tmbuild's pose page for the same export, float16 (the default) and int8, served with
  `_headers`, its webcam started from the page's button as soon as it is enabled.

Both servers send a file's Brotli sibling (quality 11, where smaller) to browsers that accept
it, as bench/compare.py serves the image snippet, except the files of the snippet's two storage
hosts (weights.bin, PoseNet), served as stored. Per visit: bytes on the wire, when the model was
loaded, when the camera was open, when the first frame's prediction came (tmbuild: the engine's
`tmbuild:first-prediction` mark), and the time of each frame's pose and prediction while
running (the median of 50 after 5 of warm-up; 20 under the mobile profile).

    .venv/bin/python bench/pose.py [--runs N] [--conditions default mobile] [--quick]
    .venv/bin/python bench/pose.py --cite bench/results/pose-<date>-<commit>.json

`--cite` appends a saved run's headline figures to bench/figures.csv (kind `pose`).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import tempfile
from pathlib import Path

import common
import compare
import pose_pages
import visits
from audio import machine_name
from support import pose_export
from support.engines import CHROMIUM_FAKE_CAMERA

EXAMPLE = common.ROOT / "examples" / "poses"
CLIP = common.ROOT / "examples" / "poses-clip.y4m"
SIDES = ("snippet", "float16", "int8")
CONDITIONS = {"default": None, "mobile": compare.MOBILE}
WARM_UP = 5  # frames left out of the time per frame (the snippet's first compiles WebGL's shaders)
FRAMES = {"default": 50, "mobile": 20}
TIMEOUT_MS = 300_000  # the snippet under the mobile profile: ~11 MB at 205 kB/s, then WebGL
FRAMES_TIMEOUT_MS = 180_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="alternating runs (default 5)")
    parser.add_argument(
        "--mobile-runs", type=int, default=3, help="runs under the mobile profile (default 3)"
    )
    parser.add_argument(
        "--conditions", nargs="+", choices=list(CONDITIONS), default=list(CONDITIONS)
    )
    parser.add_argument(
        "--clip",
        type=Path,
        default=CLIP,
        help=f"the camera: a y4m clip, or a PNG photo of a person made into one (default {CLIP})",
    )
    parser.add_argument("--quick", action="store_true", help="1 run, default condition only")
    parser.add_argument(
        "--cite", type=Path, metavar="JSON", help="append a saved run's figures to figures.csv"
    )
    args = parser.parse_args()
    if args.quick:
        args.runs, args.mobile_runs, args.conditions = 1, 1, ["default"]
    return args


def export_and_clip(args: argparse.Namespace, work: Path) -> tuple[str, Path, Path]:
    """The example pose model when present, else a seeded export of the same shape; the clip.

    The seeded export (tests/support/pose_export.py) has Teachable Machine's head with random
    float32 weights: the same 5.9 MB download and the same work per frame; its labels mean
    nothing.
    """
    if (EXAMPLE / "model.json").is_file():
        name, export = "poses", EXAMPLE
    else:
        print(f"{EXAMPLE} is absent: measuring a seeded export", flush=True)
        name, export = "seeded", pose_export.write_pose_export(work / "seeded-export", seed=22)
    clip = args.clip.resolve()
    if not clip.is_file():
        raise common.BenchError(f"{clip}: no such clip (give --clip a y4m clip or a PNG photo)")
    if clip.suffix.lower() == ".png":
        clip = pose_export.photo_clip(clip, work / "clip.y4m")
    return name, export, clip


def visit(url: str, side: str, clip: Path, condition: str, posenet: str | None) -> dict:
    """One first visit in a fresh profile: timings from the page, bytes from the network."""
    args = [*CHROMIUM_FAKE_CAMERA, f"--use-file-for-fake-video-capture={clip}"]
    kind_of = pose_pages.kind_of_snippet if side == "snippet" else visits.kind_of_tmbuild
    frames = FRAMES[condition]
    hook = pose_pages.hook(posenet, TIMEOUT_MS)
    with visits.cold_visit(url, side, args, hook, CONDITIONS[condition]) as cold:
        times, problems, network = cold.done, cold.problems, cold.network
        measured = cold.page.evaluate(pose_pages.FRAMES, [WARM_UP + frames, FRAMES_TIMEOUT_MS])
        marks = cold.page.evaluate(visits.MARKS)
    starts = [start for start, _ in measured["frames"]]
    running = measured["frames"][WARM_UP : WARM_UP + frames]
    intervals = [b - a for a, b in zip(starts, starts[1:], strict=False)][WARM_UP:]
    info = measured["info"] or {}
    return {
        "side": side,
        "backend": info.get("backend"),
        "runner": info.get("runner"),
        "model_loaded_ms": marks.get("tmbuild:model-loaded", marks.get("snippet:model-loaded")),
        # tmbuild: loaded and warm (tmbuild:ready). The snippet has no warm-up: its first frame
        # pays for it (WebGL's shaders), so its ready is when the model was loaded.
        "ready_ms": times.get("readyMs", marks.get("snippet:model-loaded")),
        "camera_ms": measured["times"].get("cameraMs"),
        "first_prediction_ms": marks.get("tmbuild:first-prediction", times["firstPredictionMs"]),
        "first_frame_ms": measured["frames"][0][1],
        # tmbuild: when the first webcam frame's result event came (the skeleton is drawn).
        "first_result_ms": measured["times"].get("firstResultMs"),
        "first_label": measured["firstLabel"],
        "posed": measured["posed"],
        "frames_timed": len(running),
        "frame_ms": [ms for _, ms in running],
        "median_frame_ms": common.median([ms for _, ms in running]),
        "median_interval_ms": common.median(intervals[: len(running)]),
        "network": network.summary(kind_of),
        "marks": marks,
        "errors": problems,
    }


SUMMARY_KEYS = (
    "first_bytes",
    "first_requests",
    "model_loaded_ms",
    "ready_ms",
    "camera_ms",
    "first_prediction_ms",
    "first_frame_ms",
    "median_frame_ms",
    "median_interval_ms",
)


def summarize(measured: list[dict]) -> dict:
    """Medians over the visits of one side in one condition."""
    values = {key: [] for key in SUMMARY_KEYS}
    for one in measured:
        one = {**one, "first_bytes": one["network"]["bytes"]}
        one["first_requests"] = one["network"]["requests"]
        for key in SUMMARY_KEYS:
            values[key].append(one[key])
    return {
        "backend": measured[0]["backend"],
        "runner": measured[0]["runner"],
        "visits": len(measured),
        "labels": sorted({one["first_label"] or "–" for one in measured}),
        "posed": sum(bool(one["posed"]) for one in measured),
        "bytes_by_kind": _bytes_by_kind(measured),
        **{key: common.median(found) for key, found in values.items()},
    }


def _bytes_by_kind(measured: list[dict]) -> dict:
    """Median bytes per kind of file (page, runtime, model, posenet, assets)."""
    by_kind = [one["network"]["by_kind"] for one in measured]
    kinds = sorted({kind for one in by_kind for kind in one})
    return {k: common.median([one.get(k, {}).get("bytes") for one in by_kind]) for k in kinds}


def print_table(name: str, condition: str, summary: dict) -> None:
    print(f"\n## {name}, {condition}\n")
    print(visits.sides_table(summary, SUMMARY_KEYS))
    posed = ", ".join(f"{side} {one['posed']}" for side, one in summary.items())
    print(f"\nVisits with a pose found on the first frame: {posed}")


def measure_export(name: str, export: Path, clip: Path, args, work: Path) -> dict:
    print(f"\n{name}: building the pages", flush=True)
    target = common.Target(name, export, None, None)
    built, urls = {}, {}
    for side in SIDES[1:]:
        built[side] = common.build_tmbuild_site(target, work / side, side)
    snippet = pose_pages.build_snippet_site(export, work / "snippet")
    posenet = pose_pages.build_posenet_site(work / "posenet")
    with (
        common.serve(posenet, {}, True) as posenet_url,
        common.serve(snippet, {}, False) as urls["snippet"],
        common.serve(work / "float16", {}, True) as urls["float16"],
        common.serve(work / "int8", {}, True) as urls["int8"],
    ):

        def one_visit(side: str, condition: str, run: int) -> dict:
            origin = posenet_url if side == "snippet" else None
            one = visit(urls[side], side, clip, condition, origin)
            print(
                f"  {condition:7} run {run + 1} {side:7} {one['backend']}: "
                f"{one['network']['bytes'] / 1000:6.0f} kB, ready {one['ready_ms']:6.0f}, camera "
                f"{one['camera_ms'] or 0:6.0f}, first prediction {one['first_prediction_ms']:6.0f}"
                f" ms ({one['first_label']}), {one['median_frame_ms'] or 0:6.1f} ms/frame "
                f"({one['frames_timed']})",
                flush=True,
            )
            return one

        runs = {"default": args.runs, "mobile": args.mobile_runs}
        visited = visits.take_turns(SIDES, args.conditions, runs.get, one_visit)
    summary = visits.by_condition(visited, SIDES, args.conditions, summarize)
    for condition, sides in summary.items():
        print_table(name, condition, sides)
    return {
        "export": name,
        "tmbuild_sites": visits.site_sizes(built),
        "snippet_files": {**visits.file_sizes(snippet), **visits.file_sizes(posenet)},
        "summary": summary,
        "visits": visited,
    }


NOTES = [
    "Brotli as bench/compare.py serves the image snippet: each server sends a file's .br "
    "sibling (quality 11, kept only where smaller) to browsers that accept br. The snippet's "
    "weights.bin and PoseNet's model-stride16.json and weights are the exception: served as "
    "stored, as Teachable Machine's model hosting and Google's storage (buckets) serve them; "
    "the sizes their Brotli copies would have had are in snippet_files (*.br-not-served).",
    "PoseNet for the snippet: the pinned network of tmbuild.model.posenet (the weights' bytes "
    "tmbuild builds from), its fused convolutions as TensorFlow.js 1.3.1's plain ops "
    "(tests/support/official_pose.py), from a second loopback server (another origin, as "
    "Google's storage is); the page's fetch of PoseNet's path is sent there, so the requests "
    "go through Chromium's network stack, throttled and counted as every other.",
    "Cold: every visit is a fresh Chromium profile; the sides take turns. The fake camera "
    "plays the clip in a loop.",
    "Times are performance.now() in the page, from the start of navigation. ready: tmbuild's "
    "tmbuild:ready (loaded and warmed up); the snippet never warms up, its ready is when "
    "tmPose.load() resolved. camera: tmbuild's webcam event (started by a click on the page's "
    "button as soon as it is enabled); the snippet's webcam.play() resolved. "
    "first_prediction: tmbuild's tmbuild:first-prediction mark; the snippet's first "
    "model.predict() result.",
    "median_frame_ms: one frame's pose and prediction (tmbuild: classifier.predict, which the "
    "webcam loop calls; the snippet: estimatePose then predict, as its loop awaits them), "
    "drawing not included, the first 5 frames left out, 50 frames (20 under the mobile "
    "profile). median_interval_ms: from one frame's start to the next (the rate a visitor sees).",
    "Mobile: Lighthouse's mobile profile through the DevTools protocol, as bench/compare.py.",
]

# (metric as figures.csv names it, summary key, decimals)
FIGURES = [
    ("first-visit bytes on the wire (br)", "first_bytes", 0),
    ("time to first prediction (ms)", "first_prediction_ms", 1),
    ("median time per frame (ms)", "median_frame_ms", 1),
]


def figure_rows(record: dict) -> list[list[str]]:
    """figures.csv rows of a saved run: each tmbuild side against the snippet, per condition."""
    machine = record["machine"]
    load = f"{machine['load_average_at_start'][0]:.1f}-{machine['load_average_at_end'][0]:.1f}"
    when = record["date"][:16].replace("T", " ")
    head = ["pose", when, record["commit"][:7], machine_name(machine), load]
    rows = []
    for name, result in record["exports"].items():
        for condition, sides in result["summary"].items():
            for side in SIDES[1:]:
                for metric, key, decimals in FIGURES:
                    ours, theirs = sides[side][key], sides["snippet"][key]
                    ratio = f"{ours / theirs:.3f}" if ours is not None and theirs else ""
                    cells = ["" if v is None else f"{v:.{decimals}f}" for v in (ours, theirs)]
                    rows.append(
                        [*head, name, f"{condition} ({side})", metric, *cells, ratio, "", ""]
                    )
    return rows


def main() -> None:
    args = parse_args()
    if args.cite:
        rows = figure_rows(json.loads(args.cite.read_text(encoding="utf-8")))
        with (common.ROOT / "bench" / "figures.csv").open("a", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)
        print(f"Appended {len(rows)} rows of {args.cite.name} to bench/figures.csv")
        return
    with tempfile.TemporaryDirectory(prefix="tmbuild-bench-pose-") as work:
        work = Path(work)
        name, export, clip = export_and_clip(args, work)
        result = measure_export(name, export, clip, args, work / name)
    settings = {**vars(args), "clip": str(args.clip)}
    # Other work in the same tree makes a run "dirty": say which files, uncommitted, it saw.
    changes = subprocess.run(
        ["git", "status", "--porcelain", "--", ".", ":(exclude)bench/results"],
        cwd=common.ROOT,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    data = {"settings": settings, "uncommitted": changes, "notes": NOTES}
    path = common.save("pose", {**data, "exports": {name: result}})
    print(f"\nSaved {path.relative_to(common.ROOT)}")


if __name__ == "__main__":
    common.main(main)
