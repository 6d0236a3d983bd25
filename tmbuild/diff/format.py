"""How `tmbuild diff` shows a comparison: text for a terminal, Markdown for a pull request, JSON.

tmbuild.diff.compare reads and compares the manifests; this module only formats its DiffResult.
"""

from __future__ import annotations

import json
import re

from tmbuild.diff import accuracy as accuracy_of
from tmbuild.diff.compare import (
    KINDS,
    MODEL_FIELDS,
    SIZES,
    TOTAL_TITLES,
    TOTALS,
    DiffResult,
    FieldChange,
    FileChange,
)
from tmbuild.hashes import HASH_LENGTH
from tmbuild.sizes import format_delta, format_size
from tmbuild.untrusted import printable


def format_total_delta(old: int, new: int, field: str) -> str:
    delta = new - old
    shown = (f"{delta:+d}" if delta else "0") if field == "files" else format_delta(delta)
    if old and abs(delta / old) >= 0.0005:  # "+0.0%" would only be noise
        shown += f" ({delta / old * 100:+.1f}%)"
    return shown


def _total(value: int, field: str) -> str:
    return str(value) if field == "files" else format_size(value)


def _value(field: str, value: object) -> str:
    """A model or site value as a reader wants to see it."""
    if value is None:
        return "(none)"
    if field == "labels" and isinstance(value, list):
        return ", ".join(_printable(str(label)) for label in value)
    if field == "image_size":
        return f"{value}×{value}"
    if field == "weights_sha256" and isinstance(value, str):
        return value[:HASH_LENGTH]
    if field == "bytes" and isinstance(value, int):
        return format_size(value)
    if field == "quantize_choice" and isinstance(value, dict):
        return _printable(quantize_choice_text(value))
    return _printable(str(value).lower() if isinstance(value, bool) else str(value))


def quantize_choice_text(choice: dict) -> str:
    """auto's choice in a few words: what it chose, on how many images, and the figures."""
    chosen = str(choice.get("chosen"))
    if not choice.get("measured"):
        return f"{chosen}, nothing measured"
    try:
        figures = [
            f"{c.get('quantize')} {c.get('top1_agreement', 0) * 100:.1f}% top-1, "
            f"±{c.get('max_probability_change', 0):.3f}"
            for c in choice.get("candidates") or []
            if isinstance(c, dict)
        ]
    except (TypeError, ValueError):  # a manifest tmbuild did not write
        return json.dumps(choice, sort_keys=True)
    return f"{chosen} on {choice.get('images')} images ({'; '.join(figures)})"


def _printable(text: str) -> str:
    # Labels are the user's text: a newline in one must not break the report's layout.
    return printable(text, 200)


def _field_note(change: FieldChange) -> str:
    """What a reader wants to know beyond old → new: which labels, how many bytes."""
    if change.name == "labels" and isinstance(change.old, list) and isinstance(change.new, list):
        added = [label for label in change.new if label not in change.old]
        removed = [label for label in change.old if label not in change.new]
        notes = [f"added {_value('labels', added)}"] if added else []
        notes += [f"removed {_value('labels', removed)}"] if removed else []
        return "; ".join(notes) or "order changed"
    if change.name == "bytes" and isinstance(change.old, int) and isinstance(change.new, int):
        return format_delta(change.new - change.old)
    return ""


def _file_sizes(change: FileChange) -> list[str]:
    if change.kind == "moved":
        return ["same content, new path"]
    return [format_delta(change.delta(size)) for size in SIZES]


def summary(result: DiffResult) -> str:
    counts = ", ".join(f"{result.count(kind)} {kind}" for kind in KINDS)
    old, new = result.old_totals["first_visit"], result.new_totals["first_visit"]
    first_visit = f"{format_size(old)} → {format_size(new)} ({format_delta(new - old)})"
    return f"{counts}; first visit {first_visit}"


def format_text(result: DiffResult) -> str:
    """A report for a terminal or a CI log."""
    if result.identical:
        return _no_differences(result) + "\n" + "".join(_accuracy_text(result))
    lines = [summary(result), *_accuracy_text(result)]
    fields = _fields(result)
    if fields:
        lines += ["", "Model and site"]
        width = max(len(title) for title, _ in fields)
        for title, change in fields:
            note = _field_note(change)
            line = f"  {title:<{width}}  {_value(change.name, change.old)} → "
            lines.append(line + _value(change.name, change.new) + (f" ({note})" if note else ""))
    if result.files:
        rows = [["  " + c.kind, _printable(c.name), *_file_sizes(c)] for c in result.files]
        lines += ["", *_columns([["Files", "", *SIZES], *rows], left=2)]
    rows = [["  " + TOTAL_TITLES.get(f, f), *_total_cells(result, f)] for f in TOTALS]
    lines += ["", *_columns([["Totals", "old", "new", "change"], *rows], left=1)]
    return "\n".join(lines) + "\n"


