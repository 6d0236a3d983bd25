"""Text from an input (a label, a layer name, a file name in a zip) made safe to print.

Anything read from an export, a manifest or a folder may hold newlines that forge an `Error:`
line in a CI log, escape sequences that clear a terminal or retitle it, or a megabyte of text.
Every message that quotes such text passes it through `printable` (or `shown` for a JSON
value); the CLI passes every line it prints through `printable` once more.
"""

from __future__ import annotations

import reprlib


def printable(text: str, limit: int = 120) -> str:
    """Untrusted text fit for a one-line message: control characters escaped, cut short.

    A name from a zip or a manifest could otherwise add lines, clear the terminal or bury the
    message under a megabyte of text.
    """
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit + 1])
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


_BRIEF = reprlib.Repr()
_BRIEF.maxstring = _BRIEF.maxother = 60
_BRIEF.maxlevel = 3  # also keeps a deeply nested JSON value off the call stack


def shown(value: object) -> str:
    """A JSON value from an untrusted file, shown briefly and on one line."""
    return printable(_BRIEF.repr(value))


def listed(texts: list[str], limit: int = 20, width: int = 40) -> str:
    """Labels for one line of a message: the first `limit`, each printable and cut short."""
    shown_texts = ", ".join(printable(text, width) for text in texts[:limit])
    more = f", … {len(texts) - limit} more" if len(texts) > limit else ""
    return shown_texts + more
