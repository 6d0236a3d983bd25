"""tmbuild's page on three engines: Chromium, Firefox ESR and WebKitGTK (issue 17, item 3).

For each export, the page is built once per runner (tmbuild's kernels, and TensorFlow.js's WASM
backend with `runtime.kernels: false`) and served with its `_headers` and Brotli siblings. Each
engine, driven as tests/test_engines.py drives it, then visits it in a fresh profile `--runs`
times (time to ready, runner, median time per prediction), and classifies every labelled image
once: top-1 agreement and the largest probability difference are against Chromium on the same
runner.

    .venv/bin/python bench/engines.py [--exports NAME ...] [--engines NAME ...] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import tempfile
from pathlib import Path

import common
import pytest
import visits
from support import engines as drivers

DEFAULT_EXPORTS = ["epi-pt4-imgs", "brands6-imgs"]
RUNNERS = ("kernels", "tensorflow")
NOTES = [
    "Each engine as the tests drive it: Chromium through Playwright (Debian's chromium, WebGL "
    "is SwiftShader), Firefox ESR through WebDriver BiDi (puppeteer-core), WebKitGTK's "
    "MiniBrowser through WebKitWebDriver under Xvfb.",
    "ready = the page's tmbuild:warmed-up mark (performance.now() from navigation start), on a "
    "first visit in a fresh profile; ms / prediction = the median of --predictions classify() "
    "calls on one decoded image after a first one.",
    "Agreement: every labelled image classified once per engine; top-1 = the share of images "
    "whose top label is Chromium's, max Δp = the largest difference of any label's "
    "probability, > 0.01 = images with some label off by more than 0.01.",
]

READY_MS = """() => window.tmbuild.ready.then(() => {
  const [mark] = performance.getEntriesByName("tmbuild:warmed-up");
  return mark ? mark.startTime : null;
})"""
# The image visits.REPEAT_PREDICTIONS times, and the page's classify, once it has run once.
TIMING_IMAGE = """async (url) => {
  const image = new Image();
  image.src = url;
  await image.decode();
  window.__bench = { classify: (source) => window.tmbuild.classify(source), image };
  await window.__bench.classify(image);
}"""
CLASSIFY_URLS = """async (urls) => {
  const results = {};
  for (const url of urls) {
    const image = new Image();
    image.src = url;
    try {
      await image.decode();
      const result = await window.tmbuild.classify(image);
      results[url] = Object.fromEntries(result.predictions.map((p) => [p.label, p.probability]));
    } catch (error) {
      results[url] = { error: String(error.message || error) };
    }
  }
  return results;
}"""


def parse_args() -> argparse.Namespace:
    parser = common.argument_parser(
        __doc__, DEFAULT_EXPORTS, 3, "first visits per engine and runner", predictions=True
    )
    parser.add_argument(
        "--engines", nargs="+", choices=drivers.ENGINES, default=list(drivers.ENGINES)
    )
    parser.add_argument("--images", type=int, help="labelled images per export (default: all)")
    parser.add_argument("--quick", action="store_true", help="1 run, 5 predictions, 10 images")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.predictions, args.images = 1, 5, 10
    if args.runs < 1 or args.predictions < 1:
        parser.error("--runs and --predictions must be at least 1")
    if "chromium" not in args.engines:
        args.engines.insert(0, "chromium")  # the reference of the agreement columns
    return args


def build_site(target: common.Target, output: Path, quantize: str, runner: str) -> Path:
    """Build the page for `target` on tmbuild's kernels or on TensorFlow.js."""
    from tmbuild.build import build
    from tmbuild.config.load import load_config

    logging.getLogger("tmbuild").setLevel(logging.ERROR)
    overrides = {"output": output, "quantize": quantize}
    if target.config is None:
        overrides["model_path"] = target.export
    config, _ = load_config(target.config, overrides)
    runtime = dataclasses.replace(config.runtime, kernels=runner == "kernels")
    build(dataclasses.replace(config, runtime=runtime))
    return output


@contextlib.contextmanager
def started(name: str):
    """An engine in a fresh profile; a missing browser is a BenchError, not a skip."""
    try:
        engine = drivers.launch(name)
    except pytest.skip.Exception as reason:
        raise common.BenchError(f"{name}: {reason}") from None
    try:
        yield engine
    finally:
        engine.close()


def visit(name: str, url: str, image: str, predictions: int) -> dict:
    with started(name) as engine:
        engine.open(url + "/")
        info = engine.evaluate("() => window.tmbuild.ready")
        ready = engine.evaluate(READY_MS)
        engine.evaluate(TIMING_IMAGE, url + image)
        times = engine.evaluate(visits.REPEAT_PREDICTIONS, predictions)
        return {
            "version": engine.version,
            "runner": info["runner"],
            "backend": info["backend"],
            "ready_ms": ready,
            "median_prediction_ms": common.median(times),
            "problems": engine.problems(),
        }


