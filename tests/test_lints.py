"""`tmbuild check` and `tmbuild eval` give Teachable Machine advice, each piece with its reason."""

from __future__ import annotations

from click.testing import CliRunner
from conftest import real_export, write_export

from tmbuild.cli import cli
from tmbuild.evaluate.lints import dataset_lints, model_lints


def test_default_labels_are_flagged_on_the_official_export(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli, ["check", "--model", str(real_export("official-2class"))], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "warning: 'Class 1', 'Class 2' are Teachable Machine's default names: visitors see "
        "them on the page; name the classes in Teachable Machine and export again",
        "warning: no catch-all class (such as 'other' or 'background'): a photo of none of the "
        "2 things still gets one of their labels; add a class of everything else the camera "
        "may see",
    ]
    assert result.stdout.startswith("OK: ")


def test_a_well_named_model_gets_no_warning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    export = write_export(tmp_path / "model", labels=["cat", "dog", "background"])
    result = CliRunner().invoke(cli, ["check", "--model", str(export)], catch_exceptions=False)
    assert result.exit_code == 0 and result.stderr == ""


def test_real_exports_with_catch_all_classes_in_portuguese():
    # epi-pt4's `fundo_imagens` ("background images"), brands6's `nda` ("none of the above").
    assert model_lints(["epi_completo", "epi_incompleto", "sem_epi", "fundo_imagens"]) == []
    assert model_lints(["ADIDAS", "FERRARI", "NIKE", "OAKLEY", "PUMA", "nda"]) == []
    assert model_lints(["마스크", "마스크 X", "배경"]) == []


def test_too_many_classes():
    labels = [f"kind {n}" for n in range(16)] + ["other"]
    [warning] = model_lints(labels)
    assert warning.startswith("17 classes: beyond 15, Teachable Machine's small model confuses")
    assert model_lints([f"kind {n}" for n in range(14)] + ["other"]) == []


def test_one_default_label_among_named_ones():
    [warning] = model_lints(["Class 1", "dog", "none"])
    assert warning.startswith("'Class 1' is Teachable Machine's default name")


def test_labels_that_differ_only_in_case_or_punctuation():
    warnings = model_lints(["Red car", "red-car", "other"])
    assert warnings == [
        "labels 'Red car' and 'red-car' differ only in case, spaces or punctuation: visitors "
        "cannot tell them apart; merge the two classes"
    ]
    assert model_lints(["cat", "cats", "other"]) == []


def test_catch_all_is_a_whole_word():
    assert "no catch-all class" in model_lints(["backpack", "bottle"])[0]
    assert model_lints(["backpack", "nothing_here"]) == []


def test_held_out_sets_too_small_or_imbalanced():
    assert dataset_lints({"cat": 40, "dog": 25}) == []
    assert dataset_lints({"cat": 40, "dog": 0, "fox": 10}) == [
        "no held-out images for 'dog': its recall cannot be measured",
        "fewer than 20 held-out images for 'fox' (10): one image moves a recall by up to "
        "10 points, so these figures are rough",
        "imbalanced: 'cat' has 40 images, 'fox' 10 (4.0×); accuracy mostly reflects the large "
        "classes, so read each class's recall",
    ]


def test_a_pose_model_without_a_catch_all_is_told_of_other_poses():
    [warning] = model_lints(["arms up", "arms out", "arms down"], "pose")
    assert warning.startswith("no catch-all class (such as 'other'): a pose that is none of the 3")
    assert model_lints(["arms up", "arms down", "other"], "pose") == []
