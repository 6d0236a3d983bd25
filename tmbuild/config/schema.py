"""The site.yaml schema, declared once: every option's type, default, allowed values and help.

Each section of site.yaml is a frozen dataclass and each option a field of it, declared with
`option(default, check, help)`: the check (tmbuild.config.checks) says what the option accepts,
the help is its one line of explanation. load_config checks a file against these fields and
returns a SiteConfig; tmbuild.config.reference writes the configuration reference, the commented
site.yaml of `tmbuild init` and the example site.yaml from them, so none of those can drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tmbuild.config import checks
from tmbuild.config.checks import MiB

QUANTIZE = ("none", "float16", "uint8", "int8", "auto")
INPUTS = ("upload", "webcam")
AUDIO_INPUTS = ("microphone", "upload")
BACKENDS = ("auto", "webgl", "wasm", "cpu")
RUNTIME_SOURCES = ("bundled", "cdn")
MODEL_RUNNERS = ("plan", "tf-layers")
EMBED_MODES = ("none", "element", "iframe")
HOSTS = ("netlify", "cloudflare", "vercel", "firebase", "nginx", "apache", "s3", "github-pages")
MODEL_PATH_HELP = "the folder or .zip of your Teachable Machine export"
DEFAULT_OUTPUT = "dist"  # relative to the folder of site.yaml
# The keys the CLI may pass as overrides -> (section, key, the flag as the user typed it).
OVERRIDES = {
    "model_path": ("model", "path", "--model"),
    "quantize": ("model", "quantize", "--quantize"),
    "output": ("", "output", "--output"),
    "base_url": ("", "base_url", "--base-url"),
    "single_file": ("", "single_file", "--single-file"),
    "embed": ("embed", "mode", "--embed"),
}


@dataclass(frozen=True)
class Option:
    """One site.yaml option: its default, its check and what it is for."""

    default: Any
    check: Callable  # (yamlfile.Value, the folder relative paths start from) -> the value to use
    help: str  # one line: the comment beside the option in site.yaml, its summary in the docs
    details: str = ""  # more for the docs when one line is not enough (Markdown)
    shown: str | None = None  # the default as site.yaml writes it, where YAML's own form misleads
    required: bool = False  # a build cannot start without it; the default means "not given"


@dataclass(frozen=True)
class Section:
    """A mapping of options in site.yaml, such as `model:`."""

    options: type  # the dataclass whose option fields it holds
    help: str


def option(default: Any, check: Callable, help: str, **more: Any) -> Any:
    """Declare a dataclass field as a site.yaml option."""
    return field(default=default, metadata={"option": Option(default, check, help, **more)})


def section(options: type, help: str) -> Any:
    """Declare a dataclass field as a section of site.yaml holding `options`."""
    return field(default_factory=options, metadata={"section": Section(options, help)})


@dataclass(frozen=True)
class ModelConfig:
    path: Path = option(
        None,
        checks.path("model"),
        MODEL_PATH_HELP,
        required=True,
        details="In Teachable Machine: Export Model → Tensorflow.js → Download my model. The "
        ".zip works as it is; so does the folder it unzips to.",
    )
    name: str | None = option(
        None,
        checks.text(
            "a URL slug of lowercase letters, digits and '-', such as 'shapes'",
            r"[a-z0-9]+(-[a-z0-9]+)*",
            max_length=64,
        ),
        "URL slug of the model folder; default: a slug of its modelName",
    )
    version: str = option(
        "v1",
        checks.text(
            "a short label of letters, digits, '.', '_' and '-', such as 'v1'",
            r"[A-Za-z0-9](?!.*\.\.)[A-Za-z0-9._-]{0,39}",
        ),
        "label in the versioned folder: models/<name>/<version>-<hash8>/",
        details="The hash changes whenever any byte of the model does, so a new model gets a "
        "new folder and browsers may cache each one for good.",
    )
    quantize: str = option(
        "none",
        checks.one_of(QUANTIZE),
        "float16 is half the size, int8 a quarter; auto: the smallest that keeps the answers",
        details="`none` keeps the exported 32-bit weights. `int8` stores each kernel with one "
        "scale per output channel, for phones ([Phones](phones.md)). `auto` measures int8 "
        "and float16 against the 32-bit model on labelled images (`tmbuild build --images`) "
        "and keeps the smallest whose top-1 agreement is at least 99.5% with no probability "
        "moving by more than 0.05; without images it builds float16. `uint8` (one scale per "
        "tensor) can break a model: one lost a quarter of its answers. "
        "`tmbuild eval --compare-quantized int8` measures what a format costs.",
    )
    shard_size: int = option(4 * MiB, checks.size, "size of each weight file", shown="4MiB")


@dataclass(frozen=True)
class ClassifierConfig:
    inputs: tuple[str, ...] = option(
        INPUTS, checks.list_of(INPUTS, allow_empty=False), "what the page offers, one or both"
    )
    threshold: float = option(
        0.70,
        checks.number(0, 1),
        'top probability below this → "uncertain"',
        details="`tmbuild eval --write-threshold` sets it from held-out images.",
    )
    min_gap: float = option(
        0.15, checks.number(0, 1), 'top minus second probability below this → "uncertain"'
    )
    # A model has at most 1000 classes.
    top_k: int = option(3, checks.number(1, 1000, whole=True), "predictions listed on the page")
    backend: str = option(
        "auto",
        checks.one_of(BACKENDS),
        "auto picks WebGL on a GPU, else WASM",
        details="Any other value forces that backend; see [How the page works]"
        "(how-the-page-works.md#backends).",
    )
    mirror_webcam: bool = option(True, checks.flag, "flip webcam frames, as Teachable Machine does")
    # A cap saves battery on fast devices; 0 lets a slow one run flat out.
    max_fps: float = option(
        0, checks.number(0, 120), "webcam predictions per second at most; 0: no limit"
    )


@dataclass(frozen=True)
class RuntimeConfig:
    source: str = option(
        "bundled",
        checks.one_of(RUNTIME_SOURCES),
        "served from the site, or pinned CDN URLs with SRI",
        details="With `cdn` the page links pinned CDN URLs of TensorFlow.js, each with its "
        "Subresource Integrity hash, and the build needs no local copy.",
    )
    # A string, because YAML reads an unquoted 4.22 as the number 4.22.
    tfjs_version: str = option(
        "4.22.0",
        checks.text('a version string such as "4.22.0"', r"\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?"),
        "TensorFlow.js version; quoted, as YAML reads 4.22 as a number",
    )
    dir: Path | None = option(
        None,
        checks.path("folder"),
        "folder of already-downloaded TensorFlow.js files (offline builds)",
        details="Ignored, with a warning, when `source` is `cdn`.",
    )
    # Off: on 2 cores threads cost ~90 ms of start-up and gain nothing per prediction.
    wasm_threads: bool = option(
        False,
        checks.flag,
        "true: WASM threads where the site is cross-origin isolated",
        details="The host files then send `Cross-Origin-Embedder-Policy: require-corp`, which "
        "isolates the site: every resource it loads must then be same-origin or opt in.",
    )
    model_runner: str = option(
        "plan",
        checks.one_of(MODEL_RUNNERS),
        "plan runs the model without tf-layers where it can",
        details="`plan` runs the model without tf-layers where the model allows it (smaller and "
        "faster) and falls back to tf-layers where it does not; `tf-layers` always loads "
        "model.json with tf-layers, as Teachable Machine's own library does.",
    )
    kernels: bool = option(
        True,
        checks.flag,
        "true: where WASM is used, the plan runs without TensorFlow.js",
        details="The plan then runs on tmbuild's own WebAssembly kernels; `false` always uses "
        "TensorFlow.js's backend.",
    )


@dataclass(frozen=True)
class CompressConfig:
    gzip: bool = option(True, checks.flag, "write .gz copies")
    brotli: bool = option(True, checks.flag, "write .br copies")
    brotli_quality: int = option(
        11, checks.number(0, 11, whole=True), "11 makes the smallest files"
    )
    gzip_level: int = option(9, checks.number(1, 9, whole=True), "9 makes the smallest files")


@dataclass(frozen=True)
class EvalConfig:
    images: Path | None = option(
        None,
        checks.path("folder"),
        "held-out images, one folder per label, for tmbuild eval and quantize: auto",
        details="`tmbuild eval` reads them when `--images` is not given; `quantize: auto` "
        "measures int8 and float16 on them through the page (`tmbuild build --images` "
        "overrides it). Keep them out of the training set.",
    )
    aliases: tuple[tuple[str, str], ...] = option(
        (),  # (folder, label) pairs, sorted
        checks.aliases,
        "folders named otherwise than their label, e.g. {dogs: dog}",
        shown="{}",
    )
    target_error: float = option(
        0.05,
        checks.number(0, 1),
        "error rate the recommended threshold keeps predictions under",
        details="The share of wrong answers among those the page gives; `tmbuild eval "
        "--target-error` overrides it for one run.",
    )


def _sources(directive: str, example: str) -> Any:
    return option(
        (),
        checks.csp_sources,
        f"more sources for {directive}, such as [{example}]",
        shown="[]",
    )


@dataclass(frozen=True)
class CspConfig:
    """Sources the page's Content-Security-Policy allows besides its own, per directive."""

    script_src: tuple[str, ...] = _sources("script-src", "https://plausible.io")
    style_src: tuple[str, ...] = _sources("style-src", "https://fonts.googleapis.com")
    font_src: tuple[str, ...] = _sources("font-src", "https://fonts.gstatic.com")
    img_src: tuple[str, ...] = _sources("img-src", "https://images.example.com")
    media_src: tuple[str, ...] = _sources("media-src", "https://media.example.com")
    connect_src: tuple[str, ...] = _sources("connect-src", "https://plausible.io")
    frame_src: tuple[str, ...] = _sources("frame-src", "https://www.youtube-nocookie.com")
    frame_ancestors: tuple[str, ...] = option(
        (),
        checks.csp_sources,
        "sites that may show the page in a frame; [] for none",
        shown="[]",
        details="`frame-ancestors 'none'` by default: no other site can frame the page. "
        "`['self', https://www.example.com]` lets the site itself and that one.",
    )
    allow_unsafe: bool = option(
        False,
        checks.flag,
        "true: let the lists above name 'unsafe-inline', 'unsafe-eval' or *",
        details="Each of those undoes much of what the policy protects against: inline "
        "scripts, eval, or any host at all. tmbuild refuses them unless this is written out.",
    )


