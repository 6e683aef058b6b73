#!/usr/bin/env bash
# Sanitizer CI profile (docs/RELIABILITY.md, "Fuzzing and sanitizers"):
#
#   asan      clang ASan + UBSan build in build-asan, the whole ctest suite
#   tsan      clang TSan build in build-tsan, the ctest suite minus the big
#             collective matrices (see TSAN_EXCLUDE below)
#   valgrind  memcheck of every rank of two small perf jobs under mics-run
#             (2 ranks on one node; 2 nodes x 2 ranks over libfabric), on the
#             normal build (${MICS_BUILD_DIR:-build})
#
#   .ci/sanitizers.sh [asan] [tsan] [valgrind]     (default: all three)
#
# Every part must finish with zero reports: sanitizer reports go to files under
# <build>/sanitizer-logs (so that reports from forked ranks whose output the
# harness swallows are seen too) and any file there fails the part. Prints the
# wall time of each part. On this project's 2-core CI machine, from clean
# build directories: asan 7 min (build 1.5, 250 tests 5.6), tsan 7.6 min
# (build 1.1, 223 tests 6.5), valgrind 9 s.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(asan tsan valgrind)
jobs="$(nproc)"

need=()
command -v clang++ >/dev/null || need+=(clang)
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.tsan-x86_64.a >/dev/null 2>&1 ||
  need+=(libclang-rt-dev)
