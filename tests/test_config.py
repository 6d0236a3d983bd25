"""site.yaml: defaults, every check's exact message with line:col, overrides, hostile files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tmbuild.config import (
    BACKENDS,
    HOSTS,
    QUANTIZE,
    RUNTIME_SOURCES,
    SiteConfig,
    load_config,
)
from tmbuild.errors import ConfigError


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with an (empty) model export, entered as the working directory."""
    root = tmp_path / "proj"
    (root / "model").mkdir(parents=True)
    monkeypatch.chdir(root)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return root


def write(root: Path, text: str, name: str = "site.yaml") -> Path:
    path = root / name
    path.write_text(text, encoding="utf-8")
    return Path(name) if Path.cwd() == root else path


def load(root: Path, text: str, **kwargs) -> tuple[SiteConfig, list[str]]:
    return load_config(write(root, text), **kwargs)


def problems(root: Path, text: str, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(root, text, **kwargs)
    return caught.value.problems


def problem(root: Path, text: str, **kwargs) -> str:
    (only,) = problems(root, text, **kwargs)
    return only


# --- defaults and a full file ---------------------------------------------------------------


def test_minimal_file_gives_documented_defaults(project: Path) -> None:
    config, warnings = load(project, "model:\n  path: model\n")
    assert warnings == []
    assert config.title == "Teachable Machine classifier"
    assert config.description is None
    assert config.model.path == project / "model"
    assert (config.model.name, config.model.version) == (None, "v1")
    assert (config.model.quantize, config.model.shard_size) == ("none", 4 * 1024 * 1024)
    c = config.classifier
    assert (c.inputs, c.threshold, c.min_gap, c.top_k) == (("upload", "webcam"), 0.7, 0.15, 3)
    assert (c.backend, c.mirror_webcam) == ("auto", True)
    assert (config.runtime.source, config.runtime.tfjs_version, config.runtime.dir) == (
        "bundled",
        "4.22.0",
        None,
    )
    k = config.compress
    assert (k.gzip, k.brotli, k.brotli_quality, k.gzip_level) == (True, True, 11, 9)
    assert (config.samples, config.templates) == (None, None)
    assert config.hosts == ("netlify",)
    assert config.base_url == "/"
    assert config.output == project / "dist"
    assert config.config_path == project / "site.yaml"
    assert config.root == project


def test_full_file_is_read(project: Path) -> None:
    (project / "samples").mkdir()
    (project / "theme").mkdir()
    (project / "tfjs").mkdir()
    config, warnings = load(
        project,
        """\
title: Shape sorter
description: Sorts shapes.
model:
  path: model
  name: shapes
  version: "2024.05"
  quantize: uint8
  shard_size: 512KiB
classifier:
  inputs: [webcam]
  threshold: 0.5
  min_gap: 0
  top_k: 1
  backend: wasm
  mirror_webcam: false
runtime:
  source: cdn
  tfjs_version: 4.22.0
compress: {gzip: false, brotli: true, brotli_quality: 0, gzip_level: 1}
samples: samples
templates: theme
hosts: [cloudflare, nginx]
base_url: /models
output: public
""",
    )
    assert warnings == []
    assert config.title == "Shape sorter" and config.description == "Sorts shapes."
    assert (config.model.name, config.model.version, config.model.quantize) == (
        "shapes",
        "2024.05",
        "uint8",
    )
    assert config.model.shard_size == 512 * 1024
    assert config.classifier.inputs == ("webcam",)
    assert (config.classifier.threshold, config.classifier.min_gap) == (0.5, 0.0)
    assert isinstance(config.classifier.min_gap, float)
    assert (config.classifier.backend, config.classifier.mirror_webcam) == ("wasm", False)
    assert config.runtime.source == "cdn"
    assert config.compress.gzip is False and config.compress.brotli_quality == 0
    assert (config.samples, config.templates) == (project / "samples", project / "theme")
    assert config.hosts == ("cloudflare", "nginx")
    assert config.base_url == "/models/"
    assert config.output == project / "public"


def test_empty_values_mean_the_default(project: Path) -> None:
    config, _ = load(
        project, "model:\n  path: model\n  quantize:\nclassifier:\nruntime:\n  dir: null\n"
    )
    assert config.model.quantize == "none"
    assert config.classifier.top_k == 3
    assert config.runtime.dir is None


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
        "site.yaml:4:3: model.quantize: expected one of none, float16, uint8; got 'fp16'",
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
    expected = "model.quantize: expected one of none, float16, uint8; got 'q'"
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
        "site.yaml:1:1: title: expected text; got an empty string",
        "site.yaml:2:1: unknown key 'title2' (did you mean 'title'?)",
        "site.yaml:3:1: description: expected text; got a list",
    ]
    assert problem(project, "title: 2024\nmodel: {path: model}\n") == (
        "site.yaml:1:1: title: expected text; got 2024, which YAML reads as a number "
        "— put it in quotes"
    )
    config, _ = load(project, 'title: "2024"\ndescription: ""\nmodel: {path: model}\n')
    assert (config.title, config.description) == ("2024", None)


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
    assert config.title == "Teachable Machine classifier"
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


