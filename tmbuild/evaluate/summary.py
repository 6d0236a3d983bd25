"""What `tmbuild eval` prints: the verdict, the headline figures with their intervals, the table
of labels and the threshold advice, read from the same report as eval.json."""

from __future__ import annotations

from tmbuild.evaluate.metrics import threshold_floor
from tmbuild.evaluate.report import num, pct, pct_interval
from tmbuild.sizes import format_size
from tmbuild.untrusted import printable


def summary(report: dict) -> str:
    """What `tmbuild eval` prints: the verdict, the headline figures with their 95% intervals,
    the per-class table, threshold advice."""
    images = report["images"]
    unit = images.get("unit", "images")  # clips, for an audio model
    counted = f"{images['classified']} {unit}"
    if "seconds" in images:
        counted += f", {images['seconds']:.1f} s"
    lines = [
        report["verdict"]["text"],
        f"Accuracy: {pct_interval(report['accuracy'], report['accuracy_interval'])} on "
        f"{counted} (balanced {pct(report['balanced_accuracy'])}, "
        f"macro F1 {num(report['macro_f1'])}); 95% intervals in brackets",
        _leakage_line(report, unit),
    ]
    # Labels are the export's text: escaped and cut, so the table stays one line a class.
    labels = [printable(c["label"], 40) for c in report["classes"]]
    width = max([len(label) for label in labels] + [5])
    cells = [
        (
            pct_interval(c["precision"], c["precision_interval"], 0),
            pct_interval(c["recall"], c["recall_interval"], 0),
        )
        for c in report["classes"]
    ]
    precision_width = max([len(p) for p, _ in cells] + [9])
    recall_width = max([len(r) for _, r in cells] + [6])
    lines.append(
        f"  {'label':<{width}}  {'precision':>{precision_width}}  {'recall':>{recall_width}}"
        f"     F1  {unit:>6}"
    )
    for label, entry, (precision, recall) in zip(labels, report["classes"], cells, strict=True):
        lines.append(
            f"  {label:<{width}}  {precision:>{precision_width}}  {recall:>{recall_width}}  "
            f"{pct(entry['f1']):>5}  {entry['support']:>6}"
        )
    settings = report["threshold"]
    current = settings["at_current"]
    lines.append(f"Threshold {settings['current']:.2f} (now): {_operating(current)}")
    best = settings["at_recommended"]
    if best is None:
        lines.append(
            f"No threshold keeps errors at or under {pct(settings['target_error'])}: "
            "add training images, or accept a higher --target-error"
        )
    else:
        lines.append(
            f"Recommended threshold {best['threshold']:.2f} for at most "
            f"{pct(settings['target_error'])} errors: {_operating(best)}"
        )
        if best["threshold"] == threshold_floor(len(report["model"]["labels"])):
            lines += [
                f"  (the lowest that means anything: on these {unit} the top label is good enough",
                "  without one; a catch-all class is what guards against "
                + ("sounds of nothing)" if unit == "clips" else "photos of nothing)"),
            ]
    if "quantized" in report:
        quantized = report["quantized"]
        lines.append(
            f"{quantized['quantize']} weights ({_size(report['model']['bytes'])} → "
            f"{_size(quantized['model_bytes'])}): top-1 agreement "
            f"{pct(quantized['top1_agreement'])}, accuracy {pct(report['accuracy'])} → "
            f"{pct(quantized['accuracy'])} ({_signed(quantized['accuracy_change'])})"
        )
        if "keeps_answers" in quantized:
            bars = quantized["bars"]
            lines.append(
                f"  against float32: largest probability change "
                f"{quantized['max_probability_change']:.3f}; "
                + ("keeps its answers" if quantized["keeps_answers"] else "changes its answers")
                + f" (bars: top-1 agreement ≥ {pct(bars['top1_agreement'])}, no probability "
                f"moving by more than {bars['max_probability_change']})"
            )
    if "robustness" in report:
        robustness = report["robustness"]
        worst = robustness["worst"]
        if worst is not None:
            row = next(r for r in robustness["perturbations"] if r["name"] == worst["name"])
            lines.append(
                f"Robustness: worst under {row['title']}, {pct(robustness['baseline'])} → "
                f"{pct(row['accuracy'])} ({_signed(-worst['drop'])}); every change in eval.html"
            )
    return "\n".join(lines)


def _leakage_line(report: dict, unit: str = "images") -> str:
    leakage = report["leakage"]
    if not leakage["checked"]:
        return (
            f"These figures assume none of the {unit} was used for training (--training DIR checks)"
        )
    found = leakage["duplicates"]
    training = f"{leakage['training_images']} training {unit}"
    if not found:
        return f"None of the {unit} is among the {training}"
    what = "left out of these figures" if leakage["left_out"] else "counted in these figures"
    return f"{len(found)} {unit[:-1]}(s) are among the {training}, {what}"


def _operating(point: dict) -> str:
    automation = pct_interval(point["automation"], point["automation_interval"])
    error = pct_interval(point["error_rate"], point["error_interval"])
    return f"{automation} automated, {error} of those wrong"


def _size(size: int | None) -> str:
    return "?" if size is None else format_size(size)


def _signed(change: float | None) -> str:
    if change is None:
        return "—"
    points = change * 100
    return f"{points:+.1f} points" if abs(points) >= 0.05 else "no change"
