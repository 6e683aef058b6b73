"""The mics backend on CUDA tensors: every collective, reduce op and dtype of test_collectives on
the default group and the main ones on a new_group, against the exact result; the stream
semantics (wait() orders the caller's stream and does not block the host; the Future); CPU and
CUDA calls interleaved on one group; mixed CPU/CUDA tensors in one call refused.

All ranks share GPU 0 (mics stages device buffers through host memory per process, so ranks
may share a device, which NCCL refuses). Needs libmics built with MICS_CUDA.

usage: test_cuda.py --world N    (exits 77 after "SKIPPED: no CUDA device" without a GPU)
"""

import sys
import time

import harness
import test_collectives
import test_groups
import torch
import torch.distributed as dist

SKIP_RETURN_CODE = 77  # ctest SKIP_RETURN_CODE (tests/torch/CMakeLists.txt)
# A kernel of this many GPU clock cycles (about a second at 1.5-2 GHz) keeps the stream busy
# far longer than issuing and waiting for a collective takes on the host.
BUSY_CYCLES = 2_000_000_000


def check_async(check, rank, world, seed):
    """wait() on a collective queued behind a long kernel returns while the stream is busy."""
    case = "async"
    xs = [harness.case_input(seed, case, r, 4099, torch.float32) for r in range(world)]
    want = harness.reduce_exact(xs, "SUM")
    t = xs[rank].clone()
    torch.cuda.synchronize()
    start = time.monotonic()
    torch.cuda._sleep(BUSY_CYCLES)
    work = dist.all_reduce(t, async_op=True)
    issued = time.monotonic()
    work.wait()
    waited = time.monotonic()
    stream_busy = not torch.cuda.current_stream().query()
    check.count += 1
    if not stream_busy:
        raise AssertionError(
            "rank %d: the stream finished before wait() returned (issue %.3f s, wait %.3f s): "
            "wait() blocked the host, or the host took longer than the %d-cycle kernel"
            % (rank, issued - start, waited - issued, BUSY_CYCLES))
    while not work.is_completed():  # completes by itself once the stream gets there
        time.sleep(0.001)
    done = time.monotonic()
    if rank == 0:
        print("async allreduce behind a busy stream: issued in %.4f s, wait() returned after "
              "%.4f s, completed after %.3f s" % (issued - start, waited - start, done - start),
              flush=True)
    check.equal(t, want, "async allreduce (%s)" % case)
    # The Future is CUDA-aware: value() and callbacks run ordered after the collective.
    value = work.get_future().wait()
    check.equal(value[0], want, "async allreduce Future value")
    doubled = work.get_future().then(lambda fut: fut.value()[0] * 2).wait()
    check.equal(doubled, want * 2, "async allreduce Future.then")


def check_interleaved(check, rank, world, seed):
    """CPU works (progress thread) and CUDA calls (caller's thread) keep one call order."""
    for dtype in (torch.float32, torch.int64):
        case = "interleaved/%s" % dtype
        xs = [harness.case_input(seed, case, r, 1000, dtype) for r in range(world)]
        ys = [harness.case_input(seed, case + "/b", r, 333, dtype) for r in range(world)]
        cpu_a, cpu_b = xs[rank].cpu(), ys[rank].cpu()
        gpu_a, gpu_b = xs[rank].clone(), ys[rank].clone()
        works = [dist.all_reduce(cpu_a, async_op=True), dist.all_reduce(gpu_a, async_op=True),
                 dist.all_reduce(cpu_b, async_op=True), dist.all_reduce(gpu_b, async_op=True)]
        for work in works:
            work.wait()
        want_a, want_b = harness.reduce_exact(xs, "SUM"), harness.reduce_exact(ys, "SUM")
        check.equal(cpu_a, want_a.cpu(), "interleaved CPU allreduce a (%s)" % case)
        check.equal(gpu_a, want_a, "interleaved CUDA allreduce a (%s)" % case)
        check.equal(cpu_b, want_b.cpu(), "interleaved CPU allreduce b (%s)" % case)
        check.equal(gpu_b, want_b, "interleaved CUDA allreduce b (%s)" % case)


def check_mixed_devices(check):
    gpu, cpu = torch.ones(3, device="cuda"), torch.ones(3)
    check.raises(lambda: dist.group.WORLD.allreduce_coalesced(
        [gpu, cpu], dist.AllreduceCoalescedOptions()).wait(),
        "mics backend", "one call takes tensors of one device", what="mixed CPU/CUDA call")


def main(rank, world, seed, store_file):
    harness.DEVICE = "cuda"
    torch.cuda.set_device(0)
    harness.init_world(rank, world, store_file, "mics")
    check = harness.Checker(rank, seed)
    groups = [("mics", None)]
    for dtype in harness.DTYPES:
        for count in harness.COUNTS:
            test_collectives.test_reductions(check, groups, rank, world, seed, dtype, count)
            test_collectives.test_gathers(check, groups, rank, world, seed, dtype, count)
    check_async(check, rank, world, seed)
    check_interleaved(check, rank, world, seed)
    check_mixed_devices(check)
    # new_group is collective over the whole world, members or not.
    ranks = [r for r in range(world) if r != 1] if world > 2 else [0, 1]
    subgroup = dist.new_group(ranks, backend="mics")
    if rank in ranks:
        test_groups.run_group(check, seed, ranks, [("mics", subgroup)], "cuda-subgroup")
    torch.cuda.synchronize()
    if rank == 0:
        print("%d exact comparisons per rank on CUDA tensors" % check.count, flush=True)


if __name__ == "__main__":
    args = harness.parse_args()
    if not torch.cuda.is_available():
        print("SKIPPED: no CUDA device (torch.cuda.is_available() is False)", flush=True)
        sys.exit(SKIP_RETURN_CODE)
    harness.run(main, args.world)