@dataclass(frozen=True)
class AudioConfig:
    """The listening page, for Teachable Machine audio models (docs: audio)."""

    inputs: tuple[str, ...] = option(
        AUDIO_INPUTS,
        checks.list_of(AUDIO_INPUTS, allow_empty=False),
        "what the listening page offers, one or both",
    )
    # speech-commands' own default: a window every half second of its one-second spectrogram.
    overlap: float = option(
        0.5,
        checks.number(0, 0.95),
        "how much each window shares with the one before: 0.5 listens every 0.5 s",
        details="As speech-commands' `overlapFactor`: the page classifies the last 43 frames "
        "(1 s) every `(1 - overlap)` seconds, live and in an uploaded file alike. The label "
        "shows while its probability stays above `classifier.threshold`.",
    )


@dataclass(frozen=True)
class PoseConfig:
    """The pose page, for Teachable Machine pose models (docs: pose)."""

    # Teachable Machine's drawKeypoints and drawSkeleton default to 0.5.
    min_confidence: float = option(
        0.5,
        checks.number(0, 1),
        "the skeleton shows keypoints and bones PoseNet is at least this sure of",
        details="PoseNet scores each of its 17 keypoints from 0 to 1; a bone is drawn when both "
        "its ends reach this score. The classification is not changed by it: the model reads "
        "every keypoint.",
    )