# --- paths: the file's against its folder, overrides against the cwd -------------------------


def test_file_paths_are_relative_to_site_yaml_and_overrides_to_the_cwd(
    project: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "other-model").mkdir(parents=True)
    write(project, "model:\n  path: model\noutput: out\n")
    os.chdir(elsewhere)
    config, _ = load_config(Path("../proj/site.yaml"))
    assert config.model.path == project / "model"
    assert config.output == project / "out"
    assert config.root == project
    config, _ = load_config(
        Path("../proj/site.yaml"), {"model_path": "other-model", "output": Path("build")}
    )
    assert config.model.path == elsewhere / "other-model"
    assert config.output == elsewhere / "build"


def test_display_path_is_relative_to_the_cwd_when_inside_it(project: Path, tmp_path: Path) -> None:
    config, _ = load_config(None, {"model_path": "model"})
    assert config.display_path(config.output) == "dist"
    assert config.display_path(tmp_path / "x") == str(tmp_path / "x")


def test_without_a_file_everything_is_relative_to_the_cwd(project: Path) -> None:
    config, warnings = load_config(None, {"model_path": "model"})
    assert warnings == []
    assert config.config_path is None
    assert config.root == project
    assert config.model.path == project / "model"
    assert config.output == project / "dist"
    with pytest.raises(ConfigError) as caught:
        load_config(None)
    assert caught.value.problems == [
        "model.path: required: the folder or .zip of your Teachable Machine export"
    ]


def test_overrides_are_validated(project: Path) -> None:
    write(project, "model:\n  path: model\n")
    with pytest.raises(ConfigError) as caught:
        load_config(
            Path("site.yaml"),
            {"quantize": "fp16", "model_path": "missing", "base_url": "x", "output": None},
        )
    assert caught.value.problems == [
        "--quantize: expected one of none, float16, uint8; got 'fp16'",
        f"--model: 'missing' does not exist (looked for {project / 'missing'})",
        "--base-url: expected a path starting with '/' or a full URL, such as /models/ or "
        "https://example.com/models/; got 'x'",
    ]
    config, _ = load_config(Path("site.yaml"), {"quantize": "float16", "base_url": "/m"})
    assert (config.model.quantize, config.base_url) == ("float16", "/m/")


def test_an_override_replaces_a_file_value_without_checking_it(project: Path) -> None:
    write(project, "model:\n  path: not-on-this-machine\n  quantize: bad\n")
    config, _ = load_config(Path("site.yaml"), {"model_path": "model", "quantize": "uint8"})
    assert (config.model.path, config.model.quantize) == (project / "model", "uint8")


def test_an_unknown_override_is_a_programming_error(project: Path) -> None:
    with pytest.raises(ValueError, match="unknown config override 'strict'"):
        load_config(None, {"strict": True})


def test_missing_paths_point_at_their_line(project: Path) -> None:
    (project / "file.txt").write_text("x")
    text = "model:\n  path: nope\nsamples: file.txt\ntemplates: gone\nruntime: {dir: ~/none}\n"
    home = project.parent / "home"
    assert problems(project, text) == [
        f"site.yaml:2:3: model.path: 'nope' does not exist (looked for {project / 'nope'})",
        f"site.yaml:3:1: samples: 'file.txt' is a file, not a folder ({project / 'file.txt'})",
        f"site.yaml:4:1: templates: 'gone' does not exist (looked for {project / 'gone'})",
        f"site.yaml:5:11: runtime.dir: '~/none' does not exist (looked for {home / 'none'})",
    ]


