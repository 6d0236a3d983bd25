"""`tmbuild diff`: what changed between two builds, for a terminal, a pull request or a script."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tmbuild.cli.common import common_options, setup_logging


@click.command()
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="markdown suits a pull-request comment; json, a script.",
)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when the builds differ.")
@click.option(
    "--fail-on-accuracy-drop",
    is_flag=True,
    help="Exit 1 when the accuracy tmbuild eval recorded fell significantly, even with "
    "--exit-zero.",
)
@common_options
def diff(old, new, output_format, exit_zero, fail_on_accuracy_drop, verbose, quiet):
    """Compare two builds: files with their size changes, and the model.

    OLD and NEW are built folders or their tmbuild-manifest.json. Where `tmbuild eval` recorded
    both builds' accuracy on the same images, the change is shown with its 95% interval. Exit
    status: 0 when they are identical, 1 when they differ (0 with --exit-zero) or, with
    --fail-on-accuracy-drop, when accuracy fell significantly; 2 when an input is not a build.

    \b
    Examples:
      tmbuild diff base/dist dist
      tmbuild diff base/dist dist --format markdown --exit-zero > comment.md
      tmbuild diff base/dist dist --exit-zero --fail-on-accuracy-drop
    """
    setup_logging(verbose, quiet)
    from tmbuild.diff.compare import compare, load_manifest
    from tmbuild.diff.format import FORMATTERS

    result = compare(load_manifest(old), load_manifest(new))
    if not quiet:
        click.echo(FORMATTERS[output_format](result), nl=False)
    dropped = result.accuracy is not None and result.accuracy.significant_drop
    if fail_on_accuracy_drop and dropped:
        sys.exit(1)
    sys.exit(0 if result.identical or exit_zero else 1)
