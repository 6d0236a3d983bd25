"""`tmbuild eval`: held-out images through the built page in headless Chromium, then the numbers.

Each image goes the way a visitor's upload goes: its bytes become a Blob, an `<img>` decodes it
(applying EXIF orientation), and the page's own `window.tmbuild.classify` predicts, on the
backend the page picks. So the figures are the production figures, not a re-implementation's.
Images travel inside the evaluate calls (base64, a batch at a time), so no server needs to see
the user's folder and the page's CSP stays as shipped.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tmbuild.config.load import SiteConfig
from tmbuild.config.schema import EvalConfig
from tmbuild.errors import TmbuildError
from tmbuild.evaluate import metrics
from tmbuild.evaluate.headless import SitePage, chromium, open_site
from tmbuild.evaluate.labelled import LabelledImage, list_labelled, match_folders
from tmbuild.evaluate.lints import dataset_lints
from tmbuild.evaluate.metrics import Prediction
from tmbuild.evaluate.perturb import ORIGINAL, PERTURB_JS, Perturbation, by_name, robustness_summary
from tmbuild.evaluate.record import images_hash
from tmbuild.evaluate.verdict import verdict

MAX_IMAGE_BYTES = 64 * 1024 * 1024  # larger than any photo; refused rather than sent whole
BATCH_IMAGES = 16  # images per evaluate call: few round trips, each well inside the timeout
BATCH_BYTES = 12 * 1024 * 1024
QUANTIZE_CHOICES = ("float16", "uint8")

# `{ images: [{data}], labels, spec, imageSize }` -> one result per image, in order. A file the
# browser cannot decode gets `error` and the batch goes on; probabilities come in label order.
CLASSIFY_JS = (
    """async ({ images, labels, spec, imageSize }) => {
  const perturb = """
    + PERTURB_JS
    + """;
  const decode = (data) => {
    const text = atob(data);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  };
  const results = [];
  for (const item of images) {
    if (item.error) {
      results.push({ error: item.error });
      continue;
    }
    const url = URL.createObjectURL(new Blob([decode(item.data)]));
    const image = new Image();
    try {
      await new Promise((resolve, reject) => {
        image.onload = resolve;
        image.onerror = () => reject(new Error("the browser cannot decode it as an image"));
        image.src = url;
      });
      const source = spec ? perturb(image, spec, imageSize) : image;
      const result = await window.tmbuild.classify(source);
      const byLabel = new Map(result.predictions.map((p) => [p.label, p.probability]));
      results.push({ probabilities: labels.map((label) => byLabel.get(label)),
        status: result.status });
    } catch (error) {
      results.push({ error: String((error && error.message) || error) });
    } finally {
      URL.revokeObjectURL(url);
    }
  }
  return results;
}"""
)


@dataclass
class EvalOptions:
    images: Path  # one folder per label
    site: Path | None = None  # a built site to use instead of building one
    target_error: float = EvalConfig().target_error
    compare_quantized: str | None = None  # float16 or uint8
    robustness: bool = False
    chromium: str | None = None  # path of the browser; None: TMBUILD_CHROMIUM or the PATH's


@dataclass
class Outcome:
    image: LabelledImage
    probabilities: list[float] | None
    status: str | None  # the page's verdict at its own threshold: confident or uncertain
    error: str | None


@dataclass
class Evaluation:
    report: dict  # what eval.json holds
    seconds: float  # all of it: build, browser, classification
    classifications: int  # page.classify calls
    classify_seconds: float  # spent in them, decoding included

    @property
    def images_per_second(self) -> float:
        """How fast the page classifies, the build and the browser's start left out."""
        return self.classifications / self.classify_seconds if self.classify_seconds else 0.0


Progress = Callable[[int, int], None]


def classify_images(
    site: SitePage,
    images: list[LabelledImage],
    perturbation: Perturbation | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Outcome]:
    """Classify each image in the page, in batches; `progress(n)` after each batch of n."""
    spec = perturbation.spec if perturbation is not None else None
    outcomes: list[Outcome] = []
    for batch in _batches(images):
        payload = [_payload(image) for image in batch]
        results = site.page.evaluate(
            CLASSIFY_JS,
            {"images": payload, "labels": site.labels, "spec": spec, "imageSize": site.image_size},
        )
        if site.errors:
            raise TmbuildError(f"the built page failed while classifying: {site.errors[0]}")
        for image, result in zip(batch, results, strict=True):
            outcomes.append(
                Outcome(
                    image, result.get("probabilities"), result.get("status"), result.get("error")
                )
            )
        if progress is not None:
            progress(len(batch))
    return outcomes


