"""The page, its client files, the TensorFlow.js runtime and the sample images.

Templates get plain data; the browser gets its configuration as JSON in the page (never as
string-built JavaScript), so labels and titles can never inject code.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import logging
import re
from pathlib import Path, PurePosixPath

from jinja2.utils import markupsafe

from tmbuild import __version__
from tmbuild.config.load import SiteConfig
from tmbuild.errors import TmbuildError
from tmbuild.export.read import Export
from tmbuild.hashes import hashed_name, sri
from tmbuild.model.kernels import (
    KERNELS_FORMAT,
    kernels_binary,
    kernels_refusal,
    page_uses_kernels,
)
from tmbuild.model.plan import PLAN_FORMAT
from tmbuild.model.prepare import ModelFiles, slugify
from tmbuild.page.client import bundle, words
from tmbuild.page.contract import contract_warnings
from tmbuild.page.embed import embed_files
from tmbuild.page.render import PAGES, Renderer, TemplateError, is_template
from tmbuild.page.tfjs import RuntimeFile, cdn_url

LISTENING_PAGE = "listen.html"
POSE_PAGE = "pose.html"
PAGE_OF_KIND = {"audio": LISTENING_PAGE, "pose": POSE_PAGE}
SAMPLE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif"}
MAX_SAMPLES = 24

log = logging.getLogger("tmbuild")

# Words only the templates use: the page's script never needs them.
TEMPLATE_MESSAGES = {
    "default_title",
    "default_title_many",
    "default_title_audio",
    "default_title_many_audio",
    "default_title_pose",
    "default_title_many_pose",
    "served_only",
    "served_only_how",
    "noscript",
    "script_failed",
    "footer_private",
    "footer_private_audio",
    "footer_built",
    "samples_heading",
}
# The first line of the page script that `tmbuild init --templates` used to copy.
_FORMER_ENGINE = "/* tmbuild client: "

# The page's only inline code. Opened from a file, the page's absolute asset URLs point at
# nothing, so no script file ever runs; this one does, and shows how to serve the page instead.
# Served, it shows the loading bar (hidden until a script runs, so that it is never a promise
# nothing keeps), and if the engine or the page's elements have not run by the load event (a
# download failed), it swaps the bar for a message. It is a constant, not template text, so
# that its CSP hash is known here.
OPENED_FROM_FILE_SCRIPT = (
    "(function () {"
    ' var served = document.getElementById("served-only");'
    ' var loading = document.querySelectorAll("tm-loading");'
    " function show(elements, shown) {"
    " for (var i = 0; i < elements.length; i++) elements[i].hidden = !shown; }"
    ' if (location.protocol === "file:") { if (served) served.hidden = false; return; }'
    " show(loading, true);"
    ' addEventListener("load", function () {'
    ' var failed = document.getElementById("script-failed");'
    # Both scripts ran: the engine made window.tmbuild, the page's elements are defined.
    ' var ran = window.tmbuild && (!loading.length || customElements.get("tm-loading"));'
    " if (ran || !failed) return;"
    " failed.hidden = false;"
    " show(loading, false);"
    " });"
    " })();"
)
# A single-file build is meant to be opened from disk: it shows the loading bar regardless.
SINGLE_FILE_SCRIPT = (
    '(function () { var loading = document.querySelectorAll("tm-loading");'
    " for (var i = 0; i < loading.length; i++) loading[i].hidden = false; })();"
)
# Templates write them as `{{ inline_scripts.<name> }}` inside a bare <script> element.
INLINE_SCRIPTS = {"opened_from_file": OPENED_FROM_FILE_SCRIPT}


def csp_hash(script: str) -> str:
    """The CSP source expression that allows an inline script with exactly this text."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


# What `script-src` must allow besides the site's own files; hosts.py puts them in the CSP.
INLINE_SCRIPT_HASHES = tuple(sorted(csp_hash(text) for text in INLINE_SCRIPTS.values()))


