"""Shared by the site.yaml tests: a project folder, and loading a site.yaml or its problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from tmbuild.config.load import SiteConfig, load_config
from tmbuild.errors import ConfigError


@pytest.fixture(name="project")
def project_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
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
