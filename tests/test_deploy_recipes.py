"""The deploy recipes in the docs: each file is valid, and the site it builds is served right.

Every fenced block after a `<!-- recipe: NAME -->` comment in docs/ is a recipe. Its file is
parsed and checked for what the host needs; then the example site is built the way the recipe
builds it and served as that host would (`tmbuild serve` applies `_headers` and `base_url`),
and every file the page names is fetched. Nothing is deployed: this machine has no network.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import EXAMPLE_EXPORT, ROOT
from support.serve_helpers import get, running

from tmbuild.cli import cli
from tmbuild.preview.server import PreviewServer

RECIPE = re.compile(r"<!-- recipe: ([a-z0-9-]+) -->\n```(\w+)\n(.*?)```", re.DOTALL)
RECIPES = {
    name: (language, text)
    for page in sorted((ROOT / "docs").glob("*.md"))
    for name, language, text in RECIPE.findall(page.read_text(encoding="utf-8"))
}
# A workflow expression as GitHub would fill it in for a repository named "classifier".
EXPRESSIONS = {"${{ github.event.repository.name }}": "classifier"}


def test_every_host_has_a_recipe():
    assert set(RECIPES) == {
        "github-pages-user",
        "github-pages-project",
        "netlify",
        "cloudflare-pages",
        "s3",
        "diff-comment",
    }


def _workflow(name: str) -> dict:
    language, text = RECIPES[name]
    assert language == "yaml"
    workflow = yaml.safe_load(text)
    assert {"name", "jobs"} <= set(workflow) and True in workflow  # YAML 1.1 reads `on` as True
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            # Actions pinned to a major version, never a moving branch.
            assert "uses" not in step or re.fullmatch(r"[\w-]+/[\w-]+@v\d+", step["uses"]), step
    return workflow


def _runs(workflow: dict) -> list[str]:
    return [
        step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step
    ]


def _project(tmp_path: Path, hosts: str) -> Path:
    shutil.copytree(EXAMPLE_EXPORT, tmp_path / "model")
    (tmp_path / "site.yaml").write_text(f"model:\n  path: model\nhosts: [{hosts}]\n")
    return tmp_path


def _build(project: Path, command: str, monkeypatch) -> Path:
    """Run a recipe's `tmbuild build …` line in the project; return the built folder."""
    for expression, value in EXPRESSIONS.items():
        command = command.replace(expression, value)
    args = [arg.strip('"') for arg in command.split()]
    assert args[:2] == ["tmbuild", "build"], command
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, [*args[1:], "-q"])
    assert result.exit_code == 0, result.output
    return project / "dist"


def _serve_every_file(site: Path, base: str) -> None:
    """Serve the site under `base` and fetch the page and every file it names."""
    with running(PreviewServer("127.0.0.1", 0, site, base)) as server:
        page = get(server, base)
        assert page.status == 200
        html = page.body.decode()
        urls = set(re.findall(r'(?:href|src)="(/[^"]+)"', html))
        assert urls and all(url.startswith(base) for url in urls), urls
        for url in urls:
            assert get(server, url).status == 200, url


def test_github_pages_user_site(tmp_path, monkeypatch):
    workflow = _workflow("github-pages-user")
    [job] = workflow["jobs"].values()
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert {"with": {"path": "dist"}, "uses": "actions/upload-pages-artifact@v3"} in job["steps"]
    assert "pip install tmbuild" in _runs(workflow)
    [build] = [run for run in _runs(workflow) if run.startswith("tmbuild build")]
    site = _build(_project(tmp_path, "github-pages"), build, monkeypatch)
    assert (site / ".nojekyll").is_file()
    _serve_every_file(site, "/")


def test_github_pages_project_site_is_served_under_its_path(tmp_path, monkeypatch):
    language, text = RECIPES["github-pages-project"]
    [build] = re.findall(r"- run: (tmbuild build .*)", text)
    site = _build(_project(tmp_path, "github-pages"), build, monkeypatch)
    _serve_every_file(site, "/classifier/")


@pytest.mark.parametrize(
    ("name", "hosts"), [("netlify", "netlify"), ("cloudflare-pages", "cloudflare")]
)
def test_netlify_and_cloudflare_pages(name, hosts, tmp_path, monkeypatch):
    language, text = RECIPES[name]
    assert language == "toml"
    settings = tomllib.loads(text)
    if name == "netlify":
        assert settings["build"]["publish"] == "dist"
        command = settings["build"]["command"].split(" && ")[-1]
    else:
        assert settings["pages_build_output_dir"] == "dist"
        command = "tmbuild build"
    site = _build(_project(tmp_path, hosts), command, monkeypatch)
    assert (site / "_headers").is_file()
    _serve_every_file(site, "/")
    with running(PreviewServer("127.0.0.1", 0, site, "/")) as server:
        [app] = [p for p in (site / "assets").glob("engine.*.js")]
        response = get(server, f"/assets/{app.name}")
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_s3_upload_plan(tmp_path, monkeypatch):
    workflow = _workflow("s3")
    runs = _runs(workflow)
    [build] = [run for run in runs if run.startswith("tmbuild build")]
    [upload] = [run for run in runs if run.startswith("sh dist/tmbuild-s3.sh")]
    site = _build(_project(tmp_path, "s3"), build, monkeypatch)
    upload = upload.replace("${{ vars.BUCKET }}", "bucket")
    script, bucket, encoding = (arg.strip('"') for arg in upload.split()[1:])
    plan = subprocess.run(
        ["sh", script, bucket, encoding, "--dry-run"],
        cwd=site.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "'s3://bucket/index.html'" in plan and "'--content-encoding' 'br'" in plan


def test_the_diff_comment_workflow_builds_both_sides():
    workflow = _workflow("diff-comment")
    assert any("tmbuild diff" in run and "--format markdown" in run for run in _runs(workflow))
