"""What every command shares: logging, option bundles, reading site.yaml, one way to fail."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from tmbuild.errors import TmbuildError
from tmbuild.untrusted import printable

log = logging.getLogger("tmbuild")
DEFAULT_CONFIG = "site.yaml"
MAX_LINE = 1000  # characters of one message line; longer ones quote too much of an input


class TmbuildGroup(click.Group):
    """The command group that turns a user's error into one line and an exit status, once.

    Commands raise TmbuildError (or a subclass carrying its own `exit_status`); none of them
    catches it. A traceback therefore always means a bug in tmbuild, never bad input.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TmbuildError as error:
            for line in error.lines() or [error.__class__.__name__]:
                click.echo(f"Error: {printable(line, MAX_LINE)}", err=True)
            ctx.exit(error.exit_status)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # Messages quote labels and layer names: one line each, whatever those hold (a
        # traceback that -vv adds after the message keeps its lines).
        safe = printable(record.getMessage(), MAX_LINE)
        message = super().format(logging.makeLogRecord({**vars(record), "msg": safe, "args": ()}))
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {message}"
        return message


def setup_logging(verbose: int, quiet: bool) -> None:
    """Warnings by default, each stage with -v, debug with -vv, errors only with -q."""
    if quiet:
        level = logging.ERROR
    elif verbose:
        level = logging.DEBUG if verbose > 1 else logging.INFO
    else:
        level = logging.WARNING  # the summary line is printed, not logged
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
            type=click.Choice(["none", "float16", "int8", "uint8", "auto"]),
            help="Store weights as float16, int8 or uint8, or choose by measuring (auto) "
            "(overrides model.quantize).",
        ),
        click.option("--base-url", help="URL path the site is served under, e.g. /demo/."),
        click.option("--strict", is_flag=True, help="Treat configuration warnings as errors."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def load_site_config(
    config_path, model_path, quantize, base_url, strict, output=None, single_file=None, embed=None
):
    """site.yaml (./site.yaml when none is named) with the command line's overrides applied."""
    from tmbuild.config.load import load_config

    if config_path is None and Path(DEFAULT_CONFIG).is_file():
        config_path = Path(DEFAULT_CONFIG)
    overrides = {
        "model_path": model_path,
        "output": output,
        "quantize": quantize,
        "base_url": base_url,
        "single_file": single_file,
        "embed": embed,
    }
    config, warnings = load_config(
        config_path, {k: v for k, v in overrides.items() if v is not None}, strict=strict
    )
    for warning in warnings:
        log.warning(warning)
    return config


def shown_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class progress_bar:
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
