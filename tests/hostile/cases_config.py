"""Hostile site.yaml files: wrong types, YAML bombs and tricks, outputs a build would destroy.

Each maker writes `site.yaml` (and a small valid export `m/`) into the project, the working
directory, where `tmbuild build` finds it by itself.
"""

from __future__ import annotations

from pathlib import Path

from conftest import write_export
from harness import Case, registrar

CASES: list[Case] = []
case = registrar(CASES, "config")

BASE = "model:\n  path: m\noutput: dist\n"  # lines 1-3: a valid file
DELETE = "a build replaces the whole output folder, so this would delete it — choose a folder"
TAKE_OVER = "choose a new or empty folder, or take this one over with tmbuild build --force"


def site(project: Path, text: str | bytes, *args: str) -> list[str]:
    write_export(project / "m")
    path = project / "site.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return list(args)


@case("wrong-type", "site.yaml:5:3: ", "classifier.threshold: expected a number from 0 to 1")
def wrong_type(project: Path) -> list[str]:
    return site(project, BASE + "classifier:\n  threshold: high\n")


@case("number-in-quotes", "site.yaml:5:3: ", "compress.gzip_level: .*'9' — remove the quotes")
def number_in_quotes(project: Path) -> list[str]:
    return site(project, BASE + 'compress:\n  gzip_level: "9"\n')


@case("section-not-a-mapping", "site.yaml:4:1: ", "compress: expected a mapping with keys gzip")
def section_not_a_mapping(project: Path) -> list[str]:
    return site(project, BASE + "compress: yes\n")


@case("unknown-key-strict", "site.yaml:4:1: ", "unknown key 'titel' \\(did you mean 'title'\\?\\)")
def unknown_key_strict(project: Path) -> list[str]:
    return site(project, BASE + "titel: Cats\n", "--strict")


@case("unknown-key", "site.yaml:4:1: ", "unknown key 'titel' \\(did you mean 'title'\\?\\)", True)
def unknown_key(project: Path) -> list[str]:
    return site(project, BASE + "titel: Cats\n")


@case("alias-bomb", "site.yaml:6:10: ", "YAML aliases \\(\\*a\\) are not supported; write the")
def alias_bomb(project: Path) -> list[str]:
    # "Billion laughs": nine levels of ten aliases each would expand to 10**9 strings.
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghij":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [{','.join(['*' + previous] * 10)}]")
    return site(project, BASE + "x:\n" + "".join(f"  {line}\n" for line in lines))


@case("merge-key", "site.yaml:6:7: ", "YAML aliases \\(\\*base\\) are not supported; write")
def merge_key(project: Path) -> list[str]:
    return site(project, BASE + "shared: &base {top_k: 2}\nclassifier:\n  <<: *base\n")


@case("tab-indentation", "site.yaml:2:1: ", "invalid YAML: a tab; YAML indentation must use spaces")
def tab_indentation(project: Path) -> list[str]:
    return site(project, "model:\n\tpath: m\n")


@case("duplicate-key", "site.yaml:4:1: ", "duplicate key 'output' \\(first at line 3\\)")
def duplicate_key(project: Path) -> list[str]:
    return site(project, BASE + "output: public\n")


@case("python-tag", "site.yaml:4:8: ", "unsupported YAML tag 'tag:yaml.org,2002:python/object")
def python_tag(project: Path) -> list[str]:
    # With an unsafe loader this would run a command; the snapshot shows nothing was created.
    return site(project, BASE + 'title: !!python/object/apply:os.system ["touch pwned"]\n')


@case("deep-nesting", "site.yaml:4:", "nested more than 16 levels deep")
def deep_nesting(project: Path) -> list[str]:
    return site(project, BASE + "title: " + "[" * 5000 + "]" * 5000 + "\n")


@case("not-utf8", "site.yaml:4:11: ", "not UTF-8 text \\(byte 0xe9\\); save as UTF-8")
def not_utf8(project: Path) -> list[str]:
    return site(project, (BASE + "title: Caf\xe9\n").encode("latin-1"))


@case("nul-character", "site.yaml:4:9: ", "invalid YAML: character 0x0000 is not allowed")
def nul_character(project: Path) -> list[str]:
    return site(project, BASE + "title: a\x00b\n")


@case("huge-file", "site.yaml: ", "larger than 256 KiB; a site.yaml is a few hundred bytes")
def huge_file(project: Path) -> list[str]:
    return site(project, BASE + "# padding\n" * 30_000)


@case("top-level-list", "site.yaml:1:1: ", "expected 'key: value' settings at the top level")
def top_level_list(project: Path) -> list[str]:
    return site(project, "- model\n- output\n")


@case("empty-file", "site.yaml: ", "model.path: required: the folder or .zip of your Teachable")
def empty_file(project: Path) -> list[str]:
    return site(project, "")


@case("missing-file", "other.yaml: ", "no such file")
def missing_file(project: Path) -> list[str]:
    return ["-c", "other.yaml"]


@case("model-path-missing", "site.yaml:2:3: ", "model.path: 'nope' does not exist")
def model_path_missing(project: Path) -> list[str]:
    return site(project, "model:\n  path: nope\n")


