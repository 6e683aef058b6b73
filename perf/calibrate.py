#!/usr/bin/env python3
"""Calibrate the mics cost model (alpha, beta per link type) and validate it.

Steps (--steps, default all four, in this order):
  shm       one node, --shm-ranks ranks (default 2): ring allgather and
            reduce-scatter over sizes; fit T/(p-1) = alpha + B/beta
            (B = bytes of one rank's block) by least squares on the relative
            error, both collectives together.
  net       the emulated cluster (tests/cluster/netns_cluster.sh, root),
            --net-nodes nodes of ONE rank each (default 3 and 4): the ring
            crosses a node link at every step, so only the network link is
            timed. Links shaped to --rate; the same fit over --net-min..
            --net-max. Also prints alpha/beta of small messages on unshaped
            links (the transport's own latency; --net-alpha unshaped fixes
            alpha to it and fits beta alone). 2-node
            rings are measured too but left out of the fit (see
            docs/PERFORMANCE.md: a 2-rank ring over this emulated link is
            slower than the link).
  validate  2 x 4 and 4 x 2 on the cluster, ring and hier, allgather and
            reduce-scatter, sizes --val-min..--val-max: measured out-of-place
            time against perf/model.py's prediction with the fitted values;
            prints predicted / measured / error and whether |error| <= 20 %.
  trace     the library's own predictions (MICS_DEBUG=TRACE prints "predicted
            ring X us, hier Y us" for every call) with the fitted values, on
            nodes emulated over loopback (mics-run --nodes), against
            perf/model.py: they must agree to print precision.

Prints the MICS_MODEL_SHM=... / MICS_MODEL_NET=... lines to use. Repetitions
are interleaved (every configuration once per rep) and medians are used.

examples:
  perf/calibrate.py --build build --rate 400mbit --reps 3
  perf/calibrate.py --steps validate,trace --shm 3.1,4.9 --net 180,0.0446
"""
import argparse
import json
import os
import re
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
from compare import wait_idle  # noqa: E402

CLUSTER = os.path.join(ROOT, "tests", "cluster", "netns_cluster.sh")
SHAPE_OF = {"all_gather": "allgather", "reduce_scatter": "reduce_scatter",
            "all_reduce": "allreduce"}
TYPE_SIZE = {"float": 4, "double": 8, "half": 2, "bfloat16": 2, "int32": 4, "int8": 1,
             "uint8": 1}


def log(msg):
    print(msg, flush=True)


