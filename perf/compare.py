#!/usr/bin/env python3
"""A/B comparison of mics against OpenMPI and/or Gloo on one node.

Runs the mics perf binary and the same-named baseline binaries
(perf/baselines: mpi_<coll>_perf, gloo_<coll>_perf: same driver, table and
JSON) interleaved -- mics, mpi, gloo, mics, mpi, gloo, ... -- --reps times at
the same rank count and sizes, plus the memcpy probe (perf/memcpy_bound:
one thread alone, and min(ranks, cores) threads copying at once) once per
repetition. Prints per size the median busbw of
each system, the ratios mics/baseline, and mics as a fraction of the
shared-memory copy bound for the collective (perf/model.py
copy_bound_busbw; docs/PERFORMANCE.md), then the medians over sizes.

examples:
  perf/compare.py --np 2 --colls all_gather,reduce_scatter,all_reduce -b 1M -e 256M -f 4
  perf/compare.py --np 2 --latency 8 --baselines mpi          # 8-byte allgather latency
  perf/compare.py --np 4 --save /tmp/cmp4 ...     # per-run and median JSON for perf/plot.py
  perf/compare.py --np 2 --baselines mpi,mics-ring ...  # + mics without the single-copy path

mics and Gloo start with mics-run; MPI with mpirun (--oversubscribe, --bind-to
none: no rank is pinned, as with mics-run; as root OMPI_ALLOW_RUN_AS_ROOT is
set). Missing baseline binaries are skipped with a note.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import model  # noqa: E402

HALVES = {"oop": "out_of_place", "ip": "in_place"}


# A pseudo-baseline: mics itself with the single-copy path and the polling
# budget switched off, i.e. the two-copy rings and the futex wait as before.
MICS_RING_ENV = {"MICS_SHM_CMA": "0", "MICS_SHM_SPIN_US": "0"}


def system_env(system):
    env = dict(os.environ)
    if system == "mpi" and os.geteuid() == 0:
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    if system == "mics-ring":
        env.update(MICS_RING_ENV)
    return env


def binary(build, system, coll):
    if system in ("mics", "mics-ring"):
        return os.path.join(build, "perf", f"{coll}_perf")
    return os.path.join(build, "perf", "baselines", f"{system}_{coll}_perf")


def launch_cmd(args, system, prog):
    nice = ["nice", "-n", str(args.nice)] if args.nice else []
    if system == "mpi":
        return nice + ["mpirun", "-n", str(args.np), "--oversubscribe", "--bind-to", "none"] + \
            args.mpi_arg + [prog]
    return nice + [os.path.join(args.build, "mics-run"), "-n", str(args.np), "--no-prefix", "--",
                   prog]


def cpu_busy(interval=0.5):
    """Fraction of the machine's CPU time busy over `interval` s (/proc/stat)."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    t0, i0 = snap()
    time.sleep(interval)
    t1, i1 = snap()
    return 1 - (i1 - i0) / max(1, t1 - t0)


def wait_idle(args):
    """With --idle-wait S: wait up to S seconds for the CPU to be < 25 % busy
    (other users' builds and tests), so that A and B run in similar conditions.
    Counts the runs that had to start on a busy CPU in args.busy_starts."""
    if not args.idle_wait or not os.path.exists("/proc/stat"):
        return
    deadline = time.monotonic() + args.idle_wait
    while time.monotonic() < deadline:
        if cpu_busy() < 0.25:
            return
        time.sleep(2)
    args.busy_starts = getattr(args, "busy_starts", 0) + 1


def run_perf(args, system, coll, tmpdir, tag):
    out_json = os.path.join(tmpdir, f"{coll}.{system}.{tag}.json")
    perf = [binary(args.build, system, coll), "-b", args.minbytes, "-e", args.maxbytes,
            "-f", str(args.stepfactor), "-n", str(args.iters), "-w", str(args.warmup),
            "-c", str(args.check), "-d", args.datatype, "-J", out_json] + args.perf_arg
    cmd = launch_cmd(args, system, perf[0]) + perf[1:]
    env = system_env(system)
    wait_idle(args)
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    if p.returncode != 0 or not os.path.exists(out_json):
        sys.exit(f"compare: {' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-3000:]}"
                 f"\n{p.stderr[-3000:]}")
    with open(out_json) as f:
        data = json.load(f)
    if data.get("out_of_bounds"):
        print(f"# WARNING: {system} {coll} reported {data['out_of_bounds']} wrong halves",
              flush=True)
    if args.verbose:
        print(f"#   {system:<5} {coll:<15} rep {tag}: {time.monotonic() - t0:.1f} s", flush=True)
    return data