def render_site(
    config: SiteConfig,
    export: Export,
    model: ModelFiles,
    runtime: list[RuntimeFile],
) -> dict[str, bytes]:
    """Every file of the site except the model and host configuration, by path."""
    files: dict[str, bytes] = {}
    # An embedded classifier's URLs are relative to its tmbuild.js, wherever a site puts it.
    element = config.embed.mode == "element"
    base = "" if element else config.base_url
    runtime_urls = _runtime(config, runtime, files, model.plan, base)
    audio = export.kind == "audio"
    samples = [] if element or audio else _samples(config, files)
    renderer = Renderer(config.templates)

    lang, texts = _words(config)
    formats = {"plan": PLAN_FORMAT} if model.plan else {}
    if runtime_urls["kernels"]:
        formats["kernels"] = KERNELS_FORMAT
    context = {
        "site": {
            "title": config.title or words.default_title(export.labels, lang, texts, export.kind),
            "description": config.description,
            "base_url": base,
        },
        "page": {
            "lang": lang,
            "dir": words.text_direction(lang),
            "framed": config.embed.mode == "iframe",  # no header and footer in a frame
        },
        "messages": texts,
        "model": {
            "name": model.name,
            "kind": export.kind,
            "labels": export.labels,
            "image_size": None if audio else export.image_size,
            "grayscale": False if audio else export.grayscale,
            "bytes": model.total_bytes,
        },
        "classifier": config.classifier,
        "audio": config.audio,
        "pose": config.pose,
        "samples": samples,
        "tmbuild_version": __version__,
        "inline_scripts": {name: markupsafe.Markup(text) for name, text in INLINE_SCRIPTS.items()},
        "fill": _fill,
    }
    asset_urls: dict[str, str] = {}
    # Stylesheets and scripts first: the page needs their hashed names.
    for name in [] if element else _designer_assets(renderer):
        data = renderer.render(name, context) if is_template(name) else renderer.source_bytes(name)
        path = hashed_name(name, data)
        files[path] = data
        asset_urls[PurePosixPath(name).relative_to("assets").as_posix()] = base + path
    scripts = {}
    for entry, name in bundle.ENTRIES.items():
        data = bundle.bundle(entry, export.kind)  # that kind's code only
        path = "assets/" + hashed_name(name, data)
        files[path] = data
        asset_urls[name] = base + path
        scripts[name.removesuffix(".js")] = {
            "url": base + path,
            "path": path,
            "integrity": sri(data),
        }

    context["assets"] = asset_urls
    context["asset"] = lambda name: _asset_url(asset_urls, name)
    context["scripts"] = scripts
    context["preloads"] = _preloads(base, model, runtime_urls)
    context["client_config"] = {
        "version": __version__,
        "formats": formats,
        "lang": lang,
        "messages": {key: text for key, text in texts.items() if key not in TEMPLATE_MESSAGES},
        "model": {
            "url": base + model.model_json_path,
            # The page runs the plan when there is one, and needs no model.json then.
            "plan": model.plan,
            "shards": [base + path for path in model.shards],
            "weightBytes": model.shard_bytes,
            "kind": export.kind,
            "labels": export.labels,
            **({} if audio else {"imageSize": export.image_size, "grayscale": export.grayscale}),
            "bytes": model.total_bytes,
        },
        "classifier": {
            "inputs": list(config.classifier.inputs),
            "threshold": config.classifier.threshold,
            "minGap": config.classifier.min_gap,
            "topK": config.classifier.top_k,
            "backend": config.classifier.backend,
            "mirrorWebcam": config.classifier.mirror_webcam,
            "maxFps": config.classifier.max_fps,
        },
        # An audio model's listening (tmbuild.config.schema AudioConfig).
        **(
            {"audio": {"inputs": list(config.audio.inputs), "overlap": config.audio.overlap}}
            if audio
            else {}
        ),
        # A pose model's skeleton (page-pose.js): what it leaves undrawn.
        **(
            {"pose": {"minConfidence": config.pose.min_confidence}} if export.kind == "pose" else {}
        ),
        "runtime": runtime_urls,
        # offline: true: the service worker the build writes next to the page (tmbuild.page.offline)
        "offline": {"worker": base + "sw.js"} if config.offline else None,
    }
    if element:
        name = config.embed.name or model.name
        files.update(embed_files(context["client_config"], scripts, name, config.base_url))
        return files
    inputs = config.audio.inputs if audio else config.classifier.inputs
    for page in PAGES:
        # An audio model's page is listen.html, a pose model's pose.html, so that a templates
        # folder can hold all three.
        template = PAGE_OF_KIND.get(export.kind, page) if page == "index.html" else page
        files[page] = renderer.render(template, context)
        where = _template_shown(renderer, template)
        html = files[page].decode("utf-8")
        for warning in contract_warnings(html, scripts, inputs):
            log.warning("%s: %s", where, warning)
        for script in blocked_inline_scripts(files[page].decode("utf-8")):
            log.warning(
                "%s: the Content-Security-Policy tmbuild writes blocks the inline script %r; "
                "move it to a file under assets/",
                page,
                script[:60],
            )
    return files


