"""95% intervals, the verdict and the --write-threshold refusal, on predictions made by hand.

The intervals are checked against a reference computed another way: the Wilson interval is the
set of shares p that a score test at 5% does not reject, |k/n − p| ≤ z·√(p(1−p)/n), found here
by bisection on each side, and against published values.
"""

from __future__ import annotations

import re

import pytest
from support.eval_helpers import reference, report_of

from tmbuild.evaluate import intervals
from tmbuild.evaluate.metrics import Prediction
from tmbuild.evaluate.report import render_html
from tmbuild.evaluate.summary import summary
from tmbuild.evaluate.verdict import MAX_ERROR_WIDTH, NOT_READY, SHIP, UNDECIDED, threshold_decision

LABELS = ["cat", "dog"]


@pytest.mark.parametrize("n", [1, 2, 5, 7, 20, 21, 40, 107, 1000])
def test_wilson_matches_the_score_test_reference(n):
    for k in range(n + 1):
        low, high = intervals.wilson(k, n)
        ref_low, ref_high = reference(k, n)
        assert low == pytest.approx(ref_low, abs=1e-9), (k, n)
        assert high == pytest.approx(ref_high, abs=1e-9), (k, n)
        assert 0 <= low <= k / n <= high <= 1


def test_wilson_matches_published_values():
    # Newcombe (1998), Statistics in Medicine 17:857-872, table I, method 3 (score, no
    # continuity correction): 81/263 and 15/148, and 0/20 and 1/29.
    assert intervals.wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert intervals.wilson(15, 148) == pytest.approx((0.0624, 0.1605), abs=5e-5)
    assert intervals.wilson(0, 20) == pytest.approx((0.0, 0.1611), abs=5e-5)
    assert intervals.wilson(1, 29) == pytest.approx((0.0061, 0.1718), abs=5e-5)
    assert intervals.wilson(0, 0) is None and intervals.interval(3, 0) is None


def test_images_needed_to_narrow_or_to_decide():
    # 0 errors in n answers: the upper bound is z²/(n+z²), at most 10% from n = 35 on.
    assert intervals.trials_for_width(0.0, 20, 0.10) == 35
    assert intervals.wilson(0, 34)[1] > 0.10 >= intervals.wilson(0, 35)[1]
    assert intervals.trials_for_width(0.0, 50, 0.10) == 50  # already narrow enough
    # 0 errors: the upper bound is under 5% from n = 73 on.
    assert intervals.trials_to_decide(0.0, 20, 0.05) == 73
    assert intervals.wilson(0, 72)[1] > 0.05 >= intervals.wilson(0, 73)[1]
    # 15% wrong: the lower bound clears 5% from some n on, and not one image before.
    n = intervals.trials_to_decide(0.15, 5, 0.05)
    assert n > 5
    assert intervals.wilson(0.15 * n, n)[0] > 0.05 >= intervals.wilson(0.15 * (n - 1), n - 1)[0]
    assert intervals.trials_to_decide(0.05, 10, 0.05) is None
    # 20 answers of 40 images of 4 labels; 35 answers need 70 images: 30 more, 8 a label.
    assert intervals.more_per_label(35, 20, 40, 4) == 8


def _predictions(right: int, wrong: int) -> list[Prediction]:
    """`right` cats taken for cats and `wrong` for dogs, all at 95%: no threshold parts them."""
    return [Prediction(f"cat/{i}.jpg", 0, (0.95, 0.05)) for i in range(right)] + [
        Prediction(f"cat/w{i}.jpg", 0, (0.05, 0.95)) for i in range(wrong)
    ]


def test_verdict_on_a_good_hold_out():
    report = report_of(_predictions(100, 0), LABELS)
    verdict = report["verdict"]
    assert verdict["kind"] == SHIP and verdict["threshold"] == 0.5  # 1/2: never below
    assert verdict["right_interval"] == pytest.approx([1 - intervals.wilson(0, 100)[1], 1.0])
    assert verdict["text"] == (
        "Ready at threshold 0.50: 100.0% answered (96.3–100.0%), 100.0% of them right "
        "(96.3–100.0%); within the 5.0% error target even at the interval's worst"
    )
    assert summary(report).splitlines()[0] == verdict["text"]
    html = render_html(report)
    assert html.index('id="verdict"') < html.index('id="accuracy"')
    assert "Ready to ship at threshold 0.50" in html


