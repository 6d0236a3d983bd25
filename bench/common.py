"""What the benchmark scripts share: targets, sites, a Brotli-serving server, Chromium, results.

The scripts reuse the test suite's pieces rather than copies of them: the Chromium flags and the
`_headers` parser of tests/support/browser.py, the verified `npm pack` downloads of
tests/support/official_tm.py and the list of shared real exports in tests/conftest.py.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import email.utils
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests"))

import conftest  # noqa: E402  (tests/ is on the path only from here on)
import pytest  # noqa: E402
from support import browser as test_browser  # noqa: E402
from support import official_tm  # noqa: E402

from tmbuild.output import compress as assets  # noqa: E402

EXAMPLE_CONFIG = ROOT / "site.yaml"
EXAMPLE_SAMPLES = ROOT / "examples" / "samples"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".avif", ".gif", ".jfif", ".bmp"}
CONDITIONS = {"default": [], "no-webgl": test_browser.NO_WEBGL_ARGS}
BENCH_IMAGES = "/bench-images/"  # mounted beside both sites; never counted as the page's bytes
BROTLI_QUALITY = 11  # what tmbuild's default `compress.brotli_quality` gives its own files
LOAD_AT_START = os.getloadavg()  # other work on the machine skews every timing: say how much


class BenchError(Exception):
    """Something the benchmark needs is missing; the message says what to do."""


# ---- what is measured ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    export: Path  # folder or .zip
    config: Path | None  # site.yaml for the example site, None for a bare export
    images: Path | None  # labelled images (<label>/<file>, or flat for the example)


def all_targets() -> dict[str, Target]:
    """The example site and every shared real image export that is present."""
    targets = {
        "example": Target("example", conftest.EXAMPLE_EXPORT, EXAMPLE_CONFIG, EXAMPLE_SAMPLES)
    }
    for name, export in conftest.IMAGE_EXPORTS.items():
        if export.exists():
            images = conftest.FIXTURES / name / "images"
            targets[name] = Target(name, export, None, images if images.is_dir() else None)
    return targets


def pick_targets(names: list[str] | None, default: list[str] | None = None) -> list[Target]:
    available = all_targets()
    wanted = names or default or list(available)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise BenchError(
            f"unknown or absent export(s) {', '.join(unknown)}: choose from "
            f"{', '.join(available)} (real exports are read from {conftest.FIXTURES})"
        )
    return [available[name] for name in wanted]


def images_of(target: Target, limit: int | None) -> tuple[Path, list[Path]]:
    """A folder to serve as /bench-images/ and the images in it (every label, evenly)."""
    root = target.images or EXAMPLE_SAMPLES
    found = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if limit is not None and len(found) > limit:
        step = len(found) / limit  # spread over the labels instead of taking the first ones
        found = [found[int(index * step)] for index in range(limit)]
    return root, found


def timing_image(root: Path, images: list[Path]) -> str:
    """URL of the image both pages classify first: a JPEG or PNG every browser decodes."""
    plain = [p for p in images if p.suffix.lower() in {".jpg", ".jpeg", ".png"}]
    return image_url(root, (plain or images)[0])


def image_url(root: Path, path: Path) -> str:
    return BENCH_IMAGES + quote(path.relative_to(root).as_posix())


# ---- the two sites ------------------------------------------------------------------------


def build_tmbuild_site(target: Target, output: Path, quantize: str, backend: str | None = None):
    """Build tmbuild's page for `target` (in-process); returns the BuildResult."""
    from tmbuild.build import build
    from tmbuild.config.load import load_config
    from tmbuild.errors import TmbuildError

    logging.getLogger("tmbuild").setLevel(logging.ERROR)
    overrides = {"output": output, "quantize": quantize}
    if target.config is None:
        overrides["model_path"] = target.export
    try:
        config, _ = load_config(target.config, overrides)
        if backend is not None:
            classifier = dataclasses.replace(config.classifier, backend=backend)
            config = dataclasses.replace(config, classifier=classifier)
        return build(config)
    except TmbuildError as error:
        raise BenchError(f"tmbuild could not build {target.name}: {error}") from None


def _pinned(package: tuple[str, str], member: str) -> bytes:
    try:
        return official_tm.member(package, member)
    except (pytest.skip.Exception, pytest.fail.Exception) as problem:  # offline, or other bytes
        raise BenchError(f"cannot use {package[0]}@{package[1]}: {problem.msg}") from None


