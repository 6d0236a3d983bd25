"""Advice on a model and its held-out images, from Teachable Machine practice; each says why.

These are warnings, never errors: a model with a `Class 1` label still builds and works, but a
visitor reads "Class 1" on the page, and a model without a catch-all class must pick a label for
a photo of nothing at all.
"""

from __future__ import annotations

import re

from tmbuild.evaluate.labelled import slug_of

MAX_CLASSES = 15  # Teachable Machine's own guidance: beyond this, classes blur into each other
MIN_HELD_OUT = 20  # fewer images and one image moves a class's recall by more than 5 points
IMBALANCE_RATIO = 3  # the largest class with this many times the smallest's images

DEFAULT_LABEL = re.compile(r"Class \d+")
# Words people use for "none of the above", in the languages of real exports; matched as whole
# words of the label, so `fundo_imagens` counts and `backpack` does not.
CATCH_ALL_WORDS = {
    "other", "others", "background", "backgrounds", "none", "nothing", "neutral", "empty",
    "unknown", "misc", "idle", "noise", "negative", "rest",
    "outro", "outros", "outra", "outras", "fundo", "nada", "nenhum", "nenhuma",
    "nda",  # "nenhuma das anteriores", Portuguese for "none of the above", in a real export
    "otro", "otros", "fondo", "ninguno",
    "autre", "autres", "fond", "rien",
    "andere", "anderes", "hintergrund", "nichts", "sonstiges",
    "altro", "altri", "sfondo", "niente",
    "배경", "없음", "기타", "背景", "その他", "なし", "其他", "无",
}  # fmt: skip


def model_lints(labels: list[str], kind: str = "image") -> list[str]:
    """What in a model's labels goes against Teachable Machine practice, and why it matters."""
    warnings = []
    if len(labels) > MAX_CLASSES:
        warnings.append(
            f"{len(labels)} classes: beyond {MAX_CLASSES}, Teachable Machine's small model "
            "confuses similar classes; merge rare ones or split the task into two models"
        )
    defaults = [label for label in labels if DEFAULT_LABEL.fullmatch(label.strip())]
    if len(defaults) == 1:
        warnings.append(
            f"{_names(defaults)} is Teachable Machine's default name: visitors see it on the "
            "page; name the class in Teachable Machine and export again"
        )
    elif defaults:
        warnings.append(
            f"{_names(defaults)} are Teachable Machine's default names: visitors see them on "
            "the page; name the classes in Teachable Machine and export again"
        )
    if not any(_is_catch_all(label) for label in labels):
        if kind == "pose":  # PoseNet finds a pose in any person: the classifier must pick one
            warnings.append(
                "no catch-all class (such as 'other'): a pose that is none of the "
                f"{len(labels)} still gets one of their labels; add a class of other poses "
                "(standing still, walking past, half out of the picture)"
            )
        else:
            warnings.append(
                "no catch-all class (such as 'other' or 'background'): a photo of none of the "
                f"{len(labels)} things still gets one of their labels; add a class of "
                "everything else the camera may see"
            )
    seen: dict[str, str] = {}
    for label in labels:
        slug = slug_of(label)
        if slug in seen:
            warnings.append(
                f"labels {seen[slug]!r} and {label!r} differ only in case, spaces or "
                "punctuation: visitors cannot tell them apart; merge the two classes"
            )
        else:
            seen[slug] = label
    return warnings


def _is_catch_all(label: str) -> bool:
    words = [word for word in re.split(r"[\W_]+", label.casefold()) if word]
    return any(word in CATCH_ALL_WORDS for word in words) or label.casefold() in CATCH_ALL_WORDS


def _names(labels: list[str]) -> str:
    shown = ", ".join(repr(label) for label in labels[:5])
    return shown + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")


def dataset_lints(counts: dict[str, int], unit: str = "images") -> list[str]:
    """Why some figures of an evaluation are rough: classes with few images (or clips, with
    `unit`), or imbalance."""
    warnings = []
    empty = [label for label, count in counts.items() if count == 0]
    if empty:
        warnings.append(
            f"no held-out {unit} for {_names(empty)}: "
            f"{'its' if len(empty) == 1 else 'their'} recall cannot be measured"
        )
    few = {label: count for label, count in counts.items() if 0 < count < MIN_HELD_OUT}
    if few:
        listed = ", ".join(f"{label!r} ({count})" for label, count in list(few.items())[:5])
        more = f" and {len(few) - 5} more" if len(few) > 5 else ""
        warnings.append(
            f"fewer than {MIN_HELD_OUT} held-out {unit} for {listed}{more}: one {unit[:-1]} moves "
            f"a recall by up to {100 / min(few.values()):.0f} points, so these figures are rough"
        )
    present = {label: count for label, count in counts.items() if count}
    if len(present) >= 2:
        largest = max(present, key=present.__getitem__)
        smallest = min(present, key=present.__getitem__)
        ratio = present[largest] / present[smallest]
        if ratio >= IMBALANCE_RATIO:
            warnings.append(
                f"imbalanced: {largest!r} has {present[largest]} {unit}, {smallest!r} "
                f"{present[smallest]} ({ratio:.1f}×); accuracy mostly reflects the large "
                "classes, so read each class's recall"
            )
    return warnings
