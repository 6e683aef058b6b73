#!/usr/bin/env bash
# Makes (or reuses) the Python venv that the torch backend, the FSDP2 example and the Python tests
# run with, and prints its interpreter as the last line of stdout (everything else goes to
# stderr), so that callers can write:
#     MICS_TORCH_PYTHON="$(bash cmake/setup_torch.sh)"
#
# The venv is a cache kept between runs: ${MICS_VENV:-/var/cache/mics/venv}. It is reused when it
# holds a complete install (marker file .mics-ready, and torch/numpy/ml_dtypes import); otherwise it
# is made anew. Packages come from PyPI only: torch (a CUDA build, ~5.4 GB installed, ~45 s to
# download and install on the project's machines; no CPU-only wheel is reachable), numpy,
# ml_dtypes (NumPy bfloat16 for the tests) and scikit-build-core (for
# `pip install --no-build-isolation .`). On a fresh Debian it installs python3-venv if needed.
#
# Environment: MICS_VENV (venv folder), MICS_TORCH_SPEC (pip requirement for torch, default
# "torch", e.g. "torch==2.11.*"), MICS_BOOTSTRAP_PYTHON (interpreter that makes the venv, default
# python3).
set -euo pipefail

venv="${MICS_VENV:-/var/cache/mics/venv}"
torch_spec="${MICS_TORCH_SPEC:-torch}"
bootstrap="${MICS_BOOTSTRAP_PYTHON:-python3}"
packages=("$torch_spec" numpy ml_dtypes scikit-build-core)

log() { echo "setup_torch: $*" >&2; }

# Prints the torch version of a complete venv; fails for a missing or incomplete one.
venv_torch_version() {
  [ -f "$venv/.mics-ready" ] && [ "$(cat "$venv/.mics-ready")" = "${packages[*]}" ] &&
    "$venv/bin/python" -c "import torch, numpy, ml_dtypes; print(torch.__version__)" 2>/dev/null
}

ensure_venv_module() {
  if ! command -v "$bootstrap" >/dev/null; then
    install_debian python3
  fi
  if ! "$bootstrap" -c "import venv, ensurepip" >/dev/null 2>&1; then
    install_debian python3-venv
  fi
}

install_debian() {
  local sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  log "installing Debian package(s) $*"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >&2
}

mkdir -p "$(dirname "$venv")"
# One installer at a time (two CI jobs or a developer and CI on one machine).
exec 9>"$venv.lock"
flock 9

if version="$(venv_torch_version)"; then
  log "reusing $venv (torch $version)"
else
  ensure_venv_module
  rm -rf "$venv"
  log "creating $venv with $("$bootstrap" --version 2>&1)"
  "$bootstrap" -m venv "$venv" >&2
  start=$SECONDS
  log "pip install ${packages[*]} (PyPI; torch is several GB)"
  "$venv/bin/python" -m pip install --no-cache-dir --disable-pip-version-check -q \
    "${packages[@]}" >&2
  echo "${packages[*]}" >"$venv/.mics-ready"
  version="$(venv_torch_version)" || { log "the new venv cannot import torch"; exit 1; }
  log "installed torch $version in $((SECONDS - start)) s; venv size $(du -sh "$venv" | cut -f1)"
fi
echo "$venv/bin/python"
