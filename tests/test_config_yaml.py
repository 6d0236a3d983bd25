"""Hostile site.yaml files: empty, not a mapping, duplicate keys, aliases, bad YAML, huge, deep."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.config_helpers import (
    load,
    problem,
    problems,
    project_fixture,  # noqa: F401  (the `project` fixture)
    write,
)

from tmbuild.config.load import load_config
from tmbuild.errors import ConfigError

# --- hostile files ------------------------------------------------------------------------------


def test_empty_file_means_defaults_but_model_path_is_required(project: Path) -> None:
    required = "model.path: required: the folder or .zip of your Teachable Machine export"
    for text in ["", "\n\n", "# only a comment\n", "~\n", "---\n"]:
        assert problem(project, text) == f"site.yaml: {required}"
    config, _ = load_config(write(project, ""), {"model_path": "model"})
    assert config.title is None  # the page names itself from the labels


@pytest.mark.parametrize(
    ("text", "got"),
    [("- a\n- b\n", "a list"), ("just text\n", "'just text'"), ("42\n", "42")],
)
def test_top_level_must_be_a_mapping(project: Path, text: str, got: str) -> None:
    assert problem(project, text) == (
        f"site.yaml:1:1: expected 'key: value' settings at the top level; got {got}"
    )


def test_duplicate_keys_are_refused(project: Path) -> None:
    text = "model:\n  path: model\ntitle: A\nmodel:\n  path: x\ntitle: B\nhosts: [{a: 1, a: 2}]\n"
    assert problems(project, text) == [
        "site.yaml:4:1: duplicate key 'model' (first at line 1)",
        "site.yaml:6:1: duplicate key 'title' (first at line 3)",
        "site.yaml:7:16: hosts[0]: duplicate key 'a' (first at line 7)",
        "site.yaml:7:9: hosts: expected one of netlify, cloudflare, vercel, firebase, nginx, "
        "apache, s3, github-pages; got a mapping",
    ]
    assert problem(project, "model:\n  path: model\n  path: model\n") == (
        "site.yaml:3:3: model: duplicate key 'path' (first at line 2)"
    )


def test_aliases_are_refused(project: Path) -> None:
    text = "model:\n  path: &p model\nsamples: *p\n"
    assert problem(project, text) == (
        "site.yaml:3:10: YAML aliases (*p) are not supported; write the value out"
    )


def test_billion_laughs_is_refused_quickly(project: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    assert "aliases (*a0) are not supported" in problem(project, "\n".join(lines) + "\n")


def test_merge_keys_need_aliases_and_are_refused(project: Path) -> None:
    text = "base: &b {quantize: uint8}\nmodel:\n  <<: *b\n  path: model\n"
    assert problem(project, text) == (
        "site.yaml:3:7: YAML aliases (*b) are not supported; write the value out"
    )


def test_tabs_are_a_yaml_error_with_line_and_column(project: Path) -> None:
    assert problem(project, "model:\n  path: model\n\tquantize: none\n") == (
        "site.yaml:3:1: invalid YAML: a tab; YAML indentation must use spaces"
    )
    config, _ = load(project, 'title: "a\\tb"\nmodel: {path: model}\n')  # a tab in a value is fine
    assert config.title == "a\tb"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: a: b\n", "site.yaml:1:9: invalid YAML: mapping values are not allowed here"),
        (
            "hosts: [netlify\n",
            "site.yaml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>' "
            "(while parsing a flow sequence at line 1)",
        ),
        (
            "title: 'open\n",
            "site.yaml:2:1: invalid YAML: found unexpected end of stream "
            "(while scanning a quoted scalar at line 1)",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "site.yaml:2:1: invalid YAML: but found another document "
            "(expected a single document in the stream at line 1)",
        ),
        ("title: a\x01\n", "site.yaml:1:9: invalid YAML: character 0x0001 is not allowed"),
    ],
)
def test_yaml_syntax_errors_are_one_line(project: Path, text: str, message: str) -> None:
    assert problems(project, text) == [message]


def test_non_utf8_file(project: Path) -> None:
    (project / "site.yaml").write_bytes(b"model:\n  path: model\ntitle: caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_config(Path("site.yaml"))
    assert caught.value.problems == ["site.yaml:3:11: not UTF-8 text (byte 0xe9); save as UTF-8"]
    (project / "site.yaml").write_bytes("\ufefftitle: café\nmodel: {path: model}\n".encode())
    assert load_config(Path("site.yaml"))[0].title == "café"  # a byte-order mark is fine


def test_unreadable_files(project: Path) -> None:
    for given, message in [
        (Path("missing.yaml"), "missing.yaml: no such file"),
        (Path("model"), "model: is a folder; give the path of site.yaml itself"),
    ]:
        with pytest.raises(ConfigError) as caught:
            load_config(given)
        assert caught.value.problems == [message]


def test_huge_file_is_refused_unread(project: Path) -> None:
    (project / "site.yaml").write_bytes(b"# " + b"x" * (256 * 1024) + b"\n")
    with pytest.raises(ConfigError) as caught:
        load_config(Path("site.yaml"))
    assert caught.value.problems == [
        "site.yaml: larger than 256 KiB; a site.yaml is a few hundred bytes"
    ]


@pytest.mark.parametrize(
    "text",
    ["x: " + "[" * 5000 + "]" * 5000 + "\n", "x:\n" + "".join(" " * i + "- \n" for i in range(40))],
)
def test_deep_nesting_is_refused(project: Path, text: str) -> None:
    (message,) = problems(project, text)
    assert message.startswith("site.yaml:") and message.endswith("nested more than 16 levels deep")


def test_odd_tags_and_unconstructable_scalars(project: Path) -> None:
    text = "model:\n  path: !!python/name:os.system model\n  version: !custom v1\ntitle: !!int x\n"
    assert problems(project, text) == [
        "site.yaml:2:9: model.path: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/name:os.system'",
        "site.yaml:3:12: model.version: could not determine a constructor for the tag '!custom'",
        "site.yaml:4:8: title: cannot read 'x' as int",
    ]


def test_many_unknown_keys_are_capped(project: Path) -> None:
    text = "model: {path: model}\n" + "".join(f"k{i}: 1\n" for i in range(500))
    _, warnings = load(project, text)
    assert len(warnings) == 101 and warnings[-1] == "... and 400 more"


def test_random_text_never_raises_anything_but_config_error(project: Path) -> None:
    hypothesis = pytest.importorskip("hypothesis")
    strategies = pytest.importorskip("hypothesis.strategies")
    alphabet = strategies.sampled_from(
        list("ab:-[]{}&*!|>'\"#\t\n ,.?%@`~0129") + ["model", "path"]
    )

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(strategies.lists(alphabet, max_size=60).map("".join))
    def check(text: str) -> None:
        try:
            load(project, text)
        except ConfigError as error:
            assert error.problems and all("\n" not in line for line in error.problems)

    check()
