"""The leakage check: held-out images that are training images, exact or re-encoded and resized."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from conftest import real_export
from support.browser import chromium
from support.eval_helpers import run

from tmbuild.evaluate.leakage import NEAR_BITS, Fingerprint, duplicates

# Each image drawn at `scale` of its size and saved as JPEG at `quality`, in the browser.
REENCODE_JS = """async ({ data, scale, quality }) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes]));
  const canvas = new OffscreenCanvas(Math.round(bitmap.width * scale),
    Math.round(bitmap.height * scale));
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const blob = await canvas.convertToBlob({ type: "image/jpeg", quality });
  const buffer = new Uint8Array(await blob.arrayBuffer());
  let text = "";
  for (const byte of buffer) text += String.fromCharCode(byte);
  return btoa(text);
}"""


def test_exact_before_near_and_nothing_past_the_bound():
    training = [
        Fingerprint("cat/a.jpg", "1" * 64, 0b1111),
        Fingerprint("cat/b.jpg", "2" * 64, 0xFFFF_0000_FFFF_0000),
    ]
    held_out = [
        Fingerprint("x/same-bytes.jpg", "1" * 64, None),
        Fingerprint("x/near.jpg", "3" * 64, 0b0111),
        Fingerprint("x/far.jpg", "4" * 64, 0xFFFF_FFFF_0000_0000),
    ]
    assert duplicates(held_out, training) == [
        {"image": "x/same-bytes.jpg", "training": "cat/a.jpg", "kind": "exact", "bits": 0},
        {"image": "x/near.jpg", "training": "cat/a.jpg", "kind": "near", "bits": 1},
    ]
    assert duplicates(held_out, []) == []


@pytest.mark.browser
def test_leakage_finds_re_encoded_and_resized_training_copies(tmp_path, monkeypatch):
    export = real_export("epi-pt4-imgs")
    images = export.parent / "images"
    monkeypatch.chdir(tmp_path)
    labels = sorted(path.name for path in images.iterdir())
    # The "training samples": for each label, its first half of the held-out images, re-encoded
    # at JPEG quality 0.6 and resized to 60% (the first one of each copied byte for byte).
    leaked = set()
    with chromium() as context:
        page = context.new_page()
        page.goto("about:blank")
        for label in labels:
            (tmp_path / "training" / label).mkdir(parents=True)
            files = sorted((images / label).iterdir())
            for index, file in enumerate(files[: len(files) // 2]):
                target = tmp_path / "training" / label / f"sample-{index}.jpg"
                if index == 0:
                    shutil.copyfile(file, target)
                else:
                    data = base64.b64encode(file.read_bytes()).decode()
                    again = page.evaluate(REENCODE_JS, {"data": data, "scale": 0.6, "quality": 0.6})
                    target.write_bytes(base64.b64decode(again))
                leaked.add(f"{label}/{file.name}")
    result = run(
        "eval", "--model", export, "--images", images, "--training", "training", "-o", "report"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(Path("report/eval.json").read_text("utf-8"))
    found = report["leakage"]["duplicates"]
    assert {item["image"] for item in found} == leaked  # every copy, and no other image
    assert sum(item["kind"] == "exact" for item in found) == len(labels)
    assert max(item["bits"] for item in found) <= NEAR_BITS
    assert report["images"]["classified"] == 107 - len(leaked)  # left out of the figures
    assert f"{len(leaked)} held-out image(s) are also training images ({len(labels)} exact" in (
        result.stderr
    )
    assert f"{len(leaked)} image(s) are among the {len(leaked)} training images, left out" in (
        result.stdout
    )
    html = Path("report/eval.html").read_text("utf-8")
    assert '<table id="leaked">' in html and "leakage-note" not in html
    kept = run(
        "eval", "--model", export, "--images", images, "--training", "training", "--keep-leaked",
        "-o", "kept",
    )  # fmt: skip
    assert kept.exit_code == 0, kept.output
    assert json.loads(Path("kept/eval.json").read_text("utf-8"))["images"]["classified"] == 107
