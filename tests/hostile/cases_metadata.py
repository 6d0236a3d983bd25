"""metadata.json text that no page can hold: refused at the export, not in a template."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import write_export
from harness import Case, registrar

CASES: list[Case] = []
case = registrar(CASES, "metadata")


@case(
    "label-lone-surrogate",
    "m/metadata.json: ",
    "labels\\[1\\] is 'dog\\\\ud800', which holds a lone surrogate and is not text; rename",
)
def label_lone_surrogate(project: Path) -> list[str]:
    folder = write_export(project / "m")
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    metadata["labels"][1] = "dog\ud800"
    # ensure_ascii writes the surrogate as the escape \ud800, as a JSON file can.
    (folder / "metadata.json").write_text(json.dumps(metadata), encoding="ascii")
    return ["--model", "m", "-o", "dist"]
