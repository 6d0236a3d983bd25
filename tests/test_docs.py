"""The docs stay honest: the MkDocs site builds strictly, every command is documented, the README
stays a short front door whose links lead somewhere."""

from __future__ import annotations

import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from conftest import ROOT

from tmbuild.cli import cli

DOCS = ROOT / "docs"
README = ROOT / "README.md"
README_LIMIT = 10 * 1024
# [text](target) and <target> links; a target ends at whitespace or the closing bracket.
MARKDOWN_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# Where a built page would pull code or styles from another host.
REMOTE_ASSET = re.compile(
    r"<script[^>]+src=\"(?:https?:)?//|<link[^>]+rel=\"stylesheet\"[^>]+href=\"(?:https?:)?//"
)


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command as its words after `tmbuild`, a group's subcommands included."""
    found = []
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


COMMANDS = _commands(cli)


def test_the_docs_build_strictly_and_offline(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet"]
        + ["--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}{result.stderr}"
    pages = sorted(site.rglob("*.html"))
    assert site / "index.html" in pages
    remote = [page.relative_to(site) for page in pages if REMOTE_ASSET.search(page.read_text())]
    assert not remote, f"pages that load code or styles from another host: {remote}"


def test_tmbuild_help_lists_the_commands():
    result = CliRunner().invoke(cli, ["--help"], prog_name="tmbuild")
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:", 1)[1]
    for words in COMMANDS:
        if len(words) == 1:
            assert re.search(rf"^\s+{re.escape(words[0])}\s", listed, re.MULTILINE), words


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_every_command_has_help_text(words):
    result = CliRunner().invoke(cli, [*words, "--help"], prog_name="tmbuild")
    assert result.exit_code == 0, result.output
    usage, _, rest = result.output.partition("\n\n")
    assert usage.startswith(f"Usage: tmbuild {' '.join(words)}"), result.output
    description = rest.split("Options:", 1)[0].strip()
    assert description, f"`tmbuild {' '.join(words)} --help` has no help text"


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_every_command_is_in_the_docs(words):
    name = "tmbuild " + " ".join(words)
    pages = [page for page in sorted(DOCS.rglob("*.md")) if name in page.read_text("utf-8")]
    assert pages, f"`{name}` is named on no page of docs/: say what it does there"


def test_the_readme_is_a_short_front_door():
    size = len(README.read_bytes())
    assert size <= README_LIMIT, (
        f"README.md is {size} bytes, over {README_LIMIT}: move the manual's part into docs/"
    )


def test_the_readme_names_the_command_ci_runs():
    commands = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[-1] in README.read_text("utf-8")


def test_every_relative_link_in_the_readme_leads_to_a_file():
    targets = MARKDOWN_LINK.findall(README.read_text("utf-8"))
    relative = [target for target in targets if not re.match(r"[a-z][a-z0-9+.-]*:|#", target, re.I)]
    assert relative, "the README links to no file of the repository"
    missing = [target for target in relative if not (ROOT / target.split("#", 1)[0]).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
