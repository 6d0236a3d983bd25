"""The bars a quantised model must clear against float32 to keep its answers (issue 18).

On labelled images run through the built page: the top label is float32's on at least 99.5%
of them, and no probability moves by more than 0.05. `tmbuild eval --compare-quantized` reports
them; `quantize: auto` (tmbuild.evaluate.choose) builds the smallest format that clears them.
"""

from __future__ import annotations

AGREEMENT_BAR = 0.995  # top-1 agreement with float32, at least
PROBABILITY_BAR = 0.05  # the largest change of any probability, at most


def keeps_answers(agreement: dict) -> bool:
    """Whether a format's figures against float32 are within both bars."""
    top1 = agreement["top1_agreement"]
    return (
        top1 is not None
        and top1 >= AGREEMENT_BAR
        and agreement["max_probability_change"] <= PROBABILITY_BAR
    )


def with_bars(agreement: dict, reference: str) -> dict:
    """The figures, with what they were measured against and whether they pass."""
    return {
        **agreement,
        "reference": reference,
        "bars": {"top1_agreement": AGREEMENT_BAR, "max_probability_change": PROBABILITY_BAR},
        "keeps_answers": keeps_answers(agreement),
    }