class Runner:
    def __init__(self, args):
        self.a = args
        self.tmp = tempfile.mkdtemp(prefix="mics-calibrate-")
        self.count = 0

    def perf(self, coll, sizes, nodes=1, k=1, algo=None, cluster=False, env=None, iters=None):
        """Runs <coll>_perf once; returns its JSON."""
        a = self.a
        self.count += 1
        out = os.path.join(self.tmp, f"run{self.count}.json")
        prog = [os.path.join(a.build, "perf", f"{coll}_perf"), "-b", sizes[0], "-e", sizes[1],
                "-f", str(sizes[2]), "-n", str(iters or a.iters), "-w", str(a.warmup), "-c", "0",
                "-J", out]
        if algo:
            prog += ["-A", algo]
        if cluster:
            cmd = [CLUSTER, "run", str(nodes), str(k), "--prefix", a.prefix,
                   "--launcher", os.path.join(a.build, "mics-run"), "--"] + prog
        else:
            cmd = [os.path.join(a.build, "mics-run"), "-n", str(nodes * k), "--no-prefix"]
            if nodes > 1:
                cmd += ["--nodes", str(nodes)]
            cmd += ["--"] + prog
        e = dict(os.environ)
        e.update(env or {})
        wait_idle(a)
        p = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=a.timeout)
        if p.returncode == 77:
            sys.exit(f"calibrate: the emulated cluster is not available here:\n{p.stdout}")
        if p.returncode != 0 or not os.path.exists(out):
            sys.exit(f"calibrate: {' '.join(cmd)} failed ({p.returncode}):\n"
                     f"{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
        with open(out) as f:
            data = json.load(f)
        data["_stderr"] = p.stderr
        data["_stdout"] = p.stdout
        return data

    def cluster(self, verb, nodes=None, rate="default"):
        rate = self.a.rate if rate == "default" else rate
        cmd = [CLUSTER, verb] + ([str(nodes)] if verb == "up" else []) + \
            (["--rate", rate] if verb == "up" and rate else []) + ["--prefix", self.a.prefix]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode == 77:
            sys.exit(f"calibrate: the emulated cluster is not available here: {p.stdout.strip()}")
        if p.returncode != 0:
            sys.exit(f"calibrate: {' '.join(cmd)} failed:\n{p.stdout}{p.stderr}")


def rows_of(data, half):
    """(per-rank block bytes, time us) per row of a perf JSON."""
    elt = TYPE_SIZE[data["results"][0]["type"]]
    return [(r["count"] * elt, r[half]["time_us"]) for r in data["results"]]


def median_rows(runs, half):
    per = [rows_of(d, half) for d in runs]
    return [(per[0][i][0], statistics.median(p[i][1] for p in per)) for i in range(len(per[0]))]


def fit(points, alpha=None):
    """Least squares of y = alpha + x / beta on the relative error (weights 1/y).
    points: (x bytes, y us per step). With alpha given, fits beta alone.
    Returns Link(alpha_us, GB/s) and the rms relative error."""
    if alpha is not None:
        w = [1.0 / (y * y) for _, y in points]
        s = sum(wi * x * (y - alpha) for wi, (x, y) in zip(w, points)) / \
            sum(wi * x * x for wi, (x, _) in zip(w, points))
        rms = (sum(((alpha + s * x - y) / y) ** 2 for x, y in points) / len(points)) ** 0.5
        return model.Link(alpha, 1.0 / (s * 1e3)), rms
    # minimise sum(((alpha + s*x) - y) / y)^2, s = 1/beta in us per byte: 2x2 normal equations
    saa = sab = sbb = sya = syb = 0.0
    for x, y in points:
        w = 1.0 / (y * y)
        saa += w
        sab += w * x
        sbb += w * x * x
        sya += w * y
        syb += w * x * y
    det = saa * sbb - sab * sab
    alpha = (sya * sbb - syb * sab) / det
    s = (saa * syb - sab * sya) / det
    if alpha < 0:  # the model needs alpha >= 0: refit the slope through the origin
        alpha, s = 0.0, syb / sbb
    link = model.Link(alpha, 1.0 / (s * 1e3))
    rms = (sum(((alpha + s * x - y) / y) ** 2 for x, y in points) / len(points)) ** 0.5
    return link, rms


def fmt_bytes(n):
    for unit, s in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= s:
            return f"{n / s:g}{unit}"
    return str(n)


def print_fit(name, runs_by_key, steps_of, half, alpha=None):
    """Fits each key alone and all together; returns the joint Link."""
    allpts = []
    for key, runs in runs_by_key.items():
        pts = [(b, t / steps_of(key)) for b, t in median_rows(runs, half)]
        link, rms = fit(pts, alpha)
        log(f"#   {name} {key}: alpha {link.alpha_us:.1f} us, beta {link.gbps:.4g} GB/s "
            f"(rms error {100 * rms:.1f} %)")
        log("#     " + ", ".join(f"{fmt_bytes(b)}: {t:.0f} us" for b, t in median_rows(runs, half)))
        allpts += pts
    link, rms = fit(allpts, alpha)
    log(f"# {name} joint fit{' (alpha fixed)' if alpha is not None else ''}: alpha {link.alpha_us:.2f} us, beta {link.gbps:.4g} GB/s "
        f"(rms relative error {100 * rms:.1f} % over {len(allpts)} points)")
    return link


def step_shm(r, a):
    p = a.shm_ranks
    log(f"# shm: {p} ranks on one node, sizes {a.shm_min}..{a.shm_max} x4, {a.reps} reps")
    runs = {c: [] for c in ("all_gather", "reduce_scatter")}
    for _ in range(a.reps):
        for c in runs:
            runs[c].append(r.perf(c, (a.shm_min, a.shm_max, 4), nodes=1, k=p))
    return print_fit("shm", {f"{c} p={p}": v for c, v in runs.items()}, lambda key: p - 1,
                     a.half)


def step_net(r, a):
    """Fits alpha and beta on runs shaped to --rate (--net-alpha shaped, the
    default), or beta alone with alpha from the unshaped small-message runs
    (--net-alpha unshaped). The unshaped fit is printed either way: it is the
    transport's own per-message latency, which the shaped link hides."""
    counts = [int(x) for x in a.net_nodes.split(",")]
    info = [int(x) for x in a.net_info_nodes.split(",") if x]
    log(f"# net: {'/'.join(map(str, counts))} nodes x 1 rank (ring; k = 1), {a.reps} reps: "
        f"alpha unshaped over {a.lat_min}..{a.lat_max}, beta at --rate {a.rate} over "
        f"{a.net_min}..{a.net_max}")
    shaped, unshaped = {}, {}
    for n in counts + info:
        r.cluster("up", n)
        try:
            for _ in range(a.reps):
                for c in ("all_gather", "reduce_scatter"):
                    shaped.setdefault((c, n), []).append(
                        r.perf(c, (a.net_min, a.net_max, 4), nodes=n, k=1, algo="ring",
                               cluster=True))
            if n in counts:
                r.cluster("up", n, rate=None)
                for _ in range(a.reps):
                    for c in ("all_gather", "reduce_scatter"):
                        unshaped.setdefault((c, n), []).append(
                            r.perf(c, (a.lat_min, a.lat_max, 4), nodes=n, k=1, algo="ring",
                                   cluster=True, iters=a.lat_iters))
        finally:
            r.cluster("down")
    steps = lambda key: int(key.split("n=")[1]) - 1  # noqa: E731
    lat = print_fit("net unshaped", {f"{c} n={n}": v for (c, n), v in unshaped.items()}, steps,
                    a.half)
    link = print_fit("net", {f"{c} n={n}": v for (c, n), v in shaped.items() if n in counts},
                     steps, a.half, alpha=lat.alpha_us if a.net_alpha == "unshaped" else None)
    for (c, n), v in shaped.items():
        if n in info:
            b, t = median_rows(v, a.half)[-1]
            log(f"#   (not fitted) {c} n={n}: {fmt_bytes(b)} block in {t:.0f} us = "
                f"{b / t / 1e3:.4g} GB/s per step")
    return link


def step_validate(r, a, m):
    shapes = [tuple(int(x) for x in s.split("x")) for s in a.val_shapes.split(",")]
    log(f"# validate: shapes {a.val_shapes}, --rate {a.rate}, sizes {a.val_min}..{a.val_max} x2, "
        f"{a.reps} reps, model shm {model.fmt_link(m.shm)} net {model.fmt_link(m.net)}")
    table = []
    for n, k in shapes:
        r.cluster("up", n)
        try:
            runs = {}
            for _ in range(a.reps):
                for c in ("all_gather", "reduce_scatter"):
                    for algo in ("ring", "hier"):
                        runs.setdefault((c, algo), []).append(
                            r.perf(c, (a.val_min, a.val_max, 2), nodes=n, k=k, algo=algo,
                                   cluster=True))
        finally:
            r.cluster("down")
        for (c, algo), v in runs.items():
            for b, t in median_rows(v, a.half):
                pred_fn = model.predict_ring_us if algo == "ring" else model.predict_hier_us
                pred = pred_fn(m, SHAPE_OF[c], n, k, b)
                table.append({"shape": f"{n}x{k}", "coll": c, "algo": algo, "size": b * n * k,
                              "block": b, "measured_us": t, "predicted_us": pred,
                              "error": pred / t - 1})
    log(f"\n# predicted vs measured ({a.half.replace('_', '-')} time, median of {a.reps})")
    log(f"{'shape':>6} {'collective':>15} {'algo':>5} {'size':>6} {'predicted ms':>13} "
        f"{'measured ms':>12} {'error':>7}")
    for row in table:
        flag = "" if abs(row["error"]) <= 0.2 else "  > 20 %"
        log(f"{row['shape']:>6} {row['coll']:>15} {row['algo']:>5} {fmt_bytes(row['size']):>6} "
            f"{row['predicted_us'] / 1e3:>13.1f} {row['measured_us'] / 1e3:>12.1f} "
            f"{100 * row['error']:>+6.1f}%{flag}")
    within = sum(abs(x["error"]) <= 0.2 for x in table)
    log(f"# {within} of {len(table)} rows within 20 %; median |error| "
        f"{100 * statistics.median(abs(x['error']) for x in table):.1f} %")
    return table


PRED_RE = re.compile(r"TRACE (\w+) (\d+) bytes on (\d+) nodes x (\d+): \w+ "
                     r"\(predicted ring ([\d.]+) us, hier ([\d.]+) us")


def step_trace(r, a, m):
    env = dict(m.env(), MICS_DEBUG="TRACE")
    log(f"# trace: the library's predictions (MICS_DEBUG=TRACE, {m.env()}) vs perf/model.py, "
        f"nodes emulated on loopback")
    seen, worst = 0, 0.0
    for n, k in ((2, 4), (4, 2), (2, 2)):
        for c in ("all_gather", "reduce_scatter", "all_reduce"):
            d = r.perf(c, ("1K", "64M", 8), nodes=n, k=k, env=env, iters=1)
            for line in d["_stdout"].splitlines() + d["_stderr"].splitlines():
                mm = PRED_RE.search(line)
                if not mm:
                    continue
                shape, nbytes, nn, kk = mm.group(1), int(mm.group(2)), int(mm.group(3)), \
                    int(mm.group(4))
                ring, hier = float(mm.group(5)), float(mm.group(6))
                pr = model.predict_ring_us(m, shape, nn, kk, nbytes)
                ph = model.predict_hier_us(m, shape, nn, kk, nbytes)
                # the log prints %.1f: allow its rounding
                err = max(abs(pr - ring), abs(ph - hier))
                worst = max(worst, err)
                seen += 1
                if err > 0.051:
                    log(f"#   MISMATCH {shape} {nbytes} B on {nn}x{kk}: library ring {ring} "
                        f"hier {hier}, model.py ring {pr:.2f} hier {ph:.2f}")
    ok = seen > 0 and worst <= 0.051
    log(f"# trace: {seen} logged predictions compared, largest difference {worst:.3f} us: "
        f"{'model.py matches the library' if ok else 'MISMATCH'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--steps", default="shm,net,validate,trace")
    ap.add_argument("--rate", default="400mbit", help="node link rate (tc syntax)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("-n", "--iters", type=int, default=3, help="perf -n (timed iterations)")
    ap.add_argument("-w", "--warmup", type=int, default=1)
    ap.add_argument("--half", choices=("out_of_place", "in_place"), default="out_of_place")
    ap.add_argument("--shm", help="alpha_us,GB/s: skip the shm fit and use this")
    ap.add_argument("--net", help="alpha_us,GB/s: skip the net fit and use this")
    ap.add_argument("--shm-ranks", type=int, default=2)
    ap.add_argument("--shm-min", default="64K")
    ap.add_argument("--shm-max", default="64M")
    ap.add_argument("--net-nodes", default="3,4", help="node counts of the fit (1 rank each)")
    ap.add_argument("--net-info-nodes", default="2", help="node counts measured, not fitted")
    ap.add_argument("--net-alpha", choices=("shaped", "unshaped"), default="shaped",
                    help="net alpha from the shaped runs' fit (default) or the unshaped runs")
    ap.add_argument("--lat-min", default="1K", help="unshaped (alpha) runs: smallest size")
    ap.add_argument("--lat-max", default="64K", help="unshaped (alpha) runs: largest size")
    ap.add_argument("--lat-iters", type=int, default=50, help="unshaped runs: perf -n")
    ap.add_argument("--net-min", default="1M",
                    help="shaped runs: smallest size (default 1M: below it tbf's burst, not "
                         "the rate, times the transfer)")
    ap.add_argument("--net-max", default="64M")
    ap.add_argument("--val-shapes", default="2x4,4x2")
    ap.add_argument("--val-min", default="1M")
    ap.add_argument("--val-max", default="64M")
    ap.add_argument("--prefix", default="mics-cal", help="netns_cluster.sh --prefix")
    ap.add_argument("--timeout", type=float, default=1200)
    ap.add_argument("--idle-wait", type=float, default=0, metavar="S",
                    help="before each run wait up to S seconds for the CPU to be < 25%% busy")
    ap.add_argument("--json", help="write fitted values and the validation table here")
    a = ap.parse_args()
    a.busy_starts = 0
    steps = a.steps.split(",")
    r = Runner(a)
    try:
        return run_steps(a, steps, r)
    finally:
        shutil.rmtree(r.tmp, ignore_errors=True)


def run_steps(a, steps, r):
    m = model.model_from_env()
    t0 = time.monotonic()
    if a.shm:
        m = m._replace(shm=model.parse_link(a.shm, "--shm"))
    elif "shm" in steps:
        m = m._replace(shm=step_shm(r, a))
    if a.net:
        m = m._replace(net=model.parse_link(a.net, "--net"))
    elif "net" in steps:
        m = m._replace(net=step_net(r, a))
    # What the library will see: the values as printed (rounded), so that the
    # validation and the trace check use exactly them.
    m = model.model_from_env(m.env())
    log("")
    for key, value in m.env().items():
        log(f"{key}={value}")
    out = {"model": m.env(), "rate": a.rate}
    if "validate" in steps:
        out["validation"] = step_validate(r, a, m)
    if "trace" in steps:
        out["trace_matches"] = step_trace(r, a, m)
    busy = f"; {a.busy_starts} runs started on a busy CPU" if a.idle_wait else ""
    log(f"# calibrate: {time.monotonic() - t0:.0f} s, load avg {os.getloadavg()[0]:.2f} at the "
        f"end{busy}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
