"""site.yaml value checks: each problem's exact message with line:col, and unknown keys."""

from __future__ import annotations

import os
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
from tmbuild.config.schema import BACKENDS, HOSTS, QUANTIZE, RUNTIME_SOURCES
from tmbuild.errors import ConfigError

# --- every problem at once, pointing at the line ----------------------------------------------


def test_all_problems_are_reported_together_with_line_and_column(project: Path) -> None:
    text = """\
titel: Shape sorter
model:
  path: model
  quantize: fp16
  shard_size: 4MB
classifier:
  inputs: [upload, mic, upload]
  threshold: high
  min_gap: yes
  top_k: 0
  backend: gpu
  mirror_webcam: "yes"
runtime:
  source: local
  tfjs_version: 4.22
compress: {gzip: 1, brotli_quality: 12, gzip_level: 0}
hosts: [netlify, heroku]
base_url: sub/
"""
    assert problems(project, text) == [
        "site.yaml:1:1: unknown key 'titel' (did you mean 'title'?)",
        "site.yaml:4:3: model.quantize: expected one of none, float16, uint8, int8, auto; "
        "got 'fp16'",
        "site.yaml:5:3: model.shard_size: '4MB' is ambiguous; "
        "write KiB/MiB/GiB (powers of 1024) or bytes",
        "site.yaml:7:20: classifier.inputs: expected one of upload, webcam; got 'mic'",
        "site.yaml:7:25: classifier.inputs: 'upload' is listed twice",
        "site.yaml:8:3: classifier.threshold: expected a number from 0 to 1; got 'high'",
        "site.yaml:9:3: classifier.min_gap: expected a number from 0 to 1; "
        "got yes, which YAML reads as a boolean",
        "site.yaml:10:3: classifier.top_k: expected a whole number from 1 to 1000; got 0",
        "site.yaml:11:3: classifier.backend: expected one of auto, webgl, wasm, cpu; got 'gpu'",
        "site.yaml:12:3: classifier.mirror_webcam: expected true or false; got 'yes'",
        "site.yaml:14:3: runtime.source: expected one of bundled, cdn; got 'local'",
        'site.yaml:15:3: runtime.tfjs_version: expected a version string such as "4.22.0"; '
        "got 4.22, which YAML reads as a number — put it in quotes",
        "site.yaml:16:12: compress.gzip: expected true or false; got 1",
        "site.yaml:16:21: compress.brotli_quality: expected a whole number from 0 to 11; got 12",
        "site.yaml:16:41: compress.gzip_level: expected a whole number from 1 to 9; got 0",
        "site.yaml:17:18: hosts: expected one of netlify, cloudflare, vercel, firebase, nginx, "
        "apache, s3, github-pages; got 'heroku'",
        "site.yaml:18:1: base_url: expected a path starting with '/' or a full URL, "
        "such as /models/ or https://example.com/models/; got 'sub/'",
    ]


