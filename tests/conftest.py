"""Shared fixtures: the real exports in ../shared, and small exports made on the fly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from tmbuild.build import build
from tmbuild.config.load import load_config

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(
    os.environ.get("TMBUILD_FIXTURES", ROOT.parent / "shared" / "fixtures" / "tm-exports")
)
IMAGE_EXPORTS = {
    "official-2class": FIXTURES / "official-2class" / "image-model.zip",
    "brands6-imgs": FIXTURES / "brands6-imgs" / "export",
    "epi-pt4-imgs": FIXTURES / "epi-pt4-imgs" / "export",
    "mask2-ko-twoexports": FIXTURES / "mask2-ko-twoexports" / "export",
}
EXAMPLE_EXPORT = ROOT / "examples" / "shapes"


def pytest_sessionfinish(session, exitstatus) -> None:
    """Close the Chromiums tests/support/browser.py kept running, and their Playwright."""
    browser = sys.modules.get("support.browser")
    if browser is not None:
        browser.RUNNING.stop()


def default_sigint() -> None:
    """Popen preexec_fn: let the child take Ctrl-C even when the tests run in the background.

    A shell starts background jobs with SIGINT ignored, children inherit that, and Python then
    installs no KeyboardInterrupt handler: the interrupt tests would test nothing.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def real_export(name: str) -> Path:
    """Path of a shared real export, or skip the test with the reason."""
    path = IMAGE_EXPORTS.get(name) or FIXTURES / name / "export"
    if not path.exists():
        pytest.skip(f"shared fixture {path} is absent (tests read real exports from ../shared)")
    return path


def _dense(name: str, units: int, activation: str, use_bias: bool, input_dim: int | None = None):
    config = {
        "units": units,
        "activation": activation,
        "use_bias": use_bias,
        "name": name,
        "trainable": True,
    }
    if input_dim is not None:
        config["batch_input_shape"] = [None, input_dim]
        config["dtype"] = "float32"
    return {"class_name": "Dense", "config": config}


def tiny_model(labels: int = 2, image_size: int = 32, channels: int = 3, seed: int = 0):
    """A small model in Teachable Machine's nested layout, and its float32 weights.

    Structure as real exports: Sequential(Sequential(Model(conv), GlobalAveragePooling2D),
    Sequential(Dense(100, relu), Dense(N, softmax, no bias))); tfjs can load it.
    """
    filters = 8
    base = {
        "class_name": "Model",
        "config": {
            "name": "model1",
            "layers": [
                {
                    "name": "input_1",
                    "class_name": "InputLayer",
                    "inbound_nodes": [],
                    "config": {
                        "batch_input_shape": [None, image_size, image_size, channels],
                        "dtype": "float32",
                        "sparse": False,
                        "name": "input_1",
                    },
                },
                {
                    "name": "Conv1",
                    "class_name": "Conv2D",
                    "inbound_nodes": [[["input_1", 0, 0, {}]]],
                    "config": {
                        "filters": filters,
                        "kernel_size": [3, 3],
                        "strides": [2, 2],
                        "padding": "same",
                        "data_format": "channels_last",
                        "dilation_rate": [1, 1],
                        "activation": "relu",
                        "use_bias": True,
                        "name": "Conv1",
                        "trainable": False,
                    },
                },
            ],
            "input_layers": [["input_1", 0, 0]],
            "output_layers": [["Conv1", 0, 0]],
        },
    }
    topology = {
        "class_name": "Sequential",
        "config": {
            "name": "sequential_3",
            "layers": [
                {
                    "class_name": "Sequential",
                    "config": {
                        "name": "sequential_1",
                        "layers": [
                            base,
                            {
                                "class_name": "GlobalAveragePooling2D",
                                "config": {
                                    "data_format": "channels_last",
                                    "name": "gap1",
                                    "trainable": True,
                                },
                            },
                        ],
                    },
                },
                {
                    "class_name": "Sequential",
                    "config": {
                        "name": "sequential_2",
                        "layers": [
                            _dense("dense_Dense1", 100, "relu", True, input_dim=filters),
                            _dense("dense_Dense2", labels, "softmax", False),
                        ],
                    },
                },
            ],
        },
        "keras_version": "tfjs-layers 1.3.1",
        "backend": "tensor_flow.js",
    }
    rng = np.random.default_rng(seed)
    weights = [
        ("Conv1/kernel", [3, 3, channels, filters]),
        ("Conv1/bias", [filters]),
        ("dense_Dense1/kernel", [filters, 100]),
        ("dense_Dense1/bias", [100]),
        ("dense_Dense2/kernel", [100, labels]),
    ]
    entries = [{"name": name, "shape": shape, "dtype": "float32"} for name, shape in weights]
    data = b"".join(
        (rng.standard_normal(int(np.prod(shape))) * 0.2).astype("<f4").tobytes()
        for _, shape in weights
    )
    return topology, entries, data


