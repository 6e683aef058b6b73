#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, and run the whole
# test suite (GoogleTest multi-process tests, launcher tests) through ctest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MICS_BUILD_DIR:-$root/build}"
# The torch backend, the FSDP2 example and the Python tests run with a cached
# venv (cmake/setup_torch.sh: PyPI torch, ~90 s and 5.4 GB the first time).
# MICS_TORCH_PYTHON= (empty) skips them.
if [ -z "${MICS_TORCH_PYTHON+set}" ]; then
  MICS_TORCH_PYTHON="$(bash "$root/cmake/setup_torch.sh")" # a failed install stops here (set -e)
fi
export MICS_TORCH_PYTHON
"$root/cmake/setup.sh"
ctest --test-dir "$build" --output-on-failure -j 2 "$@"