def _accuracy_text(result: DiffResult) -> list[str]:
    if result.accuracy is None:
        return []
    old, new, note = accuracy_of.describe(result.accuracy)
    return [f"Accuracy: {old} → {new}; {note}" + ("\n" if result.identical else "")]


def _no_differences(result: DiffResult) -> str:
    totals = result.new_totals
    return (
        f"No differences: {totals['files']} files, first visit "
        f"{format_size(totals['first_visit'])}."
    )


def _fields(result: DiffResult) -> list[tuple[str, FieldChange]]:
    return [(MODEL_FIELDS[c.name], c) for c in result.model] + [(c.name, c) for c in result.site]


def _total_cells(result: DiffResult, field: str) -> list[str]:
    old, new = result.old_totals[field], result.new_totals[field]
    return [_total(old, field), _total(new, field), format_total_delta(old, new, field)]


def _columns(rows: list[list[str]], left: int) -> list[str]:
    """Align a table: `left` columns of names, then numbers; a shorter row ends with a note."""
    count = len(rows[0])
    widths = [
        max(len(row[i]) for row in rows if i < len(row) - 1 or len(row) == count)
        for i in range(count)
    ]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(widths[i]) if i < left or len(row) < count else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def format_markdown(result: DiffResult) -> str:
    """A report for a pull-request comment."""
    lines = ["### tmbuild diff", ""]
    if result.accuracy is not None:
        old, new, note = accuracy_of.describe(result.accuracy)
        drop = "**" if result.accuracy.significant_drop else ""
        lines += [
            "| accuracy | old | new | change |",
            "|---|--:|--:|---|",
            _md_row(["top-1 on the held-out images", old, new, f"{drop}{note}{drop}"]),
            "",
        ]
    if result.identical:
        return "\n".join([*lines, _no_differences(result)]) + "\n"
    lines += [summary(result), ""]
    fields = _fields(result)
    if fields:
        lines += ["| model and site | old | new | note |", "|---|---|---|---|"]
        for title, change in fields:
            cells = [_value(change.name, change.old), _value(change.name, change.new)]
            lines.append(_md_row([title, *map(_md, cells), _md(_field_note(change))]))
        lines.append("")
    if result.files:
        lines += ["| file | change | raw | gzip | br |", "|---|---|--:|--:|--:|"]
        for change in result.files:
            if change.kind == "moved":
                cells = ["moved (same content, new path)", "0 B", "0 B", "0 B"]
            else:
                cells = [change.kind, *_file_sizes(change)]
            lines.append(_md_row([_md_code(_printable(change.name)), *cells]))
        lines.append("")
    lines += ["| total | old | new | change |", "|---|--:|--:|--:|"]
    for field in TOTALS:
        lines.append(_md_row([TOTAL_TITLES.get(field, field), *_total_cells(result, field)]))
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    # Labels and paths are the user's text: they must not turn into links, HTML or table cells.
    return re.sub(r"([\\`*_\[\]<>|~&])", r"\\\1", text)


def _md_code(text: str) -> str:
    return f"`{text}`" if "`" not in text and "|" not in text else _md(text)


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def as_json(result: DiffResult) -> dict:
    """The comparison as plain data; `accuracy` only where a build has an eval record."""
    files = []
    for change in result.files:
        entry = {"change": change.kind, "name": change.name}
        for side, file in (("old", change.old), ("new", change.new)):
            entry[f"{side}_path"] = file.path if file else None
        for size in SIZES:
            sizes = [getattr(file, size) if file else None for file in (change.old, change.new)]
            entry[size] = _old_new(*sizes)
        files.append(entry)
    document = {
        "identical": result.identical,
        "summary": {kind: result.count(kind) for kind in KINDS},
        "files": files,
        "model": {c.name: {"old": c.old, "new": c.new} for c in result.model},
        "site": {c.name: {"old": c.old, "new": c.new} for c in result.site},
        "totals": {f: _old_new(result.old_totals[f], result.new_totals[f]) for f in TOTALS},
    }
    if result.accuracy is not None:
        document["accuracy"] = accuracy_of.as_json(result.accuracy)
    return document


def _old_new(old: int | None, new: int | None) -> dict:
    return {"old": old, "new": new, "delta": (new or 0) - (old or 0)}


def format_json(result: DiffResult) -> str:
    """The whole comparison as sorted JSON, for scripts."""
    return json.dumps(as_json(result), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


FORMATTERS = {"text": format_text, "markdown": format_markdown, "json": format_json}