def tiny_model_base(topology: dict) -> dict:
    """The config of tiny_model's functional base (input_1 → Conv1), to add layers to."""
    return topology["config"]["layers"][0]["config"]["layers"][0]["config"]


# A batch norm's settings as tfjs-layers 1.x exports write them (MobileNetV2's epsilon).
BATCH_NORM = {"axis": -1, "epsilon": 0.001, "center": True, "scale": True}


def functional_layer(kind: str, name: str, sources: list[str], **config) -> dict:
    """A layer of a functional model reading the first output of each layer in `sources`."""
    return {
        "name": name,
        "class_name": kind,
        "inbound_nodes": [[[source, 0, 0, {}] for source in sources]],
        "config": {"name": name, **config},
    }


def write_export(
    folder: Path,
    labels: list | None = None,
    image_size: int = 32,
    grayscale: bool = False,
    weights_name: str = "weights.bin",
    model_json: dict | None = None,
    metadata: dict | None = None,
) -> Path:
    """Write a small valid export (or a variant of it) into `folder` and return the folder."""
    labels = ["cat", "dog"] if labels is None else labels
    topology, entries, data = tiny_model(len(labels), image_size, 1 if grayscale else 3)
    folder.mkdir(parents=True, exist_ok=True)
    if model_json is None:
        model_json = {
            "modelTopology": topology,
            "weightsManifest": [{"paths": [weights_name], "weights": entries}],
        }
    if metadata is None:
        metadata = {
            "tfjsVersion": "1.3.1",
            "tmVersion": "2.4.5",
            "packageVersion": "0.8.4",
            "packageName": "@teachablemachine/image",
            "timeStamp": "2022-07-28T05:59:01Z",
            "userMetadata": {},
            "modelName": "tm-my-image-model",
            "labels": labels,
            "imageSize": image_size,
        }
        if grayscale:
            metadata["grayscale"] = True
    (folder / "model.json").write_text(json.dumps(model_json), encoding="utf-8")
    (folder / "metadata.json").write_text(json.dumps(metadata, ensure_ascii=False), "utf-8")
    (folder / weights_name).write_bytes(data)
    return folder


@pytest.fixture
def tiny_export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "export")


@pytest.fixture(scope="session")
def example_site(tmp_path_factory) -> Path:
    """The example site (site.yaml at the root), built once per run; read it only."""
    output = tmp_path_factory.mktemp("site") / "dist"
    config, _ = load_config(ROOT / "site.yaml", {"output": output})
    build(config)
    return output


@pytest.fixture
def example_export() -> Path:
    if not (EXAMPLE_EXPORT / "model.json").exists():
        pytest.skip("examples/shapes has not been generated")
    return EXAMPLE_EXPORT


def file_tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by its relative POSIX path: to compare two builds byte by byte."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def copy_export(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # shared/ is read-only
    target.chmod(0o755)
    return target
