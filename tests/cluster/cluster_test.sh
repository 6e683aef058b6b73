#!/usr/bin/env bash
# cluster_test.sh: smoke test of the emulated cluster (ctest `cluster_smoke`).
#
#   cluster_test.sh ALL_GATHER_PERF [MICS_RUN [ROOT_ADDR_JOB]]
#
# 1. Every rank of a 2-node x 2-rank job runs in its node's namespace with the
#    cluster environment (address 198.18.0.<node+1> on MICS_NET_IFACE, FI_TCP_IFACE,
#    MICS_FI_PROVIDER, one MICS_HOST_ID per node).
# 2. all_gather_perf over that job (bootstrap to 198.18.0.1 across namespaces)
#    reports "# Out of bounds values : 0 OK".
# 3. The multi-node suite (below).
# 4. A unique id made on the second node, with only the launcher's
#    environment, serves ranks of both nodes (root_addr_job.cc).
# Nothing of the test's prefix is left afterwards.
# Exit 77 (SKIP) without root or working network namespaces.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLUSTER=$HERE/netns_cluster.sh
PREFIX=mics-ctest
PERF=${1:?usage: cluster_test.sh ALL_GATHER_PERF [MICS_RUN]}
LAUNCHER=${2:-$HERE/../../src/launcher/mics-run.py}
ROOT_ADDR_JOB=${3:-}
OUT=$(mktemp /tmp/mics-cluster-test.XXXXXX) || exit 1
trap 'rm -f "$OUT"' EXIT

fail() { echo "FAIL: $*"; echo "---- output"; cat "$OUT"; exit 1; }

run() {  # run CLUSTER_ARGS... -- prog...; output in $OUT, exit code returned
  bash "$CLUSTER" run 2 2 --prefix "$PREFIX" --timeout 60 --launcher "$LAUNCHER" "$@" >"$OUT" 2>&1
}

left() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$PREFIX-" | tr '\n' ' '; }

[ -x "$PERF" ] || fail "no perf binary at $PERF"

# 1. placement and environment (expanded by the ranks' sh, hence the single quotes)
# shellcheck disable=SC2016
run -- sh -c 'echo "env $RANK $MICS_HOST_ID $MICS_NET_IFACE $FI_TCP_IFACE $MICS_FI_PROVIDER $MASTER_ADDR" \
  "$(ip -4 -o addr show dev "$MICS_NET_IFACE" | awk "{print \$4}")"'
rc=$?
if [ $rc = 77 ]; then cat "$OUT"; exit 77; fi
[ $rc = 0 ] || fail "placement job exited with $rc"
for r in 0 1 2 3; do
  node=$((r / 2))
  line=$(grep -E "^\[$r\] env " "$OUT") || fail "no line from rank $r"
  # shellcheck disable=SC2086  # split the line into fields
  set -- $line
  # [r] env RANK HOST_ID IFACE FI_IFACE PROVIDER MASTER_ADDR ADDR
  [ "$3" = "$r" ] || fail "rank $r: RANK=$3"
  case "$4" in node$node-*) ;; *) fail "rank $r: MICS_HOST_ID=$4" ;; esac
  [ "$5" = "veth$node" ] || fail "rank $r: MICS_NET_IFACE=$5"
  [ "$6" = "veth$node" ] || fail "rank $r: FI_TCP_IFACE=$6"
  [ "$7" = "tcp;ofi_rxm" ] || fail "rank $r: MICS_FI_PROVIDER=$7"
  [ "$8" = "198.18.0.1" ] || fail "rank $r: MASTER_ADDR=$8"
  [ "$9" = "198.18.0.$((node + 1))/24" ] || fail "rank $r: address '$9' on veth$node"
done
[ -z "$(left)" ] || fail "namespaces left after the first job: $(left)"
echo "ok: 4 ranks in 2 namespaces with the cluster environment"

# 2. a collective across the namespaces
run -- "$PERF" -b 1K -e 256K -f 4 -c 1
rc=$?
if [ $rc = 77 ]; then cat "$OUT"; exit 77; fi
[ $rc = 0 ] || fail "all_gather_perf job exited with $rc"
grep -q "# Out of bounds values : 0 OK" "$OUT" || fail "no '# Out of bounds values : 0 OK'"
grep -q "ranks 4 nodes 2" "$OUT" || echo "note: perf header does not say 'ranks 4 nodes 2'"
[ -z "$(left)" ] || fail "namespaces left after the second job: $(left)"
grep -E "Out of bounds|Avg bus" "$OUT"
echo "ok: all_gather_perf over 2 nodes x 2 ranks, cluster removed"

# 3. the multi-node suite: 2 x 2 and 3 x 2, ring and hierarchical, every
#    collective x type x op, every element checked by the perf binaries.
PERF_DIR=$(dirname "$PERF")
for shape in "2 2" "3 2"; do
  set -- $shape
  for algo in ring hier; do
    for coll in all_gather reduce_scatter all_reduce broadcast; do
      bash "$CLUSTER" run "$1" "$2" --prefix "$PREFIX" --timeout 120 --launcher "$LAUNCHER" -- \
        "$PERF_DIR/${coll}_perf" -b 4 -e 300K -f 9 -d all -o all -w 0 -n 1 -c 1 -A "$algo" \
        >"$OUT" 2>&1
      rc=$?
      [ $rc = 0 ] || fail "${coll}_perf -A $algo on $1 x $2 exited with $rc"
      grep -q "# Out of bounds values : 0 OK" "$OUT" || fail "$coll -A $algo on $1 x $2: wrong data"
    done
    echo "ok: $1 nodes x $2 ranks, -A $algo: all collectives, types and ops checked"
  done
done
[ -z "$(left)" ] || fail "namespaces left after the suite: $(left)"

# 4. a unique id from the second node: its root must pick an address node 0
#    reaches (the route towards MASTER_ADDR), with no MICS_ROOT_ADDR set.
if [ -n "$ROOT_ADDR_JOB" ]; then
  run -- env -u MICS_ROOT_ADDR -u MICS_ROOT_IFACE MICS_DEBUG=INFO "$ROOT_ADDR_JOB"
  rc=$?
  [ $rc = 0 ] || fail "root_addr_job exited with $rc"
  [ "$(grep -c "root-addr ok" "$OUT")" = 4 ] || fail "not every rank printed 'root-addr ok'"
  grep -q "unique id: root address from the route towards MASTER_ADDR=198.18.0.1" "$OUT" ||
    fail "the id's root address was not chosen by the route towards MASTER_ADDR"
  grep -q "bootstrap root listening on 198.18.0.2:" "$OUT" ||
    fail "the second node's root does not listen on 198.18.0.2"
  [ -z "$(left)" ] || fail "namespaces left after the root-address job: $(left)"
  echo "ok: an id made on node 1 serves both nodes (root on 198.18.0.2)"
fi