# Teachable Machine's export dialog ("Javascript" tab), as published, with the CDN URLs
# pointing at the same files on this server. Two changes, both marked: `init()` runs at once
# instead of from the Start button, and it announces itself instead of starting a webcam.
SNIPPET_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Teachable Machine export snippet</title></head>
<body>
<div>Teachable Machine Image Model</div>
<div id="label-container"></div>
<script src="./tf.min.js"></script>
<script src="./teachablemachine-image.min.js"></script>
<script type="text/javascript">
    const URL = "./my_model/";

    let model, labelContainer, maxPredictions;

    async function init() {
        const modelURL = URL + "model.json";
        const metadataURL = URL + "metadata.json";

        model = await tmImage.load(modelURL, metadataURL);
        maxPredictions = model.getTotalClasses();
    }

    // Benchmark: the Start button, pressed at once; then say the model is there.
    init().then(() => {
        performance.mark("snippet:model-loaded");
        window.snippet = { predict: (image) => model.predict(image) };
        dispatchEvent(new CustomEvent("snippet:ready", { detail: {
            backend: tf.getBackend(), labels: model.getClassLabels() } }));
    });
</script>
</body></html>
"""


def build_snippet_site(target: Target, output: Path) -> Path:
    """The export snippet's page: tf.min.js 4.22.0, @teachablemachine/image 0.8.5, the export."""
    output.mkdir(parents=True)
    (output / "index.html").write_text(SNIPPET_HTML, encoding="utf-8")
    (output / "tf.min.js").write_bytes(_pinned(official_tm.TFJS_CURRENT, "dist/tf.min.js"))
    library = _pinned(official_tm.TM_IMAGE, "dist/teachablemachine-image.min.js")
    (output / "teachablemachine-image.min.js").write_bytes(library)
    model = output / "my_model"
    model.mkdir()
    if target.export.suffix == ".zip":
        with zipfile.ZipFile(target.export) as archive:
            for info in archive.infolist():
                if not info.is_dir():  # the zip holds model.json, metadata.json, weights.bin
                    (model / Path(info.filename).name).write_bytes(archive.read(info))
    else:
        for path in target.export.iterdir():
            (model / path.name).write_bytes(path.read_bytes())  # fresh, writable copies
    precompress(output)
    return output


def precompress(folder: Path) -> None:
    """Brotli siblings at tmbuild's quality, kept where smaller, as tmbuild keeps its own."""
    settings = assets.CompressionSettings(gzip=False, brotli=True, brotli_quality=BROTLI_QUALITY)
    cache = assets.CompressionCache(assets.default_cache_dir())
    for path in sorted(folder.rglob("*")):
        if path.is_file() and assets.is_compressible(path.name):
            data = path.read_bytes()
            compressed = assets.compress_one(data, settings, cache).brotli
            if compressed is not None and len(compressed) < len(data):
                path.with_name(path.name + ".br").write_bytes(compressed)


def touch_all(folder: Path) -> None:
    """Make every file "just published", so its Last-Modified gives no heuristic freshness."""
    now = time.time()
    for path in folder.rglob("*"):
        if path.is_file():
            os.utime(path, (now, now))


# ---- the server ---------------------------------------------------------------------------


class _Handler(test_browser._Handler):
    """A static server that serves `<file>.br` to browsers that accept Brotli, as hosts do.

    With `rules` from a `_headers` file it applies them (tmbuild's site); without, it is a plain
    static server like `python -m http.server`: Last-Modified, 304s, no Cache-Control.
    """

    mounts: dict[str, Path] = {}

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, root in self.mounts.items():
            if clean.startswith(prefix):
                target = (root / unquote(clean[len(prefix) :])).resolve()
                return str(target if root in target.parents else root / ".outside")
        return super().translate_path(path)

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir() and self.path.split("?", 1)[0].endswith("/"):
            path = path / "index.html"
        if not path.is_file():
            return super().send_head()  # directory redirects and 404s, as usual
        sibling = path.with_name(path.name + ".br")
        brotli = sibling.is_file() and "br" in self.headers.get("Accept-Encoding", "")
        modified = int(path.stat().st_mtime)
        since = self.headers.get("If-Modified-Since")
        if since and "If-None-Match" not in self.headers:
            with contextlib.suppress(TypeError, ValueError, IndexError):
                if modified <= email.utils.parsedate_to_datetime(since).timestamp():
                    self.send_response(304)
                    self.end_headers()
                    return None
        body = (sibling if brotli else path).open("rb")
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        if brotli:
            self.send_header("Content-Encoding", "br")
        if sibling.is_file():
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(os.fstat(body.fileno()).st_size))
        self.send_header("Last-Modified", self.date_time_string(modified))
        self.end_headers()
        return body