def test_the_file_is_named_as_the_user_gave_it(project: Path) -> None:
    (project / "conf").mkdir()
    write(project / "conf", "model:\n  path: ../model\n  quantize: q\n")
    expected = "model.quantize: expected one of none, float16, uint8, int8, auto; got 'q'"
    for given, label in [
        (Path("conf/site.yaml"), "conf/site.yaml"),
        (project / "conf" / "site.yaml", "conf/site.yaml"),  # absolute, under the cwd
    ]:
        with pytest.raises(ConfigError) as caught:
            load_config(given)
        assert caught.value.problems == [f"{label}:3:3: {expected}"]
    (project.parent / "elsewhere").mkdir()
    os.chdir(project.parent / "elsewhere")  # a path from elsewhere: only the name is meaningful
    with pytest.raises(ConfigError) as caught:
        load_config(project / "conf" / "site.yaml")
    assert caught.value.problems == [f"site.yaml:3:3: {expected}"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("threshold: 1.5", "classifier.threshold: expected a number from 0 to 1; got 1.5"),
        ("threshold: -0.1", "classifier.threshold: expected a number from 0 to 1; got -0.1"),
        ("threshold: .nan", "classifier.threshold: expected a number from 0 to 1; got .nan"),
        (
            'threshold: "0.7"',
            "classifier.threshold: expected a number from 0 to 1; got '0.7' — remove the quotes",
        ),
        ("threshold: [1]", "classifier.threshold: expected a number from 0 to 1; got a list"),
        (
            "min_gap: no",
            "classifier.min_gap: expected a number from 0 to 1; "
            "got no, which YAML reads as a boolean",
        ),
        ("top_k: 2.5", "classifier.top_k: expected a whole number from 1 to 1000; got 2.5"),
        (
            "top_k: true",
            "classifier.top_k: expected a whole number from 1 to 1000; "
            "got true, which YAML reads as a boolean",
        ),
        ("inputs: []", "classifier.inputs: expected at least one of upload, webcam; got []"),
        (
            "inputs: webcam",
            "classifier.inputs: expected a list such as [upload, webcam]; got 'webcam'",
        ),
        (
            "backend: off",
            "classifier.backend: expected one of auto, webgl, wasm, cpu; "
            "got off, which YAML reads as a boolean",
        ),
        ("mirror_webcam: 1", "classifier.mirror_webcam: expected true or false; got 1"),
    ],
)
def test_classifier_values(project: Path, line: str, message: str) -> None:
    text = f"model:\n  path: model\nclassifier:\n  {line}\n"
    assert problem(project, text) == f"site.yaml:4:3: {message}"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "name: My Shapes",
            "model.name: expected a URL slug of lowercase letters, digits and "
            "'-', such as 'shapes'; got 'My Shapes'",
        ),
        (
            "name: ../x",
            "model.name: expected a URL slug of lowercase letters, digits and '-', "
            "such as 'shapes'; got '../x'",
        ),
        (
            "version: a/b",
            "model.version: expected a short label of letters, digits, '.', '_' "
            "and '-', such as 'v1'; got 'a/b'",
        ),
        (
            "version: ..",
            "model.version: expected a short label of letters, digits, '.', '_' "
            "and '-', such as 'v1'; got '..'",
        ),
        (
            "version: 2",
            "model.version: expected a short label of letters, digits, '.', '_' and "
            "'-', such as 'v1'; got 2, which YAML reads as a number — put it in quotes",
        ),
        ("shard_size: 1", "model.shard_size: expected a size from 4KiB to 1GiB; got 1"),
        ("shard_size: 2GiB", "model.shard_size: expected a size from 4KiB to 1GiB; got '2GiB'"),
        (
            "shard_size: lots",
            "model.shard_size: expected a size in bytes such as 4194304, "
            '"4MiB" or "512KiB"; got \'lots\'',
        ),
        (
            "shard_size: 4.5",
            "model.shard_size: expected a size in bytes such as 4194304, "
            '"4MiB" or "512KiB"; got 4.5',
        ),
        (
            "shard_size: 4096.5B",
            "model.shard_size: expected a whole number of bytes; got '4096.5B'",
        ),
        (
            "shard_size: yes",
            "model.shard_size: expected a size in bytes such as 4194304, "
            '"4MiB" or "512KiB"; got yes, which YAML reads as a boolean',
        ),
    ],
)
def test_model_values(project: Path, line: str, message: str) -> None:
    assert problem(project, f"model:\n  path: model\n  {line}\n") == f"site.yaml:3:3: {message}"


@pytest.mark.parametrize(
    ("given", "size"),
    [
        ("4194304", 4194304),
        ("4MiB", 4 * 1024**2),
        ("512KiB", 512 * 1024),
        ("0.5 mib", 524288),
        ("8192B", 8192),
        ("1GiB", 1024**3),
    ],
)
def test_shard_sizes(project: Path, given: str, size: int) -> None:
    config, _ = load(project, f"model:\n  path: model\n  shard_size: {given}\n")
    assert config.model.shard_size == size


@pytest.mark.parametrize(
    ("key", "section", "choices"),
    [
        ("quantize", "model", QUANTIZE),
        ("backend", "classifier", BACKENDS),
        ("source", "runtime", RUNTIME_SOURCES),
    ],
)
def test_every_enum_value_is_accepted_and_others_refused(
    project: Path, key: str, section: str, choices: tuple[str, ...]
) -> None:
    def text(value: str) -> str:
        header = "" if section == "model" else f"{section}:\n"
        return f"model:\n  path: model\n{header}  {key}: {value}\n"

    for choice in choices:
        config, _ = load(project, text(choice))
        assert getattr(getattr(config, section), key) == choice
    expected = f"expected one of {', '.join(choices)}; got '{choices[0].upper()}'"
    assert problem(project, text(choices[0].upper())).endswith(f"{section}.{key}: {expected}")


