#!/usr/bin/env python3
"""Multi-process test of the NumPy API (mics.core): every collective, dtype and op on random data,
checked element by element against the exact result computed here from every rank's inputs
(each rank regenerates the others' data from the seed). Values are small integers where a sum or
product must be exact in floating point, so every comparison is exact (no tolerance).

  test_numpy_api.py -n 4 --nodes 2 [--seed S]     launches the ranks with $MICS_RUN
  (each rank runs this file with --worker)

Environment: MICS_RUN (mics-run), MICS_LIBRARY or MICS_BUILD_DIR (libmics to test).
"""

import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "bindings", "python"))
import mics  # noqa: E402
from mics import MicsArgumentError, MicsError, ReduceOp, Result  # noqa: E402
from numpy_reference import (expected_reduce, inputs, is_float, trunc_div,  # noqa: E402
                             wire_dtype)

COUNTS = (0, 1, 7, 1001)


class Checker:
    def __init__(self, rank):
        self.rank, self.passed, self.failed = rank, 0, 0

    def equal(self, what, got, want):
        got, want = np.asarray(got).reshape(-1), np.asarray(want).reshape(-1)
        if got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want):
            self.passed += 1
            return
        self.failed += 1
        bad = np.flatnonzero(got != want) if got.shape == want.shape else []
        where = ("first mismatch at %d: got %r want %r" % (bad[0], got[bad[0]], want[bad[0]])
                 if len(bad) else "got %s %s, want %s %s" % (got.dtype, got.shape, want.dtype,
                                                               want.shape))
        print("rank %d FAIL %s: %s" % (self.rank, what, where), flush=True)

    def raises(self, what, error, result, fn):
        try:
            fn()
        except error as e:
            if e.result == result and e.name == "MICS_" + result.name and str(e):
                self.passed += 1
                return
            print("rank %d FAIL %s: raised %r" % (self.rank, what, e), flush=True)
        else:
            print("rank %d FAIL %s: no exception" % (self.rank, what), flush=True)
        self.failed += 1


def check_copies(c, comm, seed, dtype):
    """allgather, hier_allgather, broadcast: exact copies, in and out of place."""
    r, p = comm.rank, comm.size
    for n in COUNTS:
        data = [inputs(seed, "copy", dtype, n, q, "copy") for q in range(p)]
        want = np.concatenate(data)
        for name in ("allgather", "hier_allgather"):
            fn = getattr(comm, name)
            c.equal("%s %s n=%d" % (name, dtype, n), fn(data[r]), want)
            out = np.zeros((p, n), dtype)  # 2-D output: counts come from .size
            fn(data[r], out)
            c.equal("%s %s n=%d 2-D out" % (name, dtype, n), out, want)
            out = np.zeros(p * n, dtype)
            out[r * n:(r + 1) * n] = data[r]
            fn(out[r * n:(r + 1) * n], out)  # in place: send is this rank's slot of out
            c.equal("%s %s n=%d in place" % (name, dtype, n), out, want)
        for root in range(p):
            buf = data[r].copy() if r == root else np.zeros(n, dtype)
            comm.broadcast(buf, root)
            c.equal("broadcast %s n=%d root=%d" % (dtype, n, root), buf, data[root])
            out = np.zeros(n, dtype)
            comm.broadcast(data[r], root, out)
            c.equal("broadcast %s n=%d root=%d out of place" % (dtype, n, root), out, data[root])


def check_reductions(c, comm, seed, dtype):
    r, p = comm.rank, comm.size
    for op in ReduceOp:
        for n in COUNTS:
            tag = "%s %s n=%d" % (op.name, dtype, n)
            data = [inputs(seed, "ar", dtype, n, q, op) for q in range(p)]
            want = expected_reduce(data, op, dtype)
            c.equal("allreduce " + tag, comm.allreduce(data[r], op=op), want)
            buf = data[r].copy()
            comm.allreduce(buf, buf, op=op.name.lower())  # in place, op by name
            c.equal("allreduce in place " + tag, buf, want)

            data = [inputs(seed, "rs", dtype, n * p, q, op) for q in range(p)]
            want = expected_reduce(data, op, dtype)[r * n:(r + 1) * n]
            c.equal("reduce_scatter " + tag, comm.reduce_scatter(data[r], op=op), want)
            buf = data[r].copy()
            comm.reduce_scatter(buf, buf[r * n:(r + 1) * n], op=op)  # in place
            c.equal("reduce_scatter in place " + tag, buf[r * n:(r + 1) * n], want)