def test_verdict_on_a_starved_hold_out_says_how_many_images_would_decide():
    report = report_of(_predictions(10, 0), LABELS)
    verdict = report["verdict"]
    # 0 errors in 10 answers: up to 27.8%. 73 answers without an error would put it under
    # 5%: 63 more images, 32 for each of the 2 labels.
    assert verdict["kind"] == UNDECIDED and verdict["more_images_per_label"] == 32
    assert verdict["text"] == (
        "Not enough evidence at threshold 0.50: 100.0% answered (72.2–100.0%), 100.0% of them "
        "right (72.2–100.0%); whether errors stay within the 5.0% target, about 32 more images "
        "per label would decide it"
    )
    assert "Not enough evidence at threshold 0.50" in render_html(report)


def test_verdict_on_a_model_that_misses_the_target_whatever_the_images():
    report = report_of(_predictions(70, 30), LABELS)
    assert report["threshold"]["recommended"] is None
    verdict = report["verdict"]
    assert verdict["kind"] == NOT_READY and verdict["threshold"] == 0.5
    assert verdict["text"].startswith("Not ready: at its best, threshold 0.50, 100.0% answered")
    assert verdict["right_interval"][1] < 0.95


def test_write_threshold_refuses_a_threshold_chosen_on_too_few_images():
    report = report_of(_predictions(10, 0), LABELS)
    decision = threshold_decision(report, force=False)
    # 0 of 10 wrong: 0–27.8%. 35 answers narrow it to 10 points: 25 more images, 13 a label.
    assert intervals.trials_for_width(0.0, 10, MAX_ERROR_WIDTH) == 35
    assert decision["refusal"] == (
        "threshold 0.50 not written: its error rate could be anywhere in 0.0–27.8% (27.8 points "
        "wide, over 10); about 13 more images per label would narrow it (--force writes it "
        "anyway)"
    )
    forced = threshold_decision(report, force=True)
    assert forced["refusal"] is None and forced["forced"] and forced["threshold"] == 0.5
    report["threshold"]["written"] = {
        "threshold": 0.5,
        "forced": True,
        "width": forced["width"],
        "max_width": MAX_ERROR_WIDTH,
    }
    assert (
        "Threshold 0.50 was written to site.yaml with <code>--force</code>, although its error "
        "rate's interval is 27.8 points wide, more than the 10 that <code>--write-threshold</code>"
        " accepts." in " ".join(render_html(report).split())
    )
    enough = threshold_decision(report_of(_predictions(40, 0), LABELS), force=False)
    assert enough["refusal"] is None and not enough["forced"]
    assert threshold_decision(report_of(_predictions(70, 30), LABELS), False)["threshold"] is None


def test_difference_matches_newcombes_published_values():
    # Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10, examples (a),
    # (b) and (e): 56/70 − 48/80, 9/10 − 3/10, 5/56 − 0/29 (here new − old).
    assert intervals.difference(48, 80, 56, 70) == pytest.approx([0.0524, 0.3339], abs=5e-5)
    assert intervals.difference(3, 10, 9, 10) == pytest.approx([0.1705, 0.8090], abs=5e-5)
    assert intervals.difference(0, 29, 5, 56) == pytest.approx([-0.0381, 0.1926], abs=5e-5)
    assert intervals.difference(1, 0, 1, 2) is None


def test_threshold_chart_draws_the_error_rates_interval_as_a_band():
    html = render_html(report_of(_predictions(10, 0), LABELS))
    [band] = re.findall(r'<polygon class="error-band" points="([^"]+)"', html)
    points = [tuple(map(float, point.split(","))) for point in band.split()]
    # Every threshold up to 0.95 answers all ten: a band over each, out along the upper bound
    # (27.8%, past the chart's top) and back along the lower one (0%, its bottom).
    assert len(points) == 2 * 96
    assert {y for _, y in points[:96]} == {18.0} and {y for _, y in points[96:]} == {260.0}
