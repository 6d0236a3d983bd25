"""The command line: click lives in this package only, and each command calls one pipeline stage.

Each command is a module of its own, imported when the group is built and registered here by
name; the work it calls is imported inside the command, so `tmbuild --help` stays instant.
"""

from __future__ import annotations

import click

from tmbuild import __version__
from tmbuild.cli.build import build, check
from tmbuild.cli.cache import cache
from tmbuild.cli.common import TmbuildGroup
from tmbuild.cli.diff import diff
from tmbuild.cli.eval import evaluate, split
from tmbuild.cli.init import init
from tmbuild.cli.runtime import fetch_runtime
from tmbuild.cli.serve import serve


@click.group(cls=TmbuildGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


for command in (build, check, serve, evaluate, split, diff, init, fetch_runtime, cache):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="tmbuild")
