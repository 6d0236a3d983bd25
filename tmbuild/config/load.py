"""Loading and validating site.yaml: one schema, every problem at once, each at its line.

Problems are all reported together instead of one per rerun, each at the line and column it comes
from (tmbuild.config.yamlfile reads the file; tmbuild.config.schema declares every option, with
its default and its check from tmbuild.config.checks).
Unknown keys only warn (a typo should not block a build) unless `strict` makes them fatal.
Paths are resolved against the folder of site.yaml, never the working directory, so a build gives
the same result wherever it is started; only command-line overrides are relative to the working
directory, because that is where the user typed them.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from tmbuild.config import checks
from tmbuild.config.checks import Invalid
from tmbuild.config.schema import (
    DEFAULT_OUTPUT,
    HOSTS,
    OVERRIDES,
    QUANTIZE,
    SCHEMA,
    SECTIONS,
    Option,
    SiteConfig,
    options,
)
from tmbuild.config.yamlfile import (
    MAX_MESSAGES,
    UNREADABLE,
    Report,
    Value,
    describe,
    parse,
    quote,
    read_text,
)
from tmbuild.errors import ConfigError

# SiteConfig and the choices are declared in tmbuild.config.schema; many modules name them here.
__all__ = ["HOSTS", "QUANTIZE", "SiteConfig", "load_config"]

_SCHEMA = SCHEMA  # what a file is checked against: option name -> Option, section -> a mapping


def load_config(
    path: Path | None, overrides: dict | None = None, strict: bool = False
) -> tuple[SiteConfig, list[str]]:
    """Read site.yaml (None = defaults only), apply CLI overrides and validate.

    Returns the config and the warnings; all problems are raised together as one ConfigError.
    """
    try:
        cwd = Path.cwd()
    except OSError as exc:  # the working directory was deleted under us
        raise ConfigError([f"cannot open the current folder: {exc.strerror}"]) from None
    overrides = {key: value for key, value in (overrides or {}).items() if value is not None}
    for key in overrides:
        if key not in OVERRIDES:
            raise ValueError(f"unknown config override {key!r}")  # a bug in the caller, not input
    report = Report(None if path is None else _label(Path(path), cwd), strict)
    config_path, root, entries = None, cwd, {}
    if path is not None:
        config_path = (cwd / path).absolute()
        text = read_text(config_path, report.label)
        # The folder the user sees the file in, even if site.yaml itself is a symlink.
        root = config_path.parent.resolve()
        config_path = root / config_path.name
        entries = parse(text, report)

    # An override replaces the file's value, so that value is not checked: CI may pass --model
    # for a machine where the file's own model path does not exist.
    replaced = {_dotted(*OVERRIDES[key][:2]) for key in overrides}
    origins: dict[str, Value | str] = {}
    values = _read_section(entries, _SCHEMA, "", root, report, origins, replaced)
    for key, given in overrides.items():
        section, name, flag = OVERRIDES[key]
        # Given, even if badly: a bad --model is one problem, not also a missing model.path.
        origins[_dotted(section, name)] = flag
        try:
            checked = _option(section, name).check(Value(given), cwd)
        except Invalid as exc:
            for _, message in exc.problems:
                report.add(f"{flag}: {message}")
            continue
        (values[section] if section else values)[name] = checked

    for dotted, spec in options():
        if spec.required and dotted not in origins:
            report.error(None, f"{dotted}: required: {spec.help}")
    if values["output"] is None and "output" not in origins:
        values["output"] = root / DEFAULT_OUTPUT
    _check_output(values, origins, root, report)
    if values["runtime"]["dir"] is not None and values["runtime"]["source"] == "cdn":
        where = report.prefix("runtime.dir", origins.get("runtime.dir"))
        report.add(f"{where}ignored, because runtime.source is cdn", warning=True)
    _check_single_file(values, origins, report)
    _check_embed(values, origins, report)
    _check_csp(values["csp"], origins, report)
    if report.failed():
        raise ConfigError(report.messages())
    return _build(values, config_path, root), report.messages(warnings_only=True)


def _check_csp(csp: dict, origins: dict, report: Report) -> None:
    """'unsafe-inline', 'unsafe-eval' and * only where allow_unsafe: true is written out."""
    if csp["allow_unsafe"]:
        return
    for name, sources in csp.items():
        if name == "allow_unsafe":
            continue
        unsafe = [s for s in sources if s == "*" or s.strip("'") in checks.CSP_UNSAFE]
        if unsafe:
            report.add(
                f"{report.prefix(f'csp.{name}', origins.get(f'csp.{name}'))}{unsafe[0]} undoes "
                "much of what the policy protects against; remove it, or write "
                "csp: {allow_unsafe: true} to mean it"
            )


def _check_embed(values: dict, origins: dict, report: Report) -> None:
    """An embedded classifier lives in someone else's site: no service worker of its own."""
    mode = values["embed"]["mode"]
    where = report.prefix("embed.mode", origins.get("embed.mode"))
    if mode == "element" and values["single_file"]:
        report.add(f"{where}element cannot be combined with single_file: true; remove one of them")
    if mode == "element" and values["offline"]:
        report.add(
            f"{where}element cannot be combined with offline: true (a service worker belongs "
            "to the site the classifier is put into, not to the classifier); remove one of them"
        )
    if mode == "iframe" and not values["csp"]["frame_ancestors"]:
        report.add(
            f"{where}iframe needs csp.frame_ancestors, the sites that may frame the page (such "
            "as [https://www.example.com]); without it every browser refuses the frame"
        )


