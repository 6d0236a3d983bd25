"""The page's contract: designers' templates that remove, repeat or move its parts, in Chromium.

Each part of index.html (a custom element such as <tm-result>, or a static message) works on
its own: without it its feature is gone and nothing else breaks; twice, both copies work.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ROOT
from support.browser import chromium, serve_site

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.page.render import builtin_templates_dir

pytestmark = pytest.mark.browser

SAMPLES = ROOT / "examples" / "samples"
# The default index.html with what it includes in place: a designer's copy holds every part.
DEFAULT_INDEX = (builtin_templates_dir() / "index.html").read_text(encoding="utf-8")
for _included in ("status.html", "samples.html", "about.html"):
    DEFAULT_INDEX = DEFAULT_INDEX.replace(
        f'{{% include "{_included}" %}}',
        (builtin_templates_dir() / _included).read_text(encoding="utf-8"),
    )
PARTS = [
    "tm-loading",
    "tm-load-error",
    "tm-notice",
    "tm-error",
    "tm-upload",
    "tm-webcam",
    "tm-preview",
    "tm-result",
    "tm-backend",
    "tm-offline",
    'p id="served-only"',
    'p id="script-failed"',
    "samples",
]


def _without(part: str) -> str:
    """The default index.html without one of its parts."""
    if part == "samples":
        pattern = r'<section class="samples">.*?</section>'
    elif part.startswith("p id="):
        pattern = rf"<{part}.*?</p>"
    else:
        pattern = rf"<{part}\b.*?</{part}>"
    comment, main = DEFAULT_INDEX.split("{% block main %}")  # the comment names every part
    main, count = re.subn(pattern, "", main, flags=re.DOTALL)
    assert count == 1, part
    return comment + "{% block main %}" + main


def _site(tmp_path: Path, index: str | None = None, lang: str | None = None, **classifier):
    templates = tmp_path / "templates"
    if index is not None:
        templates.mkdir(parents=True)
        (templates / "index.html").write_text(index, encoding="utf-8")
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path / "dist"})
    config = replace(config, templates=templates if index is not None else None)
    if classifier:
        config = replace(config, classifier=replace(config.classifier, **classifier))
    if lang is not None:
        config = replace(config, lang=lang)
    build(config)
    return tmp_path / "dist"


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return problems


def _upload(page, name: str = "star-1.png") -> None:
    page.set_input_files("tm-upload input[type=file] >> nth=0", SAMPLES / name)


@pytest.fixture(scope="module")
def context():
    with chromium() as browser:
        yield browser


@pytest.mark.parametrize("part", PARTS)
def test_a_page_without_a_part_keeps_every_other_feature(tmp_path, context, part):
    site = _site(tmp_path, _without(part))
    with serve_site(site) as url:
        page = context.new_page()
        problems = _watch(page)
        page.goto(url + "/")
        assert page.evaluate("window.tmbuild.ready")["labels"]
        assert not page.is_visible("tm-loading")
        if part == "tm-upload":
            page.click(".sample >> nth=0")
        else:
            _upload(page)
        if part != "tm-result":
            page.wait_for_selector("tm-result .verdict:not(:empty)")
        if part not in ("tm-preview", "tm-upload", "samples"):
            page.wait_for_selector("tm-preview img[src]")
        if part != "tm-webcam":
            assert page.is_enabled("tm-webcam button >> nth=0")
        if part != "tm-backend":
            assert page.is_visible("tm-backend summary")
        assert problems == [], problems
        page.close()


def test_without_the_retry_part_a_failed_load_still_says_so(tmp_path, context):
    site = _site(tmp_path, _without("tm-load-error"))
    with serve_site(site) as url:
        page = context.new_page()
        problems = _watch(page)
        page.route("**/group1-shard*.bin", lambda route: route.abort("internetdisconnected"))
        page.goto(url + "/")
        page.locator("tm-error").wait_for()
        # No "Loading model…" for ever: the loading bar goes, and the error takes its place.
        assert not page.is_visible("tm-loading")
        assert page.inner_text("tm-error") == "Could not download the model. Check your connection."
        page.unroute("**/group1-shard*.bin")
        assert page.evaluate("window.tmbuild.retry()")["labels"]  # the API retries on its own
        assert [p for p in problems if "ERR_INTERNET_DISCONNECTED" not in p] == []
        page.close()


def test_without_any_part_the_engine_still_runs(tmp_path, context):
    empty = '{% extends "base.html" %}\n{% block main %}<p>Nothing here.</p>{% endblock %}\n'
    site = _site(tmp_path, empty)
    with serve_site(site) as url:
        page = context.new_page()
        problems = _watch(page)
        page.goto(url + "/")
        assert page.evaluate("window.tmbuild.ready")["backend"] == "wasm"
        assert problems == [], problems
        page.close()


REPEATED = (
    DEFAULT_INDEX.replace(
        '<section class="inputs">',
        # A second result, first on the page, showing the top label only; the error twice.
        '<tm-result top-k="1" class="first"></tm-result><tm-error></tm-error>'
        '<tm-loading></tm-loading><section class="inputs">',
    )
    .replace(
        # Upload moved below the results, and twice.
        "<tm-upload></tm-upload>",
        "",
    )
    .replace("</aside>", "</aside><tm-upload></tm-upload><tm-upload></tm-upload>")
)


def test_parts_repeated_and_moved_all_work(tmp_path, context):
    site = _site(tmp_path, REPEATED)
    with serve_site(site) as url:
        page = context.new_page()
        problems = _watch(page)
        page.goto(url + "/")
        page.evaluate("window.tmbuild.ready")
        assert page.locator("tm-loading:visible").count() == 0
        page.set_input_files("tm-upload >> nth=1 >> input[type=file]", SAMPLES / "star-1.png")
        page.wait_for_function(
            "() => [...document.querySelectorAll('tm-result .verdict')]"
            ".every((v) => v.textContent === 'star')"
        )
        assert page.locator("tm-result.first li").count() == 1  # its own top-k
        assert page.locator("tm-result:not(.first) li").count() == 3  # classifier.top_k
        # A part moved while the page runs keeps working where it lands.
        page.evaluate("document.body.prepend(document.querySelector('tm-result.first'))")
        _upload(page, "triangle-2.png")
        page.wait_for_function(
            "() => document.body.firstElementChild.querySelector('.verdict').textContent"
            " === 'triangle'"
        )
        notes = tmp_path / "notes.txt"
        notes.write_text("not an image")
        page.set_input_files("tm-upload >> nth=0 >> input[type=file]", notes)
        page.wait_for_function(
            "() => [...document.querySelectorAll('tm-error')].every((e) => !e.hidden)"
        )
        assert (
            page.locator("tm-error").all_inner_texts()
            == [f"{notes.name} is not an image: choose a photo or a picture file."] * 2
        )
        assert problems == [], problems
        page.close()


def test_result_bars_follow_the_pages_colours(tmp_path, context):
    site = _site(tmp_path)
    with serve_site(site) as url:
        page = context.new_page()
        page.goto(url + "/")
        page.evaluate("window.tmbuild.ready")
        # As a designer's style.css would (the CSP refuses a <style> added here).
        page.evaluate(
            "document.documentElement.style.setProperty('--tm-bar-confident', 'rgb(1, 2, 3)')"
        )
        page.click(".sample >> nth=0")
        page.wait_for_selector("tm-result[status=confident]")
        colour = page.eval_on_selector(
            "tm-result li .fill", "(fill) => getComputedStyle(fill).backgroundColor"
        )
        assert colour == "rgb(1, 2, 3)"
        page.close()


TOUCH_SCREEN = """(() => {
  const matchMedia = window.matchMedia.bind(window);
  window.matchMedia = (query) => query.includes("pointer: coarse")
    ? { matches: true, media: query, addEventListener() {}, removeEventListener() {} }
    : matchMedia(query);
})();"""


def test_a_touch_screen_is_not_asked_to_drop_or_paste(tmp_path, context):
    site = _site(tmp_path)
    with serve_site(site) as url:
        page = context.new_page()
        page.add_init_script(TOUCH_SCREEN)
        page.goto(url + "/")
        page.evaluate("window.tmbuild.ready")
        assert page.inner_text("tm-upload .tm-upload-hint") == (
            "Take a photo or pick one from this device."
        )
        assert page.inner_text("tm-upload label") == "Choose a photo"
        page.close()


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "ko",
            {
                "hint": "이미지를 여기에 끌어 놓거나 붙여 넣거나",
                "button": "이미지 선택",
                "samples": "예시 이미지로 해 보기",
                "about": "이 분류기 정보",
                "unsure": "확실하지 않음 (circle?)",
                "percent": "%",
            },
        ),
        (
            "pt",
            {
                "hint": "Solte uma imagem aqui, cole uma ou",
                "button": "Escolher uma imagem",
                "samples": "Experimente um exemplo",
                "about": "Sobre este classificador",
                "unsure": "Não tenho certeza (circle?)",
                "percent": ",",  # 98,9%
            },
        ),
    ],
)
def test_the_page_in_another_language(tmp_path, context, lang, words):
    # A threshold no prediction reaches: every verdict is "not sure".
    site = _site(tmp_path, lang=lang, threshold=1.0)
    with serve_site(site) as url:
        page = context.new_page()
        problems = _watch(page)
        page.goto(url + "/")
        assert page.get_attribute("html", "lang") == lang
        assert page.get_attribute("html", "dir") == "ltr"
        page.evaluate("window.tmbuild.ready")
        assert page.inner_text("tm-upload .tm-upload-hint") == words["hint"]
        assert page.inner_text("tm-upload label") == words["button"]
        assert page.inner_text(".samples h2") == words["samples"]
        assert page.inner_text("tm-backend summary") == words["about"]
        page.click(".sample >> nth=0")
        page.wait_for_selector("tm-result .verdict:not(:empty)")
        assert page.inner_text("tm-result .verdict") == words["unsure"]
        assert words["percent"] in page.inner_text("tm-result .percent >> nth=0")
        # The labels stay as the model has them.
        assert page.inner_text("tm-result .label >> nth=0") == "circle"
        assert "Drop an image" not in page.content()
        assert problems == [], problems
        page.close()


def test_a_language_without_a_table_reads_english(tmp_path, context):
    # Not even a tag the browser knows: the numbers fall back on the browser's own format.
    site = _site(tmp_path, lang="x_not-a-tag")
    with serve_site(site) as url:
        page = context.new_page()
        problems = _watch(page)
        page.goto(url + "/")
        page.evaluate("window.tmbuild.ready")
        assert page.inner_text("tm-upload label") == "Choose an image"
        page.click(".sample >> nth=0")
        page.wait_for_selector("tm-result .percent")
        assert problems == [], problems
        page.close()


def test_an_input_the_site_does_not_offer_stays_hidden(tmp_path, context):
    index = (
        '{% extends "base.html" %}{% block main %}'
        "<tm-upload></tm-upload><tm-webcam></tm-webcam><tm-result></tm-result>{% endblock %}"
    )
    site = _site(tmp_path, index, inputs=("upload",))
    with serve_site(site) as url:
        page = context.new_page()
        page.goto(url + "/")
        page.evaluate("window.tmbuild.ready")
        assert page.is_visible("tm-upload")
        assert not page.is_visible("tm-webcam")
        page.close()
