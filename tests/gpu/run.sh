#!/usr/bin/env bash
# GPU check in one go, two stages:
#  1. the GPU pieces alone (tests/gpu/standalone: the device kernels, the host reference kernels,
#     reduce_kernels_test and reduce_kernels_bench; no libfabric or hwloc needed);
#  2. libmics' device-buffer path (the whole tree with MICS_CUDA: device_path_test, the
#     init_all/group tests, device_collectives_bench; the perf binaries with -M cuda and the NCCL
#     side-by-side, tests/gpu/perf_cuda.sh; compute-sanitizer, tests/gpu/sanitize.sh). The GPU machine has libfabric's runtime
#     but not its headers: prepare them here once with `tests/gpu/run.sh --prepare-deps` (copies
#     them to build-gpu-deps/, which is git-ignored: name it in the device run's `carry`).
# Prints a summary table and writes gpu_summary.json to $OUT if set, else to the current
# directory. Without a GPU the tests skip, the benches say so, and the script exits 0.
# Exit status: 1 if a build or a test failed.
#
#   bash tests/gpu/run.sh            # MICS_GPU_BUILD_DIR (default build-gpu/), MICS_GPU_JOBS,
#                                    # MICS_GPU_BENCH_ARGS (default: 1 MiB .. 1 GiB sweep),
#                                    # MICS_GPU_DEVICE_BENCH_ARGS (default: k = 2, 4; direct, direct_sm, staged; 8 B .. 256 MiB)
#                                    # MICS_GPU_PERF_ARGS (perf_cuda.sh), MICS_GPU_SANITIZER_FILTER
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ "${1:-}" == "--prepare-deps" ]]; then
  # libfabric's headers, for a GPU machine that has only its runtime library.
  dest="$root/build-gpu-deps/libfabric/include"
  mkdir -p "$dest" && cp -r /usr/include/rdma "$dest/" && echo "headers in $dest (carry build-gpu-deps)"
  exit $?
fi
build="${MICS_GPU_BUILD_DIR:-$root/build-gpu}"
out="${OUT:-$PWD}"
jobs="${MICS_GPU_JOBS:-$(nproc)}"
(( jobs > 16 )) && jobs=16
mkdir -p "$build" "$out"
log="$out/gpu_log.txt"
: >"$log"
say() { echo "== $*" | tee -a "$log"; }
t0=$SECONDS

# ---- what we run on ----
gpu_name="none"; driver="n/a"
if command -v nvidia-smi >/dev/null 2>&1 &&
   q=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1) &&
   [[ -n "$q" ]]; then
  gpu_name="${q%%,*}"; driver="${q##*, }"
