"""Teachable Machine's own image library, fetched for the tests, and a page that runs it.

`@teachablemachine/image` is the library Teachable Machine's export dialog tells people to use;
its `model.predict(image)` is the reference for "the same predictions as on the Teachable Machine
site". Its package.json asks for `@tensorflow/tfjs` 1.3.1 as a peer (and its README loads
`@tensorflow/tfjs@1.3.1/dist/tf.min.js` next to `teachablemachine-image.min.js`, which reads the
global `tf`). The tests run it on that version and on 4.22.0, the one tmbuild ships.

The tarballs come from `npm pack` at test time, are checked against the sha512 pinned below and
are kept in `${TMBUILD_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/tmbuild}/test-deps/`. They are
never copied into the repository.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.browser import _Handler, parse_headers_file, run_server
from tmbuild.cache import cache_root
from tmbuild.page import tfjs as runtime

TM_IMAGE = ("@teachablemachine/image", "0.8.5")
# The library's peerDependency (what its README loads) and the version tmbuild ships; the
# library's code runs unchanged on both (4.22.0 still has the deprecated `tensor.toFloat()`).
TFJS_PEER = ("@tensorflow/tfjs", "1.3.1")
TFJS_CURRENT = ("@tensorflow/tfjs", "4.22.0")
# `npm pack` of each, hashed with hashlib; npm's own `integrity` for them said the same.
PINNED_SHA512 = {
    TM_IMAGE: "sha512-u6BLQ8RBn38BKee7mmAl+HS9qWgM/2YmUbQYy21eQfqhb7E8xT5LDp7QqEU31rtgEIMDwB/OG8cjmSiuHpqb7A==",  # noqa: E501
    TFJS_PEER: "sha512-eJ8+WYRYYx6o3R4daV3T46ZHI/FN0+wslNnobh6d2Sp/T8PfaFpdR38nRrYtxnz33A80B2pMk4VxzoVivS4/jA==",  # noqa: E501
    TFJS_CURRENT: "sha512-0TrIrXs6/b7FLhLVNmfh8Sah6JgjBPH4mZ8JGb7NU6WW+cx00qK5BcAZxw7NCzxj6N8MRAIfHq+oNbPUNG5VAg==",  # noqa: E501
}

# The official page: TensorFlow.js, its WASM backend when asked for, the library, then
# official.js, which forces the backend and exposes `officialPredict(image, flipped)`: exactly
# the library's `model.predict(image, flipped)`.
OFFICIAL_HTML = """<!doctype html>
<meta charset="utf-8">
<title>@teachablemachine/image reference</title>
{scripts}
"""
OFFICIAL_JS = """"use strict";
window.official = (async () => {{
  const backend = {backend};
  if (backend === "wasm") tf.wasm.setWasmPaths(new URL("./", location.href).href);
  if (!(await tf.setBackend(backend))) throw new Error("tf.setBackend failed: " + backend);
  await tf.ready();
  const model = await tmImage.load("model/model.json", "model/metadata.json");
  window.officialPredict = (image, flipped) => model.predict(image, flipped);
  return {{ backend: tf.getBackend(), tfjs: tf.version.tfjs, labels: model.getClassLabels() }};
}})();
"""
# tmbuild's own verified copies (tmbuild.page.tfjs pins them) serve as tf.min.js's WASM backend.
_WASM_FILES = ("tf-backend-wasm.min.js", "tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm",
               "tfjs-backend-wasm-threaded-simd.wasm")  # fmt: skip


def cache_dir() -> Path:
    """Test-only downloads live beside tmbuild's own cache."""
    return cache_root() / "test-deps"


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


