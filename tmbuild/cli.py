"""The command line. Click lives here only; each command calls one pipeline function."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

import click

from tmbuild import __version__
from tmbuild.errors import TmbuildError
from tmbuild.sizes import format_size

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
      tmbuild serve                         # preview, rebuilt on every change
    """


def _load(config_path, model_path, quantize, base_url, strict, output=None, single_file=None):
    from tmbuild.config import load_config

    if config_path is None and Path(DEFAULT_CONFIG).is_file():
        config_path = Path(DEFAULT_CONFIG)
    overrides = {
        "model_path": model_path,
        "output": output,
        "quantize": quantize,
        "base_url": base_url,
        "single_file": single_file,
    }
    config, warnings = load_config(
        config_path, {k: v for k, v in overrides.items() if v is not None}, strict=strict
    )
    for warning in warnings:
        log.warning(warning)
    return config


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a CI timeout, `kill`), raised like Ctrl-C so the build cleans up after itself."""


def _raise_terminated(signum, frame) -> None:
    raise _Terminated


def _fail(error: TmbuildError, status: int = 1) -> None:
    for line in str(error).splitlines() or [error.__class__.__name__]:
        click.echo(f"Error: {line}", err=True)
    sys.exit(status)


@cli.command()
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
@common_options
def build(config_path, model_path, quantize, base_url, strict, output, single_file, verbose, quiet):
    """Build the site into the output folder (replaced whole, only on success).

    \b
    Examples:
      tmbuild build
      tmbuild build --model ~/Downloads/converted_keras.zip --quantize float16
      tmbuild build --single-file --quantize float16   # one file to email or double-click
    """
    _setup_logging(verbose, quiet)
    from tmbuild.build import build as run_build

    if threading.current_thread() is threading.main_thread():  # where Python runs handlers
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        config = _load(config_path, model_path, quantize, base_url, strict, output, single_file)
        with _progress(quiet) as progress:
            result = run_build(config, progress=progress)
    except TmbuildError as error:
        _fail(error)
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
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    from tmbuild.lints import model_lints

    for lint in model_lints(export.labels):
        log.warning(lint)
    if not quiet:
        labels = ", ".join(export.labels)
        click.echo(
            f"OK: {export.location}: image model, {export.image_size}×{export.image_size} "
            f"{'grayscale' if export.grayscale else 'RGB'}, {len(export.labels)} labels ({labels})"
        )


@cli.command()
@config_options
@click.option(
    "-p",
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; only this machine can connect to the default one.",
)
@click.option("--no-build", is_flag=True, help="Serve the output as it is; no first build.")
@click.option("--no-watch", is_flag=True, help="Do not rebuild and reload on changes.")
@click.option("--open", "open_browser", is_flag=True, help="Open the site in a web browser.")
@common_options
def serve(
    config_path,
    model_path,
    quantize,
    base_url,
    strict,
    port,
    host,
    no_build,
    no_watch,
    open_browser,
    verbose,
    quiet,
):
    """Build the site, serve it as the host would, and rebuild and reload on changes.

    It applies _headers, serves the .br/.gz files by Accept-Encoding, and rebuilds when
    site.yaml, the templates or the model change; open pages reload by themselves.

    \b
    Examples:
      tmbuild serve                         # http://127.0.0.1:8000/
      tmbuild serve --port 0 --open         # a free port, opened in the browser
    """
    import signal

    _setup_logging(verbose, quiet)
    from tmbuild.watch import preview

    def echo(message: str, err: bool = False) -> None:
        if err or not quiet:
            click.echo(message, err=err)

    # A service manager's stop (SIGTERM) ends the server as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        preview(
            lambda: _load(config_path, model_path, quantize, base_url, strict),
            host=host,
            port=port,
            build_first=not no_build,
            watch=not no_watch,
            open_browser=open_browser,
            echo=echo,
        )
    except TmbuildError as error:
        _fail(error)
    except KeyboardInterrupt:
        echo("Stopped.")


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


@cli.command()
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
@common_options
def diff(old, new, output_format, exit_zero, verbose, quiet):
    """Compare two builds: files with their size changes, and the model.

    OLD and NEW are built folders or their tmbuild-manifest.json. Exit status: 0 when they are
    identical, 1 when they differ (0 with --exit-zero), 2 when an input is not a build.

    \b
    Examples:
      tmbuild diff base/dist dist
      tmbuild diff base/dist dist --format markdown --exit-zero > comment.md
    """
    _setup_logging(verbose, quiet)
    from tmbuild.diff import compare, load_manifest
    from tmbuild.diff_report import FORMATTERS

    try:
        result = compare(load_manifest(old), load_manifest(new))
    except TmbuildError as error:
        _fail(error, status=2)
    if not quiet:
        click.echo(FORMATTERS[output_format](result), nl=False)
    sys.exit(0 if result.identical or exit_zero else 1)


@cli.command()
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
    _setup_logging(verbose, quiet)
    from tmbuild.scaffold import scaffold

    try:
        result = scaffold(directory, model_path, title, templates, force)
    except TmbuildError as error:
        _fail(error)
    if not quiet:
        click.echo(result.report())


class _progress:
    """A one-line progress count on a terminal; nothing when piped or quiet (CI logs stay clean)."""

    def __init__(self, quiet: bool, label: str = "Compressing"):
        self.enabled = not quiet and sys.stderr.isatty() and not os.environ.get("CI")
        self.count = 0
        self.label = label

    def __enter__(self):
        return self.step if self.enabled else None

    def step(self, done: int, total: int) -> None:
        self.count = done
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        click.echo(f"\r{self.label} [{bar}] {done}/{total}", err=True, nl=False)

    def __exit__(self, *exc_info) -> None:
        if self.enabled and self.count:
            click.echo("\r" + " " * 60 + "\r", err=True, nl=False)


# The model-quality commands live in their own module; importing it registers them.
from tmbuild import cli_eval  # noqa: E402, F401


def main() -> None:
    cli(prog_name="tmbuild")