def _batches(images: list[LabelledImage]):
    batch, size = [], 0
    for image in images:
        try:
            length = image.path.stat().st_size
        except OSError:
            length = 0
        if batch and (len(batch) >= BATCH_IMAGES or size + length > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(image)
        size += length
    if batch:
        yield batch


def _payload(image: LabelledImage) -> dict:
    try:
        with image.path.open("rb") as file:
            data = file.read(MAX_IMAGE_BYTES + 1)
    except OSError as error:
        return {"error": f"cannot read it: {error.strerror or error}"}
    if len(data) > MAX_IMAGE_BYTES:
        return {"error": "larger than 64 MiB; not a photo"}
    return {"data": base64.b64encode(data).decode("ascii")}


def evaluate(
    config: SiteConfig | None, options: EvalOptions, progress: Progress | None = None
) -> Evaluation:
    """Build (or take) the site, classify the held-out images in it, and gather every figure."""
    started = time.perf_counter()
    if options.compare_quantized and config is None:
        raise TmbuildError("--compare-quantized needs the model: give site.yaml or --model")
    folders = list_labelled(options.images)
    aliases = dict(config.eval.aliases) if config is not None else {}
    aliases_source = _aliases_source(config)
    done = total = 0

    def step(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    clock = 0.0

    def classify(page: SitePage, images: list, perturbation: Perturbation | None = None):
        nonlocal clock
        begun = time.perf_counter()
        try:
            return classify_images(page, images, perturbation, progress=step)
        finally:
            clock += time.perf_counter() - begun

    with (
        tempfile.TemporaryDirectory(prefix="tmbuild-eval-") as scratch,
        chromium(options.chromium) as browser,
    ):
        site = options.site or _build_site(config, Path(scratch) / "site")
        with open_site(browser, site) as page:
            match = match_folders(list(folders.images), page.labels, aliases, aliases_source)
            images = [image for image in folders.all_images() if image.folder in match.labels]
            if not images:
                raise TmbuildError(_nothing_to_evaluate(options.images, folders, match))
            perturbations = by_name() if options.robustness else []
            rounds = bool(options.compare_quantized) + len(perturbations)
            total = len(images) * (1 + rounds)
            outcomes = classify(page, images)
            predictions, undecodable = _predictions(outcomes, match.labels, page.labels)
            decoded = [o.image for o in outcomes if o.probabilities is not None]
            total = len(images) + len(decoded) * rounds  # undecodable images are not retried
            accuracies = {ORIGINAL.name: metrics.accuracy(predictions)}
            for perturbation in perturbations:
                changed, _ = _predictions(
                    classify(page, decoded, perturbation),
                    match.labels,
                    page.labels,
                )
                accuracies[perturbation.name] = metrics.accuracy(changed)
            model = _manifest_model(site)
        quantized = None
        if options.compare_quantized:
            other = _build_site(config, Path(scratch) / "quantized", options.compare_quantized)
            with open_site(browser, other) as quantized_page:
                candidate, _ = _predictions(
                    classify(quantized_page, decoded),
                    match.labels,
                    page.labels,
                )
            quantized = metrics.agreement(predictions, candidate)
            quantized.update(
                quantize=options.compare_quantized, model_bytes=_manifest_model(other).get("bytes")
            )

    report = _report(page, model, options, folders, match, predictions, undecodable)
    report["images"]["sha256"] = images_hash(decoded, match.labels)
    if quantized is not None:
        report["quantized"] = quantized
    if perturbations:
        report["robustness"] = robustness_summary(accuracies, len(decoded))
        report["warnings"] += report["robustness"]["warnings"]
    return Evaluation(report, time.perf_counter() - started, done, clock)


def _aliases_source(config: SiteConfig | None) -> str:
    if config is None or config.config_path is None:
        return "eval.aliases"
    return f"{config.display_path(config.config_path)}: eval.aliases"


def _build_site(config: SiteConfig | None, output: Path, quantize: str | None = None) -> Path:
    """Build the site for eval: the same page and model, served from / without compression."""
    from tmbuild.build import build

    if config is None:
        raise TmbuildError("no site to evaluate: give site.yaml, --model or --site")
    model = config.model
    if quantize is not None:
        model = dataclasses.replace(model, quantize=quantize)
    # A folder site even where site.yaml asks for one file or a service worker: the page and the
    # model are the same, and a folder is what the local server serves.
    site_modes = {name: False for name in ("single_file", "offline") if hasattr(config, name)}
    build(
        dataclasses.replace(
            config,
            model=model,
            output=output,
            base_url="/",
            hosts=(
                "netlify",
            ),  # its _headers give the page the CSP and headers it is deployed with
            compress=dataclasses.replace(config.compress, gzip=False, brotli=False),
            **site_modes,
        )
    )
    return output


def _manifest_model(site: Path) -> dict:
    try:
        return json.loads((site / "tmbuild-manifest.json").read_text("utf-8"))["model"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _predictions(
    outcomes: list[Outcome], folder_labels: dict[str, str], labels: list[str]
) -> tuple[list[Prediction], list[dict]]:
    predictions, undecodable = [], []
    for outcome in outcomes:
        if outcome.probabilities is None:
            undecodable.append({"image": outcome.image.name, "reason": outcome.error})
            continue
        truth = labels.index(folder_labels[outcome.image.folder])
        predictions.append(Prediction(outcome.image.name, truth, tuple(outcome.probabilities)))
    return predictions, undecodable


def _nothing_to_evaluate(root: Path, folders, match) -> str:
    if match.unmatched:
        return (
            f"{root}: no folder is named after a label of the model (folders: "
            f"{', '.join(match.unmatched)}); rename them or map them in site.yaml under "
            "eval: aliases: {folder: label}"
        )
    return f"{root}: the label folders hold no files"


def _report(page, model, options, folders, match, predictions, undecodable) -> dict:
    labels = page.labels
    classes = metrics.per_class(predictions, labels)
    curve = metrics.threshold_curve(predictions, page.min_gap)
    recommended = metrics.recommend_threshold(curve, options.target_error, len(labels))
    counts = {c["label"]: c["support"] for c in classes}
    warnings = []
    if match.unmatched:
        warnings.append(
            f"folders that match no label were left out: {', '.join(match.unmatched)} "
            "(map them in site.yaml under eval: aliases: {folder: label})"
        )
    if undecodable:
        warnings.append(f"{len(undecodable)} file(s) could not be decoded and were skipped")
    if folders.loose:
        warnings.append(
            f"{len(folders.loose)} file(s) directly in the images folder, in no "
            "label folder, were left out"
        )
    warnings += dataset_lints(counts)
    report = {
        "model": {
            "name": model.get("name"),
            "labels": labels,
            "quantize": model.get("quantize"),
            "bytes": model.get("bytes"),
            "image_size": page.image_size,
            "weights_sha256": model.get("weights_sha256"),
        },
        "backend": page.backend,
        "images": {
            "folder": options.images.name or str(options.images),
            "classified": len(predictions),
            "by_label": counts,
            "folders": {
                folder: {"label": match.labels[folder], "files": len(folders.images[folder])}
                for folder in sorted(match.labels)
            },
            "unmatched_folders": match.unmatched,
            "labels_without_images": [label for label in labels if not counts[label]],
            "undecodable": undecodable,
            "loose_files": folders.loose,
        },
        "accuracy": metrics.accuracy(predictions),
        "accuracy_interval": metrics.accuracy_interval(predictions),
        **metrics.averages(classes),
        "classes": classes,
        "confusion": metrics.confusion_matrix(predictions, len(labels)),
        "threshold": {
            "current": page.threshold,
            "min_gap": page.min_gap,
            "target_error": options.target_error,
            "recommended": None if recommended is None else recommended["threshold"],
            "at_current": metrics.operating_point(predictions, page.threshold, page.min_gap),
            "at_recommended": recommended,
        },
        "threshold_curve": curve,
        "calibration": metrics.calibration(predictions),
        "predictions": [
            {
                "image": p.image,
                "truth": labels[p.truth],
                "predicted": labels[p.predicted],
                "confidence": p.confidence,
                "probabilities": list(p.probabilities),
            }
            for p in predictions
        ],
        "warnings": warnings,
    }
    report["verdict"] = verdict(report)
    return report
