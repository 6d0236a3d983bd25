"""Labels, model names, titles and sample names are untrusted text: shown, never run.

A site is built twice from the same templates: once with hostile text everywhere a user's text
goes, once with plain words. The two pages must have the very same elements (nothing injected),
the hostile text must come back exactly (unicode intact) from the HTML and from the JSON
configuration, `{{ 7*7 }}` must stay text, and every file and URL name must stay plain ASCII.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import ROOT, write_export
from harness import run_cli

LABELS = [
    "<img src=x onerror=alert(1)>",
    "{{ 7*7 }}",
    "</script><script>alert(1)</script>",
    "\"quotes' & <!-- not a comment",
    "مرحبا \u202eRTL override",
    "🐱 猫 çà\u2028line separator",
]
TITLE = "</title><script>alert(1)</script>{% raw %}"
DESCRIPTION = '" onmouseover="alert(1)'
MODEL_NAME = "../../<b>evil</b>"
SAMPLE = '"><svg onload=alert(1)> 猫'
SAFE_PATH = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
# A template that puts every piece of user text into HTML, where autoescaping must hold.
TEMPLATE = """{% extends "default:index.html" %}
{% block main %}
{{ super() }}
<ul id="labels">{% for label in model.labels %}<li>{{ label }}</li>{% endfor %}</ul>
<p id="model-name" data-name="{{ model.name }}">{{ model.name }}</p>
{% endblock %}
"""


class _Page(HTMLParser):
    """A page's start tags (with attribute names), its title and its #labels items, as text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.labels: list[str] = []
        self.title = ""
        self._in: str | None = None
        self._in_labels = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, tuple(sorted(name for name, _ in attrs))))
        self._in = tag
        self._in_labels |= ("id", "labels") in attrs
        if tag == "li" and self._in_labels:
            self.labels.append("")

    def handle_endtag(self, tag):
        self._in = None
        self._in_labels &= tag != "ul"

    def handle_data(self, data):
        if self._in == "li" and self._in_labels:
            self.labels[-1] += data
        elif self._in == "title":
            self.title += data


def _build(root: Path, labels: list[str], title: str, description: str, model: str, sample: str):
    root.mkdir()
    export = write_export(root / "m", labels=labels)
    metadata = json.loads((export / "metadata.json").read_text(encoding="utf-8"))
    metadata["modelName"] = model
    (export / "metadata.json").write_text(json.dumps(metadata, ensure_ascii=False), "utf-8")
    (root / "samples").mkdir()
    image = next((ROOT / "examples" / "samples").glob("*.png"))
    (root / "samples" / f"{sample}.png").write_bytes(image.read_bytes())
    (root / "templates").mkdir()
    (root / "templates" / "index.html").write_text(TEMPLATE, encoding="utf-8")
    site = (
        f"title: {json.dumps(title)}\ndescription: {json.dumps(description)}\n"
        "model:\n  path: m\nsamples: samples\ntemplates: templates\noutput: dist\n"
    )
    (root / "site.yaml").write_text(site, encoding="utf-8")
    result = run_cli(["build", "-c", str(root / "site.yaml")])
    assert result.exit_code == 0, result.output
    return root / "dist"


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("untrusted")
    hostile = _build(folder / "hostile", LABELS, TITLE, DESCRIPTION, MODEL_NAME, SAMPLE)
    plain = [f"class {index}" for index in range(len(LABELS))]
    benign = _build(folder / "plain", plain, "Title", "About", "model", "sample")
    return hostile, benign


def _page(site: Path) -> str:
    return (site / "index.html").read_text(encoding="utf-8")


def test_nothing_is_injected_into_the_page(sites):
    hostile, benign = sites
    # Same elements with the same attributes, in the same order: no text became markup.
    assert _Page(_page(hostile)).tags == _Page(_page(benign)).tags
    page = _page(hostile)
    for raw in ("<img src=x", "<script>alert(1)", "<svg onload", 'onmouseover="', "<b>evil"):
        assert raw not in page


def test_text_comes_back_exactly_from_the_html(sites):
    parsed = _Page(_page(sites[0]))
    # Unicode (Arabic, RTL override, emoji, CJK, U+2028) survives; {{ 7*7 }} is not evaluated.
    assert parsed.labels == LABELS
    assert parsed.title == TITLE
    assert "<li>{{ 7*7 }}</li>" in _page(sites[0])
    assert "&lt;img src=x onerror=alert(1)&gt;" in _page(sites[0])


def test_the_json_configuration_cannot_be_broken_out_of(sites):
    page = _page(sites[0])
    # Everything up to the first </script> is the configuration: a label's </script> would cut
    # it short and fail to parse.
    match = re.search(r'<script type="application/json" id="tmbuild-config">(.*?)</script>', page)
    config = json.loads(match.group(1))
    assert config["model"]["labels"] == LABELS
    assert "<" not in match.group(1) and "\u2028" not in match.group(1)


def test_file_and_url_names_stay_plain(sites):
    hostile = sites[0]
    paths = [p.relative_to(hostile).as_posix() for p in hostile.rglob("*") if p.is_file()]
    assert paths and all(SAFE_PATH.fullmatch(path) for path in paths), paths
    [model_dir] = {p.rsplit("/", 1)[0] for p in paths if p.startswith("models/")}
    assert re.fullmatch(r"models/b-evil-b/v1-[0-9a-f]{8}", model_dir)
    sample = re.compile(r"assets/samples/svg-onload-alert-1\.[0-9a-f]{12}\.png")
    assert any(sample.fullmatch(path) for path in paths)
    config = json.loads(re.search(r'id="tmbuild-config">(.*?)</script>', _page(hostile)).group(1))
    assert config["model"]["url"] == f"/{model_dir}/model.json"
    # The labels travel with the model, as JSON, exactly.
    metadata = json.loads((hostile / model_dir / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["labels"] == LABELS
    manifest = json.loads((hostile / "tmbuild-manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"]["labels"] == LABELS


@pytest.mark.browser
def test_the_page_shows_hostile_labels_as_text_in_chromium(sites):
    from support.browser import chromium, serve_site

    with serve_site(sites[0]) as url, chromium() as context:
        page = context.new_page()
        dialogs: list[str] = []  # an alert() that ran would land here
        problems: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(url + "/")
        assert page.evaluate("window.tmbuild.ready")["labels"] == LABELS
        page.click(".sample >> nth=0")
        page.wait_for_selector("tm-result .verdict:not(:empty)")
        verdict = page.text_content("tm-result .verdict")
        assert any(verdict in (label, f"Not sure ({label}?)") for label in LABELS), verdict
        shown = page.eval_on_selector_all("tm-result li", "items => items.length")
        assert shown == 3  # top_k, each label in its own element
        assert page.title() == TITLE
        assert (dialogs, problems) == ([], [])
