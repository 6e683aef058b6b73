#!/usr/bin/env python3
"""A/B of the hierarchical and flat-ring algorithms on the emulated cluster.

Brings up an n-node network-namespace cluster (tests/cluster/netns_cluster.sh)
with every node link shaped to --rate, then runs the chosen perf binaries
alternately with -A ring and -A hier (A B A B ...) --reps times, and prints
per collective the median out-of-place time of each, their ratio, the ratio
the byte count predicts ((n*k-1)/(k*(n-1))), and the fraction of it reached.

usage: perf/hier_vs_ring.py [--build build] [--nodes 2] [--ranks 4] [--rate 400mbit]
                            [--size 32M] [--reps 3] [--colls all_gather,reduce_scatter]
Needs root (ip netns); prints SKIP and exits 77 otherwise.
"""
import argparse
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER = os.path.join(ROOT, "tests", "cluster", "netns_cluster.sh")


def run_once(args, coll, algo):
    perf = os.path.join(args.build, "perf", f"{coll}_perf")
    cmd = [CLUSTER, "run", str(args.nodes), str(args.ranks), "--rate", args.rate,
           "--prefix", "mics-ab", "--", perf, "-b", args.size, "-e", args.size,
           "-w", "1", "-n", "3", "-c", "0", "-A", algo]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode == 77:
        print(out.stdout + out.stderr, end="")
        sys.exit(77)
    for line in out.stdout.splitlines():
        fields = line.split()
        # "[0]  size count type redop root time algbw busbw #wrong ..."
        if len(fields) >= 8 and fields[0] == "[0]" and fields[1].isdigit():
            return float(fields[6])
    sys.exit(f"no result row from {' '.join(cmd)}:\n{out.stdout}\n{out.stderr}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--ranks", type=int, default=4)
    p.add_argument("--rate", default="400mbit")
    p.add_argument("--size", default="32M")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--colls", default="all_gather,reduce_scatter")
    args = p.parse_args()
    n, k = args.nodes, args.ranks
    predicted = (n * k - 1) / (k * (n - 1))
    up = subprocess.run([CLUSTER, "up", str(n), "--rate", args.rate, "--prefix", "mics-ab"],
                        capture_output=True, text=True)
    if up.returncode != 0:
        print(up.stdout + up.stderr, end="")
        sys.exit(up.returncode)
    try:
        print(f"# {n} nodes x {k} ranks, node links shaped to {args.rate}, size {args.size}, "
              f"{args.reps} interleaved repetitions (ring, hier, ring, hier, ...)")
        print(f"# {'collective':<16} {'ring us':>10} {'hier us':>10} {'speed-up':>9} "
              f"{'predicted':>9} {'reached':>8}")
        for coll in args.colls.split(","):
            times = {"ring": [], "hier": []}
            for _ in range(args.reps):
                for algo in ("ring", "hier"):
                    times[algo].append(run_once(args, coll, algo))
            ring, hier = statistics.median(times["ring"]), statistics.median(times["hier"])
            print(f"  {coll:<16} {ring:>10.0f} {hier:>10.0f} {ring / hier:>8.2f}x "
                  f"{predicted:>8.2f}x {100 * ring / hier / predicted:>7.0f}%")
            sys.stdout.flush()
    finally:
        subprocess.run([CLUSTER, "down", "--prefix", "mics-ab"], capture_output=True)


if __name__ == "__main__":
    main()
