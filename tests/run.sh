#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, and run the whole
# test suite (GoogleTest multi-process tests, launcher tests) through ctest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MICS_BUILD_DIR:-$root/build}"
"$root/cmake/setup.sh"
ctest --test-dir "$build" --output-on-failure -j 2 "$@"
