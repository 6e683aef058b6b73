#!/usr/bin/env bash
# shellcheck disable=SC2015  # "A && B || die" is meant: die when any check fails
# netns_cluster.sh: an emulated cluster of M "nodes" on one machine, one network
# namespace per node, all attached to one bridge that lives in its own "hub"
# namespace (the root namespace is never touched). See docs/CLUSTER.md.
#
#   netns_cluster.sh up M [--rate RATE] [--burst BYTES] [--prefix P]
#   netns_cluster.sh down [--prefix P]
#   netns_cluster.sh status [--prefix P]
#   netns_cluster.sh run M K [--rate RATE] [--burst BYTES] [--prefix P] [--keep]
#                        [--timeout S] [--launcher PATH] -- prog args...
#   netns_cluster.sh iperf [--rate RATE] [--burst BYTES] [--prefix P] [--time S]
#
# Layout (prefix P, default "mics"):
#   namespace P-hub:      bridge P-br0, ports h0..h<M-1> (no address)
#   namespace P-node<j>:  lo, veth<j> = 198.18.0.<j+1>/24, peer of P-hub's h<j>
# --rate RATE (tc syntax: 200mbit, 1gbit, 50mbps...) puts a tbf qdisc on both
# ends of every node's veth pair: veth<j> (node egress) and h<j> (node ingress).
#
# run: brings the cluster up (unless `up` already made one of M nodes), starts
# mics-run with M*K ranks, K per namespace (rank r in P-node<r/K>), with
# MASTER_ADDR=198.18.0.1 (node 0), MICS_HOST_ID per node, MICS_NET_IFACE and
# FI_TCP_IFACE = veth<j>, MICS_FI_PROVIDER="tcp;ofi_rxm" (unless already set),
# then tears down what it brought up (unless --keep). Exit code: mics-run's.
# iperf: a 2-node cluster (fresh unless up), TCP throughput node0 -> node1 and
# back with iperf3 (or a python3 fallback), then teardown.
#
# Not root, or no working `ip netns`/veth/bridge (/tbf with --rate): prints
# "SKIP: <reason>" and exits 77. Every command cleans its own leftovers of the
# same prefix first, and on success, failure, Ctrl-C, TERM and HUP tears down
# what it created; commands on one prefix are serialised by a lock.

set -u

SUBNET=198.18.0          # node j is $SUBNET.(j+1)/24, inside 198.18.0.0/15 (RFC 2544)
STATE_DIR=/run/mics-cluster
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROG=netns_cluster

PREFIX=mics
RATE=""
BURST=""
KEEP=0
TIMEOUT=""
LAUNCHER=""
IPERF_TIME=3
MAX_NODES=64

CREATED=0        # this invocation created the cluster (and so removes it)
CHILD=""         # pid of the job we run
IPERF_PIDS=""    # iperf servers we started

