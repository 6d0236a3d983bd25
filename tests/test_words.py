"""site.yaml's `lang:` and `messages:`: the page's language and the words it shows."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_export

from tmbuild.cli import cli


def _build(tmp_path: Path, monkeypatch, settings: str, labels: list[str] | None = None):
    write_export(tmp_path / "m", labels=labels)
    (tmp_path / "site.yaml").write_text("model:\n  path: m\n" + settings, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(cli, ["build", "-q"])


def _page(tmp_path: Path, monkeypatch, settings: str, labels: list[str] | None = None) -> str:
    """The built index.html of a site with these settings."""
    result = _build(tmp_path, monkeypatch, settings, labels)
    assert result.exit_code == 0, result.output
    return (tmp_path / "dist" / "index.html").read_text(encoding="utf-8")


def test_the_page_speaks_its_language_with_the_words_replaced(tmp_path, monkeypatch):
    page = _page(tmp_path, monkeypatch, "lang: ko\nmessages:\n  retry: 다시 해 보기!\n")
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


@pytest.mark.parametrize(
    ("labels", "settings", "title"),
    [
        (["cat", "dog", "rabbit"], "", "cat, dog, rabbit: an image classifier"),
        (["마스크", "마스크 X"], "lang: ko\n", "마스크, 마스크 X: 이미지 분류기"),
        (["犬", "猫"], "lang: ja\n", "犬、猫：画像分類器"),
        ([f"class {n}" for n in range(6)], "lang: pt\n", "Um classificador de imagens"),
        (["a very long label " * 3, "another very long label " * 2], "", "An image classifier"),
        (["cat", "dog"], "title: Pet finder\n", "Pet finder"),
    ],
)
def test_a_page_without_a_title_is_named_after_its_labels(
    tmp_path, monkeypatch, labels, settings, title
):
    page = _page(tmp_path, monkeypatch, settings, labels)
    shown = html.escape(title, quote=False)
    assert f"<title>{shown}</title>" in page
    assert f"<h1>{shown}</h1>" in page


def test_the_served_only_message_is_in_the_pages_language(tmp_path, monkeypatch):
    page = _page(tmp_path, monkeypatch, "lang: fr\n")
    assert "Cette page doit être servie en HTTP" in page
    assert "Lancez <code>tmbuild serve</code> dans le dossier du projet" in page
    assert "must be served over HTTP" not in page


def test_a_message_override_cannot_add_markup_to_the_served_only_text(tmp_path, monkeypatch):
    page = _page(
        tmp_path, monkeypatch, "messages:\n  served_only_how: '<b>run</b> {command} now'\n"
    )
    assert "&lt;b&gt;run&lt;/b&gt; <code>tmbuild serve</code> now" in page
