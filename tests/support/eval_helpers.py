"""Shared by the `tmbuild eval` tests: the command line, run in-process."""

from __future__ import annotations

import math

from click.testing import CliRunner

from tmbuild.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def report_of(predictions, labels: list[str], threshold: float = 0.7, **options) -> dict:
    """What eval would report for these predictions, without a browser."""
    from pathlib import Path

    from tmbuild.evaluate.headless import SitePage
    from tmbuild.evaluate.labelled import FolderMatch, LabelledFolders
    from tmbuild.evaluate.run import EvalOptions, _report

    page = SitePage(None, labels, "wasm", 224, threshold, 0.15, [])
    folders = LabelledFolders(Path("holdout"), {label: [] for label in labels})
    match = FolderMatch({label: label for label in labels}, [], [])
    model = {"name": "pets", "quantize": "none", "bytes": 1000}
    options = EvalOptions(images=Path("holdout"), **options)
    return _report(page, model, options, folders, match, predictions, [])


def reference(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The shares a two-sided score test does not reject, by bisection: Wilson's definition."""
    share = k / n

    def inside(p: float) -> bool:
        return abs(share - p) <= z * math.sqrt(p * (1 - p) / n)

    def edge(outside: float, inner: float) -> float:
        if inside(outside):
            return outside
        for _ in range(200):
            middle = (outside + inner) / 2
            outside, inner = (outside, middle) if inside(middle) else (middle, inner)
        return inner

    return edge(0.0, share), edge(1.0, share)
