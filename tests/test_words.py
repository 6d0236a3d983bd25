"""site.yaml's `lang:` and `messages:`: the page's language and the words it shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_export

from tmbuild.cli import cli


def _build(tmp_path: Path, monkeypatch, settings: str):
    write_export(tmp_path / "m")
    (tmp_path / "site.yaml").write_text("model:\n  path: m\n" + settings)
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(cli, ["build", "-q"])


def test_the_page_speaks_its_language_with_the_words_replaced(tmp_path, monkeypatch):
    result = _build(tmp_path, monkeypatch, "lang: ko\nmessages:\n  retry: 다시 해 보기!\n")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "dist" / "index.html").read_text(encoding="utf-8")
    assert '<html lang="ko" dir="ltr">' in page
    assert "다시 해 보기!" in page


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        (
            "lang: korean language\n",
            "Error: site.yaml:3:1: lang: expected a language tag such as en, pt-BR or ko; "
            "got 'korean language'",
        ),
        (
            "messages: [retry]\n",
            "Error: site.yaml:3:1: messages: expected a mapping of message key: text, such as "
            "{retry: Try again}; got a list",
        ),
        (
            "messages:\n  retry: ''\n",
            "Error: site.yaml:4:10: messages: 'retry': expected the words to show; got ''",
        ),
    ],
)
def test_bad_language_or_words_are_refused_at_their_line(tmp_path, monkeypatch, settings, line):
    result = _build(tmp_path, monkeypatch, settings)
    assert (result.exit_code, result.stderr) == (1, line + "\n")
