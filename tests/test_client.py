"""The client code: bundled from its modules, apart from the templates, in one message table."""

from __future__ import annotations

import logging
import re
from dataclasses import replace

import pytest
from conftest import ROOT

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.errors import TmbuildError
from tmbuild.hashes import sri
from tmbuild.model import kernels as model_kernels
from tmbuild.model import plan
from tmbuild.page.client import bundle, words
from tmbuild.page.render import builtin_templates_dir
from tmbuild.scaffold import scaffold

CLIENT = bundle.CLIENT_DIR
ENGINE_MODULES = ["engine.js", "errors.js", "image.js", "kernels.js", "kinds.js", "pose.js",
                  "runtime.js", "sound.js", "tfrunner.js", "webcam.js", "weights.js"]  # fmt: skip
# Each kind's own modules: what a site of another kind must not download.
KIND_CODE = {"audio": {"sound.js", "page-audio.js"}, "pose": {"pose.js", "page-pose.js"}}


def _build(tmp_path, templates=None):
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path / "dist"})
    build(replace(config, templates=templates))
    return tmp_path / "dist"


def _named(text: str) -> set[str]:
    """The modules a bundle names in its first line (page-pose.js holds "pose.js": whole names)."""
    return set(re.findall(r"(?<![\w-])[\w-]+\.js", text.splitlines()[0]))


@pytest.mark.parametrize("kind", ["image", "audio", "pose"])
def test_each_entry_bundles_its_modules_and_its_kinds_only(kind):
    engine = bundle.bundle("engine.js", kind).decode()
    page = bundle.bundle("page.js", kind).decode()
    other = set().union(*(code for name, code in KIND_CODE.items() if name != kind))
    assert set(ENGINE_MODULES) - other <= _named(engine)
    assert not set(ENGINE_MODULES) & _named(page)
    assert not other & (_named(engine) | _named(page))
    assert KIND_CODE.get(kind, set()) <= _named(engine) | _named(page)
    # Nor any of another kind's code: its registration, words or functions.
    signs = {"audio": ("registerKind(\"audio\"", "registerPageKind(\"audio\"", "createAnalyser",
                       "OfflineAudioContext", "_background_noise_", "mic_denied", "TmSpectrogram"),
             "pose": ("registerKind(\"pose\"", "registerPageKind(\"pose\"", "decodePose",
                      "\"leftAnkle\"", "TmSkeleton", "skeleton_label")}  # fmt: skip
    for name, marks in signs.items():
        for word in marks:
            assert (word in engine + page) == (name == kind), (kind, word)
    # The kind's modules register before the entry's body runs (engine.js starts the page's
    # classifier when it runs): bundled ahead of it.
    for text, own in ((engine, "registerKind("), (page, "registerPageKind(")):
        entry = text.index(
            "\n/* tmbuild's engine" if text is engine else "\n/* The page's behaviour"
        )
        assert kind == "image" or -1 < text.find(own + '"' + kind) < entry


def test_a_bundle_for_an_unknown_kind_is_refused():
    with pytest.raises(bundle.BundleError, match="sounds: not a kind of model"):
        bundle.bundle("engine.js", "sounds")


def test_the_engines_api_is_its_own_exports_only():
    engine = bundle.bundle("engine.js").decode()
    page = bundle.bundle("page.js").decode()
    # Only the entry's own exports remain: the API.
    exports = re.findall(r"^export (?:const|class|function) (\w+)", engine, re.MULTILINE)
    assert exports == [
        "ENGINE_API",
        "PLAN_FORMAT",
        "Classifier",
        "withBase",
        "createClassifier",
        "pageConfig",
    ]
    assert not re.search(r"^import\b", engine + page, re.MULTILINE)
    every = {path.name for path in CLIENT.glob("*.js")}
    assert every == set(ENGINE_MODULES) | {n for n in every if n.startswith("page")}


def test_no_module_is_much_over_400_lines():
    for path in CLIENT.glob("*.js"):
        assert len(path.read_text().splitlines()) <= 420, path.name


