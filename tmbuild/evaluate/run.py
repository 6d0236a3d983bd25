"""`tmbuild eval`: held-out images through the built page in headless Chromium, then the numbers.

Each image goes the way a visitor's upload goes (tmbuild.evaluate.classify), so the figures are
the production figures, not a re-implementation's.
"""

from __future__ import annotations

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
from tmbuild.evaluate.agreement import with_bars
from tmbuild.evaluate.classify import Outcome, classify_images
from tmbuild.evaluate.clips import background_aliases, classify_clips
from tmbuild.evaluate.headless import SitePage, chromium, open_site
from tmbuild.evaluate.labelled import list_labelled, match_folders
from tmbuild.evaluate.leakage import Fingerprint, duplicates, file_sha256
from tmbuild.evaluate.lints import dataset_lints
from tmbuild.evaluate.metrics import Prediction
from tmbuild.evaluate.perturb import ORIGINAL, Perturbation, by_name, robustness_summary
from tmbuild.evaluate.pose_perturb import POSE_PERTURBATIONS, no_pose_counts
from tmbuild.evaluate.record import images_hash
from tmbuild.evaluate.report import thumbnailed
from tmbuild.evaluate.sound_perturb import SOUND_PERTURBATIONS
from tmbuild.evaluate.verdict import verdict


@dataclass
class EvalOptions:
    images: Path  # one folder per label
    site: Path | None = None  # a built site to use instead of building one
    target_error: float = EvalConfig().target_error
    compare_quantized: str | None = None  # float16 or uint8
    robustness: bool = False
    chromium: str | None = None  # path of the browser; None: TMBUILD_CHROMIUM or the PATH's
    training: Path | None = None  # the training images, one folder per label, to find leaks
    keep_leaked: bool = False  # count held-out images found among them, rather than leave out


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

    def classify(
        page: SitePage, images: list, perturbation: Perturbation | None = None, hash: bool = False
    ):
        nonlocal clock
        begun = time.perf_counter()
        try:
            if page.kind == "audio":
                return classify_clips(page, images, perturbation, progress=step)
            return classify_images(page, images, perturbation, progress=step, hash=hash)
        finally:
            clock += time.perf_counter() - begun

    with (
        tempfile.TemporaryDirectory(prefix="tmbuild-eval-") as scratch,
        chromium(options.chromium) as browser,
    ):
        site = options.site or _build_site(config, Path(scratch) / "site")
        with open_site(browser, site) as page:
            audio = page.kind == "audio"
            if audio:
                aliases = background_aliases(page.labels, aliases)
            match = match_folders(list(folders.images), page.labels, aliases, aliases_source)
            images = [image for image in folders.all_images() if image.folder in match.labels]
            if not images:
                raise TmbuildError(_nothing_to_evaluate(options.images, folders, match))
            perturbations = []
            if options.robustness:
                perturbations = SOUND_PERTURBATIONS if audio else by_name()
                if page.kind == "pose":
                    perturbations = POSE_PERTURBATIONS
            rounds = bool(options.compare_quantized) + len(perturbations)
            training = list_labelled(options.training).all_images() if options.training else []
            total = len(images) * (1 + rounds) + len(training)
            # Clips are compared by their bytes only: no perceptual hash of sound is worth its
            # false matches yet (docs/evaluating.md), so the browser need not open them.
            outcomes = classify(page, images, hash=bool(training) and not audio)
            leakage = {"checked": options.training is not None}
            if options.training is not None:
                if audio:
                    hashed = [Outcome(clip, None, None, None) for clip in training]
                    step(len(training))
                else:
                    hashed = classify_images(
                        page, training, progress=step, hash=True, classify=False
                    )
                leakage.update(_leaks(outcomes, hashed, options.keep_leaked))
                leaked = {found["image"] for found in leakage["duplicates"]}
                if leaked and not options.keep_leaked:
                    outcomes = [o for o in outcomes if o.image.name not in leaked]
                    if not outcomes:
                        raise TmbuildError(
                            f"{options.training}: every held-out {_unit(audio)[:-1]} is a "
                            "training one: "
                            "nothing is left to measure (--keep-leaked measures them anyway)"
                        )
            predictions, undecodable = _predictions(outcomes, match.labels, page.labels)
            decoded = [o.image for o in outcomes if o.probabilities is not None]
            total = len(images) + len(decoded) * rounds  # undecodable images are not retried
            accuracies = {ORIGINAL.name: metrics.accuracy(predictions)}
            poseless = {ORIGINAL.name: len(no_pose_counts(outcomes)[0])}  # pose pages only
            for perturbation in perturbations:
                answers = classify(page, decoded, perturbation)
                changed, _ = _predictions(answers, match.labels, page.labels)
                accuracies[perturbation.name] = metrics.accuracy(changed)
                poseless[perturbation.name] = len(no_pose_counts(answers)[0])
            model = _manifest_model(site)
            names = set() if audio else set(thumbnailed({"predictions": _shown(predictions)}))
            pictured = [o.image for o in outcomes if o.image.name in names]
            thumbnails = {
                o.image.name: o.thumbnail
                for o in classify_images(page, pictured, thumbnail=True, classify=False)
                if o.thumbnail
            }
        quantized = None
        if options.compare_quantized:
            other = _build_site(config, Path(scratch) / "quantized", options.compare_quantized)
            with open_site(browser, other) as quantized_page:
                candidate, _ = _predictions(
                    classify(quantized_page, decoded),
                    match.labels,
                    page.labels,
                )
            # Measured against float32 (issue 18's bars), whatever the evaluated site holds.
            reference = predictions
            if model.get("quantize") != "none":
                total += len(decoded)
                float32 = _build_site(config, Path(scratch) / "float32", "none")
                with open_site(browser, float32) as float32_page:
                    reference, _ = _predictions(
                        classify(float32_page, decoded), match.labels, page.labels
                    )
            quantized = with_bars(metrics.agreement(reference, candidate), "none")
            quantized.update(
                quantize=options.compare_quantized, model_bytes=_manifest_model(other).get("bytes")
            )
            # Accuracy moves from the evaluated site's, as the report has always said.
            before = metrics.accuracy(predictions)
            if before is not None and quantized["accuracy"] is not None:
                quantized["accuracy_change"] = quantized["accuracy"] - before

    report = _report(page, model, options, folders, match, predictions, undecodable, _unit(audio))
    report["images"]["sha256"] = images_hash(decoded, match.labels)
    if audio:
        _with_clips(report, outcomes)
    if page.kind == "pose":
        _with_poses(report, outcomes)
    report["leakage"] = leakage
    report["thumbnails"] = thumbnails
    if leakage.get("duplicates"):
        found = leakage["duplicates"]
        exact = sum(item["kind"] == "exact" for item in found)
        what = "counted in the figures" if options.keep_leaked else "left out of the figures"
        report["warnings"].insert(
            0,
            f"{len(found)} held-out {_unit(audio)[:-1]}(s) are also training {_unit(audio)} "
            f"({exact} exact, {len(found) - exact} near copies): {what}; see eval.html",
        )
    if quantized is not None:
        report["quantized"] = quantized
    if perturbations:
        report["robustness"] = robustness_summary(accuracies, len(decoded), perturbations)
        if page.kind == "pose":
            for row in report["robustness"]["perturbations"]:
                row["no_pose"] = poseless[row["name"]]
        report["warnings"] += report["robustness"]["warnings"]
    return Evaluation(report, time.perf_counter() - started, done, clock)


