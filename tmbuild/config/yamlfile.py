"""Reading a small YAML settings file safely, keeping the line and column of every value.

The file is parsed with YAML's node API rather than safe_load so each problem can name the line
and column it comes from. The loader refuses what a hand-written settings file never needs and a
hostile one could abuse: aliases, unknown tags, duplicate keys, deep nesting, huge files. This
module knows nothing of which keys the file may hold; tmbuild.config.load checks them.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from tmbuild.errors import ConfigError

# A real site.yaml is under 2 KB; the cap also bounds the pure-Python parse to well under a second.
MAX_CONFIG_BYTES = 256 * 1024
MAX_DEPTH = 16  # settings need a few levels; the cap keeps hostile nesting off the call stack
MAX_MESSAGES = 100


@dataclass(frozen=True)
class Value:
    """A value from the file with where and how it was written, or one given as a flag."""

    value: Any  # a scalar, list[Value], or dict[str, tuple[key Value, value Value]]
    line: int | None = None  # 1-based, like editors
    col: int | None = None
    text: str | None = None  # a scalar exactly as written, to explain YAML's typing of `4.22`


UNREADABLE = object()  # a scalar YAML could not construct; already reported


def quote(text: str) -> str:
    """Quote user text for a message, cut short so one value cannot flood the terminal."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def describe(v: Value, want_text: bool = False) -> str:
    """Say what the user wrote, and how YAML read it when that is the surprise."""
    x = v.value
    if isinstance(x, str):
        return quote(x)
    if isinstance(x, list):
        return "a list"
    if isinstance(x, dict):
        return "a mapping"
    if x is None:
        return "an empty value"
    shown = quote(v.text)[1:-1] if v.text is not None else str(x)
    if isinstance(x, bool):
        kind = "a boolean"
    elif isinstance(x, int | float):
        if not want_text:
            return shown
        kind = "a number"
    else:
        kind = "a date" if isinstance(x, date) else "binary data"
    return f"{shown}, which YAML reads as {kind}" + (" — put it in quotes" if want_text else "")


class Report:
    """Collects problems and warnings, each one line that points into the file."""

    def __init__(self, label: str | None, strict: bool):
        self.label, self.strict = label, strict
        # In the order found, so a warning sits beside the errors it explains (a misspelt key is
        # why a required one is missing); fatal is False for a warning strict mode does not raise.
        self.lines: list[tuple[str, bool]] = []

    def failed(self) -> bool:
        return any(fatal for _, fatal in self.lines)

    def messages(self, warnings_only: bool = False) -> list[str]:
        lines = [line for line, fatal in self.lines if not (warnings_only and fatal)]
        if len(lines) <= MAX_MESSAGES:  # a hostile file could otherwise make 100,000 lines
            return lines
        return lines[:MAX_MESSAGES] + [f"... and {len(lines) - MAX_MESSAGES} more"]

    def where(self, at: Value | yaml.Mark | None) -> str:
        if self.label is None:
            return ""
        if isinstance(at, yaml.Mark):
            return f"{self.label}:{at.line + 1}:{at.column + 1}: "
        if at is None or at.line is None:
            return f"{self.label}: "
        return f"{self.label}:{at.line}:{at.col}: "

    def prefix(self, dotted: str, origin: Value | str | None) -> str:
        """The start of a message about an option set in the file, by a flag or by default."""
        if isinstance(origin, str):
            return f"{origin}: "
        return f"{self.where(origin)}{dotted}: "

    def error(self, at: Value | yaml.Mark | None, message: str) -> None:
        self.add(self.where(at) + message)

    def warn(self, at: Value | None, message: str) -> None:
        self.add(self.where(at) + message, warning=True)

    def add(self, line: str, warning: bool = False) -> None:
        """Record a line that already says where it comes from."""
        self.lines.append((line, self.strict or not warning))


