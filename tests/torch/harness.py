"""Shared pieces of the torch backend tests: process launch, reproducible inputs, exact checks.

Every scenario runs `world` processes (torch.multiprocessing spawn) over one FileStore. Inputs
are small random integers stored in the tested dtype, so sums and products are exact in any
reduction order and results compare with torch.equal. Each rank can regenerate every rank's
input from (seed, case, rank), so it checks mics against Gloo *and* against the exact result.

Environment: MICS_TORCH_TEST_SEED fixes the seed (printed either way); MICS_BUILD_DIR tells
mics.torch where the built extension is (ctest sets it).
"""

import argparse
import datetime
import os
import random
import sys
import tempfile
import time
import traceback
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

import mics.torch  # noqa: E402,F401  (registers backend "mics")

TIMEOUT = datetime.timedelta(seconds=60)
# Device of the tensors the shared test bodies create ("cpu"; test_cuda.py sets "cuda" in each
# spawned process). Inputs are generated on the CPU, then moved there.
DEVICE = "cpu"

DTYPES = [torch.float32, torch.bfloat16, torch.float16, torch.int64, torch.int32, torch.float64,
          torch.int8, torch.uint8]
FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)
OPS = {
    "SUM": dist.ReduceOp.SUM,
    "AVG": dist.ReduceOp.AVG,
    "PRODUCT": dist.ReduceOp.PRODUCT,
    "MIN": dist.ReduceOp.MIN,
    "MAX": dist.ReduceOp.MAX,
}
# Element counts per rank: zero, one, odd, a few kB (several shm chunks would need more; the
# library's own tests cover large counts).
COUNTS = [0, 1, 7, 1000]


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--world", type=int, required=True)
    return parser.parse_args()


def make_seed():
    seed = int(os.environ.get("MICS_TORCH_TEST_SEED", random.SystemRandom().randrange(1 << 30)))
    print("seed %d (rerun with MICS_TORCH_TEST_SEED=%d)" % (seed, seed), flush=True)
    return seed


def run(main, world, *args, host_id=None):
    """Runs main(rank, world, seed, store_file, *args) in `world` spawned processes (raises if
    one fails). host_id(rank), if given, sets each rank's MICS_HOST_ID (emulated nodes)."""
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback only
    seed = make_seed()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mics-torch-test-") as tmp:
        store_file = os.path.join(tmp, "store")
        mp.spawn(_entry, args=(world, seed, store_file, main, args, host_id), nprocs=world,
                 join=True)
    print("passed (world %d, %.1f s)" % (world, time.monotonic() - start), flush=True)


def _entry(rank, world, seed, store_file, main, args, host_id):
    torch.set_num_threads(1)  # 2-core CI: intra-op threads would only contend
    if host_id is not None:
        os.environ["MICS_HOST_ID"] = host_id(rank)
    try:
        main(rank, world, seed, store_file, *args)
        dist.barrier()
        dist.destroy_process_group()
    except BaseException:
        sys.stderr.write("[rank %d] seed %d FAILED:\n%s" % (rank, seed, traceback.format_exc()))
        sys.stderr.flush()
        raise


def init_world(rank, world, store_file, backend):
    dist.init_process_group(backend, init_method="file://" + store_file, rank=rank,
                            world_size=world, timeout=TIMEOUT)


def case_input(seed, case, rank, numel, dtype, low=-8, high=9):
    """Rank `rank`'s input of case `case`: numel random integers in [low, high) as dtype."""
    key = ("%d/%s/%d" % (seed, case, rank)).encode()
    generator = torch.Generator().manual_seed(zlib.crc32(key))
    if dtype == torch.uint8:
        low = max(low, 0)
    values = torch.randint(low, high, (numel,), generator=generator, dtype=torch.int64)
    return values.to(dtype).to(DEVICE)


def value_range(op_name, world):
    """Input range keeping every result exact in float16/bfloat16 and inside int8."""
    if op_name == "PRODUCT":
        return (-2, 3) if world <= 4 else (-1, 2)
    return (-8, 9)


def reduce_exact(tensors, op_name, premul=None):
    """The exact reduction of per-rank tensors (same dtype) as mics defines it."""
    dtype = tensors[0].dtype
    if premul is not None:  # each rank multiplies its input in its dtype, then SUM
        tensors = [t * premul for t in tensors]
        op_name = "SUM"
    floating = dtype in FLOAT_DTYPES
    # float16/bfloat16 are reduced in float32 (exact for these small integers), others as is.
    wide = torch.float32 if dtype in (torch.float16, torch.bfloat16) else (
        dtype if floating else torch.int64)
    stack = torch.stack([t.to(wide) for t in tensors])
    if op_name == "SUM":
        result = stack.sum(0)
    elif op_name == "PRODUCT":
        result = stack.prod(0)
    elif op_name == "MIN":
        result = stack.min(0).values
    elif op_name == "MAX":
        result = stack.max(0).values
    elif op_name == "AVG":
        total = stack.sum(0)
        result = (total / len(tensors) if floating
                  else torch.div(total, len(tensors), rounding_mode="trunc"))
    else:
        raise ValueError(op_name)
    return result.to(wide).to(dtype)


class Checker:
    """Counts comparisons; raises on the first mismatch with the case named."""

    def __init__(self, rank, seed):
        self.rank, self.seed, self.count = rank, seed, 0

    def equal(self, got, want, what):
        self.count += 1
        if got.dtype != want.dtype or got.shape != want.shape or not torch.equal(got, want):
            bad = (got != want).nonzero()[:5].flatten().tolist() if got.shape == want.shape else []
            raise AssertionError(
                "rank %d seed %d: %s differs: dtype %s/%s shape %s/%s first bad %s\n"
                " got %s\nwant %s"
                % (self.rank, self.seed, what, got.dtype, want.dtype, tuple(got.shape),
                   tuple(want.shape), bad, got.flatten()[:16], want.flatten()[:16]))

    def raises(self, fn, *needles, what):
        """fn() must raise RuntimeError whose message holds every needle."""
        self.count += 1
        try:
            fn()
        except RuntimeError as error:
            message = str(error)
            missing = [n for n in needles if n not in message]
            if missing:
                raise AssertionError("rank %d: %s raised, but the message lacks %s: %s"
                                     % (self.rank, what, missing, message)) from error
            return message
        raise AssertionError("rank %d: %s did not raise" % (self.rank, what))
