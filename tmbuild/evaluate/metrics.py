"""How good a model is, from its predictions on labelled images: plain Python, exact counts.

A prediction is accepted as the page accepts it: the top probability at or above the threshold
and at least `min_gap` above the second (classifier.threshold and classifier.min_gap), so that
every figure here is what visitors of the site would see. Ties go to the earlier label, as in the
page, whose stable sort keeps label order among equal probabilities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tmbuild.evaluate.intervals import interval

THRESHOLD_STEPS = 100  # the curve's thresholds: 0.00, 0.01, ..., 1.00
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Prediction:
    image: str  # as reports name it, e.g. "cat/IMG_0001.jpg"
    truth: int  # index of the true label
    probabilities: tuple[float, ...]  # in label order

    @property
    def predicted(self) -> int:
        probabilities = self.probabilities
        return max(range(len(probabilities)), key=probabilities.__getitem__)

    @property
    def confidence(self) -> float:
        return max(self.probabilities)

    @property
    def gap(self) -> float:
        """Top minus second probability, as the page computes it."""
        ordered = sorted(self.probabilities, reverse=True)
        return ordered[0] - (ordered[1] if len(ordered) > 1 else 0.0)

    @property
    def correct(self) -> bool:
        return self.predicted == self.truth


def accepted(prediction: Prediction, threshold: float, min_gap: float) -> bool:
    """Whether the page would call this prediction confident."""
    return prediction.confidence >= threshold and prediction.gap >= min_gap


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def accuracy(predictions: list[Prediction]) -> float | None:
    return _ratio(sum(p.correct for p in predictions), len(predictions))


def confusion_matrix(predictions: list[Prediction], label_count: int) -> list[list[int]]:
    """Counts by true label (rows) and predicted label (columns)."""
    matrix = [[0] * label_count for _ in range(label_count)]
    for prediction in predictions:
        matrix[prediction.truth][prediction.predicted] += 1
    return matrix


def per_class(predictions: list[Prediction], labels: list[str]) -> list[dict]:
    """Precision, recall and F1 of each label; None where a figure has nothing to count."""
    matrix = confusion_matrix(predictions, len(labels))
    classes = []
    for index, label in enumerate(labels):
        hits = matrix[index][index]
        support = sum(matrix[index])
        predicted = sum(row[index] for row in matrix)
        precision, recall = _ratio(hits, predicted), _ratio(hits, support)
        if precision is None or recall is None:
            f1 = None
        else:
            f1 = _ratio(2 * precision * recall, precision + recall) or 0.0
        classes.append(
            {
                "label": label,
                "support": support,
                "predicted": predicted,
                "correct": hits,
                "precision": precision,
                "precision_interval": interval(hits, predicted),
                "recall": recall,
                "recall_interval": interval(hits, support),
                "f1": f1,
            }
        )
    return classes


def averages(classes: list[dict]) -> dict:
    """Macro averages over the labels that have images (a label with none has no recall)."""
    present = [c for c in classes if c["support"]]
    if not present:
        return {"balanced_accuracy": None, "macro_f1": None}
    return {
        "balanced_accuracy": sum(c["recall"] for c in present) / len(present),
        # A label never predicted has no precision; it counts as 0, as its F1 does.
        "macro_f1": sum(c["f1"] or 0.0 for c in present) / len(present),
    }


def operating_point(predictions: list[Prediction], threshold: float, min_gap: float) -> dict:
    """What a threshold does: how many predictions it accepts and how many of those are wrong."""
    taken = [p for p in predictions if accepted(p, threshold, min_gap)]
    errors = sum(not p.correct for p in taken)
    return {
        "threshold": threshold,
        "accepted": len(taken),
        "errors": errors,
        "automation": _ratio(len(taken), len(predictions)),
        "automation_interval": interval(len(taken), len(predictions)),
        "error_rate": _ratio(errors, len(taken)),
        "error_interval": interval(errors, len(taken)),
    }


def threshold_curve(predictions: list[Prediction], min_gap: float) -> list[dict]:
    """The operating point at every threshold from 0.00 to 1.00 in steps of 0.01."""
    # i / 100 is the same double as the literal a user writes (0.07), so the page agrees.
    return [
        operating_point(predictions, step / THRESHOLD_STEPS, min_gap)
        for step in range(THRESHOLD_STEPS + 1)
    ]


def accuracy_interval(predictions: list[Prediction]) -> list[float] | None:
    return interval(sum(p.correct for p in predictions), len(predictions))


def threshold_floor(label_count: int) -> float:
    """The lowest threshold worth setting: 1/N rounded up to the curve's step. With N labels
    the top probability is at least 1/N, so any threshold below it only looks stricter."""
    return math.ceil(THRESHOLD_STEPS / max(label_count, 1) - 1e-9) / THRESHOLD_STEPS


def recommend_threshold(curve: list[dict], target_error: float, label_count: int) -> dict | None:
    """The lowest threshold whose accepted predictions are wrong at most `target_error` of the
    time: the one that automates most within the target. None if no threshold reaches it.

    Thresholds below 1/N (`threshold_floor`) accept every image, so the floor is recommended
    instead of 0, never less.
    """
    floor = threshold_floor(label_count)
    for point in curve:
        if point["threshold"] < floor:
            continue
        if point["accepted"] and point["error_rate"] <= target_error:
            return point
    return None


def calibration(predictions: list[Prediction], bins: int = CALIBRATION_BINS) -> dict:
    """Confidence against accuracy in equal-width bins, and the expected calibration error."""
    rows = []
    expected_error = 0.0
    for index in range(bins):
        low, high = index / bins, (index + 1) / bins
        inside = [
            p
            for p in predictions
            if low <= p.confidence < high or (index == bins - 1 and p.confidence == high)
        ]
        mean_confidence = _ratio(sum(p.confidence for p in inside), len(inside))
        bin_accuracy = accuracy(inside)
        if inside:
            gap = abs(bin_accuracy - mean_confidence)
            expected_error += len(inside) / len(predictions) * gap
        rows.append(
            {
                "low": low,
                "high": high,
                "count": len(inside),
                "mean_confidence": mean_confidence,
                "accuracy": bin_accuracy,
            }
        )
    return {"bins": rows, "expected_calibration_error": expected_error if predictions else None}


def agreement(first: list[Prediction], second: list[Prediction]) -> dict:
    """How two models' predictions on the same images compare (the second is the candidate)."""
    if [p.image for p in first] != [p.image for p in second]:
        raise ValueError("the two prediction lists are not of the same images")
    same = sum(a.predicted == b.predicted for a, b in zip(first, second, strict=True))
    largest = max(
        (
            abs(x - y)
            for a, b in zip(first, second, strict=True)
            for x, y in zip(a.probabilities, b.probabilities, strict=True)
        ),
        default=0.0,
    )
    before, after = accuracy(first), accuracy(second)
    return {
        "images": len(first),
        "top1_agreement": _ratio(same, len(first)),
        "disagreements": [
            a.image for a, b in zip(first, second, strict=True) if a.predicted != b.predicted
        ],
        "accuracy": after,
        "accuracy_change": None if before is None or after is None else after - before,
        "max_probability_change": largest,
    }