def _unit(audio: bool) -> str:
    return "clips" if audio else "images"


def _with_clips(report: dict, outcomes: list) -> None:
    """The clips' own figures: seconds of sound, and when in each clip its answer was heard."""
    heard = {o.image.name: o for o in outcomes if o.probabilities is not None}
    report["images"]["seconds"] = sum(o.duration for o in heard.values())
    for entry in report["predictions"]:
        entry["window"] = list(heard[entry["image"]].window)
        entry["windows"] = len(heard[entry["image"]].windows)


def _with_poses(report: dict, outcomes: list[Outcome]) -> None:
    """A pose page's own figures: each image's pose score, and the images with no pose found.
    The page answers for those too (from PoseNet's features, as Teachable Machine does), so they
    count in the figures, as a visitor's photo of no one gets a label."""
    scores = {o.image.name: o.pose_score for o in outcomes}
    for entry in report["predictions"]:
        entry["pose_score"] = scores.get(entry["image"])
    missing, answered = no_pose_counts(outcomes)
    report["images"]["no_pose"] = missing
    if missing:
        shown = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
        report["warnings"].append(
            f"no pose found in {len(missing)} of {answered} images ({shown}): the page still "
            "answers for them, from PoseNet's features as Teachable Machine does, and they "
            "count in the figures; is there a whole person in each?"
        )


def _shown(predictions: list[Prediction]) -> list[dict]:
    """Predictions as the report lists them, enough to choose its thumbnails."""
    return [
        {"image": p.image, "truth": p.truth, "predicted": p.predicted, "confidence": p.confidence}
        for p in predictions
    ]


def _leaks(outcomes: list[Outcome], training: list[Outcome], keep: bool) -> dict:
    """The leakage check's part of the report: held-out images found among the training ones."""

    def prints(items: list[Outcome]) -> list[Fingerprint]:
        return [Fingerprint(o.image.name, file_sha256(o.image.path), o.phash) for o in items]

    return {
        "training_images": len(training),
        "duplicates": duplicates(prints(outcomes), prints(training)),
        "left_out": not keep,
    }


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


def _report(
    page, model, options, folders, match, predictions, undecodable, unit: str = "images"
) -> dict:
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
        silent = ", or held no sound," if unit == "clips" else ""
        warnings.append(f"{len(undecodable)} file(s) could not be decoded{silent} and were skipped")
    if folders.loose:
        warnings.append(
            f"{len(folders.loose)} file(s) directly in the {unit} folder, in no "
            "label folder, were left out"
        )
    warnings += dataset_lints(counts, unit)
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
            "unit": unit,
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
        "leakage": {"checked": False},  # evaluate() fills it in with --training
    }
    report["verdict"] = verdict(report)
    return report
