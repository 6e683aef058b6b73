#!/usr/bin/env python3
"""Plot busbw against message size from perf JSON results (-J files).

One line per JSON file (a perf binary's -J output, or a median file written by
perf/compare.py --save), log-scale x, and the shared-memory copy bound of the
collective (perf/model.py copy_bound_busbw) as a dashed line when the memcpy
rate is given. Needs matplotlib (pip install matplotlib); nothing else in
perf/ does.

examples:
  perf/plot.py -o docs/img/allgather_2r.png --memcpy 10.9 \\
      /tmp/cmp2/all_gather.mics.median.json /tmp/cmp2/all_gather.mpi.median.json
  perf/plot.py -o ag.png --half in_place --label mics=mics --memcpy-json mc.json a.json b.json
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model  # noqa: E402

COLL_OF = {"all_gather_perf": "all_gather", "reduce_scatter_perf": "reduce_scatter",
           "all_reduce_perf": "all_reduce", "broadcast_perf": "broadcast"}


def label_of(path, data):
    """A run's label: the system (mics / mpi / gloo, from the command line) and the ranks."""
    cmd = data.get("command_line", "")
    prog = os.path.basename(cmd.split()[0]) if cmd else ""
    system = "mics"
    for b in ("mpi", "gloo"):
        if prog.startswith(b + "_"):
            system = {"mpi": "OpenMPI", "gloo": "Gloo"}[b]
    if data.get("mics_version", 1) == 0 and system == "mics":
        system = "baseline"
    extra = f", {data['nnodes']} nodes" if data.get("nnodes", 1) > 1 else ""
    return f"{system} ({data.get('nranks', '?')} ranks{extra})"


def fmt_bytes(x, _pos=None):
    for unit, s in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if x >= s:
            return f"{x / s:g}{unit}"
    return f"{x:g}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="\n".join(__doc__.split("\n\n")[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+", help="perf -J results (one line each)")
    ap.add_argument("-o", "--output", required=True, help="PNG file to write")
    ap.add_argument("--half", choices=("out_of_place", "in_place"), default="out_of_place")
    ap.add_argument("--memcpy", type=float, help="single-thread memcpy GB/s (draws the bound)")
    ap.add_argument("--memcpy-json", help="perf/memcpy_bound -J output (draws the bound)")
    ap.add_argument("--bound", choices=("direct", "ring"), default="direct",
                    help="copy bound of the single-copy path (default) or the two-copy rings")
    ap.add_argument("--rate", choices=("concurrent", "single"), default="concurrent",
                    help="with --memcpy-json: memcpy rate of all cores copying at once "
                         "(default, when recorded) or of one thread alone")
    ap.add_argument("--cores", type=int, default=os.cpu_count(), help="cores for the bound")
    ap.add_argument("--label", action="append", default=[], metavar="FILE=TEXT",
                    help="legend text of a file (repeatable; default: system and ranks)")
    ap.add_argument("--title", help="plot title (default: collective and half)")
    a = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        sys.exit("plot.py needs matplotlib: pip install matplotlib")
    labels = dict(x.split("=", 1) for x in a.label)
    memcpy = a.memcpy
    if a.memcpy_json:
        with open(a.memcpy_json) as f:
            probe = json.load(f)
        memcpy = probe["memcpy_gbps"]
        if a.rate == "concurrent" and probe.get("concurrent_gbps"):
            memcpy = probe["concurrent_gbps"]

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    colls, bounds, ymax = set(), {}, 0.0
    for path in a.json:
        with open(path) as f:
            data = json.load(f)
        coll = COLL_OF.get(data["collective"], data["collective"])
        colls.add(coll)
        xs = [r["size"] for r in data["results"]]
        ys = [r[a.half]["busbw"] for r in data["results"]]
        label = labels.get(path, labels.get(os.path.basename(path), label_of(path, data)))
        ax.plot(xs, ys, marker="o", markersize=3.5, label=label)
        ymax = max([ymax] + ys)
        if memcpy and data.get("nnodes", 1) == 1:
            p = data["nranks"] // max(1, data.get("ngroups", 1))
            bounds[(coll, p)] = model.copy_bound_busbw(coll, p, memcpy,
                                                       in_place=a.half == "in_place",
                                                       cores=a.cores,
                                                       single_copy=a.bound == "direct")
        xmin = min(xs)
    for (coll, p), b in sorted(bounds.items()):
        ax.axhline(b, linestyle="--", linewidth=1, color="gray")
        ax.annotate(f"copy bound, {p} ranks ({b:.2f} GB/s)", (xmin, b), textcoords="offset points",
                    xytext=(2, 3), fontsize=8, color="gray")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(fmt_bytes))
    ax.set_xlabel("message size (bytes, nccl-tests 'size')")
    ax.set_ylabel("busbw (GB/s)")
    ax.set_ylim(0, 1.12 * max([ymax] + list(bounds.values())))
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(a.title or f"{', '.join(sorted(colls))} — {a.half.replace('_', '-')} busbw")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.output)
    print(f"wrote {a.output}")


if __name__ == "__main__":
    main()
