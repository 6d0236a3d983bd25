"""How long `tmbuild build` takes and how much memory it needs (issue #7).

For each export, `tmbuild build` runs as a command, as a user runs it:

- cold: an empty cache (TMBUILD_CACHE_DIR is a new folder; the TensorFlow.js files come from
  TMBUILD_TFJS_DIR, the verified runtime cache, so no download is timed) and no output yet;
- warm: the same command again, nothing changed;
- template-only: after one edit inside a block of a `templates/index.html` override.

The floor is the time just to gzip (level 9) and Brotli (quality 11) the same bytes, every file
and codec in parallel on all cores: a cold build cannot be much faster than that. Peak memory is
the build process's maximum resident set size (wait4's ru_maxrss).

    .venv/bin/python bench/build.py [--exports NAME ...] [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import brotli
import common

from tmbuild.output.compress import is_compressible
from tmbuild.page import tfjs as runtime

DEFAULT_EXPORTS = ["example", "brands6-imgs"]
COLD_OVER_FLOOR = 1.2
TEMPLATE_ONLY_SECONDS = 0.3
MANIFEST = "tmbuild-manifest.json"  # written after compression: not part of the floor
EDITED_LINE = '<section class="status" aria-live="polite">'
NOTES = [
    "wall = the `python -m tmbuild build` command, interpreter start included; own = the "
    "seconds the build itself reports ('Built … in X s').",
    "floor = gzip -9 and Brotli q11 of the site's compressible files (its manifest excepted), "
    "every file and codec in a thread pool of os.cpu_count() workers, no cache.",
    "Peak memory: ru_maxrss of the build process, from wait4.",
]


def parse_args() -> argparse.Namespace:
    parser = common.argument_parser(
        __doc__, DEFAULT_EXPORTS, 3, "cold/warm/edit rounds", predictions=False
    )
    parser.add_argument("--quick", action="store_true", help="1 round")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def write_project(target: common.Target, folder: Path, quantize: str) -> Path:
    """A site.yaml with absolute paths and a one-file template override; returns site.yaml."""
    templates = folder / "templates"
    templates.mkdir(parents=True)
    shutil.copyfile(
        common.ROOT / "tmbuild" / "page" / "templates" / "index.html", templates / "index.html"
    )
    # JSON strings are valid YAML scalars, and keep any path quoted correctly.
    lines = [
        f"title: {json.dumps(target.name)}",
        "model:",
        f"  path: {json.dumps(str(target.export))}",
        f"  quantize: {quantize}",
        f"templates: {json.dumps(str(templates))}",
    ]
    if target.config is not None:  # the example site offers its sample images
        lines.append(f"samples: {json.dumps(str(common.EXAMPLE_SAMPLES))}")
    config = folder / "site.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def edit_template(config: Path, run: int) -> None:
    index = config.parent / "templates" / "index.html"
    text = index.read_text(encoding="utf-8")
    if EDITED_LINE not in text:
        raise common.BenchError(f"{index}: no line {EDITED_LINE!r} to edit; update bench/build.py")
    edited = text.replace(EDITED_LINE, f"<!-- bench edit {run} -->\n{EDITED_LINE}", 1)
    index.write_text(edited, encoding="utf-8")


def run_build(config: Path, output: Path, env: dict[str, str], logs: Path) -> dict:
    """One `tmbuild build` command: wall seconds, the build's own seconds, peak memory."""
    command = [sys.executable, "-m", "tmbuild", "build", "-c", str(config), "-o", str(output)]
    with open(logs / "stdout", "w+") as stdout, open(logs / "stderr", "w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr, text=True)
        # wait4 rather than wait(): it also gives this one child's resource usage.
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        said, complaint = stdout.read(), stderr.read()
    if process.returncode != 0:
        raise common.BenchError(f"`{' '.join(command)}` failed: {complaint.strip()[-300:]}")
    own = re.search(r" in ([0-9.]+) s:", said)
    return {
        "wall_s": wall,
        "own_s": float(own.group(1)) if own else None,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def compression_floor(site: Path) -> dict:
    """Seconds to gzip and Brotli the site's compressible files in parallel, uncached."""
    files = sorted(
        (
            path
            for path in site.rglob("*")
            if path.is_file() and is_compressible(path.name) and path.name != MANIFEST
        ),
        key=lambda path: -path.stat().st_size,
    )
    contents = [path.read_bytes() for path in files]
    jobs = [(gzip.compress, {"compresslevel": 9, "mtime": 0}), (brotli.compress, {"quality": 11})]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        futures = [
            pool.submit(codec, data, **options) for data in contents for codec, options in jobs
        ]
        for future in futures:
            future.result()
    return {
        "seconds": time.perf_counter() - started,
        "files": len(files),
        "bytes": sum(len(data) for data in contents),
    }


def measure_export(target: common.Target, args: argparse.Namespace, work: Path) -> dict:
    print(f"\n{target.name}", flush=True)
    config = write_project(target, work, args.quantize)
    tfjs = runtime.ensure_cached(runtime.TFJS_VERSION)
    rounds = []
    for run in range(args.runs):
        cache, output, logs = work / f"cache-{run}", work / f"dist-{run}", work / f"logs-{run}"
        logs.mkdir()
        env = dict(os.environ, TMBUILD_CACHE_DIR=str(cache), TMBUILD_TFJS_DIR=str(tfjs))
        env.pop("CI", None)
        cold = run_build(config, output, env, logs)
        warm = run_build(config, output, env, logs)
        edit_template(config, run)
        edited = run_build(config, output, env, logs)
        floor = compression_floor(output)
        rounds.append({"cold": cold, "warm": warm, "template_only": edited, "floor": floor})
        print(
            f"  run {run + 1}: cold {cold['wall_s']:.2f} s (own {cold['own_s']:.2f}), warm "
            f"{warm['wall_s']:.2f} s, template-only {edited['wall_s']:.2f} s (own "
            f"{edited['own_s']:.2f}), floor {floor['seconds']:.2f} s, peak "
            f"{max(cold['peak_rss_mb'], warm['peak_rss_mb']):.0f} MB",
            flush=True,
        )
        shutil.rmtree(cache, ignore_errors=True)
    summary = {
        step: {
            key: common.median([r[step][key] for r in rounds])
            for key in ("wall_s", "own_s", "peak_rss_mb")
        }
        for step in ("cold", "warm", "template_only")
    }
    summary["floor_s"] = common.median([r["floor"]["seconds"] for r in rounds])
    summary["floor_input_bytes"] = rounds[0]["floor"]["bytes"]
    summary["cold_over_floor"] = summary["cold"]["wall_s"] / summary["floor_s"]
    summary["cold_own_over_floor"] = summary["cold"]["own_s"] / summary["floor_s"]
    print_table(target.name, summary)
    return {"summary": summary, "rounds": rounds}


def print_table(name: str, s: dict) -> None:
    rows = []
    for step, label in (
        ("cold", "cold build"),
        ("warm", "warm rebuild"),
        ("template_only", "template-only rebuild"),
    ):
        rows.append(
            [
                label,
                f"{s[step]['wall_s']:.2f}",
                f"{s[step]['own_s']:.2f}",
                f"{s[step]['peak_rss_mb']:.0f}",
            ]
        )
    rows.append(["compression floor (gzip + br, parallel)", f"{s['floor_s']:.2f}", "", ""])
    print(f"\n## {name}  ({s['floor_input_bytes'] / 1e6:.2f} MB compressed by the build)\n")
    print(common.table(["step", "wall s", "own s", "peak MB"], rows))
    cold_ok = "yes" if s["cold_over_floor"] <= COLD_OVER_FLOOR else "NO"
    edit = s["template_only"]
    edit_ok = "yes" if edit["wall_s"] <= TEMPLATE_ONLY_SECONDS else "NO"
    print(
        f"\ncold / floor: {s['cold_over_floor']:.2f} wall, {s['cold_own_over_floor']:.2f} own "
        f"(target ≤ {COLD_OVER_FLOOR}): {cold_ok}"
    )
    print(
        f"template-only rebuild: {edit['wall_s']:.2f} s wall, {edit['own_s']:.2f} s own "
        f"(target ≤ {TEMPLATE_ONLY_SECONDS} s): {edit_ok}"
    )


def main() -> None:
    args = parse_args()
    targets = common.pick_targets(args.exports, DEFAULT_EXPORTS)
    results = {}
    with tempfile.TemporaryDirectory(prefix="tmbuild-bench-build-") as work:
        for target in targets:
            folder = Path(work) / target.name
            folder.mkdir()
            results[target.name] = measure_export(target, args, folder)
    path = common.save("build", {"settings": dict(vars(args)), "notes": NOTES, "exports": results})
    print(f"\nSaved {path.relative_to(common.ROOT)}")


if __name__ == "__main__":
    common.main(main)