def test_the_formats_the_page_declares_are_the_engines():
    engine = (CLIENT / "engine.js").read_text()
    kernels = (CLIENT / "kernels.js").read_text()
    assert f"export const PLAN_FORMAT = {plan.PLAN_FORMAT};" in engine
    assert f"export const KERNELS_FORMAT = {model_kernels.KERNELS_FORMAT};" in kernels


def test_every_language_has_every_message_with_its_placeholders():
    table = words.message_table()
    assert set(table) >= {"en", "es", "pt", "fr", "de", "ko", "ja"}
    for lang, texts in table.items():
        assert list(texts) == list(table["en"]), lang
        for key, text in texts.items():
            wanted = set(re.findall(r"\{\w+\}", table["en"][key]))
            assert set(re.findall(r"\{\w+\}", text)) == wanted, (lang, key)


def test_messages_fall_back_by_language_then_on_english():
    assert words.messages("pt-BR")["retry"] == "Tentar novamente"
    assert words.messages("xx")["retry"] == "Retry"
    assert words.messages("ko", {"retry": "다시"})["retry"] == "다시"
    assert words.text_direction("ar") == "rtl" and words.text_direction("ko") == "ltr"


def test_every_message_is_used_and_every_word_shown_comes_from_the_table():
    used = set()
    for path in CLIENT.glob("page*.js"):
        used |= set(re.findall(r'"(\w+)"', path.read_text()))
    for path in builtin_templates_dir().glob("*.html"):
        used |= set(re.findall(r"messages\.(\w+)", path.read_text()))
    dynamic = {"runs_on_webgl", "runs_on_wasm", "runs_on_cpu"}  # t("runs_on_" + backend)
    # The build's title (words.default_title), an image, audio or pose model's.
    dynamic |= {"default_title", "default_title_many"}
    dynamic |= {"default_title_audio", "default_title_many_audio"}
    dynamic |= {"default_title_pose", "default_title_many_pose"}
    assert set(words.message_table()["en"]) - used - dynamic == set()
    # The engine says nothing to visitors: none of the table's words are in it.
    literals = " | ".join(re.findall(r'"((?:[^"\\\n]|\\.)*)"', bundle.bundle("engine.js").decode()))
    for text in words.message_table()["en"].values():
        longest = max(text.split("{"), key=len)[:24]
        assert longest not in literals, text


def test_the_page_loads_its_scripts_by_hashed_name_with_integrity(tmp_path):
    site = _build(tmp_path)
    html = (site / "index.html").read_text()
    for name in ("engine", "page"):
        [path] = (site / "assets").glob(f"{name}.*.js")
        integrity = sri(path.read_bytes())
        assert f'<script type="module" src="/assets/{path.name}" integrity="{integrity}"' in html
    assert '<link rel="modulepreload" href="/assets/engine.' in html
    assert not list((site / "assets").glob("app.*"))


@pytest.mark.parametrize("name", ["engine.js", "page.js", "kernels.js", "messages.json"])
def test_a_template_cannot_replace_the_engine(tmp_path, name):
    templates = tmp_path / "templates"
    (templates / "assets").mkdir(parents=True)
    (templates / "assets" / name).write_text("// mine\n")
    with pytest.raises(TmbuildError, match=rf"templates/assets/{re.escape(name)}: replaces "):
        _build(tmp_path, templates)


