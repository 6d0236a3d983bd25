"""`tmbuild build` and `tmbuild check`: site.yaml and an export in, a site out (or a verdict)."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

from tmbuild.cli.common import (
    common_options,
    config_options,
    load_site_config,
    log,
    progress_bar,
    setup_logging,
)
from tmbuild.sizes import format_size
from tmbuild.untrusted import printable

MAX_LABELS_SHOWN = 20


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a CI timeout, `kill`), raised like Ctrl-C so the build cleans up after itself."""


def _raise_terminated(signum, frame) -> None:
    raise _Terminated


@click.command()
@config_options
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the site to (overrides output; default: dist).",
)
@click.option(
    "--single-file",
    is_flag=True,
    default=None,
    help="Write one .html file that opens from disk, with everything inside.",
)
@click.option(
    "--embed",
    type=click.Choice(["element", "iframe", "none"]),
    is_flag=False,
    flag_value="element",
    default=None,
    help="Write the classifier for other sites' pages: a folder with tmbuild.js (element, "
    "the default) or a page for an <iframe> (overrides embed.mode).",
)
@click.option(
    "--images",
    "images_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="With quantize: auto, labelled images (one folder per label) to measure int8 on "
    "through the page.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an output folder that is not empty and holds no earlier build "
    "(never /, a home, system or project folder, or one holding an input).",
)
@common_options
def build(
    config_path,
    model_path,
    quantize,
    base_url,
    strict,
    output,
    single_file,
    embed,
    images_dir,
    force,
    verbose,
    quiet,
):
    """Build the site into the output folder (replaced whole, only on success).

    An existing output folder is replaced only if it is empty or holds an earlier build;
    --force takes over any other.

    \b
    Examples:
      tmbuild build
      tmbuild build --model ~/Downloads/converted_keras.zip --quantize float16
      tmbuild build --single-file --quantize float16   # one file to email or double-click
      tmbuild build -o ../docs --force                 # replace docs/ and all it holds
      tmbuild build --quantize auto --images holdout   # int8 if it keeps the answers
      tmbuild build --embed -o ../blog/static/flowers  # a classifier for another site
    """
    setup_logging(verbose, quiet)
    from tmbuild.build import build as run_build

    if threading.current_thread() is threading.main_thread():  # where Python runs handlers
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        config = load_site_config(
            config_path, model_path, quantize, base_url, strict, output, single_file, embed
        )
        choice = None
        if config.model.quantize == "auto":
            from tmbuild.evaluate.choose import choose_quantize

            images = images_dir or config.eval.images
            config, choice = choose_quantize(config, images)
        with progress_bar(quiet) as progress:
            result = run_build(config, progress=progress, force=force, quantize_choice=choice)
    except KeyboardInterrupt as interrupt:
        terminated = isinstance(interrupt, _Terminated)
        what = "Terminated" if terminated else "Interrupted"
        click.echo(f"{what}: the previous output was left as it was.", err=True)
        sys.exit(143 if terminated else 130)
    if not quiet and config.single_file:
        [name] = result.files
        click.echo(
            f"Built {config.display_path(config.output / name)} in {result.seconds:.2f} s: "
            f"one file, {format_size(result.raw_bytes)}; it opens from disk, no server needed"
        )
    elif not quiet:
        count = sum(1 for p in result.files if not p.endswith((".gz", ".br")))
        click.echo(
            f"Built {config.display_path(config.output)}/ in {result.seconds:.2f} s: "
            f"{count} files, {format_size(result.raw_bytes)} "
            f"({format_size(result.brotli_bytes)} br)"
        )
        if config.embed.mode == "element":
            from tmbuild.page.embed import ENTRY_NAME, snippet

            name = config.embed.name or result.model.name
            lines = snippet(name, f"{config.base_url}{ENTRY_NAME}").splitlines()
            click.echo("Show it in a page of your site (where the folder is served) with:")
            click.echo("\n".join(f"  {line}" for line in lines))


@click.command()
@config_options
@common_options
def check(config_path, model_path, quantize, base_url, strict, verbose, quiet):
    """Check site.yaml and the export without writing anything."""
    setup_logging(verbose, quiet)
    from tmbuild.build import build as run_build

    try:
        config = load_site_config(config_path, model_path, quantize, base_url, strict)
        # The model, the runtime and the templates are prepared too: a check catches all that
        # a build would, short of compressing and writing.
        export = run_build(config, write=False).export
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    from tmbuild.evaluate.lints import model_lints

    for lint in model_lints(export.labels, export.kind):
        log.warning(lint)
    if not quiet:
        # Labels are the export's text: each on this one line, escaped and cut short.
        labels = ", ".join(printable(label, 40) for label in export.labels[:MAX_LABELS_SHOWN])
        if len(export.labels) > MAX_LABELS_SHOWN:
            labels += f", … {len(export.labels) - MAX_LABELS_SHOWN} more"
        if export.kind == "audio":
            found = "audio model, 43×232 spectrograms (1 s at 44.1 kHz)"
        elif export.kind == "pose":
            found = "pose model, PoseNet MobileNetV1 0.75 bundled, 257×257 frames"
        else:
            colour = "grayscale" if export.grayscale else "RGB"
            found = f"image model, {export.image_size}×{export.image_size} {colour}"
        click.echo(f"OK: {export.location}: {found}, {len(export.labels)} labels ({labels})")
