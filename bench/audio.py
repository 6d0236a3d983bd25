"""tmbuild's listening page against Teachable Machine's audio snippet, on the example model (#21).

Three sides, served from loopback and visited in turn, each in a fresh Chromium profile whose
fake microphone plays one clip of `examples/words-clips/` in a loop:

- the snippet: the export dialog's audio code with `tf.min.js` 3.21.0 and
  `speech-commands.min.js` 0.5.4 (the verified `npm pack` files of
  tests/support/official_speech.py) and the export, on a plain static server;
- tmbuild's page for the same export, float16 (the default) and int8, served with `_headers`.

Both servers send a file's Brotli sibling (quality 11, where smaller) to browsers that accept
it, as bench/compare.py serves the image snippet. Per visit: bytes on the wire, when the model
was loaded, when it was ready, when the microphone was listening, when the first window was due
and when its answer came; then a few seconds more of listening (the time of each window while
listening), and, once stopped, 50 predictions of one fixed window (the model's time per window).

    .venv/bin/python bench/audio.py [--runs N] [--conditions default mobile] [--quick]
    .venv/bin/python bench/audio.py --cite bench/results/audio-<date>-<commit>.json

`--cite` appends a saved run's headline figures to bench/figures.csv (kind `audio`).
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

import audio_pages
import common
import compare
import conftest
import visits
from support import audio as test_audio
from support import official_speech

EXPORT = common.ROOT / "examples" / "words"
CLIPS = common.ROOT / "examples" / "words-clips"
CLIP = CLIPS / "left" / "1-en-029-f5.wav"
SIDES = ("snippet", "float16", "int8")
CONDITIONS = {"default": None, "mobile": compare.MOBILE}
LISTEN_MS = 3000  # listening after the first answer, for the time of each live window
# Predictions of one fixed window once listening has stopped (the snippet takes ~0.2 s each
# here by default, four times that under the mobile profile).
WINDOWS = {"default": 50, "mobile": 20}
TIMEOUT_MS = 240_000  # the snippet under the mobile profile: 5.7 MB at 205 kB/s, then WebGL


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="alternating runs (default 5)")
    parser.add_argument(
        "--mobile-runs", type=int, default=3, help="runs under the mobile profile (default 3)"
    )
    parser.add_argument(
        "--conditions", nargs="+", choices=list(CONDITIONS), default=list(CONDITIONS)
    )
    parser.add_argument("--clip", type=Path, default=CLIP, help=f"a WAV file (default {CLIP})")
    parser.add_argument("--quick", action="store_true", help="1 run, default condition only")
    parser.add_argument(
        "--cite", type=Path, metavar="JSON", help="append a saved run's figures to figures.csv"
    )
    args = parser.parse_args()
    if args.quick:
        args.runs, args.mobile_runs, args.conditions = 1, 1, ["default"]
    return args


def exports(work: Path) -> dict[str, Path]:
    """The example model as committed, and a real export's topology with float32 weights.

    The example's weights are stored as uint8 (1.4 MB, 256 values a tensor, which Brotli
    shrinks well); a Teachable Machine export is 5.7 MB of float32 that hardly compresses.
    `audio2-2020` is a real export without its weights.bin: tests/support/audio.py gives it
    seeded random ones, so both pages download what they would for a real model (its answers
    mean nothing; the time to the first one does not depend on them).
    """
    found = {"words": EXPORT}
    real = conftest.FIXTURES / "audio2-2020" / "export"
    if real.is_dir():
        found["audio2-2020"] = test_audio.audio_export(
            real, work / "exports" / "audio2-2020", seed=21
        )
    else:
        print(f"{real} is absent: measuring the example model alone", flush=True)
    return found


def visit(url: str, side: str, clip: Path, condition: str) -> dict:
    """One first visit in a fresh profile: timings from the page, bytes from the network."""
    args = [*official_speech.FAKE_MICROPHONE, f"--use-file-for-fake-audio-capture={clip}"]
    kind_of = audio_pages.kind_of_snippet if side == "snippet" else visits.kind_of_tmbuild
    windows = WINDOWS[condition]
    hook = audio_pages.HOOK % {"timeout": TIMEOUT_MS}
    with visits.cold_visit(url, side, args, hook, CONDITIONS[condition]) as cold:
        times, problems = cold.done, cold.problems
        cold.page.wait_for_timeout(LISTEN_MS)
        measured = cold.page.evaluate(audio_pages.PER_WINDOW, windows)
        marks = cold.page.evaluate(visits.MARKS)
    network = cold.network
    live = [ms for _, ms in measured["live"]]
    info = measured["info"] or {}
    return {
        "side": side,
        "backend": info.get("backend"),
        "runner": info.get("runner"),
        "model_loaded_ms": marks.get("tmbuild:model-loaded", marks.get("snippet:model-loaded")),
        # tmbuild: loaded and warm (tmbuild:ready). The snippet has no warm-up: its first
        # window pays for it (WebGL's shaders), so its ready is when the model was loaded.
        "ready_ms": times.get("readyMs", marks.get("snippet:model-loaded")),
        "listening_ms": times.get("listeningMs"),
        "first_window_due_ms": times["firstWindowDueMs"],
        "first_label_ms": times["firstAnswerMs"],
        "first_window_ms": live[0] if live else None,
        # Read at the end: the snippet's first callback may come after its first answer.
        "first_callback_ms": measured["timesAtEnd"].get("firstCallbackMs"),
        "first_label": measured["firstLabel"],
        "live_window_ms": live,
        "median_live_window_ms": common.median(live[1:]),
        "window_ms": measured["times"],
        "median_window_ms": common.median(measured["times"]),
        "counters": measured["counters"],
        "network": network.summary(kind_of),
        "marks": marks,
        "errors": problems,
    }


SUMMARY_KEYS = (
    "first_bytes",
    "first_requests",
    "model_loaded_ms",
    "ready_ms",
    "listening_ms",
    "first_window_due_ms",
    "first_window_ms",
    "first_label_ms",
    "first_callback_ms",
    "first_shown_ms",
    "median_live_window_ms",
    "median_window_ms",
)


def summarize(measured: list[dict]) -> dict:
    """Medians over the visits of one side in one condition."""
    values = {key: [] for key in SUMMARY_KEYS}
    for one in measured:
        one = {
            **one,
            "first_bytes": one["network"]["bytes"],
            "first_requests": one["network"]["requests"],
            # The first label the visitor sees: tmbuild shows every window's answer; the
            # snippet only what its callback got (a score >= 0.75), maybe windows later.
            "first_shown_ms": one["first_label_ms"]
            if one["side"] != "snippet"
            else one["first_callback_ms"],
        }
        for key in SUMMARY_KEYS:
            values[key].append(one[key])
    return {
        "backend": measured[0]["backend"],
        "runner": measured[0]["runner"],
        "visits": len(measured),
        "labels": sorted({one["first_label"] or "–" for one in measured}),
        **{key: common.median(found) for key, found in values.items()},
    }


def print_table(name: str, condition: str, summary: dict) -> None:
    print(f"\n## {name}, {condition}\n")
    print(visits.sides_table(summary, SUMMARY_KEYS))


def measure_export(name: str, export: Path, args: argparse.Namespace, work: Path) -> dict:
    print(f"\n{name}: building the pages", flush=True)
    target = common.Target(name, export, None, None)
    built, urls = {}, {}
    for side in SIDES[1:]:
        built[side] = common.build_tmbuild_site(target, work / side, side)
    snippet = audio_pages.build_snippet_site(export, work / "snippet")
    clip = args.clip.resolve()
    with (
        common.serve(snippet, {}, False) as urls["snippet"],
        common.serve(work / "float16", {}, True) as urls["float16"],
        common.serve(work / "int8", {}, True) as urls["int8"],
    ):

        def one_visit(side: str, condition: str, run: int) -> dict:
            one = visit(urls[side], side, clip, condition)
            print(
                f"  {condition:7} run {run + 1} {side:7} {one['backend']}: "
                f"{one['network']['bytes'] / 1000:6.0f} kB, ready {one['ready_ms']:6.0f},"
                f" first window due {one['first_window_due_ms']:6.0f}, answered "
                f"{one['first_label_ms']:6.0f} ms ({one['first_label']}), "
                f"{one['median_window_ms']:5.1f} ms/window",
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
        "snippet_files": visits.file_sizes(snippet),
        "summary": summary,
        "visits": visited,
    }


NOTES = [
    "Brotli on both sides, as bench/compare.py serves the image snippet: each server sends a "
    "file's .br sibling (quality 11, kept only where smaller) to browsers that accept br. "
    "The snippet's weights.bin is the exception: it is served as stored, as Teachable "
    "Machine's model hosting (a cloud storage bucket) serves it; the size its Brotli sibling "
    "would have had is in snippet_files (weights.bin.br-not-served). bench/compare.py "
    "compresses the image snippet's .bin too.",
    "Cold: every visit is a fresh Chromium profile; the sides take turns.",
    "Times are performance.now() in the page, from the start of navigation. first_window_due: "
    "when the first window was handed to the model (tmbuild: after 43 frames, 1 s of sound, "
    "counted from when the microphone opened, which is after the model is ready; the snippet: "
    "after 22 frames, 0.5 s, with 21 rows of zeros in front). first_label: its answer. "
    "first_callback: the snippet's callback, which runs only at a score >= 0.75. "
    "first_shown: the first label the visitor sees (tmbuild: its first answer; the snippet: "
    "its first callback).",
    "ready: tmbuild's tmbuild:ready (loaded and warmed up). The snippet never warms up: its "
    "ready is ensureModelLoaded(); its first window (first_window_ms) pays for WebGL's shaders.",
    "median_window_ms: 50 predictions (20 under the mobile profile) of one fixed window "
    "after listening stopped (tmbuild's "
    "predictSpectrogram; the snippet: speechCommands.utils.normalize, recognizer.recognize). "
    "median_live_window_ms: each window while listening, the first left out.",
    "Mobile: Lighthouse's mobile profile through the DevTools protocol, as bench/compare.py.",
    "words: examples/words as committed (uint8 weights, 1.4 MB). audio2-2020: a real "
    "export's model.json and metadata.json with seeded random float32 weights (5.7 MB, the "
    "size of a real export's), from tests/support/audio.py; its labels mean nothing.",
]


# (metric as figures.csv names it, summary key, decimals)
FIGURES = [
    ("first-visit bytes on the wire (br)", "first_bytes", 0),
    ("time to ready (ms)", "ready_ms", 1),
    ("time to first window due (ms)", "first_window_due_ms", 1),
    # The first window's answer; for the snippet a lower bound of the first label it shows
    # (first_shown_ms: right only in runs that read first_callback_ms at a visit's end).
    ("time to first label (ms)", "first_label_ms", 1),
    ("median time per window (ms)", "median_window_ms", 1),
]


def machine_name(machine: dict) -> str:
    """The machine as figures.csv names it: "AMD EPYC 2 cores 24 GB, Debian 12, Chromium 156"."""
    system = (machine.get("os") or "").split(" (")[0].replace(" GNU/Linux", "")
    chromium = (machine.get("chromium") or "Chromium ?").split()
    version = chromium[1].split(".")[0] if len(chromium) > 1 else "?"
    return (
        f"{machine['cpu']} {machine['cores']} cores {round(machine['ram_gb'] or 0)} GB, "
        f"{system}, Chromium {version}"
    )


def figure_rows(record: dict) -> list[list[str]]:
    """figures.csv rows of a saved run: each tmbuild side against the snippet, per condition."""
    machine = record["machine"]
    load = f"{machine['load_average_at_start'][0]:.1f}-{machine['load_average_at_end'][0]:.1f}"
    head = [
        "audio",
        record["date"][:16].replace("T", " "),
        record["commit"][:7],
        machine_name(machine),
        load,
    ]
    rows = []
    for name, result in record["exports"].items():
        for condition in result["summary"]:
            sides = {  # from the visits, so that a run saved before a summary key has it
                side: summarize(
                    [
                        v
                        for v in result["visits"]
                        if v["condition"] == condition and v["side"] == side
                    ]
                )
                for side in SIDES
            }
            snippet = sides["snippet"]
            for side in SIDES[1:]:
                for metric, key, decimals in FIGURES:
                    ours, theirs = sides[side][key], snippet[key]
                    ratio = f"{ours / theirs:.3f}" if ours is not None and theirs else ""
                    cells = ["" if v is None else f"{v:.{decimals}f}" for v in (ours, theirs)]
                    rows.append(
                        [*head, name, f"{condition} ({side})", metric, *cells, ratio, "", ""]
                    )
    return rows


def cite(path: Path) -> None:
    """Append a saved run's figure rows to bench/figures.csv."""
    rows = figure_rows(json.loads(path.read_text(encoding="utf-8")))
    with (common.ROOT / "bench" / "figures.csv").open("a", newline="", encoding="utf-8") as out:
        csv.writer(out, lineterminator="\n").writerows(rows)
    print(f"Appended {len(rows)} rows of {path.name} to bench/figures.csv")


def main() -> None:
    args = parse_args()
    if args.cite:
        cite(args.cite)
        return
    if not args.clip.is_file():
        raise common.BenchError(f"{args.clip}: no such clip")
    results = {}
    with tempfile.TemporaryDirectory(prefix="tmbuild-bench-audio-") as work:
        work = Path(work)
        for name, export in exports(work).items():
            results[name] = measure_export(name, export, args, work / name)
    settings = {**vars(args), "clip": str(args.clip)}
    path = common.save("audio", {"settings": settings, "notes": NOTES, "exports": results})
    print(f"\nSaved {path.relative_to(common.ROOT)}")


if __name__ == "__main__":
    common.main(main)
