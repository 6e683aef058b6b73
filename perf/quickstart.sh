#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, and run the main
# job: nccl-tests-style allgather and reduce-scatter sweeps over 4 local ranks
# (processes talking through shared memory), posing as 2 nodes x 2 ranks.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MICS_BUILD_DIR:-$root/build}"
"$root/cmake/setup.sh"
for coll in all_gather reduce_scatter; do
  "$build/mics-run" -n 4 --nodes 2 --no-prefix -- \
    "$build/perf/${coll}_perf" -b 1K -e 64M -f 4 -w 2 -n 10 "$@"
done
