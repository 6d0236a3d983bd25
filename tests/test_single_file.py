"""`--single-file`: one .html that works from a double-click, with the served build's results."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, real_export
from support.browser import NO_WEBGL_ARGS, chromium, serve_site

from tmbuild.build import build
from tmbuild.cli import cli
from tmbuild.config.load import load_config
from tmbuild.errors import ConfigError

# Classify every sample of the page (data: URLs in a single file, site URLs when served).
CLASSIFY_SAMPLES = """async (count) => {
  await window.tmbuild.ready;
  const results = [];
  for (const button of Array.from(document.querySelectorAll('.sample')).slice(0, count)) {
    const image = new Image();
    image.src = button.dataset.tmSample;
    await image.decode();
    results.push(await window.tmbuild.classify(image));
  }
  return results;
}"""


def _build(output: Path, **overrides) -> Path:
    config, _ = load_config(ROOT / "site.yaml", {"output": output, **overrides})
    build(config)
    return output


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("single") / "dist", single_file=True) / "shapes.html"


def test_the_output_is_one_file_that_needs_nothing_else(single):
    assert [p.name for p in single.parent.iterdir()] == ["shapes.html"]
    html = single.read_text("utf-8")
    # Nothing the page would fetch: every src and href is inline data or a link to read.
    references = re.findall(r'\b(?:src|href)="([^"]*)"', html)
    assert references
    assert all(r.startswith(("data:", "http://127.0.0.1:8000/")) for r in references), {
        r[:40] for r in references
    }
    assert '"url":null' in html and "tmbuild-model" in html


def test_single_file_builds_are_byte_identical(single, tmp_path):
    again = _build(tmp_path / "again", single_file=True) / "shapes.html"
    assert again.read_bytes() == single.read_bytes()


def test_the_cli_reports_the_size_of_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, ["build", "--single-file", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    size = (tmp_path / "out" / "shapes.html").stat().st_size
    assert result.output == (
        f"Built {tmp_path / 'out' / 'shapes.html'} in "
        f"{result.output.split(' in ')[1].split(' s:')[0]} s: one file, {size / 1e6:.2f} MB; "
        "it opens from disk, no server needed\n"
    )


@pytest.mark.parametrize(
    "yaml, message",
    [
        (
            "offline: true\nsingle_file: true\n",
            "site.yaml:3:1: single_file: cannot be combined with offline: true",
        ),
        (
            "single_file: true\nruntime: {source: cdn}\n",
            "site.yaml:2:1: single_file: needs runtime.source: bundled",
        ),
    ],
)
def test_configurations_that_cannot_be_one_file_are_refused(tmp_path, yaml, message):
    (tmp_path / "site.yaml").write_text(f"model: {{path: {ROOT / 'examples' / 'shapes'}}}\n" + yaml)
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "site.yaml")
    [line] = str(raised.value).splitlines()
    assert line.startswith(message), line


@pytest.mark.browser
@pytest.mark.parametrize(
    "args, backend, count",
    [
        ([], "wasm", 8),
        (NO_WEBGL_ARGS, "wasm", 8),
        # Without a JIT (and so without WebAssembly) a prediction takes seconds: one will do.
        (NO_WEBGL_ARGS + ["--js-flags=--jitless"], "cpu", 1),
    ],
    ids=["default", "no-webgl", "no-wasm"],
)
def test_opened_from_disk_it_classifies_like_the_served_build(
    single, tmp_path, args, backend, count
):
    served = _build(tmp_path / "served")
    with chromium(args) as context:
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        page.goto(single.as_uri())
        info = page.evaluate("window.tmbuild.ready")
        assert info["backend"] == backend
        from_disk = page.evaluate(CLASSIFY_SAMPLES, count)
        assert not page.is_visible("#served-only")
        assert problems == []
        with serve_site(served) as url:
            page.goto(url + "/")
            from_server = page.evaluate(CLASSIFY_SAMPLES, count)
    assert len(from_disk) == len(from_server) == count
    for disk, server in zip(from_disk, from_server, strict=True):
        assert disk["top"]["label"] == server["top"]["label"]
        for a, b in zip(disk["predictions"], server["predictions"], strict=True):
            assert a["label"] == b["label"]
            assert abs(a["probability"] - b["probability"]) < 1e-6


@pytest.mark.browser
@pytest.mark.parametrize("runner", ["plan", "tf-layers"])
def test_a_real_float16_export_works_from_disk(tmp_path, runner):
    config, _ = load_config(
        None,
        {
            "model_path": real_export("brands6-imgs"),
            "output": tmp_path / "out",
            "quantize": "float16",
            "single_file": True,
        },
    )
    result = build(replace(config, runtime=replace(config.runtime, model_runner=runner)))
    [name] = result.files
    html = result.files[name].decode("utf-8")
    # With a plan the page carries the weights only; tf-layers also needs the topology.
    assert ('"modelTopology"' in html) == (runner == "tf-layers")
    with chromium(NO_WEBGL_ARGS) as context:
        page = context.new_page()
        page.goto((tmp_path / "out" / name).as_uri())
        info = page.evaluate("window.tmbuild.ready")
        assert len(info["labels"]) == 6
        # The plan runs on tmbuild's kernels, from a data: URL inside the page.
        assert info["runner"] == ("kernels" if runner == "plan" else "tensorflow")
        result = page.evaluate("""() => {
          const canvas = document.createElement('canvas');
          canvas.width = 300; canvas.height = 200;
          canvas.getContext('2d').fillRect(50, 50, 100, 100);
          return window.tmbuild.classify(canvas);
        }""")
        assert abs(sum(p["probability"] for p in result["predictions"]) - 1) < 1e-3
