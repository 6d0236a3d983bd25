#!/usr/bin/env bash
# Compile tmbuild/model/wasm/kernels.c into kernels.wasm with the zig pinned in the `kernels`
# extra (pip install -e '.[kernels]'). Commit both files: users never need a compiler, and
# tests/test_kernels.py checks the binary is exactly what the source compiles to.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
"$python" -m ziglang cc --target=wasm32-freestanding -msimd128 -O3 -nostdlib \
  -Wl,--no-entry -Wl,--export=__heap_base -Wl,--strip-all \
  -o "${1:-tmbuild/model/wasm/kernels.wasm}" tmbuild/model/wasm/kernels.c
