"""The embedded classifier against the standalone page (issue #16): bytes and time to first
prediction, side by side in one run.

For each export the standalone page is built as usual and the same model with `embed: element`
into the folder /classifier/ of a plain host page that holds nothing but a heading and the
two-line snippet. Both are served with the host files tmbuild writes (the host page itself like
a plain static server) and Brotli siblings, and visited in turn in a fresh Chromium profile,
then again after a restart. The issue's bar: the embedded classifier's first-visit bytes and
time to first prediction within 5% of the standalone page's.

    .venv/bin/python bench/embed.py [--exports NAME ...] [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path

import common
import visits

DEFAULT_EXPORTS = ["example", "brands6-imgs"]
FOLDER = "classifier"
TARGET_RATIO = 1.05
NOTES = [
    "Both in the default condition (WebGL is SwiftShader here; auto runs the WASM kernels).",
    "first prediction = performance.now() when the first classify() of one real image "
    "returned; for the embedded classifier the page's only script is the snippet's.",
    "Bytes are CDP encodedDataLength over Brotli-serving loopback, page and host page included.",
]


def parse_args() -> argparse.Namespace:
    parser = common.argument_parser(
        __doc__, DEFAULT_EXPORTS, 5, "visits per page", predictions=True
    )
    parser.add_argument("--quick", action="store_true", help="1 run, 5 predictions")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.predictions = 1, 5
    if args.runs < 1 or args.predictions < 1:
        parser.error("--runs and --predictions must be at least 1")
    return args


def build_embedded(target: common.Target, host: Path, quantize: str) -> None:
    """The model as an embeddable folder at /classifier/, and a host page with the snippet."""
    from tmbuild.build import build
    from tmbuild.config.load import load_config
    from tmbuild.errors import TmbuildError
    from tmbuild.page.embed import snippet

    logging.getLogger("tmbuild").setLevel(logging.ERROR)
    overrides = {
        "output": host / FOLDER,
        "quantize": quantize,
        "embed": "element",
        "base_url": f"/{FOLDER}/",  # so that the folder's _headers rules match where it is
    }
    if target.config is None:
        overrides["model_path"] = target.export
    try:
        config, _ = load_config(target.config, overrides)
        result = build(config)
    except TmbuildError as error:
        raise common.BenchError(f"tmbuild could not build {target.name}: {error}") from None
    name = config.embed.name or result.model.name
    (host / "index.html").write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Host</title>"
        "<link rel='icon' href='data:,'></head><body><h1>A page of another site</h1>"
        f"{snippet(name, f'/{FOLDER}/tmbuild.js')}</body></html>\n",
        encoding="utf-8",
    )
    # The host's own rules: the classifier folder's, as its host files give them.
    (host / "_headers").write_bytes((host / FOLDER / "_headers").read_bytes())


def kind_of_embedded(path: str) -> str:
    """The classifier's files by kind, as for the standalone page; the host page is "page"."""
    inner = path.removeprefix(f"/{FOLDER}")
    return visits.kind_of_tmbuild(inner) if inner != path else "page"


def ratio(embedded: float | None, standalone: float | None, target: bool) -> str:
    """The ratio, marked against the 5% bar where the issue sets one."""
    if not embedded or not standalone:
        return "–"
    value = embedded / standalone
    mark = (" ✓" if value <= TARGET_RATIO else " ✗") if target else ""
    return f"{value:.3f}{mark}"


def print_table(name: str, pages: dict[str, dict]) -> None:
    standalone, embedded = pages["standalone"], pages["embedded"]
    rows = []
    for label, key, unit, target in [
        ("first visit kB", "first_bytes", 1000, True),
        ("first prediction ms", "first_prediction_ms", 1, True),
        ("ready ms", "ready_ms", 1, False),
        ("ms / prediction", "median_prediction_ms", 1, False),
        ("repeat: first prediction ms", "repeat_first_prediction_ms", 1, False),
        ("repeat kB", "repeat_bytes", 1000, False),
    ]:
        rows.append(
            [
                label,
                f"{standalone[key] / unit:.1f}",
                f"{embedded[key] / unit:.1f}",
                ratio(embedded[key], standalone[key], target),
            ]
        )
    print(f"\n## {name}\n")
    print(common.table(["", "standalone page", "embedded", "embedded ÷ standalone"], rows))


def measure_export(target: common.Target, args: argparse.Namespace, work: Path) -> dict:
    print(f"\n{target.name}: building the standalone page and the embedded classifier", flush=True)
    common.build_tmbuild_site(target, work / "standalone", args.quantize)
    build_embedded(target, work / "host", args.quantize)
    root, images = common.images_of(target, None)
    image = common.timing_image(root, images)
    mounts = {common.BENCH_IMAGES: root}
    pages = {"standalone": (work / "standalone", visits.kind_of_tmbuild)}
    pages["embedded"] = (work / "host", kind_of_embedded)
    results: dict[str, list[dict]] = {page: [] for page in pages}
    with contextlib.ExitStack() as stack:
        urls = {
            page: stack.enter_context(common.serve(folder, mounts, True))
            for page, (folder, _) in pages.items()
        }
        for run in range(args.runs):
            for page, (_, kind_of) in pages.items():
                measured = visits.measure(
                    urls[page], image, common.CONDITIONS["default"], kind_of, args.predictions
                )
                results[page].append(measured)
                first = measured["first"]
                print(
                    f"  run {run + 1} {page:10} first prediction "
                    f"{first['first_prediction_ms']:6.0f} ms, "
                    f"{first['network']['bytes'] / 1000:7.1f} kB, "
                    f"{first['median_prediction_ms']:5.1f} ms/prediction",
                    flush=True,
                )
    summary = {page: visits.summarize(measured) for page, measured in results.items()}
    print_table(target.name, summary)
    return {"timing_image": image, "pages": summary, "runs": results}


def main() -> None:
    args = parse_args()
    common.measure_each_export("embed", args, DEFAULT_EXPORTS, measure_export, NOTES)


if __name__ == "__main__":
    common.main(main)