def check_grad_sync(c, world, part, repl, seed, dtype, micro_steps=3):
    """Two-hop sync: after each non-boundary micro-step the shard holds the partition-group sum
    only; at the boundary it holds the sum (or average) over every rank and micro-step."""
    p, g = part.size, repl.size
    r = world.rank
    part_ranks = [(r // p) * p + i for i in range(p)]  # my partition group, in world ranks
    for op in (ReduceOp.SUM, ReduceOp.AVG):
        n = 5
        accum = np.zeros(n, dtype)
        total = np.zeros(n * p, wire_dtype(dtype))
        for m in range(micro_steps):
            grads = [inputs(seed, "gs%d" % m, dtype, n * p, q, ReduceOp.SUM)
                     for q in range(world.size)]
            boundary = m == micro_steps - 1
            part.grad_sync(grads[r], accum, boundary, repl, op=op)
            if not boundary:
                partial = sum(grads[q].astype(wire_dtype(dtype)) for q in part_ranks)
                total += partial
                c.equal("grad_sync %s %s micro-step %d" % (op.name, dtype, m), accum,
                        total[part.rank * n:(part.rank + 1) * n].astype(dtype))
        every = sum(grads_all.astype(wire_dtype(dtype)) for grads_all in
                    (inputs(seed, "gs%d" % m, dtype, n * p, q, ReduceOp.SUM)
                     for m in range(micro_steps) for q in range(world.size)))
        want = every[part.rank * n:(part.rank + 1) * n]
        if op == ReduceOp.AVG:
            want = want / want.dtype.type(p * g) if is_float(dtype) else trunc_div(want, p * g)
        c.equal("grad_sync %s %s boundary" % (op.name, dtype), accum, want.astype(dtype))


def check_groups(c, world, nodes):
    r, size = world.rank, world.size
    topo = world.topology()
    per_node = size // nodes
    c.equal("topology", np.array(topo), np.array([r // per_node, nodes, r % per_node, per_node]))
    ranks = np.array([r], np.int32)
    # split: two colors by parity, reverse order by key; the last rank joins none
    color = None if r == size - 1 and size > 2 else r % 2
    sub = world.split(color, key=-r)
    if color is None:
        c.equal("split NOCOLOR gives None", np.array([sub is None]), np.array([True]))
    else:
        members = sorted((q for q in range(size) if q % 2 == color and
                          not (q == size - 1 and size > 2)), reverse=True)
        c.equal("split rank/size", np.array([sub.rank, sub.size]),
                np.array([members.index(r), len(members)]))
        c.equal("split members", sub.allgather(ranks), np.array(members, np.int32))
        sub.destroy()
    # MiCS groups
    for p in (q for q in range(1, size + 1) if size % q == 0):
        part, repl = world.partition_groups(p)
        c.equal("partition p=%d" % p, part.allgather(ranks),
                np.arange((r // p) * p, (r // p + 1) * p, dtype=np.int32))
        c.equal("replication p=%d" % p, repl.allgather(ranks),
                np.arange(r % p, size, p, dtype=np.int32))
        part.destroy()
        repl.destroy()


def check_unique_id(c, world):
    uid = np.frombuffer(mics.get_unique_id(), np.uint8).copy() if world.rank == 0 else \
        np.zeros(128, np.uint8)
    world.broadcast(uid, 0)
    with mics.Comm.init_rank(world.size, uid.tobytes(), world.rank, timeout_ms=60000) as comm:
        c.equal("init_rank rank/size", np.array([comm.rank, comm.size]),
                np.array([world.rank, world.size]))
        c.equal("init_rank allreduce", comm.allreduce(np.ones(3, np.int64)),
                np.full(3, world.size, np.int64))


def check_errors(c, comm):
    a = np.arange(8, dtype=np.float32)
    E, A = MicsError, MicsArgumentError
    c.raises("non-contiguous", A, Result.INVALID_ARGUMENT, lambda: comm.allreduce(a[::2]))
    c.raises("unsupported dtype", A, Result.INVALID_ARGUMENT,
             lambda: comm.allreduce(a.astype(np.complex64)))
    c.raises("not an array", A, Result.INVALID_ARGUMENT, lambda: comm.allreduce([1.0, 2.0]))
    c.raises("dtype mismatch", A, Result.INVALID_ARGUMENT,
             lambda: comm.allreduce(a, np.zeros(8, np.float64)))
    c.raises("size mismatch", A, Result.INVALID_ARGUMENT,
             lambda: comm.allgather(a, np.zeros(a.size * comm.size + 1, a.dtype)))
    c.raises("not divisible", A, Result.INVALID_ARGUMENT,
             lambda: comm.reduce_scatter(np.zeros(comm.size + 1, a.dtype)) if comm.size > 1
             else comm.grad_sync(a, np.zeros(3, a.dtype), True))
    ro = a.copy()
    ro.flags.writeable = False
    c.raises("read-only out", A, Result.INVALID_ARGUMENT, lambda: comm.allreduce(a, ro))
    c.raises("bad op", A, Result.INVALID_ARGUMENT, lambda: comm.allreduce(a, op="mean"))
    c.raises("bad root (library check)", E, Result.INVALID_ARGUMENT,
             lambda: comm.broadcast(a, root=comm.size))
    c.raises("overlap (library check)", E, Result.INVALID_ARGUMENT,
             lambda: comm.allreduce(a[:4], a[1:5]))
    c.equal("usable after errors", comm.allreduce(np.ones(2, np.int32)),
            np.full(2, comm.size, np.int32))
    dup = comm.split(0)
    dup.abort()
    c.raises("after abort", E, Result.INVALID_USAGE, dup.barrier)
    c.equal("async_error after abort", np.array([int(dup.async_error())]),
            np.array([int(Result.INVALID_USAGE)]))
    dup.destroy()
    c.raises("after destroy", E, Result.INVALID_USAGE, dup.barrier)


def worker(args):
    world = mics.Comm.init_env()
    c = Checker(world.rank)
    dtypes = mics.supported_dtypes()
    if world.rank == 0:
        print("seed %d, %d ranks on %d nodes, dtypes: %s%s" % (
            args.seed, world.size, args.nodes, ", ".join(str(d) for d in dtypes),
            "" if mics.BFLOAT16 is not None else " (bfloat16 not tested: no ml_dtypes)"),
            flush=True)
    check_groups(c, world, args.nodes)
    check_unique_id(c, world)
    for dtype in dtypes:
        check_copies(c, world, args.seed, dtype)
        check_reductions(c, world, args.seed, dtype)
    p = world.size // args.nodes if args.nodes > 1 else world.size
    part, repl = world.partition_groups(p)
    for dtype in (np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.int32)):
        check_grad_sync(c, world, part, repl, args.seed, dtype)
    part.destroy()
    repl.destroy()
    check_errors(c, world)
    world.barrier()
    print("rank %d: %d passed, %d failed" % (world.rank, c.passed, c.failed), flush=True)
    world.destroy()
    return 1 if c.failed else 0


def launch(args):
    run = os.environ.get("MICS_RUN")
    if not run:
        raise SystemExit("set MICS_RUN to the mics-run launcher")
    cmd = [run, "-n", str(args.n), "--nodes", str(args.nodes), "--timeout", "240", "--",
           sys.executable, os.path.abspath(__file__), "--worker", "--nodes", str(args.nodes),
           "--seed", str(args.seed)]
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.call(cmd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=4)
    ap.add_argument("--nodes", type=int, default=1)
    ap.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "little"))
    ap.add_argument("--worker", action="store_true")
    args = ap.parse_args()
    return worker(args) if args.worker else launch(args)


if __name__ == "__main__":
    sys.exit(main())
