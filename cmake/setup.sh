#!/usr/bin/env bash
# Installs what the build needs (Debian packages) if missing, then configures
# and builds mics into ${MICS_BUILD_DIR:-build}. Sourced by the quick-start
# scripts; safe to run again (it only installs what is missing).
# MICS_BASELINES=1 also installs OpenMPI and Gloo for perf/baselines.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MICS_BUILD_DIR:-$root/build}"

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
command -v g++ >/dev/null || need+=(g++)
command -v python3 >/dev/null || need+=(python3)
[ -f /usr/include/gtest/gtest.h ] || need+=(libgtest-dev)
[ -f /usr/include/gmock/gmock.h ] || need+=(libgmock-dev)
[ -f /usr/include/benchmark/benchmark.h ] || need+=(libbenchmark-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
[ -f /usr/include/rdma/fabric.h ] || need+=(libfabric-dev)
[ -f /usr/include/hwloc.h ] || need+=(libhwloc-dev)
command -v ip >/dev/null || need+=(iproute2)
# Optional: the OpenMPI and Gloo baselines of perf/baselines (perf/compare.py).
if [ "${MICS_BASELINES:-0}" = 1 ]; then
  [ -f /usr/include/x86_64-linux-gnu/openmpi/mpi.h ] || [ -f /usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h ] ||
    need+=(libopenmpi-dev)
  command -v mpirun >/dev/null || need+=(openmpi-bin)
  [ -f /usr/include/gloo/allgather.h ] || need+=(libgloo-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}"
fi

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  ${MICS_TORCH_PYTHON:+-DMICS_BUILD_TORCH=ON -DMICS_TORCH_PYTHON=$MICS_TORCH_PYTHON} >/dev/null
cmake --build "$build" -j "$(nproc)"
