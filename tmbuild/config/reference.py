"""The text made from the schema: commented site.yaml files and the configuration reference.

tmbuild.config.schema declares every option once; this module writes what users read about
them: the commented site.yaml of `tmbuild init` (tmbuild.scaffold), the example site.yaml at the
root of the repository, and docs/configuration.md. The last two are committed, so a test checks
they match the schema, and one explicit command makes them again, never a build:

    python -m tmbuild.config.reference           # say which files differ (exit 1 if any)
    python -m tmbuild.config.reference --write   # rewrite them
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml

from tmbuild.config.schema import OVERRIDES, QUANTIZE, SCHEMA, SECTIONS, Option, options

REGENERATE = "python -m tmbuild.config.reference --write"
REFERENCE_PAGE = Path("docs", "configuration.md")
EXAMPLE = Path("site.yaml")
COMMENT_COLUMN = 30  # where the comments beside the options line up
WIDTH = 100  # the longest line written; a longer comment goes on the lines above its option
_PLAIN_SCALAR = re.compile(r"[A-Za-z0-9_./~-][A-Za-z0-9 _./~()-]*")


def yaml_scalar(text: str) -> str:
    """`text` as a YAML value: bare when YAML reads it back unchanged, else double-quoted."""
    if _PLAIN_SCALAR.fullmatch(text) and not text.endswith(" "):
        try:
            if yaml.safe_load(text) == text:
                return text
        except yaml.YAMLError:
            pass
    return _quoted(text)


def _quoted(text: str) -> str:
    # A JSON string is a YAML double-quoted scalar, once the characters YAML reads as line
    # breaks or refuses (C1 controls, U+2028, U+2029, a byte order mark) are escaped too.
    quoted = json.dumps(text, ensure_ascii=False)
    return re.sub(r"[\x7f-\x9f\u2028\u2029\ufeff]", lambda m: f"\\u{ord(m[0]):04x}", quoted)


def yaml_value(value: Any) -> str:
    """`value` as site.yaml writes it: flow style for lists and mappings; "" for None."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return yaml.safe_dump(value).split("\n", 1)[0]  # 0.7, true, and 1.0e-05 (not 1e-05)
    if isinstance(value, str):
        # A version such as "4.22.0" stays quoted, so that editing it to 4.23 keeps a string.
        return _quoted(value) if value[:1].isdigit() else yaml_scalar(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{yaml_value(k)}: {yaml_value(v)}" for k, v in value.items()) + "}"
    return "[" + ", ".join(yaml_value(item) for item in value) + "]"


def shown_default(spec: Option) -> str:
    """An option's default as site.yaml writes it."""
    return spec.shown if spec.shown is not None else yaml_value(spec.default)


def comment(spec: Option) -> str:
    """The comment beside an option in site.yaml: its choices, and its help."""
    text = spec.help
    if choices := spec.check.choices:
        text = f"{' | '.join(choices)}: {text}"
    return f"required: {text}" if spec.required else text


# --- site.yaml ------------------------------------------------------------------------------


def site_yaml(values: dict[str, Any], defaults: bool, notes: dict[str, str] | None = None) -> str:
    """site.yaml setting `values`, each option with its comment, in the order of the schema.

    defaults: also write every other option, commented out at its default, so the file is its
    own reference (`# quantize: none`; `#   top_k: 3` in a section that is commented out).
    notes: more comment lines above an option, by its dotted name.
    """
    unknown = _unknown(values, SCHEMA)
    if unknown:
        raise ValueError(f"not options of site.yaml: {', '.join(unknown)}")
    notes = notes or {}
    blocks: list[list[str]] = [[]]
    for name, spec in SCHEMA.items():
        given = name in values
        if isinstance(spec, dict):
            if given or defaults:
                blocks += [_section(name, spec, values.get(name) or {}, given, defaults, notes), []]
        elif given or defaults:
            value = values[name] if given else spec.default
            lines = _entry(name, spec, value, "" if given else "# ", notes.get(name))
            if len(lines) > 1 and blocks[-1]:  # an option with comments above starts a block
                blocks.append([])
            blocks[-1] += lines
    return "\n\n".join("\n".join(block) for block in blocks if block) + "\n"


