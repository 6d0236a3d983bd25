"""The pinned TensorFlow.js runtime: which files a page needs, fetched once and verified.

tmbuild serves TensorFlow.js from the built site itself, so every byte of it is pinned here:
the sha512 integrity of each npm tarball and the sha256 of each file taken out of them. The
files come from, in this order of preference:

1. a folder the user names (`runtime.dir` in site.yaml, else `TMBUILD_TFJS_DIR`) holding either
   the extracted files side by side (`tf-core.min.js`, ..., `tfjs-backend-wasm.wasm`: the same
   flat layout as the cache, so a cache folder can be copied to an offline machine) or the five
   tarballs as `npm pack` names them (`tensorflow-tfjs-core-4.22.0.tgz`, ...);
2. the wheel: tmbuild's wheel carries the files (`tfjs_files/<version>/` beside this module,
   put there and checked against these pins by hatch_build.py when the wheel is made), so
   `pip install tmbuild` is enough, offline and without Node.js;
3. the user cache, `${TMBUILD_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/tmbuild}/tfjs/<version>/`;
4. `npm pack`, once, into that cache: for a checkout of tmbuild, whose tree carries none.

A CDN build (`runtime.source: cdn`) needs none of them: the page links the pinned CDN URLs
with the pinned SRI hashes.

What the 4.22.0 bundles need, read from their UMD headers and checked by loading them in
headless Chromium (core, layers and each backend alone, then a small MobileNet-like layers
model saved, reloaded and run; all backends gave identical predictions):

- Every bundle attaches to the global `tf`. tf-core.min.js must run first: a backend or layers
  bundle run before it throws at load (`n.env is not a function`, `reading 'Serializable'`).
- tf-layers.min.js needs only core; it may run before or after the backends.
- tf-backend-webgl.min.js and tf-backend-wasm.min.js each work alone: the CPU kernels they share
  are compiled into them. Their UMD headers import only core (wasm also names node's fs, path,
  perf_hooks and os, unused in a browser).
- Without tf-backend-cpu.min.js nothing is left when WebGL is missing (blocklisted GPU, hardware
  acceleration off): `tf.ready()` rejects with "Could not initialize any backends". So `webgl`
  ships the CPU backend as its fallback (132 kB raw, 32 kB brotli). `wasm` does not: every browser
  that runs the page has WebAssembly, and a CSP without 'wasm-unsafe-eval' is a site bug.
- webgl and wasm both register with priority 2 and the first registered wins a tie, so `auto`
  loads webgl before wasm; cpu has priority 1 and is the last resort.
- Threaded WASM needs no separate worker file in 4.22.0: the worker script is inlined and started
  from a blob: URL. It is picked only on a cross-origin-isolated page (COOP + COEP); then the
  worker imports a blob: script, so a CSP must allow `script-src blob:` as well as
  `worker-src blob:`, or `tf.setBackend('wasm')` never settles.
- `tf.wasm.setWasmPaths({...})` with a map must name all three binaries, before `setBackend`.
- tf-core.min.js leaves out the chained ops (`tensor.reshape()` is undefined; use
  `tf.reshape(tensor)`), and the CPU backend expects a global `seedrandom` that core does not
  provide, so `tf.multinomial` fails on cpu. Classification needs neither.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tmbuild.cache import cache_root
from tmbuild.errors import RuntimeFilesError

log = logging.getLogger(__name__)

TFJS_VERSION = "4.22.0"


@dataclass(frozen=True)
class _Pin:
    name: str
    package: str
    role: str
    sha256: str
    sri: str  # sha384, for `integrity=`: a CDN build needs no copy of the file to write it


# Obtained with `npm pack` and `npm view @tensorflow/<pkg>@4.22.0 dist.integrity` (the two
# agreed, and so did hashlib over the downloaded bytes); the file hashes are sha256sum of
# package/dist/<name> in those tarballs, and the SRI values `openssl dgst -sha384 -binary` of
# the same files. Listed in load order. The integrity strings stay whole (hence the noqa) so
# they can be compared with `npm view` output at a glance.
_PINNED_TARBALLS: dict[str, dict[str, str]] = {
    "4.22.0": {
        "@tensorflow/tfjs-core": "sha512-LEkOyzbknKFoWUwfkr59vSB68DMJ4cjwwHgicXN0DUi3a0Vh1Er3JQqCI1Hl86GGZQvY8ezVrtDIvqR1ZFW55A==",  # noqa: E501
        "@tensorflow/tfjs-layers": "sha512-lybPj4ZNj9iIAPUj7a8ZW1hg8KQGfqWLlCZDi9eM/oNKCCAgchiyzx8OrYoWmRrB+AM6VNEeIT+2gZKg5ReihA==",  # noqa: E501
        "@tensorflow/tfjs-backend-cpu": "sha512-1u0FmuLGuRAi8D2c3cocHTASGXOmHc/4OvoVDENJayjYkS119fcTcQf4iHrtLthWyDIPy3JiPhRrZQC9EwnhLw==",  # noqa: E501
        "@tensorflow/tfjs-backend-webgl": "sha512-H535XtZWnWgNwSzv538czjVlbJebDl5QTMOth4RXr2p/kJ1qSIXE0vZvEtO+5EC9b00SvhplECny2yDewQb/Yg==",  # noqa: E501
        "@tensorflow/tfjs-backend-wasm": "sha512-/IYhReRIp4jg/wYW0OwbbJZG8ON87mbz0PgkiP3CdcACRSvUN0h8rvC0O3YcDtkTQtFWF/tcXq/KlVDyV49wmA==",  # noqa: E501
    },
}
_PINNED_FILES: dict[str, tuple[_Pin, ...]] = {
    "4.22.0": (
        _Pin("tf-core.min.js", "@tensorflow/tfjs-core", "core",
             "0924438788ff7da57b14d0f7c45a05d81611a5a4b52653da6d065e86d348757c",
             "sha384-ZVckeGw84RpbmPMzx1s9LFUqIaeIsG46rmlH/HynDuJikkmGLnTDnEmT0CrKI6Yi"),
        _Pin("tf-layers.min.js", "@tensorflow/tfjs-layers", "layers",
             "212104897d4278e9ab29391fc568115de8520aa0d38d63bd07344902c29c776b",
             "sha384-x+k540hR3rtlh71lOriX5sF/xqz2VnhMgARYLa5IjV+7pwArlppSfPwZzaE6NrpF"),
        _Pin("tf-backend-cpu.min.js", "@tensorflow/tfjs-backend-cpu", "cpu",
             "4f232e90455e04cc5f69a691295d07a881a4ad93d7f229598459b9b533259d83",
             "sha384-gZf8Y2Jsk28VIIkZjV2+JG6Gi+OiYGFalXGsYGOyyFabJ0GwWEc2FguAPIal3tvJ"),
        _Pin("tf-backend-webgl.min.js", "@tensorflow/tfjs-backend-webgl", "webgl",
             "b41fcbb4aee7721af0cc77ecfede60b44ad4ed6d5782a8392b84f774f4359a45",
             "sha384-PAbE0QuTSZkDuS/hX4MEx1MZ0Nwd+mkb2Znz35ZqGDjb36klpR8/mCpykhdd7uHW"),
        _Pin("tf-backend-wasm.min.js", "@tensorflow/tfjs-backend-wasm", "wasm",
             "691bbec0ef8b5a7f17f212e9c5d85832030f90d030b46e99acb4dea1fb16f009",
             "sha384-8zJmraBl5B7v26aoZux6x4HhlWKyW2wD1RVC4LUkQxHS99ATPEvmsTL6D44t0Acv"),
        _Pin("tfjs-backend-wasm.wasm", "@tensorflow/tfjs-backend-wasm", "wasm-binary",
             "70a5d516060464e5269f01c74bac1772d6b8ab6cb612acf16b5cdaf61f78d892",
             "sha384-ZwWxXkngOvkV9/jOFE8ZwnuJTftuqBs9dPATM9/5t0SK6UNhYkhiCmKe98UmiVMj"),
        _Pin("tfjs-backend-wasm-simd.wasm", "@tensorflow/tfjs-backend-wasm", "wasm-binary",
             "77ebb28a6d34f371dbbf2086b7f2de8994acd8ea5a3cf1fa24d2c26c840cac7b",
             "sha384-K3GxiUF8sNsf8m8ZYuEKWXFARCxCn0erZqbTdbYOpxeDRf0k+CWFF5gZ3xbW4cez"),
        _Pin("tfjs-backend-wasm-threaded-simd.wasm", "@tensorflow/tfjs-backend-wasm", "wasm-binary",
             "c052228d4bef185c27bbe59a9e029570c78bbb9f08b3cb46b597851650373de2",
             "sha384-EuJw7PP3AQ4wqZVHrEgsG4/kh0NOitIk4QYoE+NEXyq03nKu/1qfVy0MSCwvvzMK"),
    ),
}  # fmt: skip

# Why each backend gets what it gets: see the module docstring. The keys are site.yaml's
# classifier.backend choices (tests/test_runtime.py checks); this module imports nothing of
# tmbuild's config, since hatch_build.py runs it where PyYAML is not installed.
_ROLES_FOR_BACKEND = {
    "auto": ("core", "layers", "cpu", "webgl", "wasm", "wasm-binary"),
    "webgl": ("core", "layers", "cpu", "webgl"),
    "wasm": ("core", "layers", "wasm", "wasm-binary"),
    "cpu": ("core", "layers", "cpu"),
}

_NPM_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class RuntimeFile:
    name: str  # file name as in the package, e.g. "tf-core.min.js"
    package: str  # "@tensorflow/tfjs-core"
    role: str  # "core" | "layers" | "cpu" | "webgl" | "wasm" | "wasm-binary"
    path: Path | None  # verified local copy; None for a CDN build, which links the file
    sha256: str  # hex digest the bytes must have
    sri: str  # the Subresource Integrity value of the same bytes

    def read_bytes(self) -> bytes:
        """Read the file, checked again: what goes into the site is exactly what was pinned."""
        if self.path is None:
            raise RuntimeFilesError(f"{self.name}: a CDN build has no local copy of it")
        data = _read(self.path)
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise RuntimeFilesError(
                f"{self.path} changed after it was verified: delete it and build again"
            )
        return data


def runtime_files(
    version: str,
    backend: str,
    runtime_dir: Path | None = None,
    with_layers: bool = True,
    local: bool = True,
) -> list[RuntimeFile]:
    """The files the page needs for this backend choice, in load order, verified.

    `with_layers=False` leaves out tf-layers, for a model the page runs from its plan;
    `local=False` (a CDN build) names them with their pinned hashes and finds no copy.
    """
    if backend not in _ROLES_FOR_BACKEND:
        known = ", ".join(_ROLES_FOR_BACKEND)
        raise RuntimeFilesError(f"unknown backend {backend!r}: use one of {known}")
    roles = [r for r in _ROLES_FOR_BACKEND[backend] if with_layers or r != "layers"]
    pins = [pin for pin in _pins(version) if pin.role in roles]
    folder = _folder_with(version, pins, runtime_dir) if local else None
    return [
        RuntimeFile(p.name, p.package, p.role, folder and folder / p.name, p.sha256, p.sri)
        for p in pins
    ]


def cdn_url(version: str, file: RuntimeFile) -> str:
    """Pinned public CDN URL of this exact file (jsDelivr's /npm/<pkg>@<version>/dist/<name>)."""
    _pins(version)
    return f"https://cdn.jsdelivr.net/npm/{file.package}@{version}/dist/{file.name}"


def ensure_cached(version: str, runtime_dir: Path | None = None) -> Path:
    """Make every pinned file of `version` available and verified; return their folder."""
    return _folder_with(version, list(_pins(version)), runtime_dir)


def packaged_dir(version: str) -> Path:
    """Where a wheel carries the files of `version` (empty in a checkout: hatch_build.py)."""
    return Path(__file__).parent / "tfjs_files" / version


def cache_dir(version: str) -> Path:
    """Where the extracted files of `version` are cached."""
    return cache_root() / "tfjs" / version


def npm_pack(npm: str, specs: list[str], destination: Path) -> subprocess.CompletedProcess:
    """Run `npm pack SPEC…` into `destination`; the caller checks the result and the hashes."""
    command = [npm, "pack", *specs, "--json", "--pack-destination", str(destination)]
    # Quiet npm's nags; run outside any project so its package.json and .npmrc play no part.
    env = dict(os.environ, npm_config_update_notifier="false", npm_config_fund="false")
    return subprocess.run(
        command, cwd=destination, env=env, capture_output=True, text=True,
        timeout=_NPM_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip


def tarball_name(package: str, version: str) -> str:
    """The file name `npm pack` gives a package's tarball."""
    return f"{package.lstrip('@').replace('/', '-')}-{version}.tgz"


def _pins(version: str) -> tuple[_Pin, ...]:
    if version not in _PINNED_FILES:
        supported = ", ".join(sorted(_PINNED_FILES))
        raise RuntimeFilesError(
            f"TensorFlow.js {version} is not supported: set runtime.tfjs_version to {supported} "
            f"(the versions whose files tmbuild has pinned hashes for)"
        )
    return _PINNED_FILES[version]


def _remedy(version: str) -> str:
    example = tarball_name("@tensorflow/tfjs-core", version)
    return (
        f"run `tmbuild fetch-runtime` on a machine with npm and network, or set TMBUILD_TFJS_DIR "
        f"to a folder with the five {version} tarballs ({example}, ...)"
    )


def _folder_with(version: str, pins: list[_Pin], runtime_dir: Path | None) -> Path:
    """A folder holding the verified files of `pins`, filling the cache first if need be."""
    source = _user_folder(runtime_dir)
    tarballs = None
    if source is not None:
        folder, label = source
        if any((folder / pin.name).exists() for pin in _pins(version)):
            _verify_extracted(folder, label, version, pins)
            return folder
        tarballs = _user_tarballs(folder, label, version)

    packaged = packaged_dir(version)
    if _holds_verified(packaged, pins):
        return packaged
    cache = cache_dir(version)
    if _holds_verified(cache, pins):
        return cache
    if tarballs is not None:
        _install(version, tarballs, cache)
    else:
        with tempfile.TemporaryDirectory(prefix="tmbuild-npm-pack-") as download:
            _install(version, _npm_pack(version, Path(download)), cache)
    return cache


def _user_folder(runtime_dir: Path | None) -> tuple[Path, str] | None:
    """The folder the user named, with how they named it (for messages), or None."""
    if runtime_dir is not None:
        folder, label = Path(runtime_dir), "runtime.dir"
    elif os.environ.get("TMBUILD_TFJS_DIR"):
        folder, label = Path(os.environ["TMBUILD_TFJS_DIR"]).expanduser(), "TMBUILD_TFJS_DIR"
    else:
        return None
    if not folder.is_dir():
        raise RuntimeFilesError(
            f"{label} {folder} is not a folder: point it at a folder with the TensorFlow.js "
            f"tarballs or extracted files, or unset it to use the cache"
        )
    return folder, label


def _verify_extracted(folder: Path, label: str, version: str, pins: list[_Pin]) -> None:
    missing = [pin.name for pin in pins if not (folder / pin.name).is_file()]
    if missing:
        raise RuntimeFilesError(
            f"{label} {folder} lacks {', '.join(missing)}: copy them from the dist/ folders of "
            f"the {version} npm packages, or replace the folder's files with the five tarballs"
        )
    for pin in pins:
        path = folder / pin.name
        if hashlib.sha256(_read(path)).hexdigest() != pin.sha256:
            raise RuntimeFilesError(
                f"{path} is not {pin.package}@{version}'s dist/{pin.name} (sha256 differs): "
                f"replace it with the file from `npm pack {pin.package}@{version}`"
            )


def _holds_verified(folder: Path, pins: list[_Pin]) -> bool:
    for pin in pins:
        path = folder / pin.name
        try:
            if hashlib.sha256(path.read_bytes()).hexdigest() != pin.sha256:
                log.warning("%s is damaged; fetching TensorFlow.js again", path)
                return False
        except OSError:
            return False
    return True


def _user_tarballs(folder: Path, label: str, version: str) -> dict[str, Path]:
    tarballs = {pkg: folder / tarball_name(pkg, version) for pkg in _PINNED_TARBALLS[version]}
    missing = [path.name for path in tarballs.values() if not path.is_file()]
    if missing:
        raise RuntimeFilesError(
            f"{label} {folder} has neither the extracted files nor the tarballs "
            f"{', '.join(missing)}: fill it with `npm pack` of the five @tensorflow {version} "
            f"packages, or unset {label} to use the cache"
        )
    for package, path in tarballs.items():
        _check_tarball(
            path, package, version, f"replace {path} with `npm pack {package}@{version}`"
        )
    return tarballs


def _npm_pack(version: str, destination: Path) -> dict[str, Path]:
    """Download the pinned tarballs with npm; npm's own integrity report is not trusted."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeFilesError(
            f"npm is not installed, and tmbuild needs it once to download TensorFlow.js "
            f"{version}: install Node.js and {_remedy(version)}"
        )
    packages = list(_PINNED_TARBALLS[version])
    log.info("Downloading TensorFlow.js %s with npm (once; it is cached)", version)
    try:
        result = npm_pack(npm, [f"{pkg}@{version}" for pkg in packages], destination)
    except (OSError, subprocess.SubprocessError) as error:
        raise RuntimeFilesError(f"could not run npm ({error}): {_remedy(version)}") from None
    if result.returncode != 0:
        raise RuntimeFilesError(
            f"`npm pack` could not download TensorFlow.js {version} "
            f"({_npm_error(result.stderr)}): check the network and {_remedy(version)}"
        )
    tarballs = {pkg: destination / tarball_name(pkg, version) for pkg in packages}
    for package, path in tarballs.items():
        if not path.is_file():
            raise RuntimeFilesError(f"`npm pack` did not write {path.name}: {_remedy(version)}")
        _check_tarball(
            path, package, version,
            "check which registry npm uses (`npm config get registry`) and run "
            "`tmbuild fetch-runtime` again",
        )  # fmt: skip
    return tarballs


def _npm_error(stderr: str) -> str:
    """The line of npm's output that says what went wrong, for a one-line message."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "ERR!" in line]
    line = (errors or lines or ["no output"])[0]
    return line if len(line) <= 200 else line[:199] + "…"


def _check_tarball(path: Path, package: str, version: str, fix: str) -> None:
    expected = _PINNED_TARBALLS[version][package]
    digest = hashlib.sha512(_read(path)).digest()
    actual = "sha512-" + base64.b64encode(digest).decode("ascii")
    if actual != expected:
        raise RuntimeFilesError(
            f"{path.name} does not match the pinned integrity of {package}@{version} "
            f"(got {actual[:20]}…, expected {expected[:20]}…): {fix}"
        )


def _install(version: str, tarballs: dict[str, Path], cache: Path) -> None:
    """Extract the pinned files into `cache`, so that it appears only once it is complete."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-partial-", dir=cache.parent))
    except OSError as error:
        raise RuntimeFilesError(
            f"cannot write the TensorFlow.js cache in {cache.parent} ({error.strerror}): "
            f"set TMBUILD_CACHE_DIR to a writable folder"
        ) from None
    try:
        for package, tarball in tarballs.items():
            pins = [pin for pin in _pins(version) if pin.package == package]
            for pin, data in zip(pins, _extract(tarball, [pin.name for pin in pins]), strict=True):
                if hashlib.sha256(data).hexdigest() != pin.sha256:
                    raise RuntimeFilesError(
                        f"dist/{pin.name} in {tarball.name} does not match its pinned sha256: "
                        f"{_remedy(version)}"
                    )
                (staging / pin.name).write_bytes(data)
        _swap_in(staging, cache)
    except OSError as error:
        raise RuntimeFilesError(
            f"cannot write the TensorFlow.js cache {cache} ({error}): "
            f"set TMBUILD_CACHE_DIR to a writable folder"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract(tarball: Path, names: list[str]) -> list[bytes]:
    """The bytes of package/dist/<name> for each name.

    Members are read into memory and written under names from the pins, never under a name the
    archive chose, so a hostile member path (`../x`, a link) cannot reach outside the cache.
    """
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            return [_member_bytes(archive, f"package/dist/{name}", tarball) for name in names]
    except (tarfile.TarError, OSError, EOFError) as error:
        raise RuntimeFilesError(
            f"cannot read {tarball.name} ({error}): replace it with a fresh `npm pack` of it"
        ) from None


def _member_bytes(archive: tarfile.TarFile, member_name: str, tarball: Path) -> bytes:
    try:
        member = archive.getmember(member_name)
    except KeyError:
        member = None
    stream = archive.extractfile(member) if member is not None and member.isfile() else None
    if stream is None:
        raise RuntimeFilesError(
            f"{tarball.name} has no file {member_name}: replace it with a fresh `npm pack` of it"
        )
    return stream.read()


def _swap_in(staging: Path, cache: Path) -> None:
    """Replace `cache` by the complete `staging` folder with renames."""
    old = None
    if cache.exists():
        old = cache.with_name(f"{cache.name}-old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        cache.rename(old)
    try:
        staging.rename(cache)
    except OSError:
        # Another tmbuild filled the cache between our check and now; its copy is as good.
        if not cache.is_dir():
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise RuntimeFilesError(
            f"cannot read {path} ({error.strerror}): check its permissions"
        ) from None