def read_text(path: Path, label: str) -> str:
    """Read the file as UTF-8 text, refusing one too large to be a settings file."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError([f"{label}: no such file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{label}: is a folder; give the path of site.yaml itself"]) from None
    except OSError as exc:
        raise ConfigError([f"{label}: cannot read: {exc.strerror or exc}"]) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{label}: larger than 256 KiB; a site.yaml is a few hundred bytes"])
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        col = len(data[start : exc.start].decode("utf-8", "replace")) + 1
        bad = f"0x{data[exc.start]:02x}"
        raise ConfigError(
            [f"{label}:{line}:{col}: not UTF-8 text (byte {bad}); save as UTF-8"]
        ) from None


class _Refused(Exception):
    def __init__(self, mark: yaml.Mark, message: str):
        super().__init__(message)
        self.mark, self.message = mark, message


class _Loader(yaml.SafeLoader):
    """A SafeLoader that refuses aliases and deep nesting while it composes nodes."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            # One alias can repeat a node exponentially often ("billion laughs"); and a
            # site.yaml is short enough never to need one.
            name = quote(event.anchor)[1:-1]
            message = f"YAML aliases (*{name}) are not supported; write the value out"
            raise _Refused(event.start_mark, message)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Refused(event.start_mark, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def parse(text: str, report: Report) -> dict[str, tuple[Value, Value]]:
    """Compose the YAML into located values; only a syntax error stops at once."""
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None or node.tag == "tag:yaml.org,2002:null":  # an empty or all-comment file
            return {}
        top = _convert(node, loader, report, "")
    except _Refused as exc:
        raise ConfigError([report.where(exc.mark) + exc.message]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_error(exc, text, report)]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if top.value is UNREADABLE:
        raise ConfigError(report.messages())
    if not isinstance(top.value, dict):
        report.error(top, f"expected 'key: value' settings at the top level; got {describe(top)}")
        raise ConfigError(report.messages())
    return top.value


def _yaml_error(exc: yaml.YAMLError, text: str, report: Report) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        bad = f"{exc.character:#06x}"
        return f"{report.label}:{line}:{col}: invalid YAML: character {bad} is not allowed"
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        problem = exc.problem or "syntax error"
        if "'\\t'" in problem:
            problem = "a tab; YAML indentation must use spaces"
        context = ""
        if exc.context and exc.context_mark is not None:
            context = f" ({exc.context} at line {exc.context_mark.line + 1})"
        return f"{report.where(exc.problem_mark)}invalid YAML: {problem}{context}"
    return f"{report.where(None)}invalid YAML: {exc}"


def _convert(node: yaml.Node, loader: _Loader, report: Report, path: str) -> Value:
    """Turn a composed node into a Value tree, reporting duplicate keys and odd tags."""
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    inside = f"{path}: " if path else ""
    if isinstance(node, yaml.ScalarNode):
        try:
            return Value(loader.construct_object(node), line, col, node.value)
        except yaml.constructor.ConstructorError as exc:
            report.error(node.start_mark, f"{inside}{exc.problem}")
        # PyYAML's constructors raise ValueError, IndexError, ... on `!!int abc`, `!!int ''`,
        # `2024-13-45` or 5000 digits; any failure to build one scalar is the input's fault.
        except Exception:
            kind = node.tag.rsplit(":", 1)[-1]
            report.error(node.start_mark, f"{inside}cannot read {quote(node.value)} as {kind}")
        return Value(UNREADABLE, line, col)
    if node.tag not in ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"):
        report.error(node.start_mark, f"{inside}unsupported YAML tag {quote(node.tag)}")
        return Value(UNREADABLE, line, col)
    if isinstance(node, yaml.SequenceNode):
        items = enumerate(node.value)
        return Value([_convert(n, loader, report, f"{path}[{i}]") for i, n in items], line, col)
    entries: dict[str, tuple[Value, Value]] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            report.error(key_node.start_mark, f"{inside}keys must be plain names")
            continue
        name = key_node.value
        key = Value(name, key_node.start_mark.line + 1, key_node.start_mark.column + 1, name)
        if name in entries:
            first = entries[name][0].line
            report.error(key, f"{inside}duplicate key {quote(name)} (first at line {first})")
            continue
        dotted = f"{path}.{name}" if path else name
        entries[name] = (key, _convert(value_node, loader, report, dotted))
    return Value(entries, line, col)


def set_scalar(text: str, section: str, key: str, raw: str) -> str:
    """`text` with `section.key` set to the YAML scalar `raw`, and every other character kept.

    Only the value's own characters change, so comments, blank lines, key order and the style
    of other values stay as the user wrote them. A key or section that is only there commented
    out, as `tmbuild init` writes defaults (`# classifier:`, `#   threshold: 0.7`), has its
    lines uncommented; a missing key becomes the section's first key; a missing section is
    added at the end of the file.
    """
    newline = "\r\n" if "\r\n" in text else "\n"
    root = _root(text)
    indent = " " * _child_indent(root)
    entry = f"{key}: {raw}"
    holder = _entry(root, section) if isinstance(root, yaml.MappingNode) else None
    if holder is None:  # no such section (or an empty file): uncomment it, or add it at the end
        uncommented = _uncomment_section(text, section, key, raw, newline)
        if uncommented is not None:
            return uncommented
        ending = "" if not text or text.endswith("\n") else newline
        return f"{text}{ending}{section}:{newline}{indent}{entry}{newline}"
    section_key, value = holder
    if isinstance(value, yaml.MappingNode):
        found = _entry(value, key)
        if found is not None:
            return _replaced(text, *found, raw, f"{section}.{key}")
        if value.flow_style:  # {top_k: 3} -> {threshold: 0.6, top_k: 3}
            brace = value.start_mark.index + 1
            return text[:brace] + entry + (", " if value.value else "") + text[brace:]
        first = value.value[0][0].start_mark  # a block mapping has at least one key
        commented = _commented_key(text, section_key.end_mark.index, key)
        if commented is not None:
            return _uncommented(text, commented, first.column, key, raw)
        line_start = first.index - first.column
        return f"{text[:line_start]}{' ' * first.column}{entry}{newline}{text[line_start:]}"
    if isinstance(value, yaml.ScalarNode) and value.tag == "tag:yaml.org,2002:null":
        # `classifier:` (or `classifier: ~`): the option goes on a line of its own below it.
        text = text[: value.start_mark.index] + text[value.end_mark.index :]
        commented = _commented_key(text, section_key.end_mark.index, key)
        if commented is not None:
            return _uncommented(text, commented, len(indent), key, raw)
        line_end = text.find("\n", section_key.end_mark.index)
        line_end = len(text) if line_end == -1 else line_end
        if text[line_end - 1 : line_end] == "\r":
            line_end -= 1
        return f"{text[:line_end]}{newline}{indent}{entry}{text[line_end:]}"
    raise ValueError(f"{section} is not a mapping")


def _commented_key(text: str, start: int, key: str) -> re.Match | None:
    """The first commented-out `#   key: value` line of the section whose key ends at `start`:
    among the lines after it, up to the next line that starts a top-level key."""
    section_end = re.compile(r"^[^\s#]", re.MULTILINE).search(text, text.find("\n", start) + 1)
    end = section_end.start() if section_end else len(text)
    line = re.compile(rf"^[ \t]*#[ \t]*{re.escape(key)}:[^\r\n]*", re.MULTILINE)
    found = line.search(text, text.find("\n", start) + 1, end)
    return found if found and text.find("\n", start) != -1 else None


def _uncommented(text: str, line: re.Match, column: int, key: str, raw: str) -> str:
    """`text` with the commented-out `key` line replaced by `key: raw` at `column`; a comment
    after the value keeps its column where it can, as the default's explanation."""
    new = f"{' ' * column}{key}: {raw}"
    comment = re.search(r"\s#", line.group()[line.group().index(":") :])
    if comment is not None:
        at = line.group().index(":") + comment.start() + 1
        new += " " * max(1, at - len(new)) + line.group()[at:]
    return text[: line.start()] + new + text[line.end() :]


def _uncomment_section(text: str, section: str, key: str, raw: str, newline: str) -> str | None:
    """`text` with a commented-out `# section:` block made real: its header uncommented and
    `key` set, from its commented default if the block has one; None without such a block."""
    header = re.compile(rf"^#([ \t]?){re.escape(section)}:[^\r\n]*", re.MULTILINE).search(text)
    if header is None:
        return None
    block_end = re.compile(r"^(?!#)", re.MULTILINE).search(text, header.end() + 1)
    end = block_end.start() if block_end else len(text)
    line = re.compile(
        rf"^#([ \t]{{{len(header[1]) + 1},}}){re.escape(key)}:[^\r\n]*", re.MULTILINE
    ).search(text, header.end(), end)
    body = header.group()[1 + len(header[1]) :]
    comment = re.search(r"\s#", body)
    uncommented = f"{section}:"
    if comment is not None:  # keep the explanation at its column
        at = header.group().index(body) + comment.start() + 1
        uncommented += " " * max(1, at - len(uncommented)) + header.group()[at:]
    if line is None:
        indent = " " * 2
        added = f"{uncommented}{newline}{indent}{key}: {raw}"
        return text[: header.start()] + added + text[header.end() :]
    column = len(line[1]) - len(header[1])
    text = _uncommented(text, line, column, key, raw)
    return text[: header.start()] + uncommented + text[header.end() :]


def _entry(mapping: yaml.MappingNode, name: str) -> tuple[yaml.Node, yaml.Node] | None:
    for key_node, value_node in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == name:
            return key_node, value_node
    return None


def _child_indent(root: yaml.Node | None) -> int:
    """The indentation the file's sections use for their keys (2 if none shows it)."""
    if isinstance(root, yaml.MappingNode):
        for _, value in root.value:
            if isinstance(value, yaml.MappingNode) and not value.flow_style and value.value:
                return value.value[0][0].start_mark.column
    return 2


def set_top_level(text: str, key: str, raw: str) -> str:
    """`text` with the top-level `key` set to the scalar `raw`, every other character kept."""
    root = _root(text)
    found = _entry(root, key) if isinstance(root, yaml.MappingNode) else None
    if found is not None:
        return _replaced(text, *found, raw, key)
    newline = "\r\n" if "\r\n" in text else "\n"
    ending = "" if not text or text.endswith("\n") else newline
    return f"{text}{ending}{key}: {raw}{newline}"


def _root(text: str) -> yaml.Node | None:
    loader = _Loader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _replaced(text: str, key_node: yaml.Node, scalar: yaml.Node, raw: str, dotted: str) -> str:
    """`text` with the value of one `key: value` entry replaced by `raw`."""
    if not isinstance(scalar, yaml.ScalarNode):
        raise ValueError(f"{dotted} is not a single value")
    if scalar.end_mark.index == scalar.start_mark.index:  # `key:` with nothing after it
        colon = text.index(":", key_node.end_mark.index) + 1
        return f"{text[:colon]} {raw}{text[colon:]}"
    return text[: scalar.start_mark.index] + raw + text[scalar.end_mark.index :]


def update_file(path: Path, section: str, key: str, raw: str) -> None:
    """Set `section.key` to `raw` in the YAML file at `path` in place (see set_scalar); an
    empty `section` sets a top-level key.

    The new text is written beside the file and renamed over it, so the file is never half
    written; a symlinked site.yaml has its target updated.
    """
    target = path.resolve()
    staging = target.with_name(f".{target.name}.tmbuild-{os.getpid()}")
    try:
        data = target.read_bytes()
        bom = "\ufeff" if data.startswith(b"\xef\xbb\xbf") else ""
        text = data.decode("utf-8").removeprefix("\ufeff")
        text = set_scalar(text, section, key, raw) if section else set_top_level(text, key, raw)
        staging.write_text(bom + text, encoding="utf-8", newline="")
        shutil.copymode(target, staging)
        os.replace(staging, target)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:
        staging.unlink(missing_ok=True)
        reason = getattr(exc, "strerror", None) or exc
        dotted = f"{section}.{key}" if section else key
        raise ConfigError([f"{path}: cannot update {dotted}: {reason}"]) from None
