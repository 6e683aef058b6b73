#!/usr/bin/env bash
# The perf binaries' -M / --engine flags: bad values are clear errors; -M cuda and --engine nccl
# exit 77 with a one-line reason where there is no GPU, and run with #wrong == 0 where there is
# one; a build without CUDA (or NCCL) says "not built". Host runs report memory/engine.
#
#   perf_flags_test.sh <perf dir> <mics-run> "<compile definitions of mics_perf_common>"
set -uo pipefail
perf="$1" run="$2" defs="$3"
have_cuda=0 have_nccl=0 have_gpu=0
[[ ";$defs;" == *";MICS_PERF_CUDA=1;"* ]] && have_cuda=1
[[ ";$defs;" == *";MICS_PERF_NCCL=1;"* ]] && have_nccl=1
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  have_gpu=1
fi
echo "built with CUDA: $have_cuda, NCCL: $have_nccl; GPU present: $have_gpu"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect <name> <exit code> <text expected in stdout+stderr> -- <command...>
expect() {
  local name="$1" want_rc="$2" want_text="$3"
  shift 4
  "$@" >"$tmp/out" 2>&1
  local rc=$?
  if [[ $rc != "$want_rc" ]] || ! grep -qF -- "$want_text" "$tmp/out"; then
    echo "FAIL $name: exit $rc (want $want_rc), output must contain '$want_text':"
    sed 's/^/    /' "$tmp/out" | head -20
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

small=(-b 1K -e 64K -f 8 -n 2 -w 1)
expect bad_memory 2 "bad value 'bogus' for -M: expected host" -- "$perf/all_gather_perf" -M bogus
expect bad_engine 2 "bad value 'bogus' for -E: expected mics or nccl" -- \
  "$perf/all_gather_perf" --engine bogus
expect hostid_without_nccl 2 "--nccl-hostid-per-rank applies to --engine nccl only" -- \
  "$perf/all_gather_perf" --nccl-hostid-per-rank

if ((!have_cuda)); then
  expect cuda_not_built 2 "the CUDA data path is not built" -- "$perf/all_gather_perf" -M cuda
elif ((!have_gpu)); then
  expect cuda_skip 77 "mics perf: -M cuda: skipped: no CUDA device (" -- \
    "$perf/all_gather_perf" -M cuda "${small[@]}"
  # One line, nothing else: no table, no crash report.
  lines=$(wc -l <"$tmp/out")
  if [[ $lines != 1 ]]; then
    echo "FAIL cuda_skip_one_line: $lines lines"; failures=$((failures + 1))
  fi
  for coll in all_gather reduce_scatter all_reduce broadcast; do
    expect "cuda_skip_2_ranks_$coll" 77 "skipped: no CUDA device" -- \
      "$run" -n 2 "$perf/${coll}_perf" -M cuda "${small[@]}"
  done
else
  for coll in all_gather reduce_scatter all_reduce broadcast; do
    expect "cuda_2_ranks_$coll" 0 "# Out of bounds values : 0 OK" -- \
      "$run" -n 2 "$perf/${coll}_perf" -M cuda "${small[@]}"
  done
fi

if ((!have_nccl)); then
  expect nccl_not_built 2 "NCCL support is not built" -- "$perf/all_gather_perf" --engine nccl
else
  expect nccl_host_memory 2 "--engine nccl needs device buffers" -- \
    "$perf/all_gather_perf" --engine nccl -M host
  expect nccl_with_algo 2 "-A selects a mics algorithm" -- \
    "$perf/all_gather_perf" --engine nccl -A ring
  if ((!have_gpu)); then
    expect nccl_skip 77 "mics perf: --engine nccl: skipped: no CUDA device (" -- \
      "$perf/all_gather_perf" -E nccl "${small[@]}"
  else
    expect nccl_1_rank 0 "# Out of bounds values : 0 OK" -- \
      "$perf/all_gather_perf" -E nccl "${small[@]}"
  fi
fi

# Host memory, the mics engine: said so in the table and the JSON file.
for coll in all_gather reduce_scatter all_reduce broadcast; do
  expect "host_2_ranks_$coll" 0 "memory host engine mics" -- \
    "$run" -n 2 "$perf/${coll}_perf" -M host "${small[@]}" -J "$tmp/$coll.json"
  grep -q "# Out of bounds values : 0 OK" "$tmp/out" ||
    { echo "FAIL host_2_ranks_$coll: wrong values"; failures=$((failures + 1)); }
  python3 - "$tmp/$coll.json" <<'EOF' || failures=$((failures + 1))
import json, sys
d = json.load(open(sys.argv[1]))
bad = [(k, d.get(k)) for k, v in (("memory", "host"), ("engine", "mics"), ("out_of_bounds", 0))
       if d.get(k) != v]
if bad or not d["results"]:
    sys.exit(f"FAIL {sys.argv[1]}: {bad or 'no results'}")
EOF
done

if ((failures)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
