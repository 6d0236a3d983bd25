"""eval.json, eval.html and the terminal summary of an evaluation.

The HTML report is one self-contained file: inline CSS and SVG charts whose geometry is worked
out here (the template only lays out plain data), no scripts and no external files, so it opens
offline and can be attached to an issue. Both files are deterministic: floats are rounded to six
places, keys sorted, no timings, dates or absolute paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from tmbuild import __version__
from tmbuild.evaluate.perturb import COLLAPSE_DROP
from tmbuild.sizes import format_size

TEMPLATE = "eval_report.html"
MAX_MISTAKES_SHOWN = 100
MAX_THUMBNAILS = 12  # of the most confident mistakes, and of the least confident right answers
# Thresholds listed in the report's table, besides the current and the recommended one.
TABLE_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
WEIGHT_KINDS = {"none": "float32", "float16": "float16", "uint8": "uint8"}


def rounded(value):
    """The report with every float rounded to six places, so that files compare byte for byte."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(item) for item in value]
    return value


def to_json(report: dict) -> str:
    """eval.json: the report without its thumbnails (they are eval.html's)."""
    shown = {key: value for key, value in report.items() if key != "thumbnails"}
    document = {"tmbuild_version": __version__, **rounded(shown)}
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_reports(report: dict, folder: Path) -> list[Path]:
    """Write eval.json and eval.html into `folder`; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("eval.json", to_json(report)), ("eval.html", render_html(report))):
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def pct_interval(value: float | None, bounds: list[float] | None, digits: int = 1) -> str:
    """A share with its 95% interval: "95.2% (77.3–99.2%)"; the interval in whole points with
    digits=0, for tables."""
    if value is None or bounds is None:
        return pct(value, digits)
    low, high = (f"{bound * 100:.{digits}f}" for bound in bounds)
    return f"{pct(value, digits)} ({low}–{high}%)"


def _bounds(bounds: list[float] | None) -> str:
    return "—" if bounds is None else f"{bounds[0] * 100:.1f}–{bounds[1] * 100:.1f}%"


def num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def render_html(report: dict) -> str:
    report = rounded(report)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(pct=pct, num=num, points=_points, megabytes=_size, bounds=_bounds)
    context = {
        "report": report,
        "tmbuild_version": __version__,
        "threshold_chart": threshold_chart(report),
        "threshold_table": threshold_table(report),
        "confusion_chart": confusion_chart(report["model"]["labels"], report["confusion"]),
        "class_chart": class_chart(report["classes"]),
        "robustness_chart": (
            robustness_chart(report["robustness"]) if "robustness" in report else None
        ),
        "mistakes": mistakes(report)[:MAX_MISTAKES_SHOWN],
        "least_sure": least_sure(report),
        "thumbnails": report.get("thumbnails", {}),
        "weights_kind": WEIGHT_KINDS.get(report["model"]["quantize"], "unknown"),
    }
    return environment.get_template(TEMPLATE).render(context)


def mistakes(report: dict) -> list[dict]:
    """Wrong predictions, the most confident first: the ones a threshold cannot catch."""
    wrong = [p for p in report["predictions"] if p["predicted"] != p["truth"]]
    return sorted(wrong, key=lambda p: (-p["confidence"], p["image"]))


def least_sure(report: dict) -> list[dict]:
    """Right predictions, the least confident first: the next mistakes, likely."""
    right = [p for p in report["predictions"] if p["predicted"] == p["truth"]]
    return sorted(right, key=lambda p: (p["confidence"], p["image"]))[:MAX_THUMBNAILS]


def thumbnailed(report: dict) -> list[str]:
    """The images the report shows as thumbnails."""
    shown = mistakes(report)[:MAX_THUMBNAILS] + least_sure(report)
    return [p["image"] for p in shown]


# ---- charts: plain data for the template's SVG ---------------------------------------------


def _nice_ceiling(value: float) -> float:
    for step in (0.02, 0.05, 0.1, 0.2, 0.25, 0.5):
        if value <= step:
            return step
    return 1.0


def threshold_chart(report: dict) -> dict:
    """Automation (left axis) and error rate (right axis, its own scale) against threshold."""
    width, height, left, right, top, bottom = 640, 300, 52, 60, 18, 40
    plot_width, plot_height = width - left - right, height - top - bottom
    curve = report["threshold_curve"]
    settings = report["threshold"]
    errors = [p["error_rate"] for p in curve if p["error_rate"] is not None]
    error_max = _nice_ceiling(max([*errors, 2 * settings["target_error"], 0.01]))

    def x(threshold: float) -> float:
        return left + threshold * plot_width

    def y(share: float, scale: float = 1.0) -> float:
        return top + (1 - min(share / scale, 1.0)) * plot_height

    automation = " ".join(f"{x(p['threshold']):.1f},{y(p['automation'] or 0):.1f}" for p in curve)
    error_lines, run = [], []
    for point in curve:  # a threshold that accepts nothing has no error rate: the line breaks
        if point["error_rate"] is None:
            if run:
                error_lines.append(" ".join(run))
            run = []
            continue
        run.append(f"{x(point['threshold']):.1f},{y(point['error_rate'], error_max):.1f}")
    if run:
        error_lines.append(" ".join(run))
    # The error rate's 95% interval as a band around its line, broken where the line is.
    bands, highs, lows = [], [], []
    for point in [*curve, {"threshold": None, "error_interval": None}]:
        bounds = point.get("error_interval")
        if bounds is None:
            if highs:
                bands.append(" ".join(highs + lows[::-1]))
            highs, lows = [], []
            continue
        at = f"{x(point['threshold']):.1f}"
        highs.append(f"{at},{y(bounds[1], error_max):.1f}")
        lows.append(f"{at},{y(bounds[0], error_max):.1f}")
    markers = [
        {
            "x": f"{x(settings['current']):.1f}",
            "kind": "current",
            "text": f"current {settings['current']:.2f}",
        }
    ]
    if settings["recommended"] is not None:
        markers.append(
            {
                "x": f"{x(settings['recommended']):.1f}",
                "kind": "recommended",
                "text": f"recommended {settings['recommended']:.2f}",
            }
        )
    return {
        "width": width,
        "height": height,
        "left": left,
        "right_x": width - right,
        "top": top,
        "bottom_y": top + plot_height,
        "automation": automation,
        "error_lines": error_lines,
        "error_bands": bands,
        "target_y": f"{y(settings['target_error'], error_max):.1f}",
        "target_text": f"target {pct(settings['target_error'])}",
        "markers": markers,
        "x_ticks": [{"x": f"{x(t / 10):.1f}", "text": f"{t / 10:.1f}"} for t in range(0, 11, 2)],
        "left_ticks": [{"y": f"{y(s / 4):.1f}", "text": pct(s / 4, 0)} for s in range(5)],
        "right_ticks": [
            {"y": f"{y(error_max * s / 4, error_max):.1f}", "text": pct(error_max * s / 4)}
            for s in range(5)
        ],
    }


def threshold_table(report: dict) -> list[dict]:
    """Operating points worth reading: a few round thresholds, the current and the recommended."""
    settings = report["threshold"]
    wanted = {round(t, 2): "" for t in TABLE_THRESHOLDS}
    wanted[round(settings["current"], 2)] = "current"
    if settings["recommended"] is not None:
        wanted[round(settings["recommended"], 2)] = "recommended"
    by_threshold = {round(p["threshold"], 2): p for p in report["threshold_curve"]}
    rows = []
    for threshold in sorted(wanted):
        point = by_threshold.get(threshold)
        if point is None:  # a current threshold between two steps of the curve
            point = settings["at_current"]
        rows.append({**point, "note": wanted[threshold]})
    return rows


def _short(label: str, limit: int = 18) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def confusion_chart(labels: list[str], matrix: list[list[int]]) -> dict:
    """A heat map: rows are the true labels, columns the predicted ones, shaded by row share."""
    count = len(labels)
    cell = max(18, min(56, 520 // max(count, 1)))
    left, top = 150, 120
    cells = []
    for row, counts in enumerate(matrix):
        total = sum(counts)
        for column, value in enumerate(counts):
            share = value / total if total else 0.0
            # Green on the diagonal (right), red off it (wrong); stronger for a larger share.
            hue = 140 if row == column else 0
            lightness = 97 - round(share * 55)
            cells.append(
                {
                    "x": left + column * cell,
                    "y": top + row * cell,
                    "fill": f"hsl({hue}, 60%, {lightness}%)" if value else "#fafafa",
                    "text": str(value),
                    "dark": share > 0.55,
                    "title": f"{labels[row]} → {labels[column]}: {value} of {total}",
                }
            )
    return {
        "width": left + count * cell + 20,
        "height": top + count * cell + 20,
        "cell": cell,
        "left": left,
        "top": top,
        "rows": [
            {"y": top + i * cell + cell / 2, "text": _short(label), "title": label}
            for i, label in enumerate(labels)
        ],
        "columns": [
            {"x": left + i * cell + cell / 2, "text": _short(label), "title": label}
            for i, label in enumerate(labels)
        ],
        "cells": cells,
    }


def class_chart(classes: list[dict]) -> dict:
    """Precision, recall and F1 of each label as grouped horizontal bars."""
    left, bar_width, bar, gap = 160, 380, 9, 12
    group = 3 * bar + gap
    rows = []
    for index, entry in enumerate(classes):
        top = 10 + index * group
        bars = []
        for offset, metric in enumerate(("precision", "recall", "f1")):
            value = entry[metric]
            bars.append(
                {
                    "metric": metric,
                    "y": top + offset * bar,
                    "width": f"{(value or 0) * bar_width:.1f}",
                    "text": pct(value),
                    "text_x": f"{left + (value or 0) * bar_width + 4:.1f}",
                }
            )
        rows.append(
            {
                "label": _short(entry["label"], 22),
                "title": entry["label"],
                "y": top + 1.5 * bar,
                "bars": bars,
            }
        )
    return {
        "width": left + bar_width + 70,
        "height": 20 + len(classes) * group,
        "left": left,
        "bar": bar,
        "rows": rows,
    }


def robustness_chart(robustness: dict) -> dict:
    """Accuracy under each perturbation as a bar, with the original accuracy as a line."""
    left, bar_width, bar, gap = 190, 360, 16, 6
    rows = []
    for index, entry in enumerate(robustness["perturbations"]):
        drop = entry["drop"] or 0.0
        tone = "collapse" if drop >= COLLAPSE_DROP else "drop" if drop >= 0.05 else "steady"
        value = entry["accuracy"] or 0.0
        rows.append(
            {
                "title": entry["title"],
                "y": 10 + index * (bar + gap),
                "width": f"{value * bar_width:.1f}",
                "text": pct(entry["accuracy"]),
                "text_x": f"{left + value * bar_width + 4:.1f}",
                "tone": "original" if entry["name"] == "original" else tone,
            }
        )
    baseline = robustness["baseline"] or 0.0
    return {
        "width": left + bar_width + 70,
        "height": 20 + len(rows) * (bar + gap),
        "left": left,
        "bar": bar,
        "baseline_x": f"{left + baseline * bar_width:.1f}",
        "rows": rows,
    }


def _points(drop: float | None) -> str:
    """A change in accuracy from the original, in percentage points, read the right way round:
    0.052 -> "drop 5.2 points", -0.04 -> "gain 4.0 points"."""
    if drop is None:
        return "—"
    points = drop * 100
    if abs(points) < 0.05:
        return "no change"
    return f"{'drop' if points > 0 else 'gain'} {abs(points):.1f} points"


def _size(size: int | None) -> str:
    return "?" if size is None else format_size(size)