def _check_single_file(values: dict, origins: dict, report: Report) -> None:
    """A single file opens from disk: no server, so no service worker and no CDN."""
    if not values["single_file"]:
        return
    where = report.prefix("single_file", origins.get("single_file"))
    if values["offline"]:
        report.add(
            f"{where}cannot be combined with offline: true (a page opened from a file has no "
            "service worker, and needs none: it is offline already); remove one of them"
        )
    if values["runtime"]["source"] == "cdn":
        report.add(
            f"{where}needs runtime.source: bundled, so that TensorFlow.js is inside the file "
            "and it works without a network"
        )


def _dotted(section: str, name: str) -> str:
    return f"{section}.{name}" if section else name


def _option(section: str, name: str) -> Option:
    return _SCHEMA[section][name] if section else _SCHEMA[name]


def _label(path: Path, cwd: Path) -> str:
    """Name the file as the user would recognise it: as typed, or relative to where they are."""
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return path.name


def _read_section(
    entries: dict[str, tuple[Value, Value]],
    schema: dict[str, Any],
    section: str,
    base: Path,
    report: Report,
    origins: dict[str, Value | str],
    replaced: set[str],
) -> dict[str, Any]:
    """Check one mapping against its schema; fill in defaults; note where each key was set."""
    values: dict[str, Any] = {}
    for name, (key, value) in entries.items():
        dotted = _dotted(section, name)
        spec = schema.get(name)
        if spec is None:
            # Suggestions cost time; past the message cap nobody will read them.
            wanted = len(name) <= 64 and len(report.lines) < MAX_MESSAGES
            hint = _suggest(name, schema, section) if wanted else ""
            where = f"{section}: " if section else ""
            report.warn(key, f"{where}unknown key {quote(name)}{hint}")
            continue
        if value.value is None:  # `key:` with nothing after it means the default
            continue
        if isinstance(spec, dict):
            if not isinstance(value.value, dict):
                # Its options count as given (badly), so none is also reported as missing.
                origins.update((_dotted(dotted, option), key) for option in spec)
                if value.value is not UNREADABLE:
                    report.error(
                        key,
                        f"{dotted}: expected a mapping with keys "
                        f"{', '.join(spec)}; got {describe(value)}",
                    )
                continue
            values[name] = _read_section(value.value, spec, dotted, base, report, origins, replaced)
            continue
        origins[dotted] = key
        if value.value is UNREADABLE or dotted in replaced:
            continue
        try:
            values[name] = spec.check(value, base)
        except Invalid as exc:
            for at, message in exc.problems:
                report.error(at or key, f"{dotted}: {message}")
    for name, spec in schema.items():
        if name not in values:
            values[name] = (
                _read_section({}, spec, _dotted(section, name), base, report, origins, replaced)
                if isinstance(spec, dict)
                else spec.default
            )
    return values


def _suggest(name: str, schema: dict[str, Any], section: str) -> str:
    # A key written at the wrong level, e.g. `quantize:` at the top instead of under `model:`.
    for other, spec in _SCHEMA.items():
        if isinstance(spec, dict) and other != section and name in spec:
            return f" (did you mean '{other}.{name}'?)"
    close = difflib.get_close_matches(name, list(schema), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_output(
    values: dict[str, Any], origins: dict[str, Value | str], root: Path, report: Report
) -> None:
    """Refuse an output folder no build may replace, even with --force (root, home, system, inputs).

    Whether an existing folder holds an earlier build is judged when the site is written
    (tmbuild.output.safety), because it may change while the site is built.
    """
    output = values["output"]
    if output is None:
        return
    reason = checks.output_danger(
        output,
        root,
        report.label is not None,
        model=values["model"]["path"],
        templates=values["templates"],
        samples=values["samples"],
        runtime_dir=values["runtime"]["dir"],
    )
    if reason:
        where = report.prefix("output", origins.get("output"))
        report.add(f"{where}{output} {reason}; {checks.NEVER_REPLACED}")


def _build(values: dict[str, Any], config_path: Path | None, root: Path) -> SiteConfig:
    fields = {k: SECTIONS[k].options(**v) if k in SECTIONS else v for k, v in values.items()}
    return SiteConfig(**fields, config_path=config_path, root=root)