def test_model_path_can_be_a_zip(project: Path) -> None:
    (project / "export.zip").write_bytes(b"PK")
    config, _ = load(project, "model: {path: export.zip}\n")
    assert config.model.path == project / "export.zip"


# --- output safety ----------------------------------------------------------------------------

DELETE = (
    "; a build replaces the whole output folder, so this would delete it "
    "— choose a folder of its own, such as dist"
)


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("/", "is the root of the file system"),
        ("~", "is your home folder"),
        ("..", "contains your home folder"),  # tmp_path holds both home/ and proj/
        (".", "is the project folder (where site.yaml is)"),
        ("model", "is the model export (model.path)"),
        ("model/dist", "is inside the model export (model.path)"),
        ("samples", "is the samples folder"),
        ("samples/out", "is inside the samples folder"),
        ("site/theme", "is the templates folder"),
        ("site", "contains the templates folder"),
        ("tfjs", "is the TF.js runtime folder (runtime.dir)"),
    ],
)
def test_dangerous_outputs_are_refused(project: Path, output: str, reason: str) -> None:
    for name in ["samples", "site/theme", "tfjs"]:
        (project / name).mkdir(parents=True)
    text = (
        "model:\n  path: model\nsamples: samples\ntemplates: site/theme\n"
        f"runtime: {{dir: tfjs}}\noutput: '{output}'\n"
    )
    resolved = (project / os.path.expanduser(output)).resolve()
    assert problem(project, text) == f"site.yaml:6:1: output: {resolved} {reason}{DELETE}"


def test_output_that_contains_the_project_or_the_model(project: Path, tmp_path: Path) -> None:
    (project / "inner").mkdir()
    write(project / "inner", "model: {path: ../model}\noutput: ..\n")
    with pytest.raises(ConfigError) as caught:
        load_config(project / "inner" / "site.yaml")
    assert caught.value.problems == [
        f"inner/site.yaml:2:1: output: {project} contains the project folder (where site.yaml is)"
        + DELETE
    ]
    # A model outside the project, inside the output folder.
    (tmp_path / "shared" / "model").mkdir(parents=True)
    config_text = "model: {path: ../shared/model}\noutput: ../shared\n"
    assert problem(project, config_text) == (
        f"site.yaml:2:1: output: {tmp_path / 'shared'} contains the model export (model.path)"
        + DELETE
    )


def test_output_override_is_checked_against_the_cwd(project: Path) -> None:
    write(project, "model:\n  path: model\n")
    with pytest.raises(ConfigError) as caught:
        load_config(Path("site.yaml"), {"output": "."})
    assert caught.value.problems == [
        f"--output: {project} is the project folder (where site.yaml is){DELETE}"
    ]
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"model_path": "model", "output": "."})
    assert caught.value.problems == [f"--output: {project} is the current folder{DELETE}"]


def test_default_output_is_checked_too(project: Path) -> None:
    (project / "dist").mkdir()
    assert problem(project, "model: {path: dist}\n") == (
        f"site.yaml: output: {project / 'dist'} is the model export (model.path){DELETE}"
    )


def test_output_may_not_be_a_file(project: Path) -> None:
    (project / "dist").write_text("x")
    assert problem(project, "model: {path: model}\noutput: dist\n") == (
        f"site.yaml:2:1: output: 'dist' is a file, not a folder ({project / 'dist'})"
    )


def test_output_through_a_symlink_is_seen_for_what_it_is(project: Path) -> None:
    (project / "link").symlink_to(project)
    assert problem(project, "model: {path: model}\noutput: link\n") == (
        f"site.yaml:2:1: output: {project} is the project folder (where site.yaml is){DELETE}"
    )


# --- hostile files ------------------------------------------------------------------------------


def test_empty_file_means_defaults_but_model_path_is_required(project: Path) -> None:
    required = "model.path: required: the folder or .zip of your Teachable Machine export"
    for text in ["", "\n\n", "# only a comment\n", "~\n", "---\n"]:
        assert problem(project, text) == f"site.yaml: {required}"
    config, _ = load_config(write(project, ""), {"model_path": "model"})
    assert config.title == "Teachable Machine classifier"


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