command -v valgrind >/dev/null || need+=(valgrind)
if [ ${#need[@]} -gt 0 ]; then
  echo "sanitizers: installing ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}"
fi
"$root/cmake/setup.sh" >/dev/null  # the rest of the build dependencies (and build/)

# hwloc's pci plugin (dlopen'ed per topology load, dlclose'd with the last
# topology) keeps libpciaccess's state in libpciaccess globals; once the plugin
# and libpciaccess are unloaded at exit, LeakSanitizer sees that state as
# leaked (~1 KB per process, stack "<unknown module>"). Preloading libpciaccess
# keeps it mapped, so the memory stays reachable and real leaks still show.
pciaccess=$(ls /usr/lib/*/libpciaccess.so.0 2>/dev/null | head -1 || true)

# UBSan's "enum" check is off: the bad-input tests pass out-of-range values of
# the C API's enums on purpose (mics_type_size((mics_datatype_t)-1), ...), and
# loading such a value through a C++ enum is what that check reports. The
# library rejects them; see docs/RELIABILITY.md.
ASAN_FLAGS="-fsanitize=address,undefined -fno-sanitize=enum -fno-omit-frame-pointer -fno-sanitize-recover=all"
TSAN_FLAGS="-fsanitize=thread -fno-omit-frame-pointer"
# The full collective matrices (every type x op x count x mode at 2..8 ranks)
# take 14 min more under TSan on 2 cores, and every rank in them is a
# single-threaded process: nothing for TSan to check that the tests that stay
# (multi-node shapes, grad sync, groups, faults, abort from another thread,
# the bootstrap root thread, the state dump) do not cover.
# Ranks that are threads of one process (init_all, group and the threads case
# of the direct-read matrix) run too: the shm transport tells TSan about the
# edges between aliases of one segment (transport/shm/tsan_sync.h).
TSAN_EXCLUDE='^Collectives/Matrix\.|^cluster_smoke$|^launcher$'

# Debian's libfabric pulls in libinfinipath (PSM), whose constructor installs a
# SIGSEGV/SIGBUS handler that prints a backtrace and exit(1)s, pre-empting the
# sanitizers' own reports; this turns it off.
export IPATH_NO_BACKTRACE=1
declare -A took
status=0

# MICS_CUDA=OFF: the CUDA runtime reserves a huge address range that TSan's
# shadow cannot coexist with ("unexpected memory mapping"), and ASan needs
# protect_shadow_gap=0 beside it; the GPU paths need a GPU anyway (tests/gpu).
configure() {  # dir flags
  local dir=$1 flags=$2
  CC=clang CXX=clang++ $prefix cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMICS_WERROR=OFF -DMICS_CUDA=OFF -DMICS_PYTHON_TESTS=OFF -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" >/dev/null
  $prefix cmake --build "$dir" -j "$jobs"
}

check_logs() {  # dir name -> 0 when no report was written
  local logs=$1 name=$2
  if compgen -G "$logs/*" >/dev/null; then
    echo "sanitizers: $name wrote $(ls "$logs" | wc -l) report(s):"
    for f in "$logs"/*; do
      echo "---- $f"
      head -60 "$f"
    done
    return 1
  fi
  echo "sanitizers: $name: no reports"
}

run_asan() {
  prefix=""
  configure build-asan "$ASAN_FLAGS"
  local logs="$root/build-asan/sanitizer-logs"
  rm -rf "$logs" && mkdir -p "$logs"
  local rc=0
  ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1" \
    UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1" \
    LD_PRELOAD="$pciaccess" \
    ctest --test-dir build-asan -j "$jobs" --output-on-failure || rc=1
  check_logs "$logs" "ASan+UBSan" || rc=1
  return $rc
}

run_tsan() {
  # TSan maps its shadow at fixed addresses; with too much mmap randomisation
  # (vm.mmap_rnd_bits > 28 on some kernels) it dies with "unexpected memory
  # mapping". Probe once; fall back to running without ASLR (setarch -R).
  prefix=""
  local probe
  probe=$(mktemp -d)
  echo 'int main() { return 0; }' >"$probe/p.cc"
  clang++ -fsanitize=thread "$probe/p.cc" -o "$probe/p"
  if ! "$probe/p" >/dev/null 2>&1; then
    prefix="setarch $(uname -m) -R"
    echo "sanitizers: TSan needs ASLR off here; running under '$prefix'"
  fi
  rm -rf "$probe"
  configure build-tsan "$TSAN_FLAGS"
  local logs="$root/build-tsan/sanitizer-logs"
  rm -rf "$logs" && mkdir -p "$logs"
  local rc=0
  TSAN_OPTIONS="log_path=$logs/tsan:halt_on_error=1:second_deadlock_stack=1:exitcode=66" \
    $prefix ctest --test-dir build-tsan -j "$jobs" --output-on-failure -E "$TSAN_EXCLUDE" || rc=1
  check_logs "$logs" "TSan" || rc=1
  return $rc
}

run_valgrind() {
  local build="${MICS_BUILD_DIR:-$root/build}"
  cmake --build "$build" -j "$jobs" --target all_gather_perf all_reduce_perf >/dev/null
  local logs="$build/valgrind-logs"
  rm -rf "$logs" && mkdir -p "$logs"
  local rc=0
  # Every rank under memcheck; an error or a definite/indirect leak makes
  # valgrind exit 1, which mics-run passes on. Two jobs: 2 ranks on one node
  # (shared memory), and 2 nodes x 2 ranks (libfabric tcp over lo, the second
  # bootstrap round, hwloc topology for the rails, hierarchical allreduce).
  local vg=(valgrind --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect
            --errors-for-leak-kinds=definite,indirect --track-origins=yes
            --log-file="$logs/rank-%p.log")
  MICS_TIMEOUT_MS=120000 LD_PRELOAD="$pciaccess" timeout 600 \
    python3 "$root/src/launcher/mics-run.py" -n 2 -- \
    "${vg[@]}" "$build/perf/all_gather_perf" -b 1K -e 64K -f 2 || rc=1
  MICS_TIMEOUT_MS=120000 LD_PRELOAD="$pciaccess" timeout 600 \
    python3 "$root/src/launcher/mics-run.py" -n 4 --nodes 2 -- \
    "${vg[@]}" "$build/perf/all_reduce_perf" -b 1K -e 256K -f 4 || rc=1
  for f in "$logs"/*.log; do
    grep -q "ERROR SUMMARY: 0 errors" "$f" || { echo "---- $f"; cat "$f"; rc=1; }
  done
  [ $rc -eq 0 ] && echo "sanitizers: valgrind: no reports ($(ls "$logs" | wc -l) ranks)"
  return $rc
}

for part in "${parts[@]}"; do
  t0=$(date +%s)
  echo "==== sanitizers: $part"
  if "run_$part"; then r=ok; else r=FAILED; status=1; fi
  took[$part]="$(($(date +%s) - t0)) s, $r"
done
echo "==== sanitizers: wall time per part (2-core CI: see docs/RELIABILITY.md)"
for part in "${parts[@]}"; do echo "  $part: ${took[$part]}"; done
exit $status