def run_latency(args, system, tmpdir, tag):
    """perf/allgather_latency (or its baseline build) once; returns its JSON."""
    out_json = os.path.join(tmpdir, f"latency.{system}.{tag}.json")
    name = "allgather_latency"
    prog = os.path.join(args.build, "perf", name) if system in ("mics", "mics-ring") else \
        os.path.join(args.build, "perf", "baselines", f"{system}_{name}")
    cmd = launch_cmd(args, system, prog) + ["-s", str(args.latency), "-n", str(args.lat_iters),
                                            "-w", str(args.lat_iters // 10), "-J", out_json]
    env = system_env(system)
    wait_idle(args)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    if p.returncode != 0 or not os.path.exists(out_json):
        sys.exit(f"compare: {' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    with open(out_json) as f:
        return json.load(f)


def latency_main(args, systems, tmpdir):
    print(f"# compare --latency: allgather of {args.latency} bytes per rank, {args.np} ranks, "
          f"{args.lat_iters} timed calls per run, {args.reps} interleaved reps "
          f"({', '.join(systems)}), load avg {os.getloadavg()[0]:.2f}", flush=True)
    res = {s: [] for s in systems}
    for rep in range(args.reps):
        for s in systems:
            res[s].append(run_latency(args, s, tmpdir, rep))
    print("# per call, max over ranks, median over reps; mean = loop time / calls "
          "(the nccl-tests time), median/p90 of the individually timed calls")
    print(f"{'system':>8}  {'mean us':>9}  {'median us':>9}  {'p90 us':>9}  {'mean vs mics':>12}")
    summary = {}
    for s in systems:
        row = {k: med([r[k] for r in res[s]]) for k in ("mean_us", "median_us", "p90_us")}
        summary[s] = row
    if args.idle_wait:
        print(f"# {args.busy_starts} runs started on a busy CPU")
    for s in systems:
        row = summary[s]
        print(f"{s:>8}  {row['mean_us']:>9.2f}  {row['median_us']:>9.2f}  {row['p90_us']:>9.2f}  "
              f"{row['mean_us'] / summary['mics']['mean_us']:>11.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"latency_bytes_per_rank": args.latency, "np": args.np, "reps": args.reps,
                       "systems": summary}, f, indent=1)


def run_memcpy(args, tmpdir, tag):
    out_json = os.path.join(tmpdir, f"memcpy.{tag}.json")
    prog = os.path.join(args.build, "perf", "memcpy_bound")
    wait_idle(args)
    nice = ["nice", "-n", str(args.nice)] if args.nice else []
    threads = str(max(1, min(args.np, args.cores)))
    p = subprocess.run(nice + [prog, "-t", threads, "-J", out_json], capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0:
        sys.exit(f"compare: {prog} failed:\n{p.stdout}{p.stderr}")
    with open(out_json) as f:
        return json.load(f)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_size(n):
    for unit, s in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= s and n % s == 0:
            return f"{n // s}{unit}"
    return str(n)


def median_json(runs, half_key=None):
    """One JSON in the perf binaries' schema whose rows are the medians over runs."""
    base = json.loads(json.dumps(runs[0]))
    base["command_line"] += f"  [median of {len(runs)} interleaved runs, perf/compare.py]"
    base["median_of"] = len(runs)
    for i, row in enumerate(base["results"]):
        for half in ("out_of_place", "in_place"):
            for key in ("time_us", "algbw", "busbw"):
                row[half][key] = med([r["results"][i][half][key] for r in runs])
    return base


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="build directory (default: build/)")
    ap.add_argument("--np", type=int, default=2, help="ranks (default 2)")
    ap.add_argument("--colls", default="all_gather,reduce_scatter,all_reduce",
                    help="comma-separated perf collectives (default %(default)s)")
    ap.add_argument("--baselines", default="mpi,gloo",
                    help="comma-separated: mpi, gloo, mics-ring (mics with MICS_SHM_CMA=0 "
                         "MICS_SHM_SPIN_US=0: the two-copy rings, no polling budget) "
                         "(default mpi,gloo)")
    ap.add_argument("--bound", choices=("direct", "ring"), default="direct",
                    help="copy bound of the mics column: the single-copy path (default) or "
                         "the two-copy rings")
    ap.add_argument("-b", "--minbytes", default="1M")
    ap.add_argument("-e", "--maxbytes", default="256M")
    ap.add_argument("-f", "--stepfactor", type=int, default=4)
    ap.add_argument("-n", "--iters", type=int, default=10)
    ap.add_argument("-w", "--warmup", type=int, default=2)
    ap.add_argument("-c", "--check", type=int, default=0,
                    help="check results (perf -c; default 0: the checks run untimed but "
                         "take long at large sizes)")
    ap.add_argument("-d", "--datatype", default="float")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default 3)")
    ap.add_argument("--half", choices=("oop", "ip", "both"), default="both",
                    help="table(s) for out-of-place, in-place or both halves (default both)")
    ap.add_argument("--cores", type=int, default=os.cpu_count(),
                    help="cores the ranks share, for the copy bound (default: this machine's)")
    ap.add_argument("--rate", choices=("concurrent", "single"), default="concurrent",
                    help="memcpy rate M of the bounds: per thread with min(np, cores) threads "
                         "copying at once (default: the ranks copy at once too), or one "
                         "thread alone")
    ap.add_argument("--no-memcpy", action="store_true", help="skip the memcpy probe and bounds")
    ap.add_argument("--mpi-arg", action="append", default=[],
                    help="extra mpirun argument (repeatable), e.g. --mpi-arg=--mca ...")
    ap.add_argument("--perf-arg", action="append", default=[],
                    help="extra perf-binary argument for every system (repeatable)")
    ap.add_argument("--save", metavar="DIR",
                    help="keep every run's JSON and write <coll>.<system>.median.json there")
    ap.add_argument("--json", metavar="FILE", help="write the summary (all medians) as JSON")
    ap.add_argument("--timeout", type=float, default=1800, help="per run, seconds")
    ap.add_argument("--latency", type=int, metavar="BYTES",
                    help="instead of the sweeps: allgather latency with BYTES per rank "
                         "(perf/allgather_latency and its baseline builds)")
    ap.add_argument("--lat-iters", type=int, default=20000, help="timed calls per latency run")
    ap.add_argument("--idle-wait", type=float, default=0, metavar="S",
                    help="before each run wait up to S seconds for the CPU to be < 25%% busy "
                         "(shared machines; default 0: don't wait)")
    ap.add_argument("--nice", type=int, default=0,
                    help="run every system under nice -n N (e.g. -10 as root on a shared machine)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every run")
    args = ap.parse_args()
    args.busy_starts = 0

    colls = [c for c in args.colls.split(",") if c]
    systems = ["mics"]
    for b in [b for b in args.baselines.split(",") if b]:
        if b not in ("mpi", "gloo", "mics-ring"):
            ap.error(f"unknown baseline {b}")
        if b == "mics-ring":
            systems.append(b)
            continue
        need = [os.path.join(args.build, "perf", "baselines", f"{b}_allgather_latency")] \
            if args.latency else [binary(args.build, b, c) for c in colls]
        if all(os.path.exists(x) for x in need):
            systems.append(b)
        else:
            print(f"# note: {b} baseline binaries not in {args.build}/perf/baselines "
                  f"(install with MICS_BASELINES=1 cmake/setup.sh); skipped")
    tmpdir = args.save or tempfile.mkdtemp(prefix="mics-compare-")
    os.makedirs(tmpdir, exist_ok=True)
    try:
        if args.latency:
            return latency_main(args, systems, tmpdir)
        return sweep_main(args, colls, systems, tmpdir)
    finally:
        if not args.save:
            shutil.rmtree(tmpdir, ignore_errors=True)


def sweep_main(args, colls, systems, tmpdir):
    for c in colls:
        if not os.path.exists(binary(args.build, "mics", c)):
            sys.exit(f"compare: {binary(args.build, 'mics', c)} not found (build first)")

    print(f"# compare: {args.np} ranks, {args.cores} cores, sizes {args.minbytes}..{args.maxbytes} "
          f"x{args.stepfactor}, -n {args.iters} -w {args.warmup}, {args.reps} interleaved reps "
          f"({', '.join(systems)}), load avg {os.getloadavg()[0]:.2f}"
          f"{f', nice {args.nice}' if args.nice else ''}", flush=True)
    runs = {c: {s: [] for s in systems} for c in colls}
    memcpy = []
    for rep in range(args.reps):
        if not args.no_memcpy:
            memcpy.append(run_memcpy(args, tmpdir, rep))
        for c in colls:
            for s in systems:
                runs[c][s].append(run_perf(args, s, c, tmpdir, rep))
    load_end = os.getloadavg()[0]

    single = med([m["memcpy_gbps"] for m in memcpy]) if memcpy else None
    concurrent = med([m.get("concurrent_gbps", m["memcpy_gbps"]) for m in memcpy]) if memcpy else None
    mgbps = concurrent if args.rate == "concurrent" else single
    summary = {"np": args.np, "cores": args.cores, "reps": args.reps, "systems": systems,
               "memcpy_gbps": single, "memcpy_runs": [m["memcpy_gbps"] for m in memcpy],
               "concurrent_gbps": concurrent,
               "concurrent_runs": [m.get("concurrent_gbps") for m in memcpy],
               "cma_gbps": med([m.get("cma_gbps", 0) for m in memcpy]) if memcpy else None,
               "bound_rate": args.rate, "bound": args.bound,
               "staged_gbps": med([m["staged_gbps"] for m in memcpy]) if memcpy else None,
               "collectives": {}}
    if memcpy:
        each = ", ".join("%.2f" % m["memcpy_gbps"] for m in memcpy)
        each_c = ", ".join("%.2f" % m.get("concurrent_gbps", 0) for m in memcpy)
        print(f"# memcpy_bound: single-thread memcpy {single:.2f} GB/s (median of {each}); "
              f"{min(args.np, args.cores)} threads at once {concurrent:.2f} GB/s each "
              f"(median of {each_c}); staged through a 256 KiB slot "
              f"{summary['staged_gbps']:.2f} GB/s; the kernel's copy (process_vm_readv, one "
              f"thread) {summary['cma_gbps']:.2f} GB/s; bounds use the {args.rate} rate")
    halves = ["oop", "ip"] if args.half == "both" else [args.half]
    for c in colls:
        summary["collectives"][c] = {}
        for s in systems:
            if args.save:
                with open(os.path.join(tmpdir, f"{c}.{s}.median.json"), "w") as f:
                    json.dump(median_json(runs[c][s]), f, indent=1)
        sizes = [r["size"] for r in runs[c]["mics"][0]["results"]]
        for h in halves:
            hk = HALVES[h]
            rows = []
            bound = (model.copy_bound_busbw(c, args.np, mgbps, in_place=(h == "ip"),
                                            cores=args.cores,
                                            single_copy=args.bound == "direct")
                     if mgbps else None)
            for i, size in enumerate(sizes):
                row = {"size": size}
                for s in systems:
                    row[s] = med([r["results"][i][hk]["busbw"] for r in runs[c][s]])
                    row[s + "_time_us"] = med([r["results"][i][hk]["time_us"] for r in runs[c][s]])
                for s in systems[1:]:
                    row["mics/" + s] = row["mics"] / row[s] if row[s] > 0 else float("inf")
                if bound:
                    row["mics/bound"] = row["mics"] / bound
                rows.append(row)
            summary["collectives"][c][hk] = {"bound_busbw": bound, "rows": rows}
            # the table
            title = f"{c}_perf, {args.np} ranks, {hk.replace('_', '-')} busbw (GB/s), " \
                    f"median of {args.reps}"
            if bound:
                title += f"; copy bound {bound:.2f} GB/s"
            print(f"\n# {title}")
            cols = ["size"] + systems + [f"mics/{s}" for s in systems[1:]] + \
                (["mics/bound"] if bound else [])
            print("  ".join(f"{x:>10}" for x in cols))
            for row in rows:
                cells = [f"{fmt_size(row['size']):>10}"]
                cells += [f"{row[s]:>10.3f}" for s in systems]
                cells += [f"{row['mics/' + s]:>10.2f}" for s in systems[1:]]
                if bound:
                    cells.append(f"{100 * row['mics/bound']:>9.0f}%")
                print("  ".join(cells))
            if len(rows) > 1:
                cells = [f"{'median':>10}"]
                cells += [f"{med([r[s] for r in rows]):>10.3f}" for s in systems]
                cells += [f"{med([r['mics/' + s] for r in rows]):>10.2f}" for s in systems[1:]]
                if bound:
                    cells.append(f"{100 * med([r['mics/bound'] for r in rows]):>9.0f}%")
                print("  ".join(cells))
            if rows and sizes[0] == sizes[-1]:  # one size: show times too (latency runs)
                print("# time (us): " + ", ".join(f"{s} {rows[0][s + '_time_us']:.2f}"
                                                  for s in systems))
    busy = f"; {args.busy_starts} runs started on a busy CPU" if args.idle_wait else ""
    print(f"\n# load avg {load_end:.2f} at the end{busy}" +
          (f"; runs kept in {tmpdir}" if args.save else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
