#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, and run the main
# job: nccl-tests-style allgather and reduce-scatter sweeps on an emulated
# cluster of 2 nodes x 2 ranks. As root, each node is a network namespace
# (tests/cluster/netns_cluster.sh; docs/CLUSTER.md) and nodes talk libfabric
# over veth pairs (RATE=400mbit shapes each node's link); otherwise the nodes
# are emulated on loopback (MICS_HOST_ID) with the same transports.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MICS_BUILD_DIR:-$root/build}"
"$root/cmake/setup.sh"
rate_args=()
[ -n "${RATE:-}" ] && rate_args=(--rate "$RATE")
for coll in all_gather reduce_scatter; do
  perf=("$build/perf/${coll}_perf" -b 1K -e 64M -f 4 -w 2 -n 10 "$@")
  set +e
  bash "$root/tests/cluster/netns_cluster.sh" run 2 2 "${rate_args[@]}" --prefix mics-qs \
    --launcher "$build/mics-run" -- "${perf[@]}"
  rc=$?
  set -e
  if [ "$rc" = 77 ]; then  # no root or no network namespaces: loopback nodes
    echo "quickstart: network namespaces unavailable; emulating 2 nodes on loopback"
    "$build/mics-run" -n 4 --nodes 2 --no-prefix -- "${perf[@]}"
  elif [ "$rc" != 0 ]; then
    exit "$rc"
  fi
done
