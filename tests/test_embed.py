"""Embedding (embed: element and iframe) in Chromium: the snippet in other sites' pages.

Each host page is a plain folder served by a plain static server, as a team's own site would
be: the classifier's folder copied into it, its two lines pasted in.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, real_export
from support.browser import _Handler, chromium, run_server, serve_site

from tmbuild.build import build
from tmbuild.cli import cli
from tmbuild.config.load import load_config
from tmbuild.page.embed import ENTRY_NAME

pytestmark = pytest.mark.browser

SAMPLES = ROOT / "examples" / "samples"
# The host-page CSP the docs give (docs/embedding.md): nothing inline, nothing from elsewhere.
STRICT_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self' blob: data:; media-src 'self' blob: mediastream:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'"
)
# Every CSP violation of the page and its frames, kept for the test to read.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""
# The classifier of a <tm-classifier>, once ready: its info.
READY = """async (selector) => {
  const element = document.querySelector(selector);
  for (let i = 0; i < 200 && !element.classifier; i++) await new Promise((r) => setTimeout(r, 25));
  return element.classifier.ready;
}"""


def build_embed(tmp_path: Path, export: Path, output: Path, quantize: str = "none", **site) -> Path:
    lines = [f"model: {{path: '{export}', quantize: {quantize}}}", f"output: '{output}'"]
    lines += [f"{key}: {value}" for key, value in site.items()]
    site_yaml = tmp_path / f"site-{output.name}.yaml"
    site_yaml.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config, _ = load_config(site_yaml, {})
    build(config)
    return output


def host_page(folder: Path, body: str, head: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>A blog</title>"
        f"<link rel='icon' href='data:,'>{head}</head><body><h1>My blog</h1>{body}</body></html>",
        encoding="utf-8",
    )


def snippet(src: str, name: str = "shapes") -> str:
    return (
        f'<script type="module" src="{src}"></script><tm-classifier name="{name}"></tm-classifier>'
    )


def handler_with(headers: dict[str, str]) -> type:
    class Host(_Handler):
        rules = [("/*", list(headers.items()))]

    return Host


@pytest.fixture(scope="module")
def context():
    with chromium() as context:
        context.add_init_script(RECORD_VIOLATIONS)
        yield context


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    """The example model as an embeddable folder, built once."""
    tmp = tmp_path_factory.mktemp("embed")
    return build_embed(tmp, ROOT / "examples" / "shapes", tmp / "shapes", embed="{mode: element}")


def open_page(context, url: str):
    page = context.new_page()
    errors: list[str] = []
    # Errors, and Chromium's warning about a preload nothing used (tmbuild.js preloads weights).
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" or (m.type == "warning" and "preload" in m.text)
            else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page, errors


def upload(page, selector: str, image: Path) -> str:
    scope = page.locator(selector)
    scope.locator("tm-upload input[type=file]").set_input_files(image)
    # A locator: a host page under a strict CSP forbids the eval wait_for_function may need.
    verdict = scope.locator("tm-result .verdict:not(:empty)")
    verdict.wait_for()
    return verdict.text_content()


def copy_into(embed: Path, folder: Path) -> Path:
    shutil.copytree(embed, folder)
    return folder


def test_a_plain_html_page_shows_the_classifier_with_the_snippet(context, shapes, tmp_path):
    host = tmp_path / "host"
    copy_into(shapes, host / "classifier")
    host_page(host, "<p>Draw a shape, then show it.</p>" + snippet("/classifier/tmbuild.js"))
    with run_server(_Handler, host) as url:
        page, errors = open_page(context, url + "/")
        info = page.evaluate(READY, "tm-classifier")
        assert info["labels"] == ["circle", "square", "triangle", "star", "background"]
        assert info["runner"] == "kernels"
        assert upload(page, "tm-classifier", SAMPLES / "star-1.png") == "star"
        # The default parts, in the page's words; the site's own heading is untouched.
        assert page.locator("tm-classifier tm-result li").count() == 3
        assert page.text_content("h1") == "My blog"
        assert page.get_attribute("tm-classifier", "lang") == "en"
        assert page.evaluate("window.tmbuild === undefined")  # no page-wide classifier
        assert errors == [] and page.evaluate("window.cspViolations") == []
        page.close()


def test_the_snippet_works_under_a_strict_host_csp(context, shapes, tmp_path):
    host = tmp_path / "host"
    copy_into(shapes, host / "classifier")
    host_page(host, snippet("/classifier/tmbuild.js"))
    with run_server(handler_with({"Content-Security-Policy": STRICT_CSP}), host) as url:
        page, errors = open_page(context, url + "/")
        page.evaluate(READY, "tm-classifier")
        assert upload(page, "tm-classifier", SAMPLES / "circle-1.png") == "circle"
        assert page.evaluate("window.cspViolations") == []
        assert errors == []
        # The stylesheet applied: the bars have their width from the custom property.
        width = page.evaluate(
            "getComputedStyle(document.querySelector('tm-classifier .fill')).width"
        )
        assert width != "auto" and float(width.removesuffix("px")) > 10
        page.close()


def test_two_classifiers_of_two_models_on_one_page(context, shapes, tmp_path):
    other = build_embed(
        tmp_path,
        real_export("official-2class"),
        tmp_path / "people",
        embed="{mode: element, name: people}",
        lang="pt",
    )
    host = tmp_path / "host"
    copy_into(shapes, host / "tm" / "shapes")
    copy_into(other, host / "tm" / "people")
    host_page(
        host,
        snippet("/tm/shapes/tmbuild.js", "shapes") + snippet("/tm/people/tmbuild.js", "people"),
    )
    with run_server(_Handler, host) as url:
        page, errors = open_page(context, url + "/")
        first = page.evaluate(READY, "tm-classifier[name=shapes]")
        second = page.evaluate(READY, "tm-classifier[name=people]")
        assert first["labels"][0] == "circle" and second["labels"] == ["Class 1", "Class 2"]
        assert upload(page, "tm-classifier[name=shapes]", SAMPLES / "square-2.png") == "square"
        # The other classifier showed nothing of it, and speaks its own language.
        assert page.text_content("tm-classifier[name=people] tm-result .verdict") == ""
        assert page.get_attribute("tm-classifier[name=people]", "lang") == "pt"
        button = page.text_content("tm-classifier[name=people] tm-upload label")
        assert "imagem" in button.lower()
        people = upload(page, "tm-classifier[name=people]", SAMPLES / "star-1.png")
        assert re.search(r"Class [12]", people)
        assert page.text_content("tm-classifier[name=shapes] tm-result .verdict") == "square"
        assert errors == []
        page.close()


def test_a_host_page_on_a_sub_path_and_the_folder_elsewhere(context, shapes, tmp_path):
    host = tmp_path / "host"
    copy_into(shapes, host / "static" / "classifiers" / "shapes")
    # A relative src from a page three folders down, as a static site generator writes it.
    host_page(
        host / "blog" / "2026" / "shapes", snippet("../../../static/classifiers/shapes/tmbuild.js")
    )
    with run_server(_Handler, host) as url:
        page, errors = open_page(context, url + "/blog/2026/shapes/")
        info = page.evaluate(READY, "tm-classifier")
        assert info["labels"][0] == "circle"
        assert upload(page, "tm-classifier", SAMPLES / "triangle-1.png") == "triangle"
        assert errors == []
        page.close()


def test_a_rebuild_does_not_break_the_snippet(context, tmp_path):
    host = tmp_path / "host"
    folder = host / "classifier"
    build_embed(tmp_path, ROOT / "examples" / "shapes", folder, embed="{mode: element}")
    before = (folder / ENTRY_NAME).read_text(encoding="utf-8")
    host_page(host, snippet("/classifier/tmbuild.js"))
    with serve_site(host) as url:  # the classifier's own _headers do not apply: the site's
        page, errors = open_page(context, url + "/")
        page.evaluate(READY, "tm-classifier")
        first_model = page.evaluate(
            "document.querySelector('tm-classifier').classifier.config.model.url"
        )
        # A new model format: every hashed name changes, the entry's does not.
        build_embed(
            tmp_path,
            ROOT / "examples" / "shapes",
            folder,
            quantize="float16",
            embed="{mode: element}",
        )
        assert (folder / ENTRY_NAME).read_text(encoding="utf-8") != before
        page.reload()
        info = page.evaluate(READY, "tm-classifier")
        second_model = page.evaluate(
            "document.querySelector('tm-classifier').classifier.config.model.url"
        )
        assert second_model != first_model
        assert info["labels"][0] == "circle"
        assert upload(page, "tm-classifier", SAMPLES / "star-2.png") == "star"
        assert errors == []
        page.close()


def test_the_entry_is_revalidated_and_the_rest_immutable(shapes):
    headers = (shapes / "_headers").read_text(encoding="utf-8")
    assert re.search(r"^/tmbuild\.js\n  Cache-Control: no-cache$", headers, re.MULTILINE)
    assert "/assets/*\n  Cache-Control: public, max-age=31536000, immutable" in headers
    assert "Access-Control-Allow-Origin: *" in headers  # other sites' pages load it
    entry = (shapes / ENTRY_NAME).read_text(encoding="utf-8")
    imported = re.findall(r'^const \w+ = import\("\./(assets/[^"]+)"\);$', entry, re.MULTILINE)
    assert len(imported) == 2 and all((shapes / path).is_file() for path in imported)


def test_an_iframe_is_shown_only_on_the_sites_frame_ancestors_names(context, tmp_path):
    host = tmp_path / "host"
    with run_server(_Handler, host) as allowed, run_server(_Handler, tmp_path / "other") as other:
        site = build_embed(
            tmp_path,
            ROOT / "examples" / "shapes",
            tmp_path / "framed",
            embed="{mode: iframe}",
            csp=f"{{frame_ancestors: ['{allowed}']}}",
        )
        html = (site / "index.html").read_text(encoding="utf-8")
        assert "site-header" not in html and "site-footer" not in html
        with serve_site(site) as framed:
            frame = f'<iframe src="{framed}/" allow="camera" width="600" height="700"></iframe>'
            host_page(host, frame)
            host_page(tmp_path / "other", frame)
            page, errors = open_page(context, allowed + "/")
            inner = page.frame_locator("iframe")
            inner.locator("tm-upload").wait_for()
            child = page.frames[1]
            assert child.evaluate("window.tmbuild.ready")["labels"][0] == "circle"
            child.set_input_files("tm-upload input[type=file]", SAMPLES / "circle-2.png")
            # A locator, not wait_for_function: the framed page's CSP forbids eval, which
            # Playwright's polling of a string expression needs.
            child.locator("tm-result .verdict:not(:empty)").wait_for()
            assert child.text_content("tm-result .verdict") == "circle"
            page.close()
            refused, _ = open_page(context, other + "/")
            # The frame's navigation ends in Chromium's error page; on a busy machine it takes
            # a while, so wait for it (10 s at most) rather than for a fixed time.
            for _ in range(100):
                if len(refused.frames) > 1 and refused.frames[1].url.startswith("chrome-error:"):
                    break
                refused.wait_for_timeout(100)
            assert refused.frames[1].url.startswith("chrome-error:")
            assert refused.frames[1].url != framed + "/"
            refused.close()


def test_the_build_says_how_to_show_the_classifier(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli,
        ["build", "--model", str(ROOT / "examples" / "shapes"), "--embed", "-o", "out"]
        + ["--base-url", "/classifiers/shapes/"],
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-2:] == [
        '  <script type="module" src="/classifiers/shapes/tmbuild.js"></script>',
        '  <tm-classifier name="shapes"></tm-classifier>',
    ]
    assert (tmp_path / "out" / ENTRY_NAME).is_file()


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        ("embed: {mode: element}\noffline: true\n", "element cannot be combined with offline"),
        ("embed: {mode: element}\nsingle_file: true\n", "element cannot be combined with single"),
        ("embed: {mode: iframe}\n", "iframe needs csp.frame_ancestors"),
        ("embed: {name: 'two words'}\n", "embed.name: expected a name of letters, digits"),
    ],
)
def test_an_embedding_that_cannot_work_is_refused_in_one_line(tmp_path, settings, line):
    site = tmp_path / "site.yaml"
    site.write_text(f"model: {{path: '{ROOT / 'examples' / 'shapes'}'}}\n{settings}")
    result = CliRunner().invoke(cli, ["check", "-c", str(site)])
    assert result.exit_code == 1
    [error] = result.output.splitlines()
    assert error.startswith("Error: ") and line in error, error
