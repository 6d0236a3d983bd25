"""`tmbuild split`: a held-out share of each label, the same images for the same seed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES

from tmbuild.cli import cli
from tmbuild.errors import TmbuildError
from tmbuild.evaluate.labelled import list_labelled
from tmbuild.evaluate.split import held_out_count, split


def _photos(root: Path, counts: dict[str, int]) -> Path:
    for label, count in counts.items():
        (root / label).mkdir(parents=True)
        for n in range(count):
            (root / label / f"IMG_{n:04d}.jpg").write_bytes(f"{label} {n}".encode())
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_each_label_is_split_by_its_share(tmp_path):
    source = _photos(tmp_path / "photos", {"cat": 10, "dog": 23, "fox": 1})
    before = _tree(source)
    result = split(source, tmp_path / "out", 0.2, seed=1)
    assert result.counts == {"cat": (8, 2), "dog": (18, 5), "fox": (1, 0)}
    train, holdout = _tree(tmp_path / "out" / "train"), _tree(tmp_path / "out" / "holdout")
    assert len(train) == 27 and len(holdout) == 7 and not set(train) & set(holdout)
    # Copies, byte for byte, under the same folder names; the source is untouched.
    assert {**train, **holdout} == before
    assert _tree(source) == before


def test_same_seed_same_images_other_seed_others(tmp_path):
    source = _photos(tmp_path / "photos", {"cat": 30, "dog": 30})
    split(source, tmp_path / "a", 0.2, seed=7)
    split(source, tmp_path / "b", 0.2, seed=7)
    split(source, tmp_path / "c", 0.2, seed=8)
    a, b, c = (set(_tree(tmp_path / name / "holdout")) for name in "abc")
    assert a == b and a != c and len(a) == len(c) == 12


def test_new_images_do_not_move_the_held_out_ones(tmp_path):
    source = _photos(tmp_path / "photos", {"cat": 50})
    split(source, tmp_path / "first", 0.2, seed=3)
    for n in range(50, 60):
        (source / "cat" / f"IMG_{n:04d}.jpg").write_bytes(b"new")
    split(source, tmp_path / "later", 0.2, seed=3)
    first = set(_tree(tmp_path / "first" / "holdout"))
    later = set(_tree(tmp_path / "later" / "holdout"))
    # 10 of 50, then 12 of 60: the images held out before and still among the first by rank
    # stay held out; a new image can only push one out, never swap the set wholesale.
    assert len(first) == 10 and len(later) == 12
    assert len(first & later) >= 8


def test_held_out_count_keeps_one_on_each_side():
    assert [held_out_count(n, 0.2) for n in (0, 1, 2, 3, 5, 7, 8, 100)] == [0, 0, 1, 1, 1, 1, 2, 20]
    assert held_out_count(2, 0.9) == 1


def test_refuses_an_output_inside_the_source_or_one_that_exists(tmp_path):
    source = _photos(tmp_path / "photos", {"cat": 5})
    with pytest.raises(TmbuildError, match="the output must be outside"):
        split(source, source / "split", 0.2, seed=0)
    with pytest.raises(TmbuildError, match="the output must be outside"):
        split(source, tmp_path, 0.2, seed=0)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep")
    with pytest.raises(TmbuildError, match="already exists"):
        split(source, tmp_path / "taken", 0.2, seed=0)
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos", "taken"]  # nothing left over


def test_cli_split_of_a_shared_export_and_its_report(tmp_path, monkeypatch):
    images = FIXTURES / "epi-pt4-imgs" / "images"
    if not images.is_dir():
        pytest.skip(f"shared fixture {images} is absent")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli, ["split", str(images), "--seed", "4", "-o", "split"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Split 107 images of 4 labels (seed 4): 86 to split/train/, 21 to split/holdout/",
        "  epi_completo       17 train      4 held out",
        "  epi_incompleto     32 train      8 held out",
        "  fundo_imagens       6 train      1 held out",
        "  sem_epi            31 train      8 held out",
        "Next: train on split/train/ in Teachable Machine, export, then "
        "tmbuild eval --images split/holdout",
    ]
    held = list_labelled(tmp_path / "split" / "holdout")
    assert {folder: len(files) for folder, files in held.images.items()} == {
        "epi_completo": 4,
        "epi_incompleto": 8,
        "fundo_imagens": 1,
        "sem_epi": 8,
    }
    again = CliRunner().invoke(cli, ["split", str(images), "--seed", "4", "-o", "split"])
    assert again.exit_code == 1
    assert again.output == "Error: split: already exists; remove it or choose another --output\n"
    assert CliRunner().invoke(cli, ["split", str(images), "--holdout", "1.5"]).exit_code == 2
