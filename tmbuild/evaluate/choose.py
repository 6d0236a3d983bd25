"""Quantised weights measured against float32 through the real page, and `quantize: auto`.

A format keeps a model's answers when, on labelled images run through the built page, its top
label is float32's on at least 99.5% of them and no probability moves by more than 0.05 (issue
18). `tmbuild eval --compare-quantized` reports that; `quantize: auto` builds the smallest format
that passes, measured the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from pathlib import Path

from tmbuild.config.load import SiteConfig
from tmbuild.errors import TmbuildError
from tmbuild.evaluate import metrics
from tmbuild.evaluate.agreement import keeps_answers
from tmbuild.evaluate.classify import classify_images
from tmbuild.evaluate.headless import chromium, open_site
from tmbuild.evaluate.labelled import list_labelled, match_folders
from tmbuild.evaluate.metrics import Prediction

# Smallest first; uint8 (one scale per tensor) is never chosen: it breaks models.
AUTO_CANDIDATES = ("int8", "float16")

log = logging.getLogger("tmbuild")


def choose_quantize(
    config: SiteConfig, images: Path | None, browser_path: str | None = None
) -> tuple[SiteConfig, dict | None]:
    """`quantize: auto` made a format: the smallest candidate that keeps float32's answers on
    `images` (one folder per label), else float32 (`none`).

    Returns the config with that format and the choice as the manifest records it; without
    images, the config as it is and None (the build then makes float16 and says so).
    """
    if images is None:
        return config, None  # tmbuild.model.prepare builds float16 and says so in one line
    from tmbuild.evaluate.clips import background_aliases, classify_clips
    from tmbuild.evaluate.run import _aliases_source, _build_site, _predictions

    folders = list_labelled(images)
    tried: list[dict] = []
    chosen = "none"
    with (
        tempfile.TemporaryDirectory(prefix="tmbuild-auto-") as scratch,
        chromium(browser_path) as browser,
    ):
        reference_site = _build_site(config, Path(scratch) / "none", "none")
        with open_site(browser, reference_site) as page:
            # An audio model measures on labelled clips, through its listening page.
            audio = page.kind == "audio"
            classify = classify_clips if audio else classify_images
            aliases = dict(config.eval.aliases)
            if audio:
                aliases = background_aliases(page.labels, aliases)
            source = _aliases_source(config)
            match = match_folders(list(folders.images), page.labels, aliases, source)
            pictures = [i for i in folders.all_images() if i.folder in match.labels]
            if not pictures:
                raise TmbuildError(
                    f"{images}: no folder is named after a label of the model; "
                    "name each folder after its label (model.quantize: auto measures on them)"
                )
            outcomes = classify(page, pictures)
            reference, _ = _predictions(outcomes, match.labels, page.labels)
            decoded = [o.image for o in outcomes if o.probabilities is not None]
            labels = page.labels
        for candidate in AUTO_CANDIDATES:
            site = _build_site(config, Path(scratch) / candidate, candidate)
            with open_site(browser, site) as page:
                predictions, _ = _predictions(classify(page, decoded), match.labels, labels)
            figures = _figures(candidate, reference, predictions)
            tried.append(figures)
            log.info(_line(figures))
            if figures["keeps_answers"]:
                chosen = candidate
                break
    choice = {"requested": "auto", "chosen": chosen, "measured": True, "candidates": tried}
    choice["images"] = len(reference)
    log.warning(
        "model.quantize: auto chose %s on %d labelled %s (%s)",
        chosen,
        len(reference),
        "clips" if audio else "images",
        "; ".join(_line(figures) for figures in tried),
    )
    return _with_quantize(config, chosen), choice


def _figures(quantize: str, reference: list[Prediction], candidate: list[Prediction]) -> dict:
    agreement = metrics.agreement(reference, candidate)
    return {
        "quantize": quantize,
        "top1_agreement": agreement["top1_agreement"],
        "max_probability_change": round(agreement["max_probability_change"], 6),
        "keeps_answers": keeps_answers(agreement),
    }


def _line(figures: dict) -> str:
    verdict = "keeps the answers" if figures["keeps_answers"] else "does not"
    return (
        f"{figures['quantize']}: top-1 agreement {figures['top1_agreement']:.1%}, largest "
        f"probability change {figures['max_probability_change']:.3f}, {verdict}"
    )


def _with_quantize(config: SiteConfig, quantize: str) -> SiteConfig:
    return dataclasses.replace(config, model=dataclasses.replace(config.model, quantize=quantize))
