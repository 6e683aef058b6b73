#!/usr/bin/env python3
"""The mics cost model in Python, and the shared-memory copy bounds.

Part 1 re-implements src/coll/cost_model.cc line for line (Hockney alpha-beta
model; times in microseconds, bandwidths in GB/s = 1e3 bytes per us). Keep it
identical to the C++: perf/calibrate.py checks it against the predictions the
library itself logs (MICS_DEBUG=TRACE: "predicted ring X us, hier Y us").

    C++ (src/coll/cost_model.cc)          Python (here)
    LinkCost {alpha_us, gbytes_per_s}     Link(alpha_us, gbps)
    CostModel {shm{2,6}, net{40,1}}       Model(), DEFAULT_SHM, DEFAULT_NET
    parse_link / cost_model_from_env      parse_link / model_from_env
    ring_us                               ring_us
    ring_collective                       ring_collective
    hier_collective                       hier_collective
    predict_ring_us                       predict_ring_us
    predict_hier_us                       predict_hier_us

Shapes (as in cost_model.h): "allgather" and "reduce_scatter" take the bytes of
one rank's block (allgather input, reduce-scatter output); "allreduce" takes
the bytes of the whole vector.

Part 2: copy_bound_busbw(), the busbw a shared-memory ring of mics cannot
exceed on a machine whose single-thread memcpy runs at M GB/s (used by
compare.py and plot.py; derivation in docs/PERFORMANCE.md).

usage: perf/model.py [--shm a,b] [--net a,b] SHAPE NODES K BYTES
       prints the ring and hierarchical predictions (us).
"""
import argparse
import os
import sys
from collections import namedtuple

Link = namedtuple("Link", "alpha_us gbps")
DEFAULT_SHM = Link(2.0, 6.0)   # CostModel::shm
DEFAULT_NET = Link(40.0, 1.0)  # CostModel::net (per node: the NIC)
SHAPES = ("allgather", "reduce_scatter", "allreduce")


class Model(namedtuple("Model", "shm net")):
    """CostModel: one link per link type."""

    def __new__(cls, shm=DEFAULT_SHM, net=DEFAULT_NET):
        return super().__new__(cls, shm, net)

    def env(self):
        """The MICS_MODEL_* settings that give the library this model."""
        return {"MICS_MODEL_SHM": fmt_link(self.shm), "MICS_MODEL_NET": fmt_link(self.net)}


def fmt_link(link):
    return f"{link.alpha_us:.4g},{link.gbps:.4g}"  # as the MICS_MODEL_* variables take them


def parse_link(text, name="link"):
    """parse_link(): "alpha_us,GB/s" with alpha >= 0 and bandwidth > 0."""
    try:
        a, bw = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"{name}='{text}' must be 'alpha_us,GB/s'") from None
    if a < 0 or bw <= 0:
        raise ValueError(f"{name}='{text}' needs alpha >= 0 and bandwidth > 0")
    return Link(a, bw)


def model_from_env(env=None):
    """cost_model_from_env(): defaults, overridden by MICS_MODEL_SHM / MICS_MODEL_NET."""
    env = os.environ if env is None else env
    shm, net = DEFAULT_SHM, DEFAULT_NET
    if env.get("MICS_MODEL_SHM"):
        shm = parse_link(env["MICS_MODEL_SHM"], "MICS_MODEL_SHM")
    if env.get("MICS_MODEL_NET"):
        net = parse_link(env["MICS_MODEL_NET"], "MICS_MODEL_NET")
    return Model(shm, net)


def ring_us(link, steps, nbytes):
    """ring_us(): a pipelined ring of `steps` steps moving `nbytes` per step
    through its slowest link; every step pays the latency."""
    return steps * (link.alpha_us + nbytes / (link.gbps * 1e3))


def ring_collective(m, n, k, b):
    """ring_collective(): allgather / reduce-scatter with block b bytes on n nodes x k."""
    p = n * k
    if n == 1:
        return ring_us(m.shm, p - 1, b)
    # One ring link per node leaves it: it carries (p-1) blocks at the NIC's rate.
    return ring_us(m.net, p - 1, b)


def hier_collective(m, n, k, b):
    """hier_collective(): k rail rings share the node's NIC (k blocks per step
    through it), then the node ring of blocks n*b; the two terms add up."""
    inter = (n - 1) * (m.net.alpha_us + k * b / (m.net.gbps * 1e3))
    intra = ring_us(m.shm, k - 1, n * b)
    return inter + intra