def _fill(text: str, **parts: str) -> markupsafe.Markup:
    """A message with its {placeholders} replaced by markup: `fill(m, command="<code>…")`.

    The message is escaped first, so a site's own words can never add markup; a placeholder the
    message leaves out is left out.
    """
    escaped = str(markupsafe.escape(text))
    for name, markup in parts.items():
        escaped = escaped.replace("{" + name + "}", str(markup))
    return markupsafe.Markup(escaped)


def _words(config: SiteConfig) -> tuple[str, dict[str, str]]:
    """The page's language and its words: site.yaml `lang:`, and `messages:` over its table.

    A key the page has no message for is named (a typo would otherwise change nothing).
    """
    lang = config.lang or words.DEFAULT_LANGUAGE
    overrides = dict(config.messages)
    known = words.message_table()[words.DEFAULT_LANGUAGE]
    for key in sorted(set(overrides) - set(known)):
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        log.warning("messages: %r is not a word of the page%s; it changes nothing", key, hint)
    return lang, words.messages(lang, overrides)


def _designer_assets(renderer: Renderer) -> list[str]:
    """The templates' assets, after refusing any that would replace tmbuild's client code.

    The engine is package code: a copy in a templates folder would run an old engine against a
    newer model format after an upgrade.
    """
    names = []
    owned = {f"assets/{name}" for name in (*bundle.ENTRIES.values(), *bundle.client_files())}
    for name in renderer.asset_names():
        folder = renderer.override_dir
        own = folder / name if folder is not None else None
        if name in owned:
            raise TemplateError(
                f"{_shown(own)}: replaces tmbuild's own {PurePosixPath(name).name}, which is not a "
                "template (the engine ships with tmbuild); remove it, and shape the page with "
                "index.html and style.css"
            )
        former = _FORMER_ENGINE.encode()
        if own is not None and own.is_file() and own.read_bytes().startswith(former):
            log.warning(
                "%s: a copy of tmbuild's former page script, no longer used (the engine now "
                "ships with tmbuild and is never copied); delete it",
                _shown(own),
            )
            continue
        names.append(name)
    return names


def _template_shown(renderer: Renderer, name: str) -> str:
    """A page template as the designer knows it: their file, or the built-in one's name."""
    own = renderer.override_dir / name if renderer.override_dir is not None else None
    return _shown(own) if own is not None and own.is_file() else name


def _shown(path: Path | None) -> str:
    if path is None:
        return "?"
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _asset_url(asset_urls: dict[str, str], name: str) -> str:
    try:
        return asset_urls[name]
    except KeyError:
        hint = " (the page's scripts are now scripts.engine and scripts.page)"
        hint = hint if name == "app.js" else ""
        raise TemplateError(f"asset({name!r}): no such file under assets/{hint}") from None


_SCRIPT_ELEMENT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_TYPE_ATTRIBUTE = re.compile(r"""\btype\s*=\s*["']?([^"'\s>]*)""", re.IGNORECASE)
_SCRIPT_TYPES = {"", "text/javascript", "application/javascript", "module"}