@contextlib.contextmanager
def serve(root: Path, mounts: dict[str, Path], with_headers_file: bool) -> Iterator[str]:
    """Serve `root` (and `mounts`, {"/prefix/": folder}) on loopback; yields the base URL."""
    headers = root / "_headers"
    rules = test_browser.parse_headers_file(headers.read_text()) if with_headers_file else []
    mounts = {prefix: folder.resolve() for prefix, folder in mounts.items()}
    handler = type("Handler", (_Handler,), {"rules": rules, "mounts": mounts})
    with test_browser.run_server(handler, root) as url:
        yield url


# ---- Chromium -----------------------------------------------------------------------------


@contextlib.contextmanager
def chromium(profile: Path, extra_args: list[str]) -> Iterator:
    """Headless Chromium on `profile` (kept, so a second launch is a repeat visit)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BenchError("Playwright is missing: run scripts/test.sh once to install it") from None
    if not Path(test_browser.CHROMIUM).exists():
        raise BenchError(f"{test_browser.CHROMIUM} is missing: install Debian's chromium package")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=test_browser.CHROMIUM,
            headless=True,
            args=test_browser.CHROMIUM_ARGS + extra_args,
        )
        try:
            yield context
        finally:
            context.close()


@contextlib.contextmanager
def fresh_profile() -> Iterator[Path]:
    profile = Path(tempfile.mkdtemp(prefix="tmbuild-bench-profile-"))
    try:
        yield profile
    finally:
        shutil.rmtree(profile, ignore_errors=True)


# ---- results ------------------------------------------------------------------------------


def median(values: list[float]) -> float | None:
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _field(text: str, name: str, separator: str) -> str | None:
    for line in text.splitlines():
        key, _, value = line.partition(separator)
        if key.strip() == name:
            return value.strip().strip('"')
    return None


def machine() -> dict:
    """What the numbers were measured on."""
    memory = _field(_read("/proc/meminfo"), "MemTotal", ":")
    try:
        version = subprocess.run(
            [test_browser.CHROMIUM, "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        version = None
    return {
        "cpu": _field(_read("/proc/cpuinfo"), "model name", ":") or platform.processor(),
        "cores": os.cpu_count(),
        "ram_gb": round(int(memory.split()[0]) / 1024**2, 1) if memory else None,
        "os": _field(_read("/etc/os-release"), "PRETTY_NAME", "=") or platform.platform(),
        "kernel": platform.release(),
        "chromium": version,
        "python": platform.python_version(),
        "load_average_at_start": list(LOAD_AT_START),
        "load_average_at_end": list(os.getloadavg()),
    }


def commit() -> dict:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return result.stdout.strip()

    # Results of earlier runs in bench/results/ do not make the code under test dirty.
    changes = git("status", "--porcelain", "--", ".", ":(exclude)bench/results")
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(changes)}


def save(name: str, data: dict) -> Path:
    """Write bench/results/<name>-<date>-<commit>.json with the machine and the commit."""
    source = commit()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    short = (source["commit"] or "nogit")[:10] + ("-dirty" if source["dirty"] else "")
    record = {
        "benchmark": name,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **source,
        "machine": machine(),
        **data,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{stamp}-{short}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, so the output pastes into an issue or the README as it is."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join(
        [
            line(header),
            "|" + "|".join("-" * (w + 2) for w in widths) + "|",
            *(line(row) for row in rows),
        ]
    )


def measure_each_export(name: str, args, default_exports: list[str], measure, notes) -> None:
    """`measure(target, args, work_folder)` for each export picked; saves it all as `name`."""
    targets = pick_targets(args.exports, default_exports)
    results = {}
    with tempfile.TemporaryDirectory(prefix=f"tmbuild-bench-{name}-") as work:
        for target in targets:
            results[target.name] = measure(target, args, Path(work) / target.name)
    path = save(name, {"settings": dict(vars(args)), "notes": notes, "exports": results})
    print(f"\nSaved {path.relative_to(ROOT)}")


def main(run) -> None:
    """Run a benchmark's main function; a BenchError is one line and exit 1, not a traceback."""
    try:
        run()
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def argument_parser(
    doc: str, default_exports: list[str] | None, runs: int, runs_help: str, predictions: bool
) -> argparse.ArgumentParser:
    """The options the bench scripts share; each adds its own and its --quick."""
    names = ", ".join(all_targets())
    if default_exports:
        default = f"{' '.join(default_exports)} (any of {names})"
    else:
        default = f"all ({names})"
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--exports", nargs="+", metavar="NAME", help=f"default: {default}")
    parser.add_argument("--runs", type=int, default=runs, help=f"{runs_help} (default {runs})")
    if predictions:
        parser.add_argument(
            "--predictions",
            type=int,
            default=20,
            help="predictions timed after the first one (default 20)",
        )
    parser.add_argument(
        "--quantize", default="float16", choices=["none", "float16", "int8", "uint8"]
    )
    return parser
