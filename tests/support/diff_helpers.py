"""Shared by the `tmbuild diff` tests: running the CLI, and the real builds it compares."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_export

from tmbuild.build import build
from tmbuild.cli import cli
from tmbuild.config.load import load_config
from tmbuild.page.render import builtin_templates_dir

LOGO = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"></svg>\n'
STYLE_ADDITION = "\n/* A designer's edit. */\n" + ".sample { outline: 0; }\n" * 40


def run(*args: str):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


@pytest.fixture(scope="module", name="sites")
def sites_fixture(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("diff")
    cat_dog = write_export(root / "cat-dog")
    cat_bird = write_export(root / "cat-bird", labels=["cat", "bird"])
    templates = root / "templates"
    (templates / "assets").mkdir(parents=True)
    style = (builtin_templates_dir() / "assets" / "style.css").read_text(encoding="utf-8")
    (templates / "assets" / "style.css").write_text(style + STYLE_ADDITION, encoding="utf-8")
    (templates / "assets" / "logo.svg").write_bytes(LOGO)

    def site(name: str, export: Path, **overrides) -> Path:
        config, _ = load_config(None, {"model_path": export, "output": root / name})
        build(replace(config, **overrides) if overrides else config)
        return root / name

    built = {
        "base": site("base", cat_dog),
        "same": site("same", cat_dog),
        "label": site("label", cat_bird),
        "template": site("template", cat_dog, templates=templates),
    }
    config, _ = load_config(
        None, {"model_path": cat_dog, "output": root / "float16", "quantize": "float16"}
    )
    build(config)
    built["float16"] = root / "float16"
    return built
