"""How a model's accuracy changed between two builds, from the `tmbuild eval` records beside them.

The change is significant when the 95% interval of new − old accuracy (Newcombe's, from each
side's Wilson interval) lies wholly below zero: a drop the images show, not one image's luck.
Only accuracies measured on the same images (the same content hash) are compared.
"""

from __future__ import annotations

from dataclasses import dataclass

from tmbuild.evaluate.intervals import difference


@dataclass(frozen=True)
class AccuracyChange:
    old: dict | None  # a tmbuild-eval.json record, or None where the build has none
    new: dict | None
    same_images: bool
    change: float | None  # new − old accuracy, on the same images
    interval: list[float] | None  # its 95% interval

    @property
    def significant_drop(self) -> bool:
        return self.interval is not None and self.interval[1] < 0


def accuracy_change(old: dict | None, new: dict | None) -> AccuracyChange | None:
    """The change between two records; None where neither build has one."""
    if old is None and new is None:
        return None
    if old is None or new is None:
        return AccuracyChange(old, new, False, None, None)
    same = old["images"].get("sha256") == new["images"].get("sha256")
    if not same:
        return AccuracyChange(old, new, False, None, None)
    count_old, count_new = old["images"]["count"], new["images"]["count"]
    change = new["correct"] / count_new - old["correct"] / count_old
    interval = difference(old["correct"], count_old, new["correct"], count_new)
    return AccuracyChange(old, new, True, change, interval)


def _share(record: dict) -> str:
    share = record["correct"] / record["images"]["count"]
    low, high = record.get("accuracy_interval") or (None, None)
    shown = f"{share * 100:.1f}%"
    if isinstance(low, float | int) and isinstance(high, float | int):
        shown += f" ({low * 100:.1f}–{high * 100:.1f}%)"
    return shown


def describe(accuracy: AccuracyChange) -> tuple[str, str, str]:
    """Old, new, and what the change means, each as a reader wants it."""
    old = "(not evaluated)" if accuracy.old is None else _share(accuracy.old)
    new = "(not evaluated)" if accuracy.new is None else _share(accuracy.new)
    if accuracy.old is None or accuracy.new is None:
        note = "run tmbuild eval on both builds to compare"
    elif not accuracy.same_images:
        note = "measured on different images: not comparable"
    else:
        low, high = accuracy.interval
        points = accuracy.change * 100
        change = f"{points:+.1f} points" if abs(points) >= 0.05 else "no change"
        verdict = (
            "a significant drop"
            if accuracy.significant_drop
            else "a significant gain"
            if low > 0
            else "within chance"
        )
        note = f"{change} (95% interval {low * 100:+.1f} to {high * 100:+.1f}): {verdict}"
    return old, new, note


def as_json(accuracy: AccuracyChange | None) -> dict | None:
    if accuracy is None:
        return None
    return {
        "old": accuracy.old,
        "new": accuracy.new,
        "same_images": accuracy.same_images,
        "change": accuracy.change,
        "change_interval": accuracy.interval,
        "significant_drop": accuracy.significant_drop,
    }
