#!/usr/bin/env bash
# compute-sanitizer on a small configuration of the device-path tests, for tests/gpu/run.sh
# (stage 2): memcheck (out-of-bounds and misaligned accesses, bad frees, CUDA API errors) and
# racecheck (shared-memory hazards in the kernels), ranks as threads of one process so that one
# sanitizer sees every rank. Runs only where a GPU and compute-sanitizer exist (it ships with the
# CUDA toolkit: PATH, then /usr/local/cuda*/bin and /usr/local/cuda*/compute-sanitizer); says
# why otherwise. Writes <work>/sanitizer.json; exit 1 if a tool reported an error.
#
#   sanitize.sh <device_path_test binary> <work dir> <log file> <GPU name or "none">
#   MICS_GPU_SANITIZER_FILTER: the gtest filter (default below)
set -uo pipefail
test_bin="$1" work="$2" log="$3" gpu="$4"
filter="${MICS_GPU_SANITIZER_FILTER:-DeviceArguments.*:OneGpu/DeviceShapeTest.TwoCommunicatorsOnTwoStreams/threads:OneGpu/DeviceShapeTest.GradSyncOnDeviceBuffers/threads}"
mkdir -p "$work"
json="$work/sanitizer.json"

tool=$(command -v compute-sanitizer 2>/dev/null)
if [[ -z "$tool" ]]; then
  for c in /usr/local/cuda*/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer; do
    [[ -x "$c" ]] && { tool="$c"; break; }
  done
fi
skip=""
[[ "$gpu" == none ]] && skip="no GPU"
[[ -z "$tool" ]] && skip="${skip:+$skip; }compute-sanitizer not found (PATH, /usr/local/cuda*)"
[[ -x "$test_bin" ]] || skip="${skip:+$skip; }$test_bin not built"
if [[ -n "$skip" ]]; then
  echo "== compute-sanitizer: skipped: $skip" | tee -a "$log"
  printf '{"skipped": "%s"}\n' "$skip" >"$json"
  exit 0
fi

rc=0
results=()
for t in memcheck racecheck; do
  out="$work/sanitizer_$t.log"
  echo "== compute-sanitizer --tool $t, filter $filter" | tee -a "$log"
  timeout 300 "$tool" --tool "$t" --error-exitcode 1 --target-processes all \
    "$test_bin" --gtest_filter="$filter" >"$out" 2>&1
  trc=$?
  cat "$out" >>"$log"
  summary=$(grep -h -m1 -E "(ERROR|RACECHECK) SUMMARY" "$out" | tr -d '"')
  passed=$(grep -h -m1 -oE "\[  PASSED  \] [0-9]+ test" "$out" | grep -oE "[0-9]+")
  echo "== compute-sanitizer $t: exit $trc; ${summary:-no summary line}; ${passed:-0} tests passed" |
    tee -a "$log"
  ((trc == 0)) || rc=1
  results+=("\"$t\": {\"exit\": $trc, \"summary\": \"$summary\", \"tests_passed\": ${passed:-0}}")
done
(IFS=,; printf '{"tool": "%s", "filter": "%s", %s}\n' "$tool" "$filter" "${results[*]}") >"$json"
exit $rc
