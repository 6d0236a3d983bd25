"""Shared by the `tmbuild eval` tests: the command line, run in-process."""

from __future__ import annotations

from click.testing import CliRunner

from tmbuild.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)
