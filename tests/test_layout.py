"""The package's layout: one folder per stage, no import cycles, click in the CLI alone.

Imports are read from the source (function-level ones included), so a cycle is caught even
where a lazy import would hide it at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "tmbuild"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """The tmbuild modules this file names, each as the most specific module that exists."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from tmbuild.model import weights` names the module tmbuild.model.weights.
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in MODULES
                else node.module
                for alias in node.names
            ]
        else:
            continue
        found.update(name for name in names if name in MODULES and name != "tmbuild")
    return found


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _concern(module: str) -> str:
    """tmbuild.model.plan → model; a flat module (tmbuild.build) is a concern of its own."""
    return module.split(".")[1] if module != "tmbuild" else "tmbuild"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, as the list of its nodes, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None


def test_no_module_imports_itself_back():
    assert _cycle(GRAPH) is None


def test_no_stage_imports_back_a_stage_that_imports_it():
    concerns: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        mine = _concern(module)
        concerns.setdefault(mine, set()).update(
            _concern(target) for target in targets if _concern(target) != mine
        )
    assert _cycle(concerns) is None


def test_the_build_reads_the_pipeline_in_order():
    build = GRAPH["tmbuild.build"]
    stages = {_concern(module) for module in build}
    assert {"config", "export", "model", "page", "output", "hosts"} <= stages
    assert not stages & {"cli", "preview", "evaluate", "diff"}


def test_click_lives_in_the_cli_package_only():
    users = {
        name
        for name, path in MODULES.items()
        if any(
            isinstance(node, ast.Import | ast.ImportFrom)
            and any(
                (getattr(node, "module", None) or alias.name).split(".")[0] == "click"
                for alias in node.names
            )
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    }
    assert users and all(name.startswith("tmbuild.cli") for name in users)


def test_a_package_file_names_its_modules_and_imports_none():
    for name, path in MODULES.items():
        if path.name != "__init__.py" or name in ("tmbuild", "tmbuild.cli"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert not [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)], name
        documented = ast.get_docstring(tree) or ""
        modules = {m.rsplit(".", 1)[1] for m in MODULES if m.startswith(name + ".")}
        assert modules and all(f"- {module}:" in documented for module in modules), name


def test_no_module_grows_past_one_sitting():
    long = {
        name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 450
    }
    assert long == {}
