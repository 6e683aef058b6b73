"""Work semantics and errors of the mics backend: async issue order, getFuture (and DDP, which
depends on it), wait timeouts, and clear RuntimeErrors for unsupported ops, dtypes and methods,
non-contiguous, mixed-device and mis-sized tensors -- after which the group still works.

usage: test_work.py --world N
"""

import datetime
import time

import harness
import torch
import torch.distributed as dist

ag_single = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
rs_single = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor


def test_async_and_future(check, rank, world, seed):
    # Several async collectives in flight, waited in reverse order: they run in issue order.
    inputs = [harness.case_input(seed, "async/%d" % i, r, 33, torch.float32)
              for i in range(4) for r in range(world)]
    tensors = [inputs[i * world + rank].clone() for i in range(4)]
    works = [dist.all_reduce(t, async_op=True) for t in tensors]
    for i in reversed(range(4)):
        works[i].wait()
        check.equal(tensors[i], harness.reduce_exact(inputs[i * world:(i + 1) * world], "SUM"),
                    "async allreduce %d" % i)
        if not works[i].is_completed():
            raise AssertionError("a waited work is not completed")
    # getFuture: completed with the output tensors; then() callbacks run after completion.
    case = "future"
    xs = [harness.case_input(seed, case, r, 10, torch.int64) for r in range(world)]
    t = xs[rank].clone()
    work = dist.all_reduce(t, op=dist.ReduceOp.MAX, async_op=True)
    doubled = work.get_future().then(lambda fut: fut.value()[0] * 2)
    result = work.get_future().wait()
    check.equal(result[0], harness.reduce_exact(xs, "MAX"), "future value")
    check.equal(doubled.wait(), harness.reduce_exact(xs, "MAX") * 2, "future then()")
    out = torch.empty(10 * world, dtype=torch.int64)
    work = ag_single(out, xs[rank], async_op=True)
    check.equal(work.get_future().wait()[0], torch.cat(xs), "allgather future value")


def test_wait_timeout(check, rank):
    # Rank 0 waits 1 ms for a barrier the last rank joins 1.5 s late: DistBackendError
    # (a RuntimeError) naming the timeout; the barrier itself then completes.
    if rank == dist.get_world_size() - 1:
        time.sleep(1.5)
    work = dist.barrier(async_op=True)
    if rank == 0:
        check.count += 1
        try:
            work.wait(datetime.timedelta(milliseconds=1))
            raise AssertionError("wait(1 ms) on a late barrier did not time out")
        except dist.DistBackendError as error:
            if "did not complete within 1 ms" not in str(error):
                raise AssertionError("unclear timeout message: %s" % error) from error
    work.wait()


def test_ddp(check, rank, world, seed):
    """DDP (which needs Work.getFuture) on mics gives the same gradients as on Gloo."""
    gloo = dist.new_group(backend="gloo")
    grads = {}
    for name, group in (("mics", None), ("gloo", gloo)):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
        ddp = torch.nn.parallel.DistributedDataParallel(model, process_group=group)
        generator = torch.Generator().manual_seed(seed + rank)
        x = torch.randint(-3, 4, (4, 6), generator=generator).float()
        ddp(x).sum().backward()
        grads[name] = [p.grad.clone() for p in model.parameters()]
    for index, (a, b) in enumerate(zip(grads["mics"], grads["gloo"])):
        # Both average the same float32 gradients; the summation order may differ.
        check.count += 1
        if not torch.allclose(a, b, rtol=1e-6, atol=1e-6):
            raise AssertionError("DDP grad %d: mics %s vs gloo %s" % (index, a, b))


