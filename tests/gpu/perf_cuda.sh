#!/usr/bin/env bash
# The perf binaries on device buffers, for tests/gpu/run.sh (stage 2, the whole tree built):
#  1. a short `-M cuda` sweep of all_gather / reduce_scatter / all_reduce / broadcast_perf with
#     2 ranks on this machine's GPU(s) (mics-run -n 2): every element checked, #wrong must be 0;
#  2. the NCCL side-by-side: allgather of 64 MiB, 2 ranks, mics (-M cuda) then NCCL
#     (--engine nccl --nccl-hostid-per-rank). On one GPU NCCL takes the two ranks for two nodes
#     (own NCCL_HOSTID each) talking over sockets on loopback: its inter-node path, the only
#     NCCL number one GPU can give. mics runs the same shape (mics-run --nodes 2: two emulated
#     nodes, libfabric tcp on loopback, device buffers staged through pinned host memory), and,
#     for reference, as one node (the direct GPU-to-GPU path);
#  3. 4 ranks as processes on one GPU, allgather 16..256 MiB: mics (-M cuda, the direct path
#     through CUDA IPC) against naive_ipc_gather (CUDA IPC + copy engine, host barriers), the
#     baseline of issue #5's time-sliced bar.
# Writes <work>/perf_cuda.json (run.sh puts it in gpu_summary.json) and appends to <log>.
# Exit 1 if a mics run failed or found wrong values; 0 if all passed or all skipped (exit 77:
# no GPU). A failed NCCL run is reported, not counted: it is the baseline, not the code tested.
#
#   perf_cuda.sh <build dir of the whole tree> <work dir> <log file>
#   MICS_GPU_PERF_ARGS: the sweep's flags (default -b 8 -e 16M -f 4 -n 5 -w 2)
set -uo pipefail
full="$1" work="$2" log="$3"
perf="$full/perf" run="$full/mics-run"
mkdir -p "$work"
rm -f "$work"/perf_cuda_*.json "$work"/perf_cuda_*.status
# shellcheck disable=SC2206
sweep=(${MICS_GPU_PERF_ARGS:--b 8 -e 16M -f 4 -n 5 -w 2})

# one <name> <timeout s> <command...>: runs it, keeps its output in the log and its exit code in
# <work>/perf_cuda_<name>.status.
one() {
  local name="$1" limit="$2"
  shift 2
  echo "== perf: $name: $*" >>"$log"
  timeout "$limit" "$@" >"$work/perf_cuda_$name.log" 2>&1
  local rc=$?
  cat "$work/perf_cuda_$name.log" >>"$log"
  echo "$rc" >"$work/perf_cuda_$name.status"
  echo "== perf: $name: exit $rc" | tee -a "$log"
}

for coll in all_gather reduce_scatter all_reduce broadcast; do
  one "sweep_$coll" 120 "$run" -n 2 "$perf/${coll}_perf" -M cuda "${sweep[@]}" \
    -J "$work/perf_cuda_sweep_$coll.json"
done
big=(-b 64M -e 64M -n 10 -w 3)
one side_mics 180 "$run" -n 2 --nodes 2 "$perf/all_gather_perf" -M cuda "${big[@]}" \
  -J "$work/perf_cuda_side_mics.json"
one side_mics_node 180 "$run" -n 2 "$perf/all_gather_perf" -M cuda "${big[@]}" \
  -J "$work/perf_cuda_side_mics_node.json"
one side_nccl 180 "$run" -n 2 "$perf/all_gather_perf" --engine nccl --nccl-hostid-per-rank \
  "${big[@]}" -J "$work/perf_cuda_side_nccl.json"
procs=(-b 16M -e 256M -f 4 -n 10 -w 3)
one procs4_mics 180 "$run" -n 4 "$perf/all_gather_perf" -M cuda "${procs[@]}" \
  -J "$work/perf_cuda_procs4_mics.json"
one procs4_naive 180 "$perf/naive_ipc_gather" -k 4 "${procs[@]}" \
  --json "$work/perf_cuda_procs4_naive.json"

python3 - "$work" <<'EOF'
import json, re, sys
work = sys.argv[1]
def result(name):
    rc = int(open(f"{work}/perf_cuda_{name}.status").read())
    out = open(f"{work}/perf_cuda_{name}.log").read()
    r = {"exit": rc}
    try:
        d = json.load(open(f"{work}/perf_cuda_{name}.json"))
        r["out_of_bounds"] = d["out_of_bounds"]
        r["rows"] = [{"size": x["size"], "type": x["type"], "redop": x["redop"],
                      "out_of_place": x["out_of_place"], "in_place": x["in_place"]}
                     for x in d["results"]]
    except (OSError, ValueError, KeyError):
        pass
    if rc == 77:
        r["status"] = "skipped"
        m = re.search(r"skipped: (.*)", out)
        r["reason"] = m.group(1) if m else "exit 77"
    elif rc == 0 and r.get("out_of_bounds") == 0:
        r["status"] = "ok"
    else:
        r["status"] = "failed"
        r["tail"] = out.strip().splitlines()[-3:]
    return r
def naive(name):
    rc = int(open(f"{work}/perf_cuda_{name}.status").read())
    r = {"exit": rc, "status": "skipped" if rc == 77 else "ok" if rc == 0 else "failed"}
    try:
        r["rows"] = json.load(open(f"{work}/perf_cuda_{name}.json"))["rows"]
    except (OSError, ValueError, KeyError):
        pass
    return r
summary = {"sweeps": {c: result("sweep_" + c)
                      for c in ("all_gather", "reduce_scatter", "all_reduce", "broadcast")},
           "side_by_side": {"what": "allgather 64 MiB, 2 ranks, -M cuda; NCCL with NCCL_HOSTID "
                                    "per rank (2 fake nodes, sockets on loopback)",
                            "mics": result("side_mics"), "nccl": result("side_nccl"),
                            "mics_one_node": result("side_mics_node")},
           "procs4": {"what": "allgather 16..256 MiB, 4 processes on one GPU: mics -M cuda vs "
                              "naive CUDA IPC gather with host barriers",
                      "mics": result("procs4_mics"), "naive": naive("procs4_naive")}}
json.dump(summary, open(f"{work}/perf_cuda.json", "w"), indent=1)
mics_runs = list(summary["sweeps"].values()) + [
    summary["side_by_side"]["mics"], summary["side_by_side"]["mics_one_node"],
    summary["procs4"]["mics"]]
sys.exit(1 if any(r["status"] == "failed" for r in mics_runs) else 0)
EOF
