"""Inputs and exact expected results for tests/python/test_numpy_api.py.

Every rank can regenerate any rank's input from (seed, tag, dtype, count, rank, op), so each
computes the expected result of a collective locally. Float inputs of SUM/AVG/PROD are small
integers (|x| <= 8, products of +-1 and +-2): sums and products are then exact in every float
type, so the expected values follow the library's documented semantics exactly, whatever the
order of summation: floats reduced in the wire type (float32 for float16/bfloat16), AVG = sum /
nranks in the wire type, rounded once; integers wrap, AVG truncates toward zero.
"""

import functools
import zlib

import numpy as np

from mics import ReduceOp


def is_float(dtype):
    return np.dtype(dtype).kind == "f" or np.dtype(dtype).name == "bfloat16"


def wire_dtype(dtype):
    dtype = np.dtype(dtype)
    return np.dtype(np.float32) if is_float(dtype) and dtype.itemsize == 2 else dtype


def inputs(seed, tag, dtype, n, rank, op):
    """Rank `rank`'s input of n elements; op picks the value range (or "copy": anything)."""
    dtype = np.dtype(dtype)
    key = "%s/%s/%d/%s" % (tag, dtype.name, n, getattr(op, "name", op))
    rng = np.random.default_rng([seed & 0xFFFFFFFF, rank, zlib.crc32(key.encode())])
    if not is_float(dtype):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=n, dtype=dtype, endpoint=True)
    if op in (ReduceOp.SUM, ReduceOp.AVG):
        values = rng.integers(-8, 8, size=n, endpoint=True).astype(np.float32)
    elif op == ReduceOp.PROD:
        values = rng.choice(np.array([-2, -1, 1, 2], np.float32), size=n)
    else:  # MAX, MIN, copies: arbitrary finite values
        values = rng.standard_normal(n).astype(np.float32)
    return values.astype(dtype)


def trunc_div(a, d):
    """C integer division (toward zero) of an integer array by a positive int."""
    q = a // d
    return np.where((a % d != 0) & (a < 0), q + 1, q).astype(a.dtype)


def expected_reduce(data, op, dtype):
    """op over the ranks' arrays `data`, as the library defines it, in `dtype`."""
    wire = wire_dtype(dtype)
    arrays = [d.astype(wire) for d in data]
    combine = {ReduceOp.SUM: np.add, ReduceOp.AVG: np.add, ReduceOp.PROD: np.multiply,
               ReduceOp.MAX: np.maximum, ReduceOp.MIN: np.minimum}[op]
    with np.errstate(over="ignore"):  # integers wrap by definition
        result = functools.reduce(combine, arrays)
    if op == ReduceOp.AVG:
        result = result / wire.type(len(data)) if is_float(dtype) else trunc_div(result, len(data))
    return result.astype(dtype)
