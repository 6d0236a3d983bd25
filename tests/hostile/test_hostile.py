"""Every hostile input, through the real `tmbuild build`, checked against the same promises.

The cases are data (tests/hostile/cases_*.py); tests/hostile/harness.py says what is checked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cases_config
import cases_export
import cases_layers
import cases_metadata
import cases_templates
import cases_zip
import pytest
from conftest import ROOT, write_export
from harness import PROJECT, Case, check_case, run_cli

CASES: list[Case] = [
    *cases_export.CASES,
    *cases_layers.CASES,
    *cases_metadata.CASES,
    *cases_zip.CASES,
    *cases_config.CASES,
    *cases_templates.CASES,
]


def test_cases_are_many_and_named_once():
    ids = [case.id for case in CASES]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)


@pytest.fixture(scope="module")
def good_dist(tmp_path_factory) -> Path:
    """One good build, copied into every case's project as the dist/ that must survive."""
    folder = tmp_path_factory.mktemp("good")
    export = write_export(folder / "model")
    result = run_cli(["build", "-q", "--model", str(export), "-o", str(folder / "dist")])
    assert result.exit_code == 0, result.output
    return folder / "dist"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input(case: Case, good_dist: Path, tmp_path: Path, monkeypatch):
    project = tmp_path / PROJECT
    shutil.copytree(good_dist, project / "dist", symlinks=True)
    monkeypatch.chdir(project)
    # Where a build told to replace `/`, the home folder or the repository would leave a
    # staging folder; the watched tmp_path holds everything else a case touches.
    neighbours = [Path("/"), Path.home(), ROOT]
    check_case(case, project, watched=tmp_path, neighbours=neighbours)
