"""The plain answer to "can I ship this, and at what threshold?", and whether to write it.

Both read the 95% intervals (tmbuild.evaluate.intervals), not the observed shares alone: 20
right answers out of 20 say the error rate is somewhere from 0 to 16%, and a threshold chosen on
so few images is a guess. Where the images cannot decide, the answer says how many more would.
"""

from __future__ import annotations

from tmbuild.evaluate.intervals import more_per_label, trials_for_width, trials_to_decide
from tmbuild.evaluate.metrics import threshold_floor

# --write-threshold refuses a threshold whose error rate's 95% interval is wider than this.
MAX_ERROR_WIDTH = 0.10

SHIP, NOT_READY, UNDECIDED = "ship", "not ready", "not enough evidence"


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _range(bounds: list[float]) -> str:
    return f"{bounds[0] * 100:.1f}–{bounds[1] * 100:.1f}%"


def _best_point(curve: list[dict], floor: float) -> dict | None:
    """Without a recommendation: the threshold with the fewest errors among its answers (the
    lowest of equals, as it answers most)."""
    answered = [p for p in curve if p["threshold"] >= floor and p["accepted"]]
    return min(answered, key=lambda p: (p["error_rate"], p["threshold"]), default=None)


def verdict(report: dict) -> dict:
    """At the recommended threshold: the share answered and the share of those answered right,
    with intervals, against eval.target_error; or how many more images would decide it."""
    settings = report["threshold"]
    target = settings["target_error"]
    labels = len(report["model"]["labels"])
    images = report["images"]["classified"]
    unit = report["images"].get("unit", "images")  # clips, for an audio model
    point = settings["at_recommended"] or _best_point(
        report["threshold_curve"], threshold_floor(labels)
    )
    if point is None:
        return {
            "kind": UNDECIDED,
            "threshold": None,
            "more_images_per_label": None,
            "text": f"Not enough evidence: no {unit[:-1]} was classified",
        }
    low, high = point["error_interval"]
    if settings["at_recommended"] is not None and high <= target:
        kind = SHIP
    elif low > target:
        kind = NOT_READY
    else:
        kind = UNDECIDED
    answered, right = point["automation_interval"], [1 - high, 1 - low]
    figures = (
        f"{_pct(point['automation'])} answered ({_range(answered)}), "
        f"{_pct(1 - point['error_rate'])} of them right ({_range(right)})"
    )
    at = f"threshold {point['threshold']:.2f}"
    more = None
    if kind == SHIP:
        text = (
            f"Ready at {at}: {figures}; within the {_pct(target)} error target even at the "
            "interval's worst"
        )
    elif kind == NOT_READY:
        text = (
            f"Not ready: at its best, {at}, {figures}; over the {_pct(target)} error target "
            f"even at the interval's best: add training {unit} like the mistakes"
        )
    else:
        needed = trials_to_decide(point["error_rate"], point["accepted"], target)
        if needed is not None:
            more = more_per_label(needed, point["accepted"], images, labels)
            decide = f"about {more} more {unit} per label would decide it"
        else:
            decide = f"no number of {unit} would decide it at this error rate"
        text = (
            f"Not enough evidence at {at}: {figures}; whether errors stay within the "
            f"{_pct(target)} target, {decide}"
        )
    return {
        "kind": kind,
        "threshold": point["threshold"],
        "answered": point["automation"],
        "answered_interval": answered,
        "right": 1 - point["error_rate"],
        "right_interval": right,
        "target_error": target,
        "more_images_per_label": more,
        "text": text,
    }


def threshold_decision(report: dict, force: bool) -> dict:
    """Whether --write-threshold may write the recommendation: its error rate's interval must be
    at most MAX_ERROR_WIDTH wide, unless forced. `refusal` is the one line that says why not."""
    settings = report["threshold"]
    point = settings["at_recommended"]
    decision = {"threshold": None, "forced": False, "refusal": None, "width": None}
    if point is None:
        return decision
    low, high = point["error_interval"]
    decision.update(threshold=point["threshold"], width=high - low)
    if high - low <= MAX_ERROR_WIDTH:
        return decision
    if force:
        decision["forced"] = True
        return decision
    labels = len(report["model"]["labels"])
    unit = report["images"].get("unit", "images")
    needed = trials_for_width(point["error_rate"], point["accepted"], MAX_ERROR_WIDTH)
    more = (
        f"about {more_per_label(needed, point['accepted'], report['images']['classified'], labels)}"
        f" more {unit} per label would narrow it"
        if needed is not None
        else f"more {unit} would narrow it"
    )
    decision["refusal"] = (
        f"threshold {point['threshold']:.2f} not written: its error rate could be anywhere in "
        f"{_range([low, high])} ({(high - low) * 100:.1f} points wide, over "
        f"{MAX_ERROR_WIDTH * 100:.0f}); {more} (--force writes it anyway)"
    )
    return decision
