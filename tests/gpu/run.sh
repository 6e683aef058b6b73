#!/usr/bin/env bash
# GPU check in one go: build the GPU pieces alone (tests/gpu/standalone: the device kernels, the
# host reference kernels, the GPU test and the GPU bench; no libfabric or hwloc needed), run the
# test (GoogleTest shards in parallel) and the bench, print a summary table and write
# gpu_summary.json to $OUT if set, else to the current directory. Without a GPU the tests skip,
# the bench says so, and the script exits 0. Exit status: 1 if the build or a test failed.
#
#   bash tests/gpu/run.sh            # MICS_GPU_BUILD_DIR (default build-gpu/), MICS_GPU_JOBS,
#                                    # MICS_GPU_BENCH_ARGS (default: 1 MiB .. 1 GiB sweep)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
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

# ---- summary ----
SKIP_REASON="$skip_reason" python3 - "$build" "$shards" "$out/gpu_summary.json" <<EOF
import glob, json, os, sys
build, shards, dest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tests = {"passed": 0, "failed": 0, "skipped": 0, "failures": [], "seed": "$MICS_TEST_SEED",
         "skip_reason": os.environ.get("SKIP_REASON", "")}
for f in sorted(glob.glob(build + "/test_shard_*.json")):
    for suite in json.load(open(f)).get("testsuites", []):
        for t in suite.get("testsuite", []):
            name = suite["name"] + "." + t["name"]
            if t.get("failures"):
                tests["failed"] += 1; tests["failures"].append(name)
            elif t.get("result") == "SKIPPED":
                tests["skipped"] += 1
            else:
                tests["passed"] += 1
try:
    bench = json.load(open(build + "/bench.json"))
except Exception as e:
    bench = {"error": str(e)}
summary = {"gpu": "$gpu_name", "driver": "$driver", "nvcc": "${nvcc_version:-}",
           "build_s": $build_s, "test_s": $test_s, "test_exit": $test_rc, "bench_exit": $bench_rc,
           "tests": tests, "bench": bench, "total_s": $((SECONDS - t0))}
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
json.dump(summary, open(dest, "w"), indent=1)
print(f"summary written to {dest}")
EOF
echo "total: $((SECONDS - t0)) s" | tee -a "$log"
if [[ -n "$skip_reason" ]]; then
  echo "$skip_reason: the GPU tests were skipped and the bench did not run"
fi
(( test_rc == 0 )) || exit 1
exit 0
