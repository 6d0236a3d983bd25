"""95% intervals on the shares eval reports, and how many images would narrow them.

Wilson score intervals: unlike the textbook "p ± 1.96·√(p(1−p)/n)", they stay inside 0–1 and do
not shrink to nothing at 0 or n out of n, which is where a held-out set of a few dozen images
lives (20 right out of 20 is 83.9–100%, not 100 ± 0%). They cover close to 95% even for small n,
and need no more than a square root.
"""

from __future__ import annotations

import math

Z = 1.959963984540054  # the normal quantile of 0.975: a two-sided 95% interval
MAX_IMAGES = 1_000_000  # past this, "more images" is not advice anyone can follow


def wilson(successes: float, trials: int | float) -> tuple[float, float] | None:
    """The 95% Wilson score interval of `successes` out of `trials`; None for no trials."""
    if not trials:
        return None
    share = successes / trials
    z2 = Z * Z
    scale = 1 + z2 / trials
    centre = (share + z2 / (2 * trials)) / scale
    half = Z / scale * math.sqrt(share * (1 - share) / trials + z2 / (4 * trials * trials))
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= trials else min(1.0, centre + half)
    return low, high


def interval(successes: int, trials: int) -> list[float] | None:
    """The interval as eval.json holds it: [low, high], or None."""
    bounds = wilson(successes, trials)
    return None if bounds is None else list(bounds)


def _smallest(trials: int, good) -> int | None:
    """The smallest number of trials, from `trials` on, for which `good(n)` holds; `good` must
    stay true once it is (it does for the interval's width and bounds at a fixed share)."""
    if good(trials):
        return trials
    high = max(trials, 1)
    while not good(high):
        high *= 2
        if high > MAX_IMAGES:
            return None
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if good(middle) else (middle, high)
    return high


def trials_for_width(share: float, trials: int, width: float) -> int | None:
    """How many trials at this observed share make the interval at most `width` wide."""

    def good(n: int) -> bool:
        low, high = wilson(share * n, n)
        return high - low <= width

    return _smallest(trials, good)


def trials_to_decide(share: float, trials: int, bound: float) -> int | None:
    """How many trials at this observed share put the whole interval on one side of `bound`:
    under it if the share is, over it if the share is over. None if no number would."""
    if share == bound:
        return None

    def good(n: int) -> bool:
        low, high = wilson(share * n, n)
        return high <= bound if share < bound else low > bound

    return _smallest(trials, good)


def more_per_label(accepted_needed: int, accepted: int, images: int, labels: int) -> int:
    """More images per label for `accepted_needed` answers, if the page answers the same share
    of new images as of these (all of them, where it answered none)."""
    answered = accepted / images if images and accepted else 1.0
    more = math.ceil(accepted_needed / answered - 1e-9) - images
    return max(1, math.ceil(more / max(labels, 1)))


def difference(
    old_successes: int, old_trials: int, new_successes: int, new_trials: int
) -> list[float] | None:
    """The 95% interval of new − old share, from each share's Wilson interval (Newcombe's
    hybrid score method, his method 10): it keeps Wilson's good behaviour at 0 and n out of n."""
    old, new = wilson(old_successes, old_trials), wilson(new_successes, new_trials)
    if old is None or new is None:
        return None
    p1, p2 = old_successes / old_trials, new_successes / new_trials
    change = p2 - p1
    low = change - math.sqrt((p2 - new[0]) ** 2 + (old[1] - p1) ** 2)
    high = change + math.sqrt((new[1] - p2) ** 2 + (p1 - old[0]) ** 2)
    return [max(-1.0, low), min(1.0, high)]