log() { echo "$PROG: $*" >&2; }
die() { echo "$PROG: error: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

usage() {
  sed -n '/^#   netns_cluster.sh up/,/^#   netns_cluster.sh iperf/p' "${BASH_SOURCE[0]}" |
    sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------- helpers

hub() { echo "$PREFIX-hub"; }
node() { echo "$PREFIX-node$1"; }
bridge() { echo "$PREFIX-br0"; }
addr() { echo "$SUBNET.$(($1 + 1))"; }
state_file() { echo "$STATE_DIR/$PREFIX.state"; }

# Names of this prefix's namespaces that exist now.
our_namespaces() {
  ip netns list 2>/dev/null | awk '{print $1}' |
    grep -E "^$PREFIX-(hub|probe|node[0-9]+)\$" || true   # PREFIX is [A-Za-z0-9_-] only
}

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$1"; }

# "200mbit" -> bits per second (SI units as tc reads them); empty if not understood.
rate_bits() {
  echo "$1" | awk '{
    s = tolower($0)
    if (!match(s, /^[0-9]+(\.[0-9]+)?/)) exit
    v = substr(s, 1, RLENGTH); u = substr(s, RLENGTH + 1)
    m["bit"] = 1; m["kbit"] = 1e3; m["mbit"] = 1e6; m["gbit"] = 1e9; m["tbit"] = 1e12
    m["bps"] = 8; m["kbps"] = 8e3; m["mbps"] = 8e6; m["gbps"] = 8e9; m["tbps"] = 8e12
    if (!(u in m)) exit
    b = v * m[u]; if (b < 8000) exit
    printf "%.0f\n", b
  }'
}

# tbf burst: 5 ms at the rate, at least 128 KiB (veth hands tbf 64 KiB GSO packets).
burst_bytes() {
  if [ -n "$BURST" ]; then echo "$BURST"; return; fi
  awk -v b="$(rate_bits "$1")" 'BEGIN { x = b / 8 * 0.005; if (x < 131072) x = 131072; printf "%.0f\n", x }'
}

# Kill, by pid, whatever still runs inside namespace $1 (only ever ours: the
# namespaces of this prefix are created by this script).
kill_ns_pids() {
  local ns=$1 pids i
  pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
  [ -z "${pids// /}" ] && return 0
  log "stopping processes left in $ns: $pids"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null
  for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [ -z "${pids// /}" ] && return 0
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null
  sleep 0.1
}

# Removes every namespace of this prefix (the hub first: deleting it deletes
# the bridge and all veth pairs) and the state file. Safe when nothing exists.
cluster_down() {
  local ns list
  list=$(our_namespaces)
  for ns in $list; do kill_ns_pids "$ns"; done
  if echo "$list" | grep -qxF "$(hub)"; then ip netns del "$(hub)" 2>/dev/null; fi
  for ns in $list; do
    [ "$ns" = "$(hub)" ] && continue
    ip netns del "$ns" 2>/dev/null || log "warning: could not delete namespace $ns"
  done
  rm -f "$(state_file)"
  list=$(our_namespaces)
  [ -z "$list" ] || { log "warning: namespaces left: $list"; return 1; }
  return 0
}

# Every check `run`/`up`/`iperf` need, on a throwaway namespace: root, ip netns,
# veth, bridge, and tbf when shaping. Failing ones SKIP (77). Takes the lock of
# the prefix and installs the traps first, so the probe never outlives us.
prepare() {
  local probe="$PREFIX-probe" err
  [ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
  command -v ip >/dev/null 2>&1 || skip "no ip command (iproute2)"
  ip netns list >/dev/null 2>&1 || skip "ip netns does not work here"
  lock
  install_traps
  ns_exists "$probe" && ip netns del "$probe" 2>/dev/null
  if ! err=$(ip netns add "$probe" 2>&1); then skip "cannot create a network namespace: $err"; fi
  if ! err=$({ ip -n "$probe" link add pbr type bridge &&
               ip -n "$probe" link add pa type veth peer name pb &&
               ip -n "$probe" link set pa master pbr; } 2>&1); then
    ip netns del "$probe" 2>/dev/null
    skip "no veth/bridge support: $err"
  fi
  if [ -n "$RATE" ]; then
    command -v tc >/dev/null 2>&1 || { ip netns del "$probe"; skip "no tc command"; }
    if ! err=$(tc -n "$probe" qdisc add dev pb root tbf rate 100mbit burst 131072 latency 50ms 2>&1); then
      ip netns del "$probe" 2>/dev/null
      skip "no tbf qdisc: $err"
    fi
  fi
  ip netns del "$probe" 2>/dev/null
  return 0
}

# Sets (or, with an empty RATE, removes) the tbf qdiscs on nodes 0..M-1.
shape() {
  local m=$1 j burst
  if [ -z "$RATE" ]; then
    for ((j = 0; j < m; j++)); do
      tc -n "$(node "$j")" qdisc del dev "veth$j" root 2>/dev/null
      tc -n "$(hub)" qdisc del dev "h$j" root 2>/dev/null
    done
    return 0
  fi
  burst=$(burst_bytes "$RATE")
  # Under the rate limit, fq_codel (when the kernel has it) schedules flows
  # fairly and keeps the queue short: without it, a link loaded in both
  # directions holds every TCP ack behind up to 50 ms of the other way's data,
  # which throttles the flows far below the rate (a bufferbloat artefact that
  # a real NIC does not have).
  for ((j = 0; j < m; j++)); do
    tc -n "$(node "$j")" qdisc replace dev "veth$j" root handle 1: tbf rate "$RATE" \
      burst "$burst" latency "${TBF_LATENCY:-50ms}" || return 1
    tc -n "$(hub)" qdisc replace dev "h$j" root handle 1: tbf rate "$RATE" burst "$burst" \
      latency "${TBF_LATENCY:-50ms}" || return 1
    tc -n "$(node "$j")" qdisc replace dev "veth$j" parent 1:1 fq_codel 2>/dev/null
    tc -n "$(hub)" qdisc replace dev "h$j" parent 1:1 fq_codel 2>/dev/null
  done
  return 0
}

# Node j>0 reaches node 0 (a refused connection to a closed port proves it).
check_reachable() {
  local m=$1 j
  for ((j = 1; j < m; j++)); do
    ip netns exec "$(node "$j")" python3 - "$(addr 0)" <<'EOF' || return 1
import socket, sys
s = socket.socket()
s.settimeout(3)
try:
    s.connect((sys.argv[1], 9))
except ConnectionRefusedError:
    sys.exit(0)
except OSError as e:
    sys.exit("unreachable: %s" % e)
EOF
  done
  return 0
}

cluster_up() {
  local m=$1 j h n
  h=$(hub)
  ip netns add "$h" || return 1
  ip -n "$h" link set lo up || return 1
  ip -n "$h" link add "$(bridge)" type bridge stp_state 0 forward_delay 0 || return 1
  ip -n "$h" link set "$(bridge)" up || return 1
  for ((j = 0; j < m; j++)); do
    n=$(node "$j")
    ip netns add "$n" || return 1
    ip -n "$n" link set lo up || return 1
    # Both ends are created where they live: nothing passes through the root namespace.
    ip -n "$h" link add "h$j" type veth peer name "veth$j" netns "$n" || return 1
    ip -n "$h" link set "h$j" master "$(bridge)" || return 1
    ip -n "$h" link set "h$j" up || return 1
    ip -n "$n" addr add "$(addr "$j")/24" dev "veth$j" || return 1
    ip -n "$n" link set "veth$j" up || return 1
  done
  shape "$m" || return 1
  check_reachable "$m" || return 1
  return 0
}

# Nodes of the cluster `up` left (from its state file, checked against what exists).
recorded_nodes() {
  local f m j
  f=$(state_file)
  [ -f "$f" ] || return 1
  m=$(sed -n 's/^nodes=//p' "$f")
  [ -n "$m" ] || return 1
  ns_exists "$(hub)" || return 1
  for ((j = 0; j < m; j++)); do ns_exists "$(node "$j")" || return 1; done
  echo "$m"
}

write_state() {
  mkdir -p "$STATE_DIR" && printf 'nodes=%s\nrate=%s\n' "$1" "${RATE:-none}" >"$(state_file)"
}

# A fresh cluster of M nodes (stale leftovers of the prefix removed first).
fresh_up() {
  local m=$1
  if [ -n "$(our_namespaces)" ]; then
    log "removing leftovers of prefix '$PREFIX': $(our_namespaces | tr '\n' ' ')"
    cluster_down || die "cannot remove the leftovers of prefix '$PREFIX'"
  fi
  CREATED=1
  cluster_up "$m" || die "could not bring the cluster up"
  log "up: $m nodes (prefix $PREFIX, $SUBNET.1-$(addr $((m - 1))), rate ${RATE:-unshaped})"
}

lock() {
  mkdir -p "$STATE_DIR" || die "cannot create $STATE_DIR"
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$STATE_DIR/$PREFIX.lock" || die "cannot open the lock file"
  flock -w 600 9 || die "another netns_cluster.sh holds prefix '$PREFIX' (lock $STATE_DIR/$PREFIX.lock)"
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM HUP
  local p
  for p in $IPERF_PIDS; do kill -TERM "$p" 2>/dev/null; done
  if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
    kill -TERM "$CHILD" 2>/dev/null
    wait "$CHILD" 2>/dev/null
  fi
  if ns_exists "$PREFIX-probe"; then ip netns del "$PREFIX-probe" 2>/dev/null; fi
  if [ "$CREATED" = 1 ]; then
    if [ "$KEEP" = 1 ] && [ "$rc" -lt 128 ]; then
      write_state "$CLUSTER_NODES"
      log "kept: $CLUSTER_NODES nodes (remove with: $0 down --prefix $PREFIX)"
    else
      cluster_down && log "down: removed prefix '$PREFIX'"
    fi
  fi
  exit "$rc"
}

on_signal() {
  local sig=$1 num
  num=$(kill -l "$sig")
  if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
    log "got SIG$sig: stopping the job"
    kill -s "$sig" "$CHILD" 2>/dev/null
    return
  fi
  log "got SIG$sig: cleaning up"
  exit $((128 + num))
}

install_traps() {
  trap on_exit EXIT
  trap 'on_signal INT' INT
  trap 'on_signal TERM' TERM
  trap 'on_signal HUP' HUP
}

# ---------------------------------------------------------------- arguments

CMD=${1:-}
[ -n "$CMD" ] || usage
shift
POS=()
JOB=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE=${2:?--rate wants a value}; shift 2 ;;
    --rate=*) RATE=${1#--rate=}; shift ;;
    --burst) BURST=${2:?--burst wants a value}; shift 2 ;;
    --prefix) PREFIX=${2:?--prefix wants a value}; shift 2 ;;
    --prefix=*) PREFIX=${1#--prefix=}; shift ;;
    --keep) KEEP=1; shift ;;
    --timeout) TIMEOUT=${2:?--timeout wants a value}; shift 2 ;;
    --launcher) LAUNCHER=${2:?--launcher wants a value}; shift 2 ;;
    --time) IPERF_TIME=${2:?--time wants a value}; shift 2 ;;
    -h|--help) usage ;;
    --) shift; JOB=("$@"); break ;;
    -*) die "unknown option $1" ;;
    *) POS+=("$1"); shift ;;
  esac
