"""The command line. Click lives here only; each command calls one pipeline function."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from tmbuild import __version__
from tmbuild.errors import TmbuildError

log = logging.getLogger("tmbuild")
DEFAULT_CONFIG = "site.yaml"


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {message}"
        return message


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    if not verbose and not quiet:
        level = logging.WARNING  # quiet by default: the summary line is printed, not logged
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def common_options(function):
    function = click.option("-v", "--verbose", count=True, help="Say what each stage does.")(
        function
    )
    function = click.option("-q", "--quiet", is_flag=True, help="Print errors only.")(function)
    return function


def config_options(function):
    options = [
        click.option(
            "-c",
            "--config",
            "config_path",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Site configuration file (default: ./site.yaml if present).",
        ),
        click.option(
            "--model",
            "model_path",
            type=click.Path(path_type=Path),
            help="Teachable Machine export: folder or .zip (overrides model.path).",
        ),
        click.option(
            "--quantize",
            type=click.Choice(["none", "float16", "uint8"]),
            help="Store weights as float16 or uint8 (overrides model.quantize).",
        ),
        click.option("--base-url", help="URL path the site is served under, e.g. /demo/."),
        click.option("--strict", is_flag=True, help="Treat configuration warnings as errors."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="tmbuild")
def cli() -> None:
    """Build a fast, self-contained static site from a Teachable Machine image model.

    \b
    Examples:
      tmbuild build                         # reads ./site.yaml, writes ./dist
      tmbuild build --model my_model.zip -o public
      tmbuild check -c site.yaml
    """


def _load(config_path, model_path, quantize, base_url, strict, output=None):
    from tmbuild.config import load_config

    if config_path is None and Path(DEFAULT_CONFIG).is_file():
        config_path = Path(DEFAULT_CONFIG)
    overrides = {
        "model_path": model_path,
        "output": output,
        "quantize": quantize,
        "base_url": base_url,
    }
    config, warnings = load_config(
        config_path, {k: v for k, v in overrides.items() if v is not None}, strict=strict
    )
    for warning in warnings:
        log.warning(warning)
    return config


def _fail(error: TmbuildError) -> None:
    for line in str(error).splitlines() or [error.__class__.__name__]:
        click.echo(f"Error: {line}", err=True)
    sys.exit(1)


@cli.command()
@config_options
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the site to (overrides output; default: dist).",
)
@common_options
def build(config_path, model_path, quantize, base_url, strict, output, verbose, quiet):
    """Build the site into the output folder (replaced whole, only on success).

    \b
    Examples:
      tmbuild build
      tmbuild build --model ~/Downloads/converted_keras.zip --quantize float16
    """
    _setup_logging(verbose, quiet)
    from tmbuild.build import build as run_build

    try:
        config = _load(config_path, model_path, quantize, base_url, strict, output)
        with _progress(quiet) as progress:
            result = run_build(config, progress=progress)
    except TmbuildError as error:
        _fail(error)
    except KeyboardInterrupt:
        click.echo("Interrupted: the previous output was left as it was.", err=True)
        sys.exit(130)
    if not quiet:
        count = sum(1 for p in result.files if not p.endswith((".gz", ".br")))
        click.echo(
            f"Built {config.display_path(config.output)}/ in {result.seconds:.2f} s: "
            f"{count} files, {_megabytes(result.raw_bytes)} ({_megabytes(result.brotli_bytes)} br)"
        )


@cli.command()
@config_options
@common_options
def check(config_path, model_path, quantize, base_url, strict, verbose, quiet):
    """Check site.yaml and the export without writing anything."""
    _setup_logging(verbose, quiet)
    from tmbuild.build import build as run_build

    try:
        config = _load(config_path, model_path, quantize, base_url, strict)
        # The model, the runtime and the templates are prepared too: a check catches all that
        # a build would, short of compressing and writing.
        export = run_build(config, write=False).export
    except TmbuildError as error:
        _fail(error)
    if not quiet:
        labels = ", ".join(export.labels)
        click.echo(
            f"OK: {export.location}: image model, {export.image_size}×{export.image_size} "
            f"{'grayscale' if export.grayscale else 'RGB'}, {len(export.labels)} labels ({labels})"
        )


@cli.command("fetch-runtime")
@click.option(
    "--tfjs-version", default=None, help="TensorFlow.js version (default: the pinned one)."
)
@common_options
def fetch_runtime(tfjs_version, verbose, quiet):
    """Download and verify the pinned TensorFlow.js files into the user cache.

    Run it once on a machine with npm and network; later builds work offline.
    """
    _setup_logging(verbose, quiet)
    from tmbuild.runtime import TFJS_VERSION, ensure_cached

    try:
        path = ensure_cached(tfjs_version or TFJS_VERSION)
    except TmbuildError as error:
        _fail(error)
    if not quiet:
        click.echo(f"TensorFlow.js {tfjs_version or TFJS_VERSION} verified in {path}")


class _progress:
    """A one-line progress count on a terminal; nothing when piped or quiet (CI logs stay clean)."""

    def __init__(self, quiet: bool):
        self.enabled = not quiet and sys.stderr.isatty() and not os.environ.get("CI")
        self.count = 0

    def __enter__(self):
        return self.step if self.enabled else None

    def step(self, done: int, total: int) -> None:
        self.count = done
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        click.echo(f"\rCompressing [{bar}] {done}/{total}", err=True, nl=False)

    def __exit__(self, *exc_info) -> None:
        if self.enabled and self.count:
            click.echo("\r" + " " * 60 + "\r", err=True, nl=False)


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.2f} MB" if size >= 100_000 else f"{size / 1000:.1f} kB"


def main() -> None:
    cli(prog_name="tmbuild")
