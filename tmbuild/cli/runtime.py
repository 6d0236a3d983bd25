"""`tmbuild fetch-runtime`: the pinned TensorFlow.js files, downloaded and verified once."""

from __future__ import annotations

import click

from tmbuild.cli.common import common_options, setup_logging


@click.command("fetch-runtime")
@click.option(
    "--tfjs-version", default=None, help="TensorFlow.js version (default: the pinned one)."
)
@common_options
def fetch_runtime(tfjs_version, verbose, quiet):
    """Download and verify the pinned TensorFlow.js files into the user cache.

    Run it once on a machine with npm and network; later builds work offline.
    """
    setup_logging(verbose, quiet)
    from tmbuild.page.tfjs import TFJS_VERSION, ensure_cached

    path = ensure_cached(tfjs_version or TFJS_VERSION)
    if not quiet:
        click.echo(f"TensorFlow.js {tfjs_version or TFJS_VERSION} verified in {path}")