fi
nvcc_version=$(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p')
say "GPU: $gpu_name, driver $driver, nvcc ${nvcc_version:-missing}, $(nproc) CPUs"

# ---- build ----
gen=(); command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
b0=$SECONDS
# Warnings stay warnings here (MICS_GPU_WERROR=ON to change): the GPU machine's newer host
# compiler must not cost a GPU run; CI builds with -Werror.
if ! cmake -S "$root/tests/gpu/standalone" -B "$build" "${gen[@]}" \
       -DMICS_WERROR="${MICS_GPU_WERROR:-OFF}" >>"$log" 2>&1 ||
   ! cmake --build "$build" -j "$jobs" >>"$log" 2>&1; then
  say "BUILD FAILED (log: $log)"; tail -40 "$log"; exit 1
fi
build_s=$((SECONDS - b0))
say "build: ${build_s} s with -j$jobs"

# ---- tests: shards in parallel (each loads its own context; the GPU is shared) ----
shards=$(( jobs < 8 ? jobs : 8 ))
# One seed for all shards, so that one MICS_TEST_SEED replays the whole run.
export MICS_TEST_SEED="${MICS_TEST_SEED:-$((RANDOM * 32768 + RANDOM))}"
s0=$SECONDS
pids=()
for ((i = 0; i < shards; ++i)); do
  GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$i timeout 200 "$build/reduce_kernels_test" \
    --gtest_output="json:$build/test_shard_$i.json" >"$build/test_shard_$i.log" 2>&1 &
  pids+=($!)
done
test_rc=0
for p in "${pids[@]}"; do wait "$p" || test_rc=1; done
test_s=$((SECONDS - s0))
for ((i = 0; i < shards; ++i)); do cat "$build/test_shard_$i.log" >>"$log"; done
say "test seed: $MICS_TEST_SEED"
skip_reason=$(grep -h -m1 -o "no CUDA device: .*" "$build"/test_shard_*.log | head -1)
grep -h -A3 "Failure" "$build"/test_shard_*.log | head -40
say "tests: ${test_s} s, exit $test_rc"

# ---- bench ----
bench_json="$build/bench.json"
rm -f "$bench_json"
# shellcheck disable=SC2086
timeout 100 "$build/reduce_kernels_bench" ${MICS_GPU_BENCH_ARGS:-} --json "$bench_json" 2>&1 |
  tee -a "$log"
bench_rc=${PIPESTATUS[0]}
say "bench: exit $bench_rc"
# The Google Benchmark twin (built where Google Benchmark is installed).
rm -f "$build/gbench.json"
if [[ -x "$build/reduce_kernels_gbench" ]]; then
  timeout 100 "$build/reduce_kernels_gbench" --benchmark_out="$build/gbench.json" \
    --benchmark_out_format=json 2>&1 | tee -a "$log"
  say "gbench: exit ${PIPESTATUS[0]}"
fi

# ---- stage 2: libmics' device path (the whole tree) ----
full="$build/full"
full_rc=0; full_build_s=0; full_test_s=0; full_note=""
perf_rc=0; sanitizer_rc=0
rm -f "$build/perf_cuda.json" "$build/sanitizer.json"
if ! pkg-config --exists libfabric 2>/dev/null && [[ -d "$root/build-gpu-deps/libfabric/include" ]]; then
  # Headers carried from a machine that has them; the library is this machine's runtime.
  lib=$(ldconfig -p 2>/dev/null | awk '/libfabric\.so\.1 /{print $NF; exit}')
  if [[ -n "$lib" ]]; then
    deps="$build/deps"
    mkdir -p "$deps/lib/pkgconfig"
    ln -sf "$lib" "$deps/lib/libfabric.so"
    cat >"$deps/lib/pkgconfig/libfabric.pc" <<PC
Name: libfabric
Description: libfabric (runtime $lib, headers carried)
Version: 1.17.0
Libs: -L$deps/lib -lfabric
Cflags: -I$root/build-gpu-deps/libfabric/include
PC
    export PKG_CONFIG_PATH="$deps/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  fi
fi
b0=$SECONDS
if ! pkg-config --exists libfabric hwloc 2>/dev/null; then
  full_note="libfabric or hwloc not found by pkg-config (run tests/gpu/run.sh --prepare-deps where they are, carry build-gpu-deps)"
  say "device path: SKIPPED BUILD: $full_note"
  full_rc=1
elif ! cmake -S "$root" -B "$full" "${gen[@]}" -DMICS_WERROR="${MICS_GPU_WERROR:-OFF}" \
         -DCMAKE_BUILD_TYPE=RelWithDebInfo >>"$log" 2>&1 ||
     ! cmake --build "$full" -j "$jobs" --target device_path_test init_all_test group_test \
         device_collectives_bench naive_ipc_gather all_gather_perf reduce_scatter_perf \
         all_reduce_perf broadcast_perf >>"$log" 2>&1; then
  say "device path: BUILD FAILED (log: $log)"; tail -40 "$log"; full_rc=1
else
  full_build_s=$((SECONDS - b0))
  say "device path build: ${full_build_s} s"
  s0=$SECONDS
  for t in device_path_test init_all_test group_test; do
    timeout 300 "$full/tests/$t" --gtest_output="json:$build/full_$t.json" \
      >"$build/full_$t.log" 2>&1 || full_rc=1
    cat "$build/full_$t.log" >>"$log"
    grep -h -A3 "Failure\|check failed" "$build/full_$t.log" | head -20
  done
  full_test_s=$((SECONDS - s0))
  say "device path tests: ${full_test_s} s, exit $full_rc"
  rm -f "$build/device_bench.json"
  # shellcheck disable=SC2086
  timeout 180 "$full/perf/device_collectives_bench" \
    ${MICS_GPU_DEVICE_BENCH_ARGS:---max-bytes 268435456} \
    --json "$build/device_bench.json" 2>&1 | tee -a "$log"
  say "device bench: exit ${PIPESTATUS[0]}"
  # The perf binaries with -M cuda (2 ranks, #wrong == 0) and the NCCL side-by-side; then
  # compute-sanitizer on a small configuration of device_path_test.
  bash "$root/tests/gpu/perf_cuda.sh" "$full" "$build" "$log" || perf_rc=1
  say "perf -M cuda / --engine nccl: exit $perf_rc"
  bash "$root/tests/gpu/sanitize.sh" "$full/tests/device_path_test" "$build" "$log" "$gpu_name" ||
    sanitizer_rc=1
  say "compute-sanitizer: exit $sanitizer_rc"
  # Torch backend tests (test_cuda.py: CUDA tensors) when MICS_GPU_TORCH_PYTHON has torch.
  if [[ -n "${MICS_GPU_TORCH_PYTHON:-}" ]]; then
    { cmake "$full" -DMICS_BUILD_TORCH=ON -DMICS_TORCH_PYTHON="$MICS_GPU_TORCH_PYTHON" &&
      cmake --build "$full" -j "$jobs" --target _mics_torch &&
      ctest --test-dir "$full" -L torch --output-on-failure; } >>"$log" 2>&1 || full_rc=1
    say "torch tests (ctest -L torch): exit $full_rc"
  fi
fi

# ---- summary ----
FULL_NOTE="$full_note" SKIP_REASON="$skip_reason" python3 - "$build" "$shards" "$out/gpu_summary.json" <<EOF
import glob, json, os, sys
build, shards, dest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tests = {"passed": 0, "failed": 0, "skipped": 0, "failures": [], "seed": "$MICS_TEST_SEED",
         "skip_reason": os.environ.get("SKIP_REASON", "")}
def count(pattern, into):
    for f in sorted(glob.glob(build + pattern)):
        for suite in json.load(open(f)).get("testsuites", []):
            for t in suite.get("testsuite", []):
                name = suite["name"] + "." + t["name"]
                if t.get("failures"):
                    into["failed"] += 1; into["failures"].append(name)
                elif t.get("result") == "SKIPPED":
                    into["skipped"] += 1
                else:
                    into["passed"] += 1
count("/test_shard_*.json", tests)
device_tests = {"passed": 0, "failed": 0, "skipped": 0, "failures": [],
                "note": os.environ.get("FULL_NOTE", "")}
count("/full_*_test.json", device_tests)
try:
    device_bench = json.load(open(build + "/device_bench.json"))
except Exception as e:
    device_bench = {"error": str(e)}
try:
    bench = json.load(open(build + "/bench.json"))
except Exception as e:
    bench = {"error": str(e)}
def optional(name):
    try:
        return json.load(open(build + "/" + name))
    except Exception as e:
        return {"skipped": f"{name}: {e}"}
perf_cuda = optional("perf_cuda.json")
gbench = optional("gbench.json")
sanitizer = optional("sanitizer.json")
summary = {"gpu": "$gpu_name", "driver": "$driver", "nvcc": "${nvcc_version:-}",
           "build_s": $build_s, "test_s": $test_s, "test_exit": $test_rc, "bench_exit": $bench_rc,
           "tests": tests, "bench": bench, "device_path_build_s": $full_build_s,
           "device_path_test_s": $full_test_s, "device_path_exit": $full_rc,
           "device_path_tests": device_tests, "device_bench": device_bench,
           "perf_cuda": perf_cuda, "perf_cuda_exit": $perf_rc, "sanitizer": sanitizer,
           "sanitizer_exit": $sanitizer_rc, "gbench": gbench,
           "total_s": $((SECONDS - t0))}
print("\n| item | result |\n|---|---|")
print(f"| GPU | {summary['gpu']} (driver {summary['driver']}, nvcc {summary['nvcc']}) |")
print(f"| build | {summary['build_s']} s |")
print(f"| tests ({summary['test_s']} s) | {tests['passed']} passed, {tests['failed']} failed, "
      f"{tests['skipped']} skipped |")
if tests["skip_reason"]:
    print(f"| note | {tests['skip_reason']} (GPU tests skipped) |")
for name in tests["failures"][:10]:
    print(f"| FAILED | {name} |")
if "rows" in bench:
    print("\n| size | copy GB/s (r+w) | f32 a+=b GB/s (3 streams) | % of copy | bf16 a+=b GB/s | % of copy |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in bench["rows"]:
        print(f"| {r['bytes'] >> 20} MiB | {r['copy_gbps']:.0f} | {r['float32_gbps']:.0f} | "
              f"{100 * r['float32_gbps'] / r['copy_gbps']:.1f} % | {r['bfloat16_gbps']:.0f} | "
              f"{100 * r['bfloat16_gbps'] / r['copy_gbps']:.1f} % |")
    print(f"\nbar (>= 90 % of copy at the largest size): {'MET' if bench['bar_met'] else 'NOT MET'}")
else:
    print(f"\nbench: {bench.get('skipped') or bench.get('error')}")
print(f"\n| device path | result |\n|---|---|")
print(f"| tests ({summary['device_path_test_s']} s) | {device_tests['passed']} passed, "
      f"{device_tests['failed']} failed, {device_tests['skipped']} skipped |")
if device_tests["note"]:
    print(f"| note | {device_tests['note']} |")
for name in device_tests["failures"][:10]:
    print(f"| FAILED | {name} |")
if "rows" in device_bench:
    print(f"\ndevice_collectives_bench on {device_bench['device']} ({device_bench['shape']}), "
          f"D2D copy {device_bench['copy_gbps']:.0f} GB/s")
    print("| path | collective | k | bytes | us/iter | busbw GB/s |\n|---|---|---:|---:|---:|---:|")
    for r in device_bench["rows"]:
        print(f"| {r.get('path', '')} | {r['coll']} | {r['ranks']} | {r['bytes']} | "
              f"{r['us']:.1f} | {r['busbw_gbps']:.2f} |")
else:
    print(f"\ndevice bench: {device_bench.get('skipped') or device_bench.get('error')}")
def perf_line(name, r):
    if r["status"] == "skipped":
        return f"| {name} | skipped: {r.get('reason', '')} |"
    rows = r.get("rows") or [{}]
    last = rows[-1].get("out_of_place", {})
    return (f"| {name} | {r['status']} (exit {r['exit']}), #wrong {r.get('out_of_bounds')}, "
            f"{rows[-1].get('size', 0)} B: {last.get('time_us', 0):.1f} us, "
            f"busbw {last.get('busbw', 0):.2f} GB/s |")
print("\n| perf binaries, 2 ranks, -M cuda | result |\n|---|---|")
if "sweeps" in perf_cuda:
    for coll, r in perf_cuda["sweeps"].items():
        print(perf_line(coll, r))
    side = perf_cuda["side_by_side"]
    print(perf_line("allgather 64 MiB, mics, 2 emulated nodes (tcp, staged)", side["mics"]))
    print(perf_line("allgather 64 MiB, NCCL (NCCL_HOSTID per rank: sockets)", side["nccl"]))
    print(perf_line("allgather 64 MiB, mics, one node (direct)", side["mics_one_node"]))
    procs = perf_cuda["procs4"]
    print(perf_line("allgather, 4 processes, mics", procs["mics"]))
    for row in procs["naive"].get("rows", []):
        print(f"| naive IPC gather, 4 processes, {row['bytes']} B | {row['us']:.1f} us, "
              f"busbw {row['busbw_gbps']:.2f} GB/s |")
else:
    print(f"| all | {perf_cuda.get('skipped')} |")
if "skipped" in sanitizer:
    print(f"\ncompute-sanitizer: skipped: {sanitizer['skipped']}")
else:
    for t in ("memcheck", "racecheck"):
        r = sanitizer.get(t, {})
        print(f"compute-sanitizer {t}: exit {r.get('exit')}, {r.get('summary')}, "
              f"{r.get('tests_passed')} tests passed")
json.dump(summary, open(dest, "w"), indent=1)
print(f"summary written to {dest}")
EOF
echo "total: $((SECONDS - t0)) s" | tee -a "$log"
if [[ -n "$skip_reason" ]]; then
  echo "$skip_reason: the GPU tests were skipped; the benches, the -M cuda / NCCL perf runs and"
  echo "compute-sanitizer did not run"
fi
(( test_rc == 0 && full_rc == 0 && perf_rc == 0 && sanitizer_rc == 0 )) || exit 1
exit 0