@case("path-line-separator", "site.yaml:2:3: ", "model.path: expected a path; got 'm\\\\u2028")
def path_line_separator(project: Path) -> list[str]:
    # U+2028 ends a line for str.splitlines(): shown raw, one problem would print as two.
    return site(project, 'model:\n  path: "m\\u2028Error: all good"\n')


@case("model-name-traversal", "site.yaml:3:3: ", "model.name: expected a URL slug")
def model_name_traversal(project: Path) -> list[str]:
    return site(project, "model:\n  path: m\n  name: ../../etc\noutput: dist\n")


# ---- outputs a build would delete ------------------------------------------------------------


@case("output-root", "site.yaml:3:1: ", f"output: / is the root of the file system; {DELETE}")
def output_root(project: Path) -> list[str]:
    return site(project, "model:\n  path: m\noutput: /\n")


@case("output-root-flag", "--output: ", f"/ is the root of the file system; {DELETE}")
def output_root_flag(project: Path) -> list[str]:
    return site(project, BASE, "-o", "/")


@case("output-home", "site.yaml:3:1: ", f"output: .* is your home folder; {DELETE}")
def output_home(project: Path) -> list[str]:
    return site(project, 'model:\n  path: m\noutput: "~"\n')


@case(
    "output-project", "site.yaml:3:1: ", f"is the project folder \\(where site.yaml is\\); {DELETE}"
)
def output_project(project: Path) -> list[str]:
    return site(project, "model:\n  path: m\noutput: .\n")


@case("output-above-project", "site.yaml:3:1: ", f"contains the project folder .*; {DELETE}")
def output_above_project(project: Path) -> list[str]:
    return site(project, "model:\n  path: m\noutput: ..\n")


@case("output-model", "site.yaml:3:1: ", f"is the model export \\(model.path\\); {DELETE}")
def output_model(project: Path) -> list[str]:
    return site(project, "model:\n  path: m\noutput: m\n")


@case("output-inside-model", "site.yaml:3:1: ", f"is inside the model export .*; {DELETE}")
def output_inside_model(project: Path) -> list[str]:
    return site(project, "model:\n  path: m\noutput: m/site\n")


@case("output-templates", "site.yaml:4:1: ", f"is the templates folder; {DELETE}")
def output_templates(project: Path) -> list[str]:
    (project / "templates").mkdir()
    return site(project, "model:\n  path: m\ntemplates: templates\noutput: templates\n")


@case("output-is-a-file", "site.yaml:3:1: ", "output: 'site.yaml' is a file, not a folder")
def output_is_a_file(project: Path) -> list[str]:
    return site(project, "model:\n  path: m\noutput: site.yaml\n")


@case("output-system-folder-forced", "--output: ", f"/etc is a system folder; {DELETE}")
def output_system_folder_forced(project: Path) -> list[str]:
    return site(project, BASE, "-o", "/etc", "--force")


@case("output-users-folder", "docs: ", f"not empty, and not the output of an earlier .*{TAKE_OVER}")
def output_users_folder(project: Path) -> list[str]:
    # Replaced whole, precious.txt and all, before tmbuild judged what a folder holds.
    (project / "docs").mkdir()
    (project / "docs" / "precious.txt").write_text("years of work\n")
    return site(project, BASE, "-o", "docs")


@case("output-link-to-users-folder", "photos: ", f"not empty, and not the output .*{TAKE_OVER}")
def output_link_to_users_folder(project: Path) -> list[str]:
    # A symlinked output is judged by the folder it points to.
    (project / "photos").mkdir()
    (project / "photos" / "cat.jpg").write_bytes(b"\xff\xd8\xff")
    (project / "link").symlink_to("photos")
    return site(project, BASE, "-o", "link")


@case("output-fake-manifest", "docs: ", "its tmbuild-manifest.json is not one tmbuild wrote")
def output_fake_manifest(project: Path) -> list[str]:
    (project / "docs").mkdir()
    (project / "docs" / "tmbuild-manifest.json").write_text("{}")
    (project / "docs" / "precious.txt").write_text("years of work\n")
    return site(project, BASE, "-o", "docs")


@case("sample-symlink-out", "samples/cat.png: ", "is a link to .*outside the samples folder; copy")
def sample_symlink_out(project: Path) -> list[str]:
    # Named like an image, it would be copied into the site as one.
    secret = project.parent / "outside" / "id_rsa"
    secret.parent.mkdir()
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (project / "samples").mkdir()
    (project / "samples" / "cat.png").symlink_to(secret)
    return site(project, BASE + "samples: samples\n")


# Refused where they are written, not later in a template or a host file's line limit.
@case("title-lone-surrogate", "site.yaml:4:1: ", "title: expected text; got .*lone surrogate")
def title_lone_surrogate(project: Path) -> list[str]:
    return site(project, BASE + 'title: "\\ud800"\n')


@case("model-name-5000", "site.yaml:3:3: ", "model.name: .*at most 64 characters; got 5,000")
def model_name_5000(project: Path) -> list[str]:
    return site(project, "model:\n  path: m\n  name: " + "a" * 5000 + "\noutput: dist\n")
