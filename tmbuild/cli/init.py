"""`tmbuild init`: a new site's commented site.yaml, and the templates to edit."""

from __future__ import annotations

from pathlib import Path

import click

from tmbuild.cli.common import common_options, setup_logging


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, path_type=Path),
    help="Teachable Machine export (folder or .zip) to set as model.path.",
)
@click.option("--title", help="Page title to set in site.yaml.")
@click.option(
    "--templates", is_flag=True, help="Also copy the built-in templates into DIRECTORY/templates."
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@common_options
def init(directory, model_path, title, templates, force, verbose, quiet):
    """Start a site: a commented site.yaml, and with --templates the templates to edit.

    Without --model, a single Teachable Machine export (a folder or .zip) found in DIRECTORY
    becomes model.path.

    \b
    Examples:
      tmbuild init --model ~/Downloads/converted_tfjs.zip
      tmbuild init my-site --templates --title "Recycling sorter"
    """
    setup_logging(verbose, quiet)
    from tmbuild.scaffold import scaffold

    result = scaffold(directory, model_path, title, templates, force)
    if not quiet:
        click.echo(result.report())