# Tarballs already hashed in this run, by their size and modification time: TensorFlow.js's is
# 28 MB, and each official page used to hash it again.
_VERIFIED: dict[Path, tuple[int, int]] = {}


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def tarball(package: tuple[str, str]) -> Path:
    """The verified `npm pack` tarball of a pinned package; skip when npm cannot fetch it."""
    name, version = package
    path = cache_dir() / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if path.is_file() and _VERIFIED.get(path) == _stamp(path):
        return path
    if path.is_file() and _integrity(path.read_bytes()) == PINNED_SHA512[package]:
        _VERIFIED[path] = _stamp(path)
        return path
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed, and this test needs it once to fetch {name}@{version}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".npm-pack-", dir=path.parent) as download:
        try:
            result = runtime.npm_pack(npm, [f"{name}@{version}"], Path(download))
        except (OSError, subprocess.SubprocessError) as error:
            pytest.skip(f"could not run `npm pack {name}@{version}`: {error}")
        fetched = Path(download) / path.name
        if result.returncode != 0 or not fetched.is_file():
            lines = [line for line in result.stderr.splitlines() if line.strip()] or ["no output"]
            pytest.skip(f"`npm pack {name}@{version}` failed (offline?): {lines[-1][:200]}")
        actual = _integrity(fetched.read_bytes())
        if actual != PINNED_SHA512[package]:
            # Not a skip: the registry served other bytes than the ones this test was written for.
            pytest.fail(f"{name}@{version} from npm has {actual}, pinned {PINNED_SHA512[package]}")
        fetched.replace(path)
        _VERIFIED[path] = _stamp(path)
    return path


def member(package: tuple[str, str], name: str) -> bytes:
    """The bytes of `package/<name>` in a pinned package."""
    path = tarball(package)
    return _member(path, _stamp(path), name)


@functools.lru_cache(maxsize=8)
def _member(path: Path, stamp: tuple[int, int], name: str) -> bytes:
    """Unpacked once a run: finding tf.min.js in the 28 MB tarball took 2-3 s each time."""
    with tarfile.open(path, "r:gz") as archive:
        stream = archive.extractfile(f"package/{name}")
        assert stream is not None, f"{path.name} has no file {name}"
        return stream.read()


def write_official_page(folder: Path, export: Path, tfjs: tuple[str, str], backend: str) -> Path:
    """Write the official page, its scripts and a copy of the original export into `folder`."""
    folder.mkdir(parents=True)
    scripts = ["tf.min.js"]
    (folder / "tf.min.js").write_bytes(member(tfjs, "dist/tf.min.js"))
    if backend == "wasm":
        assert tfjs[1] == runtime.TFJS_VERSION, "the WASM backend must match tf.min.js"
        cached = runtime.ensure_cached(runtime.TFJS_VERSION)
        for name in _WASM_FILES:
            shutil.copyfile(cached / name, folder / name)
        scripts.append("tf-backend-wasm.min.js")
    (folder / "teachablemachine-image.min.js").write_bytes(
        member(TM_IMAGE, "dist/teachablemachine-image.min.js")
    )
    scripts += ["teachablemachine-image.min.js", "official.js"]
    tags = "\n".join(f'<script src="{name}"></script>' for name in scripts)
    (folder / "index.html").write_text(OFFICIAL_HTML.format(scripts=tags), encoding="utf-8")
    (folder / "official.js").write_text(
        OFFICIAL_JS.format(backend=json.dumps(backend)), encoding="utf-8"
    )
    model = folder / "model"
    shutil.copytree(export, model)
    for path in [model, *model.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # shared/ is read-only
    return folder


# What a same-origin document or file needs to be used by the cross-origin-isolated built page.
_ISOLATED = [("Cross-Origin-Embedder-Policy", "require-corp"),
             ("Cross-Origin-Resource-Policy", "same-origin")]  # fmt: skip


class _MountsHandler(_Handler):
    """The built site at `/` under its own `_headers`, other folders at `/<prefix>/`."""

    mounts: dict[str, Path] = {}

    def _mount(self) -> tuple[str, Path] | None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        for prefix, root in self.mounts.items():
            if path.startswith(prefix):
                return path[len(prefix) :], root
        return None

    def translate_path(self, path: str) -> str:
        mount = self._mount()
        if mount is None:
            return super().translate_path(path)
        rest, root = mount
        target = (root / urllib.parse.unquote(rest)).resolve()
        if target != root and root not in target.parents:
            return str(root / ".outside")  # a 404, never a file outside the mount
        return str(target)

    def _matching(self) -> list[tuple[str, str]]:
        return _ISOLATED if self._mount() else super()._matching()


@contextlib.contextmanager
def serve(site: Path, mounts: dict[str, Path]) -> Iterator[str]:
    """Serve `site` with its `_headers`, and each of `mounts` ({"/prefix/": folder}) beside it."""
    headers = site / "_headers"
    handler = type(
        "Handler",
        (_MountsHandler,),
        {
            "rules": parse_headers_file(headers.read_text()) if headers.exists() else [],
            "mounts": {prefix: root.resolve() for prefix, root in mounts.items()},
        },
    )
    with run_server(handler, site) as url:
        yield url