def blocked_inline_scripts(html: str) -> list[str]:
    """The inline scripts of a page that INLINE_SCRIPT_HASHES does not allow (a template's own)."""
    blocked = []
    for attributes, text in _SCRIPT_ELEMENT.findall(html):
        kind = _TYPE_ATTRIBUTE.search(attributes)
        if re.search(r"\bsrc\s*=", attributes, re.IGNORECASE) or not text:
            continue
        if kind and kind.group(1).lower() not in _SCRIPT_TYPES:
            continue  # data, such as the application/json configuration: never run
        if csp_hash(text) not in INLINE_SCRIPT_HASHES:
            blocked.append(text.strip())
    return blocked


def _runtime(
    config: SiteConfig,
    runtime: list[RuntimeFile],
    files: dict[str, bytes],
    plan: dict | None,
    base: str,
) -> dict:
    """Copy (bundled) or link (cdn) the runtime files; return what the client needs to load them.

    tmbuild's own kernels (tmbuild.model.kernels) travel inside the page, in base64: a request of
    their own came back only after the weights here, queued behind them on two cores.
    """
    kernels = None
    if page_uses_kernels(config, plan):
        kernels = base64.b64encode(kernels_binary()).decode("ascii")
    elif config.runtime.kernels and plan is not None and (refusal := kernels_refusal(plan)):
        log.info("The page runs the plan on TensorFlow.js: %s", refusal)
    scripts, wasm_paths = [], {}
    for runtime_file in runtime:
        if config.runtime.source == "cdn":
            url = cdn_url(config.runtime.tfjs_version, runtime_file)
        else:
            data = runtime_file.read_bytes()
            path = "assets/tfjs/" + hashed_name(runtime_file.name, data)
            files[path] = data
            url = base + path
        if runtime_file.role == "wasm-binary":
            wasm_paths[runtime_file.name] = url
        else:
            integrity = runtime_file.sri  # pinned; the same as sri() of the verified bytes
            scripts.append({"role": runtime_file.role, "url": url, "integrity": integrity})
    return {
        "version": config.runtime.tfjs_version,
        "scripts": scripts,
        "wasm": wasm_paths,
        "wasmThreads": config.runtime.wasm_threads,
        "kernels": kernels,
    }


def _preloads(base: str, model: ModelFiles, runtime: dict) -> list[dict]:
    """What every visit downloads, whichever backend the page picks: fetched from the start.

    Without hints, the downloads form a chain (page, then the engine, then the runtime, then the
    model once a backend has started). Each hint matches the request the page makes later
    (CORS mode, same integrity), so the browser hands over the preloaded response.
    """
    if runtime["kernels"]:
        # Where the page takes WASM it needs no TensorFlow.js at all; where it takes WebGL it
        # starts core as soon as it has checked the GPU (~10 ms in).
        preloads = []
    else:
        preloads = [
            {"url": script["url"], "as": "script", "integrity": script["integrity"]}
            for script in runtime["scripts"]
            if script["role"] in ("core", "layers")
        ]
    model_json = [] if model.plan else [model.model_json_path]
    for path in (*model_json, *model.shards):
        preloads.append({"url": base + path, "as": "fetch", "integrity": None})
    return preloads


def _samples(config: SiteConfig, files: dict[str, bytes]) -> list[dict]:
    if config.samples is None:
        return []
    samples = []
    images = sorted(
        path
        for path in config.samples.iterdir()
        if path.is_file() and path.suffix.lower() in SAMPLE_SUFFIXES
    )
    folder = config.samples.resolve()
    for image in images[:MAX_SAMPLES]:
        real = image.resolve()
        if folder not in real.parents:  # a downloaded folder could link "a.png" to a secret
            raise TmbuildError(
                f"{config.display_path(image)}: is a link to {real}, outside the samples folder; "
                "copy the image into the folder instead"
            )
        data = image.read_bytes()
        slug = slugify(image.stem) or "sample"
        path = "assets/samples/" + hashed_name(slug + image.suffix.lower(), data)
        files[path] = data
        samples.append({"name": _sample_title(image), "url": config.base_url + path})
    return samples


def _sample_title(image: Path) -> str:
    return image.stem.replace("_", " ").replace("-", " ")
