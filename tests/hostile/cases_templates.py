"""Hostile or broken template folders: syntax errors, undefined names, reads outside the folder.

Each maker writes `site.yaml` with `templates: templates` and the template files into the
project; an error must name the template file (and its line when there is one).
"""

from __future__ import annotations

from pathlib import Path

from conftest import write_export
from harness import Case, registrar

CASES: list[Case] = []
case = registrar(CASES, "template")

PAGE = "templates/index.html"


def templates(project: Path, files: dict[str, str | bytes]) -> list[str]:
    """Write a valid export, site.yaml naming `templates/`, and these template files."""
    write_export(project / "m")
    (project / "site.yaml").write_text("model:\n  path: m\ntemplates: templates\noutput: dist\n")
    for name, text in files.items():
        path = project / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    (project / "templates").mkdir(exist_ok=True)
    return []


def page(line: str) -> dict[str, str]:
    """index.html overriding the main block, with `line` as its third line."""
    lines = ['{% extends "default:index.html" %}', "{% block main %}", line, "{% endblock %}"]
    return {"index.html": "\n".join(lines) + "\n"}


def secret(project: Path) -> Path:
    """A file outside the templates folder that must never end up in the site."""
    folder = project.parent / "outside"
    folder.mkdir(exist_ok=True)
    path = folder / "id_rsa"
    path.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    return path


@case("syntax-error", f"{PAGE}:3: ", "template syntax error: Expected an expression")
def syntax_error(project: Path) -> list[str]:
    return templates(project, page("{% if %}"))


@case("undefined-variable", f"{PAGE}:3: ", "'nope' is undefined; check the variable name")
def undefined_variable(project: Path) -> list[str]:
    return templates(project, page("<p>{{ nope }}</p>"))


@case("undefined-attribute", f"{PAGE}:3: ", "'dict object' has no attribute 'nope'; check")
def undefined_attribute(project: Path) -> list[str]:
    return templates(project, page("<p>{{ model.nope }}</p>"))


@case("include-parent", f"{PAGE}:3: ", "template '../outside/id_rsa' not found \\(templates may")
def include_parent(project: Path) -> list[str]:
    secret(project)
    return templates(project, page('{% include "../outside/id_rsa" %}'))


@case("include-absolute", f"{PAGE}:3: ", "template '/etc/passwd' not found \\(templates may only")
def include_absolute(project: Path) -> list[str]:
    return templates(project, page('{% include "/etc/passwd" %}'))


@case("extends-missing", f"{PAGE}:1: ", "template 'nope.html' not found")
def extends_missing(project: Path) -> list[str]:
    return templates(project, {"index.html": '{% extends "nope.html" %}\n'})


@case("page-symlink-out", f"{PAGE}: ", "is a link to .*outside the templates folder; copy")
def page_symlink_out(project: Path) -> list[str]:
    target = secret(project)
    templates(project, {})
    (project / PAGE).symlink_to(target)
    return []


@case("asset-symlink-out", "templates/assets/notes.txt: ", "is a link to .*outside the templates")
def asset_symlink_out(project: Path) -> list[str]:
    target = secret(project)
    templates(project, {"assets/style.css": "body {}\n"})
    (project / "templates" / "assets" / "notes.txt").symlink_to(target)
    return []


@case("assets-folder-symlink-out", "templates/assets: ", "is a link to .*outside the templates")
def assets_folder_symlink_out(project: Path) -> list[str]:
    target = secret(project)
    templates(project, {})
    (project / "templates" / "assets").symlink_to(target.parent)
    return []


@case("symlink-loop", "templates/base.html: ", "is a link that loops back on itself")
def symlink_loop(project: Path) -> list[str]:
    templates(project, {})
    (project / "templates" / "base.html").symlink_to("base.html")
    return []


@case("runtime-error", f"{PAGE}:3: ", "ZeroDivisionError: integer division or modulo by zero; fix")
def runtime_error(project: Path) -> list[str]:
    return templates(project, page("{{ 1 // 0 }}"))


@case("includes-itself", f"{PAGE}:1: ", "RecursionError: .*; fix the template")
def includes_itself(project: Path) -> list[str]:
    return templates(project, {"index.html": '{% include "index.html" %}\n'})


@case("not-utf8", f"{PAGE}: ", "not UTF-8 text \\(byte \\d+\\); save it as UTF-8")
def not_utf8(project: Path) -> list[str]:
    return templates(project, {"index.html": "<p>Café</p>\n".encode("latin-1")})


@case("asset-syntax-error", "templates/assets/app.js:2: ", "template syntax error: ")
def asset_syntax_error(project: Path) -> list[str]:
    return templates(project, {"assets/app.js": "// app\n{% for %}\n"})


@case("folder-missing", "site.yaml:3:1: ", "templates: 'templates' does not exist")
def folder_missing(project: Path) -> list[str]:
    templates(project, {})
    (project / "templates").rmdir()
    return []


# A plain jinja2.Environment lets a template reach Python's os module and open() through the
# globals of any function it can see; the sandbox refuses the attribute access itself.
SANDBOX = "not allowed in a template: access to attribute '{}' of '{}' object is unsafe"


@case("runs-a-command", f"{PAGE}:3: ", SANDBOX.format("__init__", "type"))
def runs_a_command(project: Path) -> list[str]:
    pwned = project.parent / "PWNED"
    return templates(
        project, page(f'{{{{ cycler.__init__.__globals__.os.system("touch {pwned}") }}}}')
    )


@case("reads-the-environment", f"{PAGE}:3: ", SANDBOX.format("__globals__", "function"))
def reads_the_environment(project: Path) -> list[str]:
    return templates(project, page("{{ lipsum.__globals__.os.environ }}"))


@case("reads-a-host-file", f"{PAGE}:3: ", SANDBOX.format("__init__", "type"))
def reads_a_host_file(project: Path) -> list[str]:
    payload = "{{ cycler.__init__.__globals__.__builtins__.open('/etc/hostname').read() }}"
    return templates(project, page(payload))


@case("calls-a-mutating-method", f"{PAGE}:3: ", "not allowed in a template: .*unsafe")
def calls_a_mutating_method(project: Path) -> list[str]:
    # The immutable sandbox: a template cannot change what tmbuild passes to the next one.
    return templates(project, page("{{ samples.append(1) }}"))


@case("huge-asset", "templates/assets/huge.bin: ", "3,072 MB, over the 32 MB a template or asset")
def huge_asset(project: Path) -> list[str]:
    made = templates(project, {})
    (project / "templates" / "assets").mkdir()
    with open(project / "templates" / "assets" / "huge.bin", "wb") as sparse:
        sparse.truncate(3 * 1024**3)  # takes no disk space, but would be read whole
    return made


@case("page-over-16-mb", f"{PAGE}: ", "renders over 16 MB; fix the template")
def page_over_16_mb(project: Path) -> list[str]:
    return templates(project, page('{% for a in range(1000) %}{{ "x" * 100000 }}{% endfor %}'))


@case("string-bomb", f"{PAGE}:3: ", "makes a value over 16 MB with '\\*'; fix the template")
def string_bomb(project: Path) -> list[str]:
    return templates(project, page('{{ "x" * 10**10 }}'))


@case("power-bomb", f"{PAGE}:3: ", "raises a number to the power 99999, over 1000")
def power_bomb(project: Path) -> list[str]:
    return templates(project, page("{{ 9 ** 99999 }}"))


@case("range-too-big", f"{PAGE}:3: ", "OverflowError: Range too big")
def range_too_big(project: Path) -> list[str]:
    return templates(project, page("{% for a in range(10**8) %}{{ a }}{% endfor %}"))
