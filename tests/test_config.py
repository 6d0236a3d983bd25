"""site.yaml loading: defaults, a full file, overrides, paths, and the output folder's safety."""

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
from tmbuild.errors import ConfigError

# --- defaults and a full file ---------------------------------------------------------------


def test_minimal_file_gives_documented_defaults(project: Path) -> None:
    config, warnings = load(project, "model:\n  path: model\n")
    assert warnings == []
    assert config.title is None  # the page names itself from the labels
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
        "--quantize: expected one of none, float16, uint8, int8, auto; got 'fp16'",
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
