"""The pinned TensorFlow.js runtime: fetching, verifying, caching and the files per backend."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tmbuild.config.schema import BACKENDS
from tmbuild.errors import RuntimeFilesError
from tmbuild.page import tfjs as runtime
from tmbuild.page.tfjs import (
    TFJS_VERSION,
    cache_dir,
    cdn_url,
    ensure_cached,
    runtime_files,
    tarball_name,
)

PACKAGES = [
    "@tensorflow/tfjs-core",
    "@tensorflow/tfjs-layers",
    "@tensorflow/tfjs-backend-cpu",
    "@tensorflow/tfjs-backend-webgl",
    "@tensorflow/tfjs-backend-wasm",
]
WASM_BINARIES = [
    "tfjs-backend-wasm.wasm",
    "tfjs-backend-wasm-simd.wasm",
    "tfjs-backend-wasm-threaded-simd.wasm",
]
EXPECTED_FILES = {
    "cpu": ["tf-core.min.js", "tf-layers.min.js", "tf-backend-cpu.min.js"],
    "webgl": [
        "tf-core.min.js",
        "tf-layers.min.js",
        "tf-backend-cpu.min.js",
        "tf-backend-webgl.min.js",
    ],
    "wasm": ["tf-core.min.js", "tf-layers.min.js", "tf-backend-wasm.min.js", *WASM_BINARIES],
    "auto": [
        "tf-core.min.js",
        "tf-layers.min.js",
        "tf-backend-cpu.min.js",
        "tf-backend-webgl.min.js",
        "tf-backend-wasm.min.js",
        *WASM_BINARIES,
    ],
}
SIZES = {
    "tf-core.min.js": 294_062,
    "tf-layers.min.js": 426_291,
    "tf-backend-cpu.min.js": 132_422,
    "tf-backend-webgl.min.js": 399_418,
    "tf-backend-wasm.min.js": 149_861,
    "tfjs-backend-wasm.wasm": 311_123,
    "tfjs-backend-wasm-simd.wasm": 424_594,
    "tfjs-backend-wasm-threaded-simd.wasm": 435_643,
}

needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not on PATH")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Keep every test away from the user's real cache and settings."""
    monkeypatch.setenv("TMBUILD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TMBUILD_TFJS_DIR", raising=False)
    return tmp_path / "cache" / "tfjs" / TFJS_VERSION


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory) -> Path:
    """The pinned files fetched for real, once per session, through `npm pack`."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not on PATH")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMBUILD_CACHE_DIR", str(tmp_path_factory.mktemp("real-cache")))
        patch.delenv("TMBUILD_TFJS_DIR", raising=False)
        try:
            return ensure_cached(TFJS_VERSION)
        except RuntimeFilesError as error:
            pytest.skip(f"cannot fetch TensorFlow.js here: {error}")


@pytest.fixture(scope="session")
def real_tarballs(tmp_path_factory, real_cache) -> Path:
    """The five real tarballs (npm's own cache serves them after `real_cache`)."""
    folder = tmp_path_factory.mktemp("tarballs")
    command = ["npm", "pack", *(f"{p}@{TFJS_VERSION}" for p in PACKAGES), "--pack-destination"]
    subprocess.run([*command, str(folder)], cwd=folder, check=True, capture_output=True)
    return folder


def fake_npm(monkeypatch, tarballs: Path, calls: list, tamper: str | None = None) -> None:
    """Stand in for `npm pack`: copy the real tarballs, optionally with one byte flipped."""

    def run(command, **kwargs):
        calls.append(command)
        destination = Path(command[command.index("--pack-destination") + 1])
        for source in tarballs.glob("*.tgz"):
            shutil.copy(source, destination / source.name)
        if tamper:
            flip_last_byte(destination / tamper)
        return subprocess.CompletedProcess(command, 0, stdout="[]", stderr="")

    monkeypatch.setattr(runtime.shutil, "which", lambda name: "/fake/bin/npm")
    monkeypatch.setattr(runtime.subprocess, "run", run)


def forbid_npm(monkeypatch) -> None:
    def run(command, **kwargs):
        raise AssertionError(f"npm was called: {command}")

    monkeypatch.setattr(runtime.subprocess, "run", run)


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def assert_one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


# ---- no network needed ------------------------------------------------------------------


SOME_FILE = runtime.RuntimeFile("a.js", "@tensorflow/tfjs-core", "core", Path("a.js"), "", "")


@pytest.mark.parametrize(
    "call",
    [
        lambda: runtime_files("4.21.0", "auto"),
        lambda: ensure_cached("4.21.0"),
        lambda: cdn_url("4.21.0", SOME_FILE),
    ],
)
def test_unsupported_version_is_refused(call):
    with pytest.raises(RuntimeFilesError) as error:
        call()
    assert assert_one_line(error) == (
        "TensorFlow.js 4.21.0 is not supported: set runtime.tfjs_version to 4.22.0 "
        "(the versions whose files tmbuild has pinned hashes for)"
    )


def test_unknown_backend_is_refused():
    with pytest.raises(RuntimeFilesError, match=r"unknown backend 'gpu': use one of auto, webgl"):
        runtime_files(TFJS_VERSION, "gpu")


def test_public_constants():
    assert TFJS_VERSION == "4.22.0"
    assert BACKENDS == ("auto", "webgl", "wasm", "cpu") == tuple(runtime._ROLES_FOR_BACKEND)
    assert tarball_name("@tensorflow/tfjs-core", "4.22.0") == "tensorflow-tfjs-core-4.22.0.tgz"


def test_cache_location_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("TMBUILD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("4.22.0") == tmp_path / "xdg" / "tmbuild" / "tfjs" / "4.22.0"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert cache_dir("4.22.0") == Path.home() / ".cache" / "tmbuild" / "tfjs" / "4.22.0"
    monkeypatch.setenv("TMBUILD_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir("4.22.0") == tmp_path / "mine" / "tfjs" / "4.22.0"


def test_missing_npm_says_what_to_do(monkeypatch, private_cache):
    monkeypatch.setattr(runtime.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeFilesError) as error:
        runtime_files(TFJS_VERSION, "cpu")
    assert assert_one_line(error) == (
        "npm is not installed, and tmbuild needs it once to download TensorFlow.js 4.22.0: "
        "install Node.js and run `tmbuild fetch-runtime` on a machine with npm and network, or "
        "set TMBUILD_TFJS_DIR to a folder with the five 4.22.0 tarballs "
        "(tensorflow-tfjs-core-4.22.0.tgz, ...)"
    )
    assert not private_cache.exists()


def test_npm_failure_is_one_line(monkeypatch):
    stderr = (
        "npm warn config something\nnpm error code ENOTFOUND\nnpm error network request failed\n"
    )
    monkeypatch.setattr(runtime.shutil, "which", lambda name: "/fake/bin/npm")
    failed = functools.partial(subprocess.CompletedProcess, returncode=1, stdout="", stderr=stderr)
    monkeypatch.setattr(runtime.subprocess, "run", lambda command, **kw: failed(command))
    with pytest.raises(RuntimeFilesError) as error:
        ensure_cached(TFJS_VERSION)
    message = assert_one_line(error)
    assert message.startswith(
        "`npm pack` could not download TensorFlow.js 4.22.0 (npm error code ENOTFOUND): "
        "check the network and run `tmbuild fetch-runtime`"
    )


def test_runtime_dir_that_is_not_a_folder(tmp_path):
    with pytest.raises(RuntimeFilesError) as error:
        runtime_files(TFJS_VERSION, "cpu", tmp_path / "nowhere")
    assert assert_one_line(error).startswith(f"runtime.dir {tmp_path / 'nowhere'} is not a folder")


def test_empty_runtime_dir_names_the_tarballs(tmp_path, monkeypatch):
    monkeypatch.setenv("TMBUILD_TFJS_DIR", str(tmp_path))
    with pytest.raises(RuntimeFilesError) as error:
        ensure_cached(TFJS_VERSION)
    message = assert_one_line(error)
    assert message.startswith(f"TMBUILD_TFJS_DIR {tmp_path} has neither the extracted files")
    assert "tensorflow-tfjs-backend-wasm-4.22.0.tgz" in message


# ---- with the real files ----------------------------------------------------------------


@needs_npm
def test_real_fetch_fills_the_cache_with_exactly_the_pinned_files(real_cache):
    assert real_cache.name == TFJS_VERSION
    assert {p.name: p.stat().st_size for p in real_cache.iterdir()} == SIZES
    assert [p.name for p in real_cache.parent.iterdir()] == [TFJS_VERSION]  # no leftovers


@needs_npm
@pytest.mark.parametrize("backend", BACKENDS)
def test_files_per_backend_in_load_order(backend, real_cache, monkeypatch):
    forbid_npm(monkeypatch)
    files = runtime_files(TFJS_VERSION, backend, real_cache)
    assert [f.name for f in files] == EXPECTED_FILES[backend]
    for file in files:
        assert file.path == real_cache / file.name
        assert len(file.read_bytes()) == SIZES[file.name]
        expected_role = "wasm-binary" if file.name.endswith(".wasm") else file.name[3:-7]
        assert file.role == expected_role.replace("backend-", "")
        assert file.package in PACKAGES


@needs_npm
def test_cdn_url(real_cache):
    core, layers, wasm, binary, *_ = runtime_files(TFJS_VERSION, "wasm", real_cache)
    assert cdn_url(TFJS_VERSION, core) == (
        "https://cdn.jsdelivr.net/npm/@tensorflow/tfjs-core@4.22.0/dist/tf-core.min.js"
    )
    assert cdn_url(TFJS_VERSION, binary) == (
        "https://cdn.jsdelivr.net/npm/@tensorflow/tfjs-backend-wasm@4.22.0/dist/tfjs-backend-wasm.wasm"
    )


@needs_npm
def test_fetch_then_cache_is_reused(real_tarballs, monkeypatch, private_cache):
    calls = []
    fake_npm(monkeypatch, real_tarballs, calls)
    assert ensure_cached(TFJS_VERSION) == private_cache
    assert len(calls) == 1 and calls[0][1] == "pack"
    forbid_npm(monkeypatch)
    assert ensure_cached(TFJS_VERSION) == private_cache
    assert [f.path.parent for f in runtime_files(TFJS_VERSION, "auto")] == [private_cache] * 8


@needs_npm
def test_tampered_download_is_refused_and_nothing_is_cached(
    real_tarballs, monkeypatch, private_cache
):
    fake_npm(monkeypatch, real_tarballs, [], tamper="tensorflow-tfjs-backend-wasm-4.22.0.tgz")
    with pytest.raises(RuntimeFilesError) as error:
        ensure_cached(TFJS_VERSION)
    assert assert_one_line(error).startswith(
        "tensorflow-tfjs-backend-wasm-4.22.0.tgz does not match the pinned integrity of "
        "@tensorflow/tfjs-backend-wasm@4.22.0 (got sha512-"
    )
    assert not private_cache.parent.exists()


@needs_npm
def test_damaged_cache_is_fetched_again(real_tarballs, monkeypatch, private_cache):
    calls = []
    fake_npm(monkeypatch, real_tarballs, calls)
    ensure_cached(TFJS_VERSION)
    flip_last_byte(private_cache / "tf-core.min.js")
    files = runtime_files(TFJS_VERSION, "cpu")
    assert len(calls) == 2
    assert len(files[0].read_bytes()) == SIZES["tf-core.min.js"]
    assert sorted(p.name for p in private_cache.parent.iterdir()) == [TFJS_VERSION]


@needs_npm
def test_tarballs_dir_works_without_npm(real_tarballs, monkeypatch, private_cache):
    forbid_npm(monkeypatch)
    monkeypatch.setenv("TMBUILD_TFJS_DIR", str(real_tarballs))
    assert ensure_cached(TFJS_VERSION) == private_cache
    assert {p.name for p in private_cache.iterdir()} == set(SIZES)


@needs_npm
def test_tampered_tarball_in_runtime_dir_is_refused(real_tarballs, tmp_path, monkeypatch):
    forbid_npm(monkeypatch)
    folder = tmp_path / "offline"
    shutil.copytree(real_tarballs, folder)
    flip_last_byte(folder / "tensorflow-tfjs-core-4.22.0.tgz")
    monkeypatch.setenv("TMBUILD_TFJS_DIR", str(folder))
    with pytest.raises(RuntimeFilesError) as error:
        runtime_files(TFJS_VERSION, "cpu")
    assert assert_one_line(error).endswith(
        f"replace {folder / 'tensorflow-tfjs-core-4.22.0.tgz'} with "
        "`npm pack @tensorflow/tfjs-core@4.22.0`"
    )
    assert not (tmp_path / "cache").exists()


@needs_npm
def test_extracted_runtime_dir_is_used_in_place(real_cache, tmp_path, monkeypatch):
    forbid_npm(monkeypatch)
    folder = tmp_path / "extracted"
    folder.mkdir()
    for name in EXPECTED_FILES["cpu"]:
        shutil.copy(real_cache / name, folder / name)
    files = runtime_files(TFJS_VERSION, "cpu", folder)  # the other five are not needed for cpu
    assert [f.path for f in files] == [folder / name for name in EXPECTED_FILES["cpu"]]

    with pytest.raises(RuntimeFilesError) as error:
        runtime_files(TFJS_VERSION, "wasm", folder)
    assert assert_one_line(error).startswith(
        f"runtime.dir {folder} lacks tf-backend-wasm.min.js, tfjs-backend-wasm.wasm, "
    )

    flip_last_byte(folder / "tf-layers.min.js")
    with pytest.raises(RuntimeFilesError) as error:
        runtime_files(TFJS_VERSION, "cpu", folder)
    assert assert_one_line(error) == (
        f"{folder / 'tf-layers.min.js'} is not @tensorflow/tfjs-layers@4.22.0's "
        "dist/tf-layers.min.js (sha256 differs): replace it with the file from "
        "`npm pack @tensorflow/tfjs-layers@4.22.0`"
    )


@needs_npm
def test_runtime_dir_argument_wins_over_environment(real_cache, tmp_path, monkeypatch):
    forbid_npm(monkeypatch)
    monkeypatch.setenv("TMBUILD_TFJS_DIR", str(tmp_path / "elsewhere"))
    assert ensure_cached(TFJS_VERSION, real_cache) == real_cache


@needs_npm
def test_read_bytes_checks_again(real_cache, tmp_path):
    folder = shutil.copytree(real_cache, tmp_path / "copy")
    core = runtime_files(TFJS_VERSION, "cpu", folder)[0]
    flip_last_byte(core.path)
    with pytest.raises(RuntimeFilesError, match="changed after it was verified"):
        core.read_bytes()


# ---- in a real browser ------------------------------------------------------------------

# Builds a small MobileNet-like model, saves and reloads it (as a page loads an export) and
# classifies one image; resolves to the backend used and the scores.
CLASSIFY = """async (wasmPaths) => {
  if (tf.wasm) tf.wasm.setWasmPaths(wasmPaths);
  await tf.ready();
  const init = {kernelInitializer: tf.initializers.randomNormal({seed: 1, stddev: 0.2})};
  const input = tf.input({shape: [16, 16, 3]});
  let x = tf.layers.conv2d({filters: 8, kernelSize: 3, strides: 2, ...init}).apply(input);
  x = tf.layers.batchNormalization({}).apply(x);
  x = tf.layers.reLU({maxValue: 6}).apply(x);
  x = tf.layers.depthwiseConv2d({kernelSize: 3, padding: 'same'}).apply(x);
  x = tf.layers.globalAveragePooling2d({}).apply(x);
  x = tf.layers.dense({units: 3, activation: 'softmax', ...init}).apply(x);
  let artifacts;
  await tf.model({inputs: input, outputs: x}).save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
  const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  const image = tf.reshape(tf.linspace(0, 1, 16 * 16 * 3), [1, 16, 16, 3]);
  return {backend: tf.getBackend(), scores: Array.from(await model.predict(image).data())};
}"""


@pytest.fixture(scope="module")
def site(real_cache, tmp_path_factory):
    """A local HTTP server over the runtime files; yields its base URL."""
    root = tmp_path_factory.mktemp("site")
    for path in real_cache.iterdir():
        shutil.copy(path, root / path.name)
    (root / "index.html").write_text("<!doctype html><title>runtime</title>")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.browser
@needs_npm
@pytest.mark.parametrize("backend", BACKENDS)
def test_files_load_in_listed_order_and_classify(backend, site, real_cache):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no Chromium at /usr/bin/chromium")
    files = runtime_files(TFJS_VERSION, backend, real_cache)
    wasm_paths = {f.name: f"{site}/{f.name}" for f in files if f.role == "wasm-binary"}
    errors = []
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            profile,
            executable_path="/usr/bin/chromium",
            headless=True,
            args=[
                "--no-sandbox", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--enable-unsafe-swiftshader",
            ],
        )  # fmt: skip
        try:
            page = browser.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{site}/index.html")
            for file in files:
                if file.role != "wasm-binary":
                    page.add_script_tag(url=f"{site}/{file.name}")
            result = page.evaluate(CLASSIFY, wasm_paths)
        finally:
            browser.close()
    assert errors == []
    assert result["backend"] == ("webgl" if backend == "auto" else backend)
    assert len(result["scores"]) == 3
    assert sum(result["scores"]) == pytest.approx(1.0, abs=1e-5)