done

# Interface names are at most 15 characters: "$PREFIX-br0" must fit.
[[ "$PREFIX" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,10}$ ]] ||
  die "--prefix must be 1-11 characters [A-Za-z0-9_-] (got '$PREFIX')"
if [ -n "$RATE" ] && [ "$RATE" != none ]; then
  [ -n "$(rate_bits "$RATE")" ] || die "cannot read --rate '$RATE' (e.g. 200mbit, 1gbit, 25mbps)"
else
  RATE=""
fi
if [ -n "$BURST" ]; then [[ "$BURST" =~ ^[0-9]+$ ]] || die "--burst wants bytes"; fi
if [ -n "$TIMEOUT" ]; then [[ "$TIMEOUT" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--timeout wants seconds"; fi
[[ "$IPERF_TIME" =~ ^[0-9]+$ ]] && [ "$IPERF_TIME" -ge 1 ] && [ "$IPERF_TIME" -le 60 ] ||
  die "--time wants 1-60 seconds"

nodes_arg() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le $MAX_NODES ] ||
    die "M must be a number of nodes in 1..$MAX_NODES (got '${1:-}')"
}

# ---------------------------------------------------------------- commands

cmd_up() {
  [ ${#POS[@]} = 1 ] || usage
  nodes_arg "${POS[0]}"
  CLUSTER_NODES=${POS[0]}
  prepare
  local have
  if have=$(recorded_nodes) && [ "$have" = "$CLUSTER_NODES" ]; then
    shape "$CLUSTER_NODES" || die "could not set the shaping"
    write_state "$CLUSTER_NODES"
    log "already up: $CLUSTER_NODES nodes (prefix $PREFIX, rate ${RATE:-unshaped})"
    return 0
  fi
  fresh_up "$CLUSTER_NODES"
  KEEP=1            # `up` keeps what it made: on_exit records it
}

cmd_down() {
  [ ${#POS[@]} = 0 ] || usage
  [ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
  ip netns list >/dev/null 2>&1 || skip "ip netns does not work here"
  lock
  cluster_down || exit 1
  log "down: nothing of prefix '$PREFIX' is left"
}

cmd_status() {
  local ns
  [ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
  [ -f "$(state_file)" ] && sed 's/^/state: /' "$(state_file)"
  for ns in $(our_namespaces); do
    echo "== $ns"
    ip -n "$ns" -br addr 2>/dev/null | sed 's/^/  /'
    tc -n "$ns" qdisc show 2>/dev/null | grep tbf | sed 's/^/  /'
  done
}

start_job() {
  # setsid: a terminal's Ctrl-C reaches only us; we forward it exactly once.
  setsid "$@" 9>&- &
  CHILD=$!
  local rc
  while :; do
    wait "$CHILD"
    rc=$?
    if [ "$rc" -gt 128 ] && kill -0 "$CHILD" 2>/dev/null; then continue; fi
    break
  done
  CHILD=""
  return "$rc"
}

cmd_run() {
  [ ${#JOB[@]} -gt 0 ] || die "run: missing '-- prog args...'"
  [ ${#POS[@]} = 2 ] || usage
  nodes_arg "${POS[0]}"
  [[ "${POS[1]}" =~ ^[0-9]+$ ]] && [ "${POS[1]}" -ge 1 ] || die "K must be >= 1 ranks per node"
  CLUSTER_NODES=${POS[0]}
  local k=${POS[1]} launcher have
  launcher=${LAUNCHER:-${MICS_RUN:-$HERE/../../src/launcher/mics-run.py}}
  [ -f "$launcher" ] || die "launcher not found: $launcher (set --launcher or MICS_RUN)"
  command -v python3 >/dev/null 2>&1 || skip "no python3 (mics-run)"
  prepare
  if have=$(recorded_nodes); then
    # A cluster that `up` made: use it and leave it.
    [ "$have" = "$CLUSTER_NODES" ] ||
      die "prefix '$PREFIX' is up with $have nodes (not $CLUSTER_NODES): '$0 down' first or use --prefix"
    if [ -n "$RATE" ]; then shape "$CLUSTER_NODES" || die "could not set the shaping"; fi
    log "using the cluster that is up ($have nodes, prefix $PREFIX)"
  else
    fresh_up "$CLUSTER_NODES"
  fi
  export MICS_FI_PROVIDER=${MICS_FI_PROVIDER:-"tcp;ofi_rxm"}
  local args=(python3 "$launcher" -n $((CLUSTER_NODES * k)) --nodes "$CLUSTER_NODES"
              --node-prefix "ip netns exec $PREFIX-node{node}"
              --node-env "MICS_NET_IFACE=veth{node}" --node-env "FI_TCP_IFACE=veth{node}"
              --master-addr "$(addr 0)")
  [ -n "$TIMEOUT" ] && args+=(--timeout "$TIMEOUT")
  log "run: $CLUSTER_NODES nodes x $k ranks: ${JOB[*]}"
  start_job "${args[@]}" -- "${JOB[@]}"
  local rc=$?
  log "job exited with code $rc"
  return "$rc"
}

# Waits until something listens on TCP port $2 in namespace $1.
wait_listen() {
  local i
  for ((i = 0; i < 50; i++)); do
    ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  return 1
}

# One direction, node $1 -> node $2: sets MEAS to MB/s (1e6 bytes/s, receiver side).
# Runs in this shell (not in $(...)) so that on_exit knows the servers it started.
measure() {
  local from=$1 to=$2 port=5201 out srv
  MEAS=""
  if [ "$TOOL" = iperf3 ]; then
    ip netns exec "$(node "$to")" iperf3 -s -1 -B "$(addr "$to")" -p $port >/dev/null 2>&1 &
    srv=$!
    IPERF_PIDS="$IPERF_PIDS $srv"
    wait_listen "$(node "$to")" $port || { log "iperf3 server did not start"; return 1; }
    out=$(timeout $((IPERF_TIME + 15)) ip netns exec "$(node "$from")" \
            iperf3 -c "$(addr "$to")" -p $port -t "$IPERF_TIME" -J 2>/dev/null) || return 1
    wait "$srv" 2>/dev/null
    MEAS=$(echo "$out" | python3 -c 'import json, sys
d = json.load(sys.stdin)["end"]["sum_received"]
print("%.1f" % (d["bits_per_second"] / 8e6))') || return 1
  else
    # Fallback: a python3 sender/receiver pair (receiver-side rate).
    ip netns exec "$(node "$to")" timeout $((IPERF_TIME + 15)) python3 -c '
import socket, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(1); l.settimeout(10)
c, _ = l.accept(); n = 0; t0 = None
while True:
    b = c.recv(1 << 20)
    if not b: break
    if t0 is None: t0 = time.monotonic()
    n += len(b)
print("%.1f" % (n / (time.monotonic() - t0) / 1e6))' "$(addr "$to")" $port >"$STATE_DIR/$PREFIX.iperf" &
    srv=$!
    IPERF_PIDS="$IPERF_PIDS $srv"
    wait_listen "$(node "$to")" $port || { log "receiver did not start"; return 1; }
    timeout $((IPERF_TIME + 15)) ip netns exec "$(node "$from")" python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
buf = b"x" * (1 << 20); end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end: s.sendall(buf)
s.close()' "$(addr "$to")" $port "$IPERF_TIME" || return 1
    wait "$srv" || return 1
    MEAS=$(cat "$STATE_DIR/$PREFIX.iperf")
    rm -f "$STATE_DIR/$PREFIX.iperf"
  fi
}

cmd_iperf() {
  [ ${#POS[@]} = 0 ] || usage
  CLUSTER_NODES=2
  command -v python3 >/dev/null 2>&1 || skip "no python3"
  prepare
  local have
  TOOL=${NETNS_CLUSTER_TOOL:-}     # iperf3 or python3; default: iperf3 when installed
  if [ -z "$TOOL" ]; then TOOL=python3; command -v iperf3 >/dev/null 2>&1 && TOOL=iperf3; fi
  [ "$TOOL" = iperf3 ] || [ "$TOOL" = python3 ] || die "NETNS_CLUSTER_TOOL is iperf3 or python3"
  if have=$(recorded_nodes); then
    [ "$have" -ge 2 ] || die "prefix '$PREFIX' is up with $have node(s); iperf needs 2"
    if [ -n "$RATE" ]; then shape "$have" || die "could not set the shaping"; fi
  else
    fresh_up 2
  fi
  local fwd rev
  measure 0 1 || die "measurement node0 -> node1 failed"
  fwd=$MEAS
  measure 1 0 || die "measurement node1 -> node0 failed"
  rev=$MEAS
  echo "# $TOOL, ${IPERF_TIME} s each way, rate ${RATE:-unshaped}" \
       "(tbf burst $( [ -n "$RATE" ] && burst_bytes "$RATE" || echo -) bytes)"
  echo "node0 -> node1: $fwd MB/s"
  echo "node1 -> node0: $rev MB/s"
  if [ -n "$RATE" ]; then
    awk -v b="$(rate_bits "$RATE")" 'BEGIN { printf "tbf rate: %.1f MB/s\n", b / 8e6 }'
  fi
}

case "$CMD" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  run) cmd_run ;;
  iperf) cmd_iperf ;;
  -h|--help|help) usage ;;
  *) die "unknown command '$CMD' (up, down, status, run, iperf)" ;;
esac