def _section(
    name: str, spec: dict, values: dict, given: bool, defaults: bool, notes: dict[str, str]
) -> list[str]:
    lead = "" if given else "# "
    # A help too long to stand beside the key goes above it, as a comment all the same.
    lines = _with_comment(f"{lead}{name}:", lead or "# ", SECTIONS[name].help)
    for key, option in spec.items():
        if key in values:
            lines += _entry(key, option, values[key], "  ", notes.get(f"{name}.{key}"))
        elif defaults:
            inner = "  # " if given else "#   "
            lines += _entry(key, option, option.default, inner, notes.get(f"{name}.{key}"))
    return lines


def _entry(key: str, spec: Option, value: Any, lead: str, note: str | None) -> list[str]:
    """One option's lines: `lead` is what comes before its key, such as '# ' or '  '."""
    shown = shown_default(spec) if value == spec.default else yaml_value(value)
    line = f"{lead}{key}:" + (f" {shown}" if shown else "")
    comment_lead = lead if lead.endswith("# ") else lead + "# "
    above = [comment_lead + text for text in (note or "").splitlines()]
    return above + _with_comment(line, comment_lead, comment(spec))


def _with_comment(line: str, comment_lead: str, text: str) -> list[str]:
    """`line` with `text` beside it, or above it (wrapped) when the two would be too long."""
    beside = f"{line.ljust(COMMENT_COLUMN - 1)} # {text}"
    if len(beside) <= WIDTH:
        return [beside]
    above = textwrap.wrap(text, WIDTH - len(comment_lead), break_on_hyphens=False)
    return [comment_lead + part for part in above] + [line]


def _unknown(values: dict[str, Any], schema: dict[str, Any], section: str = "") -> list[str]:
    found = []
    for name, value in values.items():
        spec = schema.get(name)
        if spec is None:
            found.append(f"{section}{name}")
        elif isinstance(spec, dict) and isinstance(value, dict):
            found += _unknown(value, spec, f"{section}{name}.")
    return found


def example_site_yaml(text: str) -> str:
    """The example site.yaml made again: its own header and values, the schema's comments."""
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    values = yaml.safe_load(text) or {}
    return "\n".join(header) + "\n\n" + site_yaml(values, defaults=False)


# --- docs/configuration.md ------------------------------------------------------------------


def reference_page() -> str:
    """docs/configuration.md: every option, what it accepts, its default and what it does."""
    flags = ", ".join(f"`{flag}`" for _, _, flag in OVERRIDES.values())
    required = [f"`{dotted}`" for dotted, spec in options() if spec.required]
    every_default = {name: _default_tree(spec) for name, spec in SCHEMA.items()}
    parts = [
        "# Configuration reference",
        f"<!-- Generated from tmbuild/config/schema.py by `{REGENERATE}`: "
        "edit the schema, not this page. -->",
        "A site is described by one file, `site.yaml`. Every option has a default, except "
        f"{' and '.join(required)}. `tmbuild init` writes a `site.yaml` that lists every option "
        "at its default, commented out; `tmbuild check` checks one.",
        "- Paths are relative to the folder of `site.yaml`, wherever tmbuild is started.\n"
        f"- The flags {flags} override the file; paths given to them are relative to the "
        "current folder.\n"
        "- A key with nothing after it (`description:`) means its default.\n"
        "- Every problem is reported at once, each at its line and column: "
        f"`site.yaml:7:13: model.quantize: expected one of {', '.join(QUANTIZE)}; got 'fp16'`.\n"
        "- Unknown keys are warnings; `--strict` makes them errors.",
        "## Every option at its default",
        "```yaml\n" + site_yaml(every_default, defaults=False) + "```",
        "## Top level",
        _table([(name, spec) for name, spec in SCHEMA.items() if isinstance(spec, Option)]),
    ]
    for name, spec in SCHEMA.items():
        if isinstance(spec, dict):
            parts += [f"## {name}", _sentence(SECTIONS[name].help, ())]
            parts.append(_table([(f"{name}.{key}", option) for key, option in spec.items()]))
    return "\n\n".join(part for part in parts if part) + "\n"


