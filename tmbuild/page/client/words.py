"""The words of the page: messages.json, one table of every word a visitor reads, by language."""

from __future__ import annotations

import json
from functools import cache

from tmbuild.page.client.bundle import CLIENT_DIR

DEFAULT_LANGUAGE = "en"
RIGHT_TO_LEFT = {"ar", "fa", "he", "ur", "yi"}


@cache
def message_table() -> dict[str, dict[str, str]]:
    """Every built-in language's messages, by language and key (en has every key)."""
    return json.loads((CLIENT_DIR / "messages.json").read_text(encoding="utf-8"))


def languages() -> list[str]:
    return sorted(message_table())


def messages(lang: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The words of a page in `lang`: English, then the language's own, then the overrides.

    A regional tag falls back on its language (`pt-BR` reads `pt`), and any key a table lacks
    on English, so a page never shows a key's name.
    """
    table = message_table()
    words = dict(table[DEFAULT_LANGUAGE])
    base = lang.split("-")[0].lower()
    words.update(table.get(base, {}))
    words.update(table.get(lang, {}))
    words.update(overrides or {})
    return words


def text_direction(lang: str) -> str:
    return "rtl" if lang.split("-")[0].lower() in RIGHT_TO_LEFT else "ltr"


# Labels in a title: a few, briefly, or the message without them.
TITLE_LABELS = range(2, 5)
BACKGROUND_NOISE = "_background_noise_"  # tmbuild.export.audio's; the page is no lower stage
TITLE_LENGTH = 60
LIST_SEPARATORS = {"ja": "、", "zh": "、"}


def default_title(labels: list[str], lang: str, texts: dict[str, str], kind: str = "image") -> str:
    """The page's title when site.yaml sets none: what it tells apart, in the page's words.

    "cat, dog, rabbit: an image classifier" says what the page is for, in the tab and in search
    results; a model of many or long labels gets "An image classifier". An audio model's
    background noise is no word it listens for, so it is left out of its title.
    """
    suffix = f"_{kind}" if kind in ("audio", "pose") else ""
    counts = TITLE_LABELS
    if kind == "audio":  # one word and the background is a classifier of one word
        labels = [label for label in labels if label != BACKGROUND_NOISE]
        counts = range(1, TITLE_LABELS.stop)
    separator = LIST_SEPARATORS.get(lang.split("-")[0].lower(), ", ")
    shown = separator.join(label.strip() for label in labels)
    one = texts.get("default_title" + suffix, "")
    if len(labels) in counts and len(shown) <= TITLE_LENGTH and "{labels}" in one:
        return one.replace("{labels}", shown)
    return texts["default_title_many" + suffix]