@dataclass(frozen=True)
class EmbedConfig:
    """How the classifier goes into pages of another site (docs: embedding)."""

    mode: str = option(
        "none",
        checks.one_of(EMBED_MODES),
        "element: a folder for any site's pages; iframe: a page for a frame",
        details="`element` writes `tmbuild.js`, a script with a name that never changes, "
        "beside the hashed files it loads: a page shows the classifier with "
        '`<script type="module" src=".../tmbuild.js"></script>` and `<tm-classifier>`. '
        "`iframe` writes the page without its header and footer, for an `<iframe>` on the "
        "sites that `csp.frame_ancestors` names.",
    )
    name: str | None = option(
        None,
        checks.text(
            "a name of letters, digits, - and _",
            r"[A-Za-z][A-Za-z0-9_-]*",
            optional=True,
            max_length=64,
        ),
        "what <tm-classifier name=...> calls it; default: the model's name",
        details="Needed only on a page that shows more than one classifier.",
    )


@dataclass(frozen=True, kw_only=True)
class SiteConfig:
    """site.yaml, checked: its options and sections, and where it was read from."""

    title: str | None = option(
        None,
        checks.text(optional=True),
        "the page title, in the tab and on the page; default: made from the labels",
        details="Without one, the page is named after what it tells apart, in its language: "
        "`cat, dog, rabbit: an image classifier` for two to four short labels, `An image "
        "classifier` otherwise (messages `default_title` and `default_title_many`).",
    )
    description: str | None = option(
        None, checks.text(optional=True), "shown under the title and as the meta description"
    )
    lang: str = option(
        "en",
        checks.text(
            "a language tag such as en, pt-BR or ko",
            r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*",
            max_length=35,
        ),
        "the page's language; tmbuild has its words in en, es, pt, fr, de, ko and ja",
        details="A language tmbuild has no table for shows its words in English; `messages` "
        "replaces any of them. Labels stay as the model has them.",
    )
    messages: tuple[tuple[str, str], ...] = option(
        (),
        checks.messages,
        "words of the page to replace, by key, such as {retry: Try once more}",
        shown="{}",
        details="The keys are listed in the docs' templates page; `{label}` and the like in a "
        "message are filled in by the page.",
    )
    model: ModelConfig = section(
        ModelConfig, "the Teachable Machine export, and how its weights are served"
    )
    classifier: ClassifierConfig = section(
        ClassifierConfig, "what the page offers and how it reads the predictions"
    )
    audio: AudioConfig = section(AudioConfig, "the listening page, for audio models")
    pose: PoseConfig = section(PoseConfig, "the pose page's skeleton, for pose models")
    runtime: RuntimeConfig = section(RuntimeConfig, "how the page runs the model")
    compress: CompressConfig = section(
        CompressConfig, ".gz and .br copies of text and weight files, for hosts that use them"
    )
    samples: Path | None = option(
        None, checks.path("folder"), "folder of images the page offers to click"
    )
    templates: Path | None = option(
        None,
        checks.path("folder"),
        "folder of template overrides",
        details="Its files replace the built-in templates of the same name; "
        "`tmbuild init --templates` copies the built-in ones there to edit.",
    )
    hosts: tuple[str, ...] = option(
        ("netlify",),
        checks.list_of(HOSTS, allow_empty=True),
        "hosts to write configuration files for; [] for none",
    )
    base_url: str = option(  # "/sub/" or "https://host/sub/", always ending in "/"
        "/",
        checks.base_url,
        "the path the site is served under, such as /demos/shapes/",
        details="A full URL, such as `https://example.com/demos/shapes/`, makes the page load "
        "its files from that address.",
    )
    offline: bool = option(
        False, checks.flag, "true: a service worker precaches the site, so it works offline"
    )
    single_file: bool = option(
        False, checks.flag, "true: write one self-contained .html instead of a site"
    )
    output: Path = option(
        None,  # None here; <root>/dist once the root is known
        checks.path("output"),
        "the folder a build writes; it is replaced whole",
        shown=DEFAULT_OUTPUT,
    )
    embed: EmbedConfig = section(EmbedConfig, "the classifier in pages of another site")
    csp: CspConfig = section(
        CspConfig, "the Content-Security-Policy: more sources than the site's own, per directive"
    )
    eval: EvalConfig = section(EvalConfig, "for tmbuild eval: accuracy on held-out images")
    config_path: Path | None  # None when built from defaults and overrides only
    root: Path  # the folder of site.yaml (or the working directory without one)

    def display_path(self, path: Path) -> str:
        """Show a path for messages: relative to the working directory when it is inside it."""
        try:
            return str(path.relative_to(Path.cwd()))
        except (ValueError, OSError):
            return str(path)


def _tree(cls: type) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for f in fields(cls):
        if "option" in f.metadata:
            tree[f.name] = f.metadata["option"]
        elif "section" in f.metadata:
            tree[f.name] = _tree(f.metadata["section"].options)
    return tree


# The schema as load_config walks it: option name -> Option, section name -> its own mapping.
SCHEMA: dict[str, Any] = _tree(SiteConfig)
SECTIONS: dict[str, Section] = {
    f.name: f.metadata["section"] for f in fields(SiteConfig) if "section" in f.metadata
}


def options() -> list[tuple[str, Option]]:
    """Every option by its dotted name (`model.quantize`), in the order of the schema."""
    return [
        (f"{name}.{key}", inner) if isinstance(spec, dict) else (name, spec)
        for name, spec in SCHEMA.items()
        for key, inner in (spec.items() if isinstance(spec, dict) else [("", spec)])
    ]