def _default_tree(spec: Option | dict) -> Any:
    if isinstance(spec, dict):
        return {name: _default_tree(option) for name, option in spec.items()}
    return spec.default


def _table(options: list[tuple[str, Option]]) -> str:
    """A table of options, then the details of those that have more to say."""
    flags = {_dotted(section, key): flag for section, key, flag in OVERRIDES.values()}
    rows = ["| Option | Accepts | Default | What it does |", "|---|---|---|---|"]
    details = []
    for dotted, spec in options:
        does = _sentence(spec.help, spec.check.choices)
        if dotted in flags:
            does += f" On the command line: `{flags[dotted]}`."
        rows.append(f"| `{dotted}` | {_accepts(spec)} | {_default_cell(spec)} | {_cell(does)} |")
        if spec.details:
            details.append(f"- **`{dotted}`**: {spec.details}")
    return "\n".join(rows) + ("\n\n" + "\n".join(details) if details else "")


def _dotted(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def _accepts(spec: Option) -> str:
    expects, choices = spec.check.expects, spec.check.choices
    if choices:  # the words of the error message, with each choice as code
        listed = ", ".join(choices)
        before, _, after = expects.partition(listed)
        return _cell(before) + ", ".join(f"`{choice}`" for choice in choices) + _cell(after)
    return _cell(expects)


def _default_cell(spec: Option) -> str:
    if spec.required:
        return "required"
    shown = shown_default(spec)
    return f"`{shown}`" if shown else "not set"


def _sentence(text: str, choices: tuple[str, ...]) -> str:
    """Help text as a sentence: a capital letter unless it starts with a value, a full stop."""
    first = text.split(" ", 1)[0].rstrip(":,;")
    if re.fullmatch(r"[a-z]+", first) and first not in (*choices, "true", "false"):
        text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _cell(text: str) -> str:
    """Plain text in a Markdown table cell: no HTML, no column break."""
    return html.escape(text, quote=False).replace("|", "\\|")


# --- the command ----------------------------------------------------------------------------


def generated_files(root: Path) -> dict[Path, str]:
    """The files under `root` made from the schema, with the text each should have."""
    example = root / EXAMPLE
    return {
        root / REFERENCE_PAGE: reference_page(),
        example: example_site_yaml(example.read_text(encoding="utf-8")),
    }


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def main(argv: list[str] | None = None) -> int:
    """Say which generated files differ from what the schema makes; rewrite them with --write."""
    parser = argparse.ArgumentParser(
        prog="python -m tmbuild.config.reference",
        description=f"Check (or rewrite) {REFERENCE_PAGE} and the example {EXAMPLE} against "
        "the site.yaml schema in tmbuild/config/schema.py.",
    )
    parser.add_argument("--write", action="store_true", help="rewrite the files that differ")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="the tmbuild checkout (default: the one this module is in)",
    )
    args = parser.parse_args(argv)
    if not (args.root / "pyproject.toml").is_file() or not (args.root / EXAMPLE).is_file():
        parser.error(f"{args.root}: not a tmbuild checkout; pass --root")
    try:
        texts = generated_files(args.root)
    except (ValueError, yaml.YAMLError) as error:  # the example holds what is not an option
        print(f"{EXAMPLE}: {error}", file=sys.stderr)
        return 1
    stale = [path for path, text in texts.items() if _read(path) != text]
    if args.write:
        for path in stale:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(texts[path], encoding="utf-8")
            print(f"Wrote {path.relative_to(args.root)}")
        return 0
    for path in stale:
        print(f"{path.relative_to(args.root)}: differs from the schema; run {REGENERATE}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
