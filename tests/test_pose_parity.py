"""Parity with @teachablemachine/pose 0.8.6 on built pose sites (issue #22's bar).

The official library (0.8.6, its TensorFlow.js 1.3.1, fetched at test time:
support/official_pose.py) and tmbuild's engine, on both of its runners (kernels and
TensorFlow.js), on the same PoseNet, head and photos of people: the same top label,
probabilities within 1e-3 and keypoints within a pixel.
"""

from __future__ import annotations

import math
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from support.browser import chromium, serve_site
from support.official_pose import estimate_all
from support.pose_export import read_png, write_pose_export
from test_pose_engine_browser import PARTS
from test_posenet_plan import real_posenet

from tmbuild.build import build
from tmbuild.config.load import load_config

pytestmark = pytest.mark.browser
PHOTOS = ROOT / "examples" / "poses-images"

# --- parity with @teachablemachine/pose 0.8.6 -----------------------------------------------

# On the built page: its own classifier (window.tmbuild), as the page's inputs call it.
ENGINE = """async (cases) => {
  const classifier = window.tmbuild;
  const info = await classifier.ready;
  const results = [];
  for (const [name, flipped] of cases) {
    const image = new Image();
    image.src = "images/" + name;
    await image.decode();
    const result = await classifier.predict(image, { flipped });
    const byLabel = Object.fromEntries(result.predictions.map((p) => [p.label, p.probability]));
    results.push({ probabilities: info.labels.map((label) => byLabel[label]),
      top: result.top.label, pose: result.pose });
  }
  return { info: { runner: info.runner, backend: info.backend, warmupMs: info.warmupMs },
    results };
}"""


def png_bytes(rgb: np.ndarray) -> bytes:
    """An RGB array as a PNG (no filtering)."""
    height, width = rgb.shape[:2]
    raw = b"".join(b"\0" + rgb[y].astype(np.uint8).tobytes() for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def photo_cases(photos: list[Path], folder: Path) -> list[tuple[str, bool]]:
    """Each photo as it is; the first also mirrored, and cut to a landscape and a portrait whose
    sides differ by an odd number of pixels (PoseNet's padding then adds one pixel more than a
    square needs). Written as PNGs into `folder`: (file name, flipped) cases."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for index, photo in enumerate(photos):
        rgb = read_png(photo)
        variants = [(f"{index}.png", rgb)]
        if index == 0:
            height, width = rgb.shape[:2]
            rows = side = min(height, width) * 3 // 5
            rows -= (width - rows) % 2 == 0  # an odd difference
            side -= (height - side) % 2 == 0
            start = (width - side) // 2
            variants.append((f"{index}-landscape.png", rgb[:rows]))
            variants.append((f"{index}-portrait.png", rgb[:, start : start + side]))
        for name, image in variants:
            (folder / name).write_bytes(png_bytes(image))
            cases.append((name, False))
        if index == 0:
            cases.append((f"{index}.png", True))
    return cases


def built_site(folder: Path, export: Path, photos: Path, backend: str) -> Path:
    """A pose site built from `export` as a user builds one, the photos copied beside it."""
    folder.mkdir(parents=True)
    site_yaml = folder / "site.yaml"
    # No .gz/.br siblings: 10.9 MB of float32 weights take a cold cache a minute to compress,
    # and the static server here sends the files as they are.
    site_yaml.write_text(
        f"model:\n  path: {export}\nclassifier:\n  backend: {backend}\n"
        "compress:\n  gzip: false\n  brotli: false\n"
    )
    config, _ = load_config(site_yaml, {"output": folder / "dist"})
    build(config)
    shutil.copytree(photos, folder / "dist" / "images")
    return folder / "dist"


def engine_estimates(tmp_path: Path, export: Path, photos: Path, cases, runner: str) -> dict:
    """The built page's answers: `auto` runs on tmbuild's kernels, `cpu` on TensorFlow.js."""
    backend = "auto" if runner == "kernels" else "cpu"
    site = built_site(tmp_path / f"site-{runner}", export, photos, backend)
    with serve_site(site) as url, chromium() as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url + "/")
        result = page.evaluate(ENGINE, cases)
        assert errors == []
    assert result["info"]["runner"] == runner
    return result


def parity_figures(tmp_path: Path, photos: list[Path]) -> dict:
    """Per runner and case: max |Δp|, same top label, max keypoint distance (px), both poses."""
    export = write_pose_export(tmp_path / "export")
    images = tmp_path / "images"
    cases = photo_cases(photos, images)
    official = estimate_all(export, images, cases)
    figures = {}
    for runner in ("kernels", "tensorflow"):
        ours = engine_estimates(tmp_path, export, images, cases, runner)
        rows = []
        for (name, flipped), theirs, mine in zip(cases, official, ours["results"], strict=True):
            row = {
                "case": name + (" mirrored" if flipped else ""),
                "dp": max(
                    abs(a - b)
                    for a, b in zip(theirs["probabilities"], mine["probabilities"], strict=True)
                ),
                "same_top": int(np.argmax(theirs["probabilities"]))
                == int(np.argmax(mine["probabilities"])),
                "official": theirs["pose"],
                "ours": mine["pose"],
            }
            if theirs["pose"] and mine["pose"]:
                row["px"] = max(
                    math.dist(
                        (a["position"]["x"], a["position"]["y"]),
                        (b["position"]["x"], b["position"]["y"]),
                    )
                    for a, b in zip(
                        theirs["pose"]["keypoints"], mine["pose"]["keypoints"], strict=True
                    )
                )
                row["dscore"] = max(
                    abs(a["score"] - b["score"])
                    for a, b in zip(
                        theirs["pose"]["keypoints"], mine["pose"]["keypoints"], strict=True
                    )
                )
            rows.append(row)
        figures[runner] = rows
    return figures


def people_photos() -> list[Path]:
    """The example pose model's photos (examples/poses-images), the first of each label; first
    of all "arms up/000.png", whose landscape and portrait cuts both keep a pose (measured: the
    library finds one at 0.83, 0.81 and 0.71), so the padding is checked on keypoints too."""
    found = sorted(PHOTOS.rglob("*.png")) if PHOTOS.is_dir() else []
    if not found:
        pytest.skip(f"no photos of people in {PHOTOS} yet")
    by_label: dict[Path, list[Path]] = {}
    for path in found:
        by_label.setdefault(path.parent, []).append(path)
    chosen = [paths[0] for paths in by_label.values()]
    chosen.sort(key=lambda path: path != PHOTOS / "arms up" / "000.png")
    return chosen


def test_the_pose_page_agrees_with_teachable_machines_library_on_both_runners(tmp_path):
    real_posenet()  # skips when PoseNet is not here
    figures = parity_figures(tmp_path, people_photos())
    for runner, rows in figures.items():
        for row in rows:
            where = f"{runner}, {row['case']}"
            assert (row["official"] is None) == (row["ours"] is None), where
            assert row["same_top"], where
            assert row["dp"] < 1e-3, where
            if row["official"]:
                assert [k["part"] for k in row["ours"]["keypoints"]] == PARTS
                assert row["px"] < 1, where
                assert row["dscore"] < 1e-3, where
    # Not vacuous: most cases have a pose (a cut of a drawn person may leave too little of it).
    for rows in figures.values():
        assert sum(1 for row in rows if row["official"]) >= len(rows) / 2
