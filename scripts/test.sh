#!/usr/bin/env bash
# Install everything the test suite needs, then run all of it. CI runs exactly this.
#   - a virtual environment in .venv with tmbuild and its test, tfjs, eval and kernels extras
#   - Debian's chromium for the browser tests (playwright cannot download browsers here)
#   - the pinned TensorFlow.js files, fetched once into the user cache and verified
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v chromium >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests…"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,tfjs,eval,kernels]'

.venv/bin/tmbuild fetch-runtime

exec .venv/bin/python -m pytest "$@"
