"""Loading and validating site.yaml: one schema, every problem at once, each at its line.

Problems are all reported together instead of one per rerun, each at the line and column it comes
from (tmbuild.config.yamlfile reads the file; tmbuild.config.checks holds each option's check).
Unknown keys only warn (a typo should not block a build) unless `strict` makes them fatal.
Paths are resolved against the folder of site.yaml, never the working directory, so a build gives
the same result wherever it is started; only command-line overrides are relative to the working
directory, because that is where the user typed them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tmbuild.config import checks
from tmbuild.config.checks import Invalid, MiB
from tmbuild.config.yamlfile import (
    MAX_MESSAGES,
    UNREADABLE,
    Report,
    Value,
    describe,
    parse,
    quote,
    read_text,
)
from tmbuild.errors import ConfigError

QUANTIZE = ("none", "float16", "uint8")
INPUTS = ("upload", "webcam")
BACKENDS = ("auto", "webgl", "wasm", "cpu")
RUNTIME_SOURCES = ("bundled", "cdn")
MODEL_RUNNERS = ("plan", "tf-layers")
HOSTS = ("netlify", "cloudflare", "vercel", "firebase", "nginx", "apache", "s3", "github-pages")
MODEL_PATH_HELP = "the folder or .zip of your Teachable Machine export"
# The keys the CLI may pass as overrides -> (section, key, the flag as the user typed it).
OVERRIDES = {
    "model_path": ("model", "path", "--model"),
    "quantize": ("model", "quantize", "--quantize"),
    "output": ("", "output", "--output"),
    "base_url": ("", "base_url", "--base-url"),
    "single_file": ("", "single_file", "--single-file"),
}


@dataclass(frozen=True)
class ModelConfig:
    path: Path  # folder or .zip of the Teachable Machine export
    name: str | None  # URL slug; None: the build derives it from metadata.modelName
    version: str  # label in the versioned directory name
    quantize: str  # one of QUANTIZE
    shard_size: int  # bytes per weight file


@dataclass(frozen=True)
class ClassifierConfig:
    inputs: tuple[str, ...]  # non-empty, from INPUTS
    threshold: float  # top probability below this -> "uncertain"
    min_gap: float  # top minus second below this -> "uncertain"
    top_k: int
    backend: str  # one of BACKENDS
    mirror_webcam: bool
    max_fps: float  # webcam predictions per second at most; 0: as fast as the device allows


@dataclass(frozen=True)
class RuntimeConfig:
    source: str  # one of RUNTIME_SOURCES
    tfjs_version: str
    dir: Path | None  # folder of already-downloaded TF.js files
    wasm_threads: bool  # let the WASM backend use threads where the page is cross-origin isolated
    model_runner: str  # one of MODEL_RUNNERS: how the page runs the model (tmbuild.model.plan)
    kernels: bool = True  # run the plan on tmbuild's WASM kernels where the page takes WASM


@dataclass(frozen=True)
class CompressConfig:
    gzip: bool
    brotli: bool
    brotli_quality: int
    gzip_level: int


@dataclass(frozen=True)
class EvalConfig:
    aliases: tuple[tuple[str, str], ...] = ()  # (folder, label) pairs for `tmbuild eval`, sorted
    target_error: float = 0.05  # error rate among accepted predictions the threshold aims for


@dataclass(frozen=True)
class SiteConfig:
    title: str
    description: str | None
    model: ModelConfig
    classifier: ClassifierConfig
    runtime: RuntimeConfig
    compress: CompressConfig
    samples: Path | None
    templates: Path | None
    hosts: tuple[str, ...]
    base_url: str  # "/sub/" or "https://host/sub/", always ending in "/"
    offline: bool  # add a service worker that precaches the site
    single_file: bool  # write one self-contained .html instead of a site
    output: Path
    config_path: Path | None  # None when built from defaults and overrides only
    root: Path  # the folder of site.yaml (or the working directory without one)
    eval: EvalConfig = EvalConfig()

    def display_path(self, path: Path) -> str:
        """Show a path for messages: relative to the working directory when it is inside it."""
        try:
            return str(path.relative_to(Path.cwd()))
        except (ValueError, OSError):
            return str(path)


@dataclass(frozen=True)
class _Option:
    default: Any
    check: Callable[[Value, Path], Any]  # the value and the folder relative paths start from


_SCHEMA: dict[str, Any] = {
    "title": _Option("Teachable Machine classifier", checks.text()),
    "description": _Option(None, checks.text(optional=True)),  # the page's meta description
    "model": {
        "path": _Option(None, checks.path("model")),  # required; see load_config
        "name": _Option(
            None,
            checks.text(
                "a URL slug of lowercase letters, digits and '-', such as 'shapes'",
                r"[a-z0-9]+(-[a-z0-9]+)*",
            ),
        ),
        "version": _Option(
            "v1",
            checks.text(
                "a short label of letters, digits, '.', '_' and '-', such as 'v1'",
                r"[A-Za-z0-9](?!.*\.\.)[A-Za-z0-9._-]{0,39}",
            ),
        ),
        "quantize": _Option("none", checks.one_of(QUANTIZE)),
        "shard_size": _Option(4 * MiB, checks.size),
    },
    "classifier": {
        "inputs": _Option(INPUTS, checks.list_of(INPUTS, allow_empty=False)),
        "threshold": _Option(0.70, checks.number(0, 1)),
        "min_gap": _Option(0.15, checks.number(0, 1)),
        # A model has at most 1000 classes.
        "top_k": _Option(3, checks.number(1, 1000, whole=True)),
        "backend": _Option("auto", checks.one_of(BACKENDS)),
        # Flip webcam frames like Teachable Machine does.
        "mirror_webcam": _Option(True, checks.flag),
        # A cap saves battery on fast devices; 0 lets a slow one run flat out.
        "max_fps": _Option(0, checks.number(0, 120)),
    },
    "runtime": {
        "source": _Option("bundled", checks.one_of(RUNTIME_SOURCES)),
        # A string, because YAML reads an unquoted 4.22 as the number 4.22.
        "tfjs_version": _Option(
            "4.22.0",
            checks.text('a version string such as "4.22.0"', r"\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?"),
        ),
        "dir": _Option(None, checks.path("folder")),
        # Off: on 2 cores threads cost ~90 ms of start-up and gain nothing per prediction.
        "wasm_threads": _Option(False, checks.flag),
        # plan: tmbuild's own runner where the model allows it (no tf-layers: smaller, faster);
        # tf-layers: always load model.json with tf-layers, as Teachable Machine's library does.
        "model_runner": _Option("plan", checks.one_of(MODEL_RUNNERS)),
        # true: where the page takes WASM it runs the plan on tmbuild's own kernels
        # (tmbuild.model.kernels) and loads no TensorFlow.js; false: always TensorFlow.js's backend.
        "kernels": _Option(True, checks.flag),
    },
    "compress": {
        "gzip": _Option(True, checks.flag),
        "brotli": _Option(True, checks.flag),
        "brotli_quality": _Option(11, checks.number(0, 11, whole=True)),
        "gzip_level": _Option(9, checks.number(1, 9, whole=True)),
    },
    "samples": _Option(None, checks.path("folder")),  # sample images offered on the page
    "templates": _Option(None, checks.path("folder")),  # searched before the built-in templates
    "hosts": _Option(("netlify",), checks.list_of(HOSTS, allow_empty=True)),
    "base_url": _Option("/", checks.base_url),
    "offline": _Option(False, checks.flag),
    "single_file": _Option(False, checks.flag),
    # None here; <root>/dist once the root is known.
    "output": _Option(None, checks.path("output")),
    "eval": {
        # Held-out folders named otherwise than their label, e.g. {dogs: dog}.
        "aliases": _Option((), checks.aliases),
        "target_error": _Option(0.05, checks.number(0, 1)),
    },
}


def load_config(
    path: Path | None, overrides: dict | None = None, strict: bool = False
) -> tuple[SiteConfig, list[str]]:
    """Read site.yaml (None = defaults only), apply CLI overrides and validate.

    Returns the config and the warnings; all problems are raised together as one ConfigError.
    """
    try:
        cwd = Path.cwd()
    except OSError as exc:  # the working directory was deleted under us
        raise ConfigError([f"cannot open the current folder: {exc.strerror}"]) from None
    overrides = {key: value for key, value in (overrides or {}).items() if value is not None}
    for key in overrides:
        if key not in OVERRIDES:
            raise ValueError(f"unknown config override {key!r}")  # a bug in the caller, not input
    report = Report(None if path is None else _label(Path(path), cwd), strict)
    config_path, root, entries = None, cwd, {}
    if path is not None:
        config_path = (cwd / path).absolute()
        text = read_text(config_path, report.label)
        # The folder the user sees the file in, even if site.yaml itself is a symlink.
        root = config_path.parent.resolve()
        config_path = root / config_path.name
        entries = parse(text, report)

    # An override replaces the file's value, so that value is not checked: CI may pass --model
    # for a machine where the file's own model path does not exist.
    replaced = {_dotted(*OVERRIDES[key][:2]) for key in overrides}
    origins: dict[str, Value | str] = {}
    values = _read_section(entries, _SCHEMA, "", root, report, origins, replaced)
    for key, given in overrides.items():
        section, name, flag = OVERRIDES[key]
        # Given, even if badly: a bad --model is one problem, not also a missing model.path.
        origins[_dotted(section, name)] = flag
        try:
            checked = _option(section, name).check(Value(given), cwd)
        except Invalid as exc:
            for _, message in exc.problems:
                report.add(f"{flag}: {message}")
            continue
        (values[section] if section else values)[name] = checked

    if "model.path" not in origins:
        report.error(None, f"model.path: required: {MODEL_PATH_HELP}")
    if values["output"] is None and "output" not in origins:
        values["output"] = root / "dist"
    _check_output(values, origins, root, report)
    if values["runtime"]["dir"] is not None and values["runtime"]["source"] == "cdn":
        where = report.prefix("runtime.dir", origins.get("runtime.dir"))
        report.add(f"{where}ignored, because runtime.source is cdn", warning=True)
    _check_single_file(values, origins, report)
    if report.failed():
        raise ConfigError(report.messages())
    return _build(values, config_path, root), report.messages(warnings_only=True)


def _check_single_file(values: dict, origins: dict, report: Report) -> None:
    """A single file opens from disk: no server, so no service worker and no CDN."""
    if not values["single_file"]:
        return
    where = report.prefix("single_file", origins.get("single_file"))
    if values["offline"]:
        report.add(
            f"{where}cannot be combined with offline: true (a page opened from a file has no "
            "service worker, and needs none: it is offline already); remove one of them"
        )
    if values["runtime"]["source"] == "cdn":
        report.add(
            f"{where}needs runtime.source: bundled, so that TensorFlow.js is inside the file "
            "and it works without a network"
        )


def _dotted(section: str, name: str) -> str:
    return f"{section}.{name}" if section else name


def _option(section: str, name: str) -> _Option:
    return _SCHEMA[section][name] if section else _SCHEMA[name]


def _label(path: Path, cwd: Path) -> str:
    """Name the file as the user would recognise it: as typed, or relative to where they are."""
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return path.name


def _read_section(
    entries: dict[str, tuple[Value, Value]],
    schema: dict[str, Any],
    section: str,
    base: Path,
    report: Report,
    origins: dict[str, Value | str],
    replaced: set[str],
) -> dict[str, Any]:
    """Check one mapping against its schema; fill in defaults; note where each key was set."""
    values: dict[str, Any] = {}
    for name, (key, value) in entries.items():
        dotted = _dotted(section, name)
        spec = schema.get(name)
        if spec is None:
            # Suggestions cost time; past the message cap nobody will read them.
            wanted = len(name) <= 64 and len(report.lines) < MAX_MESSAGES
            hint = _suggest(name, schema, section) if wanted else ""
            where = f"{section}: " if section else ""
            report.warn(key, f"{where}unknown key {quote(name)}{hint}")
            continue
        if value.value is None:  # `key:` with nothing after it means the default
            continue
        if isinstance(spec, dict):
            if not isinstance(value.value, dict):
                # Its options count as given (badly), so none is also reported as missing.
                origins.update((_dotted(dotted, option), key) for option in spec)
                if value.value is not UNREADABLE:
                    report.error(
                        key,
                        f"{dotted}: expected a mapping with keys "
                        f"{', '.join(spec)}; got {describe(value)}",
                    )
                continue
            values[name] = _read_section(value.value, spec, dotted, base, report, origins, replaced)
            continue
        origins[dotted] = key
        if value.value is UNREADABLE or dotted in replaced:
            continue
        try:
            values[name] = spec.check(value, base)
        except Invalid as exc:
            for at, message in exc.problems:
                report.error(at or key, f"{dotted}: {message}")
    for name, spec in schema.items():
        if name not in values:
            values[name] = (
                _read_section({}, spec, _dotted(section, name), base, report, origins, replaced)
                if isinstance(spec, dict)
                else spec.default
            )
    return values


def _suggest(name: str, schema: dict[str, Any], section: str) -> str:
    # A key written at the wrong level, e.g. `quantize:` at the top instead of under `model:`.
    for other, spec in _SCHEMA.items():
        if isinstance(spec, dict) and other != section and name in spec:
            return f" (did you mean '{other}.{name}'?)"
    close = difflib.get_close_matches(name, list(schema), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_output(
    values: dict[str, Any], origins: dict[str, Value | str], root: Path, report: Report
) -> None:
    """Refuse an output folder whose replacement by a build would delete something of the user's."""
    output = values["output"]
    if output is None:
        return
    reason = checks.output_danger(output, root, report.label is not None, values)
    if reason:
        report.add(
            f"{report.prefix('output', origins.get('output'))}{output} {reason}; "
            "a build replaces the whole output folder, so this would delete it "
            "— choose a folder of its own, such as dist"
        )


_SECTIONS = {
    "model": ModelConfig,
    "classifier": ClassifierConfig,
    "runtime": RuntimeConfig,
    "compress": CompressConfig,
    "eval": EvalConfig,
}


def _build(values: dict[str, Any], config_path: Path | None, root: Path) -> SiteConfig:
    fields = {k: _SECTIONS[k](**v) if k in _SECTIONS else v for k, v in values.items()}
    return SiteConfig(**fields, config_path=config_path, root=root)
