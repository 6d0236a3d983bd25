"""Fuzzing the export reader and the config loader: any input ends in success or a clean error.

A clean error is a TmbuildError whose every line is one printable line of reasonable length;
anything else raised is a bug. CI runs a bounded, reproducible run (200 examples per target,
the same ones every time); TMBUILD_FUZZ_EXAMPLES=5000 runs longer, on new random inputs each
time (a failure prints the `@reproduce_failure` line to replay it).
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from conftest import tiny_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tmbuild.config.load import _SCHEMA, QUANTIZE, load_config
from tmbuild.errors import ConfigError, TmbuildError
from tmbuild.export.read import read_export
from tmbuild.model.prepare import prepare_model

LOCAL_EXAMPLES = os.environ.get("TMBUILD_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(LOCAL_EXAMPLES or 200),
    deadline=None,  # the first examples pay for imports; a slow input is not a failure here
    derandomize=not LOCAL_EXAMPLES,  # CI: the same examples every run, so failures reproduce
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_LINE = 600  # long enough for a deep temporary path, short enough to be one clear line

TOPOLOGY, ENTRIES, WEIGHTS = tiny_model()
MODEL = {"modelTopology": TOPOLOGY, "weightsManifest": [{"paths": ["w.bin"], "weights": ENTRIES}]}
METADATA = {"labels": ["cat", "dog"], "imageSize": 32, "modelName": "m", "packageVersion": "0.8.4"}

# Values that sit on the edges of what the checks look at; copied on each draw, so that a
# mutation never changes the constants here.
EDGE_NUMBERS = [-1, 0, 1, 3, 2**31, 2**64, 10**400, 1e308, -0.0, float("inf"), True, None]
EDGE_TEXTS = ["", " ", "../w.bin", "/etc/passwd", "C:\\w", "https://x/w", "w.bin\n", "\u202e"]
EDGE_NAMES = ["float64", "uint8", "Dense", "Sequential", "InputLayer", "@teachablemachine/pose"]
EDGE_SHAPES = [[], {}, [None, 32, 32, 3], [[[[[]]]]]]
EDGES = st.sampled_from(EDGE_NUMBERS + EDGE_TEXTS + EDGE_NAMES + EDGE_SHAPES).map(copy.deepcopy)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | EDGES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def _nodes(value, parent=None, key=None):
    """Every (container, key) pair of a JSON document, the document itself as (None, None)."""
    yield parent, key
    if isinstance(value, dict):
        for name in list(value):
            yield from _nodes(value[name], value, name)
    elif isinstance(value, list):
        for index in range(len(value)):
            yield from _nodes(value[index], value, index)


@st.composite
def mutated(draw, document: dict):
    """The document with one to three nodes replaced, deleted or added."""
    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        parent, key = draw(st.sampled_from(list(_nodes(document))))
        if parent is None:
            return draw(JSON)  # the whole document replaced
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[key] = draw(JSON)
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(JSON)
        else:
            parent.insert(key, draw(JSON))
    return document


def _json_bytes(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def weights_bytes() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.just(WEIGHTS),
        st.integers(0, len(WEIGHTS) + 8).map(lambda n: (WEIGHTS * 2)[:n]),
        st.binary(max_size=64),
    )


EXPORT_FILES = st.fixed_dictionaries(
    {
        "model.json": st.one_of(mutated(MODEL).map(_json_bytes), st.binary(max_size=100)),
        "metadata.json": st.one_of(
            mutated(METADATA).map(_json_bytes), st.binary(max_size=100), st.none()
        ),
        "w.bin": st.one_of(weights_bytes(), st.none()),
    }
)


def _check_clean(error: TmbuildError) -> None:
    lines = error.problems if isinstance(error, ConfigError) else [str(error)]
    assert lines
    for line in lines:
        assert line.isprintable() and 0 < len(line) <= MAX_LINE, repr(line[:2000])


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "m").mkdir()
    config, _ = load_config(None, {"model_path": folder / "m", "output": folder / "dist"})
    return config


def _read_and_prepare(path: Path, config, quantize: str) -> None:
    """What a build does with an export before rendering; only clean errors may come out."""
    try:
        export = read_export(path, "m")
        prepare_model(export, replace(config, model=replace(config.model, quantize=quantize)))
    except TmbuildError as error:
        _check_clean(error)


@FUZZ
@given(files=EXPORT_FILES, quantize=st.sampled_from(QUANTIZE))
def test_export_folders(config, files, quantize):
    with tempfile.TemporaryDirectory() as folder:
        for name, data in files.items():
            if data is not None:
                Path(folder, name).write_bytes(data)
        _read_and_prepare(Path(folder), config, quantize)


# zipfile cuts a name at a NUL, and what is left must still be a name to write.
NAME_CHARACTERS = st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")
MEMBER_NAMES = st.one_of(
    st.sampled_from(["model.json", "metadata.json", "w.bin", "x/model.json", "x/w.bin", "x/"]),
    st.sampled_from(["../w.bin", "/w.bin", "x\\w.bin", "__MACOSX/._model.json", "a.zip", "a.h5"]),
    st.text(NAME_CHARACTERS, min_size=1, max_size=16),
)
MEMBER_DATA = st.one_of(
    mutated(MODEL).map(_json_bytes),
    mutated(METADATA).map(_json_bytes),
    weights_bytes(),
    st.binary(max_size=64),
)


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@FUZZ
@given(
    members=st.lists(st.tuples(MEMBER_NAMES, MEMBER_DATA), max_size=5),
    compression=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_LZMA]),
    damage=st.one_of(st.none(), st.tuples(st.integers(0, 10**6), st.integers(0, 255))),
    quantize=st.sampled_from(QUANTIZE),
)
def test_export_zips(config, members, compression, damage, quantize):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "m.zip")
        with warnings.catch_warnings(), zipfile.ZipFile(path, "w", compression) as archive:
            warnings.simplefilter("ignore")  # duplicate names are wanted here
            for name, data in members:
                archive.writestr(name, data)
        if damage is not None:  # one byte changed anywhere: headers, names, data, directory
            data = bytearray(path.read_bytes())
            data[damage[0] % len(data)] = damage[1]
            path.write_bytes(bytes(data))
        _read_and_prepare(path, config, quantize)


# Every option name of site.yaml, at any level, and YAML's merge key.
SCHEMA_KEYS = sorted(
    {
        *_SCHEMA,
        *(key for section in _SCHEMA.values() if isinstance(section, dict) for key in section),
    }
) + ["<<"]
SETTINGS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | EDGES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(SCHEMA_KEYS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=16,
)
YAML_TEXT = st.text(
    st.sampled_from(list("abcm01.~-:?[]{},&*!|>'\"#%@` \t\n/\\"))
    | st.characters(blacklist_categories=["Cs"]),  # a file holds no lone surrogates
    max_size=120,
)


def _load(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder, "site.yaml")
        site.write_text(text, encoding="utf-8")
        Path(folder, "m").mkdir()
        try:
            load_config(site)
        except TmbuildError as error:
            _check_clean(error)


@FUZZ
@given(text=YAML_TEXT)
def test_config_text(text):
    _load(text)


@FUZZ
@given(settings=st.dictionaries(st.sampled_from(SCHEMA_KEYS), SETTINGS, max_size=6))
def test_config_structures(settings):
    settings = {"model": {"path": "m"}, **settings}  # a valid start, unless drawn otherwise
    _load(yaml.safe_dump(settings, allow_unicode=True))