def test_every_host_and_input_is_accepted(project: Path) -> None:
    hosts = ", ".join(HOSTS)
    text = f"model:\n  path: model\nclassifier:\n  inputs: [webcam, upload]\nhosts: [{hosts}]\n"
    config, _ = load(project, text)
    assert config.hosts == HOSTS
    assert config.classifier.inputs == ("webcam", "upload")
    config, _ = load(project, "model:\n  path: model\nhosts: []\n")
    assert config.hosts == ()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/", "/"),
        ("/models", "/models/"),
        ("/a/b-c_d.e~f/", "/a/b-c_d.e~f/"),
        ("https://Example.COM/sub", "https://example.com/sub/"),
        ("http://localhost:8000", "http://localhost:8000/"),
    ],
)
def test_base_url_is_normalised(project: Path, given: str, expected: str) -> None:
    config, _ = load(project, f"model:\n  path: model\nbase_url: {given}\n")
    assert config.base_url == expected


@pytest.mark.parametrize(
    "given",
    [
        "models/",
        "//evil.example/",
        "/a/../b/",
        "/a//b/",
        "/a b/",
        "/a?x=1",
        "/a#top",
        "ftp://host/",
        "https://user@host/",
        "https:///path",
        '/a"onload/',
        "javascript:alert(1)",
    ],
)
def test_bad_base_urls_are_refused(project: Path, given: str) -> None:
    text = f"model:\n  path: model\nbase_url: '{given}'\n".replace("''", "'")
    assert problem(project, text).startswith("site.yaml:3:1: base_url: expected ")


def test_text_values(project: Path) -> None:
    assert problems(project, "title: ''\ntitle2: 1\ndescription: [a]\nmodel: {path: model}\n") == [
        "site.yaml:2:1: unknown key 'title2' (did you mean 'title'?)",
        "site.yaml:3:1: description: expected text; got a list",
    ]
    assert problem(project, "title: 2024\nmodel: {path: model}\n") == (
        "site.yaml:1:1: title: expected text; got 2024, which YAML reads as a number "
        "— put it in quotes"
    )
    config, _ = load(project, 'title: "2024"\ndescription: ""\nmodel: {path: model}\n')
    assert (config.title, config.description) == ("2024", None)
    config, _ = load(project, "title: ''\nmodel: {path: model}\n")
    assert config.title is None  # empty means the default: a title made from the labels


def test_a_section_must_be_a_mapping(project: Path) -> None:
    assert problem(project, "model: model\n") == (
        "site.yaml:1:1: model: expected a mapping with keys path, name, version, quantize, "
        "shard_size; got 'model'"
    )


# --- tfjs_version: YAML reads 4.22 as a float --------------------------------------------------


def test_tfjs_version_must_be_a_string(project: Path) -> None:
    base = "model:\n  path: model\nruntime:\n  tfjs_version: "
    assert problem(project, base + "4.20\n") == (
        'site.yaml:4:3: runtime.tfjs_version: expected a version string such as "4.22.0"; '
        "got 4.20, which YAML reads as a number — put it in quotes"
    )
    assert problem(project, base + "4\n").endswith(
        "got 4, which YAML reads as a number — put it in quotes"
    )
    assert problem(project, base + '"4.22"\n').endswith("got '4.22'")
    config, _ = load(project, base + "4.21.0\n")
    assert config.runtime.tfjs_version == "4.21.0"
    config, _ = load(project, base + '"4.22.0-rc.1"\n')
    assert config.runtime.tfjs_version == "4.22.0-rc.1"


# --- unknown keys: warnings, fatal with strict --------------------------------------------------


def test_unknown_keys_warn_with_a_suggestion(project: Path) -> None:
    text = "titel: x\nmodel:\n  path: model\n  quantise: uint8\nquantize: none\nextra: {a: 1}\n"
    config, warnings = load(project, text)
    assert config.title is None  # the page names itself from the labels
    assert warnings == [
        "site.yaml:1:1: unknown key 'titel' (did you mean 'title'?)",
        "site.yaml:4:3: model: unknown key 'quantise' (did you mean 'quantize'?)",
        "site.yaml:5:1: unknown key 'quantize' (did you mean 'model.quantize'?)",
        "site.yaml:6:1: unknown key 'extra'",
    ]
    assert problems(project, text, strict=True) == warnings


def test_warnings_are_shown_beside_the_errors_they_explain(project: Path) -> None:
    assert problems(project, "modle:\n  path: model\n") == [
        "site.yaml:1:1: unknown key 'modle' (did you mean 'model'?)",
        "site.yaml: model.path: required: the folder or .zip of your Teachable Machine export",
    ]


def test_runtime_dir_is_ignored_with_the_cdn(project: Path) -> None:
    (project / "tfjs").mkdir()
    text = "model:\n  path: model\nruntime:\n  source: cdn\n  dir: tfjs\n"
    _, warnings = load(project, text)
    assert warnings == ["site.yaml:5:3: runtime.dir: ignored, because runtime.source is cdn"]
    assert problems(project, text, strict=True) == warnings
