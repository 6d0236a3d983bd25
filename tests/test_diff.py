"""`tmbuild diff` on real builds differing by a label, quantisation, a template, or nothing.

Expected values are worked out here from the built files on disk (their sizes and their .gz and
.br siblings), not from the manifest that `tmbuild diff` reads.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from support.diff_helpers import (
    LOGO,
    STYLE_ADDITION,
    run,
    sites_fixture,  # noqa: F401  (the `sites` fixture)
)

from tmbuild.diff.compare import logical_name
from tmbuild.sizes import format_delta, format_size

MODEL = "models/tm-my-image-model"
# What a browser with WebGL downloads on a first visit (see tmbuild.diff.compare): the page, the
# non-runtime assets, TF.js core, layers, WebGL and its CPU fallback, model.json and the shards.
FIRST_VISIT = re.compile(
    r"[^/]+\.(html|js)|assets/(?!tfjs/).+"
    r"|assets/tfjs/tf-(core|layers|backend-cpu|backend-webgl)\.min\.[0-9a-f]{12}\.js"
    # The page runs the model's plan: the shards, not model.json (tmbuild.model.plan).
    r"|models/[^/]+/[^/]+/group1-shard\d+of\d+\.[0-9a-f]{12}\.bin"
)


# ---- what the test expects, from the files on disk ---------------------------------------------


def _served(site: Path) -> dict[str, dict[str, int | str]]:
    """Every file of a built site with its raw size and the sizes hosts serve with siblings."""
    files = {}
    for path in sorted(site.rglob("*")):
        name = path.relative_to(site).as_posix()
        if not path.is_file() or name.endswith((".gz", ".br")) or name == "tmbuild-manifest.json":
            continue
        raw = path.stat().st_size
        sizes = {"raw": raw, "bytes": path.read_bytes()}
        for size, suffix in (("gzip", ".gz"), ("br", ".br")):
            sibling = path.with_name(path.name + suffix)
            sizes[size] = sibling.stat().st_size if sibling.exists() else raw
        files[name] = sizes
    return files


def _logical(path: str) -> str:
    path = re.sub(r"^(models/[^/]+)/v1-[0-9a-f]{8}/", r"\1/", path)
    return re.sub(r"\.[0-9a-f]{12}(?=\.[^./]+$|$)", "", path)


def _totals(site: Path) -> dict[str, int]:
    files = _served(site)
    totals = {"files": len(files)}
    totals.update((size, sum(f[size] for f in files.values())) for size in ("raw", "gzip", "br"))
    totals["first_visit"] = sum(f["br"] for p, f in files.items() if FIRST_VISIT.fullmatch(p))
    return totals


def _changes(old_site: Path, new_site: Path) -> list[dict]:
    old = {_logical(p): (p, f) for p, f in _served(old_site).items()}
    new = {_logical(p): (p, f) for p, f in _served(new_site).items()}
    changes = []
    for name in sorted(old.keys() | new.keys()):
        old_path, before = old.get(name, (None, None))
        new_path, after = new.get(name, (None, None))
        if before and after and before["bytes"] == after["bytes"]:
            if old_path == new_path:
                continue
            kind = "moved"
        else:
            kind = "changed" if before and after else ("added" if after else "removed")
        change = {"change": kind, "name": name, "old_path": old_path, "new_path": new_path}
        for size in ("raw", "gzip", "br"):
            was = before[size] if before else None
            now = after[size] if after else None
            change[size] = {"old": was, "new": now, "delta": (now or 0) - (was or 0)}
        changes.append(change)
    order = ["changed", "added", "removed", "moved"]
    return sorted(changes, key=lambda change: order.index(change["change"]))


def _model_bytes(site: Path) -> int:
    [folder] = site.glob("models/*/*")
    return sum(p.stat().st_size for p in folder.iterdir() if not p.name.endswith((".gz", ".br")))


def _delta_cells(change: dict) -> list[str]:
    return [format_delta(change[size]["delta"]) for size in ("raw", "gzip", "br")]


def _total_rows(old_site: Path, new_site: Path) -> list[tuple[str, str, str, int, int]]:
    old, new = _totals(old_site), _totals(new_site)
    titles = {"first_visit": "first visit"}
    return [
        (
            titles.get(k, k),
            str(old[k]) if k == "files" else format_size(old[k]),
            str(new[k]) if k == "files" else format_size(new[k]),
            old[k],
            new[k],
        )
        for k in ("files", "raw", "gzip", "br", "first_visit")
    ]


# ---- the formatting of sizes ------------------------------------------------------------------


def test_sizes_read_as_in_a_browser_network_panel():
    assert [format_size(n) for n in (0, 999, 1000, 1250, 999_949, 999_950, 2_612_389)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "1.2 kB",
        "999.9 kB",
        "1.00 MB",
        "2.61 MB",
    ]
    assert [format_delta(n) for n in (0, 8, -8, 1200, -2_300_000)] == [
        "0 B",
        "+8 B",
        "-8 B",
        "+1.2 kB",
        "-2.30 MB",
    ]


def test_logical_names_drop_content_hashes():
    assert logical_name("assets/app.3f2a9b1c0d4e.js") == "assets/app.js"
    assert logical_name("assets/tfjs/tf-core.min.0924438788ff.js") == "assets/tfjs/tf-core.min.js"
    assert logical_name("assets/samples/deadbeefcafe.0123456789ab.png") == (
        "assets/samples/deadbeefcafe.png"
    )
    assert logical_name("assets/LICENSE.0123456789ab") == "assets/LICENSE"
    assert logical_name("models/shapes/v1-8aa0f655/group1-shard1of2.381b8a2d2b0a.bin") == (
        "models/shapes/group1-shard1of2.bin"
    )
    assert logical_name("models/shapes/release-2.0-8aa0f655/model.json") == (
        "models/shapes/model.json"
    )
    assert logical_name("index.html") == "index.html"
    assert logical_name("assets/app.js") == "assets/app.js"
    assert logical_name("assets/app.3F2A9B1C0D4E.js") == "assets/app.3F2A9B1C0D4E.js"


# ---- identical builds --------------------------------------------------------------------------


def test_identical_builds_exit_0_in_every_format(sites):
    totals = _totals(sites["base"])
    line = f"No differences: {totals['files']} files, first visit "
    line += f"{format_size(totals['first_visit'])}."
    text = run("diff", sites["base"], sites["same"])
    assert (text.exit_code, text.output) == (0, line + "\n")
    markdown = run("diff", sites["base"], sites["same"], "--format", "markdown")
    assert (markdown.exit_code, markdown.output) == (0, f"### tmbuild diff\n\n{line}\n")
    result = run("diff", sites["base"], sites["same"] / "tmbuild-manifest.json", "--format=json")
    assert result.exit_code == 0
    expected_totals = {k: {"old": v, "new": v, "delta": 0} for k, v in totals.items()}
    assert json.loads(result.output) == {
        "identical": True,
        "summary": {"added": 0, "changed": 0, "moved": 0, "removed": 0},
        "files": [],
        "model": {},
        "site": {},
        "totals": expected_totals,
    }
    # First visit leaves out the WebAssembly backend, metadata.json and _headers.
    assert 0 < totals["first_visit"] < totals["br"]


# ---- a label changed ---------------------------------------------------------------------------


def test_label_change_as_json(sites):
    old, new = sites["base"], sites["label"]
    result = run("diff", old, new, "--format", "json")
    assert result.exit_code == 1, result.output
    old_totals, new_totals = _totals(old), _totals(new)
    assert json.loads(result.output) == {
        "identical": False,
        "summary": {
            kind: sum(c["change"] == kind for c in _changes(old, new))
            for kind in ("added", "changed", "moved", "removed")
        },
        "files": _changes(old, new),
        "model": {
            "labels": {"old": ["cat", "dog"], "new": ["cat", "bird"]},
            "bytes": {"old": _model_bytes(old), "new": _model_bytes(new)},
        },
        "site": {},
        "totals": {
            k: {"old": old_totals[k], "new": new_totals[k], "delta": new_totals[k] - old_totals[k]}
            for k in old_totals
        },
    }
    # The JSON is sorted and the same on every run.
    assert result.output == json.dumps(json.loads(result.output), indent=2, sort_keys=True) + "\n"
    assert run("diff", old, new, "--format", "json").output == result.output


def test_label_change_pairs_moved_model_files(sites):
    changes = {c["name"]: c for c in _changes(sites["base"], sites["label"])}
    # Same weights and topology, new metadata: the folder hash changes, so the shard and
    # model.json keep their bytes under a new path; the page and metadata.json change.
    assert changes[f"{MODEL}/metadata.json"]["change"] == "changed"
    assert changes["index.html"]["change"] == "changed"
    assert changes[f"{MODEL}/model.json"]["change"] == "moved"
    assert changes[f"{MODEL}/group1-shard1of1.bin"]["change"] == "moved"
    assert "assets/style.css" not in changes
    assert not [c for c in changes.values() if c["change"] in ("added", "removed")]


def test_label_change_as_text(sites):
    old, new = sites["base"], sites["label"]
    result = run("diff", old, new)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    changes = _changes(old, new)
    counts = ", ".join(
        f"{sum(c['change'] == kind for c in changes)} {kind}"
        for kind in ("changed", "added", "removed", "moved")
    )
    old_visit, new_visit = _totals(old)["first_visit"], _totals(new)["first_visit"]
    assert lines[0] == (
        f"{counts}; first visit {format_size(old_visit)} → {format_size(new_visit)} "
        f"({format_delta(new_visit - old_visit)})"
    )
    old_bytes, new_bytes = _model_bytes(old), _model_bytes(new)
    assert new_bytes - old_bytes == 1  # "bird" is one letter longer than "dog"
    assert lines[1:5] == [
        "",
        "Model and site",
        "  labels       cat, dog → cat, bird (added bird; removed dog)",
        f"  model bytes  {format_size(old_bytes)} → {format_size(new_bytes)} (+1 B)",
    ]
    assert lines[5] == ""
    assert lines[6].split() == ["Files", "raw", "gzip", "br"]
    rows = lines[7 : 7 + len(changes)]
    for line, change in zip(rows, changes, strict=True):
        cells = ["same content, new path"] if change["change"] == "moved" else _delta_cells(change)
        assert line.split() == [change["change"], change["name"], *" ".join(cells).split()]
    # Sizes line up in columns: every row of numbers ends at the same column as the header.
    assert {len(line) for line in rows if "same content" not in line} == {len(lines[6])}
    totals = lines[8 + len(changes) :]
    assert totals[0].split() == ["Totals", "old", "new", "change"]
    for line, (title, was, now, old_n, new_n) in zip(
        totals[1:], _total_rows(old, new), strict=True
    ):
        change = "0" if title == "files" else format_delta(new_n - old_n)
        assert line.split() == [*title.split(), *was.split(), *now.split(), *change.split()]


# ---- quantisation changed ------------------------------------------------------------------------


def test_quantize_change_as_markdown(sites):
    old, new = sites["base"], sites["float16"]
    result = run("diff", old, new, "--format", "markdown")
    assert result.exit_code == 1
    changes = _changes(old, new)
    by_name = {c["name"]: c for c in changes}
    shard = by_name[f"{MODEL}/group1-shard1of1.bin"]
    # A new hashed shard name is paired with the old one: one change, not an add and a remove.
    assert shard["change"] == "changed"
    assert shard["raw"]["delta"] == -shard["raw"]["old"] // 2  # float32 → float16 halves it
    old_manifest = json.loads((old / "tmbuild-manifest.json").read_text())
    new_manifest = json.loads((new / "tmbuild-manifest.json").read_text())
    old_bytes, new_bytes = _model_bytes(old), _model_bytes(new)
    old_visit, new_visit = _totals(old)["first_visit"], _totals(new)["first_visit"]
    counts = ", ".join(
        f"{sum(c['change'] == kind for c in changes)} {kind}"
        for kind in ("changed", "added", "removed", "moved")
    )
    lines = [
        "### tmbuild diff",
        "",
        f"{counts}; first visit {format_size(old_visit)} → {format_size(new_visit)} "
        f"({format_delta(new_visit - old_visit)})",
        "",
        "| model and site | old | new | note |",
        "|---|---|---|---|",
        "| quantisation | none | float16 |  |",
        f"| weights | {old_manifest['model']['weights_sha256'][:12]} | "
        f"{new_manifest['model']['weights_sha256'][:12]} |  |",
        f"| model bytes | {format_size(old_bytes)} | {format_size(new_bytes)} | "
        f"{format_delta(new_bytes - old_bytes)} |",
        "",
        "| file | change | raw | gzip | br |",
        "|---|---|--:|--:|--:|",
    ]
    for change in changes:
        if change["change"] == "moved":
            cells = ["moved (same content, new path)", "0 B", "0 B", "0 B"]
        else:
            cells = [change["change"], *_delta_cells(change)]
        lines.append(f"| `{change['name']}` | " + " | ".join(cells) + " |")
    lines += ["", "| total | old | new | change |", "|---|--:|--:|--:|"]
    for title, was, now, old_n, new_n in _total_rows(old, new):
        change = "0" if title == "files" else format_delta(new_n - old_n)
        if old_n and abs(new_n - old_n) / old_n >= 0.0005:
            change += f" ({(new_n - old_n) / old_n * 100:+.1f}%)"
        lines.append(f"| {title} | {was} | {now} | {change} |")
    assert result.output == "\n".join(lines) + "\n"


# ---- a template changed --------------------------------------------------------------------------


def test_template_change_pairs_renamed_assets(sites):
    old, new = sites["base"], sites["template"]
    result = json.loads(run("diff", old, new, "--format", "json", "--exit-zero").output)
    assert result["files"] == _changes(old, new)
    by_name = {c["name"]: c for c in result["files"]}
    style = by_name["assets/style.css"]
    assert style["change"] == "changed" and style["old_path"] != style["new_path"]
    assert style["raw"]["delta"] == len(STYLE_ADDITION.encode("utf-8"))
    logo = by_name["assets/logo.svg"]
    assert (logo["change"], logo["old_path"]) == ("added", None)
    assert logo["raw"] == {"old": None, "new": len(LOGO), "delta": len(LOGO)}
    assert result["model"] == {} and result["site"] == {}
    # The model did not change at all: its files keep their paths and are not listed.
    assert not [name for name in by_name if name.startswith("models/")]
    assert result["summary"]["added"] == 1 and result["summary"]["removed"] == 0

    backwards = json.loads(run("diff", new, old, "--format", "json").output)
    logo = {c["name"]: c for c in backwards["files"]}["assets/logo.svg"]
    assert (logo["change"], logo["new_path"], logo["raw"]["delta"]) == ("removed", None, -len(LOGO))


def test_template_change_as_text_names_the_asset_once(sites):
    output = run("diff", sites["base"], sites["template"]).output
    style = {c["name"]: c for c in _changes(sites["base"], sites["template"])}["assets/style.css"]
    [line] = [line for line in output.splitlines() if "assets/style" in line]
    assert line.split() == ["changed", "assets/style.css", *" ".join(_delta_cells(style)).split()]
    assert "style." + style["new_path"].split(".")[1] not in output  # the hash is not shown


# ---- first visit without WebGL -------------------------------------------------------------------


@pytest.mark.parametrize("kernels", [True, False])
def test_first_visit_takes_the_webassembly_path_without_webgl(sites, tmp_path, kernels):
    # A site built with `backend: wasm` ships no WebGL. With tmbuild's kernels a visitor runs
    # them and downloads no TensorFlow.js; without, the WebAssembly backend and its SIMD binary
    # (not the other two binaries), and no CPU backend.
    base = sites["base"]
    site = tmp_path / "wasm"
    shutil.copytree(base, site)
    manifest = json.loads((site / "tmbuild-manifest.json").read_text())
    dropped = ("tf-backend-webgl", "tf-backend-cpu")
    manifest["files"] = [f for f in manifest["files"] if not any(d in f["path"] for d in dropped)]
    manifest["runtime"]["kernels"] = kernels
    (site / "tmbuild-manifest.json").write_text(json.dumps(manifest))
    for path in site.glob("assets/tfjs/*"):
        if path.name.startswith(dropped):
            path.unlink()
    totals = json.loads(run("diff", base, site, "--format", "json").output)["totals"]
    served = _served(site)
    wasm_path = re.compile(r"assets/tfjs/(tf-backend-wasm\.min|tfjs-backend-wasm-simd)\.[0-9a-f]+")
    tensorflow = re.compile(r"assets/tfjs/")
    expected = sum(
        f["br"]
        for p, f in served.items()
        if (FIRST_VISIT.fullmatch(p) or wasm_path.match(p))
        and not (kernels and tensorflow.match(p))
    )
    assert totals["first_visit"]["new"] == expected
    assert totals["first_visit"]["old"] == _totals(base)["first_visit"]


def test_first_visit_counts_model_json_where_the_page_loads_it_with_tf_layers(sites, tmp_path):
    base = sites["base"]
    site = tmp_path / "layers"
    shutil.copytree(base, site)
    manifest = json.loads((site / "tmbuild-manifest.json").read_text())
    assert manifest["model"]["runner"] == "plan"
    manifest["model"]["runner"] = "tf-layers"
    (site / "tmbuild-manifest.json").write_text(json.dumps(manifest))
    totals = json.loads(run("diff", base, site, "--format", "json", "--exit-zero").output)
    [model_json] = [f for p, f in _served(site).items() if p.endswith("/model.json")]
    first_visit = totals["totals"]["first_visit"]
    assert first_visit["new"] - first_visit["old"] == model_json["br"]
    assert totals["model"] == {"runner": {"old": "plan", "new": "tf-layers"}}