def predict_ring_us(m, shape, nnodes, k, nbytes):
    """predict_ring_us()."""
    p = nnodes * k
    if shape in ("allgather", "reduce_scatter"):
        return ring_collective(m, nnodes, k, float(nbytes))
    if shape == "allreduce":  # reduce-scatter + allgather of blocks of bytes / p
        return 2 * ring_collective(m, nnodes, k, float(nbytes) / p)
    raise ValueError(f"unknown shape {shape}")


def predict_hier_us(m, shape, nnodes, k, nbytes):
    """predict_hier_us()."""
    if shape in ("allgather", "reduce_scatter"):
        return hier_collective(m, nnodes, k, float(nbytes))
    if shape == "allreduce":
        # node reduce-scatter + node allgather (blocks bytes/k), rail allreduce of bytes/k.
        span = float(nbytes) / k
        intra = 2 * ring_us(m.shm, k - 1, span)
        rail_block = span / nnodes
        inter = 2 * (nnodes - 1) * (m.net.alpha_us + k * rail_block / (m.net.gbps * 1e3))
        return intra + inter
    raise ValueError(f"unknown shape {shape}")


# ---------------------------------------------------------------- copy bounds
#
# On one node every byte mics moves is copied by a CPU core, twice: the sender
# copies a chunk into the receiver's mailbox slot, the receiver copies it out
# (ring allgather, broadcast chain), or reads it and its own input and writes
# the sum (ring reduce-scatter: in place the sum overwrites input lines it has
# just read, so the reduction costs about one copy). A rank receives (p-1)
# blocks of B bytes per allgather / reduce-scatter, so it copies 2(p-1)B bytes
# at M GB/s (perf/memcpy_bound: single thread, large buffers) and
#     busbw = (p-1)B / t <= M / 2.
# Allreduce = reduce-scatter + allgather of S/p blocks: 4(p-1)S/p copied bytes
# for busbw 2(p-1)/p * S / t: again M / 2. Out of place, allgather also copies
# its own block sendbuf -> recvbuf: (2p-1)B copied, busbw <= M(p-1)/(2p-1).
# With p ranks on c < p cores each rank gets c/p of a core. The bound ignores
# caches: blocks that fit in L2/L3 (a few MiB here) can beat it.

def copy_bound_busbw(coll, p, memcpy_gbps, in_place=False, cores=None, single_copy=False):
    """Highest busbw (GB/s) of mics' shared-memory ring for nccl-tests collective
    `coll` (all_gather, reduce_scatter, all_reduce, broadcast) on p ranks.
    single_copy: the direct-read path (one-host communicators, large blocks:
    allgather, broadcast and allreduce's allgather half copy once per byte)."""
    m = memcpy_gbps
    if p < 2:
        return float("inf")
    if single_copy and coll == "all_gather":
        bound = m if in_place else m * (p - 1) / p  # + the own block sendbuf -> recvbuf
    elif single_copy and coll == "broadcast":
        bound = m
    elif single_copy and coll == "all_reduce":
        bound = 2 * m / 3  # reduce-scatter 2 copies + allgather 1 copy per byte
    elif coll == "all_gather" and not in_place:
        bound = m * (p - 1) / (2 * p - 1)
    elif coll in ("all_gather", "reduce_scatter", "all_reduce", "broadcast"):
        bound = m / 2
    else:
        raise ValueError(f"unknown collective {coll}")
    if cores is not None and cores < p:
        bound *= cores / p
    return bound


def main():
    ap = argparse.ArgumentParser(description="mics cost model (src/coll/cost_model.cc) in Python")
    ap.add_argument("--shm", help="alpha_us,GB/s (default: MICS_MODEL_SHM or 2,6)")
    ap.add_argument("--net", help="alpha_us,GB/s per node (default: MICS_MODEL_NET or 40,1)")
    ap.add_argument("shape", choices=SHAPES)
    ap.add_argument("nodes", type=int)
    ap.add_argument("k", type=int, help="ranks per node")
    ap.add_argument("bytes", type=int, help="per-rank block (allgather/reduce_scatter) or vector")
    a = ap.parse_args()
    m = model_from_env()
    if a.shm:
        m = m._replace(shm=parse_link(a.shm, "--shm"))
    if a.net:
        m = m._replace(net=parse_link(a.net, "--net"))
    ring = predict_ring_us(m, a.shape, a.nodes, a.k, a.bytes)
    hier = predict_hier_us(m, a.shape, a.nodes, a.k, a.bytes)
    print(f"predicted ring {ring:.1f} us, hier {hier:.1f} us "
          f"(shm {fmt_link(m.shm)}, net {fmt_link(m.net)})")


if __name__ == "__main__":
    sys.exit(main())
