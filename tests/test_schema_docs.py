"""One schema: the docs reference, the example site.yaml and init's file are what it makes.

docs/configuration.md and the root site.yaml are committed, so they are compared with what
tmbuild.config.reference makes of the schema today; a failure names the command that makes
them again. The schema's defaults are checked against what load_config gives.
"""

from __future__ import annotations

import re
import shutil

import pytest
from conftest import ROOT, write_export

from tmbuild.config import reference
from tmbuild.config.load import load_config
from tmbuild.config.reference import EXAMPLE, REFERENCE_PAGE, REGENERATE, comment
from tmbuild.config.schema import DEFAULT_OUTPUT, SCHEMA, ModelConfig, SiteConfig, options
from tmbuild.scaffold import site_yaml


@pytest.mark.parametrize("path", [REFERENCE_PAGE, EXAMPLE], ids=str)
def test_the_committed_file_is_what_the_schema_makes(path):
    expected = reference.generated_files(ROOT)[ROOT / path]
    written = (ROOT / path).read_text(encoding="utf-8")
    assert written == expected, (
        f"{path} differs from what tmbuild/config/schema.py makes of it: run `{REGENERATE}` "
        "(edit the schema, not the file)"
    )


def test_the_command_says_what_differs_then_writes_it(tmp_path, capsys):
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "docs").mkdir()
    page = reference.reference_page()
    (tmp_path / REFERENCE_PAGE).write_text(page.replace("`0.05`", "`0.1`"), encoding="utf-8")
    example = reference.example_site_yaml((ROOT / EXAMPLE).read_text(encoding="utf-8"))
    (tmp_path / EXAMPLE).write_text(
        example.replace("title: Shape sorter", "title: Shape sorted").replace(
            "top_k: 3", "top_k: 5"
        ),
        encoding="utf-8",
    )
    assert reference.main(["--root", str(tmp_path)]) == 1
    assert capsys.readouterr().out == (
        f"{REFERENCE_PAGE}: differs from the schema; run {REGENERATE}\n"
    )

    # A value changed by hand is the example's own; an edited comment is out of date.
    edited = (tmp_path / EXAMPLE).read_text(encoding="utf-8").replace("the page\n", "it\n", 1)
    (tmp_path / EXAMPLE).write_text(edited, encoding="utf-8")
    assert reference.main(["--root", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{REFERENCE_PAGE}: differs from the schema; run {REGENERATE}",
        f"{EXAMPLE}: differs from the schema; run {REGENERATE}",
    ]

    assert reference.main(["--root", str(tmp_path), "--write"]) == 0
    assert capsys.readouterr().out == f"Wrote {REFERENCE_PAGE}\nWrote {EXAMPLE}\n"
    assert (tmp_path / REFERENCE_PAGE).read_text(encoding="utf-8") == page
    rewritten = (tmp_path / EXAMPLE).read_text(encoding="utf-8")
    assert re.search(r"\ntitle: Shape sorted\n", rewritten)
    assert re.search(r"\n  top_k: 5 +# predictions listed on the page\n", rewritten)
    assert reference.main(["--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""


def test_the_command_refuses_a_folder_that_is_not_a_checkout(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        reference.main(["--root", str(tmp_path), "--write"])
    assert exit.value.code == 2
    assert f"{tmp_path}: not a tmbuild checkout; pass --root" in capsys.readouterr().err


def test_an_example_key_that_is_no_option_is_refused(tmp_path, capsys):
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / EXAMPLE).write_text("titel: Mine\nmodel: {path: m, quantise: uint8}\n")
    assert reference.main(["--root", str(tmp_path), "--write"]) == 1
    assert capsys.readouterr().err == (
        f"{EXAMPLE}: not options of site.yaml: titel, model.quantise\n"
    )
    assert not (tmp_path / REFERENCE_PAGE).exists()


def test_an_empty_site_yaml_gives_the_schemas_defaults(tmp_path):
    export = write_export(tmp_path / "m")
    (tmp_path / "site.yaml").write_text("", encoding="utf-8")
    config, warnings = load_config(tmp_path / "site.yaml", {"model_path": export})
    assert warnings == []
    assert config == SiteConfig(
        model=ModelConfig(path=export),
        output=tmp_path / DEFAULT_OUTPUT,
        config_path=tmp_path / "site.yaml",
        root=tmp_path,
    )

    # Every default as the docs show it ("Every option at its default") reads back the same.
    every_default = {
        name: {key: option.default for key, option in spec.items()}
        if isinstance(spec, dict)
        else spec.default
        for name, spec in SCHEMA.items()
    }
    every_default["model"]["path"] = "m"
    (tmp_path / "site.yaml").write_text(reference.site_yaml(every_default, defaults=False))
    assert load_config(tmp_path / "site.yaml") == (config, [])


def test_every_option_is_described_in_the_docs_and_in_inits_file():
    page = (ROOT / REFERENCE_PAGE).read_text(encoding="utf-8")
    # Comments wrapped onto several lines read as one.
    scaffold = re.sub(r"\n[# ]*# ", " ", site_yaml(None, "my_model", templates=False))
    for dotted, option in options():
        assert re.search(rf"^\| `{re.escape(dotted)}` \| .+ \|$", page, re.MULTILINE), dotted
        assert comment(option) in scaffold, dotted