def test_a_copy_of_the_former_page_script_is_named_and_left_out(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("tmbuild"), "propagate", True)
    templates = tmp_path / "templates"
    (templates / "assets").mkdir(parents=True)
    (templates / "assets" / "app.js").write_text("/* tmbuild client: loads the model */\n")
    with caplog.at_level(logging.WARNING, logger="tmbuild"):
        site = _build(tmp_path, templates)
    [warning] = {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
    assert "templates/assets/app.js: a copy of tmbuild's former page script" in warning
    assert not list((site / "assets").glob("app.*"))


def test_init_templates_copies_no_client_code(tmp_path):
    scaffold(tmp_path / "site", templates=True)
    copied = {path.name for path in (tmp_path / "site" / "templates").rglob("*") if path.is_file()}
    assert copied & {*bundle.client_files(), "app.js"} == set()
    assert {name for name in copied if name.endswith(".js")} == {"sw.js"}


def _warnings(caplog) -> list[str]:
    # A set first: after the CLI tests have set up the tmbuild logger, a record can arrive twice.
    return sorted({r.getMessage() for r in caplog.records if r.levelno == logging.WARNING})


def test_the_default_page_keeps_its_contract(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("tmbuild"), "propagate", True)
    with caplog.at_level(logging.WARNING, logger="tmbuild"):
        _build(tmp_path)
    assert _warnings(caplog) == []


def test_a_template_that_breaks_the_contract_is_warned_about_part_by_part(
    tmp_path, caplog, monkeypatch
):
    monkeypatch.setattr(logging.getLogger("tmbuild"), "propagate", True)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "index.html").write_text(
        '{% extends "base.html" %}{% block main %}<tm-upload></tm-upload>'
        '<tm-reslt></tm-reslt><p id="verdict"></p>{% endblock %}'
    )
    with caplog.at_level(logging.WARNING, logger="tmbuild"):
        _build(tmp_path, templates)
    shown = str(templates / "index.html")
    assert _warnings(caplog) == [
        f"{shown}: <tm-reslt> is not one of tmbuild's elements (tm-loading, tm-load-error, "
        "tm-backend, tm-error, tm-notice, tm-upload, tm-webcam, tm-preview, tm-result, "
        "tm-offline, tm-microphone, tm-spectrogram, tm-timeline, tm-skeleton, tm-classifier); "
        "it shows nothing",
        f"{shown}: has no <tm-result>: results are shown nowhere on the page",
        f'{shown}: id="verdict" is from tmbuild\'s former page script and is no longer filled '
        "in; use <tm-result> (the verdict and the bars)",
    ]


def test_a_page_without_the_engine_is_warned_about(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("tmbuild"), "propagate", True)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "index.html").write_text("<!doctype html><tm-result></tm-result>\n")
    with caplog.at_level(logging.WARNING, logger="tmbuild"):
        _build(tmp_path, templates)
    shown = str(templates / "index.html")
    assert _warnings(caplog) == [
        f"{shown}: does not load the engine ({{{{ scripts.engine.url }}}}): nothing classifies",
        f'{shown}: has no <script type="application/json" id="tmbuild-config"> '
        "({{ client_config | json_script }}): the classifier cannot start",
        f"{shown}: uses <tm-result> but does not load the page's elements "
        "({{ scripts.page.url }}): they stay empty",
    ]


def test_an_input_the_site_does_not_offer_is_warned_about(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("tmbuild"), "propagate", True)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "index.html").write_text(
        '{% extends "base.html" %}{% block main %}<tm-webcam></tm-webcam>'
        "<tm-result></tm-result>{% endblock %}"
    )
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path / "dist"})
    classifier = replace(config.classifier, inputs=("upload",))
    with caplog.at_level(logging.WARNING, logger="tmbuild"):
        build(replace(config, templates=templates, classifier=classifier))
    shown = str(templates / "index.html")
    assert _warnings(caplog) == [
        f"{shown}: <tm-webcam> stays hidden: classifier.inputs in site.yaml does not offer webcam",
        f"{shown}: has no <tm-upload>, <tm-webcam> or data-tm-sample: visitors cannot give it "
        "an image (fine if the page's own script calls window.tmbuild.classify)",
    ]


def test_a_message_key_the_page_does_not_have_is_named(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("tmbuild"), "propagate", True)
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path / "dist"})
    config = replace(config, messages=(("retyr", "Again"), ("retry", "Once more")))
    with caplog.at_level(logging.WARNING, logger="tmbuild"):
        build(config)
    assert _warnings(caplog) == [
        "messages: 'retyr' is not a word of the page (did you mean 'retry'?); it changes nothing"
    ]
    assert "Once more" in (tmp_path / "dist" / "index.html").read_text()
