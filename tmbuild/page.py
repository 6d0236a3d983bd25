"""The page, its client files, the TensorFlow.js runtime and the sample images.

Templates get plain data; the browser gets its configuration as JSON in the page (never as
string-built JavaScript), so labels and titles can never inject code.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from tmbuild import __version__
from tmbuild.assets import hashed_name, sri
from tmbuild.config import SiteConfig
from tmbuild.export import ImageExport
from tmbuild.model import ModelFiles, slugify
from tmbuild.render import PAGES, Renderer, is_template
from tmbuild.runtime import RuntimeFile, cdn_url

SAMPLE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif"}
MAX_SAMPLES = 24


def render_site(
    config: SiteConfig, export: ImageExport, model: ModelFiles, runtime: list[RuntimeFile]
) -> dict[str, bytes]:
    """Every file of the site except the model and host configuration, by path."""
    files: dict[str, bytes] = {}
    base = config.base_url
    runtime_urls = _runtime(config, runtime, files)
    samples = _samples(config, files)
    renderer = Renderer(config.templates)

    context = {
        "site": {"title": config.title, "description": config.description, "base_url": base},
        "model": {
            "name": model.name,
            "labels": export.labels,
            "image_size": export.image_size,
            "grayscale": export.grayscale,
            "bytes": model.total_bytes,
        },
        "classifier": config.classifier,
        "samples": samples,
        "tmbuild_version": __version__,
    }
    asset_urls: dict[str, str] = {}
    # Stylesheets and scripts first: the page needs their hashed names.
    for name in renderer.asset_names():
        data = renderer.render(name, context) if is_template(name) else renderer.source_bytes(name)
        path = hashed_name(name, data)
        files[path] = data
        asset_urls[PurePosixPath(name).relative_to("assets").as_posix()] = base + path

    context["assets"] = asset_urls
    context["asset"] = lambda name: asset_urls[name]
    context["client_config"] = {
        "version": __version__,
        "model": {
            "url": base + model.model_json_path,
            "labels": export.labels,
            "imageSize": export.image_size,
            "grayscale": export.grayscale,
            "bytes": model.total_bytes,
        },
        "classifier": {
            "inputs": list(config.classifier.inputs),
            "threshold": config.classifier.threshold,
            "minGap": config.classifier.min_gap,
            "topK": config.classifier.top_k,
            "backend": config.classifier.backend,
            "mirrorWebcam": config.classifier.mirror_webcam,
        },
        "runtime": runtime_urls,
    }
    for page in PAGES:
        files[page] = renderer.render(page, context)
    return files


def _runtime(config: SiteConfig, runtime: list[RuntimeFile], files: dict[str, bytes]) -> dict:
    """Copy (bundled) or link (cdn) the runtime files; return what the client needs to load them."""
    scripts, wasm_paths = [], {}
    for runtime_file in runtime:
        data = runtime_file.read_bytes()
        if config.runtime.source == "cdn":
            url = cdn_url(config.runtime.tfjs_version, runtime_file)
        else:
            path = "assets/tfjs/" + hashed_name(runtime_file.name, data)
            files[path] = data
            url = config.base_url + path
        if runtime_file.role == "wasm-binary":
            wasm_paths[runtime_file.name] = url
        else:
            scripts.append({"role": runtime_file.role, "url": url, "integrity": sri(data)})
    return {"version": config.runtime.tfjs_version, "scripts": scripts, "wasm": wasm_paths}


def _samples(config: SiteConfig, files: dict[str, bytes]) -> list[dict]:
    if config.samples is None:
        return []
    samples = []
    images = sorted(
        path
        for path in config.samples.iterdir()
        if path.is_file() and path.suffix.lower() in SAMPLE_SUFFIXES
    )
    for image in images[:MAX_SAMPLES]:
        data = image.read_bytes()
        slug = slugify(image.stem) or "sample"
        path = "assets/samples/" + hashed_name(slug + image.suffix.lower(), data)
        files[path] = data
        samples.append({"name": _sample_title(image), "url": config.base_url + path})
    return samples


def _sample_title(image: Path) -> str:
    return image.stem.replace("_", " ").replace("-", " ")