def classify(name: str, url: str, image_urls: list[str], batch: int = 16) -> dict:
    with started(name) as engine:
        engine.open(url + "/")
        engine.evaluate("() => window.tmbuild.ready")
        results: dict[str, dict] = {}
        for start in range(0, len(image_urls), batch):
            urls = [url + path for path in image_urls[start : start + batch]]
            found = engine.evaluate(CLASSIFY_URLS, urls)
            results.update({path[len(url) :]: found[path] for path in urls})
        return results


def _top(probabilities: dict[str, float]) -> str:
    return max(probabilities, key=probabilities.get)


def agreement(ours: dict[str, dict], reference: dict[str, dict]) -> dict:
    """Top-1 agreement and probability differences against the reference engine."""
    both = [u for u in reference if "error" not in reference[u] and "error" not in ours[u]]
    same_top = [u for u in both if _top(ours[u]) == _top(reference[u])]
    largest = {u: max(abs(ours[u][k] - reference[u][k]) for k in reference[u]) for u in both}
    return {
        "images": len(both),
        "unreadable": sorted(u for u in ours if "error" in ours[u]),
        "top1": len(same_top) / len(both) if both else None,
        "top1_differs": sorted(u for u in both if u not in same_top),
        "max_difference": max(largest.values(), default=None),
        "over_0.01": sum(d > 0.01 for d in largest.values()),
        "largest": sorted(largest.items(), key=lambda item: -item[1])[:5],
    }


def print_table(name: str, cases: dict[str, dict]) -> None:
    header = ["engine", "version", "runner (backend)", "ready ms", "ms / prediction",
              "top-1 vs Chromium", "max Δp", "> 0.01"]  # fmt: skip
    rows = []
    for key, case in cases.items():
        agreed = case["agreement"]
        top1 = f"{agreed['top1']:.1%} ({agreed['images']})" if agreed["top1"] is not None else "–"
        rows.append(
            [
                key.split("/")[0],
                case["version"],
                f"{case['runner']} ({case['backend']})",
                f"{case['ready_ms']:.0f}",
                f"{case['median_prediction_ms']:.1f}",
                top1,
                f"{agreed['max_difference']:.4f}",
                str(agreed["over_0.01"]),
            ]
        )
    print(f"\n## {name}\n")
    print(common.table(header, rows))


def measure_engine(name: str, url: str, image: str, image_urls: list[str], args, reference):
    """Visits and agreement of one engine on one served page; `reference` is Chromium's."""
    runs = [visit(name, url, image, args.predictions) for _ in range(args.runs)]
    results = classify(name, url, image_urls)
    agreed = agreement(results, reference or results)
    case = {
        "version": runs[0]["version"],
        "runner": runs[0]["runner"],
        "backend": runs[0]["backend"],
        "ready_ms": common.median([run["ready_ms"] for run in runs]),
        "median_prediction_ms": common.median([run["median_prediction_ms"] for run in runs]),
        "agreement": agreed,
        "visits": runs,
        "results": results,
    }
    print(
        f"  {name:8} {case['runner']:10} {case['backend']:5} ready {case['ready_ms']:6.0f} ms, "
        f"{case['median_prediction_ms']:5.1f} ms/prediction, top-1 {agreed['top1']:.1%}, "
        f"max Δp {agreed['max_difference']:.4f}, "
        f"problems {sum(len(run['problems']) for run in runs)}",
        flush=True,
    )
    return case


def measure_export(target: common.Target, args: argparse.Namespace, work: Path) -> dict:
    root, images = common.images_of(target, args.images)
    image = common.timing_image(root, images)
    image_urls = [common.image_url(root, path) for path in images]
    cases: dict[str, dict] = {}
    for runner in RUNNERS:
        print(f"\n{target.name}: the page on {runner}", flush=True)
        site = build_site(target, work / runner, args.quantize, runner)
        with common.serve(site, {common.BENCH_IMAGES: root}, True) as url:
            reference = None
            for name in args.engines:  # Chromium first
                case = measure_engine(name, url, image, image_urls, args, reference)
                reference = reference or case["results"]
                cases[f"{name}/{runner}"] = case
    print_table(target.name, cases)
    return {"timing_image": image, "cases": cases}


def main() -> None:
    args = parse_args()
    targets = common.pick_targets(args.exports, DEFAULT_EXPORTS)
    results = {}
    with tempfile.TemporaryDirectory(prefix="tmbuild-bench-engines-") as work:
        for target in targets:
            results[target.name] = measure_export(target, args, Path(work) / target.name)
    path = common.save("engines", {"settings": vars(args), "notes": NOTES, "exports": results})
    print(f"\nSaved {path.relative_to(common.ROOT)}")


if __name__ == "__main__":
    common.main(main)
