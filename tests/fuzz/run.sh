#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang into build-fuzz and runs
# each for SECONDS (default 60) from its seed corpus. Fails on any crash, leak,
# sanitizer report or timeout; prints the executions of every target.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
#
# Environment: MICS_FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (targets run
# at once, default: the number of CPUs, at most 2), CC/CXX (default clang).
# Inputs the fuzzer finds are kept in $build/corpus/<target> (not in the source
# tree); a crash leaves its input in $build/artifacts/<target>/ and the run's
# log in $build/logs/<target>.log. Reproduce with:
#   $build/tests/fuzz/<target> $build/artifacts/<target>/crash-...
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
seconds="${1:-60}"
shift || true
build="${MICS_FUZZ_BUILD_DIR:-$root/build-fuzz}"
jobs="${FUZZ_JOBS:-$(($(nproc) < 2 ? 1 : 2))}"
all_targets=(fuzz_root_hello fuzz_rank_reply fuzz_unique_id fuzz_env_int fuzz_cost_model
             fuzz_ofi_provider fuzz_topo_xml)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

# Debian's libfabric pulls in libinfinipath (PSM), whose constructor installs a
# SIGSEGV/SIGBUS handler that prints a backtrace and exit(1)s, pre-empting the
# sanitizers' own reports; this turns it off.
export IPATH_NO_BACKTRACE=1
export CC="${CC:-clang}" CXX="${CXX:-clang++}"
command -v "$CXX" >/dev/null || { echo "run.sh: $CXX not found (apt-get install clang)"; exit 1; }

# Configure: the top CMakeLists adds tests/fuzz under -DMICS_FUZZ=ON. Until it
# does, a wrapper project adds both.
src="$root"
fuzz_bin="$build/tests/fuzz"
if ! grep -q "MICS_FUZZ" "$root/CMakeLists.txt"; then
  src="$build/wrapper"
  fuzz_bin="$build/fuzz"
  mkdir -p "$src"
  cat >"$src/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.25)
project(mics_fuzz_wrapper LANGUAGES C CXX)
add_subdirectory("$root" mics)
add_subdirectory("$root/tests/fuzz" fuzz)
EOF
fi
# A build directory configured from the other source directory: start afresh.
if [ -f "$build/CMakeCache.txt" ] &&
  ! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$src" "$build/CMakeCache.txt"; then
  rm -rf "$build"
fi
t0=$(date +%s)
mkdir -p "$build"
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMICS_FUZZ=ON \
  -DMICS_BUILD_TESTS=OFF -DMICS_BUILD_PERF=OFF -DMICS_WERROR=OFF -DMICS_CUDA=OFF >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
echo "fuzz: built ${#targets[@]} targets in $(($(date +%s) - t0)) s; running each for ${seconds} s, ${jobs} at a time"

mkdir -p "$build/logs" "$build/artifacts" "$build/corpus"
run_one() {  # target -> 0 when clean
  local t=$1
  local work="$build/corpus/$t" art="$build/artifacts/$t/" log="$build/logs/$t.log"
  mkdir -p "$work" "$art"
  local max_len=4096
  [ "$t" = fuzz_topo_xml ] && max_len=65536
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a memory blow-up.
  if "$fuzz_bin/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$art" \
    "$work" "$root/tests/fuzz/corpus/$t" >"$log" 2>&1; then
    return 0
  fi
  return 1
}
export -f run_one
export build fuzz_bin seconds root

t1=$(date +%s)
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {} && echo "fuzz: {} done" || echo "fuzz: {} FAILED"' \
  | tee "$build/logs/summary.txt"
echo "fuzz: ran in $(($(date +%s) - t1)) s"

status=0
printf '%-20s %12s %10s %8s  %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
  log="$build/logs/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  units=$(find "$build/corpus/$t" -type f | wc -l)
  if grep -q "fuzz: $t done" "$build/logs/summary.txt"; then
    result=ok
  else
    result="FAILED (see $log)"
    status=1
  fi
  printf '%-20s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$units" "$result"
done
if [ $status -ne 0 ]; then
  for t in "${targets[@]}"; do
    grep -q "fuzz: $t done" "$build/logs/summary.txt" && continue
    echo "---- $t (last 40 lines of $build/logs/$t.log)"
    tail -40 "$build/logs/$t.log"
    ls "$build/artifacts/$t/" 2>/dev/null | sed "s|^|  artifact: $build/artifacts/$t/|"
  done
fi
exit $status
