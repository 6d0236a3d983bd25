"""`tmbuild init`: a commented site.yaml that loads cleanly and builds; templates to edit."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import write_export

from tmbuild.cli import cli
from tmbuild.config.load import _SCHEMA, load_config
from tmbuild.config.reference import yaml_scalar
from tmbuild.errors import ConfigError
from tmbuild.page.render import builtin_templates_dir
from tmbuild.scaffold import site_yaml

# A commented-out option: `# key: value` at the top, `#   key:` in a commented-out section,
# `  # key:` in a section that is not commented out. Explanations never start with `key:`.
COMMENTED_OPTION = re.compile(r"^( *)# ( *[a-z_]+:(?: .*)?)$", re.MULTILINE)


def run(*args: str):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def _options(schema: dict, prefix: str = "") -> set[str]:
    names = set()
    for name, spec in schema.items():
        if isinstance(spec, dict):
            names |= _options(spec, f"{prefix}{name}.")
        else:
            names.add(prefix + name)
    return names


def _keys(mapping: dict, prefix: str = "") -> set[str]:
    names = set()
    for name, value in mapping.items():
        if isinstance(value, dict) and value:  # an empty one is a value: eval.aliases: {}
            names |= _keys(value, f"{prefix}{name}.")
        else:
            names.add(prefix + name)
    return names


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and not any(part.startswith((".", "__")) for part in path.relative_to(folder).parts)
    }


def _zip_export(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"my_model/{path.name}")
    return target


def test_init_with_model_then_build(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_export(tmp_path / "exports" / "cats")
    result = run("init", "--model", "exports/cats")
    assert result.exit_code == 0, result.output
    assert result.output == "Created site.yaml\nmodel.path: exports/cats\nNext: tmbuild build\n"
    config, warnings = load_config(Path("site.yaml"))
    assert warnings == []
    assert config.model.path == tmp_path / "exports" / "cats"
    assert config.title is None  # the page names itself from the labels
    assert config.output == tmp_path / "dist"

    built = run("build", "--strict")
    assert built.exit_code == 0, built.output
    assert (tmp_path / "dist" / "index.html").is_file()


def test_every_option_is_documented_with_its_default(tmp_path):
    """Uncomment every option of the generated file: it must load to exactly the defaults."""
    write_export(tmp_path / "my_model")
    config_file = tmp_path / "site.yaml"
    text = site_yaml(None, "my_model", templates=False)
    config_file.write_text(text, encoding="utf-8")
    as_written, warnings = load_config(config_file)
    assert warnings == []

    uncommented = COMMENTED_OPTION.sub(r"\1\2", text)
    assert uncommented.count("\n") == text.count("\n")
    assert _keys(yaml.safe_load(uncommented)) == _options(_SCHEMA)
    config_file.write_text(uncommented, encoding="utf-8")
    every_option, warnings = load_config(config_file)
    assert warnings == []
    assert every_option == as_written
    assert all(len(line) <= 100 for line in text.splitlines())


def test_title_and_paths_are_quoted_when_yaml_would_misread_them(tmp_path, monkeypatch):
    tricky = [
        "yes",
        "4.22",
        "null",
        "~",
        "a: b",
        "x #y",
        " lead",
        "trail ",
        "[list]",
        "@x",
        "é",
        "tab\there",
        "line\u2028break",
        "next\x85line",
        "'single'",
        '"double"',
        "!tag",
        "%",
    ]
    write_export(tmp_path / "m")
    for text in tricky:
        (tmp_path / "site.yaml").write_text(f"title: {yaml_scalar(text)}\nmodel: {{path: m}}\n")
        config, warnings = load_config(tmp_path / "site.yaml")
        assert (config.title, warnings) == (text, []), text
    assert [yaml_scalar(text) for text in ["Shapes", "my_model", "../a/b.zip", "Mask (v2)"]] == [
        "Shapes",
        "my_model",
        "../a/b.zip",
        "Mask (v2)",
    ]

    (tmp_path / "site.yaml").unlink()
    monkeypatch.chdir(tmp_path)
    write_export(tmp_path / "yes")  # a folder YAML would read as true
    title = 'Sorter: "shapes" #1 — [beta]'
    assert run("init", "--model", "yes", "--title", title).exit_code == 0
    config, warnings = load_config(Path("site.yaml"))
    assert (config.title, config.model.path, warnings) == (title, tmp_path / "yes", [])
    assert '\n  path: "yes" ' in Path("site.yaml").read_text()


def test_one_export_in_the_folder_is_found(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    export = write_export(tmp_path / "download" / "unzipped")
    _zip_export(export, tmp_path / "converted_tfjs.zip")
    (tmp_path / "photos.zip").write_bytes(b"not a zip")
    result = run("init")
    assert result.output == (
        "Created site.yaml\nmodel.path: converted_tfjs.zip (the export found in .)\n"
        "Next: tmbuild build\n"
    )
    assert load_config(Path("site.yaml"))[1] == []
    assert run("build").exit_code == 0


def test_several_or_no_exports_leave_model_path_to_the_user(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    site = tmp_path / "site"
    write_export(site / "b-model")
    _zip_export(write_export(tmp_path / "a"), site / "a-model.zip")
    result = run("init", "site")
    assert result.exit_code == 0
    assert result.output == (
        "Created site/site.yaml\n"
        "Found 2 exports (site/a-model.zip, site/b-model): set model.path in site/site.yaml "
        "to the one you want, then run tmbuild build -c site/site.yaml\n"
    )
    empty = run("init", "empty")
    assert empty.output == (
        "Created empty/site.yaml\n"
        "Next: set model.path in empty/site.yaml to your Teachable Machine export (Export "
        "Model → Tensorflow.js → Download my model), then run tmbuild build -c empty/site.yaml\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config(Path("empty/site.yaml"))
    assert error.value.problems == [
        "empty/site.yaml: model.path: required: the folder or .zip of your Teachable Machine export"
    ]


def test_refuses_to_overwrite_without_force(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("site.yaml").write_text("title: Mine\n")
    result = CliRunner().invoke(cli, ["init"])
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: site.yaml: already exists; nothing was written (pass --force to overwrite)\n"
    )
    assert Path("site.yaml").read_text() == "title: Mine\n"
    # --templates in an existing site adds the templates and keeps site.yaml (see below).
    assert CliRunner().invoke(cli, ["init", "--templates"]).exit_code == 0
    assert Path("site.yaml").read_text() == "title: Mine\ntemplates: templates\n"
    shutil.rmtree("templates")

    Path("site.yaml").unlink()
    Path("templates").mkdir()
    Path("templates/index.html").write_text("mine")
    Path("templates/base.html").write_text("mine")
    result = CliRunner().invoke(cli, ["init", "--templates"])
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: templates/base.html, templates/index.html: already exist; nothing was written "
        "(pass --force to overwrite)\n"
    )
    assert not Path("site.yaml").exists()

    forced = run("init", "--templates", "--force")
    assert forced.exit_code == 0
    assert "Overwrote templates/base.html\nOverwrote templates/index.html\n" in forced.output
    assert "Created site.yaml\n" in forced.output
    assert (
        Path("templates/index.html").read_bytes()
        == (builtin_templates_dir() / "index.html").read_bytes()
    )


def test_templates_are_copied_and_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_export(tmp_path / "my_model")
    result = run("init", "--templates")
    copied = _tree(tmp_path / "templates")
    assert copied == _tree(builtin_templates_dir())
    assert result.output == "".join(
        ["Created site.yaml\n"]
        + [f"Created templates/{name}\n" for name in copied]
        + ["model.path: my_model (the export found in .)\n", "Next: tmbuild build\n"]
    )
    text = Path("site.yaml").read_text()
    assert "\ntemplates: templates  " in text  # then the option's comment
    assert "delete a file to fall back to\n# the built-in one" in text
    config, warnings = load_config(Path("site.yaml"))
    assert (config.templates, warnings) == (tmp_path / "templates", [])

    # Copies of the built-in templates build exactly the built-in site.
    assert run("build", "-o", "with-copies").exit_code == 0
    Path("plain.yaml").write_text("model: {path: my_model}\n")
    assert run("build", "-c", "plain.yaml", "-o", "built-in").exit_code == 0
    assert _tree(tmp_path / "with-copies") == _tree(tmp_path / "built-in")
    # A deleted copy falls back to the built-in file.
    Path("templates/assets/style.css").unlink()
    assert run("build", "-o", "fallback").exit_code == 0
    assert _tree(tmp_path / "fallback") == _tree(tmp_path / "built-in")


def test_init_in_a_new_folder_then_build_as_told(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_export(tmp_path / "cats")
    result = run("init", "new/site", "--model", str(tmp_path / "cats"), "--title", "Cats")
    assert result.exit_code == 0
    *_, next_line = result.output.splitlines()
    assert next_line == "Next: tmbuild build -c new/site/site.yaml"
    assert "  path: ../../cats " in Path("new/site/site.yaml").read_text()  # never absolute
    built = run(*next_line.removeprefix("Next: tmbuild ").split())
    assert built.exit_code == 0, built.output
    assert "<title>Cats" in Path("new/site/dist/index.html").read_text()


def test_bad_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_export(tmp_path / "export")
    inside = CliRunner().invoke(cli, ["init", "export"])
    assert (inside.exit_code, inside.stderr) == (
        1,
        "Error: export: is a Teachable Machine export; make the site in a folder of its own "
        "(tmbuild init my-site --model export)\n",
    )
    assert run("init", "--model", "missing").exit_code == 2
    empty_title = CliRunner().invoke(cli, ["init", "--title", " "])
    assert empty_title.stderr == "Error: --title: expected a title; got an empty string\n"
    Path("file").write_text("")
    assert run("init", "file").exit_code == 2
    assert not Path("site.yaml").exists()


def test_templates_for_an_existing_site_keep_its_site_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_export(tmp_path / "model")
    mine = "# my site\ntitle: Mine  # keep this comment\nmodel:\n  path: model\n"
    Path("site.yaml").write_text(mine)
    first = CliRunner().invoke(cli, ["init", "--templates"])
    assert first.exit_code == 0, first.output
    assert Path("site.yaml").read_text() == mine + "templates: templates\n"
    assert "Set site.yaml: templates: templates\n" in first.output
    assert Path("templates/index.html").is_file()
    # Again, and with --force: site.yaml is never rewritten; only --force replaces templates.
    Path("templates/index.html").write_text('{% extends "default:index.html" %}\n')
    again = CliRunner().invoke(cli, ["init", "--templates"])
    assert "Kept templates/index.html (--force replaces it)" in again.output
    assert Path("templates/index.html").read_text().startswith("{% extends")
    forced = CliRunner().invoke(cli, ["init", "--templates", "--force"])
    assert forced.exit_code == 0 and "Overwrote templates/index.html" in forced.output
    assert Path("site.yaml").read_text() == mine + "templates: templates\n"
    built = CliRunner().invoke(cli, ["build", "-q"])
    assert built.exit_code == 0, built.output


def test_templates_for_a_site_that_names_its_folder_go_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_export(tmp_path / "model")
    (tmp_path / "theme").mkdir()
    mine = "model:\n  path: model\ntemplates: theme\n"
    Path("site.yaml").write_text(mine)
    result = CliRunner().invoke(cli, ["init", "--templates"])
    assert result.exit_code == 0, result.output
    assert Path("theme/index.html").is_file() and not Path("templates").exists()
    assert Path("site.yaml").read_text() == mine