def test_errors(check, rank, world):
    t = torch.ones(6)
    for op_name in ("BAND", "BOR", "BXOR"):
        op = getattr(dist.ReduceOp, op_name)
        check.raises(lambda: dist.all_reduce(t, op),
                     "allreduce does not support ReduceOp " + op_name,
                     what="allreduce " + op_name)
        check.raises(lambda: rs_single(torch.empty(2), torch.ones(2 * world), op),
                     "_reduce_scatter_base does not support ReduceOp", what="rs " + op_name)
    check.raises(lambda: dist.all_reduce(torch.ones(3, dtype=torch.bool)),
                 "allreduce does not support dtype Bool", what="bool allreduce")
    check.raises(lambda: dist.broadcast(torch.ones(3, dtype=torch.uint16), src=0),
                 "broadcast does not support dtype UInt16", what="uint16 broadcast")
    check.raises(lambda: dist.all_reduce(torch.ones(3, dtype=torch.int64),
                                         dist._make_nccl_premul_sum(2.0)),
                 "PREMUL_SUM on floating dtypes only", what="int PREMUL_SUM")
    strided = torch.ones(4, 4).t()
    check.raises(lambda: dist.all_reduce(strided), "must be contiguous", what="non-contiguous")
    check.raises(lambda: ag_single(torch.empty(2, 4 * world).t(), torch.ones(8)),
                 "output must be contiguous", what="non-contiguous all_gather output")
    check.raises(lambda: ag_single(torch.empty(5 * world + 1), torch.ones(5)),
                 "output has %d elements" % (5 * world + 1), what="allgather size")
    check.raises(lambda: ag_single(torch.empty(5 * world, dtype=torch.float64), torch.ones(5)),
                 "has dtype Double but expected Float", what="allgather dtype")
    check.raises(lambda: rs_single(torch.empty(3), torch.ones(3 * world - 1)),
                 "input has %d elements" % (3 * world - 1), what="reduce_scatter size")
    check.raises(lambda: dist.all_gather([torch.empty(2)] * (world + 1), torch.ones(2)),
                 "output list has %d tensors but the group has %d" % (world + 1, world),
                 what="allgather list length")
    check.raises(lambda: dist.all_gather([torch.empty(3) for _ in range(world)], torch.ones(2)),
                 "output shape [3] differs from input shape [2]", what="allgather list shapes")
    check.raises(lambda: dist.reduce_scatter(torch.empty(2), [torch.ones(2)] * (world - 1)),
                 "input list has %d tensors" % (world - 1), what="reduce_scatter list length")

    # The dispatcher routes a mixed list by its "highest" device, so call the backend directly.
    backend = dist.group.WORLD._get_backend(torch.device("cpu"))
    check.raises(lambda: backend.allreduce_coalesced(
        [torch.ones(2), torch.ones(2, device="meta")], dist.AllreduceCoalescedOptions()),
        "allreduce_coalesced: tensor is on device meta", what="mixed devices")
    check.raises(lambda: dist.send(torch.ones(2), dst=(rank + 1) % world), "mics",
                 "does not support", what="send")
    check.raises(lambda: dist.all_to_all_single(torch.empty(world), torch.ones(world)),
                 "does not support", what="all_to_all_single")
    check.raises(lambda: dist.gather(torch.ones(2), [torch.empty(2)] * world if rank == 0
                                     else None, dst=0), "does not support", what="gather")
    check.raises(lambda: dist.reduce(torch.ones(2), dst=0), "does not support", what="reduce")
    # Still healthy: a collective after all of these gives the right answer.
    t = torch.full((5,), float(rank + 1))
    dist.all_reduce(t)
    check.equal(t, torch.full((5,), float(world * (world + 1) // 2)), "allreduce after errors")


def test_mics_failure(check, rank):
    """A mics error (here a timeout: rank 0 enters a barrier no other rank joins) raises
    DistBackendError with mics' own message; the group then stays failed, and its shutdown
    still works, as does the world group."""
    group = dist.new_group(backend="mics", timeout=datetime.timedelta(seconds=1))
    backend = group._get_backend(torch.device("cpu"))
    if rank == 0:
        check.count += 1
        try:
            dist.barrier(group=group)
            raise AssertionError("a barrier no other rank joined did not fail")
        except dist.DistBackendError as error:
            message = str(error)
            if "mics backend: barrier on group" not in message or "failed: MICS_" not in message:
                raise AssertionError("unclear mics failure message: %s" % message) from error
        check.raises(lambda: dist.all_reduce(torch.ones(2), group=group), "failed: MICS_",
                     what="collective on a failed group")
    dist.barrier()
    dist.destroy_process_group(group)
    check.raises(lambda: backend.allreduce([torch.ones(2)], dist.AllreduceOptions()),
                 "after the process group was shut down", what="collective after shutdown")


def test_complex_views(check, rank, world, seed):
    """torch turns complex tensors into real views for SUM allreduce and broadcast."""
    xs = [torch.complex(harness.case_input(seed, "complex-re", r, 6, torch.float32),
                        harness.case_input(seed, "complex-im", r, 6, torch.float32))
          for r in range(world)]
    t = xs[rank].clone()
    dist.all_reduce(t)
    check.equal(t, sum(xs[1:], xs[0].clone()), "complex allreduce")
    t = xs[rank].clone()
    dist.broadcast(t, src=world - 1)
    check.equal(t, xs[world - 1], "complex broadcast")


def main(rank, world, seed, store_file):
    harness.init_world(rank, world, store_file, "mics")
    check = harness.Checker(rank, seed)
    test_async_and_future(check, rank, world, seed)
    test_wait_timeout(check, rank)
    test_errors(check, rank, world)
    test_ddp(check, rank, world, seed)
    test_complex_views(check, rank, world, seed)
    test_mics_failure(check, rank)
    if rank == 0:
        print("%d checks on rank 0" % check.count, flush=True)


if __name__ == "__main__":
    args = harness.parse_args()
    harness.run(main, args.world)
